// The one interface the debug adapter steps through, whatever the mode: a timeline of positions over a recorded trace
// (actual mode, a replayed saved trace) or over a PredictionSession (predict mode); compare.ts implements it over both.

import type { PredictionSession } from '../engine/session';
import type { MalformedFrame, Trace, TraceEnd, TraceFrame } from '../trace/model';
import { describeException } from './stops';

export type Side = 'actual' | 'predicted';
export type NavigatorKind = 'actual' | 'predicted' | 'compare';

/** One side's frame at a position, with the frames it belongs to (stacks and data breakpoints walk them). */
export interface SideFrame {
  readonly side: Side;
  readonly frames: readonly TraceFrame[];
  /** Position of the frame in `frames`. */
  readonly index: number;
}

/** What the debugger shows at one position of the timeline. */
export interface PositionView {
  readonly position: number;
  /** The frame breakpoints, stepping and the call stack go by. */
  readonly primary: SideFrame;
  /** Every side present at this position, predicted first (one side outside compare mode). */
  readonly sides: readonly SideFrame[];
}

export interface ExtendRequest {
  /** Stop adding positions once this holds for a new frame (checked on every frame as it arrives). */
  readonly until?: (frame: TraceFrame) => boolean;
  /** Add one position only. */
  readonly single?: boolean;
  readonly signal?: AbortSignal;
  /** Every new frame, as the model streams it. */
  readonly onFrame?: (frame: TraceFrame) => void;
}

export interface ExtendResult {
  readonly added: number;
  /** The model's output could not be read as a frame (nothing was added). */
  readonly malformed?: MalformedFrame;
}

export interface TraceNavigator {
  readonly kind: NavigatorKind;
  /** Name of the one thread the debugger shows. */
  readonly threadName: string;
  /** Positions known so far. */
  readonly length: number;
  /** The current position; -1 before the first one exists. */
  readonly position: number;
  /** No position will ever be added after the known ones (the trace ended, or it is a recording). */
  readonly complete: boolean;
  /** Changes whenever known positions change other than by being appended (what-if, restart, realignment). */
  readonly revision: number;
  view(position: number): PositionView;
  moveTo(position: number): void;
  /** Adds positions after the last known one (one streamed rollout for predictions); a recording adds none. */
  extend(request: ExtendRequest): Promise<ExtendResult>;
  /**
   * Step over the way the engine does it cheaply (a call's return is forced instead of predicting its body); undefined
   * when the navigator has no such shortcut. Only used when no breakpoint could stop inside the skipped call.
   */
  stepOverNatively?(signal?: AbortSignal): Promise<ExtendResult>;
  /** A what-if on the current position's frame; absent where the trace is a recording. */
  setVariable?(name: string, valueRepr: string): TraceFrame;
  /** Starts over: a fresh sample for predictions, a new run for real traces. */
  restart(signal?: AbortSignal, onFrame?: (frame: TraceFrame) => void): Promise<void>;
  /** How the trace ended, once it did. */
  readonly end?: TraceEnd;
  dispose(): Promise<void>;
}

/** A real trace recorded in full before debugging starts: every position is known, nothing is ever added. */
export class RecordedNavigator implements TraceNavigator {
  readonly kind = 'actual' as const;
  readonly complete = true;
  private cursor = -1;
  private revisionCount = 0;

  constructor(
    private trace: Trace,
    /** Records the trace again for `restart`; absent for a replayed file, which restarts from its first step. */
    private readonly rerecord?: (signal?: AbortSignal) => Promise<Trace>,
    readonly threadName = 'Python (real)',
  ) {
    this.cursor = trace.frames.length > 0 ? 0 : -1;
  }

  get recorded(): Trace {
    return this.trace;
  }

  get length(): number {
    return this.trace.frames.length;
  }

  get position(): number {
    return this.cursor;
  }

  get revision(): number {
    return this.revisionCount;
  }

  get end(): TraceEnd {
    return this.trace.end;
  }

  view(position: number): PositionView {
    const side: SideFrame = { side: 'actual', frames: this.trace.frames, index: position };
    return { position, primary: side, sides: [side] };
  }

  moveTo(position: number): void {
    checkPosition(position, this.length);
    this.cursor = position;
  }

  async extend(): Promise<ExtendResult> {
    return { added: 0 };
  }

  async restart(signal?: AbortSignal): Promise<void> {
    if (this.rerecord) this.trace = await this.rerecord(signal);
    this.revisionCount++;
    this.cursor = this.trace.frames.length > 0 ? 0 : -1;
  }

  async dispose(): Promise<void> {}
}

/** Predict mode: positions are the session's predicted frames; moving past the last one asks the model. */
export class PredictionNavigator implements TraceNavigator {
  readonly kind = 'predicted' as const;
  readonly threadName = 'Python (predicted)';
  private cursor: number;
  private revisionCount = 0;

  constructor(
    readonly session: PredictionSession,
    private readonly onDispose: () => Promise<void> = async () => undefined,
  ) {
    this.cursor = session.cursor;
  }

  get length(): number {
    return this.session.trace.length;
  }

  get position(): number {
    return this.cursor;
  }

  get complete(): boolean {
    return this.session.ended;
  }

  get revision(): number {
    return this.revisionCount;
  }

  /** How the prediction ended, once it did. */
  get end(): TraceEnd | undefined {
    return this.session.ended ? endOfFinishedTrace(this.session.trace) : undefined;
  }

  view(position: number): PositionView {
    const side: SideFrame = { side: 'predicted', frames: this.session.trace, index: position };
    return { position, primary: side, sides: [side] };
  }

  moveTo(position: number): void {
    checkPosition(position, this.length);
    this.cursor = position;
    // The engine's cursor follows: the read-ahead reads ahead of what the user looks at.
    this.session.goTo(position);
  }

  async extend(request: ExtendRequest): Promise<ExtendResult> {
    const session = this.session;
    if (session.ended) return { added: 0 };
    const before = session.trace.length;
    // The engine moves from its own cursor; new frames are wanted after the last recorded one.
    if (before > 0) session.goTo(before - 1);
    const outcome = request.single
      ? await session.stepIn(request.signal)
      : await session.runUntil(request.until ?? (() => false), request.signal, request.onFrame);
    if (request.single && outcome.kind === 'frame') request.onFrame?.(outcome.frame);
    const added = session.trace.length - before;
    if (this.cursor >= 0) session.goTo(this.cursor);
    return outcome.kind === 'malformed' && added === 0 ? { added, malformed: outcome.malformed } : { added };
  }

  async stepOverNatively(signal?: AbortSignal): Promise<ExtendResult> {
    const session = this.session;
    const before = session.trace.length;
    if (this.cursor >= 0) session.goTo(this.cursor);
    const outcome = await session.stepOver(signal);
    const added = session.trace.length - before;
    if (outcome.kind === 'malformed' && session.cursor === this.cursor) return { added, malformed: outcome.malformed };
    this.cursor = session.cursor;
    return { added };
  }

  setVariable(name: string, valueRepr: string): TraceFrame {
    this.session.goTo(this.cursor);
    const edited = this.session.setVariable(name, valueRepr);
    this.revisionCount++;
    return edited;
  }

  async restart(signal?: AbortSignal): Promise<void> {
    this.revisionCount++;
    this.cursor = -1;
    await this.session.restart({}, signal);
    this.cursor = this.session.cursor;
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
    await this.onDispose();
  }
}

/** How a trace that reached `<|end_of_text|>` ended: an exception leaving the entry's scope right before its return is a raise. */
export function endOfFinishedTrace(frames: readonly TraceFrame[]): TraceEnd {
  const last = frames[frames.length - 1];
  const before = frames[frames.length - 2];
  if (last?.event === 'return' && last.depth === 0 && before?.event === 'exception' && before.scope === last.scope) {
    return { kind: 'raised', message: describeException(before.value) };
  }
  return { kind: 'returned' };
}

function checkPosition(position: number, length: number): void {
  if (!Number.isInteger(position) || position < 0 || position >= length) {
    throw new RangeError(`Step ${position} does not exist; the trace has ${length} steps so far.`);
  }
}
