// Turns a user's argument list into the entry function's first call frame, in TypeScript, starting no process: the
// entry's `def` is read from the text, the arguments and literal defaults are evaluated by server/values/py-interpret.ts.

import { indentWidth, splitSourceLines } from '../cwm/lines';
import { TRUNCATION_MARKER, type TraceFrame } from '../trace/model';
import { evaluateExpression } from '../values/py-interpret';
import { parseExpression, PySyntaxError, type Expr } from '../values/py-parse';
import { hashKey, reprOf, strRepr, type PyMap, type PyValue } from '../values/py-values';

/** The arguments could not be turned into a call frame; the message says why in words. */
export class EntryFrameError extends Error {}

export async function buildEntryCallFrame(options: { source: string; functionName: string; args: string; maxReprLength?: number }): Promise<TraceFrame> {
  return entryCallFrame(options);
}

/** The first call frame of `functionName` called with `args` (the text between a call's parentheses); throws EntryFrameError. */
export function entryCallFrame(options: { source: string; functionName: string; args: string; maxReprLength?: number }): TraceFrame {
  const limit = options.maxReprLength ?? 2000;
  const source = options.source.charCodeAt(0) === 0xfeff ? options.source.slice(1) : options.source;
  const found = findFunction(logicalLines(source), options.functionName);
  if (!found) throw new EntryFrameError(`No function named ${options.functionName} in the program.`);
  const params = parametersOf(source, found.def);
  const { positional, keywords } = evaluateArguments(options.args);
  const bound = bind(params, positional, keywords, options.functionName);
  const lines = splitSourceLines(options.source);
  return {
    index: 0,
    event: 'call',
    line: found.line,
    sourceLine: lines[found.line - 1] ?? '',
    scope: 1,
    functionName: options.functionName.split('.').pop() ?? options.functionName,
    depth: 0,
    locals: new Map(bound.map(([name, value]) => [name, boundedRepr(value, limit)])),
  };
}

/** The entry's parameters in order, names and kinds, read from its def (inverse execution turns a call frame back into arguments). */
export function entryParameters(source: string, functionName: string): { readonly name: string; readonly kind: ParamKind }[] {
  const text = source.charCodeAt(0) === 0xfeff ? source.slice(1) : source;
  const found = findFunction(logicalLines(text), functionName);
  if (!found) throw new EntryFrameError(`No function named ${functionName} in the program.`);
  return parametersOf(text, found.def).map((param) => ({ name: param.name, kind: param.kind }));
}

// ---- logical lines of the program ---------------------------------------------------------------------------------

interface Token {
  readonly kind: 'name' | 'number' | 'string' | 'op';
  readonly text: string;
  /** Offsets in the source, end exclusive. */
  readonly start: number;
  readonly end: number;
}

interface LogicalLine {
  readonly indent: number;
  readonly tokens: readonly Token[];
  /** 1-based first and last physical line. */
  readonly startLine: number;
  readonly endLine: number;
}

const NAME = /[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_]*/uy;
const NUMBER = /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?)/y;
const STRING_START = /(?:[rR][bBfF]?|[bBfF][rR]?|[uU])?(['"])/y;
const OPERATORS = ['...', '**=', '//=', '>>=', '<<=', ':=', '->', '**', '//', '<<', '>>', '<=', '>=', '==', '!=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@='];

/** The program's logical lines (blank and comment lines left out), each with its tokens; never throws. */
function logicalLines(source: string): LogicalLine[] {
  const lines: LogicalLine[] = [];
  let tokens: Token[] = [];
  let depth = 0;
  let line = 1;
  let startLine = 1;
  let indent = 0;
  let atLineStart = true;
  const endLogical = (): void => {
    if (tokens.length > 0) lines.push({ indent, tokens, startLine, endLine: line });
    tokens = [];
    depth = 0;
    atLineStart = true;
  };
  let i = 0;
  while (i < source.length) {
    if (atLineStart) {
      const match = /^[ \t\f]*/.exec(source.slice(i, i + 200))![0];
      indent = indentWidth(match);
      startLine = line;
      atLineStart = false;
      i += match.length;
      continue;
    }
    const c = source[i]!;
    if (c === '\n' || c === '\r') {
      i += c === '\r' && source[i + 1] === '\n' ? 2 : 1;
      if (depth === 0 && tokens.length > 0) endLogical();
      else if (tokens.length === 0) atLineStart = true;
      line++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '\\' && (source[i + 1] === '\n' || source[i + 1] === '\r')) {
      i += source[i + 1] === '\r' && source[i + 2] === '\n' ? 3 : 2;
      line++;
      continue;
    }
    if (c === '#') {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
      continue;
    }
    STRING_START.lastIndex = i;
    const string = STRING_START.exec(source);
    if (string) {
      const quote = string[1]!;
      let j = STRING_START.lastIndex - 1;
      const close = source.startsWith(quote.repeat(3), j) ? quote.repeat(3) : quote;
      j += close.length;
      let closed = false;
      while (j < source.length) {
        if (source.startsWith(close, j)) {
          closed = true;
          break;
        }
        if (source[j] === '\\') j++;
        else if (close.length === 1 && (source[j] === '\n' || source[j] === '\r')) break;
        if (source[j] === '\n' || (source[j] === '\r' && source[j + 1] !== '\n')) line++;
        j++;
      }
      // An unterminated one-line string ends at its line's end (the newline still ends the logical line).
      if (closed) j += close.length;
      tokens.push({ kind: 'string', text: source.slice(i, j), start: i, end: j });
      i = j;
      continue;
    }
    NAME.lastIndex = i;
    const name = NAME.exec(source);
    if (name) {
      tokens.push({ kind: 'name', text: name[0], start: i, end: NAME.lastIndex });
      i = NAME.lastIndex;
      continue;
    }
    NUMBER.lastIndex = i;
    const number = /[0-9.]/.test(c) ? NUMBER.exec(source) : null;
    if (number && number[0] !== '.') {
      tokens.push({ kind: 'number', text: number[0], start: i, end: NUMBER.lastIndex });
      i = NUMBER.lastIndex;
      continue;
    }
    const op = OPERATORS.find((candidate) => source.startsWith(candidate, i)) ?? String.fromCodePoint(source.codePointAt(i)!);
    if ('([{'.includes(op)) depth++;
    else if (')]}'.includes(op)) depth = Math.max(0, depth - 1);
    tokens.push({ kind: 'op', text: op, start: i, end: i + op.length });
    i += op.length;
  }
  endLogical();
  return lines;
}

function isWord(token: Token | undefined, word: string): boolean {
  return token?.kind === 'name' && token.text === word;
}
function isOp(token: Token | undefined, op: string): boolean {
  return token?.kind === 'op' && token.text === op;
}

/** The name a logical line defines (`def`, `async def`, `class`), if it is a definition. */
function definedName(line: LogicalLine): { kind: 'def' | 'class'; name: string } | undefined {
  const [first, second, third] = line.tokens;
  if (isWord(first, 'def') && second?.kind === 'name') return { kind: 'def', name: second.text };
  if (isWord(first, 'async') && isWord(second, 'def') && third?.kind === 'name') return { kind: 'def', name: third.text };
  if (isWord(first, 'class') && second?.kind === 'name') return { kind: 'class', name: second.text };
  return undefined;
}

/**
 * The first definition named by each part of `Outer.method`, among the statements directly in the module, then
 * directly in that body (as ast's module tree is walked); and the line its call event reports: CPython's
 * co_firstlineno, the first decorator's line when there are decorators, else the `def` line.
 */
function findFunction(lines: readonly LogicalLine[], dotted: string): { def: LogicalLine; line: number } | undefined {
  let from = 0;
  let to = lines.length;
  let found: { index: number; kind: 'def' | 'class' } | undefined;
  for (const part of dotted.split('.')) {
    found = undefined;
    const indent = lines[from]?.indent;
    if (from >= to || indent === undefined) return undefined;
    for (let k = from; k < to; k++) {
      const line = lines[k]!;
      if (line.indent !== indent) continue;
      const definition = definedName(line);
      if (definition?.name === part) {
        found = { index: k, kind: definition.kind };
        break;
      }
    }
    if (!found) return undefined;
    const header = lines[found.index]!;
    from = found.index + 1;
    to = from;
    while (to < lines.length && lines[to]!.indent > header.indent) to++;
  }
  if (!found || found.kind !== 'def') return undefined;
  const def = lines[found.index]!;
  let first = def.startLine;
  for (let k = found.index - 1; k >= 0 && lines[k]!.indent === def.indent && isOp(lines[k]!.tokens[0], '@'); k--) first = lines[k]!.startLine;
  return { def, line: first };
}

// ---- the parameter list --------------------------------------------------------------------------------------------

export type ParamKind = 'positional-only' | 'positional-or-keyword' | 'var-positional' | 'keyword-only' | 'var-keyword';

interface Parameter {
  readonly name: string;
  readonly kind: ParamKind;
  /** The default: a value when ast.literal_eval would take it, else its source text (shown as is). */
  readonly default?: PyValue | { readonly sourceText: string };
}

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except',
  'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try',
  'while', 'with', 'yield',
]);

function syntaxError(line: number, message: string): EntryFrameError {
  return new EntryFrameError(`The program has a syntax error on line ${line}: ${message}.`);
}

/** Index of the bracket closing the one at `open`, or -1. */
function matchingBracket(tokens: readonly Token[], open: number): number {
  let depth = 0;
  for (let k = open; k < tokens.length; k++) {
    const token = tokens[k]!;
    if (token.kind !== 'op') continue;
    if ('([{'.includes(token.text)) depth++;
    else if (')]}'.includes(token.text) && --depth === 0) return k;
  }
  return -1;
}

/** Splits tokens at commas outside brackets (and outside a lambda's own parameter list). */
function splitAtCommas(tokens: readonly Token[]): Token[][] {
  const items: Token[][] = [[]];
  let depth = 0;
  let lambdas = 0;
  for (const token of tokens) {
    if (token.kind === 'op' && '([{'.includes(token.text)) depth++;
    else if (token.kind === 'op' && ')]}'.includes(token.text)) depth--;
    else if (depth === 0 && isWord(token, 'lambda')) lambdas++;
    else if (depth === 0 && lambdas > 0 && isOp(token, ':')) lambdas--;
    else if (depth === 0 && lambdas === 0 && isOp(token, ',')) {
      items.push([]);
      continue;
    }
    items[items.length - 1]!.push(token);
  }
  return items;
}

function topLevelIndex(tokens: readonly Token[], test: (token: Token) => boolean): number {
  let depth = 0;
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k]!;
    if (token.kind === 'op' && '([{'.includes(token.text)) depth++;
    else if (token.kind === 'op' && ')]}'.includes(token.text)) depth--;
    else if (depth === 0 && test(token)) return k;
  }
  return -1;
}

function parametersOf(source: string, def: LogicalLine): Parameter[] {
  const tokens = def.tokens;
  const nameAt = isWord(tokens[0], 'async') ? 2 : 1;
  // Type parameters (`def f[T](x: T)`, Python 3.12) come before the parameter list.
  const open = isOp(tokens[nameAt + 1], '[') ? matchingBracket(tokens, nameAt + 1) + 1 : nameAt + 1;
  const close = open > 0 && isOp(tokens[open], '(') ? matchingBracket(tokens, open) : -1;
  if (close < 0) throw syntaxError(def.startLine, isOp(tokens[open], '(') ? "'(' was never closed" : 'invalid syntax');
  const items = splitAtCommas(tokens.slice(open + 1, close));
  if (items.length > 0 && items[items.length - 1]!.length === 0) items.pop();
  const params: Parameter[] = [];
  let slash = false;
  let star = false;
  let bareStar = false;
  let starStar = false;
  let sawDefault = false;
  for (const item of items) {
    const fail = (message = 'invalid syntax'): never => {
      throw syntaxError(def.startLine, message);
    };
    if (item.length === 0) fail();
    if (starStar) fail('arguments cannot follow var-keyword argument');
    if (item.length === 1 && isOp(item[0], '/')) {
      if (slash) fail('/ may appear only once');
      if (star) fail('/ must be ahead of *');
      if (params.length === 0) fail('at least one argument must precede /');
      slash = true;
      for (let k = 0; k < params.length; k++) params[k] = { ...params[k]!, kind: 'positional-only' };
      continue;
    }
    if (item.length === 1 && isOp(item[0], '*')) {
      if (star) fail('* argument may appear only once');
      star = bareStar = true;
      continue;
    }
    const prefix = isOp(item[0], '**') ? '**' : isOp(item[0], '*') ? '*' : '';
    const nameToken = item[prefix === '' ? 0 : 1];
    if (nameToken?.kind !== 'name' || KEYWORDS.has(nameToken.text)) fail();
    const name = nameToken!.text.normalize('NFKC');
    if (params.some((param) => param.name === name)) fail(`duplicate argument '${name}' in function definition`);
    const rest = item.slice(prefix === '' ? 1 : 2);
    const equals = topLevelIndex(rest, (token) => isOp(token, '='));
    if (rest.length > 0 && !isOp(rest[0], ':') && equals !== 0) fail();
    if (isOp(rest[0], ':') && (equals === 1 || rest.length === 1)) fail();
    const defaultTokens = equals < 0 ? [] : rest.slice(equals + 1);
    if (equals >= 0 && defaultTokens.length === 0) fail();
    if (prefix === '*') {
      if (star) fail('* argument may appear only once');
      if (equals >= 0) fail('var-positional argument cannot have default value');
      star = true;
      params.push({ name, kind: 'var-positional' });
      continue;
    }
    if (prefix === '**') {
      if (equals >= 0) fail('var-keyword argument cannot have default value');
      if (bareStar && !params.some((param) => param.kind === 'keyword-only')) fail('named arguments must follow bare *');
      starStar = true;
      params.push({ name, kind: 'var-keyword' });
      continue;
    }
    const kind: ParamKind = star ? 'keyword-only' : 'positional-or-keyword';
    if (equals < 0) {
      if (kind !== 'keyword-only' && sawDefault) fail('non-default argument follows default argument');
      params.push({ name, kind });
      continue;
    }
    if (kind !== 'keyword-only') sawDefault = true;
    params.push({ name, kind, default: defaultValue(source, defaultTokens) });
  }
  if (bareStar && !params.some((param) => param.kind === 'keyword-only')) throw syntaxError(def.startLine, 'named arguments must follow bare *');
  return params;
}

/** The default's value as ast.literal_eval gives it, else its source text as ast.get_source_segment gives it. */
function defaultValue(source: string, tokens: readonly Token[]): PyValue | { sourceText: string } {
  let first = 0;
  let last = tokens.length - 1;
  // Parentheses around an expression are not part of its node; those of a tuple or generator expression are.
  while (isOp(tokens[first], '(') && matchingBracket(tokens.slice(0, last + 1), first) === last) {
    const inner = tokens.slice(first + 1, last);
    if (inner.length === 0 || topLevelIndex(inner, (token) => isOp(token, ',') || isWord(token, 'for') || isWord(token, 'yield')) >= 0) break;
    first++;
    last--;
  }
  const text = source.slice(tokens[first]!.start, tokens[last]!.end);
  let expr: Expr;
  try {
    expr = parseExpression(text);
  } catch {
    return { sourceText: text };
  }
  if (!isLiteral(expr)) return { sourceText: text };
  const evaluation = evaluateExpression(text, new Map());
  return evaluation.ok ? evaluation.value : { sourceText: text };
}

/** What ast.literal_eval accepts (Lib/ast.py literal_eval: _convert, _convert_signed_num, _convert_num). */
function isLiteral(expr: Expr): boolean {
  switch (expr.k) {
    case 'const':
      return true;
    case 'tuple':
    case 'list':
    case 'set':
      return expr.elts.every(isLiteral);
    case 'dict':
      return expr.items.every((item) => 'key' in item && isLiteral(item.key) && isLiteral(item.value));
    case 'call':
      return expr.fn.k === 'name' && expr.fn.id === 'set' && expr.args.length === 0 && expr.kwargs.length === 0;
    case 'bin':
      return (expr.op === '+' || expr.op === '-') && isSignedNumber(expr.left, ['int', 'float']) && isNumber(expr.right, ['complex']);
    default:
      return isSignedNumber(expr, ['int', 'float', 'complex']);
  }
}

function isNumber(expr: Expr, types: readonly string[]): boolean {
  return expr.k === 'const' && types.includes(expr.v.t);
}
function isSignedNumber(expr: Expr, types: readonly string[]): boolean {
  if (expr.k === 'unary' && (expr.op === '-' || expr.op === '+')) return isNumber(expr.operand, ['int', 'float', 'complex']) && isNumber(expr.operand, types);
  return isNumber(expr, types);
}

// ---- the arguments ---------------------------------------------------------------------------------------------------

const COLLECT_PREFIX = '__collect(\n';

/** Evaluates the argument list alone (no frame values, only literals and the evaluator's built-ins). */
function evaluateArguments(args: string): { positional: PyValue[]; keywords: PyMap } {
  try {
    const call = parseExpression(`${COLLECT_PREFIX}${args}\n)`);
    if (call.k !== 'call' || call.fn.k !== 'name' || call.fn.id !== '__collect') throw new PySyntaxError('invalid syntax');
  } catch (error) {
    if (!(error instanceof PySyntaxError) && !(error instanceof RangeError)) throw error;
    const problem = argsSyntaxProblem(args, error instanceof PySyntaxError ? error : new PySyntaxError('too deeply nested'));
    throw new EntryFrameError(`The arguments ${quoted(args)} are not a valid Python argument list: ${problem}. Write them as in a call, e.g. --args "[1, 2], 'a'".`);
  }
  // The same argument list, parsed the same way, collected by a lambda that takes everything.
  const evaluation = evaluateExpression(`(lambda *__args, **__kwargs: (__args, __kwargs))(\n${args}\n)`, new Map());
  if (!evaluation.ok) {
    const raised = /^[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Iteration|Warning)\b/.test(evaluation.error);
    const hint = /^NameError:/.test(evaluation.error)
      ? ' Arguments are evaluated alone, without the program: use literals and built-ins, e.g. [1, 2], {\'a\': (1, 2)}, list(range(3)).'
      : '';
    const error = evaluation.error.length <= 300 ? evaluation.error.replace(/\.$/, '') : `${evaluation.error.slice(0, 300)}…`;
    throw new EntryFrameError(`Evaluating the arguments ${quoted(args)} ${raised ? 'raised' : 'failed:'} ${error}.${hint}`);
  }
  const value = evaluation.value;
  if (value.t !== 'tuple' || value.items[0]?.t !== 'tuple' || value.items[1]?.t !== 'dict') throw new EntryFrameError(`Could not read the arguments ${quoted(args)}.`);
  return { positional: [...value.items[0].items], keywords: new Map(value.items[1].map) };
}

/** The argument text as Python quotes it, cut after 200 characters: a message stays one readable sentence. */
function quoted(args: string): string {
  const points = Array.from(args);
  return points.length <= 200 ? strRepr(args) : `${strRepr(points.slice(0, 200).join(''))}…`;
}

/** What is wrong in the user's argument text, placed in that text (never in the wrapper call around it). */
function argsSyntaxProblem(text: string, error: PySyntaxError): string {
  const firstLineEnd = text.search(/[\r\n]/) < 0 ? text.length : text.search(/[\r\n]/);
  if (error.offset !== undefined && error.offset >= COLLECT_PREFIX.length && error.offset - COLLECT_PREFIX.length < firstLineEnd) {
    return `${error.message.replace(/\.$/, '')} (column ${error.offset - COLLECT_PREFIX.length + 1})`;
  }
  const stack: [string, number][] = [];
  let quote: string | undefined;
  let column = 0;
  for (const char of text) {
    column++;
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if ('([{'.includes(char)) stack.push([char, column]);
    else if (')]}'.includes(char)) {
      if (stack.length === 0) return `unmatched '${char}' (column ${column})`;
      stack.pop();
    }
  }
  if (quote) return 'a string is never closed';
  if (stack.length > 0) return `'${stack[stack.length - 1]![0]}' (column ${stack[stack.length - 1]![1]}) is never closed`;
  return 'the list ends too early';
}

// ---- binding (Lib/inspect.py Signature._bind and BoundArguments.apply_defaults, Python 3.11) -----------------------

type Bound = PyValue | { readonly sourceText: string };

function bind(params: readonly Parameter[], positional: readonly PyValue[], keywords: PyMap, functionName: string): [string, Bound][] {
  const fail = (message: string): never => {
    throw new EntryFrameError(`The arguments do not fit ${functionName}: ${message}.`);
  };
  const has = (name: string) => keywords.has(hashKey({ t: 'str', v: name }));
  const arguments_ = new Map<string, Bound>();
  let p = 0;
  let a = 0;
  let resumeAt = params.length;
  for (;;) {
    if (a >= positional.length) {
      const param = params[p];
      if (!param) {
        resumeAt = p;
        break;
      }
      p++;
      if (param.kind === 'var-positional') {
        resumeAt = p;
        break;
      }
      if (has(param.name)) {
        if (param.kind === 'positional-only') fail(`${strRepr(param.name)} parameter is positional only, but was passed as a keyword`);
        resumeAt = p - 1;
        break;
      }
      if (param.kind === 'var-keyword' || param.default !== undefined) {
        resumeAt = p - 1;
        break;
      }
      fail(`missing a required argument: ${strRepr(param.name)}`);
    }
    const param = params[p++];
    if (!param || param.kind === 'var-keyword' || param.kind === 'keyword-only') fail('too many positional arguments');
    if (param!.kind === 'var-positional') {
      arguments_.set(param!.name, { t: 'tuple', items: positional.slice(a) });
      resumeAt = p;
      break;
    }
    if (has(param!.name) && param!.kind !== 'positional-only') fail(`multiple values for argument ${strRepr(param!.name)}`);
    arguments_.set(param!.name, positional[a++]!);
  }
  let kwargsParam: Parameter | undefined;
  for (const param of params.slice(resumeAt)) {
    if (param.kind === 'var-keyword') {
      kwargsParam = param;
      continue;
    }
    if (param.kind === 'var-positional') continue;
    const key = hashKey({ t: 'str', v: param.name });
    const given = keywords.get(key);
    if (!given) {
      if (param.default === undefined) fail(`missing a required argument: ${strRepr(param.name)}`);
      continue;
    }
    keywords.delete(key);
    if (param.kind === 'positional-only') fail(`${strRepr(param.name)} parameter is positional only, but was passed as a keyword`);
    arguments_.set(param.name, given.value);
  }
  if (keywords.size > 0) {
    if (!kwargsParam) fail(`got an unexpected keyword argument ${reprOf(keywords.values().next().value!.key)}`);
    else arguments_.set(kwargsParam.name, { t: 'dict', map: keywords, flavor: 'dict' });
  }
  // apply_defaults, then f_locals order at the call event (co_varnames): positional, keyword-only, *args, **kwargs.
  const withDefaults: [string, Bound, number][] = [];
  for (const param of params) {
    const rank = param.kind === 'var-positional' ? 1 : param.kind === 'var-keyword' ? 2 : 0;
    const value = arguments_.get(param.name)
      ?? param.default
      ?? (param.kind === 'var-positional' ? { t: 'tuple', items: [] } : param.kind === 'var-keyword' ? { t: 'dict', map: new Map(), flavor: 'dict' } : undefined);
    if (value !== undefined) withDefaults.push([param.name, value, rank]);
  }
  return withDefaults.sort((x, y) => x[2] - y[2]).map(([name, value]) => [name, value]);
}

/** Python's repr, cut after `limit` characters (code points, as Python counts them). */
function boundedRepr(value: Bound, limit: number): string {
  let text: string;
  try {
    text = 'sourceText' in value ? value.sourceText : reprOf(value, limit * 2 + 16);
  } catch (error) {
    text = `<repr failed: ${error instanceof Error ? error.message : String(error)}>`;
  }
  if (text.endsWith(TRUNCATION_MARKER) && !('sourceText' in value)) text = text.slice(0, -TRUNCATION_MARKER.length);
  const points = Array.from(text);
  return points.length <= limit ? text : points.slice(0, limit).join('') + TRUNCATION_MARKER;
}
