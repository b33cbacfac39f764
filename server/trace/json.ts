// The trace's JSON form: what `cwm-debug ... --format json` prints, what the adapter's custom requests send, and what
// a saved trace holds (server/adapter/saved-trace.ts reads it back). One writer so the three never drift apart.

import { confidenceToJson } from './confidence';
import { localsToObject, type Trace, type TraceFrame } from './model';

export function frameToJson(frame: TraceFrame): Record<string, unknown> {
  return {
    index: frame.index,
    event: frame.event,
    line: frame.line,
    source: frame.sourceLine,
    scope: frame.scope,
    ...(frame.file !== undefined ? { file: frame.file } : {}),
    function: frame.functionName,
    depth: frame.depth,
    locals: localsToObject(frame.locals),
    ...(frame.objects?.size ? { objects: localsToObject(frame.objects) } : {}),
    ...(frame.value !== undefined ? { value: frame.value } : {}),
    ...(frame.output?.length ? { output: frame.output } : {}),
    ...(frame.issues?.length ? { issues: frame.issues } : {}),
    ...(frame.confidence !== undefined ? { confidence: confidenceToJson(frame.confidence) } : {}),
  };
}

export function traceToJson(trace: Trace): Record<string, unknown> {
  return {
    origin: trace.origin,
    path: trace.path,
    ...(trace.files?.length ? { files: trace.files } : {}),
    entry: trace.entry,
    pythonVersion: trace.pythonVersion,
    end: trace.end,
    notes: trace.notes,
    frames: trace.frames.map(frameToJson),
    outsideOutput: trace.outsideOutput,
    ...(trace.malformed.length ? { malformed: trace.malformed } : {}),
  };
}
