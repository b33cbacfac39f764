// What inverse execution looks for (a line, a line with a condition on its locals, a return value, an exception) and how
// any trace, predicted or real, is measured against it: reached where, how close it came, and where it went instead.

import { editDistance } from '../trace/edit-distance';
import { splitSourceLines } from '../cwm/lines';
import type { Locals, Trace, TraceFrame } from '../trace/model';
import { evaluateExpression, type Limits } from '../values/py-interpret';
import { pyEquals, truthOf } from '../values/py-values';

export type InverseTarget =
  /** A line of the traced (main) file, optionally where `where` (a Python expression on the locals there) is true. */
  | { readonly kind: 'line'; readonly line: number; readonly where?: string }
  /** The entry returns this value (a Python literal), CRUXEval-I style. */
  | { readonly kind: 'returns'; readonly value: string }
  /** The entry raises an exception of this type (its class name, e.g. `ValueError`). */
  | { readonly kind: 'raises'; readonly exception: string };

/** Conditions run on every frame at the target line: small bounds, since a trace may pass the line thousands of times. */
const CONDITION_LIMITS: Limits = { maxSteps: 200_000, timeMs: 100, maxDepth: 50 };

/** The target in words, for messages and reports. */
export function describeTarget(target: InverseTarget): string {
  switch (target.kind) {
    case 'line': return target.where === undefined ? `line ${target.line}` : `line ${target.line} where ${target.where}`;
    case 'returns': return `a return of ${target.value}`;
    case 'raises': return `a raised ${target.exception}`;
  }
}

/** Whether a condition holds on a frame's locals: true, false, or why it could not be evaluated. */
export function conditionHolds(where: string, locals: Locals): boolean | { error: string } {
  const evaluation = evaluateExpression(where, locals, CONDITION_LIMITS);
  if (!evaluation.ok) return { error: evaluation.error };
  const truth = truthOf(evaluation.value);
  return truth === undefined ? { error: `the value of ${where} is known only as text, so its truth is unknown` } : truth;
}

/** Python equality of two reprs where both are literals the evaluator reads; else the texts must be equal. */
export function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  const left = evaluateExpression(a, new Map(), CONDITION_LIMITS);
  const right = evaluateExpression(b, new Map(), CONDITION_LIMITS);
  if (!left.ok || !right.ok) return false;
  try {
    return pyEquals(left.value, right.value);
  } catch {
    return false;
  }
}

/** The entry's own return frame (depth 0), if the trace has one. */
function entryReturn(frames: readonly TraceFrame[]): TraceFrame | undefined {
  for (let i = frames.length - 1; i >= 0; i--) {
    const frame = frames[i]!;
    if (frame.event === 'return' && frame.depth === 0) return frame;
  }
  return undefined;
}

/** An exception frame's value names the exception's class: `(<class 'ValueError'>, ...)` or `ValueError(...)`. */
function namesException(value: string | undefined, exception: string): boolean {
  if (value === undefined) return false;
  const escaped = exception.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w.])${escaped}\\b|\\.${escaped}'`).test(value);
}

/** Tests frames one by one against a target; remembers why a `where` could not be evaluated. */
export class TargetMatcher {
  /** The first reason `where` could not be evaluated on a frame at the target line, if it ever failed. */
  conditionError: string | undefined;

  constructor(readonly target: InverseTarget) {}

  /** Whether this frame is the target reached (for a return or exception: the entry's own). */
  matches(frame: TraceFrame): boolean {
    const target = this.target;
    switch (target.kind) {
      case 'line': {
        if (frame.event !== 'line' || frame.line !== target.line || frame.file !== undefined) return false;
        if (target.where === undefined) return true;
        const holds = conditionHolds(target.where, frame.locals);
        if (typeof holds === 'boolean') return holds;
        this.conditionError ??= holds.error;
        return false;
      }
      case 'returns':
        return frame.event === 'return' && frame.depth === 0 && frame.value !== undefined && sameValue(frame.value, target.value);
      case 'raises':
        return frame.event === 'exception' && frame.depth === 0 && namesException(frame.value, target.exception);
    }
  }

  /** Index of the first frame where the target is reached, or -1. */
  firstMatch(frames: readonly TraceFrame[]): number {
    return frames.findIndex((frame) => this.matches(frame));
  }

  /** Whether a real run reached the target (a raised exception also counts when the trace's end says so). */
  realMatch(trace: Trace): number {
    const index = this.firstMatch(trace.frames);
    if (index >= 0 || this.target.kind !== 'raises') return index;
    return trace.end.kind === 'raised' && namesException(trace.end.message.split(':')[0], this.target.exception) ? Math.max(0, trace.frames.length - 1) : -1;
  }
}

/**
 * Where a run that missed the target went instead, in one phrase: "returned 3 at step 12 without reaching line 9",
 * "reached line 9 4 times but total > 100 was never true there", "stopped by the time limit at step 80 (line 5)".
 */
export function describeMiss(trace: Pick<Trace, 'frames' | 'end'>, target: InverseTarget): string {
  const frames = trace.frames;
  const last = frames[frames.length - 1];
  const at = last === undefined ? 'before the first step' : `at step ${last.index} (line ${last.line})`;
  const goal = target.kind === 'line' ? `line ${target.line}` : target.kind === 'returns' ? `a return of ${target.value}` : `a raised ${target.exception}`;
  if (target.kind === 'line' && target.where !== undefined) {
    const atLine = frames.filter((frame) => frame.event === 'line' && frame.line === target.line && frame.file === undefined);
    if (atLine.length > 0) {
      return `reached line ${target.line} ${atLine.length === 1 ? 'once' : `${atLine.length} times`} but ${target.where} was never true there`;
    }
  }
  const returned = entryReturn(frames);
  switch (trace.end.kind) {
    case 'returned':
      if (returned !== undefined) {
        const without = target.kind === 'line' ? ` without reaching ${goal}`
          : target.kind === 'raises' ? ` without raising ${target.exception}` : `, not ${shorten(target.value)}`;
        return `returned ${shorten(returned.value ?? 'None')} at step ${returned.index}${without}`;
      }
      return `ended ${at} without reaching ${goal}`;
    case 'raised':
      return `raised ${shorten(trace.end.message)} ${at} without reaching ${goal}`;
    case 'limit':
      return `stopped by the ${trace.end.limit} limit ${at} without reaching ${goal}`;
    case 'exited':
      return `exited (${shorten(trace.end.message)}) ${at} without reaching ${goal}`;
    case 'crashed':
      return `ended abnormally (${shorten(trace.end.message)}) ${at}`;
    case 'incomplete':
      return `stopped ${at} without reaching ${goal}`;
  }
}

function shorten(text: string, limit = 60): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length <= limit ? one : `${one.slice(0, limit)}…`;
}

/**
 * The lines that guard a target line: the headers of the blocks it sits in (if, elif, while, for, with, try...), innermost
 * first, up to the function's def. A run that passed more of them came closer.
 */
export function guardLines(source: string, line: number): number[] {
  const lines = splitSourceLines(source);
  const indentOf = (text: string) => text.length - text.trimStart().length;
  const guards: number[] = [];
  let indent = indentOf(lines[line - 1] ?? '');
  for (let k = line - 1; k >= 1 && indent > 0; k--) {
    const text = lines[k - 1] ?? '';
    const stripped = text.trim();
    if (stripped === '' || stripped.startsWith('#')) continue;
    const own = indentOf(text);
    if (own >= indent) continue;
    indent = own;
    if (/^def\s|^async\s+def\s|^class\s/.test(stripped)) break;
    // `else:`, `try:` and `finally:` lines are never a step of their own; the `if` or `elif` above decides an else.
    if (!/^(else|try|finally)\b/.test(stripped)) guards.push(k);
  }
  return guards;
}

/** How close a trace came to the target: higher is closer; a trace that reached it scores highest. */
export function closeness(frames: readonly TraceFrame[], target: InverseTarget, guards: readonly number[]): number {
  if (target.kind === 'line') {
    const visited = new Set(frames.filter((frame) => frame.file === undefined && frame.event === 'line').map((frame) => frame.line));
    if (visited.has(target.line)) return 1000;
    let passed = 0;
    for (const guard of guards) if (visited.has(guard)) passed++;
    // Deeper guards count more: the innermost one (first) passed means all but the last condition held.
    return passed * 10 + (guards.length > 0 && visited.has(guards[0]!) ? 5 : 0);
  }
  const returned = entryReturn(frames);
  if (target.kind === 'returns') {
    if (returned?.value === undefined) return -1_000_000;
    return -editDistance(returned.value.slice(0, 200), target.value.slice(0, 200));
  }
  return frames.some((frame) => frame.event === 'exception') ? 1 : 0;
}

