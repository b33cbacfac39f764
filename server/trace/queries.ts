// Questions a recording answers directly (omniscient time travel): where a value was set, every value a variable held,
// every time a line ran, every call with its outcome. Indexes built once per frame list and extended as frames arrive.

import { valueAt, type Locals, type ObjectState, type TraceFrame } from './model';
import { DeltaLocals } from './compact-locals';

/** Where a variable got the value it holds at some step. */
export interface ValueChange {
  /** First step whose locals show the value. */
  readonly shownAt: number;
  /**
   * The step that set it: the line that ran just before `shownAt` in the same call (its locals still show the value
   * before), or `shownAt` itself when the value came with the call (an argument).
   */
  readonly setBy: number;
  readonly name: string;
  readonly value: string;
  /** The value before the change; undefined when the variable was new. */
  readonly before?: string;
}

/** One value a variable held. */
export interface HistoryEntry extends ValueChange {
  /** The call (index of its call frame) the change belongs to. */
  readonly call: number;
}

/** One time a line ran, with the locals that changed since the step before in its call. */
export interface LineRun {
  readonly step: number;
  readonly changed: readonly { readonly name: string; readonly value: string; readonly before?: string }[];
}

export type CallOutcome = 'returned' | 'raised' | 'running';

/** One call in the recording. */
export interface CallRecord {
  /** Index of the call frame. */
  readonly step: number;
  readonly functionName: string;
  /** The file of the function when not the main one. */
  readonly file?: string;
  /** Line of the call event (the `def` line, or the decorator's). */
  readonly line: number;
  readonly depth: number;
  readonly scope: number;
  /** The arguments: the call frame's locals. */
  readonly args: Locals;
  /** Index of the return frame, when the call ended in the recording. */
  end?: number;
  outcome: CallOutcome;
  /** `repr` of the returned value, or of the exception that left the call. */
  value?: string;
  /** Index into `calls` of the caller, or -1 for the outermost calls. */
  readonly parent: number;
  /** Indices into `calls` of the calls it made, in order. */
  children: readonly number[];
}

/** Calls of one function, for a code lens ("3 calls · 1 raised"). */
export interface FunctionCalls {
  readonly functionName: string;
  readonly file?: string;
  readonly line: number;
  readonly calls: number;
  readonly raised: number;
  /** Indices into `calls`. */
  readonly callIds: readonly number[];
}

const NONE = -1;
const NO_CHILDREN: readonly number[] = Object.freeze([]);
/** Lines past this get no per-line list (a predicted frame may name any number). */
const MAX_INDEXED_LINE = 1_000_000;

/** The index's state of one scope (one live Python frame). */
interface ScopeState {
  readonly scope: number;
  /** Its latest call/line frame, -1 after it returned. */
  lastFrame: number;
  /** Index into `calls` of its live call, -1 when none. */
  openCall: number;
  /** Its last event was an exception: a return now means the exception left the call. */
  afterException: boolean;
  /**
   * The names that changed in it and, at the same position, the steps whose locals show a new value (`shownAt`).
   * Arrays, not a Map: most calls have a few names, and a Map per call costs more to make than a short search.
   */
  readonly names: string[];
  readonly changes: IntList[];
}

/** The steps at which `name` changed in a scope, if it ever did. */
function changesOf(state: ScopeState | undefined, name: string): IntList | undefined {
  if (!state) return undefined;
  const at = state.names.indexOf(name);
  return at < 0 ? undefined : state.changes[at];
}

/**
 * A sorted list of frame indices. A plain array of small integers: most lists are short (a call's few changes), and a
 * typed array's separate buffer would cost more to allocate than it saves.
 */
class IntList {
  private readonly data: number[] = [];

  get length(): number {
    return this.data.length;
  }

  push(value: number): void {
    this.data.push(value);
  }

  at(i: number): number {
    return this.data[i]!;
  }

  /** Position of the last element ≤ value (the list is sorted ascending), or -1. */
  lastAtMost(value: number): number {
    let low = 0;
    let high = this.data.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.data[mid]! <= value) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    return found;
  }

  toArray(): number[] {
    return this.data.slice();
  }
}

/**
 * The indexes over one frame list. `update()` reads the frames added since the last call (a prediction grows); a list
 * that changed otherwise (a what-if edit, a restart) needs a new TraceIndex.
 */
export class TraceIndex {
  /** Frames indexed so far. */
  private indexed = 0;
  /** Per frame: the previous call/line frame of the same scope (or -1); only for call/line frames. */
  private previousInScope = new Int32Array(1024);
  /** Per frame: the index of its call's call frame (or -1 when the recording starts inside a call). */
  private callStepOf = new Int32Array(1024);
  /** What the index keeps per scope (one lookup per frame; consecutive frames of one scope need none). */
  private readonly scopes = new Map<number, ScopeState>();
  private lastScope: ScopeState | undefined;
  /** Per file (`''` for the main one), per line: the line events there. */
  private readonly lineRuns = new Map<string, IntList[]>();
  /** Every call in order of its call frame. */
  readonly calls: CallRecord[] = [];
  /** Indices into `calls` of the live calls, innermost last, to find callers. */
  private callStack: number[] = [];
  /** Exception frames, in order. */
  private readonly exceptionSteps = new IntList();

  constructor(private readonly frames: readonly TraceFrame[]) {
    this.update();
  }

  /** Indexes frames added since the last call; cheap when nothing was added. */
  update(): void {
    const frames = this.frames;
    if (this.previousInScope.length < frames.length) {
      const size = Math.max(frames.length, this.previousInScope.length * 2);
      const previous = new Int32Array(size);
      previous.set(this.previousInScope);
      this.previousInScope = previous;
      const calls = new Int32Array(size);
      calls.set(this.callStepOf);
      this.callStepOf = calls;
    }
    for (let i = this.indexed; i < frames.length; i++) this.add(frames[i]!, i);
    this.indexed = frames.length;
  }

  get length(): number {
    return this.indexed;
  }

  private scopeState(scope: number): ScopeState {
    const last = this.lastScope;
    if (last !== undefined && last.scope === scope) return last;
    let state = this.scopes.get(scope);
    if (!state) this.scopes.set(scope, (state = { scope, lastFrame: NONE, openCall: NONE, afterException: false, names: [], changes: [] }));
    this.lastScope = state;
    return state;
  }

  private add(frame: TraceFrame, i: number): void {
    const state = this.scopeState(frame.scope);
    this.callStepOf[i] = frame.event === 'call' ? i : state.openCall === NONE ? NONE : this.calls[state.openCall]!.step;
    if (frame.event === 'call' || frame.event === 'line') {
      const previous = frame.event === 'call' ? NONE : state.lastFrame;
      this.previousInScope[i] = previous;
      state.lastFrame = i;
      state.afterException = false;
      const before = previous === NONE ? undefined : this.frames[previous]!;
      this.recordChanges(state, frame, i, before?.locals);
      if (frame.objects !== undefined || before?.objects !== undefined) this.recordAttributeChanges(state, frame.objects, i, before?.objects);
      if (frame.event === 'line') {
        const file = frame.file ?? '';
        let byLine = this.lineRuns.get(file);
        if (!byLine) this.lineRuns.set(file, (byLine = []));
        // Line numbers index an array; a hostile predicted line number far out gets no slot (it ran, but is not listed).
        if (frame.line >= 0 && frame.line <= MAX_INDEXED_LINE) (byLine[frame.line] ??= new IntList()).push(i);
      } else this.openCallRecord(state, frame, i);
      return;
    }
    this.previousInScope[i] = NONE;
    if (frame.event === 'exception') {
      this.exceptionSteps.push(i);
      // An exception frame that the scope's return follows directly is the exception leaving the call.
      if (state.openCall !== NONE) this.calls[state.openCall]!.value = frame.value;
      state.afterException = true;
      return;
    }
    // return
    if (state.openCall !== NONE) {
      const open = state.openCall;
      const call = this.calls[open]!;
      call.end = i;
      if (state.afterException) call.outcome = 'raised';
      else {
        call.outcome = 'returned';
        call.value = frame.value;
      }
      state.openCall = NONE;
      const at = this.callStack.lastIndexOf(open);
      if (at >= 0) this.callStack.length = at;
    }
    state.lastFrame = NONE;
    state.afterException = false;
  }

  private openCallRecord(state: ScopeState, frame: TraceFrame, i: number): void {
    // A generator's resume is a call frame of a scope that is not open: a call of its own, as settrace sees it.
    const parent = this.callStack.length > 0 ? this.callStack[this.callStack.length - 1]! : NONE;
    const record: CallRecord = {
      step: i, functionName: frame.functionName, line: frame.line, depth: frame.depth, scope: frame.scope, args: frame.locals,
      outcome: 'running', parent, children: NO_CHILDREN,
    };
    if (frame.file !== undefined) (record as { file?: string }).file = frame.file;
    const id = this.calls.length;
    this.calls.push(record);
    if (parent !== NONE) {
      const caller = this.calls[parent]!;
      // Most calls make none: they share one empty list until their first.
      if (caller.children === NO_CHILDREN) caller.children = [id];
      else (caller.children as number[]).push(id);
    }
    state.openCall = id;
    this.callStack.push(id);
  }

  private recordChanges(state: ScopeState, frame: TraceFrame, i: number, before: Locals | undefined): void {
    const locals = frame.locals;
    if (before === locals) return;
    // A recording's frame that changed one value says which (no comparison of the others needed).
    if (before !== undefined && locals instanceof DeltaLocals && locals.base === before) {
      this.noteChange(state, locals.layout.names[locals.at]!, i);
      return;
    }
    for (const [name, value] of locals) {
      if (before === undefined || before.get(name) !== value) this.noteChange(state, name, i);
    }
  }

  /**
   * Attributes of recorded objects (`self.radius`) are indexed as names of their own: a dotted path can be no local's
   * name. One that disappears counts as a change too (its object is no longer held there).
   */
  private recordAttributeChanges(state: ScopeState, objects: ObjectState | undefined, i: number, before: ObjectState | undefined): void {
    if (before === objects) return;
    if (before !== undefined && objects instanceof DeltaLocals && objects.base === before) {
      this.noteChange(state, objects.layout.names[objects.at]!, i);
      return;
    }
    if (objects !== undefined) {
      for (const [name, value] of objects) {
        if (before === undefined || before.get(name) !== value) this.noteChange(state, name, i);
      }
    }
    if (before !== undefined) {
      for (const name of before.keys()) if (!objects?.has(name)) this.noteChange(state, name, i);
    }
  }

  private noteChange(state: ScopeState, name: string, i: number): void {
    const at = state.names.indexOf(name);
    if (at >= 0) state.changes[at]!.push(i);
    else {
      const list = new IntList();
      list.push(i);
      state.names.push(name);
      state.changes.push(list);
    }
  }

  private changeAt(name: string, shownAt: number): ValueChange {
    const frame = this.frames[shownAt]!;
    const previous = this.previousInScope[shownAt]!;
    const value = valueAt(frame, name) ?? '';
    if (frame.event === 'call' || previous === NONE) return { shownAt, setBy: shownAt, name, value };
    const before = valueAt(this.frames[previous]!, name);
    return { shownAt, setBy: previous, name, value, ...(before !== undefined ? { before } : {}) };
  }

  /**
   * Where the value `name` holds at `step` (in that step's call) was set; `forward`: the next change after `step`.
   * undefined when the step's call has no such variable, or there is no change that way.
   */
  lastChange(step: number, name: string, direction: 'back' | 'forward' = 'back'): ValueChange | undefined {
    this.update();
    const frame = this.frames[step];
    if (!frame) return undefined;
    const list = changesOf(this.scopes.get(frame.scope), name);
    if (!list) return undefined;
    // For return/exception frames (no locals), the scope's last locals are the ones in question.
    const at = list.lastAtMost(step);
    if (direction === 'back') return at < 0 ? undefined : this.changeAt(name, list.at(at));
    const next = at + 1;
    if (next >= list.length) return undefined;
    return this.changeAt(name, list.at(next));
  }

  /** Every value `name` held in the call of `step` (or, with `allCalls`, in every call of that function), in order. */
  valueHistory(step: number, name: string, allCalls = false, limit = Infinity): HistoryEntry[] {
    return this.valueHistoryPage(step, name, allCalls, limit).entries;
  }

  /** The first `limit` values of valueHistory and how many there are in all (a loop's counter has one per run). */
  valueHistoryPage(step: number, name: string, allCalls = false, limit = Infinity): { total: number; entries: HistoryEntry[] } {
    this.update();
    const frame = this.frames[step];
    if (!frame) return { total: 0, entries: [] };
    const scopes = allCalls
      ? [...new Set(this.calls.filter((c) => c.functionName === frame.functionName && c.file === frame.file).map((c) => c.scope))]
      : [frame.scope];
    const lists = scopes.map((scope) => changesOf(this.scopes.get(scope), name)).filter((list): list is IntList => list !== undefined);
    let total = 0;
    for (const list of lists) total += list.length;
    // Steps in order across the calls (each list is in order): merge the heads, stop at the limit.
    const steps: number[] = [];
    const heads = lists.map(() => 0);
    while (steps.length < Math.min(limit, total)) {
      let best = -1;
      for (let k = 0; k < lists.length; k++) {
        if (heads[k]! < lists[k]!.length && (best < 0 || lists[k]!.at(heads[k]!) < lists[best]!.at(heads[best]!))) best = k;
      }
      if (best < 0) break;
      steps.push(lists[best]!.at(heads[best]!++));
    }
    return { total, entries: steps.map((shownAt) => ({ ...this.changeAt(name, shownAt), call: this.callStepOf[shownAt]! })) };
  }

  /** Every time `line` (of `file`, the main file when undefined) ran, with what changed at that moment. */
  runsOfLine(line: number, file?: string, limit = Infinity): LineRun[] {
    this.update();
    const list = this.lineRuns.get(file ?? '')?.[line];
    if (!list) return [];
    const runs: LineRun[] = [];
    for (let k = 0; k < Math.min(list.length, limit); k++) {
      const step = list.at(k);
      const locals = this.frames[step]!.locals;
      const previous = this.previousInScope[step]!;
      const before = previous === NONE ? undefined : this.frames[previous]!.locals;
      const changed: { name: string; value: string; before?: string }[] = [];
      if (before !== locals) {
        for (const [name, value] of locals) {
          const old = before?.get(name);
          if (old !== value) changed.push({ name, value, ...(old !== undefined ? { before: old } : {}) });
        }
      }
      runs.push({ step, changed });
    }
    return runs;
  }

  /** How many times a line ran. */
  countRunsOfLine(line: number, file?: string): number {
    this.update();
    return this.lineRuns.get(file ?? '')?.[line]?.length ?? 0;
  }

  /** Steps of every run of a line, without the changes (cheap). */
  stepsOfLine(line: number, file?: string): number[] {
    this.update();
    return this.lineRuns.get(file ?? '')?.[line]?.toArray() ?? [];
  }

  /** Calls of a function (every call when no name), in order. */
  callsOf(functionName?: string, file?: string): CallRecord[] {
    this.update();
    return functionName === undefined ? this.calls : this.calls.filter((c) => c.functionName === functionName && (file === undefined || c.file === file));
  }

  /** Per function (by file and call line): how many calls, how many raised. */
  functionSummaries(): FunctionCalls[] {
    this.update();
    const byKey = new Map<string, { functionName: string; file?: string; line: number; calls: number; raised: number; callIds: number[] }>();
    for (const [id, call] of this.calls.entries()) {
      const key = `${call.file ?? ''}\u0000${call.line}\u0000${call.functionName}`;
      let summary = byKey.get(key);
      if (!summary) byKey.set(key, (summary = { functionName: call.functionName, line: call.line, calls: 0, raised: 0, callIds: [], ...(call.file !== undefined ? { file: call.file } : {}) }));
      summary.calls++;
      if (call.outcome === 'raised') summary.raised++;
      summary.callIds.push(id);
    }
    return [...byKey.values()];
  }

  /** Steps of exception frames, in order. */
  exceptions(): number[] {
    this.update();
    return this.exceptionSteps.toArray();
  }
}
