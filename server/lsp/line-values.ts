// What each source line did in a trace (the values it set, what it returned or raised), for the inlay hints and hovers
// the language server draws over a function after a prediction or a comparison, each predicted value with the model's
// confidence (a doubtful one marked ⚠ in the hint, and the alternatives the model weighed in the hover).

import { definitionOn } from '../cwm/lines';
import { DEFAULT_UNSURE_THRESHOLD, percent } from '../trace/confidence';
import type { Locals, TraceFrame, ValueConfidence } from '../trace/model';

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
  /** The model's confidence in each changed value, by name (predicted traces whose frames carry confidence). */
  readonly confidence?: ReadonlyMap<string, ValueConfidence>;
  /** The model's confidence in the returned value or the exception. */
  readonly returnedConfidence?: ValueConfidence;
}

interface MutableExecution {
  step: number;
  event: TraceFrame['event'];
  changed: (readonly [string, string])[];
  after: Locals;
  returned?: string;
  yielded?: boolean;
  raised?: string;
  confidence?: ReadonlyMap<string, ValueConfidence>;
  returnedConfidence?: ValueConfidence;
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
    // A step in another file of the program (frame.file) is not on this document's lines.
    if (frame.line <= 0 || frame.file !== undefined) return;
    if (frame.event === 'call') {
      // A generator resuming also reports a call, at the line it resumes on: only a call on the def shows parameters.
      if (definitionOn(frame.sourceLine)?.kind !== 'def') return;
      const confidence = frame.confidence?.locals;
      add(frame.line, { step: frame.index, event: 'call', changed: [...frame.locals], after: frame.locals, ...(confidence !== undefined ? { confidence } : {}) });
      return;
    }
    if (frame.event === 'line') {
      const next = nextInScope[i] === undefined ? undefined : frames[nextInScope[i]!];
      const after = next !== undefined && (next.event === 'line' || next.event === 'call') ? next.locals : frame.locals;
      const changed = [...after].filter(([name, value]) => frame.locals.get(name) !== value);
      // The frame after the line wrote the values the line set: its confidence is theirs.
      const confidence = next !== undefined && after === next.locals ? next.confidence?.locals : undefined;
      const execution: MutableExecution = { step: frame.index, event: 'line', changed, after, ...(confidence !== undefined ? { confidence } : {}) };
      recordOf.set(i, execution);
      add(frame.line, execution);
      return;
    }
    const prior = before === undefined ? undefined : frames[before];
    // The return that ends a call unwound by an exception is not a value the function gave back.
    if (frame.event === 'return' && prior?.event === 'exception') return;
    const owner = prior !== undefined && prior.event === 'line' && prior.line === frame.line ? recordOf.get(before!) : undefined;
    const execution = owner ?? { step: frame.index, event: frame.event, changed: [], after: NO_LOCALS };
    if (frame.confidence?.value !== undefined) execution.returnedConfidence = frame.confidence.value;
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

/** Mark of a doubtful value in plain text (inlay hints, hovers): the model gave it less than the threshold. */
export const UNSURE_MARK = '⚠';

/**
 * Confidence after a value: `⚠ 30%` when under the threshold; ` 99%` style only with `always` (hovers say it for
 * every value, hints only for doubtful ones, to stay short).
 */
export function confidenceNote(confidence: ValueConfidence | undefined, always: boolean, threshold = DEFAULT_UNSURE_THRESHOLD): string {
  if (confidence === undefined) return '';
  if (confidence.p < threshold) return ` ${UNSURE_MARK} ${percent(confidence.p)}`;
  return always ? ` · ${percent(confidence.p)}` : '';
}

/** Parts of what an execution produced, e.g. `total = 14`, `return 14`; empty when nothing changed. */
export function executionParts(execution: LineExecution, maxValue = Number.POSITIVE_INFINITY, allConfidence = false): string[] {
  const parts = execution.changed.map(([name, value]) =>
    `${name} = ${shorten(value, maxValue)}${confidenceNote(execution.confidence?.get(name), allConfidence)}`);
  const note = confidenceNote(execution.returnedConfidence, allConfidence);
  if (execution.returned !== undefined) parts.push(`${execution.yielded ? 'yield' : 'return'} ${shorten(execution.returned, maxValue)}${note}`);
  if (execution.raised !== undefined) parts.push(`raises ${shorten(execution.raised, maxValue)}${note}`);
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
    if (parts.length === 0) continue;
    const whole = visibleControls(parts.join(', '));
    const label = shorten(whole, HINT_LABEL_LENGTH);
    // A doubtful value cut out of the label still marks it.
    return whole.includes(UNSURE_MARK) && !label.includes(UNSURE_MARK) ? shorten(`${UNSURE_MARK} ${whole}`, HINT_LABEL_LENGTH) : label;
  }
  return undefined;
}

/**
 * Markdown code span that survives whatever the text holds: backticks (a longer fence), and line breaks and other
 * control characters, shown as escapes: a value with "\r\r" must not end the span and have the rest read as Markdown
 * (links, remote images).
 */
export function code(text: string): string {
  const shown = visibleControls(text);
  const longest = (shown.match(/`+/g) ?? []).reduce((most, run) => Math.max(most, run.length), 0);
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(shown) ? ' ' : '';
  return `${fence}${pad}${shown}${pad}${fence}`;
}

/** Control characters (line breaks included) as visible escapes, for hovers and for the plain text of inlay hints. */
export function visibleControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
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
export function variableHistory(executions: readonly LineExecution[], name: string): HistoryEntry[] {
  const history: HistoryEntry[] = [];
  for (const execution of executions) {
    const value = execution.after.get(name);
    // Confidence only where this execution wrote the value (an unchanged one was predicted at an earlier step).
    const confidence = execution.changed.some(([changed]) => changed === name) ? execution.confidence?.get(name) : undefined;
    if (value !== undefined) history.push({ step: execution.step, value, ...(confidence !== undefined ? { confidence } : {}) });
  }
  return history;
}

/** A variable's value after one execution of a line, with the model's confidence where the line wrote it. */
export interface HistoryEntry {
  readonly step: number;
  readonly value: string;
  readonly confidence?: ValueConfidence;
}

/** One side of a hover: the history of a variable at a line, or that the line never ran. */
export function historySection(title: string, history: readonly HistoryEntry[], ran: boolean, line: number): string[] {
  if (!ran) return [`${title}: line ${line} never runs.`];
  if (history.length === 0) return [`${title}: not a local at line ${line}.`];
  return [`${title}:`, '', ...listed(history, (entry) => `- step ${entry.step}: ${code(shorten(entry.value, 200))}${confidenceMarkdown(entry.confidence)}`)];
}

/** ` · 99%`, or ` ⚠ 30% (the model also weighed `1` 60%)`: Markdown, every model text in a code span. */
function confidenceMarkdown(confidence: ValueConfidence | undefined): string {
  if (confidence === undefined) return '';
  const note = confidenceNote(confidence, true);
  const alternatives = (confidence.alternatives ?? []).slice(0, 3).map((a) => `${code(shorten(a.value, 80))} ${percent(a.p)}`);
  return alternatives.length > 0 ? `${note} (the model also weighed ${alternatives.join(', ')})` : note;
}
