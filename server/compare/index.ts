// Predicted-vs-actual comparison in one call, plus re-exports, for the CLI, the debug adapter and the views.
// A Trace pair goes in; the alignment rows, the first divergence and the scores come out.

import type { Trace } from '../trace/model';
import { type AlignOptions, type Alignment, alignTraces } from './align';
import { type AlignmentScores, scoreAlignment } from './scores';

export * from './align';
export * from './scores';
export { normalizeRepr, valuesEqual } from './normalize';

export interface TraceComparison {
  readonly alignment: Alignment;
  readonly scores: AlignmentScores;
}

/** Aligns a predicted trace with the real one and scores it (malformed predicted frames count against well-formedness). */
export function compareTraces(predicted: Trace, actual: Trace, options?: AlignOptions): TraceComparison {
  const alignment = alignTraces(predicted.frames, actual.frames, options);
  return { alignment, scores: scoreAlignment(alignment, predicted.frames, actual.frames, predicted.malformed) };
}
