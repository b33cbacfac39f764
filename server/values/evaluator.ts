// Evaluates debugger expressions (hover, watch, console, breakpoint conditions, log points, set-variable values)
// against one frame's values, in TypeScript (py-interpret.ts): no Python process, nothing from the workspace runs.
import { TRUNCATION_MARKER, type Locals } from '../trace/model';
import { DEFAULT_LIMITS, evaluateExpression, type Limits } from './py-interpret';
import { kindOf, reprOf, truthOf } from './py-values';

export type EvaluationResult = { readonly ok: true; readonly repr: string; readonly kind: string } | { readonly ok: false; readonly error: string };

export interface FrameEvaluatorOptions {
  /** Work and time bounds of one evaluation (default: 2,000,000 steps, 500 ms). */
  readonly limits?: Partial<Limits>;
  /** Longest repr returned; longer ones are cut and end with the truncation marker (default 100,000 characters). */
  readonly maxReprLength?: number;
}

const DEFAULT_MAX_REPR = 100_000;
/** Distinct expressions remembered per frame; a frame's values never change, so neither do the answers. */
const CACHE_PER_FRAME = 256;

/** An evaluation with what conditions need. */
interface Outcome {
  readonly result: EvaluationResult;
  /** Python truthiness of the value, when known. */
  readonly truthy?: boolean;
}

/** Text to show for a Python value in a log message: a str's contents (as f-strings show it), else the repr. */
function logText(outcome: Outcome): string {
  const result = outcome.result;
  if (!result.ok) return `<error: ${result.error}>`;
  return result.repr;
}

export class FrameEvaluator {
  private readonly limits: Limits;
  private readonly maxReprLength: number;
  private disposed = false;
  private readonly cache = new WeakMap<Locals, Map<string, Outcome>>();

  constructor(options: FrameEvaluatorOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, maxSteps: 2_000_000, timeMs: 500, ...options.limits };
    this.maxReprLength = options.maxReprLength ?? DEFAULT_MAX_REPR;
  }

  async evaluate(expression: string, locals: Locals): Promise<EvaluationResult> {
    return this.outcome(expression, locals).result;
  }

  /** A breakpoint condition: the value's Python truthiness, or why it could not be evaluated. */
  async evaluateCondition(expression: string, locals: Locals): Promise<boolean | { error: string }> {
    const outcome = this.outcome(expression, locals);
    if (!outcome.result.ok) return { error: outcome.result.error };
    if (outcome.truthy === undefined) return { error: `The value of ${expression} cannot be used as a condition: it is known only as text (${shorten(outcome.result.repr)}), so its truth value is unknown.` };
    return outcome.truthy;
  }

  /** A DAP log point message: `{expr}` parts are evaluated (str values show their text), `{{` and `}}` stand for braces. */
  async interpolateLogMessage(message: string, locals: Locals): Promise<string> {
    let out = '';
    let i = 0;
    while (i < message.length) {
      const c = message[i];
      if (c === '{' && message[i + 1] === '{') {
        out += '{';
        i += 2;
      } else if (c === '}' && message[i + 1] === '}') {
        out += '}';
        i += 2;
      } else if (c === '{') {
        const end = closingBrace(message, i);
        const expression = end < 0 ? '' : message.slice(i + 1, end).trim();
        if (end < 0 || expression === '') {
          out += message.slice(i, end < 0 ? message.length : end + 1);
          i = end < 0 ? message.length : end + 1;
          continue;
        }
        out += logText(this.outcome(expression, locals, 'log'));
        i = end + 1;
      } else {
        out += c;
        i++;
      }
    }
    return out;
  }

  /** Later evaluations answer with an error (kept for the session's shutdown order; nothing runs in the background). */
  async dispose(): Promise<void> {
    this.disposed = true;
  }

  private outcome(expression: string, locals: Locals, shownAs: 'repr' | 'log' = 'repr'): Outcome {
    const text = expression.trim();
    if (this.disposed) return { result: { ok: false, error: 'The evaluator was disposed: the debug session has ended.' } };
    let perFrame = this.cache.get(locals);
    if (!perFrame) {
      perFrame = new Map();
      this.cache.set(locals, perFrame);
    }
    const key = shownAs === 'log' ? `log:${text}` : text;
    const cached = perFrame.get(key);
    if (cached) return cached;
    const outcome = this.compute(text, locals, shownAs);
    if (perFrame.size >= CACHE_PER_FRAME) perFrame.delete(perFrame.keys().next().value ?? '');
    perFrame.set(key, outcome);
    return outcome;
  }

  private compute(expression: string, locals: Locals, shownAs: 'repr' | 'log'): Outcome {
    if (expression === '') return { result: { ok: false, error: 'Empty expression.' } };
    const evaluation = evaluateExpression(expression, locals, this.limits);
    if (!evaluation.ok) return { result: evaluation };
    const value = evaluation.value;
    let repr: string;
    try {
      // A log point's `str(x)` shows the text itself, not its repr.
      repr = shownAs === 'log' && value.t === 'str' ? cut(value.v, this.maxReprLength) : reprOf(value, this.maxReprLength);
    } catch (error) {
      return { result: { ok: false, error: `The value cannot be shown: ${error instanceof Error ? error.message : String(error)}` } };
    }
    const truthy = truthOf(value);
    return { result: { ok: true, repr, kind: kindOf(value) }, ...(truthy === undefined ? {} : { truthy }) };
  }
}

function cut(text: string, limit: number): string {
  return text.length <= limit ? text : text.slice(0, limit) + TRUNCATION_MARKER;
}

function shorten(text: string): string {
  return text.length <= 80 ? text : `${text.slice(0, 80)}…`;
}

/** Index of the `}` closing the `{` at `open` in a log message (nested braces and quoted strings skipped), or -1. */
function closingBrace(message: string, open: number): number {
  let depth = 0;
  for (let i = open + 1; i < message.length; i++) {
    const c = message[i];
    if (c === "'" || c === '"') {
      const close = message.indexOf(c, i + 1);
      if (close < 0) return -1;
      i = close;
    } else if (c === '{') depth++;
    else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}
