// Aligns a predicted trace with the real one as a sequence alignment (not step by step) and judges every aligned row:
// match, state differs, action differs, missing (real step not predicted) or extra (predicted step that did not happen).

import type { TraceEventKind, TraceFrame } from '../trace/model';
import { DEFAULT_DIFF_LIMITS, type DiffLimits, WorkBudget, matchSequences } from './diff';
import { normalizeSpelling, valuesEqual } from './normalize';

export type Verdict = 'match' | 'state-differs' | 'action-differs' | 'missing' | 'extra';

export const VERDICTS: readonly Verdict[] = ['match', 'state-differs', 'action-differs', 'missing', 'extra'];

/** One variable whose value differs; a side that lacks the name has no value. */
export interface VariableDifference {
  readonly name: string;
  readonly actual?: string;
  readonly predicted?: string;
}

/** The return value (`return`) or exception (`exception`) of a step, when it differs. */
export interface ValueDifference {
  readonly actual?: string;
  readonly predicted?: string;
}

/** One line of the side-by-side view. `predicted` and `actual` are positions in the arrays given to `alignTraces`. */
export interface AlignmentRow {
  readonly predicted?: number;
  readonly actual?: number;
  readonly verdict: Verdict;
  /** `state-differs`: the variables that differ, real-run order first, then names only the prediction has. */
  readonly variables?: readonly VariableDifference[];
  /** `state-differs`: the return or exception value, when it differs. */
  readonly value?: ValueDifference;
}

/** The first row that is not a match. Steps are the frames' `index` fields. */
export interface FirstDivergence {
  readonly row: number;
  readonly actualStep?: number;
  readonly predictedStep?: number;
  /** One sentence, e.g. `step 7: y is 3 in the prediction but 2 in the real run`. */
  readonly description: string;
}

export interface Alignment {
  readonly rows: readonly AlignmentRow[];
  readonly firstDivergence?: FirstDivergence;
  /** Predicted scope id → real scope id, from rows where both sides take the same action (first pairing wins). */
  readonly scopeMap: ReadonlyMap<number, number>;
  /** True when a work limit made the search fall back to heuristics somewhere, so the alignment may not be an optimal one. */
  readonly approximate: boolean;
}

/** Search limits; `maxWork` applies to each of the three passes. Defaults: `DEFAULT_DIFF_LIMITS`. */
export type AlignOptions = Partial<DiffLimits>;

/**
 * Aligns `predicted` with `actual`. Three passes, each inside the gaps the previous one left:
 * 1. frames equal in action, scope structure (depth, function) and state, so repeated loop iterations line up by their values;
 * 2. frames equal in action and scope structure (rows whose state differs);
 * 3. frames in the same scope structure (rows whose action differs).
 * Frames still unpaired are `missing` (real) or `extra` (predicted). Scope ids are never compared: the prediction's are
 * inferred by its reader and numbered differently.
 */
export function alignTraces(predicted: readonly TraceFrame[], actual: readonly TraceFrame[], options: AlignOptions = {}): Alignment {
  const limits: DiffLimits = {
    maxEditDistance: options.maxEditDistance ?? DEFAULT_DIFF_LIMITS.maxEditDistance,
    maxDpCells: options.maxDpCells ?? DEFAULT_DIFF_LIMITS.maxDpCells,
    maxWork: options.maxWork ?? DEFAULT_DIFF_LIMITS.maxWork,
  };
  const rows: AlignmentRow[] = [];
  let approximate = false;

  // Identical frames at both ends need no keys at all: the common case of a prediction that is right for a long while.
  let prefix = 0;
  const shorter = Math.min(actual.length, predicted.length);
  while (prefix < shorter && identicalFrames(predicted[prefix]!, actual[prefix]!)) prefix++;
  let suffix = 0;
  while (
    suffix < shorter - prefix &&
    identicalFrames(predicted[predicted.length - 1 - suffix]!, actual[actual.length - 1 - suffix]!)
  ) {
    suffix++;
  }
  for (let i = 0; i < prefix; i++) rows.push({ actual: i, predicted: i, verdict: 'match' });

  const keys = new FrameKeys(actual, predicted);
  // One budget per pass, shared by all its gaps.
  const budgets = PASSES.map(() => new WorkBudget(limits.maxWork));
  const emitGap = (level: number, aLo: number, aHi: number, bLo: number, bHi: number): void => {
    if (aLo === aHi && bLo === bHi) return;
    if (level === PASSES.length || aLo === aHi || bLo === bHi) {
      for (let i = aLo; i < aHi; i++) rows.push({ actual: i, verdict: 'missing' });
      for (let j = bLo; j < bHi; j++) rows.push({ predicted: j, verdict: 'extra' });
      return;
    }
    const [actualKeys, predictedKeys] = keys.forPass(PASSES[level]!, aLo, aHi, bLo, bHi);
    const confirm = PASSES[level] === 'state' ? (i: number, j: number) => sameState(predicted[j]!, actual[i]!) : undefined;
    const pairs = matchSequences(actualKeys, predictedKeys, aLo, aHi, bLo, bHi, limits, confirm, budgets[level]);
    approximate ||= pairs.approximate;
    let nextA = aLo;
    let nextB = bLo;
    for (let p = 0; p < pairs.a.length; p++) {
      const i = pairs.a[p]!;
      const j = pairs.b[p]!;
      emitGap(level + 1, nextA, i, nextB, j);
      rows.push(judgePair(predicted[j]!, actual[i]!, i, j));
      nextA = i + 1;
      nextB = j + 1;
    }
    emitGap(level + 1, nextA, aHi, nextB, bHi);
  };
  emitGap(0, prefix, actual.length - suffix, prefix, predicted.length - suffix);
  for (let k = suffix; k > 0; k--) rows.push({ actual: actual.length - k, predicted: predicted.length - k, verdict: 'match' });

  const scopeMap = new Map<number, number>();
  let firstDivergence: FirstDivergence | undefined;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    if (row.actual !== undefined && row.predicted !== undefined && row.verdict !== 'action-differs') {
      const scope = predicted[row.predicted]!.scope;
      if (!scopeMap.has(scope)) scopeMap.set(scope, actual[row.actual]!.scope);
    }
    if (firstDivergence === undefined && row.verdict !== 'match') {
      firstDivergence = {
        row: r,
        actualStep: row.actual === undefined ? undefined : actual[row.actual]!.index,
        predictedStep: row.predicted === undefined ? undefined : predicted[row.predicted]!.index,
        description: describeRow(row, predicted, actual),
      };
    }
  }
  return { rows, firstDivergence, scopeMap, approximate };
}

/** Same event at the same location (file and line): the prediction took the real step's action (its state may still differ). */
export function sameAction(predicted: TraceFrame, actual: TraceFrame): boolean {
  return predicted.event === actual.event && predicted.line === actual.line && predicted.file === actual.file;
}

/** Compares two frames that take the same action: every variable by name, and the return/exception value. */
export function compareState(predicted: TraceFrame, actual: TraceFrame): { variables: VariableDifference[]; value?: ValueDifference } {
  const variables: VariableDifference[] = [];
  for (const [name, actualValue] of actual.locals) {
    const predictedValue = predicted.locals.get(name);
    if (predictedValue === undefined) variables.push({ name, actual: actualValue });
    else if (!valuesEqual(actualValue, predictedValue)) variables.push({ name, actual: actualValue, predicted: predictedValue });
  }
  for (const [name, predictedValue] of predicted.locals) {
    if (!actual.locals.has(name)) variables.push({ name, predicted: predictedValue });
  }
  const sameValue =
    actual.value === predicted.value ||
    (actual.value !== undefined && predicted.value !== undefined && valuesEqual(actual.value, predicted.value));
  return sameValue ? { variables } : { variables, value: { actual: actual.value, predicted: predicted.value } };
}

/** Same action and equal values (after normalisation): what pass 1's hashed keys stand for. */
function sameState(predicted: TraceFrame, actual: TraceFrame): boolean {
  if (!sameAction(predicted, actual) || predicted.depth !== actual.depth || predicted.functionName !== actual.functionName) return false;
  const { variables, value } = compareState(predicted, actual);
  return variables.length === 0 && value === undefined;
}

function judgePair(predicted: TraceFrame, actual: TraceFrame, actualPosition: number, predictedPosition: number): AlignmentRow {
  if (identicalFrames(predicted, actual)) return { actual: actualPosition, predicted: predictedPosition, verdict: 'match' };
  if (!sameAction(predicted, actual)) return { actual: actualPosition, predicted: predictedPosition, verdict: 'action-differs' };
  const { variables, value } = compareState(predicted, actual);
  if (variables.length === 0 && value === undefined) return { actual: actualPosition, predicted: predictedPosition, verdict: 'match' };
  return value === undefined
    ? { actual: actualPosition, predicted: predictedPosition, verdict: 'state-differs', variables }
    : { actual: actualPosition, predicted: predictedPosition, verdict: 'state-differs', variables, value };
}

/** Same action, scope structure and values, written exactly alike (so no normalisation is needed to call them a match). */
function identicalFrames(predicted: TraceFrame, actual: TraceFrame): boolean {
  if (
    predicted.event !== actual.event ||
    predicted.line !== actual.line ||
    predicted.file !== actual.file ||
    predicted.depth !== actual.depth ||
    predicted.functionName !== actual.functionName ||
    predicted.value !== actual.value ||
    predicted.locals.size !== actual.locals.size
  ) {
    return false;
  }
  for (const [name, value] of actual.locals) if (predicted.locals.get(name) !== value) return false;
  return true;
}

/** What the frames of each pass must share to be paired (see `alignTraces`). */
type Pass = 'state' | 'action' | 'scope';
const PASSES: readonly Pass[] = ['state', 'action', 'scope'];

/** V8 hashes longer strings by their length alone, so longer values are hashed here instead of interned. */
const INTERNED_VALUE_LIMIT = 16_000;

const EVENT_CODES: Readonly<Record<TraceEventKind, number>> = { call: 0, line: 1, return: 2, exception: 3 };

/**
 * Integer keys of frames, computed only for the ranges a pass looks at and shared by both traces, so the matcher
 * compares numbers. Scope and action keys are exact (interned); state keys are 32-bit hashes.
 */
class FrameKeys {
  /** Per function, told apart by its file too (`name` for the main file, `name\0path` for another). */
  private readonly functionIds = new Map<string, number>();
  /** Per function id: depth → scope key. */
  private readonly scopeIds: Map<number, number>[] = [];
  /** Per scope key: line·4 + event → action key. */
  private readonly actionIds: Map<number, number>[] = [];
  private actionCount = 0;
  private readonly nameHashes = new Map<string, number>();
  private readonly valueIds = new Map<string, number>();
  private readonly built = new Map<Pass, [Int32Array, Int32Array]>();

  constructor(
    private readonly actual: readonly TraceFrame[],
    private readonly predicted: readonly TraceFrame[],
  ) {}

  /** Keys of one pass, computed for the given ranges (gaps of one pass never overlap, so each frame is keyed once per pass). */
  forPass(pass: Pass, aLo: number, aHi: number, bLo: number, bHi: number): [Int32Array, Int32Array] {
    let keys = this.built.get(pass);
    if (keys === undefined) {
      keys = [new Int32Array(this.actual.length), new Int32Array(this.predicted.length)];
      this.built.set(pass, keys);
    }
    this.fill(keys[0], this.actual, aLo, aHi, pass);
    this.fill(keys[1], this.predicted, bLo, bHi, pass);
    return keys;
  }

  private fill(keys: Int32Array, frames: readonly TraceFrame[], from: number, to: number, pass: Pass): void {
    for (let i = from; i < to; i++) {
      const frame = frames[i]!;
      keys[i] = pass === 'scope' ? this.scopeKey(frame) : pass === 'action' ? this.actionKey(frame) : this.stateKey(frame);
    }
  }

  private scopeKey(frame: TraceFrame): number {
    const fn = frame.file === undefined ? frame.functionName : `${frame.functionName}\0${frame.file}`;
    let functionId = this.functionIds.get(fn);
    if (functionId === undefined) {
      functionId = this.functionIds.size;
      this.functionIds.set(fn, functionId);
      this.scopeIds.push(new Map());
    }
    const byDepth = this.scopeIds[functionId]!;
    let scope = byDepth.get(frame.depth);
    if (scope === undefined) {
      scope = this.actionIds.length;
      byDepth.set(frame.depth, scope);
      this.actionIds.push(new Map());
    }
    return scope;
  }

  private actionKey(frame: TraceFrame): number {
    const byAction = this.actionIds[this.scopeKey(frame)]!;
    const code = frame.line * 4 + EVENT_CODES[frame.event];
    let action = byAction.get(code);
    if (action === undefined) {
      action = this.actionCount++;
      byAction.set(code, action);
    }
    return action;
  }

  /**
   * Action plus the state, hashed to 32 bits: one mixed hash per (name, value), summed so that the order of
   * the names does not matter. A collision can only make pass 1 pair two frames, which the verdict then judges on their
   * real values; anchors (pairs taken on a single key) are confirmed on the frames themselves.
   */
  private stateKey(frame: TraceFrame): number {
    let state = mix(Math.imul(this.actionKey(frame) + 1, 0x9e3779b1));
    if (frame.value !== undefined) state = (state + mix(this.valueHash(frame.value) ^ 0x5bd1e995)) | 0;
    frame.locals.forEach((value, name) => {
      let nameHash = this.nameHashes.get(name);
      if (nameHash === undefined) {
        nameHash = hashText(name);
        this.nameHashes.set(name, nameHash);
      }
      state = (state + mix(Math.imul(nameHash, 0x9e3779b1) ^ this.valueHash(value))) | 0;
    });
    return state;
  }

  /**
   * A number standing for a value with its spelling normalised: values are interned (V8 hashes strings natively, much
   * faster than a loop here), except very long ones, which V8 would hash by length only. Set order is not normalised
   * here (too slow for every long value of a long trace): frames that differ only in it are left to pass 2, which pairs
   * them by action, and the verdict compares them fully.
   */
  private valueHash(value: string): number {
    const spelled = normalizeSpelling(value);
    if (spelled.length > INTERNED_VALUE_LIMIT) return hashText(spelled);
    let id = this.valueIds.get(spelled);
    if (id === undefined) {
      id = mix(this.valueIds.size + 1);
      this.valueIds.set(spelled, id);
    }
    return id;
  }
}

/** FNV-1a over UTF-16 code units. */
function hashText(text: string): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash;
}

/** MurmurHash3's finaliser: spreads every input bit over the whole word. */
function mix(hash: number): number {
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/** One sentence explaining a row, e.g. `step 7: y is 3 in the prediction but 2 in the real run`. */
export function describeRow(row: AlignmentRow, predicted: readonly TraceFrame[], actual: readonly TraceFrame[]): string {
  const real = row.actual === undefined ? undefined : actual[row.actual];
  const guess = row.predicted === undefined ? undefined : predicted[row.predicted];
  if (real && guess) {
    const step = `step ${real.index}`;
    switch (row.verdict) {
      case 'match':
        return `${step}: the prediction matches the real run`;
      case 'action-differs':
        return `${step}: the real run ${describeAction(real)} but the prediction ${describeAction(guess)}`;
      default:
        return `${step}: ${describeStateDifferences(row, real.event)}`;
    }
  }
  if (real) return `step ${real.index}: the real run ${describeAction(real)}, which the prediction skips`;
  if (guess) return `predicted step ${guess.index}: the prediction ${describeAction(guess)}, which the real run does not do here`;
  return 'empty row';
}

const ACTION_VERBS: Record<Exclude<TraceEventKind, 'line'>, string> = {
  call: 'enters',
  return: 'returns from',
  exception: 'raises in',
};

/** `runs line 5 (\`y = a\`)`, `enters f at line 1 (\`def f(a,b):\`)`; `line 3 of helper.py` in another file. */
function describeAction(frame: TraceFrame): string {
  const where = frame.line > 0 ? `line ${frame.line}${frame.file !== undefined ? ` of ${fileLabel(frame.file)}` : ''}` : 'a line not in the source';
  const text = frame.sourceLine.trim();
  const shown = text === '' ? '' : ` (\`${shorten(text, 60)}\`)`;
  const verb = frame.event === 'line' ? 'runs' : `${ACTION_VERBS[frame.event]} ${frame.functionName} at`;
  return `${verb} ${where}${shown}`;
}

/** A file's name as shown to the user: the last part of its path. */
export function fileLabel(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}

const MAX_NAMED_VARIABLES = 3;

function describeStateDifferences(row: AlignmentRow, event: TraceEventKind): string {
  const parts: string[] = [];
  if (row.value) {
    const verb = event === 'exception' ? 'raises' : 'returns';
    parts.push(`the prediction ${verb} ${showValue(row.value.predicted)} but the real run ${verb} ${showValue(row.value.actual)}`);
  }
  const variables = row.variables ?? [];
  for (const variable of variables.slice(0, MAX_NAMED_VARIABLES)) {
    if (variable.predicted === undefined) parts.push(`${variable.name} is ${showValue(variable.actual)} in the real run but missing from the prediction`);
    else if (variable.actual === undefined) parts.push(`${variable.name} is ${showValue(variable.predicted)} in the prediction but does not exist in the real run`);
    else parts.push(`${variable.name} is ${showValue(variable.predicted)} in the prediction but ${showValue(variable.actual)} in the real run`);
  }
  if (variables.length > MAX_NAMED_VARIABLES) parts.push(`${variables.length - MAX_NAMED_VARIABLES} more variables differ`);
  if (parts.length <= 1) return parts[0] ?? 'the state differs';
  return `${parts.slice(0, -1).join('; ')}; and ${parts[parts.length - 1]}`;
}

function showValue(value: string | undefined): string {
  return value === undefined ? 'nothing' : shorten(value, 80);
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
