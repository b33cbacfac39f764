// What makes the debugger stop on a frame: line breakpoints (condition, hit condition, log points), data breakpoints
// (a variable's value changes), exception filters, "when the model is unsure" (a predicted frame's confidence under a
// threshold) and the first divergence; and the scanner that checks frames in order, synchronously where it can so a
// streamed rollout is cancelled on the frame that stops it.

import { splitSourceLines } from '../cwm/lines';
import { alternativesText, DEFAULT_UNSURE_THRESHOLD, lowestConfidence, percent } from '../trace/confidence';
import { valueAt, type Locals, type TraceFrame } from '../trace/model';

export type StopReason = 'entry' | 'step' | 'breakpoint' | 'data breakpoint' | 'exception' | 'unsure' | 'goto' | 'divergence' | 'pause' | 'end';

/** The exception filter that stops where the model is unsure; its condition is the threshold (`0.5`, `50%`). */
export const UNSURE_FILTER = 'uncertain';

/**
 * The threshold a "When the model is unsure" condition names: a probability in (0, 1] (`0.3`) or a percentage
 * (`30%`, `30`); blank gives the default. An error sentence when it is neither.
 */
export function parseUnsureThreshold(condition: string | undefined): number | { error: string } {
  const text = condition?.trim() ?? '';
  if (text === '') return DEFAULT_UNSURE_THRESHOLD;
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s*(%?)$/.exec(text);
  const n = match ? Number(match[1]) : NaN;
  const p = match?.[2] === '%' || n > 1 ? n / 100 : n;
  if (!Number.isFinite(p) || p <= 0 || p > 1) {
    return { error: `"${text}" is not a confidence threshold: give a probability such as 0.5 or a percentage such as 50%.` };
  }
  return p;
}

/** Why and where a movement stopped. */
export interface StopInfo {
  readonly reason: StopReason;
  /** Shown by the client next to the reason (e.g. the divergence sentence). */
  readonly description?: string;
  readonly text?: string;
  readonly hitBreakpointIds?: readonly number[];
}

export type HitCondition = { readonly op: '==' | '>=' | '>' | '<' | '<=' | '%'; readonly n: number };

/** `5`, `==5`, `>=3`, `>3`, `<3`, `<=3`, `%2`; undefined when the text is none of these. */
export function parseHitCondition(text: string): HitCondition | undefined {
  const match = /^\s*(==|>=|<=|>|<|%)?\s*(\d+)\s*$/.exec(text);
  if (!match) return undefined;
  const n = Number(match[2]);
  const op = (match[1] ?? '==') as HitCondition['op'];
  if (op === '%' && n === 0) return undefined;
  return { op, n };
}

export function hitConditionHolds(condition: HitCondition, count: number): boolean {
  switch (condition.op) {
    case '==': return count === condition.n;
    case '>=': return count >= condition.n;
    case '>': return count > condition.n;
    case '<': return count < condition.n;
    case '<=': return count <= condition.n;
    case '%': return count % condition.n === 0;
  }
}

export interface LineBreakpoint {
  readonly id: number;
  readonly line: number;
  readonly verified: boolean;
  readonly message?: string;
  readonly condition?: string;
  readonly hitCondition?: HitCondition;
  readonly logMessage?: string;
  /** Times the breakpoint was reached (condition true) while moving forward. */
  hits: number;
}

export interface DataBreakpoint {
  readonly id: number;
  readonly functionName: string;
  readonly name: string;
}

export type ExceptionFilter = 'raised' | 'uncaught';

/** Evaluates breakpoint conditions and log messages on a frame's locals (FrameEvaluator in production). */
export interface ConditionEvaluator {
  evaluateCondition(expression: string, locals: Locals): Promise<boolean | { error: string }>;
  interpolateLogMessage(message: string, locals: Locals): Promise<string>;
}

/** A line is a place a breakpoint can hit when something can run there: not blank, not only a comment. */
export function isExecutableLine(text: string | undefined): boolean {
  if (text === undefined) return false;
  const trimmed = text.trim();
  return trimmed !== '' && !trimmed.startsWith('#');
}

/** The breakpoints, data breakpoints and exception filters the client set. */
export class StopRules {
  /** Per file (`''`: the program; else the path as frames name it in `TraceFrame.file`), per line. */
  private byFile = new Map<string, Map<number, LineBreakpoint[]>>();
  private data: DataBreakpoint[] = [];
  private exceptions = new Set<ExceptionFilter>();
  private nextId = 1;
  stopOnDivergence = true;
  /** "When the model is unsure": stop on a predicted frame whose action or any value it writes is under this. */
  unsureBelow: number | undefined;

  /**
   * Replaces the line breakpoints of one file: the program's, or another traced file's (`file` as frames name it).
   * Hit counts survive for breakpoints that stay the same, since clients send the whole list whenever one changes.
   */
  setLineBreakpoints(
    sourceText: string,
    requested: readonly { line: number; condition?: string; hitCondition?: string; logMessage?: string }[],
    file?: string,
  ): LineBreakpoint[] {
    const lines = splitSourceLines(sourceText);
    const old = new Map<string, LineBreakpoint>();
    for (const list of this.byFile.get(file ?? '')?.values() ?? []) for (const bp of list) old.set(breakpointKey(bp.line, bp.condition, bp.hitCondition, bp.logMessage), bp);
    const result: LineBreakpoint[] = [];
    const byLine = new Map<number, LineBreakpoint[]>();
    for (const request of requested) {
      const hitCondition = request.hitCondition?.trim() ? parseHitCondition(request.hitCondition) : undefined;
      const condition = request.condition?.trim() ? request.condition.trim() : undefined;
      const logMessage = request.logMessage === undefined || request.logMessage === '' ? undefined : request.logMessage;
      let message: string | undefined;
      if (request.line < 1 || request.line > lines.length) message = `Line ${request.line} is past the end of the program (${lines.length} lines).`;
      else if (!isExecutableLine(lines[request.line - 1])) message = `Line ${request.line} is blank or a comment: nothing runs there.`;
      else if (request.hitCondition?.trim() && hitCondition === undefined) {
        message = `Hit condition "${request.hitCondition}" is not understood: use a count such as 5, >=3, >3, <3 or %2.`;
      }
      const key = breakpointKey(request.line, condition, hitCondition, logMessage);
      const previous = old.get(key);
      const bp: LineBreakpoint = previous && message === undefined
        ? previous
        : { id: this.nextId++, line: request.line, verified: message === undefined, message, condition, hitCondition, logMessage, hits: 0 };
      result.push(bp);
      if (bp.verified) {
        const list = byLine.get(bp.line) ?? [];
        list.push(bp);
        byLine.set(bp.line, list);
      }
    }
    if (byLine.size > 0) this.byFile.set(file ?? '', byLine);
    else this.byFile.delete(file ?? '');
    return result;
  }

  setDataBreakpoints(requested: readonly { functionName: string; name: string }[]): DataBreakpoint[] {
    this.data = requested.map((request) => ({ id: this.nextId++, ...request }));
    return this.data;
  }

  setExceptionFilters(filters: readonly string[]): void {
    this.exceptions = new Set(filters.filter((f): f is ExceptionFilter => f === 'raised' || f === 'uncaught'));
  }

  /** Every line that holds a breakpoint (log points included), with its file (absent: the program). */
  breakpointLines(): { readonly line: number; readonly file?: string }[] {
    const lines: { line: number; file?: string }[] = [];
    for (const [file, byLine] of this.byFile) for (const line of byLine.keys()) lines.push(file === '' ? { line } : { line, file });
    return lines;
  }

  /** The breakpoints on a line of the program (`file` absent) or of another traced file. */
  breakpointsOn(line: number, file?: string): readonly LineBreakpoint[] {
    return this.byFile.get(file ?? '')?.get(line) ?? [];
  }

  get dataBreakpoints(): readonly DataBreakpoint[] {
    return this.data;
  }

  hasException(filter: ExceptionFilter): boolean {
    return this.exceptions.has(filter);
  }

  /** Whether anything could stop (or print) inside a call that a step over skips. */
  get couldStopInsideCalls(): boolean {
    return this.byFile.size > 0 || this.data.length > 0 || this.exceptions.has('raised') || this.unsureBelow !== undefined;
  }

  /** Counts restart with a new trace. */
  resetHits(): void {
    for (const byLine of this.byFile.values()) for (const list of byLine.values()) for (const bp of list) bp.hits = 0;
  }
}

function breakpointKey(line: number, condition?: string, hit?: HitCondition, log?: string): string {
  return JSON.stringify([line, condition ?? null, hit ? `${hit.op}${hit.n}` : null, log ?? null]);
}

/** One frame the scanner checks, with what the checks need around it. */
export interface ScannedFrame {
  readonly position: number;
  readonly frame: TraceFrame;
  /** The previous call/line frame of the same scope, for data breakpoints. */
  readonly previousInScope?: TraceFrame;
}

export interface ScanOptions {
  readonly rules: StopRules;
  readonly evaluator: ConditionEvaluator;
  /** The movement's own goal (next line, step out, goto line); undefined for continue. */
  readonly target?: (frame: TraceFrame, position: number) => boolean;
  readonly targetStop?: StopInfo;
  /** Compare mode: the position of the first divergence and its sentence (asked per frame: it is known once aligned). */
  readonly divergence?: () => { readonly position: number; readonly description: string } | undefined;
  /** Log point output, in frame order. */
  readonly log: (text: string, frame: TraceFrame) => void;
}

/** A breakpoint whose condition (if any) held: counts the hit, then logs or stops once its hit condition allows. */
function recordHit(bp: LineBreakpoint, candidate: Candidate, logs: LineBreakpoint[]): void {
  bp.hits++;
  if (bp.hitCondition && !hitConditionHolds(bp.hitCondition, bp.hits)) return;
  if (bp.logMessage !== undefined) logs.push(bp);
  else {
    candidate.reasons.add('breakpoint');
    candidate.hitIds.push(bp.id);
  }
}

interface Candidate {
  readonly position: number;
  reasons: Set<StopReason>;
  hitIds: number[];
  descriptions: string[];
  texts: string[];
}

const PRIORITY: readonly StopReason[] = ['divergence', 'exception', 'data breakpoint', 'breakpoint', 'unsure', 'goto', 'step', 'end', 'entry', 'pause'];

/**
 * Checks frames in timeline order for a forward movement. `feed` decides synchronously whenever it can (locations, data
 * and exception rules, the target); conditions and log messages are evaluated in order in the background, and `settle`
 * gives the earliest stop. Feeding stops making sense once `feed` returned true.
 */
export class StopScanner {
  private best?: Candidate;
  private syncStop = false;
  private chain: Promise<void> = Promise.resolve();
  private pendingCount = 0;
  private lastFed?: ScannedFrame;
  private beforeLastFed?: ScannedFrame;
  private origin = -1;

  constructor(private readonly options: ScanOptions) {}

  /** Frames whose checks still wait for Python. */
  get pending(): number {
    return this.pendingCount;
  }

  /** A stop is known (it may still move earlier once pending checks finish). */
  get found(): boolean {
    return this.best !== undefined;
  }

  /** The frame the movement starts from: not a stop itself, but the frame before the first one checked. */
  seed(scanned: ScannedFrame): void {
    this.lastFed = scanned;
    this.origin = scanned.position;
  }

  /** Checks one frame; true when the movement can end here or earlier (the rollout may be cancelled). */
  feed(scanned: ScannedFrame): boolean {
    if (this.syncStop || this.best !== undefined) return true;
    const { rules } = this.options;
    const { frame, position } = scanned;
    const candidate: Candidate = { position, reasons: new Set(), hitIds: [], descriptions: [], texts: [] };

    if (this.options.target?.(frame, position)) {
      const stop = this.options.targetStop ?? { reason: 'step' };
      candidate.reasons.add(stop.reason);
      if (stop.description) candidate.descriptions.push(stop.description);
    }
    const divergence = this.options.divergence?.();
    if (divergence?.position === position) {
      candidate.reasons.add('divergence');
      candidate.descriptions.push(divergence.description);
    }
    this.checkData(scanned, candidate);
    this.checkExceptions(scanned, candidate);
    this.checkUnsure(scanned, candidate);

    const asyncBreakpoints: LineBreakpoint[] = [];
    const logs: LineBreakpoint[] = [];
    if (frame.event === 'line' || frame.event === 'call') {
      for (const bp of rules.breakpointsOn(frame.line, frame.file)) {
        if (bp.condition !== undefined) {
          asyncBreakpoints.push(bp);
          continue;
        }
        recordHit(bp, candidate, logs);
      }
    }
    this.beforeLastFed = this.lastFed;
    this.lastFed = scanned;

    const stopsHere = candidate.reasons.size > 0;
    if (asyncBreakpoints.length > 0 || logs.length > 0) {
      this.pendingCount++;
      if (stopsHere) this.syncStop = true;
      this.chain = this.chain.then(async () => {
        try {
          await this.evaluate(candidate, frame, asyncBreakpoints, logs);
        } finally {
          this.pendingCount--;
        }
      });
      return stopsHere;
    }
    if (stopsHere) {
      this.consider(candidate);
      this.syncStop = true;
    }
    return stopsHere;
  }

  /** Waits for pending checks. */
  async drain(): Promise<void> {
    await this.chain;
  }

  /** Waits for pending checks and returns the earliest stop, if any. */
  async settle(): Promise<{ position: number; stop: StopInfo } | undefined> {
    await this.chain;
    const best = this.best;
    if (best === undefined) return undefined;
    const reason = PRIORITY.find((r) => best.reasons.has(r)) ?? 'step';
    const description = best.descriptions.length > 0 ? best.descriptions.join('; ') : undefined;
    const text = best.texts.length > 0 ? best.texts.join('\n') : undefined;
    return {
      position: best.position,
      stop: {
        reason,
        ...(description ? { description } : {}),
        ...(text ? { text } : {}),
        ...(best.hitIds.length > 0 ? { hitBreakpointIds: best.hitIds } : {}),
      },
    };
  }

  private async evaluate(candidate: Candidate, frame: TraceFrame, conditional: readonly LineBreakpoint[], logs: LineBreakpoint[]): Promise<void> {
    // A stop before this frame means the movement never gets here: nothing to count or print.
    if (this.best !== undefined && this.best.position < candidate.position) return;
    const { evaluator } = this.options;
    for (const bp of conditional) {
      const result = await evaluator.evaluateCondition(bp.condition!, frame.locals);
      if (typeof result !== 'boolean') {
        candidate.reasons.add('breakpoint');
        candidate.hitIds.push(bp.id);
        candidate.texts.push(`The condition "${bp.condition}" of the breakpoint on line ${bp.line} failed: ${result.error}`);
        continue;
      }
      if (result) recordHit(bp, candidate, logs);
    }
    for (const bp of logs) this.options.log(await evaluator.interpolateLogMessage(bp.logMessage!, frame.locals), frame);
    if (candidate.reasons.size > 0) this.consider(candidate);
  }

  private consider(candidate: Candidate): void {
    if (this.best === undefined || candidate.position < this.best.position) this.best = candidate;
  }

  private checkData(scanned: ScannedFrame, candidate: Candidate): void {
    const { frame } = scanned;
    if (frame.event !== 'call' && frame.event !== 'line') return;
    for (const watch of this.options.rules.dataBreakpoints) {
      if (watch.functionName !== frame.functionName) continue;
      const change = valueChange(frame, scanned.previousInScope, watch.name);
      if (change === undefined) continue;
      candidate.reasons.add('data breakpoint');
      candidate.hitIds.push(watch.id);
      candidate.descriptions.push(change);
    }
  }

  /** A predicted frame whose least sure part is under the threshold: says which value (or the step) and how sure. */
  private checkUnsure(scanned: ScannedFrame, candidate: Candidate): void {
    const threshold = this.options.rules.unsureBelow;
    if (threshold === undefined) return;
    const { frame } = scanned;
    const lowest = lowestConfidence(frame);
    if (lowest === undefined || lowest.confidence.p >= threshold) return;
    candidate.reasons.add('unsure');
    const what = oneLine(lowest.what === 'local'
      ? `${lowest.name ?? '?'} = ${shorten(frame.locals.get(lowest.name ?? '') ?? '?', 60)}`
      : lowest.what === 'value' ? `the ${frame.event === 'exception' ? 'exception' : 'return value'} ${shorten(frame.value ?? '', 60)}` : `the step to line ${frame.line}`);
    const p = percent(lowest.confidence.p);
    // Model text on one line: a control character in a predicted value must not break the stop's text.
    const alternatives = oneLine(alternativesText(lowest.confidence));
    candidate.descriptions.push(`The model is unsure of ${what} (${p})`);
    candidate.texts.push(`The model is unsure of ${what} at step ${frame.index}: ${p} likely, under the ${percent(threshold)} threshold` +
      `${alternatives !== undefined ? `; it also weighed ${shorten(alternatives, 120)}` : ''}.`);
  }

  private checkExceptions(scanned: ScannedFrame, candidate: Candidate): void {
    const { rules } = this.options;
    const { frame } = scanned;
    if (frame.event === 'exception' && rules.hasException('raised') && !propagated(this.lastFed, this.beforeLastFed)) {
      candidate.reasons.add('exception');
      candidate.descriptions.push(`Raised ${describeException(frame.value)}`);
    }
    // An exception in the entry's own frame followed by its return escaped the program: uncaught.
    const previous = this.lastFed;
    if (
      rules.hasException('uncaught') && frame.event === 'return' && frame.depth === 0 &&
      previous !== undefined && previous.position !== this.origin && previous.frame.event === 'exception' && previous.frame.depth === 0 &&
      previous.frame.scope === frame.scope
    ) {
      const earlier: Candidate = {
        position: previous.position,
        reasons: new Set(['exception']),
        hitIds: [],
        descriptions: [`Uncaught ${describeException(previous.frame.value)}`],
        texts: [],
      };
      this.consider(earlier);
      this.syncStop = true;
    }
  }
}

/** The exception event that follows a callee's exception and return is the same exception passing through. */
function propagated(last?: ScannedFrame, beforeLast?: ScannedFrame): boolean {
  return last?.frame.event === 'return' && beforeLast?.frame.event === 'exception' && beforeLast.frame.scope === last.frame.scope;
}

/** `y changed from 1 to 2`, or undefined when the value did not change since the previous frame of the scope. */
export function valueChange(frame: TraceFrame, previous: TraceFrame | undefined, name: string): string | undefined {
  // A dotted name is an attribute of a recorded object (`self.radius`, real runs with object state). Objects come into
  // a call with the attributes they had: at a call frame (nothing before it in the scope) an attribute did not change.
  if (previous === undefined && !frame.locals.has(name) && name.includes('.')) return undefined;
  const now = valueAt(frame, name);
  const before = previous === undefined ? undefined : valueAt(previous, name);
  if (now === before) return undefined;
  if (now === undefined) return `${name} was deleted (it was ${shorten(before ?? '')})`;
  if (before === undefined) return `${name} was set to ${shorten(now)}`;
  return `${name} changed from ${shorten(before)} to ${shorten(now)}`;
}

/** `ZeroDivisionError('division by zero')` out of the `(type, value, traceback)` repr of an exception frame. */
export function describeException(value: string | undefined): string {
  const parsed = parseExceptionValue(value);
  return parsed.description ? parsed.description : parsed.type;
}

export function parseExceptionValue(value: string | undefined): { type: string; description: string } {
  if (value === undefined) return { type: 'Exception', description: '' };
  const match = /^\(<class '([^']+)'>, (.*), <traceback object>\)$/s.exec(value);
  if (!match) return { type: 'Exception', description: value };
  return { type: match[1]!, description: match[2]! };
}

function shorten(text: string, width = 80): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Control characters (line breaks included) as `\\uXXXX`, so model text stays on one line of a message. */
function oneLine<T extends string | undefined>(text: T): T {
  return (text === undefined ? text : text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) as T;
}
