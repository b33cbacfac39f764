// Parses one Python expression (the debugger's watch/hover/condition text, or a repr) into a small syntax tree.
// Only expression syntax exists here; anything else is a SyntaxError. Never throws anything but PySyntaxError.

/** A literal value straight from the source text. */
export type Literal =
  | { readonly t: 'int'; readonly v: bigint }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'complex'; readonly re: number; readonly im: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'bytes'; readonly v: Uint8Array }
  | { readonly t: 'None' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'ellipsis' };

/** An assignment target of a comprehension or a lambda parameter list. */
export type Target = { readonly k: 'name'; readonly id: string } | { readonly k: 'tuple'; readonly elts: readonly Target[]; readonly star: number };

export interface FStringField {
  readonly expr: Expr;
  /** The expression's own text followed by `=` (the `f'{x=}'` form). */
  readonly echo?: string;
  readonly conversion?: 'r' | 's' | 'a';
  readonly spec?: readonly (string | FStringField)[];
}

export interface Comprehension {
  readonly target: Target;
  readonly iter: Expr;
  readonly conds: readonly Expr[];
}

export interface Param {
  readonly name: string;
  readonly default?: Expr;
  readonly kind: 'plain' | 'star' | 'starstar' | 'kwonly';
}

export type BinOp = '+' | '-' | '*' | '/' | '//' | '%' | '**' | '<<' | '>>' | '&' | '|' | '^' | '@';
export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | 'is' | 'is not';

export type Expr =
  | { readonly k: 'const'; readonly v: Literal }
  | { readonly k: 'fstring'; readonly parts: readonly (string | FStringField)[] }
  | { readonly k: 'name'; readonly id: string }
  | { readonly k: 'attr'; readonly obj: Expr; readonly name: string }
  | { readonly k: 'index'; readonly obj: Expr; readonly index: Expr }
  | { readonly k: 'slice'; readonly lo?: Expr; readonly hi?: Expr; readonly step?: Expr }
  | { readonly k: 'call'; readonly fn: Expr; readonly args: readonly Expr[]; readonly kwargs: readonly { readonly name?: string; readonly value: Expr }[] }
  | { readonly k: 'unary'; readonly op: '-' | '+' | '~' | 'not'; readonly operand: Expr }
  | { readonly k: 'bin'; readonly op: BinOp; readonly left: Expr; readonly right: Expr }
  | { readonly k: 'bool'; readonly op: 'and' | 'or'; readonly values: readonly Expr[] }
  | { readonly k: 'compare'; readonly first: Expr; readonly rest: readonly (readonly [CmpOp, Expr])[] }
  | { readonly k: 'ifexp'; readonly test: Expr; readonly body: Expr; readonly orelse: Expr }
  | { readonly k: 'lambda'; readonly params: readonly Param[]; readonly body: Expr }
  | { readonly k: 'walrus'; readonly name: string; readonly value: Expr }
  | { readonly k: 'list' | 'tuple' | 'set'; readonly elts: readonly Expr[] }
  | { readonly k: 'dict'; readonly items: readonly ({ readonly key: Expr; readonly value: Expr } | { readonly spread: Expr })[] }
  | { readonly k: 'comp'; readonly kind: 'list' | 'set' | 'gen'; readonly elt: Expr; readonly gens: readonly Comprehension[] }
  | { readonly k: 'dictcomp'; readonly key: Expr; readonly value: Expr; readonly gens: readonly Comprehension[] }
  | { readonly k: 'star'; readonly value: Expr }
  | { readonly k: 'starstar'; readonly value: Expr };

export class PySyntaxError extends Error {
  constructor(message: string, readonly offset?: number) {
    super(message);
  }
}

type Token =
  | { readonly t: 'name'; readonly v: string; readonly at: number }
  | { readonly t: 'num'; readonly v: Literal; readonly at: number }
  | { readonly t: 'str'; readonly v: StringPiece; readonly at: number }
  | { readonly t: 'op'; readonly v: string; readonly at: number }
  | { readonly t: 'end'; readonly at: number };

type StringPiece = { readonly kind: 'str'; readonly v: string } | { readonly kind: 'bytes'; readonly v: Uint8Array } | { readonly kind: 'f'; readonly body: string; readonly raw: boolean; readonly at: number };

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else', 'except',
  'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try',
  'while', 'with', 'yield',
]);

const OPERATORS = [
  '...', '**=', '//=', '>>=', '<<=', ':=', '**', '//', '<<', '>>', '<=', '>=', '==', '!=', '->', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=',
  '+', '-', '*', '/', '%', '@', '&', '|', '^', '~', '<', '>', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '=', '!',
];

const NAME_START = /[\p{L}\p{Nl}_]/u;
const NAME_REST = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_]*/uy;
const NUMBER = /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:(?:\d(?:_?\d)*)?\.\d(?:_?\d)*|\d(?:_?\d)*\.?)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?)/y;
const STRING_PREFIX = /(?:[rR][bBfF]?|[bBfF][rR]?|[uU])?(?='|")/y;

/** Longest text the parser accepts, and deepest nesting: bounds on its work and on the call stack. */
export const MAX_EXPRESSION_LENGTH = 1_000_000;
const MAX_DEPTH = 200;

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\', "'": "'", '"': '"', n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };

function decodeEscapes(body: string, bytes: boolean, at: number): string {
  let out = '';
  let i = 0;
  while (i < body.length) {
    const backslash = body.indexOf('\\', i);
    if (backslash < 0) {
      out += body.slice(i);
      break;
    }
    out += body.slice(i, backslash);
    const next = body[backslash + 1] ?? '';
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      out += simple;
      i = backslash + 2;
      continue;
    }
    const hexLength = next === 'x' ? 2 : bytes ? 0 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = body.slice(backslash + 2, backslash + 2 + hexLength);
      if (hex.length !== hexLength || !/^[0-9a-fA-F]+$/.test(hex)) throw new PySyntaxError(`truncated \\${next} escape`, at);
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) throw new PySyntaxError('illegal Unicode character', at);
      out += String.fromCodePoint(code);
      i = backslash + 2 + hexLength;
      continue;
    }
    const octal = /^[0-7]{1,3}/.exec(body.slice(backslash + 1, backslash + 4));
    if (octal) {
      out += String.fromCodePoint(parseInt(octal[0], 8) & (bytes ? 0xff : 0x1ff));
      i = backslash + 1 + octal[0].length;
      continue;
    }
    if (next === 'N' && !bytes) throw new PySyntaxError('\\N{...} escapes are not supported here', at);
    out += '\\' + next;
    i = backslash + 2;
  }
  return out;
}

function toBytes(text: string, at: number): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new PySyntaxError('bytes can only contain ASCII literal characters', at);
    out[i] = code;
  }
  return out;
}

function numberLiteral(text: string, at: number): Literal {
  const clean = text.replace(/_/g, '');
  if (/[jJ]$/.test(clean)) return { t: 'complex', re: 0, im: Number(clean.slice(0, -1)) };
  if (/^0[xXoObB]/.test(clean)) return { t: 'int', v: BigInt(clean.toLowerCase()) };
  if (/^\d+$/.test(clean)) {
    if (clean.length > 1 && clean.startsWith('0') && !/^0+$/.test(clean)) throw new PySyntaxError('leading zeros in decimal integer literals are not permitted', at);
    if (clean.length > 5000) throw new PySyntaxError('integer literal too long (more than 5000 digits)', at);
    return { t: 'int', v: BigInt(clean) };
  }
  return { t: 'float', v: Number(clean) };
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === '\\' && (source[i + 1] === '\n' || (source[i + 1] === '\r' && source[i + 2] === '\n'))) {
      i += source[i + 1] === '\n' ? 2 : 3;
      continue;
    }
    if (c === '#') {
      const end = source.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    STRING_PREFIX.lastIndex = i;
    const prefix = STRING_PREFIX.exec(source);
    if (prefix) {
      const at = i;
      const flags = prefix[0].toLowerCase();
      let j = i + prefix[0].length;
      const quote = source[j]!;
      const triple = source.startsWith(quote.repeat(3), j);
      const close = triple ? quote.repeat(3) : quote;
      j += close.length;
      const start = j;
      for (;;) {
        if (j >= n) throw new PySyntaxError('unterminated string literal', at);
        const d = source[j]!;
        if (d === '\\') j += 2;
        else if (source.startsWith(close, j)) break;
        else if (!triple && d === '\n') throw new PySyntaxError('unterminated string literal', at);
        else j++;
      }
      const body = source.slice(start, j);
      i = j + close.length;
      const raw = flags.includes('r');
      let piece: StringPiece;
      if (flags.includes('f')) piece = { kind: 'f', body, raw, at: start };
      else if (flags.includes('b')) piece = { kind: 'bytes', v: toBytes(raw ? body : decodeEscapes(body, true, at), at) };
      else piece = { kind: 'str', v: raw ? body : decodeEscapes(body, false, at) };
      tokens.push({ t: 'str', v: piece, at });
      continue;
    }
    if (NAME_START.test(c) || (c >= '\ud800' && c <= '\udbff' && NAME_START.test(source.slice(i, i + 2)))) {
      NAME_REST.lastIndex = i + (c >= '\ud800' && c <= '\udbff' ? 2 : 1);
      NAME_REST.exec(source);
      const name = source.slice(i, NAME_REST.lastIndex).normalize('NFKC');
      tokens.push({ t: 'name', v: name, at: i });
      i = NAME_REST.lastIndex;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(source[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(source);
      if (match) {
        const after = source[NUMBER.lastIndex] ?? '';
        if (/[\p{L}\p{Nd}_]/u.test(after)) throw new PySyntaxError('invalid decimal literal', i);
        tokens.push({ t: 'num', v: numberLiteral(match[0], i), at: i });
        i = NUMBER.lastIndex;
        continue;
      }
    }
    const op = OPERATORS.find((candidate) => source.startsWith(candidate, i));
    if (!op) throw new PySyntaxError(`invalid character '${String.fromCodePoint(source.codePointAt(i) ?? 0)}'`, i);
    tokens.push({ t: 'op', v: op, at: i });
    i += op.length;
  }
  tokens.push({ t: 'end', at: n });
  return tokens;
}

const COMPARE_OPS = new Set(['==', '!=', '<', '<=', '>', '>=']);

class Parser {
  private position = 0;
  private depth = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  parseWhole(): Expr {
    const expr = this.starExpressions();
    const token = this.peek();
    if (token.t !== 'end') throw new PySyntaxError(token.t === 'op' && token.v === '=' ? 'assignment is not allowed in an expression' : 'invalid syntax', token.at);
    checkAssignmentExpressions(expr, [], false);
    return expr;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.position + offset, this.tokens.length - 1)]!;
  }
  private isOp(op: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.t === 'op' && token.v === op;
  }
  private isWord(word: string): boolean {
    const token = this.peek();
    return token.t === 'name' && token.v === word;
  }
  private eatOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.position++;
    return true;
  }
  private eatWord(word: string): boolean {
    if (!this.isWord(word)) return false;
    this.position++;
    return true;
  }
  private expectOp(op: string): void {
    if (!this.eatOp(op)) {
      const token = this.peek();
      throw new PySyntaxError(token.t === 'end' ? `'${op}' was expected before the end of the expression` : 'invalid syntax', token.at);
    }
  }

  private nested<T>(body: () => T): T {
    if (++this.depth > MAX_DEPTH) throw new PySyntaxError('too many nested parentheses or operators', this.peek().at);
    try {
      return body();
    } finally {
      this.depth--;
    }
  }

  /** `a, b, *c` as a tuple, or a single expression. */
  private starExpressions(): Expr {
    const first = this.starOrNamed();
    if (!this.isOp(',')) {
      if (first.k === 'star') throw new PySyntaxError("can't use starred expression here", this.peek().at);
      return first;
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.atExpressionEnd()) break;
      elts.push(this.starOrNamed());
    }
    return { k: 'tuple', elts };
  }

  private atExpressionEnd(): boolean {
    const token = this.peek();
    return token.t === 'end' || (token.t === 'op' && [')', ']', '}', ':', '=', '!'].includes(token.v)) || (token.t === 'name' && (token.v === 'for' || token.v === 'async'));
  }

  private starOrNamed(): Expr {
    if (this.eatOp('*')) return { k: 'star', value: this.bitOr() };
    return this.namedExpression();
  }

  private namedExpression(): Expr {
    const token = this.peek();
    if (token.t === 'name' && !KEYWORDS.has(token.v) && this.isOp(':=', 1)) {
      this.position += 2;
      return { k: 'walrus', name: token.v, value: this.expression() };
    }
    return this.expression();
  }

  expression(): Expr {
    return this.nested(() => {
      if (this.isWord('lambda')) return this.lambda();
      const body = this.disjunction();
      if (this.eatWord('if')) {
        const test = this.disjunction();
        if (!this.eatWord('else')) throw new PySyntaxError("expected 'else' after 'if' expression", this.peek().at);
        const orelse = this.expression();
        return { k: 'ifexp', test, body, orelse };
      }
      return body;
    });
  }

  private expressionNoCond(): Expr {
    return this.isWord('lambda') ? this.lambda(true) : this.disjunction();
  }

  private lambda(noCond = false): Expr {
    this.position++;
    const params: Param[] = [];
    let keywordOnly = false;
    while (!this.isOp(':')) {
      let kind: Param['kind'] = keywordOnly ? 'kwonly' : 'plain';
      if (this.eatOp('**')) kind = 'starstar';
      else if (this.eatOp('*')) {
        kind = 'star';
        keywordOnly = true;
        if (this.isOp(',')) {
          this.position++;
          continue;
        }
      } else if (this.eatOp('/')) {
        if (!this.isOp(':')) this.expectOp(',');
        continue;
      }
      const name = this.peek();
      if (name.t !== 'name' || KEYWORDS.has(name.v)) throw new PySyntaxError('invalid lambda parameter', name.at);
      this.position++;
      if (params.some((param) => param.name === name.v)) throw new PySyntaxError(`duplicate argument '${name.v}' in function definition`, name.at);
      const param: Param = this.eatOp('=') ? { name: name.v, kind, default: this.expression() } : { name: name.v, kind };
      params.push(param);
      if (!this.isOp(':')) this.expectOp(',');
    }
    this.expectOp(':');
    const body = noCond ? this.expressionNoCond() : this.expression();
    return { k: 'lambda', params, body };
  }

  private disjunction(): Expr {
    return this.boolChain('or', () => this.conjunction());
  }
  private conjunction(): Expr {
    return this.boolChain('and', () => this.inversion());
  }
  private boolChain(op: 'and' | 'or', next: () => Expr): Expr {
    const first = next();
    if (!this.isWord(op)) return first;
    const values = [first];
    while (this.eatWord(op)) values.push(next());
    return { k: 'bool', op, values };
  }
  private inversion(): Expr {
    if (this.eatWord('not')) return this.nested(() => ({ k: 'unary', op: 'not', operand: this.inversion() }));
    return this.comparison();
  }
  private comparison(): Expr {
    const first = this.bitOr();
    const rest: [CmpOp, Expr][] = [];
    for (;;) {
      const token = this.peek();
      let op: CmpOp | undefined;
      if (token.t === 'op' && COMPARE_OPS.has(token.v)) {
        op = token.v as CmpOp;
        this.position++;
      } else if (this.isWord('in')) {
        this.position++;
        op = 'in';
      } else if (this.isWord('not') && this.peek(1).t === 'name' && (this.peek(1) as { v: string }).v === 'in') {
        this.position += 2;
        op = 'not in';
      } else if (this.eatWord('is')) {
        op = this.eatWord('not') ? 'is not' : 'is';
      }
      if (!op) break;
      rest.push([op, this.bitOr()]);
    }
    return rest.length === 0 ? first : { k: 'compare', first, rest };
  }

  private binaryLevel(ops: readonly string[], next: () => Expr): Expr {
    let left = next();
    for (;;) {
      const token = this.peek();
      if (token.t !== 'op' || !ops.includes(token.v)) return left;
      this.position++;
      const right = next();
      left = { k: 'bin', op: token.v as BinOp, left, right };
    }
  }
  private bitOr(): Expr {
    return this.nested(() => this.binaryLevel(['|'], () => this.binaryLevel(['^'], () => this.binaryLevel(['&'], () => this.shift()))));
  }
  private shift(): Expr {
    return this.binaryLevel(['<<', '>>'], () => this.binaryLevel(['+', '-'], () => this.term()));
  }
  private term(): Expr {
    return this.binaryLevel(['*', '/', '//', '%', '@'], () => this.factor());
  }
  private factor(): Expr {
    const token = this.peek();
    if (token.t === 'op' && (token.v === '-' || token.v === '+' || token.v === '~')) {
      this.position++;
      return this.nested(() => ({ k: 'unary', op: token.v as '-' | '+' | '~', operand: this.factor() }));
    }
    return this.power();
  }
  private power(): Expr {
    const base = this.primary();
    if (this.eatOp('**')) return this.nested(() => ({ k: 'bin', op: '**', left: base, right: this.factor() }));
    return base;
  }

  private primary(): Expr {
    if (this.isWord('await')) throw new PySyntaxError("'await' is not allowed here", this.peek().at);
    let expr = this.atom();
    let trailers = 0;
    for (;;) {
      if (++trailers > MAX_DEPTH * 50) throw new PySyntaxError('expression too long', this.peek().at);
      if (this.eatOp('.')) {
        const name = this.peek();
        if (name.t !== 'name' || KEYWORDS.has(name.v)) throw new PySyntaxError('invalid syntax', name.at);
        this.position++;
        expr = { k: 'attr', obj: expr, name: name.v };
      } else if (this.eatOp('[')) {
        const index = this.nested(() => this.slices());
        this.expectOp(']');
        expr = { k: 'index', obj: expr, index };
      } else if (this.eatOp('(')) {
        expr = this.nested(() => this.call(expr));
      } else return expr;
    }
  }

  private slices(): Expr {
    const first = this.sliceItem();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp(']')) break;
      elts.push(this.sliceItem());
    }
    return { k: 'tuple', elts };
  }
  private sliceItem(): Expr {
    let lo: Expr | undefined;
    if (!this.isOp(':')) {
      lo = this.starOrNamed();
      if (!this.isOp(':')) return lo;
    }
    this.expectOp(':');
    const hi = this.isOp(':') || this.isOp(']') || this.isOp(',') ? undefined : this.expression();
    let step: Expr | undefined;
    if (this.eatOp(':') && !this.isOp(']') && !this.isOp(',')) step = this.expression();
    return { k: 'slice', ...(lo ? { lo } : {}), ...(hi ? { hi } : {}), ...(step ? { step } : {}) };
  }

  private call(fn: Expr): Expr {
    const args: Expr[] = [];
    const kwargs: { name?: string; value: Expr }[] = [];
    while (!this.isOp(')')) {
      const token = this.peek();
      if (this.eatOp('**')) kwargs.push({ value: this.expression() });
      else if (this.eatOp('*')) {
        if (kwargs.length > 0 && kwargs.some((kw) => kw.name === undefined)) throw new PySyntaxError('iterable argument unpacking follows keyword argument unpacking', token.at);
        args.push({ k: 'star', value: this.expression() });
      } else if (token.t === 'name' && this.isOp('=', 1)) {
        if (KEYWORDS.has(token.v)) throw new PySyntaxError('invalid syntax', token.at);
        this.position += 2;
        if (kwargs.some((kw) => kw.name === token.v)) throw new PySyntaxError(`keyword argument repeated: ${token.v}`, token.at);
        kwargs.push({ name: token.v, value: this.expression() });
      } else {
        if (kwargs.length > 0) throw new PySyntaxError('positional argument follows keyword argument', token.at);
        const value = this.namedExpression();
        if (this.isWord('for') || this.isWord('async')) {
          const gens = this.comprehensions();
          args.push({ k: 'comp', kind: 'gen', elt: value, gens });
          if (!this.isOp(')') || args.length > 1 || kwargs.length > 0) throw new PySyntaxError('Generator expression must be parenthesized', token.at);
        } else args.push(value);
      }
      if (!this.isOp(')')) this.expectOp(',');
    }
    this.position++;
    return { k: 'call', fn, args, kwargs };
  }

  private comprehensions(): Comprehension[] {
    const gens: Comprehension[] = [];
    while (this.isWord('for') || this.isWord('async')) {
      if (this.isWord('async')) throw new PySyntaxError('asynchronous comprehensions are not allowed here', this.peek().at);
      this.position++;
      const target = this.targetList();
      if (!this.eatWord('in')) throw new PySyntaxError("expected 'in'", this.peek().at);
      const iter = this.disjunction();
      const conds: Expr[] = [];
      while (this.eatWord('if')) conds.push(this.expressionNoCond());
      gens.push({ target, iter, conds });
    }
    return gens;
  }

  private targetList(): Target {
    const first = this.target();
    if (!this.isOp(',')) return first.star ? this.starTargetError() : first.target;
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isWord('in')) break;
      elts.push(this.target());
    }
    return this.tupleTarget(elts);
  }
  private starTargetError(): never {
    throw new PySyntaxError('starred assignment target must be in a list or tuple', this.peek().at);
  }
  private tupleTarget(elts: readonly { target: Target; star: boolean }[]): Target {
    const stars = elts.flatMap((elt, index) => (elt.star ? [index] : []));
    if (stars.length > 1) throw new PySyntaxError('multiple starred expressions in assignment', this.peek().at);
    return { k: 'tuple', elts: elts.map((elt) => elt.target), star: stars[0] ?? -1 };
  }
  private target(): { target: Target; star: boolean } {
    return this.nested(() => {
      const star = this.eatOp('*');
      const token = this.peek();
      if (token.t === 'name' && !KEYWORDS.has(token.v)) {
        this.position++;
        return { target: { k: 'name', id: token.v }, star };
      }
      const close = this.eatOp('(') ? ')' : this.eatOp('[') ? ']' : undefined;
      if (!close) throw new PySyntaxError('cannot assign to this target', token.at);
      const elts: { target: Target; star: boolean }[] = [];
      while (!this.isOp(close)) {
        elts.push(this.target());
        if (!this.isOp(close)) this.expectOp(',');
      }
      this.position++;
      if (close === ')' && elts.length === 1 && !elts[0]!.star && !(this.tokens[this.position - 2]?.t === 'op' && (this.tokens[this.position - 2] as { v: string }).v === ',')) {
        return { target: elts[0]!.target, star };
      }
      return { target: this.tupleTarget(elts), star };
    });
  }

  private atom(): Expr {
    const token = this.peek();
    switch (token.t) {
      case 'end':
        throw new PySyntaxError('the expression ends too early', token.at);
      case 'num':
        this.position++;
        return { k: 'const', v: token.v };
      case 'str':
        return this.strings();
      case 'name': {
        this.position++;
        if (token.v === 'None') return { k: 'const', v: { t: 'None' } };
        if (token.v === 'True' || token.v === 'False') return { k: 'const', v: { t: 'bool', v: token.v === 'True' } };
        if (KEYWORDS.has(token.v)) throw new PySyntaxError(`'${token.v}' is not allowed here`, token.at);
        return { k: 'name', id: token.v };
      }
      case 'op':
        this.position++;
        switch (token.v) {
          case '...':
            return { k: 'const', v: { t: 'ellipsis' } };
          case '(':
            return this.nested(() => this.parenthesized());
          case '[':
            return this.nested(() => this.listDisplay());
          case '{':
            return this.nested(() => this.braceDisplay());
        }
        throw new PySyntaxError(token.v === ')' || token.v === ']' || token.v === '}' ? `unmatched '${token.v}'` : 'invalid syntax', token.at);
    }
  }

  private strings(): Expr {
    const pieces: StringPiece[] = [];
    let at = this.peek().at;
    while (this.peek().t === 'str') {
      const token = this.peek() as Extract<Token, { t: 'str' }>;
      at = token.at;
      pieces.push(token.v);
      this.position++;
    }
    const isBytes = pieces.map((piece) => piece.kind === 'bytes');
    if (isBytes.some((b) => b) && !isBytes.every((b) => b)) throw new PySyntaxError('cannot mix bytes and nonbytes literals', at);
    if (isBytes[0]) {
      const parts = pieces.map((piece) => (piece as { v: Uint8Array }).v);
      const total = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
      let offset = 0;
      for (const part of parts) {
        total.set(part, offset);
        offset += part.length;
      }
      return { k: 'const', v: { t: 'bytes', v: total } };
    }
    if (!pieces.some((piece) => piece.kind === 'f')) return { k: 'const', v: { t: 'str', v: pieces.map((piece) => (piece as { v: string }).v).join('') } };
    const parts: (string | FStringField)[] = [];
    for (const piece of pieces) {
      if (piece.kind === 'str') parts.push(piece.v);
      else if (piece.kind === 'f') for (const part of parseFString(piece.body, piece.raw, piece.at, this.depth)) parts.push(part);
    }
    return { k: 'fstring', parts };
  }

  private parenthesized(): Expr {
    if (this.eatOp(')')) return { k: 'tuple', elts: [] };
    if (this.isWord('yield')) throw new PySyntaxError("'yield' is not allowed here", this.peek().at);
    const first = this.starOrNamed();
    if (this.isWord('for') || this.isWord('async')) {
      const gens = this.comprehensions();
      this.expectOp(')');
      return { k: 'comp', kind: 'gen', elt: first, gens };
    }
    if (this.eatOp(')')) {
      if (first.k === 'star') throw new PySyntaxError('cannot use starred expression here', this.peek().at);
      return first;
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp(')')) break;
      elts.push(this.starOrNamed());
    }
    this.expectOp(')');
    return { k: 'tuple', elts };
  }

  private listDisplay(): Expr {
    if (this.eatOp(']')) return { k: 'list', elts: [] };
    const first = this.starOrNamed();
    if (this.isWord('for') || this.isWord('async')) {
      const gens = this.comprehensions();
      this.expectOp(']');
      return { k: 'comp', kind: 'list', elt: first, gens };
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp(']')) break;
      elts.push(this.starOrNamed());
    }
    this.expectOp(']');
    return { k: 'list', elts };
  }

  private braceDisplay(): Expr {
    if (this.eatOp('}')) return { k: 'dict', items: [] };
    if (this.eatOp('**')) return this.dictRest({ spread: this.bitOr() });
    const first = this.starOrNamed();
    if (this.eatOp(':')) {
      const value = this.expression();
      if (this.isWord('for') || this.isWord('async')) {
        const gens = this.comprehensions();
        this.expectOp('}');
        return { k: 'dictcomp', key: first, value, gens };
      }
      return this.dictRest({ key: first, value });
    }
    if (this.isWord('for') || this.isWord('async')) {
      const gens = this.comprehensions();
      this.expectOp('}');
      return { k: 'comp', kind: 'set', elt: first, gens };
    }
    const elts = [first];
    while (this.eatOp(',')) {
      if (this.isOp('}')) break;
      elts.push(this.starOrNamed());
    }
    this.expectOp('}');
    return { k: 'set', elts };
  }

  private dictRest(first: { key: Expr; value: Expr } | { spread: Expr }): Expr {
    const items = [first];
    while (this.eatOp(',')) {
      if (this.isOp('}')) break;
      if (this.eatOp('**')) items.push({ spread: this.bitOr() });
      else {
        const key = this.expression();
        this.expectOp(':');
        items.push({ key, value: this.expression() });
      }
    }
    this.expectOp('}');
    return { k: 'dict', items };
  }
}

/** Splits an f-string body into literal text and `{expression!conversion:spec}` fields. */
function parseFString(body: string, raw: boolean, at: number, depth: number): (string | FStringField)[] {
  if (depth > MAX_DEPTH / 4) throw new PySyntaxError('f-string: expressions nested too deeply', at);
  const parts: (string | FStringField)[] = [];
  let text = '';
  let i = 0;
  const flushText = () => {
    if (text !== '') parts.push(raw ? text : decodeEscapes(text, false, at));
    text = '';
  };
  while (i < body.length) {
    const c = body[i]!;
    if (c === '{' && body[i + 1] === '{') {
      text += '{';
      i += 2;
    } else if (c === '}' && body[i + 1] === '}') {
      text += '}';
      i += 2;
    } else if (c === '}') {
      throw new PySyntaxError("f-string: single '}' is not allowed", at + i);
    } else if (c === '{') {
      flushText();
      const { field, end } = parseFStringField(body, i + 1, raw, at, depth);
      parts.push(field);
      i = end;
    } else if (c === '\\' && !raw) {
      text += body.slice(i, i + 2);
      i += 2;
    } else {
      text += c;
      i++;
    }
  }
  flushText();
  return parts;
}

function parseFStringField(body: string, start: number, raw: boolean, at: number, depth: number): { field: FStringField; end: number } {
  let i = start;
  let nesting = 0;
  let exprEnd = -1;
  while (i < body.length) {
    const c = body[i]!;
    if (c === "'" || c === '"') {
      const close = body.indexOf(c, i + 1);
      if (close < 0) throw new PySyntaxError('f-string: unterminated string', at + i);
      i = close + 1;
      continue;
    }
    if (c === '\\') throw new PySyntaxError('f-string expression part cannot include a backslash', at + i);
    if (c === '#') throw new PySyntaxError("f-string expression part cannot include '#'", at + i);
    if (c === '(' || c === '[' || c === '{') nesting++;
    else if (c === ')' || c === ']' || (c === '}' && nesting > 0)) nesting--;
    else if (nesting === 0 && (c === '}' || c === ':' || (c === '!' && body[i + 1] !== '='))) {
      exprEnd = i;
      break;
    }
    i++;
  }
  if (exprEnd < 0) throw new PySyntaxError("f-string: expecting '}'", at + start);
  let exprText = body.slice(start, exprEnd);
  let echo: string | undefined;
  const echoMatch = /^(.*[^=!<>])=(\s*)$/s.exec(exprText);
  if (echoMatch && !/[=!<>]$/.test(echoMatch[1]!.trimEnd())) {
    echo = exprText;
    exprText = echoMatch[1]!;
  }
  if (exprText.trim() === '') throw new PySyntaxError('f-string: empty expression not allowed', at + start);
  const expr = parseExpressionAt(`(${exprText})`, depth + 1);
  i = exprEnd;
  let conversion: FStringField['conversion'];
  if (body[i] === '!') {
    const letter = body[i + 1];
    if (letter !== 'r' && letter !== 's' && letter !== 'a') throw new PySyntaxError("f-string: invalid conversion character: expected 's', 'r', or 'a'", at + i);
    conversion = letter;
    i += 2;
  }
  let spec: (string | FStringField)[] | undefined;
  if (body[i] === ':') {
    i++;
    spec = [];
    let text = '';
    while (i < body.length && body[i] !== '}') {
      if (body[i] === '{') {
        if (text !== '') spec.push(text);
        text = '';
        const inner = parseFStringField(body, i + 1, raw, at, depth + 1);
        spec.push(inner.field);
        i = inner.end;
      } else {
        text += body[i];
        i++;
      }
    }
    if (text !== '') spec.push(text);
  }
  if (body[i] !== '}') throw new PySyntaxError("f-string: expecting '}'", at + i);
  const field: FStringField = { expr, ...(echo !== undefined ? { echo } : {}), ...(conversion ? { conversion } : {}), ...(spec ? { spec } : {}) };
  return { field, end: i + 1 };
}

function parseExpressionAt(source: string, depth: number): Expr {
  if (source.length > MAX_EXPRESSION_LENGTH) throw new PySyntaxError(`the expression is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const parser = new Parser(tokenize(source));
  (parser as unknown as { depth: number }).depth = depth;
  return parser.parseWhole();
}

/** The syntax tree of one expression; throws PySyntaxError. */
export function parseExpression(source: string): Expr {
  return parseExpressionAt(source, 0);
}

/**
 * PEP 572's compile-time rules for `:=` in comprehensions, which CPython enforces before anything runs: it cannot rebind
 * an iteration variable of an enclosing comprehension, nor appear in a comprehension's iterable. A lambda starts afresh.
 */
function checkAssignmentExpressions(node: unknown, iterationNames: readonly (readonly string[])[], inIterable: boolean): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const item of node) checkAssignmentExpressions(item, iterationNames, inIterable);
    return;
  }
  const expr = node as { readonly k?: unknown };
  if (expr.k === 'walrus') {
    const walrus = node as Extract<Expr, { k: 'walrus' }>;
    if (inIterable) throw new PySyntaxError('assignment expression cannot be used in a comprehension iterable expression', 0);
    if (iterationNames.some((names) => names.includes(walrus.name))) {
      throw new PySyntaxError(`assignment expression cannot rebind comprehension iteration variable '${walrus.name}'`, 0);
    }
    return checkAssignmentExpressions(walrus.value, iterationNames, inIterable);
  }
  if (expr.k === 'lambda') {
    const lambda = node as Extract<Expr, { k: 'lambda' }>;
    return checkAssignmentExpressions([lambda.params, lambda.body], [], false);
  }
  if (expr.k === 'comp' || expr.k === 'dictcomp') {
    const comp = node as Extract<Expr, { k: 'comp' | 'dictcomp' }>;
    const names = comp.gens.flatMap((gen) => targetNames(gen.target));
    const inner = [...iterationNames, names];
    for (const gen of comp.gens) {
      checkAssignmentExpressions(gen.iter, iterationNames, true);
      checkAssignmentExpressions(gen.conds, inner, inIterable);
    }
    return checkAssignmentExpressions(comp.k === 'comp' ? comp.elt : [comp.key, comp.value], inner, inIterable);
  }
  for (const value of Object.values(node)) checkAssignmentExpressions(value, iterationNames, inIterable);
}

function targetNames(target: Target): string[] {
  return target.k === 'name' ? [target.id] : target.elts.flatMap(targetNames);
}
