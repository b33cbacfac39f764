// How the prediction of a comparison starts and how far it may run, shared by `cwm-debug compare` and the language server
// so both compare the same way.

import type { Trace, TraceFrame } from '../trace/model';
import type { FrameCondition } from './session';

/** The prediction starts from the real call frame when it carries inputs, as the reference debugger does with given arguments. */
export function comparisonStartFrames(real: Trace): TraceFrame[] {
  const first = real.frames[0];
  return first && first.event === 'call' && first.locals.size > 0 ? [first] : [];
}

/** Where a comparison's rollout stops if the model has not ended the trace: well past the real run's length. */
export function comparisonHorizon(real: Trace): FrameCondition {
  const last = real.frames.length * 4 + 100;
  return (frame) => frame.index >= last;
}
