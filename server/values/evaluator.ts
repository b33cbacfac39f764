// Evaluates debugger expressions (hover, watch, console, breakpoint conditions, log points) against one frame's locals.
// Common cases are answered in TypeScript from the repr tree; the rest go to one long-lived Python helper per session.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { TRUNCATION_MARKER, type Locals } from '../trace/model';
import { decodePythonString, parseRepr, type ReprNode } from './pyrepr';
import { LineSplitter } from '../trace/line-splitter';

export type EvaluationResult =
  | { readonly ok: true; readonly repr: string; readonly kind: string; readonly source: 'fast' | 'python' }
  | { readonly ok: false; readonly error: string };

export interface FrameEvaluatorOptions {
  /** Python interpreter (3.8+); default `python3` (`python` on Windows). */
  readonly python?: string;
  /** Time limit of one Python evaluation; default 1000 ms. Past it the helper is killed and restarted lazily. */
  readonly timeoutMs?: number;
  /** Path of evaluator_helper.py; default: found next to the bundle or in the source tree. */
  readonly helperScript?: string;
}

const DEFAULT_TIMEOUT_MS = 1000;
const CONTENT_CACHE_ENTRIES = 2000;
const MAX_CONTENT_KEY_LENGTH = 20_000;
const PYTHON_SETTING = 'cwmDebug.pythonPath';

const HelperMessage = z.union([
  z.object({ ready: z.literal(true), version: z.string() }),
  z.object({ id: z.number(), ok: z.literal(true), repr: z.string(), kind: z.string(), truthy: z.boolean().nullable() }),
  z.object({ id: z.number().nullable(), ok: z.literal(false), error: z.string() }),
]);
type HelperMessage = z.infer<typeof HelperMessage>;

/** An evaluation with what conditions need; `cacheable` is false for outcomes of the process, not of the expression. */
interface Outcome {
  readonly result: EvaluationResult;
  /** Python truthiness of the value, when known. */
  readonly truthy?: boolean;
  readonly cacheable: boolean;
}

function findHelperScript(): string | undefined {
  const candidates = [
    join(__dirname, 'values', 'evaluator_helper.py'),
    join(__dirname, 'tracer', 'evaluator_helper.py'),
    join(__dirname, 'evaluator_helper.py'),
  ];
  // From compiled tests (out/test/unit) or any bundle inside the repository: walk up to the source tree.
  let dir = __dirname;
  for (let level = 0; level < 5; level++) {
    candidates.push(join(dir, 'server', 'values', 'evaluator_helper.py'));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return candidates.find((path) => existsSync(path));
}

/** Every helper still running, killed when this process exits so none outlives the debugger. */
const liveHelpers = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackHelper(child: ChildProcess): void {
  liveHelpers.add(child);
  child.once('exit', () => liveHelpers.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const helper of liveHelpers) helper.kill('SIGKILL');
    });
  }
}

/** Text to show for a Python value in a log message: a str's contents (as f-strings show it), else the repr. */
function logText(result: EvaluationResult): string {
  if (!result.ok) return `<error: ${result.error}>`;
  if (result.kind === 'str') return decodePythonString(result.repr) ?? result.repr;
  return result.repr;
}

const STARTUP_TIMEOUT_MS = 15000;

/** One running helper process: answers are matched to the single request in flight. */
class HelperProcess {
  readonly exited: Promise<void>;
  /** Resolves with undefined once the helper said it is ready, or with why it never will be. */
  readonly ready: Promise<string | undefined>;
  private readonly stdoutLines = new LineSplitter();
  private stderrTail = '';
  private gone: string | undefined;
  private markReady: (failure: string | undefined) => void = () => undefined;
  private waiting: { readonly id: number; readonly resolve: (answer: Outcome) => void } | undefined;

  constructor(
    private readonly child: ChildProcess,
    python: string,
  ) {
    trackHelper(child);
    // An idle helper must not keep the debugger's process alive; a pending evaluation's timer does while it waits.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    this.ready = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        resolve(`The Python evaluation helper did not start within ${STARTUP_TIMEOUT_MS / 1000} s.`);
        this.kill();
      }, STARTUP_TIMEOUT_MS);
      this.markReady = (failure) => {
        clearTimeout(timer);
        resolve(failure);
      };
    });
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onStdout(chunk));
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
    // A write to a helper that just died must not crash the debugger; the exit handler answers instead.
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise<void>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        this.stop(
          error.code === 'ENOENT' || error.code === 'EACCES'
            ? `Python not found: "${python}". Set the Python path in the ${PYTHON_SETTING} setting.`
            : `Could not start Python "${python}": ${error.message}`,
        );
        resolve();
      });
      child.once('exit', (code, signal) => {
        const detail = this.stderrTail.trim().split('\n').slice(-3).join(' ').trim();
        this.stop(`The Python evaluation helper stopped (${signal ?? `exit code ${code}`})${detail ? `: ${detail}` : '.'}`);
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.gone === undefined ? this.child.pid : undefined;
  }

  get alive(): boolean {
    return this.gone === undefined;
  }

  /** Sends one request; the answer, or the reason the helper went away. The caller enforces the time limit. */
  request(id: number, expression: string, locals: Record<string, string>): Promise<Outcome> {
    if (this.gone !== undefined) return Promise.resolve({ result: { ok: false, error: this.gone }, cacheable: false });
    return new Promise<Outcome>((resolve) => {
      this.waiting = { id, resolve };
      this.child.stdin?.write(JSON.stringify({ id, expression, locals }) + '\n');
    });
  }

  /** Kills the process; a request in flight is answered with `reason`. */
  kill(reason = 'The evaluator was disposed.'): Promise<void> {
    this.stop(reason);
    // Keep the event loop alive until the exit is seen, so `await dispose()` really means the process is gone.
    this.child.ref();
    this.child.kill('SIGKILL');
    return this.exited;
  }

  private stop(reason: string): void {
    if (this.gone !== undefined) return;
    this.gone = reason;
    this.markReady(reason);
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ result: { ok: false, error: reason }, cacheable: false });
  }

  private onStdout(chunk: string): void {
    for (const line of this.stdoutLines.push(chunk)) this.onLine(line);
  }

  private onLine(line: string): void {
    let message: HelperMessage;
    try {
      message = HelperMessage.parse(JSON.parse(line));
    } catch {
      return;
    }
    if ('ready' in message) {
      this.markReady(undefined);
      return;
    }
    const waiting = this.waiting;
    if (!waiting || message.id !== waiting.id) return;
    this.waiting = undefined;
    if (message.ok) {
      waiting.resolve({
        result: { ok: true, repr: message.repr, kind: message.kind, source: 'python' },
        ...(message.truthy === null ? {} : { truthy: message.truthy }),
        cacheable: true,
      });
    } else {
      waiting.resolve({ result: { ok: false, error: message.error }, cacheable: true });
    }
  }
}

export class FrameEvaluator {
  private readonly python: string;
  private readonly timeoutMs: number;
  private readonly helperScript: string | undefined;
  private helper: HelperProcess | undefined;
  private nextId = 1;
  /** Python evaluations run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly cache = new WeakMap<Locals, Map<string, Promise<Outcome>>>();
  /** Python answers by expression and the values it was given, least recently used first. */
  private readonly byContent = new Map<string, Outcome>();

  constructor(options: FrameEvaluatorOptions = {}) {
    this.python = options.python || (process.platform === 'win32' ? 'python' : 'python3');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.helperScript = options.helperScript ?? findHelperScript();
  }

  /** Process id of the running helper, if one is running (for diagnostics and tests). */
  get helperPid(): number | undefined {
    return this.helper?.pid;
  }

  async evaluate(expression: string, locals: Locals): Promise<EvaluationResult> {
    return (await this.outcome(expression, locals)).result;
  }

  /** A breakpoint condition: the value's Python truthiness, or why it could not be evaluated. */
  async evaluateCondition(expression: string, locals: Locals): Promise<boolean | { error: string }> {
    let outcome = await this.outcome(expression, locals);
    // The fast path found the value but not its truth (a record, an object): Python decides, or says why it cannot.
    if (outcome.result.ok && outcome.truthy === undefined && outcome.result.source === 'fast') {
      outcome = await this.outcome(expression, locals, 'python');
    }
    if (!outcome.result.ok) return { error: outcome.result.error };
    if (outcome.truthy === undefined) return { error: `The value of ${expression} cannot be used as a condition (its truth value is unknown).` };
    return outcome.truthy;
  }

  /** A DAP log point message: `{expr}` parts are evaluated, `{{` and `}}` stand for braces. */
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
        out += logText(await this.evaluate(expression, locals));
        i = end + 1;
      } else {
        out += c;
        i++;
      }
    }
    return out;
  }

  /** Kills the helper and waits for it to be gone; later evaluations answer with an error. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const helper = this.helper;
    this.helper = undefined;
    await helper?.kill();
  }

  private outcome(expression: string, locals: Locals, route: 'any' | 'python' = 'any'): Promise<Outcome> {
    const text = expression.trim();
    const key = route === 'python' ? `python:${text}` : text;
    let perLocals = this.cache.get(locals);
    if (!perLocals) {
      perLocals = new Map();
      this.cache.set(locals, perLocals);
    }
    const cached = perLocals.get(key);
    if (cached) return cached;
    const pending = this.compute(text, locals, route);
    perLocals.set(key, pending);
    void pending.then((outcome) => {
      if (!outcome.cacheable) perLocals.delete(key);
    });
    return pending;
  }

  private async compute(expression: string, locals: Locals, route: 'any' | 'python'): Promise<Outcome> {
    if (expression === '') return { result: { ok: false, error: 'Empty expression.' }, cacheable: true };
    const fast = route === 'any' ? evaluateFast(expression, locals) : undefined;
    if (fast) return fast;
    if (expression.includes('__')) {
      return { result: { ok: false, error: 'Expressions may not use names with "__" (dunder access is not allowed).' }, cacheable: true };
    }
    // Only the locals the expression can mention travel to Python.
    const sent: Record<string, string> = {};
    for (const [name, value] of locals) if (expression.includes(name)) sent[name] = value;
    // Frames of a loop often hold the same values in new Locals maps: the answer depends only on what is sent.
    const contentKey = `${expression}\u0000${JSON.stringify(sent)}`;
    const known = this.byContent.get(contentKey);
    if (known) {
      this.byContent.delete(contentKey);
      this.byContent.set(contentKey, known);
      return known;
    }
    const run = this.queue.then(() => this.askHelper(expression, sent));
    this.queue = run.catch(() => undefined);
    const outcome = await run;
    if (outcome.cacheable && contentKey.length <= MAX_CONTENT_KEY_LENGTH) {
      this.byContent.set(contentKey, outcome);
      if (this.byContent.size > CONTENT_CACHE_ENTRIES) this.byContent.delete(this.byContent.keys().next().value ?? '');
    }
    return outcome;
  }

  private async askHelper(expression: string, locals: Record<string, string>): Promise<Outcome> {
    if (this.disposed) return { result: { ok: false, error: 'The evaluator was disposed.' }, cacheable: false };
    if (!this.helperScript) {
      return { result: { ok: false, error: 'The evaluation helper evaluator_helper.py is missing from the installation; reinstall the extension.' }, cacheable: false };
    }
    if (!this.helper?.alive) {
      const child = spawn(this.python, ['-I', '-S', this.helperScript], { stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
      this.helper = new HelperProcess(child, this.python);
    }
    const helper = this.helper;
    // The time limit covers the evaluation, not the interpreter's start (slow on a loaded machine).
    const startFailure = await helper.ready;
    if (startFailure !== undefined) {
      if (this.helper === helper) this.helper = undefined;
      return { result: { ok: false, error: startFailure }, cacheable: false };
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        resolve({
          result: { ok: false, error: `Evaluation timed out after ${this.timeoutMs / 1000} s; the Python helper was stopped and restarts on the next evaluation.` },
          cacheable: false,
        });
      }, this.timeoutMs);
    });
    const outcome = await Promise.race([helper.request(this.nextId++, expression, locals), timedOut]);
    clearTimeout(timer);
    if (!outcome.result.ok && !outcome.cacheable && this.helper === helper) {
      // Timed out or died: the next evaluation starts a fresh helper.
      this.helper = undefined;
      void helper.kill(outcome.result.error);
    }
    return outcome;
  }
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

// ---------------------------------------------------------------------------------------------------------------
// Fast path: a tiny subset of Python answered from repr text, only where the answer is certainly what Python gives.
// Anything else (unknown syntax, a type whose semantics we do not model) returns undefined and goes to Python.

type Token =
  | { readonly t: 'name'; readonly v: string }
  | { readonly t: 'int'; readonly v: bigint; readonly text: string }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'op'; readonly v: string };

const TOKEN_NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const TOKEN_NUMBER = /(?:\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)(?![A-Za-z0-9_.])/y;
const TOKEN_OPS = ['==', '!=', '<=', '>=', '<', '>', '[', ']', '(', ')', '.', '-'];

function tokenize(expression: string): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expression.length) {
    const c = expression[i] ?? '';
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    TOKEN_NAME.lastIndex = i;
    const name = TOKEN_NAME.exec(expression);
    if (name) {
      // A prefixed string (b'', f'', r'') is not in the subset.
      if (expression[TOKEN_NAME.lastIndex] === "'" || expression[TOKEN_NAME.lastIndex] === '"') return undefined;
      tokens.push({ t: 'name', v: name[0] });
      i = TOKEN_NAME.lastIndex;
      continue;
    }
    TOKEN_NUMBER.lastIndex = i;
    const number = TOKEN_NUMBER.exec(expression);
    if (number) {
      const text = number[0];
      if (/^\d+$/.test(text)) {
        if (text.length > 1 && text.startsWith('0') && !/^0+$/.test(text)) return undefined;
        tokens.push({ t: 'int', v: BigInt(text), text });
      } else {
        const value = Number(text);
        if (!Number.isFinite(value)) return undefined;
        tokens.push({ t: 'float', v: value });
      }
      i = TOKEN_NUMBER.lastIndex;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < expression.length && expression[j] !== c) j += expression[j] === '\\' ? 2 : 1;
      if (j >= expression.length) return undefined;
      const value = decodePythonString(expression.slice(i, j + 1));
      if (value === undefined) return undefined;
      tokens.push({ t: 'str', v: value });
      i = j + 1;
      continue;
    }
    const op = TOKEN_OPS.find((candidate) => expression.startsWith(candidate, i));
    if (!op) return undefined;
    tokens.push({ t: 'op', v: op });
    i += op.length;
  }
  return tokens;
}

type Expr =
  | { readonly t: 'name'; readonly id: string }
  | { readonly t: 'literal'; readonly value: FastValue }
  | { readonly t: 'index'; readonly base: Expr; readonly index: Expr }
  | { readonly t: 'attr'; readonly base: Expr; readonly name: string }
  | { readonly t: 'not'; readonly operand: Expr }
  | { readonly t: 'bool'; readonly op: 'and' | 'or'; readonly operands: readonly Expr[] }
  | { readonly t: 'compare'; readonly first: Expr; readonly rest: readonly (readonly [CompareOp, Expr])[] };

type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'is' | 'is not';

const KEYWORDS = new Set(['and', 'or', 'not', 'is', 'in', 'if', 'else', 'lambda', 'for', 'None', 'True', 'False', 'await', 'yield']);

/** Recursive-descent parser of the subset; undefined when the expression leaves it. */
class SubsetParser {
  private position = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  parse(): Expr | undefined {
    const expr = this.orExpr();
    return expr && this.position === this.tokens.length ? expr : undefined;
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }
  private isWord(word: string): boolean {
    const token = this.peek();
    return token?.t === 'name' && token.v === word;
  }
  private isOp(op: string): boolean {
    const token = this.peek();
    return token?.t === 'op' && token.v === op;
  }

  private orExpr(): Expr | undefined {
    return this.boolChain('or', () => this.andExpr());
  }
  private andExpr(): Expr | undefined {
    return this.boolChain('and', () => this.notExpr());
  }
  private boolChain(op: 'and' | 'or', next: () => Expr | undefined): Expr | undefined {
    const first = next();
    if (!first) return undefined;
    const operands = [first];
    while (this.isWord(op)) {
      this.position++;
      const operand = next();
      if (!operand) return undefined;
      operands.push(operand);
    }
    return operands.length === 1 ? first : { t: 'bool', op, operands };
  }
  private notExpr(): Expr | undefined {
    if (this.isWord('not')) {
      this.position++;
      const operand = this.notExpr();
      return operand && { t: 'not', operand };
    }
    return this.comparison();
  }
  private comparison(): Expr | undefined {
    const first = this.operand();
    if (!first) return undefined;
    const rest: [CompareOp, Expr][] = [];
    for (;;) {
      const token = this.peek();
      let op: CompareOp | undefined;
      if (token?.t === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(token.v)) {
        op = token.v as CompareOp;
        this.position++;
      } else if (this.isWord('is')) {
        this.position++;
        op = 'is';
        if (this.isWord('not')) {
          this.position++;
          op = 'is not';
        }
      }
      if (!op) break;
      const right = this.operand();
      if (!right) return undefined;
      rest.push([op, right]);
    }
    return rest.length === 0 ? first : { t: 'compare', first, rest };
  }
  private operand(): Expr | undefined {
    let expr = this.primary();
    while (expr) {
      if (this.isOp('[')) {
        this.position++;
        const index = this.orExpr();
        if (!index || !this.isOp(']')) return undefined;
        this.position++;
        expr = { t: 'index', base: expr, index };
      } else if (this.isOp('.')) {
        this.position++;
        const name = this.peek();
        if (name?.t !== 'name' || KEYWORDS.has(name.v)) return undefined;
        this.position++;
        expr = { t: 'attr', base: expr, name: name.v };
      } else break;
    }
    return expr;
  }
  private primary(): Expr | undefined {
    const token = this.peek();
    if (!token) return undefined;
    this.position++;
    switch (token.t) {
      case 'int':
        return { t: 'literal', value: { repr: token.text.replace(/^0+(?=\d)/, ''), scalar: { t: 'int', v: token.v } } };
      case 'float':
        return { t: 'literal', value: { scalar: { t: 'float', v: token.v } } };
      case 'str':
        return { t: 'literal', value: { scalar: { t: 'str', v: token.v } } };
      case 'name':
        if (token.v === 'True' || token.v === 'False' || token.v === 'None') return { t: 'literal', value: fromRepr(token.v) };
        return KEYWORDS.has(token.v) ? undefined : { t: 'name', id: token.v };
      case 'op': {
        if (token.v === '(') {
          const inner = this.orExpr();
          if (!inner || !this.isOp(')')) return undefined;
          this.position++;
          return inner;
        }
        if (token.v === '-') {
          const next = this.peek();
          if (next?.t === 'int') {
            this.position++;
            const repr = next.v === 0n ? '0' : `-${next.v.toString()}`;
            return { t: 'literal', value: { repr, scalar: { t: 'int', v: -next.v } } };
          }
          if (next?.t === 'float') {
            this.position++;
            return { t: 'literal', value: { scalar: { t: 'float', v: -next.v } } };
          }
        }
        return undefined;
      }
    }
  }
}

type Scalar =
  | { readonly t: 'int'; readonly v: bigint }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'None' };

/** A value in the fast path: its exact Python repr when known, its scalar value when it is one we compare. */
interface FastValue {
  readonly repr?: string;
  readonly scalar?: Scalar;
  readonly node?: ReprNode;
}

const INT_REPR = /^-?\d+$/;
const FLOAT_REPR = /^-?(?:\d+\.\d*(?:e[+-]?\d+)?|\d+e[+-]?\d+|inf|nan)$/;

function scalarOfRepr(repr: string): Scalar | undefined {
  if (repr.endsWith(TRUNCATION_MARKER)) return undefined;
  if (repr === 'True') return { t: 'int', v: 1n };
  if (repr === 'False') return { t: 'int', v: 0n };
  if (repr === 'None') return { t: 'None' };
  if (INT_REPR.test(repr)) return { t: 'int', v: BigInt(repr) };
  if (FLOAT_REPR.test(repr)) {
    const body = repr.replace(/^-/, '');
    const magnitude = body === 'inf' ? Infinity : body === 'nan' ? NaN : Number(body);
    return { t: 'float', v: repr.startsWith('-') ? -magnitude : magnitude };
  }
  if (repr.startsWith("'") || repr.startsWith('"')) {
    const value = decodePythonString(repr);
    return value === undefined ? undefined : { t: 'str', v: value };
  }
  return undefined;
}

function fromRepr(repr: string): FastValue {
  const scalar = scalarOfRepr(repr);
  return scalar ? { repr, scalar } : { repr };
}

function nodeOf(value: FastValue): ReprNode | undefined {
  return value.node ?? (value.repr === undefined ? undefined : parseRepr(value.repr));
}

/** Python's comparison of two numbers, exact for big ints against floats: -1, 0, 1, or undefined when unordered (nan). */
function compareNumbers(a: Scalar & { t: 'int' | 'float' }, b: Scalar & { t: 'int' | 'float' }): number | undefined {
  if (a.t === 'int' && b.t === 'int') return a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
  if (a.t === 'float' && b.t === 'float') {
    if (Number.isNaN(a.v) || Number.isNaN(b.v)) return undefined;
    return a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
  }
  if (a.t === 'float') {
    const flipped = compareNumbers(b, a);
    return flipped === undefined ? undefined : -flipped;
  }
  if (b.t !== 'float') return undefined;
  const integer = a.v;
  const float = b.v;
  if (Number.isNaN(float)) return undefined;
  if (float === Infinity) return -1;
  if (float === -Infinity) return 1;
  const floor = Math.floor(float);
  const floorBig = BigInt(floor);
  if (integer < floorBig) return -1;
  if (integer > floorBig) return 1;
  return floor === float ? 0 : -1;
}

function compareCodePoints(a: string, b: string): number {
  // Python orders str by code point; JS `<` orders UTF-16 units, which differs above U+FFFF.
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const cx = x.value.codePointAt(0) ?? 0;
    const cy = y.value.codePointAt(0) ?? 0;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

function isNumber(scalar: Scalar): scalar is Scalar & { t: 'int' | 'float' } {
  return scalar.t === 'int' || scalar.t === 'float';
}

/** Python `==` on two scalars; undefined when not certain. */
function scalarsEqual(a: Scalar, b: Scalar): boolean | undefined {
  if (isNumber(a) && isNumber(b)) return compareNumbers(a, b) === 0;
  if (a.t === 'str' && b.t === 'str') return a.v === b.v;
  return a.t !== b.t ? false : a.t === 'None';
}

function compareValues(op: CompareOp, left: FastValue, right: FastValue): boolean | undefined {
  if (op === 'is' || op === 'is not') {
    // Only identity with the singletons, which a repr tells exactly.
    const singletons = ['None', 'True', 'False'];
    const leftSingleton = left.repr !== undefined && singletons.includes(left.repr);
    const rightSingleton = right.repr !== undefined && singletons.includes(right.repr);
    if (!leftSingleton && !rightSingleton) return undefined;
    if (left.repr === undefined || right.repr === undefined) return undefined;
    const same = left.repr === right.repr;
    return op === 'is' ? same : !same;
  }
  const a = left.scalar;
  const b = right.scalar;
  if (!a || !b) return undefined;
  if (op === '==' || op === '!=') {
    const equal = scalarsEqual(a, b);
    return equal === undefined ? undefined : op === '==' ? equal : !equal;
  }
  let order: number | undefined;
  if (isNumber(a) && isNumber(b)) {
    order = compareNumbers(a, b);
    if (order === undefined) return false;
  } else if (a.t === 'str' && b.t === 'str') order = compareCodePoints(a.v, b.v);
  else return undefined;
  switch (op) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
  }
}

const SEQUENCE_KINDS = new Set(['list', 'tuple', 'deque']);
const MAPPING_KINDS = new Set(['dict', 'OrderedDict', 'Counter', 'defaultdict', 'mappingproxy']);
const CONTAINER_KINDS = new Set([...SEQUENCE_KINDS, ...MAPPING_KINDS, 'set', 'frozenset', 'dict_keys', 'dict_values', 'dict_items']);
const ALWAYS_TRUE_KINDS = new Set(['function', 'builtin_function_or_method', 'method', 'module', 'generator', 'coroutine', 'async_generator', 'ellipsis']);

/** Python truthiness from a repr, when its type's rule is known. */
function truthOf(value: FastValue): boolean | undefined {
  const scalar = value.scalar;
  if (scalar) {
    if (scalar.t === 'None') return false;
    if (scalar.t === 'str') return scalar.v.length > 0;
    if (scalar.t === 'int') return scalar.v !== 0n;
    return scalar.v !== 0;
  }
  const node = nodeOf(value);
  if (!node) return undefined;
  if (node.kind === 'str' || node.kind === 'bytes') {
    if (node.truncated) return true;
    return !/^b?(?:''|"")$/.test(node.text);
  }
  if (CONTAINER_KINDS.has(node.kind)) return node.childCount > 0 || node.truncated;
  if (ALWAYS_TRUE_KINDS.has(node.kind)) return true;
  return undefined;
}

function indexInto(base: FastValue, index: FastValue): FastValue | undefined {
  const node = nodeOf(base);
  const key = index.scalar;
  if (!node || !key) return undefined;
  if (SEQUENCE_KINDS.has(node.kind) && node.naming === 'index') {
    if (key.t !== 'int') return undefined;
    const count = BigInt(node.childCount);
    let position = key.v;
    if (position < 0n) {
      if (node.truncated) return undefined;
      position += count;
    }
    if (position < 0n || position >= count) return undefined;
    const [child] = node.children(Number(position), 1);
    return child && { ...fromRepr(child.value), node: child.node };
  }
  if (MAPPING_KINDS.has(node.kind) && node.naming === 'key') {
    // A dict holds at most one key equal to the lookup; finding it by value is what the hash lookup would return.
    const total = node.childCount;
    const batch = 256;
    for (let start = 0; start < total; start += batch) {
      for (const child of node.children(start, batch)) {
        const keyScalar = scalarOfRepr(child.name);
        if (keyScalar && scalarsEqual(keyScalar, key) === true) return { ...fromRepr(child.value), node: child.node };
      }
    }
  }
  return undefined;
}

function attributeOf(base: FastValue, name: string): FastValue | undefined {
  const node = nodeOf(base);
  if (!node || node.naming !== 'field') return undefined;
  const total = node.childCount;
  for (const child of node.children(0, total)) if (child.name === name) return { ...fromRepr(child.value), node: child.node };
  return undefined;
}

function evaluateExpr(expr: Expr, locals: Locals): FastValue | undefined {
  switch (expr.t) {
    case 'literal':
      return expr.value;
    case 'name': {
      const repr = locals.get(expr.id);
      return repr === undefined ? undefined : fromRepr(repr);
    }
    case 'index': {
      const base = evaluateExpr(expr.base, locals);
      const index = base && evaluateExpr(expr.index, locals);
      return base && index && indexInto(base, index);
    }
    case 'attr': {
      const base = evaluateExpr(expr.base, locals);
      return base && attributeOf(base, expr.name);
    }
    case 'not': {
      const operand = evaluateExpr(expr.operand, locals);
      const truth = operand && truthOf(operand);
      return truth === undefined ? undefined : fromRepr(truth ? 'False' : 'True');
    }
    case 'bool': {
      // Python returns the deciding operand itself, not a bool.
      let value: FastValue | undefined;
      for (const operand of expr.operands) {
        value = evaluateExpr(operand, locals);
        if (!value) return undefined;
        const truth = truthOf(value);
        if (truth === undefined) return undefined;
        if (expr.op === 'and' ? !truth : truth) return value;
      }
      return value;
    }
    case 'compare': {
      let left = evaluateExpr(expr.first, locals);
      if (!left) return undefined;
      for (const [op, rightExpr] of expr.rest) {
        const right = evaluateExpr(rightExpr, locals);
        if (!right) return undefined;
        const holds = compareValues(op, left, right);
        if (holds === undefined) return undefined;
        if (!holds) return fromRepr('False');
        left = right;
      }
      return fromRepr('True');
    }
  }
}

/** The fast-path answer, or undefined when the expression needs Python. */
function evaluateFast(expression: string, locals: Locals): Outcome | undefined {
  const tokens = tokenize(expression);
  const expr = tokens && new SubsetParser(tokens).parse();
  if (!expr) return undefined;
  const value = evaluateExpr(expr, locals);
  // A value whose repr we would have to compute (a float or str literal) is Python's business.
  if (!value || value.repr === undefined) return undefined;
  const node = nodeOf(value);
  const truthy = truthOf(value);
  return {
    result: { ok: true, repr: value.repr, kind: node?.typeName ?? 'object', source: 'fast' },
    ...(truthy === undefined ? {} : { truthy }),
    cacheable: true,
  };
}
