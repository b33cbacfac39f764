// The symbolic checker: judges each predicted frame against the last possible frame before it, from flow facts the
// program's own AST gives (flow-facts.ts), and marks a line that cannot follow or a local the scope cannot have.
// It over-approximates on purpose: a real execution under any CPython 3.8–3.13 is never marked.

import type { FrameIssue, TraceEventKind, TraceFrame } from '../trace/model';
import type { FileFlowFacts, FlowFacts, UnitFacts } from './flow-facts';
import { appendAll } from '../trace/arrays';

export const IMPOSSIBLE_LINE = 'impossible-line';
export const IMPOSSIBLE_LOCAL = 'impossible-local';
/** Most impossible locals named on one frame; one is enough to mark it. */
const MAX_LOCAL_ISSUES = 3;

export function isImpossibleIssue(issue: FrameIssue): boolean {
  return issue.kind === IMPOSSIBLE_LINE || issue.kind === IMPOSSIBLE_LOCAL;
}

/** The frame carries a mark of the checker. */
export function isMarkedImpossible(frame: TraceFrame): boolean {
  return frame.issues?.some(isImpossibleIssue) ?? false;
}

/** What the checker knows of one live frame of the program: its code, and its last possible event. */
interface ScopeState {
  readonly facts: FileFlowFacts;
  /** The code it may be running; undefined: not checked (module level, a class body, a call that was impossible). */
  readonly units?: readonly UnitFacts[];
  readonly event: TraceEventKind;
  /** Lines its last possible frame may have been on (a predicted line's text can stand for several equal lines). */
  readonly lines: readonly number[];
  /** That frame's line as shown, for the reason. */
  readonly shown: number;
  /**
   * The marked frame right after it, when its line was the wrong one: a frame that follows from it (the model went on
   * from its own wrong step) is not marked again, so one wrong step marks one frame.
   */
  readonly wrong?: { readonly event: TraceEventKind; readonly lines: readonly number[] };
}

interface Assessment {
  readonly issues: FrameIssue[];
  readonly state?: ScopeState;
}

export class FlowChecker {
  private readonly scopes = new Map<number, ScopeState>();
  /** The frames the state stands for, to notice when a prefix is not their continuation (an edit, a restart). */
  private observed: TraceFrame[] = [];
  private readonly equalLines = new WeakMap<FileFlowFacts, Map<string, number[]>>();

  constructor(readonly facts: FlowFacts) {}

  /** Brings the state to the end of `prefix`, replaying it when it does not continue what was observed. */
  sync(prefix: readonly TraceFrame[]): void {
    const seen = this.observed.length;
    if (seen > prefix.length || (seen > 0 && this.observed[seen - 1] !== prefix[seen - 1])) {
      this.scopes.clear();
      this.observed = [];
    }
    for (let i = this.observed.length; i < prefix.length; i++) this.observe(prefix[i]!);
  }

  /** Takes a frame as the next one: a marked frame changes nothing but its scope's opening or closing. */
  observe(frame: TraceFrame): void {
    this.observed.push(frame);
    // A frame marked for its locals alone was at a possible line: it moves the scope on like a possible frame.
    if (frame.issues?.some((issue) => issue.kind === IMPOSSIBLE_LINE)) {
      const facts = this.factsOf(frame);
      if (frame.event === 'call') {
        if (facts) this.scopes.set(frame.scope, { facts, event: 'call', lines: [], shown: frame.line });
      } else if (frame.event === 'return') this.scopes.delete(frame.scope);
      else {
        const state = this.scopes.get(frame.scope);
        if (state && facts && frame.line > 0) this.scopes.set(frame.scope, { ...state, wrong: { event: frame.event, lines: this.candidates(facts, frame.line) } });
      }
      return;
    }
    const { state } = this.assess(frame);
    if (frame.event === 'return' || state === undefined) this.scopes.delete(frame.scope);
    else this.scopes.set(frame.scope, state);
  }

  /** The checker's issues for `frame` as the next frame after the observed ones (empty: possible). */
  judge(frame: TraceFrame): FrameIssue[] {
    return this.assess(frame).issues;
  }

  private factsOf(frame: TraceFrame): FileFlowFacts | undefined {
    return frame.file === undefined ? this.facts.main : this.facts.files.get(frame.file);
  }

  private assess(frame: TraceFrame): Assessment {
    const facts = this.factsOf(frame);
    if (facts === undefined || frame.line <= 0 || frame.line > facts.lines.length) return { issues: [] };
    const lines = this.candidates(facts, frame.line);
    const base = { facts, event: frame.event, shown: frame.line };
    if (frame.event === 'call') {
      if (frame.functionName === '<module>') return { issues: [], state: { ...base, lines } };
      const starting = facts.units.filter((unit) => lines.some((line) => unit.callLines.has(line)));
      if (starting.length === 0) {
        return { issues: [{ kind: IMPOSSIBLE_LINE, message: `line ${frame.line} cannot start a call: no function, lambda, class or comprehension starts there` }] };
      }
      const named = starting.filter((unit) => unit.names.includes(frame.functionName));
      const units = named.length > 0 ? named : starting;
      const checked = units.every((unit) => unit.kind !== 'class') ? units : undefined;
      return {
        issues: checked ? localIssues(frame, checked) : [],
        state: { ...base, units: checked, lines: lines.filter((line) => units.some((unit) => unit.callLines.has(line))) },
      };
    }
    const state = this.scopes.get(frame.scope);
    if (state === undefined || state.facts !== facts) {
      // The trace starts inside this scope: nothing to compare the line with; its locals are checked when its code is plain.
      const around = facts.units.filter((unit) => unit.kind !== 'class' && unit.names.includes(frame.functionName) && lines.some((line) => unit.owned.has(line)));
      const units = around.length > 0 ? around : undefined;
      return { issues: units ? localIssues(frame, units) : [], state: { ...base, units, lines } };
    }
    if (state.units === undefined) return { issues: [], state: { ...state, ...base, lines } };
    const units = state.units;
    const wrong = state.wrong === undefined ? undefined : { ...state, ...state.wrong };
    const possible = lines.filter((line) => units.some((unit) => canFollow(unit, state, frame.event, line) || (wrong !== undefined && canFollow(unit, wrong, frame.event, line))));
    const issues: FrameIssue[] = [];
    if (possible.length === 0) {
      const outside = units.every((unit) => !unit.owned.has(frame.line)) ? ` (line ${frame.line} is not in ${units[0]!.names[0]})` : '';
      issues.push({ kind: IMPOSSIBLE_LINE, message: `line ${frame.line} cannot follow line ${state.shown}${outside}` });
    }
    appendAll(issues, localIssues(frame, units));
    return { issues, state: { units, ...base, lines: possible.length > 0 ? possible : lines } };
  }

  /** The lines of the file with the same text as `line` (whitespace aside): the model names a line by its text. */
  private candidates(facts: FileFlowFacts, line: number): number[] {
    let index = this.equalLines.get(facts);
    if (index === undefined) {
      index = new Map();
      facts.lines.forEach((text, k) => {
        const key = text.replace(/\s+/g, '');
        const list = index!.get(key);
        if (list) list.push(k + 1);
        else index!.set(key, [k + 1]);
      });
      this.equalLines.set(facts, index);
    }
    return index.get(facts.lines[line - 1]!.replace(/\s+/g, '')) ?? [line];
  }
}

/** Whether an `event` on `line` can come right after the scope's last possible frame, in `unit`'s code. */
function canFollow(unit: UnitFacts, state: ScopeState, event: TraceEventKind, line: number): boolean {
  if (unit.kind === 'class') return true;
  if (event === 'call') return unit.callLines.has(line);
  if (!unit.owned.has(line)) return false;
  const flow = unit.flow;
  if (flow === undefined) return true;
  return state.lines.some((previous) => {
    switch (state.event) {
      case 'call': {
        if (event === 'return') return true;
        if (flow.afterCall.has(line)) return true;
        return unit.generator && (previous === line || (flow.next.get(previous)?.has(line) ?? true));
      }
      case 'line': {
        const next = flow.next.get(previous);
        if (next === undefined) return true;
        if (event !== 'return') return next.has(line);
        return flow.guarded.has(previous) || next.has(line) || flow.tail.has(line);
      }
      case 'exception': {
        const after = flow.afterException.get(previous);
        if (after === undefined) return true;
        if (event !== 'return') return after.has(line);
        return flow.guarded.has(previous) || after.has(line) || flow.tail.has(line);
      }
      default:
        return true;
    }
  });
}

const IDENTIFIER = /^[\p{ID_Start}_][\p{ID_Continue}]*$/u;

function localIssues(frame: TraceFrame, units: readonly UnitFacts[]): FrameIssue[] {
  if (frame.locals.size === 0 || units.some((unit) => unit.locals === undefined)) return [];
  const issues: FrameIssue[] = [];
  for (const name of frame.locals.keys()) {
    // Names that are not identifiers (`.0`) are the interpreter's own.
    if (!IDENTIFIER.test(name) || units.some((unit) => unit.locals!.has(name))) continue;
    issues.push({ kind: IMPOSSIBLE_LOCAL, message: `\`${name}\` cannot be a local of ${units[0]!.names[0]}`, local: name });
    if (issues.length >= MAX_LOCAL_ISSUES) break;
  }
  return issues;
}

/** A frame with the checker's issues added (the reader's own issues stay). */
export function withFlowIssues(frame: TraceFrame, issues: readonly FrameIssue[]): TraceFrame {
  if (issues.length === 0) return frame;
  return { ...frame, issues: [...(frame.issues ?? []), ...issues] };
}

/** Marks a whole trace (real or predicted) frame by frame, each judged against the last possible frame before it. */
export function checkTrace(frames: readonly TraceFrame[], facts: FlowFacts, from = 0): TraceFrame[] {
  const checker = new FlowChecker(facts);
  const out: TraceFrame[] = [];
  for (const [k, frame] of frames.entries()) {
    const checked = k < from ? frame : withFlowIssues(frame, checker.judge(frame));
    checker.observe(checked);
    out.push(checked);
  }
  return out;
}

/** A stop (adapter) at a marked frame: its description says "Impossible step", its text gives the reasons. */
export function withImpossibleStep<T extends { readonly description?: string; readonly text?: string }>(stop: T, frame: TraceFrame | undefined): T {
  const reasons = frame?.issues?.filter(isImpossibleIssue).map((issue) => issue.message) ?? [];
  if (reasons.length === 0) return stop;
  const text = `Impossible step: ${reasons.join('; ')} (the model gave no possible step in its re-samples).`;
  return {
    ...stop,
    description: stop.description ? `${stop.description}; impossible step` : 'Impossible step',
    text: stop.text ? `${stop.text}\n${text}` : text,
  };
}
