// What each source line did in a trace (the values it set, what it returned or raised), for the inlay hints and hovers
// the language server draws over a function after a prediction or a comparison.

import { definitionOn } from '../cwm/lines';
import type { Locals, TraceFrame } from '../trace/model';
import { maxOf } from '../trace/arrays';

/** One execution of a line: the step that ran it and what came of it. */
export interface LineExecution {
  /** Index of the frame that ran the line. */
  readonly step: number;
  readonly event: TraceFrame['event'];
  /** Locals the line set or changed, with their new values (for a call: the parameters), in the frame's order. */
  readonly changed: readonly (readonly [string, string])[];
  /** Locals once the line has run (a line that returned or raised keeps those it started with). */
  readonly after: Locals;
  /** The value a `return` (or `yield`) of this line gave back. */
  readonly returned?: string;
  readonly yielded?: boolean;
  /** The exception raised at this line, as `ValueError('x')`. */
  readonly raised?: string;
}

interface MutableExecution {
  step: number;
  event: TraceFrame['event'];
  changed: (readonly [string, string])[];
  after: Locals;
  returned?: string;
  yielded?: boolean;
  raised?: string;
}

const NO_LOCALS: Locals = new Map();
const YIELD = /(?:^|[^\p{ID_Continue}])yield(?:[^\p{ID_Continue}]|$)/u;
const EXCEPTION_TUPLE = /^\(<class '([^']*)'>, ([\s\S]*), <traceback object[^>]*>\)$/;

/**
 * Executions per 1-based line, in trace order. A line's values are the locals that differ between its frame and the next
 * frame of the same call; a return or exception right after a line of the same call on the same line belongs to it.
 */
export function lineExecutions(frames: readonly TraceFrame[]): Map<number, LineExecution[]> {
  const nextInScope = new Array<number | undefined>(frames.length);
  const following = new Map<number, number>();
  for (let i = frames.length - 1; i >= 0; i--) {
    nextInScope[i] = following.get(frames[i]!.scope);
    following.set(frames[i]!.scope, i);
  }
  const byLine = new Map<number, LineExecution[]>();
  const recordOf = new Map<number, MutableExecution>();
  const previous = new Map<number, number>();
  const add = (line: number, execution: MutableExecution): void => {
    const list = byLine.get(line);
    if (list) list.push(execution);
    else byLine.set(line, [execution]);
  };

  frames.forEach((frame, i) => {
    const before = previous.get(frame.scope);
    previous.set(frame.scope, i);
    if (frame.line <= 0) return;
    if (frame.event === 'call') {
      // A generator resuming also reports a call, at the line it resumes on: only a call on the def shows parameters.
      if (definitionOn(frame.sourceLine)?.kind !== 'def') return;
      add(frame.line, { step: frame.index, event: 'call', changed: [...frame.locals], after: frame.locals });
      return;
    }
    if (frame.event === 'line') {
      const next = nextInScope[i] === undefined ? undefined : frames[nextInScope[i]!];
      const after = next !== undefined && (next.event === 'line' || next.event === 'call') ? next.locals : frame.locals;
      const changed = [...after].filter(([name, value]) => frame.locals.get(name) !== value);
      const execution: MutableExecution = { step: frame.index, event: 'line', changed, after };
      recordOf.set(i, execution);
      add(frame.line, execution);
      return;
    }
    const prior = before === undefined ? undefined : frames[before];
    // The return that ends a call unwound by an exception is not a value the function gave back.
    if (frame.event === 'return' && prior?.event === 'exception') return;
    const owner = prior !== undefined && prior.event === 'line' && prior.line === frame.line ? recordOf.get(before!) : undefined;
    const execution = owner ?? { step: frame.index, event: frame.event, changed: [], after: NO_LOCALS };
    if (frame.event === 'return') {
      execution.returned = frame.value ?? 'None';
      if (YIELD.test(frame.sourceLine)) execution.yielded = true;
    } else {
      execution.raised = exceptionText(frame.value);
    }
    if (owner === undefined) add(frame.line, execution);
  });
  return byLine;
}

/** `ValueError('x')` out of the `(type, value, traceback)` repr an exception frame carries. */
export function exceptionText(value: string | undefined): string {
  if (value === undefined) return 'an exception';
  const match = EXCEPTION_TUPLE.exec(value);
  return match ? match[2]! : value;
}

/** Cuts text to at most `max` characters, marking the cut with an ellipsis. */
export function shorten(text: string, max: number): string {
  const oneLine = text.replace(/\s*\n\s*/g, ' ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, Math.max(1, max - 1))}…`;
}

/** Parts of what an execution produced, e.g. `total = 14`, `return 14`; empty when nothing changed. */
export function executionParts(execution: LineExecution, maxValue = Number.POSITIVE_INFINITY): string[] {
  const parts = execution.changed.map(([name, value]) => `${name} = ${shorten(value, maxValue)}`);
  if (execution.returned !== undefined) parts.push(`${execution.yielded ? 'yield' : 'return'} ${shorten(execution.returned, maxValue)}`);
  if (execution.raised !== undefined) parts.push(`raises ${shorten(execution.raised, maxValue)}`);
  return parts;
}

/** Most characters of an inlay hint's label. */
export const HINT_LABEL_LENGTH = 60;
/** Executions listed in a tooltip or hover before "and N more". */
export const LISTED_EXECUTIONS = 20;

/** The hint of a line: what its last execution that produced anything produced, cut to HINT_LABEL_LENGTH. */
export function hintLabel(executions: readonly LineExecution[]): string | undefined {
  for (let k = executions.length - 1; k >= 0; k--) {
    const parts = executionParts(executions[k]!, 30);
    if (parts.length > 0) return shorten(parts.join(', '), HINT_LABEL_LENGTH);
  }
  return undefined;
}

/** Markdown code span that survives backticks inside the text. */
export function code(text: string): string {
  const longest = maxOf(Array.from(text.matchAll(/`+/g), (m) => m[0].length), 0);
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function listed<T>(items: readonly T[], render: (item: T) => string): string[] {
  const lines = items.slice(0, LISTED_EXECUTIONS).map(render);
  if (items.length > LISTED_EXECUTIONS) lines.push(`- and ${items.length - LISTED_EXECUTIONS} more`);
  return lines;
}

/** Tooltip of a line's hint: every execution, step → values. */
export function hintTooltip(line: number, executions: readonly LineExecution[], origin: string): string {
  const times = executions.length === 1 ? 'once' : `${executions.length} times`;
  return [
    `**${origin}**: line ${line} runs ${times}.`,
    '',
    ...listed(executions, (execution) => {
      const parts = executionParts(execution, 200);
      return `- step ${execution.step}: ${parts.length > 0 ? code(parts.join(', ')) : 'nothing changes'}`;
    }),
  ].join('\n');
}

/** A variable's value after each execution of a line that has it; empty when it is not a local there. */
export function variableHistory(executions: readonly LineExecution[], name: string): { step: number; value: string }[] {
  const history: { step: number; value: string }[] = [];
  for (const execution of executions) {
    const value = execution.after.get(name);
    if (value !== undefined) history.push({ step: execution.step, value });
  }
  return history;
}

/** One side of a hover: the history of a variable at a line, or that the line never ran. */
export function historySection(title: string, history: readonly { step: number; value: string }[], ran: boolean, line: number): string[] {
  if (!ran) return [`${title}: line ${line} never runs.`];
  if (history.length === 0) return [`${title}: not a local at line ${line}.`];
  return [`${title}:`, '', ...listed(history, (entry) => `- step ${entry.step}: ${code(shorten(entry.value, 200))}`)];
}
