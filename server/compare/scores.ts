// Scores of a prediction against the real run, computed from an alignment: actions, states, the entry's return value,
// verdict counts and how much of the model output could be read.

import type { MalformedFrame, TraceFrame } from '../trace/model';
import { type Alignment, type Verdict, VERDICTS, sameAction } from './align';
import { valuesEqual } from './normalize';

/** `matched` out of `total`; `rate` is null when there was nothing to count. */
export interface Ratio {
  readonly matched: number;
  readonly total: number;
  readonly rate: number | null;
}

export interface ReturnValueScore {
  /** The entry's final return value (last `return` frame at depth 0), if each side has one. */
  readonly actual?: string;
  readonly predicted?: string;
  /** null when the real run has no final return (it hit a limit or crashed). */
  readonly match: boolean | null;
}

export interface AlignmentScores {
  /** Real frames whose aligned predicted frame has the same event and line. */
  readonly action: Ratio;
  /** (frame, variable) pairs with equal values, over aligned same-action `call`/`line` frames; a name missing on one side counts as unequal. */
  readonly stateByVariable: Ratio;
  /** Aligned same-action `call`/`line` frames with at least one variable on either side, whose variables are all equal. */
  readonly stateByFrame: Ratio;
  readonly returnValue: ReturnValueScore;
  readonly verdicts: Readonly<Record<Verdict, number>>;
  /** Predicted frames read without issues, over all predicted frames plus the malformed ones. */
  readonly wellFormed: Ratio;
}

export function ratio(matched: number, total: number): Ratio {
  return { matched, total, rate: total === 0 ? null : matched / total };
}

export function scoreAlignment(
  alignment: Alignment,
  predicted: readonly TraceFrame[],
  actual: readonly TraceFrame[],
  malformed: readonly MalformedFrame[] = [],
): AlignmentScores {
  const verdicts = Object.fromEntries(VERDICTS.map((verdict) => [verdict, 0])) as Record<Verdict, number>;
  let sameActions = 0;
  let variablePairs = 0;
  let equalVariables = 0;
  let framesWithLocals = 0;
  let equalFrames = 0;

  for (const row of alignment.rows) {
    verdicts[row.verdict]++;
    if (row.actual === undefined || row.predicted === undefined) continue;
    const real = actual[row.actual]!;
    const guess = predicted[row.predicted]!;
    if (!sameAction(guess, real)) continue;
    sameActions++;
    if (real.event !== 'call' && real.event !== 'line') continue;
    let names = real.locals.size;
    for (const name of guess.locals.keys()) if (!real.locals.has(name)) names++;
    if (names === 0) continue;
    const unequal = row.variables?.length ?? 0;
    framesWithLocals++;
    variablePairs += names;
    equalVariables += names - unequal;
    if (unequal === 0) equalFrames++;
  }

  const clean = predicted.filter((frame) => frame.issues === undefined || frame.issues.length === 0).length;
  return {
    action: ratio(sameActions, actual.length),
    stateByVariable: ratio(equalVariables, variablePairs),
    stateByFrame: ratio(equalFrames, framesWithLocals),
    returnValue: scoreReturnValue(predicted, actual),
    verdicts,
    wellFormed: ratio(clean, predicted.length + malformed.length),
  };
}

function finalReturnValue(frames: readonly TraceFrame[]): string | undefined {
  for (let i = frames.length - 1; i >= 0; i--) {
    const frame = frames[i]!;
    if (frame.event === 'return' && frame.depth === 0) return frame.value;
  }
  return undefined;
}

function scoreReturnValue(predicted: readonly TraceFrame[], actual: readonly TraceFrame[]): ReturnValueScore {
  const actualValue = finalReturnValue(actual);
  const predictedValue = finalReturnValue(predicted);
  const match = actualValue === undefined ? null : predictedValue !== undefined && valuesEqual(actualValue, predictedValue);
  return { actual: actualValue, predicted: predictedValue, match };
}
