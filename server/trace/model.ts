// The one trace model shared by real (tracer) and predicted (model) executions.
// Every consumer (CWM writer, comparison, debug adapter, CLI) works on these types only.

/** CPython `sys.settrace` event kinds, as CWM encodes them. */
export type TraceEventKind = 'call' | 'line' | 'return' | 'exception';

/** Where a trace came from. */
export type TraceOrigin = 'actual' | 'predicted';

/**
 * Local variables of one frame, fully resolved (no `".."` left), in `f_locals` insertion order.
 * Values are Python `repr` strings with memory addresses stripped.
 * A Map because its order is exactly insertion order, whatever the names look like.
 */
export type Locals = ReadonlyMap<string, string>;

/** Attributes of objects by dotted path (`self.radius`) → repr; see `TraceFrame.objects`. */
export type ObjectState = ReadonlyMap<string, string>;

/** The value of a local (`x`) or of a recorded attribute (`self.radius`) at a frame, if it has one. */
export function valueAt(frame: TraceFrame, name: string): string | undefined {
  const local = frame.locals.get(name);
  if (local !== undefined || !name.includes('.')) return local;
  return frame.objects?.get(name);
}

/** Text printed by the program during one step. */
export interface OutputChunk {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

/** Something wrong with one predicted frame that the reader could still keep. */
export interface FrameIssue {
  /** Short machine-readable kind, e.g. `unknown-ellipsis`, `line-not-found`, `invalid-locals`. */
  readonly kind: string;
  /** One sentence a user can read. */
  readonly message: string;
  /** The local the issue is about, when it is about one (VARIABLES marks it). */
  readonly local?: string;
}

/** One step of an execution. */
export interface TraceFrame {
  /** Position in the trace, 0-based. */
  readonly index: number;
  readonly event: TraceEventKind;
  /** 1-based line number in the traced file; 0 when a predicted line could not be mapped. */
  readonly line: number;
  /** The physical source line exactly as in the file, without its line terminator (a marker comment the file carries stays). */
  readonly sourceLine: string;
  /** One id per live Python frame: recursion gives distinct ids, a resumed generator keeps its id. */
  readonly scope: number;
  /**
   * Absolute path of the file whose code this frame runs, when it is not the trace's main file (`Trace.path`).
   * Absent means the main file. Its text is in `Trace.files`; `line` and `sourceLine` are that file's.
   */
  readonly file?: string;
  /** Function name (`co_name`), `<module>` for a whole script. */
  readonly functionName: string;
  /** Number of traced frames below this one; the entry scope is depth 0. */
  readonly depth: number;
  /** Locals before the line runs (`call`, `line`); empty for `return` and `exception`. */
  readonly locals: Locals;
  /**
   * Real runs recorded with object state only (`call`, `line`): attributes of the program's objects held by the locals,
   * by dotted path from a local (`self.radius`, `self.center.x`) to the attribute's repr, as the locals were at this
   * step. Never part of the CWM text. Absent when no local holds such an object (or object state was off).
   */
  readonly objects?: ObjectState;
  /** `repr` of the returned value (`return`) or of `(type, value, traceback)` (`exception`). */
  readonly value?: string;
  /** What the program printed while this step ran. */
  readonly output?: readonly OutputChunk[];
  /** Problems found while reading a predicted frame that was still usable. */
  readonly issues?: readonly FrameIssue[];
  /** The raw CWM text of a predicted frame, kept when it had issues. */
  readonly raw?: string;
  /** How sure the model was of this predicted frame, where the endpoint said (token log-probabilities) or samples agree. */
  readonly confidence?: FrameConfidence;
}

/** How sure the model was of one predicted value, or of a frame's action. */
export interface ValueConfidence {
  /**
   * Probability in [0, 1]. From log-probabilities: the probability of the value's least likely token (a value is as
   * doubtful as its most doubtful token). From samples: the share of rollouts that agree on it.
   */
  readonly p: number;
  /** Other values the model weighed at that token (top-k log-probabilities), most likely first, as repr text. */
  readonly alternatives?: readonly { readonly value: string; readonly p: number }[];
}

/** Confidence of one predicted frame. */
export interface FrameConfidence {
  /** 'logprobs': the endpoint's token log-probabilities; 'agreement': several sampled rollouts compared. */
  readonly source: 'logprobs' | 'agreement';
  /** Of the frame's action (its event and line); absent when no token of it was scored. */
  readonly action?: ValueConfidence;
  /** Of each local whose value this frame writes (new or changed; an unchanged `".."` one has none), by name. */
  readonly locals: ReadonlyMap<string, ValueConfidence>;
  /** Of the returned value or the exception (`return`, `exception` frames). */
  readonly value?: ValueConfidence;
}

/** Predicted text that could not be turned into a frame at all. */
export interface MalformedFrame {
  /** Index the frame would have had in the trace. */
  readonly index: number;
  readonly raw: string;
  readonly reason: string;
}

/** How the entry point of a trace was chosen. */
export type EntryPoint =
  | { readonly kind: 'function'; readonly name: string; readonly line: number; readonly args?: string }
  | { readonly kind: 'script' };

/** Why a trace stopped. */
export type TraceEnd =
  | { readonly kind: 'returned' }
  | { readonly kind: 'raised'; readonly message: string }
  | { readonly kind: 'exited'; readonly code: number | string | null; readonly message: string }
  | { readonly kind: 'limit'; readonly limit: TraceLimitKind; readonly message: string }
  | { readonly kind: 'crashed'; readonly message: string }
  /** Predicted traces only: the model stopped without `<|end_of_text|>` (token limit, cut stream). */
  | { readonly kind: 'incomplete'; readonly message: string };

export type TraceLimitKind = 'events' | 'time' | 'output' | 'memory';

/** A traced file other than the main one: a module of the user's project that the program called into. */
export interface TraceSourceFile {
  /** Absolute path, as in `TraceFrame.file`. */
  readonly path: string;
  /** The file's text exactly as traced. */
  readonly source: string;
}

/** A whole execution trace, real or predicted. */
export interface Trace {
  readonly origin: TraceOrigin;
  /** Absolute path of the traced file when known. */
  readonly path?: string;
  /** The program text exactly as traced (no START_OF_TRACE marker). */
  readonly source: string;
  /**
   * Every other file the trace's frames run code from (frames with `file` set), with its text as the tracer read it,
   * in the order the CWM context holds them. Absent or empty for a single-file trace.
   */
  readonly files?: readonly TraceSourceFile[];
  readonly entry: EntryPoint;
  readonly frames: readonly TraceFrame[];
  /** Predicted frames that could not be read; empty for real traces. */
  readonly malformed: readonly MalformedFrame[];
  readonly end: TraceEnd;
  /** Notes to show the user (threads not traced, settrace ignored, repr failures...). */
  readonly notes: readonly string[];
  /** Output printed outside any traced step (before the entry was called, after it returned). */
  readonly outsideOutput: readonly OutputChunk[];
  /** `sys.version` of the interpreter that recorded a real trace. */
  readonly pythonVersion?: string;
}

/** The marker that CWM expects on the entry function's `def` line. */
export const START_OF_TRACE_MARKER = '# << START_OF_TRACE';

/** Suffix the tracer appends to a repr cut at the length limit (the spec's visible truncation marker). */
export const TRUNCATION_MARKER = '…<truncated>';

/** Builds a Locals map from [name, repr] pairs, preserving order. */
export function localsOf(entries: Iterable<readonly [string, string]>): Locals {
  return new Map(entries);
}

/** Locals as a plain object for JSON output; keeps insertion order for identifier names. */
export function localsToObject(locals: Locals): Record<string, string> {
  const object: Record<string, string> = {};
  for (const [name, value] of locals) object[name] = value;
  return object;
}
