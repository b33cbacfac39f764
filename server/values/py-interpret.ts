// Interprets a parsed debugger expression over one frame's values: Python semantics for a fixed list of node kinds,
// builtins and methods of built-in value types. No attribute outside that list exists, so nothing reaches a frame,
// a module, a file, a process or the environment. Work, time, depth and sizes are bounded.
import { TRUNCATION_MARKER } from '../trace/model';
import { parseRepr, type ReprNode } from './pyrepr';
import { parseExpression, PySyntaxError, type Comprehension, type Expr, type FStringField, type Literal, type Target } from './py-parse';
import {
  asFloat, asInt, bool, checkCount, checkIntBits, codePoints, compareReal, ELLIPSIS, FALSE, float, floatRepr, hashKey, int,
  intToFloat, isNumber, isTrue, LimitError, list, MAX_ITEMS, MAX_STRING, NONE, PyException, pyEquals, pyIs, pyLess, rangeItem, rangeLength,
  reprOf, setOrder, str, strLength, withAllocationBudget, chargeItems, chargeChars, strOf, strRepr, textOnly, TRUE, truthOf, tuple, typeName, type DictFlavor, type PyMap, type PyOf, type PyValue,
  type Scope,
} from './py-values';

export interface Limits {
  /** Interpreter steps (nodes evaluated, items iterated) one evaluation may take. */
  readonly maxSteps: number;
  /** Wall-clock bound of one evaluation. */
  readonly timeMs: number;
  /** Nested lambda calls and comprehensions. */
  readonly maxDepth: number;
}

export const DEFAULT_LIMITS: Limits = { maxSteps: 5_000_000, timeMs: 1000, maxDepth: 100 };

/** The frame's values: repr text by name, turned into values only when the expression names them. */
export type FrameValues = ReadonlyMap<string, string>;

class Context {
  steps = 0;
  depth = 0;
  private readonly deadline: number;
  readonly converted = new Map<string, PyValue>();
  constructor(
    readonly limits: Limits,
    readonly locals: FrameValues,
  ) {
    this.deadline = Date.now() + limits.timeMs;
  }
  tick(count = 1): void {
    this.steps += count;
    if (this.steps > this.limits.maxSteps) throw new LimitError(`the expression did more than ${this.limits.maxSteps.toLocaleString('en-US')} steps of work`);
    if ((this.steps & 0x3ff) < count && Date.now() > this.deadline) throw new LimitError(`the expression ran longer than ${this.limits.timeMs / 1000} s`);
  }
  enter(): void {
    if (++this.depth > this.limits.maxDepth) throw new PyException('RecursionError', 'maximum recursion depth exceeded');
  }
  leave(): void {
    this.depth--;
  }
}

// ---- values from repr text ---------------------------------------------------------------------------------------

const MAX_CONVERT_DEPTH = 100;

function literalValue(literal: Literal): PyValue {
  switch (literal.t) {
    case 'int':
      return { t: 'int', v: literal.v };
    case 'float':
      return { t: 'float', v: literal.v };
    case 'complex':
      return { t: 'complex', re: literal.re, im: literal.im };
    case 'str':
      return { t: 'str', v: literal.v };
    case 'bytes':
      return { t: 'bytes', v: literal.v, mutable: false };
    case 'None':
      return NONE;
    case 'bool':
      return bool(literal.v);
    case 'ellipsis':
      return ELLIPSIS;
  }
}

const NUMBER_NAMES: Readonly<Record<string, number>> = { inf: Infinity, nan: NaN };

/** The value of an atom's repr (number, str, bytes, complex), or undefined. */
function atomValue(text: string): PyValue | undefined {
  if (text in NUMBER_NAMES) return float(NUMBER_NAMES[text]!);
  if (text === '-inf') return float(-Infinity);
  let expr: Expr;
  try {
    expr = parseExpression(text);
  } catch {
    return undefined;
  }
  const number = (e: Expr): PyValue | undefined => {
    if (e.k === 'const') return e.v.t === 'int' || e.v.t === 'float' || e.v.t === 'complex' ? literalValue(e.v) : undefined;
    if (e.k === 'name' && e.id in NUMBER_NAMES) return float(NUMBER_NAMES[e.id]!);
    if (e.k === 'name' && (e.id === 'infj' || e.id === 'nanj')) return { t: 'complex', re: 0, im: NUMBER_NAMES[e.id.slice(0, 3)]! };
    if (e.k === 'unary' && (e.op === '-' || e.op === '+')) {
      const inner = number(e.operand);
      if (!inner || e.op === '+') return inner;
      if (inner.t === 'int') return int(-inner.v);
      if (inner.t === 'float') return float(-inner.v);
      if (inner.t === 'complex') return { t: 'complex', re: -inner.re, im: -inner.im };
    }
    return undefined;
  };
  if (expr.k === 'const') return literalValue(expr.v);
  if (expr.k === 'bin' && (expr.op === '+' || expr.op === '-')) {
    const re = number(expr.left);
    const im = number(expr.right);
    if (re && im && re.t !== 'complex' && im.t === 'complex' && im.re === 0) {
      return { t: 'complex', re: asFloat(re)!, im: expr.op === '+' ? im.im : -im.im };
    }
    return undefined;
  }
  return number(expr);
}

function opaque(node: ReprNode, origin: string): PyValue {
  return { t: 'opaque', repr: node.text, node, origin };
}

const RECURSION_MARKERS = new Set(['...', '[...]', '{...}', '(...)']);
const BUILTIN_TYPE_REPR = /^<class '(\w+)'>$/;

/** Rebuilds a value from its repr when it is a literal of a built-in type; anything else stays text (opaque). */
function valueOfNode(node: ReprNode, origin: string, context: Context, depth: number): PyValue {
  context.tick();
  if (node.truncated || RECURSION_MARKERS.has(node.text) || depth > MAX_CONVERT_DEPTH) return opaque(node, origin);
  const childValues = (naming: (child: { name: string }, index: number) => string): PyValue[] | undefined => {
    const children = node.children(0, node.childCount);
    const values: PyValue[] = [];
    for (const [index, child] of children.entries()) values.push(valueOfNode(child.node, naming(child, index), context, depth + 1));
    return values;
  };
  const sequence = () => childValues((_, index) => `${origin}[${index}]`)!;
  const mapping = (): PyMap | undefined => {
    const map: PyMap = new Map();
    for (const child of node.children(0, node.childCount)) {
      const key = valueOfNode(parseRepr(child.name), `a key of ${origin}`, context, depth + 1);
      if (key.t === 'opaque') return undefined;
      const value = valueOfNode(child.node, `${origin}[${child.name}]`, context, depth + 1);
      map.set(hashKey(key), { key, value });
    }
    return map;
  };
  const setOf = (frozen: boolean): PyValue => {
    const map: PyMap = new Map();
    for (const item of sequence()) {
      if (item.t === 'opaque') return opaque(node, origin);
      map.set(hashKey(item), { key: item, value: NONE });
    }
    return { t: 'set', map, frozen };
  };
  try {
    switch (node.kind) {
      case 'None':
        return NONE;
      case 'bool':
        return bool(node.text === 'True');
      case 'ellipsis':
        return ELLIPSIS;
      case 'int':
      case 'float':
      case 'complex':
      case 'str':
      case 'bytes':
        return atomValue(node.text) ?? opaque(node, origin);
      case 'list':
        return node.naming === 'index' ? { t: 'list', items: sequence() } : opaque(node, origin);
      case 'tuple':
        return node.naming === 'index' ? { t: 'tuple', items: sequence() } : opaque(node, origin);
      case 'deque': {
        const maxlen = /maxlen=(\d+)\)$/.exec(node.suffix);
        return { t: 'deque', items: sequence(), maxlen: maxlen ? Number(maxlen[1]) : null };
      }
      case 'set':
        return setOf(false);
      case 'frozenset':
        return setOf(true);
      case 'dict':
      case 'OrderedDict':
      case 'Counter':
      case 'defaultdict': {
        if (node.naming !== 'key') return opaque(node, origin);
        const map = mapping();
        if (!map) return opaque(node, origin);
        if (node.kind === 'defaultdict') {
          const factory = /^defaultdict\((?:<class '(\w+)'>|None), /.exec(node.prefix);
          if (!factory) return opaque(node, origin);
          const name = factory[1];
          if (name !== undefined && !CONSTRUCTOR_TYPES.has(name)) return opaque(node, origin);
          return { t: 'dict', map, flavor: 'defaultdict', factory: name === undefined ? NONE : { t: 'type', name } };
        }
        return { t: 'dict', map, flavor: node.kind as DictFlavor };
      }
      case 'range': {
        const match = /^range\((-?\d+), (-?\d+)(?:, (-?\d+))?\)$/.exec(node.text);
        return match ? { t: 'range', start: BigInt(match[1]!), stop: BigInt(match[2]!), step: BigInt(match[3] ?? '1') } : opaque(node, origin);
      }
      case 'bytearray': {
        const inner = /^bytearray\((.*)\)$/s.exec(node.text);
        const bytes = inner ? atomValue(inner[1]!) : undefined;
        return bytes?.t === 'bytes' ? { t: 'bytes', v: bytes.v, mutable: true } : opaque(node, origin);
      }
      case 'type': {
        const match = BUILTIN_TYPE_REPR.exec(node.text);
        return match && BUILTIN_TYPES.has(match[1]!) ? { t: 'type', name: match[1]! } : opaque(node, origin);
      }
      default:
        return opaque(node, origin);
    }
  } catch (error) {
    if (error instanceof LimitError) throw error;
    return opaque(node, origin);
  }
}

// ---- the interpreter ---------------------------------------------------------------------------------------------

function newScope(parent: Scope | undefined, comprehension: boolean): Scope {
  return { vars: new Map(), ...(parent ? { parent } : {}), comprehension };
}

const ITERABLE_KINDS = new Set<PyValue['t']>(['list', 'tuple', 'deque', 'str', 'bytes', 'dict', 'set', 'view', 'range', 'iterator']);

class Interpreter {
  constructor(readonly context: Context) {}

  tick(): void {
    this.context.tick();
  }

  lookup(name: string, scope: Scope): PyValue {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const value = s.vars.get(name);
      if (value !== undefined) return value;
    }
    const converted = this.context.converted.get(name);
    if (converted) return converted;
    const repr = this.context.locals.get(name);
    if (repr !== undefined) {
      const value = valueOfNode(parseRepr(repr), name, this.context, 0);
      this.context.converted.set(name, value);
      return value;
    }
    const builtin = BUILTIN_NAMES.get(name);
    if (builtin) return builtin;
    throw new PyException('NameError', `name '${name}' is not defined`);
  }

  eval(expr: Expr, scope: Scope): PyValue {
    this.tick();
    switch (expr.k) {
      case 'const':
        return literalValue(expr.v);
      case 'name':
        return this.lookup(expr.id, scope);
      case 'fstring':
        return str(this.fstring(expr.parts, scope));
      case 'attr':
        return getAttribute(this.eval(expr.obj, scope), expr.name, this);
      case 'index':
        return subscript(this.eval(expr.obj, scope), this.eval(expr.index, scope), this);
      case 'slice':
        return {
          t: 'slice',
          lo: expr.lo ? this.eval(expr.lo, scope) : NONE,
          hi: expr.hi ? this.eval(expr.hi, scope) : NONE,
          step: expr.step ? this.eval(expr.step, scope) : NONE,
        };
      case 'call':
        return this.call(expr, scope);
      case 'unary':
        return unary(expr.op, this.eval(expr.operand, scope));
      case 'bin':
        return binary(expr.op, this.eval(expr.left, scope), this.eval(expr.right, scope), this);
      case 'bool': {
        let value: PyValue = NONE;
        for (const operand of expr.values) {
          value = this.eval(operand, scope);
          const truth = isTrue(value);
          if (expr.op === 'and' ? !truth : truth) return value;
        }
        return value;
      }
      case 'compare': {
        let left = this.eval(expr.first, scope);
        for (const [op, rightExpr] of expr.rest) {
          const right = this.eval(rightExpr, scope);
          if (!compare(op, left, right, this)) return FALSE;
          left = right;
        }
        return TRUE;
      }
      case 'ifexp':
        return isTrue(this.eval(expr.test, scope)) ? this.eval(expr.body, scope) : this.eval(expr.orelse, scope);
      case 'lambda': {
        const defaults = new Map<string, PyValue>();
        for (const param of expr.params) if (param.default) defaults.set(param.name, this.eval(param.default, scope));
        return { t: 'function', params: expr.params, defaults, body: expr.body, closure: scope };
      }
      case 'walrus': {
        const value = this.eval(expr.value, scope);
        let target = scope;
        while (target.comprehension && target.parent) target = target.parent;
        target.vars.set(expr.name, value);
        return value;
      }
      case 'list':
        return list(this.elements(expr.elts, scope));
      case 'tuple':
        return tuple(this.elements(expr.elts, scope));
      case 'set': {
        const map: PyMap = new Map();
        const items = this.elements(expr.elts, scope);
        chargeItems(items.length);
        for (const item of items) map.set(hashKey(item), { key: item, value: NONE });
        return { t: 'set', map, frozen: false };
      }
      case 'dict': {
        const map: PyMap = new Map();
        for (const item of expr.items) {
          if ('spread' in item) {
            const source = this.eval(item.spread, scope);
            if (source.t !== 'dict') throw new PyException('TypeError', `'${typeName(source)}' object is not a mapping`);
            for (const [key, entry] of source.map) map.set(key, entry);
          } else {
            const key = this.eval(item.key, scope);
            const value = this.eval(item.value, scope);
            setItem(map, key, value);
          }
          checkCount(map.size);
        }
        return { t: 'dict', map, flavor: 'dict' };
      }
      case 'comp':
        return this.comprehension(expr, scope);
      case 'dictcomp': {
        const map: PyMap = new Map();
        this.context.enter();
        try {
          for (const inner of this.generate(expr.gens, 0, newScope(scope, true))) {
            setItem(map, this.eval(expr.key, inner), this.eval(expr.value, inner));
            checkCount(map.size);
          }
        } finally {
          this.context.leave();
        }
        return { t: 'dict', map, flavor: 'dict' };
      }
      case 'star':
      case 'starstar':
        throw new PyException('SyntaxError', "can't use starred expression here");
    }
  }

  private elements(elts: readonly Expr[], scope: Scope): PyValue[] {
    const out: PyValue[] = [];
    for (const elt of elts) {
      if (elt.k === 'star') {
        for (const item of this.iterate(this.eval(elt.value, scope))) {
          out.push(item);
          checkCount(out.length);
        }
      } else out.push(this.eval(elt, scope));
    }
    return out;
  }

  private comprehension(expr: Extract<Expr, { k: 'comp' }>, scope: Scope): PyValue {
    if (expr.kind === 'gen') {
      // Python evaluates the first iterable at once and the rest lazily, as the generator is consumed.
      const firstIterator = this.iterator(this.eval(expr.gens[0]!.iter, scope));
      const self = this;
      function* run(): Generator<PyValue> {
        self.context.enter();
        try {
          for (const inner of self.generate(expr.gens, 0, newScope(scope, true), firstIterator)) yield self.eval(expr.elt, inner);
        } finally {
          self.context.leave();
        }
      }
      return { t: 'iterator', kind: 'generator', it: run() };
    }
    const items: PyValue[] = [];
    const map: PyMap = new Map();
    this.context.enter();
    try {
      for (const inner of this.generate(expr.gens, 0, newScope(scope, true))) {
        const value = this.eval(expr.elt, inner);
        if (expr.kind === 'list') items.push(value);
        else map.set(hashKey(value), { key: value, value: NONE });
        checkCount(items.length + map.size);
      }
    } finally {
      this.context.leave();
    }
    return expr.kind === 'list' ? list(items) : { t: 'set', map, frozen: false };
  }

  /** The scopes in which a comprehension's element is evaluated, one per combination of its `for` clauses that passes the `if`s. */
  private *generate(gens: readonly Comprehension[], index: number, scope: Scope, first?: Iterator<PyValue>): Generator<Scope> {
    const gen = gens[index];
    if (!gen) {
      yield scope;
      return;
    }
    const iterator = first ?? this.iterator(this.eval(gen.iter, scope));
    for (let step = iterator.next(); !step.done; step = iterator.next()) {
      this.tick();
      this.bind(gen.target, step.value, scope);
      if (gen.conds.every((cond) => isTrue(this.eval(cond, scope)))) yield* this.generate(gens, index + 1, scope);
    }
  }

  bind(target: Target, value: PyValue, scope: Scope): void {
    if (target.k === 'name') {
      scope.vars.set(target.id, value);
      return;
    }
    const items = this.collect(value, MAX_ITEMS);
    const star = target.star;
    const fixed = target.elts.length - (star >= 0 ? 1 : 0);
    if (star < 0 ? items.length !== fixed : items.length < fixed) {
      throw new PyException('ValueError', items.length < fixed ? `not enough values to unpack (expected ${star < 0 ? '' : 'at least '}${fixed}, got ${items.length})` : `too many values to unpack (expected ${fixed})`);
    }
    if (star < 0) {
      target.elts.forEach((elt, i) => this.bind(elt, items[i]!, scope));
      return;
    }
    const after = target.elts.length - star - 1;
    target.elts.forEach((elt, i) => {
      if (i < star) this.bind(elt, items[i]!, scope);
      else if (i === star) this.bind(elt, list(items.slice(star, items.length - after)), scope);
      else this.bind(elt, items[items.length - (target.elts.length - i)]!, scope);
    });
  }

  private call(expr: Extract<Expr, { k: 'call' }>, scope: Scope): PyValue {
    const fn = this.eval(expr.fn, scope);
    const args: PyValue[] = [];
    for (const arg of expr.args) {
      if (arg.k === 'star') {
        for (const item of this.iterate(this.eval(arg.value, scope))) {
          args.push(item);
          checkCount(args.length);
        }
      } else args.push(this.eval(arg, scope));
    }
    const kwargs = new Map<string, PyValue>();
    for (const kw of expr.kwargs) {
      if (kw.name !== undefined) kwargs.set(kw.name, this.eval(kw.value, scope));
      else {
        const mapping = this.eval(kw.value, scope);
        if (mapping.t !== 'dict') throw new PyException('TypeError', `argument after ** must be a mapping, not ${typeName(mapping)}`);
        for (const entry of mapping.map.values()) {
          if (entry.key.t !== 'str') throw new PyException('TypeError', 'keywords must be strings');
          if (kwargs.has(entry.key.v)) throw new PyException('TypeError', `got multiple values for keyword argument '${entry.key.v}'`);
          kwargs.set(entry.key.v, entry.value);
        }
      }
    }
    return this.callValue(fn, args, kwargs);
  }

  callValue(fn: PyValue, args: readonly PyValue[], kwargs: ReadonlyMap<string, PyValue> = new Map()): PyValue {
    this.tick();
    switch (fn.t) {
      case 'builtin':
        return callBuiltin(fn.name, args, kwargs, this);
      case 'type':
        return construct(fn.name, args, kwargs, this);
      case 'method':
        return callMethod(fn.self, fn.name, args, kwargs, this);
      case 'function':
        return this.callLambda(fn, args, kwargs);
      case 'opaque':
        throw textOnly(fn);
      default:
        throw new PyException('TypeError', `'${typeName(fn)}' object is not callable`);
    }
  }

  private callLambda(fn: PyOf<'function'>, args: readonly PyValue[], kwargs: ReadonlyMap<string, PyValue>): PyValue {
    const scope = newScope(fn.closure, false);
    let position = 0;
    const remaining = new Map(kwargs);
    for (const param of fn.params) {
      if (param.kind === 'plain') {
        if (position < args.length) {
          if (remaining.has(param.name)) throw new PyException('TypeError', `<lambda>() got multiple values for argument '${param.name}'`);
          scope.vars.set(param.name, args[position++]!);
          continue;
        }
      }
      if (param.kind === 'star') {
        scope.vars.set(param.name, tuple(args.slice(position)));
        position = args.length;
        continue;
      }
      if (param.kind === 'starstar') {
        const map: PyMap = new Map();
        for (const [name, value] of remaining) setItem(map, str(name), value);
        remaining.clear();
        scope.vars.set(param.name, { t: 'dict', map, flavor: 'dict' });
        continue;
      }
      const given = remaining.get(param.name);
      if (given !== undefined) {
        scope.vars.set(param.name, given);
        remaining.delete(param.name);
      } else if (fn.defaults.has(param.name)) scope.vars.set(param.name, fn.defaults.get(param.name)!);
      else throw new PyException('TypeError', `<lambda>() missing required argument: '${param.name}'`);
    }
    if (position < args.length) throw new PyException('TypeError', `<lambda>() takes ${position} positional arguments but ${args.length} were given`);
    if (remaining.size > 0) throw new PyException('TypeError', `<lambda>() got an unexpected keyword argument '${[...remaining.keys()][0]}'`);
    this.context.enter();
    try {
      return this.eval(fn.body, scope);
    } finally {
      this.context.leave();
    }
  }

  /** An iterator over the value; a value that cannot be iterated fails here, at once, as in Python. */
  iterator(value: PyValue): Iterator<PyValue> {
    if (value.t === 'iterator') return value.it;
    if (value.t === 'opaque') throw textOnly(value);
    if (!ITERABLE_KINDS.has(value.t)) throw new PyException('TypeError', `'${typeName(value)}' object is not iterable`);
    return this.iterate(value)[Symbol.iterator]();
  }

  /** Python iteration over a value; each item costs a step. */
  *iterate(value: PyValue): Generator<PyValue> {
    switch (value.t) {
      case 'list':
      case 'tuple':
      case 'deque':
        for (let i = 0; i < value.items.length; i++) {
          this.tick();
          yield value.items[i]!;
        }
        return;
      case 'str': {
        const points = codePoints(value.v) ?? value.v;
        for (const ch of points) {
          this.tick();
          yield { t: 'str', v: ch };
        }
        return;
      }
      case 'bytes':
        for (const byte of value.v) {
          this.tick();
          yield int(byte);
        }
        return;
      case 'dict':
        for (const entry of [...value.map.values()]) {
          this.tick();
          yield entry.key;
        }
        return;
      case 'set':
        for (const key of setOrder(value.map)) {
          this.tick();
          yield key;
        }
        return;
      case 'view':
        for (const entry of [...value.dict.map.values()]) {
          this.tick();
          yield value.kind === 'dict_keys' ? entry.key : value.kind === 'dict_values' ? entry.value : tuple([entry.key, entry.value]);
        }
        return;
      case 'range': {
        const length = rangeLength(value);
        for (let i = 0n; i < length; i++) {
          this.tick();
          yield int(rangeItem(value, i));
        }
        return;
      }
      case 'iterator':
        for (let step = value.it.next(); !step.done; step = value.it.next()) {
          this.tick();
          yield step.value;
        }
        return;
      case 'opaque':
        throw textOnly(value);
      default:
        throw new PyException('TypeError', `'${typeName(value)}' object is not iterable`);
    }
  }

  collect(value: PyValue, limit = MAX_ITEMS): PyValue[] {
    if (value.t === 'list' || value.t === 'tuple' || value.t === 'deque') {
      this.context.tick(value.items.length);
      return [...value.items];
    }
    const out: PyValue[] = [];
    for (const item of this.iterate(value)) {
      out.push(item);
      if (out.length > limit) checkCount(out.length);
    }
    return out;
  }

  fstring(parts: readonly (string | FStringField)[], scope: Scope): string {
    let out = '';
    for (const part of parts) {
      if (typeof part === 'string') out += part;
      else {
        const value = this.eval(part.expr, scope);
        const spec = part.spec ? this.fstring(part.spec, scope) : '';
        const conversion = part.conversion ?? (part.echo !== undefined && !part.spec ? 'r' : undefined);
        const converted = conversion === 'r' ? str(reprOf(value)) : conversion === 's' ? str(strOf(value)) : conversion === 'a' ? str(asciiOf(value)) : value;
        out += (part.echo ?? '') + formatValue(converted, spec);
      }
      if (out.length > MAX_STRING) str(out);
    }
    return out;
  }
}

// ---- operators ---------------------------------------------------------------------------------------------------

function unary(op: '-' | '+' | '~' | 'not', value: PyValue): PyValue {
  if (op === 'not') return bool(!isTrue(value));
  const i = asInt(value);
  if (i !== undefined) return int(op === '-' ? -i : op === '+' ? i : ~i);
  if (value.t === 'float' && op !== '~') return float(op === '-' ? -value.v : value.v);
  if (value.t === 'complex' && op !== '~') return op === '-' ? { t: 'complex', re: -value.re, im: -value.im } : value;
  if (value.t === 'opaque') throw textOnly(value);
  throw new PyException('TypeError', `bad operand type for unary ${op}: '${typeName(value)}'`);
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
}

function intTrueDivide(a: bigint, b: bigint): number {
  if (b === 0n) throw new PyException('ZeroDivisionError', 'division by zero');
  const negative = (a < 0n) !== (b < 0n);
  if (a === 0n) return negative ? -0 : 0;
  const limit = 1n << 53n;
  if (a < limit && a > -limit && b < limit && b > -limit) return Number(a) / Number(b);
  // Correctly rounded, as CPython: a quotient of about 64 bits with a sticky bit for the remainder, then scaled.
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  const shift = 64 - (bitLength(x) - bitLength(y));
  if (shift > 0) x <<= BigInt(shift);
  else y <<= BigInt(-shift);
  let q = x / y;
  if (x % y !== 0n) q |= 1n;
  let result = Number(q);
  for (let e = -shift; e !== 0; ) {
    const step = Math.max(-1000, Math.min(1000, e));
    result *= 2 ** step;
    e -= step;
  }
  if (!Number.isFinite(result)) throw new PyException('OverflowError', 'integer division result too large for a float');
  return negative ? -result : result;
}

function floatMod(a: number, b: number): number {
  if (b === 0) throw new PyException('ZeroDivisionError', 'float modulo');
  let r = a % b;
  if (r !== 0 && (r < 0) !== (b < 0)) r += b;
  else if (r === 0) r = b < 0 ? -0 : 0;
  return r;
}

function complexOf(value: PyValue): [number, number] | undefined {
  if (value.t === 'complex') return [value.re, value.im];
  const real = isNumber(value) ? asFloat(value) : undefined;
  return real === undefined ? undefined : [real, 0];
}

function arithmetic(op: string, a: PyValue, b: PyValue): PyValue | undefined {
  const ai = asInt(a);
  const bi = asInt(b);
  if (ai !== undefined && bi !== undefined) {
    if (a.t === 'bool' && b.t === 'bool' && (op === '&' || op === '|' || op === '^')) {
      return bool(op === '&' ? a.v && b.v : op === '|' ? a.v || b.v : a.v !== b.v);
    }
    switch (op) {
      case '+':
        return int(ai + bi);
      case '-':
        return int(ai - bi);
      case '*':
        checkIntBits(bitLength(ai) + bitLength(bi));
        return int(ai * bi);
      case '/':
        return float(intTrueDivide(ai, bi));
      case '//':
        if (bi === 0n) throw new PyException('ZeroDivisionError', 'integer division or modulo by zero');
        return int(floorDiv(ai, bi));
      case '%':
        if (bi === 0n) throw new PyException('ZeroDivisionError', 'integer division or modulo by zero');
        return int(ai - floorDiv(ai, bi) * bi);
      case '**':
        if (bi < 0n) {
          if (ai === 0n) throw new PyException('ZeroDivisionError', '0.0 cannot be raised to a negative power');
          return float(intToFloat(ai) ** Number(bi));
        }
        if (ai !== 0n && ai !== 1n && ai !== -1n) checkIntBits(BigInt(bitLength(ai)) * bi);
        return int(ai ** bi);
      case '<<':
        if (bi < 0n) throw new PyException('ValueError', 'negative shift count');
        if (ai !== 0n) checkIntBits(BigInt(bitLength(ai)) + bi);
        return int(ai << bi);
      case '>>':
        if (bi < 0n) throw new PyException('ValueError', 'negative shift count');
        return int(bi > BigInt(MAX_INTEGER_SHIFT) ? (ai < 0n ? -1n : 0n) : ai >> bi);
      case '&':
        return int(ai & bi);
      case '|':
        return int(ai | bi);
      case '^':
        return int(ai ^ bi);
    }
    return undefined;
  }
  if (a.t === 'complex' || b.t === 'complex') {
    const x = complexOf(a);
    const y = complexOf(b);
    if (!x || !y) return undefined;
    const [ar, aim] = x;
    const [br, bim] = y;
    switch (op) {
      case '+':
        return { t: 'complex', re: ar + br, im: aim + bim };
      case '-':
        return { t: 'complex', re: ar - br, im: aim - bim };
      case '*':
        return { t: 'complex', re: ar * br - aim * bim, im: ar * bim + aim * br };
      case '**':
        return complexPower(ar, aim, br, bim, b);
      case '/': {
        // Smith's algorithm, as CPython's _Py_c_quot.
        if (br === 0 && bim === 0) throw new PyException('ZeroDivisionError', 'complex division by zero');
        if (Math.abs(br) >= Math.abs(bim)) {
          const ratio = bim / br;
          const denominator = br + bim * ratio;
          return { t: 'complex', re: (ar + aim * ratio) / denominator, im: (aim - ar * ratio) / denominator };
        }
        const ratio = br / bim;
        const denominator = br * ratio + bim;
        return { t: 'complex', re: (ar * ratio + aim) / denominator, im: (aim * ratio - ar) / denominator };
      }
    }
    return undefined;
  }
  const x = isNumber(a) ? asFloat(a) : undefined;
  const y = isNumber(b) ? asFloat(b) : undefined;
  if (x === undefined || y === undefined) return undefined;
  switch (op) {
    case '+':
      return float(x + y);
    case '-':
      return float(x - y);
    case '*':
      return float(x * y);
    case '/':
      if (y === 0) throw new PyException('ZeroDivisionError', 'float division by zero');
      return float(x / y);
    case '//':
      if (y === 0) throw new PyException('ZeroDivisionError', 'float floor division by zero');
      return float(Math.floor(x / y));
    case '%':
      return float(floatMod(x, y));
    case '**': {
      if (x === 0 && y < 0) throw new PyException('ZeroDivisionError', '0.0 cannot be raised to a negative power');
      if (x < 0 && !Number.isInteger(y) && Number.isFinite(y)) {
        const magnitude = (-x) ** y;
        const angle = Math.PI * y;
        return { t: 'complex', re: magnitude * Math.cos(angle), im: magnitude * Math.sin(angle) };
      }
      const result = x ** y;
      if (!Number.isFinite(result) && Number.isFinite(x) && Number.isFinite(y)) throw new PyException('OverflowError', '(34, \'Numerical result out of range\')');
      return float(result);
    }
  }
  return undefined;
}

const MAX_INTEGER_SHIFT = 1 << 30;

/** CPython's complex power: repeated squaring for small int exponents (c_powi), the polar form otherwise (_Py_c_pow). */
function complexPower(ar: number, aim: number, br: number, bim: number, exponent: PyValue): PyValue {
  const n = asInt(exponent);
  let re: number;
  let im: number;
  if (n !== undefined && n >= -100n && n <= 100n) {
    let [xr, xi] = [1, 0];
    let [pr, pi] = [ar, aim];
    let k = n < 0n ? -n : n;
    while (k > 0n) {
      if (k & 1n) [xr, xi] = [xr * pr - xi * pi, xr * pi + xi * pr];
      [pr, pi] = [pr * pr - pi * pi, 2 * pr * pi];
      k >>= 1n;
    }
    if (n < 0n) {
      if (xr === 0 && xi === 0) throw new PyException('ZeroDivisionError', '0.0 to a negative or complex power');
      const result = arithmetic('/', { t: 'complex', re: 1, im: 0 }, { t: 'complex', re: xr, im: xi }) as PyOf<'complex'>;
      [re, im] = [result.re, result.im];
    } else [re, im] = [xr, xi];
  } else if (br === 0 && bim === 0) [re, im] = [1, 0];
  else if (ar === 0 && aim === 0) {
    if (bim !== 0 || br < 0) throw new PyException('ZeroDivisionError', '0.0 to a negative or complex power');
    [re, im] = [0, 0];
  } else {
    const magnitude = Math.hypot(ar, aim);
    let length = magnitude ** br;
    const angle = Math.atan2(aim, ar);
    let phase = angle * br;
    if (bim !== 0) {
      length /= Math.exp(angle * bim);
      phase += bim * Math.log(magnitude);
    }
    [re, im] = [length * Math.cos(phase), length * Math.sin(phase)];
  }
  if (!Number.isFinite(re) || !Number.isFinite(im)) throw new PyException('OverflowError', 'complex exponentiation');
  return { t: 'complex', re, im };
}

function bitLength(v: bigint): number {
  if (v === 0n) return 0;
  const hex = (v < 0n ? -v : v).toString(16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(parseInt(hex[0]!, 16)));
}

function repeatCount(value: PyValue): number | undefined {
  const n = asInt(value);
  if (n === undefined) return undefined;
  if (n > (1n << 63n) - 1n || n < -(1n << 63n)) throw new PyException('OverflowError', "cannot fit 'int' into an index-sized integer");
  return n < 0n ? 0 : Number(n > BigInt(MAX_STRING) * 2n ? BigInt(MAX_STRING) * 2n : n);
}

function isSetLikeView(value: PyValue): boolean {
  return value.t === 'view' && value.kind !== 'dict_values';
}

/** A set holding the items of any iterable (dict views take part in set operations this way). */
function asSet(value: PyValue, interp: Interpreter): PyOf<'set'> {
  if (value.t === 'set') return value;
  const map: PyMap = new Map();
  for (const item of interp.iterate(value)) map.set(hashKey(item), { key: item, value: NONE });
  return { t: 'set', map, frozen: false };
}

function binary(op: string, a: PyValue, b: PyValue, interp: Interpreter): PyValue {
  const numeric = arithmetic(op, a, b);
  if (numeric) return numeric;
  if (a.t === 'opaque') throw textOnly(a);
  if (b.t === 'opaque') throw textOnly(b);
  if ((isSetLikeView(a) || isSetLikeView(b)) && ['|', '&', '-', '^'].includes(op)) {
    const other = isSetLikeView(a) ? b : a;
    if (other.t === 'iterator' || ITERABLE_KINDS.has(other.t)) return binary(op, { ...asSet(a, interp), frozen: false }, { ...asSet(b, interp), frozen: false }, interp);
  }
  switch (op) {
    case '+':
      if (a.t === 'str' && b.t === 'str') return str(a.v + b.v);
      if (a.t === 'list' && b.t === 'list') return list([...a.items, ...b.items]);
      if (a.t === 'tuple' && b.t === 'tuple') return tuple([...a.items, ...b.items]);
      if (a.t === 'deque' && b.t === 'deque') return { t: 'deque', items: trimDeque([...a.items, ...b.items], a.maxlen), maxlen: a.maxlen };
      if (a.t === 'bytes' && b.t === 'bytes') return bytesValue(concatBytes(a.v, b.v), a.mutable);
      if (a.t === 'dict' && b.t === 'dict' && a.flavor === 'Counter' && b.flavor === 'Counter') return counterArithmetic(a, b, '+');
      break;
    case '-':
      if (a.t === 'set' && b.t === 'set') return setOf([...a.map].filter(([key]) => !b.map.has(key)), a.frozen);
      if (a.t === 'dict' && b.t === 'dict' && a.flavor === 'Counter' && b.flavor === 'Counter') return counterArithmetic(a, b, '-');
      break;
    case '&':
      if (a.t === 'set' && b.t === 'set') return setOf([...a.map].filter(([key]) => b.map.has(key)), a.frozen);
      break;
    case '|':
      if (a.t === 'set' && b.t === 'set') return setOf([...a.map, ...[...b.map].filter(([key]) => !a.map.has(key))], a.frozen);
      if (a.t === 'dict' && b.t === 'dict') {
        const map: PyMap = new Map(a.map);
        for (const [key, entry] of b.map) map.set(key, map.has(key) ? { key: map.get(key)!.key, value: entry.value } : entry);
        return { ...a, map };
      }
      break;
    case '^':
      if (a.t === 'set' && b.t === 'set') return setOf([...[...a.map].filter(([key]) => !b.map.has(key)), ...[...b.map].filter(([key]) => !a.map.has(key))], a.frozen);
      break;
    case '*': {
      const [sequence, countValue] = isSequenceLike(a) ? [a, b] : [b, a];
      const count = isSequenceLike(sequence) ? repeatCount(countValue) : undefined;
      if (count !== undefined && isSequenceLike(sequence)) {
        const length = sequence.t === 'str' ? sequence.v.length : sequence.t === 'bytes' ? sequence.v.length : sequence.items.length;
        if (sequence.t === 'str' || sequence.t === 'bytes') checkStringLength(length * count);
        else checkCount(length * count);
        interp.context.tick(Math.ceil((length * count) / 64));
        if (sequence.t === 'str') return str(sequence.v.repeat(count));
        if (sequence.t === 'bytes') {
          const out = new Uint8Array(length * count);
          for (let i = 0; i < count; i++) out.set(sequence.v, i * length);
          return bytesValue(out, sequence.mutable);
        }
        const source = sequence.items;
        const items: PyValue[] = new Array<PyValue>(length * count);
        if (length === 1) items.fill(source[0]!);
        else for (let i = 0; i < items.length; i++) items[i] = source[i % length]!;
        return sequence.t === 'list' ? list(items) : sequence.t === 'tuple' ? tuple(items) : { t: 'deque', items: trimDeque(items, sequence.maxlen), maxlen: sequence.maxlen };
      }
      break;
    }
    case '%':
      if (a.t === 'str') return str(percentFormat(a.v, b, interp));
      break;
  }
  throw new PyException('TypeError', `unsupported operand type(s) for ${op}: '${typeName(a)}' and '${typeName(b)}'`);
}

function checkStringLength(length: number): void {
  if (length > MAX_STRING) throw new LimitError(`a string would be longer than ${MAX_STRING.toLocaleString('en-US')} characters`);
}

function isSequenceLike(value: PyValue): value is PyOf<'str' | 'bytes' | 'list' | 'tuple' | 'deque'> {
  return value.t === 'str' || value.t === 'bytes' || value.t === 'list' || value.t === 'tuple' || value.t === 'deque';
}

function trimDeque(items: PyValue[], maxlen: number | null): PyValue[] {
  return maxlen !== null && items.length > maxlen ? items.slice(items.length - maxlen) : items;
}

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  checkStringLength(a.length + b.length);
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function bytesValue(v: Uint8Array, mutable: boolean): PyValue {
  checkStringLength(v.length);
  chargeChars(v.length);
  return { t: 'bytes', v, mutable };
}

function setOf(entries: [string, { key: PyValue; value: PyValue }][], frozen: boolean): PyValue {
  chargeItems(entries.length);
  return { t: 'set', map: new Map(entries), frozen };
}

function counterArithmetic(a: PyOf<'dict'>, b: PyOf<'dict'>, op: '+' | '-'): PyValue {
  const map: PyMap = new Map();
  const keys = [...a.map.keys(), ...[...b.map.keys()].filter((key) => !a.map.has(key))];
  for (const key of keys) {
    const left = a.map.get(key);
    const right = b.map.get(key);
    const x = left ? left.value : int(0);
    const y = right ? right.value : int(0);
    const total = arithmetic(op, x, y);
    if (!total) throw new PyException('TypeError', 'Counter values must be numbers');
    if (compareReal(total, int(0)) === 1) map.set(key, { key: (left ?? right)!.key, value: total });
  }
  return { t: 'dict', map, flavor: 'Counter' };
}

function setItem(map: PyMap, key: PyValue, value: PyValue): void {
  const hash = hashKey(key);
  const existing = map.get(hash);
  map.set(hash, { key: existing ? existing.key : key, value });
}

function contains(container: PyValue, item: PyValue, interp: Interpreter): boolean {
  switch (container.t) {
    case 'str':
      if (item.t !== 'str') throw new PyException('TypeError', `'in <string>' requires string as left operand, not ${typeName(item)}`);
      return container.v.includes(item.v);
    case 'bytes': {
      const byte = asInt(item);
      if (byte !== undefined && (byte < 0n || byte > 255n)) throw new PyException('ValueError', 'byte must be in range(0, 256)');
      const needle = item.t === 'bytes' ? item.v : byte !== undefined ? Uint8Array.of(Number(byte)) : undefined;
      if (!needle) throw new PyException('TypeError', `a bytes-like object is required, not '${typeName(item)}'`);
      return Buffer.from(container.v).includes(Buffer.from(needle));
    }
    case 'dict':
    case 'set':
      return container.map.has(hashKey(item));
    case 'view':
      if (container.kind === 'dict_keys') return container.dict.map.has(hashKey(item));
      break;
    case 'range': {
      const n = asInt(item) ?? (item.t === 'float' && Number.isInteger(item.v) ? BigInt(item.v) : undefined);
      if (n === undefined) return false;
      const offset = n - container.start;
      return (container.step > 0n ? n >= container.start && n < container.stop : n <= container.start && n > container.stop) && offset % container.step === 0n;
    }
    case 'opaque':
      throw textOnly(container);
  }
  for (const element of interp.iterate(container)) if (pyIs(element, item) || pyEquals(element, item)) return true;
  return false;
}

function compare(op: string, left: PyValue, right: PyValue, interp: Interpreter): boolean {
  switch (op) {
    case '==':
      return pyEquals(left, right);
    case '!=':
      return !pyEquals(left, right);
    case '<':
    case '>':
    case '<=':
    case '>=':
      if ((isSetLikeView(left) || isSetLikeView(right)) && (left.t === 'set' || isSetLikeView(left)) && (right.t === 'set' || isSetLikeView(right))) {
        return orderedCompare(op, asSet(left, interp), asSet(right, interp));
      }
      return orderedCompare(op, left, right);
    case 'in':
      return contains(right, left, interp);
    case 'not in':
      return !contains(right, left, interp);
    case 'is':
      return pyIs(left, right);
    case 'is not':
      return !pyIs(left, right);
  }
  throw new PyException('SyntaxError', `unknown comparison ${op}`);
}

function orderedCompare(op: string, left: PyValue, right: PyValue): boolean {
  switch (op) {
    case '<':
      return pyLess(left, right, '<');
    case '>':
      return pyLess(right, left, '>');
    case '<=':
      if (left.t === 'set' && right.t === 'set') return [...left.map.keys()].every((key) => right.map.has(key));
      if (compareReal(left, right) === undefined && isNumber(left) && isNumber(right) && left.t !== 'complex' && right.t !== 'complex') return false;
      return pyLess(left, right, '<=') || pyEquals(left, right);
    case '>=':
      if (left.t === 'set' && right.t === 'set') return [...right.map.keys()].every((key) => left.map.has(key));
      if (compareReal(left, right) === undefined && isNumber(left) && isNumber(right) && left.t !== 'complex' && right.t !== 'complex') return false;
      return pyLess(right, left, '>=') || pyEquals(left, right);
  }
  throw new PyException('SyntaxError', `unknown comparison ${op}`);
}

// ---- subscripts --------------------------------------------------------------------------------------------------

function indexOf(value: PyValue, what: string): bigint {
  const i = asInt(value);
  if (i === undefined) {
    if (value.t === 'opaque') throw textOnly(value);
    throw new PyException('TypeError', `${what} indices must be integers or slices, not ${typeName(value)}`);
  }
  return i;
}

/** start, stop, step of a slice over a sequence of `length` items, as Python's slice.indices does. */
function sliceIndices(slice: PyOf<'slice'>, length: number): [number, number, number] {
  const part = (value: PyValue): bigint | undefined => {
    if (value.t === 'None') return undefined;
    const i = asInt(value);
    if (i === undefined) throw new PyException('TypeError', 'slice indices must be integers or None or have an __index__ method');
    return i;
  };
  const stepBig = part(slice.step) ?? 1n;
  if (stepBig === 0n) throw new PyException('ValueError', 'slice step cannot be zero');
  const n = BigInt(length);
  const clamp = (v: bigint | undefined, fallback: bigint, low: bigint, high: bigint): bigint => {
    if (v === undefined) return fallback;
    if (v < 0n) v += n;
    return v < low ? low : v > high ? high : v;
  };
  const step = stepBig;
  const start = step > 0n ? clamp(part(slice.lo), 0n, 0n, n) : clamp(part(slice.lo), n - 1n, -1n, n - 1n);
  const stop = step > 0n ? clamp(part(slice.hi), n, 0n, n) : clamp(part(slice.hi), -1n, -1n, n - 1n);
  const stepNumber = step > BigInt(length) + 1n ? length + 1 : step < -BigInt(length) - 1n ? -length - 1 : Number(step);
  return [Number(start), Number(stop), stepNumber];
}

function sliceItems<T>(items: readonly T[], slice: PyOf<'slice'>): T[] {
  const [start, stop, step] = sliceIndices(slice, items.length);
  const out: T[] = [];
  if (step > 0) for (let i = start; i < stop; i += step) out.push(items[i]!);
  else for (let i = start; i > stop; i += step) out.push(items[i]!);
  return out;
}

function normalizeIndex(index: bigint, length: number, what: string): number {
  const i = index < 0n ? index + BigInt(length) : index;
  if (i < 0n || i >= BigInt(length)) throw new PyException('IndexError', `${what} index out of range`);
  return Number(i);
}

function subscript(container: PyValue, key: PyValue, interp: Interpreter): PyValue {
  switch (container.t) {
    case 'list':
    case 'tuple':
    case 'deque':
      if (key.t === 'slice') {
        if (container.t === 'deque') throw new PyException('TypeError', 'sequence index must be integer, not \'slice\'');
        const items = sliceItems(container.items, key);
        return container.t === 'list' ? list(items) : tuple(items);
      }
      return container.items[normalizeIndex(indexOf(key, container.t === 'deque' ? 'sequence' : container.t), container.items.length, container.t === 'deque' ? 'deque' : container.t)]!;
    case 'str': {
      const points = codePoints(container.v);
      if (key.t === 'slice') return str(points ? sliceItems(points, key).join('') : sliceItems(container.v.split(''), key).join(''));
      const length = points ? points.length : container.v.length;
      const index = normalizeIndex(indexOf(key, 'string'), length, 'string');
      return str(points ? points[index]! : container.v[index]!);
    }
    case 'bytes':
      if (key.t === 'slice') return bytesValue(Uint8Array.from(sliceItems(Array.from(container.v), key)), container.mutable);
      return int(container.v[normalizeIndex(indexOf(key, 'byte'), container.v.length, container.mutable ? 'bytearray' : 'index')]!);
    case 'range': {
      const length = rangeLength(container);
      if (key.t === 'slice') {
        checkCount(0);
        const [start, stop, step] = sliceIndices(key, Number(length > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : length));
        return { t: 'range', start: rangeItem(container, BigInt(start)), stop: rangeItem(container, BigInt(stop)), step: container.step * BigInt(step) };
      }
      let index = indexOf(key, 'range');
      if (index < 0n) index += length;
      if (index < 0n || index >= length) throw new PyException('IndexError', 'range object index out of range');
      return int(rangeItem(container, index));
    }
    case 'dict': {
      const entry = container.map.get(hashKey(key));
      if (entry) return entry.value;
      if (container.flavor === 'Counter') return int(0);
      if (container.flavor === 'defaultdict' && container.factory && container.factory.t !== 'None') {
        const made = interp.callValue(container.factory, []);
        container.map.set(hashKey(key), { key, value: made });
        return made;
      }
      throw new PyException('KeyError', reprOf(key, 200));
    }
    case 'opaque':
      return opaqueSubscript(container, key, interp.context);
    case 'type':
      throw new PyException('TypeError', `type '${container.name}' is not subscriptable here`);
  }
  throw new PyException('TypeError', `'${typeName(container)}' object is not subscriptable`);
}

/** Indexing into a value known only as text: the visible part of a cut list or dict still answers. */
function opaqueSubscript(container: PyOf<'opaque'>, key: PyValue, context: Context): PyValue {
  const node = container.node;
  if (node.naming === 'index') {
    const index = asInt(key);
    if (index !== undefined && index >= 0n && index < BigInt(node.childCount)) {
      const [child] = node.children(Number(index), 1);
      if (child) return valueOfNode(child.node, `${container.origin}[${index}]`, context, 0);
    }
  } else if (node.naming === 'key' && key.t !== 'opaque') {
    const wanted = hashKey(key);
    for (const child of node.children(0, node.childCount)) {
      const childKey = valueOfNode(parseRepr(child.name), 'a key', context, 0);
      if (childKey.t !== 'opaque' && hashKey(childKey) === wanted) return valueOfNode(child.node, `${container.origin}[${child.name}]`, context, 0);
    }
  }
  throw textOnly(container);
}

// ---- attributes and methods --------------------------------------------------------------------------------------

/** Methods an expression may call, by the type they belong to; nothing else is an attribute. */
const METHODS: Readonly<Record<string, ReadonlySet<string>>> = {
  str: new Set([
    'upper', 'lower', 'strip', 'lstrip', 'rstrip', 'split', 'rsplit', 'join', 'replace', 'startswith', 'endswith', 'find', 'rfind', 'index',
    'rindex', 'count', 'isdigit', 'isalpha', 'isalnum', 'isspace', 'isupper', 'islower', 'isnumeric', 'isdecimal', 'isidentifier', 'istitle',
    'isascii', 'title', 'capitalize', 'casefold', 'swapcase', 'center', 'ljust', 'rjust', 'zfill', 'format', 'splitlines', 'partition',
    'rpartition', 'removeprefix', 'removesuffix', 'encode', 'expandtabs',
  ]),
  bytes: new Set(['decode', 'hex', 'count', 'startswith', 'endswith', 'find', 'index', 'upper', 'lower', 'strip', 'split', 'join', 'replace', 'isdigit', 'isalpha']),
  list: new Set(['count', 'index', 'copy', 'append', 'extend', 'insert', 'pop', 'remove', 'reverse', 'sort', 'clear']),
  tuple: new Set(['count', 'index']),
  deque: new Set(['count', 'index', 'copy', 'append', 'appendleft', 'extend', 'extendleft', 'pop', 'popleft', 'remove', 'reverse', 'rotate', 'clear']),
  dict: new Set(['keys', 'values', 'items', 'get', 'copy', 'pop', 'popitem', 'setdefault', 'update', 'clear']),
  Counter: new Set(['most_common', 'elements', 'total']),
  set: new Set(['union', 'intersection', 'difference', 'symmetric_difference', 'issubset', 'issuperset', 'isdisjoint', 'copy', 'add', 'discard', 'remove', 'pop', 'update', 'clear']),
  int: new Set(['bit_length', 'bit_count', 'conjugate', 'is_integer']),
  float: new Set(['is_integer', 'conjugate', 'hex']),
  complex: new Set(['conjugate']),
  range: new Set(['count', 'index']),
  iterator: new Set([]),
};

const FROZEN_SET_MUTATORS = new Set(['add', 'discard', 'remove', 'pop', 'update', 'clear']);

function methodFamily(value: PyValue): string | undefined {
  switch (value.t) {
    case 'str':
    case 'list':
    case 'tuple':
    case 'deque':
    case 'set':
    case 'complex':
    case 'range':
    case 'float':
    case 'int':
      return value.t;
    case 'bool':
      return 'int';
    case 'bytes':
      return 'bytes';
    case 'dict':
      return 'dict';
    default:
      return undefined;
  }
}

function hasMethod(value: PyValue, name: string): boolean {
  const family = methodFamily(value);
  if (!family) return false;
  if (value.t === 'set' && value.frozen && FROZEN_SET_MUTATORS.has(name)) return false;
  if (value.t === 'dict' && value.flavor === 'Counter' && METHODS.Counter!.has(name)) return true;
  return METHODS[family]?.has(name) ?? false;
}

function noAttribute(value: PyValue, name: string): PyException {
  return new PyException(
    'AttributeError',
    `'${typeName(value)}' object has no attribute '${name}' available here (expressions read values and call a fixed list of methods of built-in types)`,
  );
}

function getAttribute(value: PyValue, name: string, interp: Interpreter): PyValue {
  switch (value.t) {
    case 'int':
    case 'bool':
      if (name === 'real' || name === 'numerator') return int(asInt(value)!);
      if (name === 'imag') return int(0);
      if (name === 'denominator') return int(1);
      break;
    case 'float':
      if (name === 'real') return value;
      if (name === 'imag') return float(0);
      break;
    case 'complex':
      if (name === 'real') return float(value.re);
      if (name === 'imag') return float(value.im);
      break;
    case 'range':
      if (name === 'start' || name === 'stop' || name === 'step') return int(value[name]);
      break;
    case 'slice':
      if (name === 'start') return value.lo;
      if (name === 'stop') return value.hi;
      if (name === 'step') return value.step;
      break;
    case 'deque':
      if (name === 'maxlen') return value.maxlen === null ? NONE : int(value.maxlen);
      break;
    case 'dict':
      if (name === 'default_factory' && value.flavor === 'defaultdict') return value.factory ?? NONE;
      break;
    case 'type': {
      const sample = TYPE_SAMPLES[value.name];
      if (sample && hasMethod(sample, name)) return { t: 'builtin', name: `${value.name}.${name}` };
      break;
    }
    case 'opaque': {
      const node = value.node;
      if (node.naming === 'field' && !node.truncated) {
        const child = node.children(0, node.childCount).find((candidate) => candidate.name === name);
        if (child) return valueOfNode(child.node, `${value.origin}.${name}`, interp.context, 0);
        throw new PyException('AttributeError', `${value.origin} shows no field '${name}' in this trace (it is known only as text: ${value.repr.length <= 200 ? value.repr : value.repr.slice(0, 200) + '…'})`);
      }
      throw textOnly(value);
    }
  }
  if (hasMethod(value, name)) return { t: 'method', name, self: value };
  throw noAttribute(value, name);
}

// ---- calls -------------------------------------------------------------------------------------------------------

type Kwargs = ReadonlyMap<string, PyValue>;

function arity(name: string, args: readonly PyValue[], min: number, max: number): void {
  if (args.length < min || args.length > max) {
    const expected = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new PyException('TypeError', `${name}() takes ${expected} argument${max === 1 && min === 1 ? '' : 's'} (${args.length} given)`);
  }
}

function noKwargs(name: string, kwargs: Kwargs, allowed: readonly string[] = []): void {
  for (const key of kwargs.keys()) if (!allowed.includes(key)) throw new PyException('TypeError', `${name}() got an unexpected keyword argument '${key}'`);
}

function needInt(value: PyValue, what: string): bigint {
  const i = asInt(value);
  if (i === undefined) {
    if (value.t === 'opaque') throw textOnly(value);
    throw new PyException('TypeError', `'${typeName(value)}' object cannot be interpreted as an integer${what ? ` (${what})` : ''}`);
  }
  return i;
}

function needStr(value: PyValue, what: string): string {
  if (value.t !== 'str') {
    if (value.t === 'opaque') throw textOnly(value);
    throw new PyException('TypeError', `${what} must be str, not ${typeName(value)}`);
  }
  return value.v;
}

function length(value: PyValue): number {
  switch (value.t) {
    case 'str':
      return strLength(value.v);
    case 'bytes':
      return value.v.length;
    case 'list':
    case 'tuple':
    case 'deque':
      return value.items.length;
    case 'dict':
    case 'set':
      return value.map.size;
    case 'view':
      return value.dict.map.size;
    case 'range': {
      const n = rangeLength(value);
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new PyException('OverflowError', 'Python int too large to convert to C ssize_t');
      return Number(n);
    }
    case 'opaque': {
      const node = value.node;
      if (!node.truncated && node.naming !== 'field' && node.childCount > 0) return node.childCount;
      throw textOnly(value);
    }
  }
  throw new PyException('TypeError', `object of type '${typeName(value)}' has no len()`);
}

function sortValues(items: PyValue[], key: PyValue | undefined, reverse: boolean, interp: Interpreter): PyValue[] {
  const keyed = items.map((item) => ({ item, key: key && key.t !== 'None' ? interp.callValue(key, [item]) : item }));
  interp.context.tick(items.length * Math.max(1, Math.ceil(Math.log2(items.length + 1))));
  // Python's sort is stable and uses only `<`; reverse keeps equal items in their order.
  const order = (a: { key: PyValue }, b: { key: PyValue }) => (pyLess(a.key, b.key) ? -1 : pyLess(b.key, a.key) ? 1 : 0);
  keyed.sort(reverse ? (a, b) => order(b, a) : order);
  return keyed.map((entry) => entry.item);
}

function minMax(name: 'min' | 'max', args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  noKwargs(name, kwargs, ['key', 'default']);
  if (args.length === 0) throw new PyException('TypeError', `${name} expected at least 1 argument, got 0`);
  const items = args.length === 1 ? interp.collect(args[0]!) : [...args];
  if (items.length === 0) {
    const fallback = kwargs.get('default');
    if (fallback) return fallback;
    throw new PyException('ValueError', `${name}() arg is an empty sequence`);
  }
  const key = kwargs.get('key');
  const keyOf = (item: PyValue) => (key && key.t !== 'None' ? interp.callValue(key, [item]) : item);
  let best = items[0]!;
  let bestKey = keyOf(best);
  for (const item of items.slice(1)) {
    const itemKey = keyOf(item);
    if (name === 'min' ? pyLess(itemKey, bestKey) : pyLess(bestKey, itemKey)) {
      best = item;
      bestKey = itemKey;
    }
  }
  return best;
}

function roundHalfEven(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x;
  // Python rounds the exact binary value, ties to even; toFixed rounds the exact value too, but ties away from zero.
  if (digits >= 0 && digits < 100 && Math.abs(x) < 1e21) {
    const exact = Math.abs(x).toFixed(100);
    const point = exact.indexOf('.');
    const rest = exact.slice(point + 1 + digits);
    if (/^50*$/.test(rest)) {
      const kept = exact.slice(0, point + 1 + digits).replace(/\.$/, '');
      const lastDigit = Number(kept[kept.length - 1] === '.' ? kept[kept.length - 2] : kept[kept.length - 1]);
      const magnitude = Number(kept);
      const rounded = lastDigit % 2 === 0 ? magnitude : Number(Math.abs(x).toFixed(digits));
      return x < 0 ? -rounded : rounded;
    }
    return Number(x.toFixed(digits));
  }
  const factor = 10 ** -digits;
  return Math.round(x / factor) * factor;
}

/** A value of each type with methods, to ask which methods the type has. */
const TYPE_SAMPLES: Readonly<Record<string, PyValue>> = {
  str: { t: 'str', v: '' },
  bytes: { t: 'bytes', v: new Uint8Array(0), mutable: false },
  list: { t: 'list', items: [] },
  tuple: { t: 'tuple', items: [] },
  dict: { t: 'dict', map: new Map(), flavor: 'dict' },
  set: { t: 'set', map: new Map(), frozen: false },
  frozenset: { t: 'set', map: new Map(), frozen: true },
  int: { t: 'int', v: 0n },
  float: { t: 'float', v: 0 },
};

function callBuiltin(name: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  const dot = name.indexOf('.');
  if (dot > 0) {
    // An unbound method (`str.lower`): its first argument is the value it applies to.
    const typeName_ = name.slice(0, dot);
    const self = args[0];
    if (!self || !isInstance(self, typeName_)) {
      throw new PyException('TypeError', `descriptor '${name.slice(dot + 1)}' for '${typeName_}' objects doesn't apply to a '${self ? typeName(self) : 'nothing'}' object`);
    }
    return callMethod(self, name.slice(dot + 1), args.slice(1), kwargs, interp);
  }
  switch (name) {
    case 'len':
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      return int(length(args[0]!));
    case 'abs': {
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      const value = args[0]!;
      const i = asInt(value);
      if (i !== undefined) return int(i < 0n ? -i : i);
      if (value.t === 'float') return float(Math.abs(value.v));
      if (value.t === 'complex') return float(Math.hypot(value.re, value.im));
      if (value.t === 'opaque') throw textOnly(value);
      throw new PyException('TypeError', `bad operand type for abs(): '${typeName(value)}'`);
    }
    case 'sum': {
      noKwargs(name, kwargs, ['start']);
      arity(name, args, 1, 2);
      let total: PyValue = args[1] ?? kwargs.get('start') ?? int(0);
      if (total.t === 'str') throw new PyException('TypeError', "sum() can't sum strings [use ''.join(seq) instead]");
      for (const item of interp.iterate(args[0]!)) total = binary('+', total, item, interp);
      return total;
    }
    case 'min':
    case 'max':
      return minMax(name, args, kwargs, interp);
    case 'sorted': {
      noKwargs(name, kwargs, ['key', 'reverse']);
      arity(name, args, 1, 1);
      return list(sortValues(interp.collect(args[0]!), kwargs.get('key'), truthOf(kwargs.get('reverse') ?? FALSE) === true, interp));
    }
    case 'reversed': {
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      const value = args[0]!;
      if (value.t === 'dict' || value.t === 'set' || value.t === 'iterator') {
        if (value.t !== 'dict') throw new PyException('TypeError', `'${typeName(value)}' object is not reversible`);
      }
      const items = interp.collect(value).reverse();
      const kind = value.t === 'list' ? 'list_reverseiterator' : value.t === 'range' ? 'range_iterator' : value.t === 'dict' ? 'dict_reversekeyiterator'
        : value.t === 'view' ? `dict_reverse${value.kind.slice(5, -1)}iterator` : 'reversed';
      return iteratorOf(kind, items);
    }
    case 'any':
    case 'all': {
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      for (const item of interp.iterate(args[0]!)) {
        const truth = isTrue(item);
        if (name === 'any' && truth) return TRUE;
        if (name === 'all' && !truth) return FALSE;
      }
      return bool(name === 'all');
    }
    case 'repr':
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      return str(reprOf(args[0]!));
    case 'ascii':
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      return str(asciiOf(args[0]!));
    case 'isinstance': {
      noKwargs(name, kwargs);
      arity(name, args, 2, 2);
      const classes = args[1]!.t === 'tuple' ? (args[1] as PyOf<'tuple'>).items : [args[1]!];
      return bool(classes.some((cls) => {
        if (cls.t !== 'type') throw new PyException('TypeError', 'isinstance() arg 2 must be a type, a tuple of types, or a union');
        return isInstance(args[0]!, cls.name);
      }));
    }
    case 'callable':
      arity(name, args, 1, 1);
      return bool(['builtin', 'type', 'method', 'function'].includes(args[0]!.t) || (args[0]!.t === 'opaque' && ['function', 'builtin_function_or_method', 'method', 'type'].includes((args[0] as PyOf<'opaque'>).node.kind)));
    case 'enumerate': {
      noKwargs(name, kwargs, ['start']);
      arity(name, args, 1, 2);
      let counter = needInt(args[1] ?? kwargs.get('start') ?? int(0), 'start');
      const source = interp.iterator(args[0]!);
      function* run(): Generator<PyValue> {
        for (let step = source.next(); !step.done; step = source.next()) yield tuple([int(counter++), step.value]);
      }
      return { t: 'iterator', kind: 'enumerate', it: run() };
    }
    case 'zip': {
      noKwargs(name, kwargs, ['strict']);
      const sources = args.map((arg) => interp.iterator(arg));
      function* run(): Generator<PyValue> {
        if (sources.length === 0) return;
        for (;;) {
          const row: PyValue[] = [];
          for (const source of sources) {
            const step = source.next();
            if (step.done) return;
            row.push(step.value);
          }
          yield tuple(row);
        }
      }
      return { t: 'iterator', kind: 'zip', it: run() };
    }
    case 'map': {
      noKwargs(name, kwargs);
      arity(name, args, 2, Infinity);
      const fn = args[0]!;
      const sources = args.slice(1).map((arg) => interp.iterator(arg));
      function* run(): Generator<PyValue> {
        for (;;) {
          const row: PyValue[] = [];
          for (const source of sources) {
            const step = source.next();
            if (step.done) return;
            row.push(step.value);
          }
          yield interp.callValue(fn, row);
        }
      }
      return { t: 'iterator', kind: 'map', it: run() };
    }
    case 'filter': {
      noKwargs(name, kwargs);
      arity(name, args, 2, 2);
      const fn = args[0]!;
      const source = interp.iterator(args[1]!);
      function* run(): Generator<PyValue> {
        for (let step = source.next(); !step.done; step = source.next()) {
          if (isTrue(fn.t === 'None' ? step.value : interp.callValue(fn, [step.value]))) yield step.value;
        }
      }
      return { t: 'iterator', kind: 'filter', it: run() };
    }
    case 'iter':
      noKwargs(name, kwargs);
      arity(name, args, 1, 1);
      return args[0]!.t === 'iterator' ? args[0]! : { t: 'iterator', kind: iteratorKind(args[0]!), it: interp.iterator(args[0]!) };
    case 'next': {
      noKwargs(name, kwargs);
      arity(name, args, 1, 2);
      const source = args[0]!;
      if (source.t !== 'iterator') throw new PyException('TypeError', `'${typeName(source)}' object is not an iterator`);
      const step = source.it.next();
      if (!step.done) return step.value;
      if (args[1]) return args[1];
      throw new PyException('StopIteration', '');
    }
    case 'round': {
      noKwargs(name, kwargs, ['ndigits']);
      arity(name, args, 1, 2);
      const value = args[0]!;
      const digitsValue = args[1] ?? kwargs.get('ndigits') ?? NONE;
      const i = asInt(value);
      if (digitsValue.t === 'None') {
        if (i !== undefined) return int(i);
        if (value.t !== 'float') throw new PyException('TypeError', `type ${typeName(value)} doesn't define __round__ method`);
        if (!Number.isFinite(value.v)) throw new PyException(Number.isNaN(value.v) ? 'ValueError' : 'OverflowError', Number.isNaN(value.v) ? 'cannot convert float NaN to integer' : 'cannot convert float infinity to integer');
        return int(BigInt(roundHalfEven(value.v, 0)));
      }
      const digits = Number(needInt(digitsValue, 'ndigits'));
      if (i !== undefined) {
        if (digits >= 0) return int(i);
        const factor = 10n ** BigInt(-digits);
        const q = floorDiv(i, factor);
        const r = i - q * factor;
        const up = r * 2n > factor || (r * 2n === factor && q % 2n !== 0n);
        return int((up ? q + 1n : q) * factor);
      }
      if (value.t !== 'float') throw new PyException('TypeError', `type ${typeName(value)} doesn't define __round__ method`);
      return float(roundHalfEven(value.v, digits));
    }
    case 'divmod': {
      arity(name, args, 2, 2);
      return tuple([binary('//', args[0]!, args[1]!, interp), binary('%', args[0]!, args[1]!, interp)]);
    }
    case 'pow': {
      arity(name, args, 2, 3);
      if (args[2] && args[2].t !== 'None') {
        let base = needInt(args[0]!, 'base');
        let exponent = needInt(args[1]!, 'exp');
        const modulus = needInt(args[2], 'mod');
        if (modulus === 0n) throw new PyException('ValueError', 'pow() 3rd argument cannot be 0');
        if (exponent < 0n) throw new PyException('ValueError', 'pow() with a negative exponent and a modulus is not supported here');
        let result = 1n;
        base = ((base % modulus) + modulus) % modulus;
        while (exponent > 0n) {
          interp.tick();
          if (exponent & 1n) result = (result * base) % modulus;
          base = (base * base) % modulus;
          exponent >>= 1n;
        }
        return int(modulus < 0n && result > 0n ? result + modulus : result);
      }
      return binary('**', args[0]!, args[1]!, interp);
    }
    case 'chr': {
      arity(name, args, 1, 1);
      const code = needInt(args[0]!, '');
      if (code < 0n || code > 0x10ffffn) throw new PyException('ValueError', 'chr() arg not in range(0x110000)');
      return str(String.fromCodePoint(Number(code)));
    }
    case 'ord': {
      arity(name, args, 1, 1);
      const value = args[0]!;
      if (value.t === 'str' && strLength(value.v) === 1) return int(value.v.codePointAt(0)!);
      if (value.t === 'bytes' && value.v.length === 1) return int(value.v[0]!);
      throw new PyException('TypeError', `ord() expected a character, but string of length ${value.t === 'str' ? strLength(value.v) : '?'} found`);
    }
    case 'hex':
    case 'oct':
    case 'bin': {
      arity(name, args, 1, 1);
      const value = needInt(args[0]!, '');
      const base = name === 'hex' ? 16 : name === 'oct' ? 8 : 2;
      const prefix = name === 'hex' ? '0x' : name === 'oct' ? '0o' : '0b';
      return str(`${value < 0n ? '-' : ''}${prefix}${(value < 0n ? -value : value).toString(base)}`);
    }
    case 'format':
      arity(name, args, 1, 2);
      return str(formatValue(args[0]!, args[1] ? needStr(args[1], 'format spec') : ''));
    case 'hash':
      throw new PyException('TypeError', 'hash() is not available here (Python randomises it per process)');
  }
  throw new PyException('NameError', `name '${name}' is not defined`);
}

/** The type name of `iter(value)` in CPython 3.11. */
function iteratorKind(value: PyValue): string {
  switch (value.t) {
    case 'str':
      return /^[\x00-\x7f]*$/.test(value.v) ? 'str_ascii_iterator' : 'str_iterator';
    case 'bytes':
      return value.mutable ? 'bytearray_iterator' : 'bytes_iterator';
    case 'dict':
      return 'dict_keyiterator';
    case 'view':
      return `dict_${value.kind.slice(5, -1)}iterator`;
    case 'deque':
      return '_deque_iterator';
    case 'range':
      return 'range_iterator';
    default:
      return `${typeName(value)}_iterator`;
  }
}

function iteratorOf(kind: string, items: readonly PyValue[]): PyValue {
  return { t: 'iterator', kind, it: items[Symbol.iterator]() };
}

function asciiOf(value: PyValue): string {
  return reprOf(value).replace(/[^\x00-\x7f]/gu, (ch) => {
    const code = ch.codePointAt(0)!;
    return code <= 0xff ? '\\x' + code.toString(16).padStart(2, '0') : code <= 0xffff ? '\\u' + code.toString(16).padStart(4, '0') : '\\U' + code.toString(16).padStart(8, '0');
  });
}

const INSTANCE_PARENTS: Readonly<Record<string, readonly string[]>> = {
  bool: ['bool', 'int', 'object'],
  Counter: ['Counter', 'dict', 'object'],
  OrderedDict: ['OrderedDict', 'dict', 'object'],
  defaultdict: ['defaultdict', 'dict', 'object'],
};

function isInstance(value: PyValue, type: string): boolean {
  if (type === 'object') return true;
  if (value.t === 'opaque') {
    if (BUILTIN_TYPES.has(value.node.kind) && value.node.kind !== 'object') return value.node.kind === type;
    throw textOnly(value);
  }
  const name = typeName(value);
  return (INSTANCE_PARENTS[name] ?? [name]).includes(type);
}

// ---- constructors ------------------------------------------------------------------------------------------------

/** Built-in types whose values an expression can make (calling them) and test (isinstance). */
const CONSTRUCTOR_TYPES = new Set(['int', 'float', 'str', 'bool', 'complex', 'list', 'tuple', 'dict', 'set', 'frozenset', 'bytes', 'bytearray', 'range', 'slice', 'deque', 'Counter', 'OrderedDict', 'defaultdict', 'object', 'type']);
const BUILTIN_TYPES = new Set([...CONSTRUCTOR_TYPES, 'NoneType']);

function intFromString(text: string, base: number): bigint {
  let s = text.trim().replace(/_/g, (match, offset: number, whole: string) => (offset > 0 && /[0-9a-zA-Z]/.test(whole[offset - 1]!) ? '' : match));
  let sign = 1n;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1n;
    s = s.slice(1);
  }
  let radix = base;
  const prefix = /^0([xob])/i.exec(s);
  if (prefix && (base === 0 || base === { x: 16, o: 8, b: 2 }[prefix[1]!.toLowerCase() as 'x' | 'o' | 'b'])) {
    radix = { x: 16, o: 8, b: 2 }[prefix[1]!.toLowerCase() as 'x' | 'o' | 'b'];
    s = s.slice(2);
  } else if (base === 0) radix = 10;
  const digits = '0123456789abcdefghijklmnopqrstuvwxyz'.slice(0, radix);
  if (s === '' || ![...s.toLowerCase()].every((ch) => digits.includes(ch))) {
    throw new PyException('ValueError', `invalid literal for int() with base ${base}: ${strRepr(text)}`);
  }
  if (s.length > 5000) throw new LimitError('an integer literal longer than 5,000 digits');
  let result = 0n;
  const big = BigInt(radix);
  for (const ch of s.toLowerCase()) result = result * big + BigInt(digits.indexOf(ch));
  return sign * result;
}

function floatFromString(text: string): number {
  const s = text.trim().replace(/_/g, '').toLowerCase();
  const named = /^([+-]?)(inf|infinity|nan)$/.exec(s);
  if (named) return named[2] === 'nan' ? NaN : named[1] === '-' ? -Infinity : Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(s)) throw new PyException('ValueError', `could not convert string to float: ${strRepr(text)}`);
  return Number(s);
}

function dictFrom(args: readonly PyValue[], kwargs: Kwargs, flavor: DictFlavor, interp: Interpreter, factory?: PyValue): PyValue {
  const map: PyMap = new Map();
  const source = args[0];
  if (source && source.t === 'dict' && flavor !== 'Counter') for (const [key, entry] of source.map) map.set(key, entry);
  else if (source && flavor === 'Counter') {
    if (source.t === 'dict') for (const [key, entry] of source.map) map.set(key, entry);
    else for (const item of interp.iterate(source)) {
      const hash = hashKey(item);
      const existing = map.get(hash);
      map.set(hash, { key: existing ? existing.key : item, value: existing ? binary('+', existing.value, int(1), interp) : int(1) });
    }
  } else if (source) {
    for (const pair of interp.iterate(source)) {
      const items = interp.collect(pair, 3);
      if (items.length !== 2) throw new PyException('ValueError', `dictionary update sequence element has length ${items.length}; 2 is required`);
      setItem(map, items[0]!, items[1]!);
      checkCount(map.size);
    }
  }
  for (const [key, value] of kwargs) setItem(map, str(key), value);
  return { t: 'dict', map, flavor, ...(factory ? { factory } : {}) };
}

function construct(name: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  const value = args[0];
  switch (name) {
    case 'int': {
      noKwargs(name, kwargs, ['base']);
      arity(name, args, 0, 2);
      const baseValue = args[1] ?? kwargs.get('base');
      if (!value) return int(0);
      if (baseValue) {
        const base = Number(needInt(baseValue, 'base'));
        if (value.t !== 'str') throw new PyException('TypeError', "int() can't convert non-string with explicit base");
        if (base !== 0 && (base < 2 || base > 36)) throw new PyException('ValueError', 'int() base must be >= 2 and <= 36, or 0');
        return int(intFromString(value.v, base));
      }
      const i = asInt(value);
      if (i !== undefined) return int(i);
      if (value.t === 'float') {
        if (!Number.isFinite(value.v)) throw new PyException(Number.isNaN(value.v) ? 'ValueError' : 'OverflowError', `cannot convert float ${Number.isNaN(value.v) ? 'NaN' : 'infinity'} to integer`);
        return int(BigInt(Math.trunc(value.v)));
      }
      if (value.t === 'str') return int(intFromString(value.v, 10));
      if (value.t === 'bytes') return int(intFromString(Buffer.from(value.v).toString('latin1'), 10));
      if (value.t === 'opaque') throw textOnly(value);
      throw new PyException('TypeError', `int() argument must be a string, a bytes-like object or a real number, not '${typeName(value)}'`);
    }
    case 'float': {
      arity(name, args, 0, 1);
      if (!value) return float(0);
      if (value.t === 'float') return value;
      const i = asInt(value);
      if (i !== undefined) return float(intToFloat(i));
      if (value.t === 'str') return float(floatFromString(value.v));
      if (value.t === 'bytes') return float(floatFromString(Buffer.from(value.v).toString('latin1')));
      if (value.t === 'opaque') throw textOnly(value);
      throw new PyException('TypeError', `float() argument must be a string or a real number, not '${typeName(value)}'`);
    }
    case 'complex': {
      arity(name, args, 0, 2);
      const re = value ? complexOf(value) : [0, 0];
      const im = args[1] ? complexOf(args[1]) : [0, 0];
      if (!re || !im) throw new PyException('TypeError', 'complex() arguments must be numbers here');
      return { t: 'complex', re: re[0]! - im[1]!, im: re[1]! + im[0]! };
    }
    case 'str': {
      noKwargs(name, kwargs, ['encoding', 'errors']);
      arity(name, args, 0, 3);
      if (!value) return str('');
      if ((args[1] || kwargs.has('encoding')) && value.t === 'bytes') return str(decodeBytes(value.v, args[1] ?? kwargs.get('encoding')!));
      return str(strOf(value));
    }
    case 'bool':
      arity(name, args, 0, 1);
      return bool(value ? isTrue(value) : false);
    case 'list':
      noKwargs(name, kwargs);
      arity(name, args, 0, 1);
      return list(value ? interp.collect(value) : []);
    case 'tuple':
      noKwargs(name, kwargs);
      arity(name, args, 0, 1);
      return value && value.t === 'tuple' ? value : tuple(value ? interp.collect(value) : []);
    case 'set':
    case 'frozenset': {
      noKwargs(name, kwargs);
      arity(name, args, 0, 1);
      const map: PyMap = new Map();
      if (value) for (const item of interp.iterate(value)) {
        map.set(hashKey(item), { key: item, value: NONE });
        checkCount(map.size);
      }
      return { t: 'set', map, frozen: name === 'frozenset' };
    }
    case 'dict':
    case 'OrderedDict':
    case 'Counter':
      arity(name, args, 0, 1);
      return dictFrom(args, kwargs, name, interp);
    case 'defaultdict': {
      const factory = value ?? NONE;
      if (factory.t !== 'None' && !['builtin', 'type', 'function', 'method'].includes(factory.t)) throw new PyException('TypeError', 'first argument must be callable or None');
      return dictFrom(args.slice(1), kwargs, 'defaultdict', interp, factory);
    }
    case 'deque': {
      noKwargs(name, kwargs, ['maxlen']);
      arity(name, args, 0, 2);
      const maxlenValue = args[1] ?? kwargs.get('maxlen') ?? NONE;
      const maxlen = maxlenValue.t === 'None' ? null : Number(needInt(maxlenValue, 'maxlen'));
      if (maxlen !== null && maxlen < 0) throw new PyException('ValueError', 'maxlen must be non-negative');
      return { t: 'deque', items: trimDeque(value ? interp.collect(value) : [], maxlen), maxlen };
    }
    case 'range': {
      noKwargs(name, kwargs);
      arity(name, args, 1, 3);
      const parts = args.map((arg) => needInt(arg, ''));
      const [start, stop, step] = parts.length === 1 ? [0n, parts[0]!, 1n] : [parts[0]!, parts[1]!, parts[2] ?? 1n];
      if (step === 0n) throw new PyException('ValueError', 'range() arg 3 must not be zero');
      return { t: 'range', start, stop, step };
    }
    case 'slice': {
      arity(name, args, 1, 3);
      const [lo, hi, step] = args.length === 1 ? [NONE, args[0]!, NONE] : [args[0]!, args[1]!, args[2] ?? NONE];
      return { t: 'slice', lo, hi, step };
    }
    case 'bytes':
    case 'bytearray': {
      arity(name, args, 0, 3);
      const mutable = name === 'bytearray';
      if (!value) return bytesValue(new Uint8Array(0), mutable);
      if (value.t === 'str') {
        if (!args[1] && !kwargs.has('encoding')) throw new PyException('TypeError', 'string argument without an encoding');
        return bytesValue(encodeString(value.v, args[1] ?? kwargs.get('encoding')!), mutable);
      }
      const n = asInt(value);
      if (n !== undefined) {
        if (n < 0n) throw new PyException('ValueError', 'negative count');
        checkStringLength(Number(n > BigInt(MAX_STRING) ? BigInt(MAX_STRING) + 1n : n));
        return bytesValue(new Uint8Array(Number(n)), mutable);
      }
      if (value.t === 'bytes') return bytesValue(Uint8Array.from(value.v), mutable);
      const bytes = interp.collect(value).map((item) => {
        const b = needInt(item, '');
        if (b < 0n || b > 255n) throw new PyException('ValueError', 'bytes must be in range(0, 256)');
        return Number(b);
      });
      return bytesValue(Uint8Array.from(bytes), mutable);
    }
    case 'type':
      arity(name, args, 1, 1);
      if (value!.t === 'opaque') {
        if (BUILTIN_TYPES.has(value!.node.kind)) return { t: 'type', name: value!.node.kind };
        throw textOnly(value!);
      }
      return { t: 'type', name: typeName(value!) };
    case 'object':
      throw new PyException('TypeError', 'object() is not available here');
    case 'NoneType':
      return NONE;
  }
  throw new PyException('TypeError', `cannot create '${name}' instances`);
}

function encodingName(value: PyValue): string {
  const name = needStr(value, 'encoding').toLowerCase().replace(/[-_]/g, '');
  if (name === 'utf8') return 'utf8';
  if (name === 'ascii' || name === 'usascii') return 'ascii';
  if (name === 'latin1' || name === 'iso88591') return 'latin1';
  throw new PyException('LookupError', `encoding ${strRepr(needStr(value, 'encoding'))} is not available here (utf-8, ascii, latin-1)`);
}

function encodeString(text: string, encoding: PyValue): Uint8Array {
  const name = encodingName(encoding);
  if (name !== 'utf8' && [...text].some((ch) => ch.codePointAt(0)! > (name === 'ascii' ? 0x7f : 0xff))) {
    throw new PyException('UnicodeEncodeError', `'${name === 'ascii' ? 'ascii' : 'latin-1'}' codec can't encode a character of ${strRepr(text.slice(0, 50))}`);
  }
  if (name === 'utf8' && /[\ud800-\udfff]/.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''))) {
    throw new PyException('UnicodeEncodeError', "'utf-8' codec can't encode a surrogate: surrogates not allowed");
  }
  return Uint8Array.from(Buffer.from(text, name === 'utf8' ? 'utf8' : 'latin1'));
}

function decodeBytes(bytes: Uint8Array, encoding: PyValue): string {
  const name = encodingName(encoding);
  if (name === 'ascii' && bytes.some((b) => b > 0x7f)) throw new PyException('UnicodeDecodeError', "'ascii' codec can't decode a byte: ordinal not in range(128)");
  if (name === 'utf8') {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new PyException('UnicodeDecodeError', "'utf-8' codec can't decode these bytes: invalid utf-8");
    }
  }
  return Buffer.from(bytes).toString('latin1');
}

// ---- methods -----------------------------------------------------------------------------------------------------

function strFind(haystack: string, needle: string, args: readonly PyValue[], reverse: boolean): number {
  const points = codePoints(haystack);
  const total = points ? points.length : haystack.length;
  const slice = { t: 'slice', lo: args[0] ?? NONE, hi: args[1] ?? NONE, step: NONE } as const;
  const [start, stop] = sliceIndices(slice, total);
  const text = points ? points.slice(start, Math.max(start, stop)).join('') : haystack.slice(start, Math.max(start, stop));
  const found = reverse ? text.lastIndexOf(needle) : text.indexOf(needle);
  if (found < 0) return -1;
  return start + (points ? Array.from(text.slice(0, found)).length : found);
}

const WHITESPACE = ' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

function stripChars(text: string, chars: string | undefined, left: boolean, right: boolean): string {
  const set = chars ?? WHITESPACE;
  const points = Array.from(text);
  let start = 0;
  let end = points.length;
  if (left) while (start < end && set.includes(points[start]!)) start++;
  if (right) while (end > start && set.includes(points[end - 1]!)) end--;
  return points.slice(start, end).join('');
}

function splitString(text: string, sep: PyValue | undefined, maxsplit: number, fromRight: boolean): PyValue {
  if (sep === undefined || sep.t === 'None') {
    const words = text.split(/[ \t\n\r\x0b\x0c\x1c-\x1f\x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u).filter((w) => w !== '');
    if (maxsplit < 0 || words.length <= maxsplit + 1) return list(words.map((w) => str(w)));
    // With a limit, the rest keeps its inner whitespace.
    const trimmed = fromRight ? stripChars(text, undefined, false, true) : stripChars(text, undefined, true, false);
    const pattern = /[ \t\n\r\x0b\x0c\x1c-\x1f\x85\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/gu;
    const pieces: string[] = [];
    if (!fromRight) {
      let rest = trimmed;
      for (let i = 0; i < maxsplit; i++) {
        pattern.lastIndex = 0;
        const match = pattern.exec(rest);
        if (!match) break;
        pieces.push(rest.slice(0, match.index));
        rest = rest.slice(match.index + match[0].length);
      }
      pieces.push(rest);
      return list(pieces.map((w) => str(w)));
    }
    const reversed = splitString([...trimmed].reverse().join(''), undefined, maxsplit, false) as PyOf<'list'>;
    return list(reversed.items.map((item) => str([...(item as PyOf<'str'>).v].reverse().join(''))).reverse());
  }
  const separator = needStr(sep, 'separator');
  if (separator === '') throw new PyException('ValueError', 'empty separator');
  const parts = text.split(separator);
  if (maxsplit < 0 || parts.length <= maxsplit + 1) return list(parts.map((w) => str(w)));
  if (fromRight) {
    const head = parts.slice(0, parts.length - maxsplit).join(separator);
    return list([head, ...parts.slice(parts.length - maxsplit)].map((w) => str(w)));
  }
  return list([...parts.slice(0, maxsplit), parts.slice(maxsplit).join(separator)].map((w) => str(w)));
}

function justify(text: string, width: number, fill: string, where: 'left' | 'right' | 'center'): string {
  const size = strLength(text);
  if (width <= size) return text;
  checkStringLength(width);
  const pad = width - size;
  if (where === 'left') return text + fill.repeat(pad);
  if (where === 'right') return fill.repeat(pad) + text;
  const left = Math.floor(pad / 2) + (pad & width & 1);
  return fill.repeat(left) + text + fill.repeat(pad - left);
}

function fillChar(value: PyValue | undefined): string {
  if (!value) return ' ';
  const fill = needStr(value, 'fill character');
  if (strLength(fill) !== 1) throw new PyException('TypeError', 'The fill character must be exactly one character long');
  return fill;
}

function titleCase(text: string): string {
  let previousCased = false;
  let out = '';
  for (const ch of text) {
    const cased = ch.toLowerCase() !== ch.toUpperCase();
    out += cased ? (previousCased ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    previousCased = cased;
  }
  return out;
}

function sequenceIndex(items: readonly PyValue[], wanted: PyValue, args: readonly PyValue[], what: string): number {
  const [start, stop] = sliceIndices({ t: 'slice', lo: args[0] ?? NONE, hi: args[1] ?? NONE, step: NONE }, items.length);
  for (let i = start; i < stop; i++) if (pyIs(items[i]!, wanted) || pyEquals(items[i]!, wanted)) return i;
  throw new PyException('ValueError', `${what}`);
}

function callMethod(self: PyValue, name: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  switch (self.t) {
    case 'str':
      return strMethod(self.v, name, args, kwargs, interp);
    case 'bytes':
      return bytesMethod(self, name, args, interp);
    case 'list':
    case 'tuple':
    case 'deque':
      return sequenceMethod(self, name, args, kwargs, interp);
    case 'dict':
      return dictMethod(self, name, args, kwargs, interp);
    case 'set':
      return setMethod(self, name, args, interp);
    case 'int':
    case 'bool': {
      const v = asInt(self)!;
      if (name === 'bit_length') return int((v < 0n ? -v : v).toString(2).length - (v === 0n ? 1 : 0));
      if (name === 'bit_count') return int([...(v < 0n ? -v : v).toString(2)].filter((c) => c === '1').length);
      if (name === 'conjugate') return int(v);
      if (name === 'is_integer') return TRUE;
      break;
    }
    case 'float':
      if (name === 'is_integer') return bool(Number.isInteger(self.v));
      if (name === 'conjugate') return self;
      if (name === 'hex') throw new PyException('TypeError', 'float.hex() is not available here');
      break;
    case 'complex':
      if (name === 'conjugate') return { t: 'complex', re: self.re, im: -self.im };
      break;
    case 'range':
      if (name === 'count') return int(contains(self, args[0] ?? NONE, interp) ? 1 : 0);
      if (name === 'index') {
        const n = asInt(args[0] ?? NONE);
        if (n === undefined || !contains(self, args[0]!, interp)) throw new PyException('ValueError', `${reprOf(args[0] ?? NONE, 100)} is not in range`);
        return int((n - self.start) / self.step);
      }
      break;
  }
  throw noAttribute(self, name);
}

function strMethod(s: string, name: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  const optionalStr = (index: number): string | undefined => {
    const value = args[index];
    return value === undefined || value.t === 'None' ? undefined : needStr(value, `argument ${index + 1}`);
  };
  switch (name) {
    case 'upper':
      return str(s.toUpperCase());
    case 'lower':
      return str(s.toLowerCase());
    case 'casefold':
      return str(s.toLowerCase().replace(/ß/g, 'ss'));
    case 'swapcase':
      return str([...s].map((ch) => (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase())).join(''));
    case 'title':
      return str(titleCase(s));
    case 'capitalize': {
      const [first = '', ...rest] = Array.from(s);
      return str(first.toUpperCase() + rest.join('').toLowerCase());
    }
    case 'strip':
      return str(stripChars(s, optionalStr(0), true, true));
    case 'lstrip':
      return str(stripChars(s, optionalStr(0), true, false));
    case 'rstrip':
      return str(stripChars(s, optionalStr(0), false, true));
    case 'split':
    case 'rsplit': {
      const sep = args[0] ?? kwargs.get('sep');
      const max = Number(needInt(args[1] ?? kwargs.get('maxsplit') ?? int(-1), 'maxsplit'));
      return splitString(s, sep, max, name === 'rsplit');
    }
    case 'splitlines': {
      const keep = truthOf(args[0] ?? kwargs.get('keepends') ?? FALSE) === true;
      const out: PyValue[] = [];
      const pattern = /\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/g;
      let last = 0;
      for (let match = pattern.exec(s); match; match = pattern.exec(s)) {
        out.push(str(s.slice(last, keep ? match.index + match[0].length : match.index)));
        last = match.index + match[0].length;
      }
      if (last < s.length) out.push(str(s.slice(last)));
      return list(out);
    }
    case 'join': {
      arity('join', args, 1, 1);
      const pieces: string[] = [];
      let total = 0;
      for (const item of interp.iterate(args[0]!)) {
        if (item.t !== 'str') {
          if (item.t === 'opaque') throw textOnly(item);
          throw new PyException('TypeError', `sequence item ${pieces.length}: expected str instance, ${typeName(item)} found`);
        }
        pieces.push(item.v);
        total += item.v.length + s.length;
        checkStringLength(total);
      }
      return str(pieces.join(s));
    }
    case 'replace': {
      arity('replace', args, 2, 3);
      const old = needStr(args[0]!, 'replace() argument 1');
      const replacement = needStr(args[1]!, 'replace() argument 2');
      const count = args[2] ? Number(needInt(args[2], 'count')) : -1;
      let parts = old === '' ? ['', ...Array.from(s), ''] : s.split(old);
      if (old === '') {
        const chars = Array.from(s);
        const limit = count < 0 ? chars.length + 1 : Math.min(count, chars.length + 1);
        checkStringLength(s.length + replacement.length * limit);
        let out = '';
        for (let i = 0; i <= chars.length; i++) out += (i < limit ? replacement : '') + (chars[i] ?? '');
        return str(out);
      }
      if (count >= 0 && parts.length - 1 > count) parts = [...parts.slice(0, count), parts.slice(count).join(old)];
      checkStringLength(s.length + (replacement.length - old.length) * (parts.length - 1));
      return str(parts.join(replacement));
    }
    case 'startswith':
    case 'endswith': {
      arity(name, args, 1, 3);
      const options = args[0]!.t === 'tuple' ? (args[0] as PyOf<'tuple'>).items : [args[0]!];
      const points = codePoints(s);
      const [start, stop] = sliceIndices({ t: 'slice', lo: args[1] ?? NONE, hi: args[2] ?? NONE, step: NONE }, points ? points.length : s.length);
      if (start > (points ? points.length : s.length)) return FALSE;
      const window = points ? points.slice(start, Math.max(start, stop)).join('') : s.slice(start, Math.max(start, stop));
      return bool(options.some((option) => {
        const text = needStr(option, `${name} first arg`);
        return name === 'startswith' ? window.startsWith(text) : window.endsWith(text);
      }));
    }
    case 'find':
    case 'rfind':
    case 'index':
    case 'rindex': {
      arity(name, args, 1, 3);
      const found = strFind(s, needStr(args[0]!, 'must be str'), args.slice(1), name.startsWith('r'));
      if (found < 0 && name.endsWith('index')) throw new PyException('ValueError', 'substring not found');
      return int(found);
    }
    case 'count': {
      arity(name, args, 1, 3);
      const needle = needStr(args[0]!, 'must be str');
      const points = codePoints(s);
      const [start, stop] = sliceIndices({ t: 'slice', lo: args[1] ?? NONE, hi: args[2] ?? NONE, step: NONE }, points ? points.length : s.length);
      const window = points ? points.slice(start, Math.max(start, stop)).join('') : s.slice(start, Math.max(start, stop));
      return int(needle === '' ? strLength(window) + 1 : window.split(needle).length - 1);
    }
    case 'isdigit':
    case 'isdecimal':
    case 'isnumeric':
      return bool(s !== '' && /^\p{Nd}+$/u.test(s) || (name === 'isnumeric' && s !== '' && /^[\p{Nd}\p{Nl}\p{No}]+$/u.test(s)));
    case 'isalpha':
      return bool(s !== '' && /^\p{L}+$/u.test(s));
    case 'isalnum':
      return bool(s !== '' && /^[\p{L}\p{Nd}\p{Nl}\p{No}]+$/u.test(s));
    case 'isspace':
      return bool(s !== '' && [...s].every((ch) => WHITESPACE.includes(ch)));
    case 'isupper':
      return bool(s !== s.toLowerCase() && s === s.toUpperCase());
    case 'islower':
      return bool(s !== s.toUpperCase() && s === s.toLowerCase());
    case 'istitle':
      return bool(s !== s.toLowerCase() && titleCase(s) === s);
    case 'isascii':
      return bool(/^[\x00-\x7f]*$/.test(s));
    case 'isidentifier':
      return bool(/^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}_]*$/u.test(s));
    case 'center':
    case 'ljust':
    case 'rjust':
      arity(name, args, 1, 2);
      return str(justify(s, Number(needInt(args[0]!, 'width')), fillChar(args[1]), name === 'ljust' ? 'left' : name === 'rjust' ? 'right' : 'center'));
    case 'zfill': {
      arity(name, args, 1, 1);
      const width = Number(needInt(args[0]!, 'width'));
      const sign = s.startsWith('-') || s.startsWith('+') ? s[0]! : '';
      return str(sign + justify(s.slice(sign.length), width - sign.length, '0', 'right'));
    }
    case 'expandtabs': {
      const size = Number(needInt(args[0] ?? kwargs.get('tabsize') ?? int(8), 'tabsize'));
      let column = 0;
      let out = '';
      for (const ch of s) {
        if (ch === '\t') {
          const spaces = size > 0 ? size - (column % size) : 0;
          out += ' '.repeat(spaces);
          column += spaces;
        } else {
          out += ch;
          column = ch === '\n' || ch === '\r' ? 0 : column + 1;
        }
        checkStringLength(out.length);
      }
      return str(out);
    }
    case 'partition':
    case 'rpartition': {
      arity(name, args, 1, 1);
      const sep = needStr(args[0]!, 'separator');
      if (sep === '') throw new PyException('ValueError', 'empty separator');
      const at = name === 'partition' ? s.indexOf(sep) : s.lastIndexOf(sep);
      if (at < 0) return tuple(name === 'partition' ? [str(s), str(''), str('')] : [str(''), str(''), str(s)]);
      return tuple([str(s.slice(0, at)), str(sep), str(s.slice(at + sep.length))]);
    }
    case 'removeprefix': {
      const prefix = needStr(args[0] ?? NONE, 'prefix');
      return str(prefix !== '' && s.startsWith(prefix) ? s.slice(prefix.length) : s);
    }
    case 'removesuffix': {
      const suffix = needStr(args[0] ?? NONE, 'suffix');
      return str(suffix !== '' && s.endsWith(suffix) ? s.slice(0, -suffix.length) : s);
    }
    case 'encode':
      return bytesValue(encodeString(s, args[0] ?? kwargs.get('encoding') ?? str('utf-8')), false);
    case 'format':
      return str(strFormat(s, args, kwargs, interp));
  }
  throw noAttribute(str(s), name);
}

function bytesMethod(self: PyOf<'bytes'>, name: string, args: readonly PyValue[], interp: Interpreter): PyValue {
  const text = Buffer.from(self.v).toString('latin1');
  const asBytes = (s: string) => bytesValue(Uint8Array.from(Buffer.from(s, 'latin1')), self.mutable);
  const argText = (value: PyValue | undefined): string | undefined => {
    if (value === undefined || value.t === 'None') return undefined;
    if (value.t !== 'bytes') throw new PyException('TypeError', `a bytes-like object is required, not '${typeName(value)}'`);
    return Buffer.from(value.v).toString('latin1');
  };
  switch (name) {
    case 'decode':
      return str(decodeBytes(self.v, args[0] ?? str('utf-8')));
    case 'hex':
      return str(Buffer.from(self.v).toString('hex'));
    case 'upper':
      return asBytes(text.replace(/[a-z]+/g, (m) => m.toUpperCase()));
    case 'lower':
      return asBytes(text.replace(/[A-Z]+/g, (m) => m.toLowerCase()));
    case 'strip':
      return asBytes(stripChars(text, argText(args[0]) ?? ' \t\n\r\x0b\x0c', true, true));
    case 'isdigit':
      return bool(/^[0-9]+$/.test(text));
    case 'isalpha':
      return bool(/^[A-Za-z]+$/.test(text));
    case 'count':
      return int(text.split(argText(args[0]) ?? '').length - 1);
    case 'startswith':
      return bool(text.startsWith(argText(args[0]) ?? ''));
    case 'endswith':
      return bool(text.endsWith(argText(args[0]) ?? ''));
    case 'find':
    case 'index': {
      const found = text.indexOf(argText(args[0]) ?? '');
      if (found < 0 && name === 'index') throw new PyException('ValueError', 'subsection not found');
      return int(found);
    }
    case 'replace':
      return asBytes(text.split(argText(args[0]) ?? '').join(argText(args[1]) ?? ''));
    case 'split': {
      const sep = argText(args[0]);
      const parts = sep === undefined ? text.split(/[ \t\n\r\x0b\x0c]+/).filter((p) => p !== '') : text.split(sep);
      return list(parts.map((part) => bytesValue(Uint8Array.from(Buffer.from(part, 'latin1')), false)));
    }
    case 'join': {
      const pieces = interp.collect(args[0] ?? NONE).map((item) => argText(item) ?? '');
      return asBytes(pieces.join(text));
    }
  }
  throw noAttribute(self, name);
}

function sequenceMethod(self: PyOf<'list' | 'tuple' | 'deque'>, name: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  const items = self.items as PyValue[];
  const mutable = self.t !== 'tuple';
  switch (name) {
    case 'count':
      arity(name, args, 1, 1);
      return int(items.filter((item) => pyIs(item, args[0]!) || pyEquals(item, args[0]!)).length);
    case 'index':
      arity(name, args, 1, 3);
      return int(sequenceIndex(items, args[0]!, args.slice(1), `${reprOf(args[0]!, 100)} is not in ${self.t === 'tuple' ? 'tuple' : self.t === 'deque' ? 'deque' : 'list'}`));
    case 'copy':
      return self.t === 'deque' ? { t: 'deque', items: [...items], maxlen: self.maxlen } : list([...items]);
  }
  if (!mutable) throw noAttribute(self, name);
  const maxlen = self.t === 'deque' ? self.maxlen : null;
  switch (name) {
    case 'append':
      arity(name, args, 1, 1);
      items.push(args[0]!);
      checkCount(items.length);
      if (maxlen !== null && items.length > maxlen) items.shift();
      return NONE;
    case 'appendleft':
      items.unshift(args[0] ?? NONE);
      if (maxlen !== null && items.length > maxlen) items.pop();
      return NONE;
    case 'extend':
      for (const item of interp.collect(args[0] ?? NONE)) {
        items.push(item);
        checkCount(items.length);
        if (maxlen !== null && items.length > maxlen) items.shift();
      }
      return NONE;
    case 'extendleft':
      for (const item of interp.collect(args[0] ?? NONE)) {
        items.unshift(item);
        checkCount(items.length);
        if (maxlen !== null && items.length > maxlen) items.pop();
      }
      return NONE;
    case 'insert': {
      arity(name, args, 2, 2);
      let at = Number(needInt(args[0]!, 'index'));
      if (at < 0) at = Math.max(0, items.length + at);
      items.splice(Math.min(at, items.length), 0, args[1]!);
      checkCount(items.length);
      return NONE;
    }
    case 'pop': {
      if (items.length === 0) throw new PyException('IndexError', `pop from an empty ${self.t === 'deque' ? 'deque' : 'list'}`);
      if (self.t === 'deque') return items.pop()!;
      const at = normalizeIndex(args[0] ? needInt(args[0], 'index') : -1n, items.length, 'pop');
      return items.splice(at, 1)[0]!;
    }
    case 'popleft':
      if (items.length === 0) throw new PyException('IndexError', 'pop from an empty deque');
      return items.shift()!;
    case 'remove': {
      const at = sequenceIndex(items, args[0] ?? NONE, [], `${self.t}.remove(x): x not in ${self.t}`);
      items.splice(at, 1);
      return NONE;
    }
    case 'reverse':
      items.reverse();
      return NONE;
    case 'rotate': {
      const n = Number(needInt(args[0] ?? int(1), 'n'));
      if (items.length > 0) {
        const shift = ((n % items.length) + items.length) % items.length;
        const rotated = items.slice(items.length - shift).concat(items.slice(0, items.length - shift));
        items.length = 0;
        for (const item of rotated) items.push(item);
      }
      return NONE;
    }
    case 'sort': {
      noKwargs(name, kwargs, ['key', 'reverse']);
      const sorted = sortValues([...items], kwargs.get('key'), truthOf(kwargs.get('reverse') ?? FALSE) === true, interp);
      items.length = 0;
      for (const item of sorted) items.push(item);
      return NONE;
    }
    case 'clear':
      items.length = 0;
      return NONE;
  }
  throw noAttribute(self, name);
}

function dictMethod(self: PyOf<'dict'>, name: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter): PyValue {
  const map = self.map;
  switch (name) {
    case 'keys':
      return { t: 'view', kind: 'dict_keys', dict: self };
    case 'values':
      return { t: 'view', kind: 'dict_values', dict: self };
    case 'items':
      return { t: 'view', kind: 'dict_items', dict: self };
    case 'get': {
      arity(name, args, 1, 2);
      return map.get(hashKey(args[0]!))?.value ?? args[1] ?? NONE;
    }
    case 'copy':
      return { ...self, map: new Map(map) };
    case 'pop': {
      arity(name, args, 1, 2);
      const key = hashKey(args[0]!);
      const entry = map.get(key);
      if (entry) {
        map.delete(key);
        return entry.value;
      }
      if (args[1]) return args[1];
      throw new PyException('KeyError', reprOf(args[0]!, 200));
    }
    case 'popitem': {
      const last = [...map.keys()].pop();
      if (last === undefined) throw new PyException('KeyError', "'popitem(): dictionary is empty'");
      const entry = map.get(last)!;
      map.delete(last);
      return tuple([entry.key, entry.value]);
    }
    case 'setdefault': {
      arity(name, args, 1, 2);
      const key = hashKey(args[0]!);
      const entry = map.get(key);
      if (entry) return entry.value;
      map.set(key, { key: args[0]!, value: args[1] ?? NONE });
      return args[1] ?? NONE;
    }
    case 'update': {
      const source = dictFrom(args, kwargs, self.flavor === 'Counter' ? 'Counter' : 'dict', interp) as PyOf<'dict'>;
      for (const [key, entry] of source.map) {
        if (self.flavor === 'Counter') {
          const existing = map.get(key);
          map.set(key, { key: existing ? existing.key : entry.key, value: existing ? binary('+', existing.value, entry.value, interp) : entry.value });
        } else setItem(map, entry.key, entry.value);
        checkCount(map.size);
      }
      return NONE;
    }
    case 'clear':
      map.clear();
      return NONE;
    case 'most_common': {
      const entries = [...map.values()];
      const sorted = entries
        .map((entry, index) => ({ entry, index }))
        .sort((a, b) => (pyLess(b.entry.value, a.entry.value) ? -1 : pyLess(a.entry.value, b.entry.value) ? 1 : a.index - b.index))
        .map(({ entry }) => tuple([entry.key, entry.value]));
      const n = args[0] && args[0].t !== 'None' ? Number(needInt(args[0], 'n')) : sorted.length;
      return list(sorted.slice(0, Math.max(0, n)));
    }
    case 'elements': {
      const out: PyValue[] = [];
      for (const entry of map.values()) {
        const n = asInt(entry.value) ?? 0n;
        for (let i = 0n; i < n; i++) {
          out.push(entry.key);
          checkCount(out.length);
        }
      }
      return iteratorOf('itertools.chain', out);
    }
    case 'total': {
      let total: PyValue = int(0);
      for (const entry of map.values()) total = binary('+', total, entry.value, interp);
      return total;
    }
  }
  throw noAttribute(self, name);
}

function setMethod(self: PyOf<'set'>, name: string, args: readonly PyValue[], interp: Interpreter): PyValue {
  const others = () => args.map((arg) => {
    const map: PyMap = new Map();
    for (const item of interp.iterate(arg)) map.set(hashKey(item), { key: item, value: NONE });
    return map;
  });
  const map = self.map;
  switch (name) {
    case 'union':
      return setOf([...map, ...others().flatMap((other) => [...other])].filter(([key], index, all) => all.findIndex(([k]) => k === key) === index), self.frozen);
    case 'intersection':
      return setOf([...map].filter(([key]) => others().every((other) => other.has(key))), self.frozen);
    case 'difference':
      return setOf([...map].filter(([key]) => others().every((other) => !other.has(key))), self.frozen);
    case 'symmetric_difference': {
      const [other = new Map()] = others();
      return setOf([...[...map].filter(([key]) => !other.has(key)), ...[...other].filter(([key]) => !map.has(key))], self.frozen);
    }
    case 'issubset':
      return bool([...map.keys()].every((key) => others()[0]!.has(key)));
    case 'issuperset':
      return bool([...others()[0]!.keys()].every((key) => map.has(key)));
    case 'isdisjoint':
      return bool([...others()[0]!.keys()].every((key) => !map.has(key)));
    case 'copy':
      return { t: 'set', map: new Map(map), frozen: self.frozen };
    case 'add':
      arity(name, args, 1, 1);
      if (!map.has(hashKey(args[0]!))) map.set(hashKey(args[0]!), { key: args[0]!, value: NONE });
      checkCount(map.size);
      return NONE;
    case 'discard':
      map.delete(hashKey(args[0] ?? NONE));
      return NONE;
    case 'remove':
      if (!map.delete(hashKey(args[0] ?? NONE))) throw new PyException('KeyError', reprOf(args[0] ?? NONE, 200));
      return NONE;
    case 'pop': {
      const [first] = setOrder(map);
      if (!first) throw new PyException('KeyError', "'pop from an empty set'");
      map.delete(hashKey(first));
      return first;
    }
    case 'update':
      for (const other of others()) for (const [key, entry] of other) if (!map.has(key)) map.set(key, entry);
      checkCount(map.size);
      return NONE;
    case 'clear':
      map.clear();
      return NONE;
  }
  throw noAttribute(self, name);
}

// ---- formatting --------------------------------------------------------------------------------------------------

interface FormatSpec {
  fill: string;
  align?: '<' | '>' | '^' | '=';
  sign: '+' | '-' | ' ';
  alternate: boolean;
  zero: boolean;
  width: number;
  grouping?: ',' | '_';
  precision?: number;
  type?: string;
}

function parseSpec(spec: string): FormatSpec {
  const match = /^(?:(.)?([<>=^]))?([+\- ])?(z)?(#)?(0)?(\d+)?([,_])?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/su.exec(spec);
  if (!match) throw new PyException('ValueError', `Invalid format specifier '${spec}'`);
  const width = match[7] ? Number(match[7]) : 0;
  if (width > MAX_STRING) throw new LimitError('a format width larger than the string limit');
  const precision = match[9] ? Number(match[9]) : undefined;
  if (precision !== undefined && precision > 1000) throw new LimitError('a format precision above 1,000 digits');
  return {
    fill: match[1] ?? (match[6] && !match[2] ? '0' : ' '),
    ...(match[2] ? { align: match[2] as FormatSpec['align'] } : match[6] ? { align: '=' as const } : {}),
    sign: (match[3] as FormatSpec['sign']) ?? '-',
    alternate: match[5] !== undefined,
    zero: match[6] !== undefined,
    width,
    ...(match[8] ? { grouping: match[8] as ',' | '_' } : {}),
    ...(precision !== undefined ? { precision } : {}),
    ...(match[10] ? { type: match[10] } : {}),
  };
}

function group(digits: string, separator: string, every: number): string {
  const [whole, fraction] = digits.split('.') as [string, string | undefined];
  let out = '';
  for (let i = 0; i < whole.length; i++) {
    if (i > 0 && (whole.length - i) % every === 0) out += separator;
    out += whole[i];
  }
  return fraction === undefined ? out : `${out}.${fraction}`;
}

function pad(body: string, sign: string, spec: FormatSpec, defaultAlign: '<' | '>'): string {
  const align = spec.align ?? defaultAlign;
  const total = strLength(sign + body);
  if (spec.width <= total) return sign + body;
  const fill = spec.fill.repeat(spec.width - total);
  if (align === '=') return sign + fill + body;
  if (align === '<') return sign + body + fill;
  if (align === '>') return fill + sign + body;
  const left = Math.floor((spec.width - total) / 2);
  return spec.fill.repeat(left) + sign + body + spec.fill.repeat(spec.width - total - left);
}

function formatFloatBody(signed: number, type: string, precision: number | undefined, alternate: boolean): string {
  // The sign is the caller's business (it goes before or after the fill).
  const x = Math.abs(signed);
  if (!Number.isFinite(x)) {
    const text = Number.isNaN(x) ? 'nan' : 'inf';
    return type === type.toUpperCase() && type !== '%' && type !== 'n' ? text.toUpperCase() : text;
  }
  const p = precision ?? 6;
  switch (type) {
    case 'f':
    case 'F':
      return fixed(x, p);
    case '%':
      return fixed(x * 100, p) + '%';
    case 'e':
    case 'E': {
      const text = x.toExponential(Math.min(p, 100)).replace(/e([+-])(\d)$/, 'e$10$2');
      return type === 'E' ? text.toUpperCase() : text;
    }
    case 'g':
    case 'G':
    case 'n': {
      const digits = p === 0 ? 1 : p;
      if (x === 0) return alternate ? `0.${'0'.repeat(digits - 1)}` : '0';
      const exponent = Number(x.toExponential(digits - 1).split('e')[1]);
      let text = exponent >= -4 && exponent < digits ? fixed(x, digits - 1 - exponent) : x.toExponential(digits - 1).replace(/e([+-])(\d)$/, 'e$10$2');
      if (!alternate) text = text.replace(/\.?0+(?=e|$)/, (m) => (text.includes('.') ? '' : m));
      return type === 'G' ? text.toUpperCase() : text;
    }
  }
  // No type: like 'g' but at least one digit after the point, repr when no precision.
  if (precision === undefined) return floatRepr(x).replace(/^-/, '');
  const text = formatFloatBody(x, 'g', precision, alternate);
  return /[.e]|inf|nan/.test(text) ? text : `${text}.0`;
}

function fixed(x: number, digits: number): string {
  const abs = Math.abs(x);
  if (abs < 1e21 && digits <= 100) return abs.toFixed(digits);
  // Large values: exact digits of the double.
  const whole = BigInt(Math.trunc(abs)).toString();
  return digits > 0 ? `${whole}.${'0'.repeat(digits)}` : whole;
}

/** Python's format(value, spec) for the built-in types; other values format as str() and accept only an empty spec. */
export function formatValue(value: PyValue, specText: string): string {
  if (value.t === 'opaque') {
    if (specText === '') return strOf(value);
    throw textOnly(value);
  }
  if (specText === '' ) return strOf(value);
  const spec = parseSpec(specText);
  const i = asInt(value);
  if (value.t === 'str') {
    if (spec.type && spec.type !== 's') throw new PyException('ValueError', `Unknown format code '${spec.type}' for object of type 'str'`);
    if (spec.align === '=' || spec.sign !== '-' || spec.grouping) throw new PyException('ValueError', 'Invalid format specifier for str');
    const text = spec.precision !== undefined ? Array.from(value.v).slice(0, spec.precision).join('') : value.v;
    return pad(text, '', spec, '<');
  }
  if (i !== undefined && !(spec.type && 'eEfFgG%'.includes(spec.type))) {
    if (spec.precision !== undefined) throw new PyException('ValueError', 'Precision not allowed in integer format specifier');
    const type = spec.type ?? 'd';
    const abs = i < 0n ? -i : i;
    let body: string;
    switch (type) {
      case 'd':
      case 'n':
        body = abs.toString();
        break;
      case 'b':
        body = (spec.alternate ? '0b' : '') + abs.toString(2);
        break;
      case 'o':
        body = (spec.alternate ? '0o' : '') + abs.toString(8);
        break;
      case 'x':
        body = (spec.alternate ? '0x' : '') + abs.toString(16);
        break;
      case 'X':
        body = (spec.alternate ? '0X' : '') + abs.toString(16).toUpperCase();
        break;
      case 'c':
        if (abs > 0x10ffffn) throw new PyException('OverflowError', '%c arg not in range(0x110000)');
        body = String.fromCodePoint(Number(i));
        break;
      default:
        throw new PyException('ValueError', `Unknown format code '${type}' for object of type 'int'`);
    }
    if (spec.grouping) {
      const prefix = /^0[box]/i.exec(body)?.[0] ?? '';
      body = prefix + group(body.slice(prefix.length), spec.grouping, 'bdn'.includes(type) || type === 'd' ? 3 : 4);
    }
    const sign = i < 0n ? '-' : spec.sign === '-' ? '' : spec.sign;
    return pad(body, sign, spec, '>');
  }
  const x = value.t === 'float' ? value.v : i !== undefined ? intToFloat(i) : undefined;
  if (x !== undefined) {
    if (spec.type && !'eEfFgGn%'.includes(spec.type)) throw new PyException('ValueError', `Unknown format code '${spec.type}' for object of type '${typeName(value)}'`);
    let body = formatFloatBody(x, spec.type ?? '', spec.precision, spec.alternate);
    if (spec.grouping) body = group(body, spec.grouping, 3);
    const negative = x < 0 || Object.is(x, -0);
    const sign = negative ? '-' : spec.sign === '-' ? '' : spec.sign;
    return pad(body, sign, spec, '>');
  }
  if (value.t === 'complex') {
    if (spec.zero || spec.align === '=') throw new PyException('ValueError', 'Zero padding is not allowed in complex format specifier');
    if (!spec.type && spec.precision === undefined) return pad(strOf(value), '', spec, '>');
    if (spec.type && !'eEfFgG'.includes(spec.type)) throw new PyException('ValueError', `Unknown format code '${spec.type}' for object of type 'complex'`);
    const type = spec.type ?? 'g';
    const re = formatFloatBody(value.re, type, spec.precision, spec.alternate);
    const im = formatFloatBody(value.im, type, spec.precision, spec.alternate);
    const reSign = value.re < 0 || Object.is(value.re, -0) ? '-' : spec.sign === '-' ? '' : spec.sign;
    const imSign = value.im < 0 || Object.is(value.im, -0) ? '-' : '+';
    const body = spec.type ? `${reSign}${re}${imSign}${im}j` : `(${reSign}${re}${imSign}${im}j)`;
    return pad(body, '', spec, '>');
  }
  throw new PyException('TypeError', `unsupported format string passed to ${typeName(value)}.__format__`);
}

/** str.format: `{}`, `{0}`, `{name}`, with `[index]` and allowed attributes, `!r/!s/!a` and a format spec. */
function strFormat(template: string, args: readonly PyValue[], kwargs: Kwargs, interp: Interpreter, depth = 0): string {
  if (depth > 2) throw new PyException('ValueError', 'Max string recursion exceeded');
  let out = '';
  let auto = 0;
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c === '{' && template[i + 1] === '{') {
      out += '{';
      i += 2;
      continue;
    }
    if (c === '}' && template[i + 1] === '}') {
      out += '}';
      i += 2;
      continue;
    }
    if (c === '}') throw new PyException('ValueError', "Single '}' encountered in format string");
    if (c !== '{') {
      out += c;
      i++;
      continue;
    }
    let nesting = 1;
    let j = i + 1;
    while (j < template.length && nesting > 0) {
      if (template[j] === '{') nesting++;
      else if (template[j] === '}') nesting--;
      if (nesting > 0) j++;
    }
    if (nesting > 0) throw new PyException('ValueError', "Single '{' encountered in format string");
    const field = template.slice(i + 1, j);
    i = j + 1;
    const fieldMatch = /^([^.[!:]*)((?:\.[^.[!:]+|\[[^\]]*\])*)(?:!([rsa]))?(?::(.*))?$/s.exec(field);
    if (!fieldMatch) throw new PyException('ValueError', `invalid format field '{${field}}'`);
    const [, head = '', path = '', conversion, specTemplate = ''] = fieldMatch;
    let value: PyValue;
    if (head === '') {
      if (auto < 0) throw new PyException('ValueError', 'cannot switch from manual field specification to automatic field numbering');
      value = args[auto] ?? (() => { throw new PyException('IndexError', `Replacement index ${auto} out of range for positional args tuple`); })();
      auto++;
    } else if (/^\d+$/.test(head)) {
      if (auto > 0) throw new PyException('ValueError', 'cannot switch from automatic field numbering to manual field specification');
      auto = -1;
      value = args[Number(head)] ?? (() => { throw new PyException('IndexError', `Replacement index ${head} out of range for positional args tuple`); })();
    } else {
      const named = kwargs.get(head);
      if (!named) throw new PyException('KeyError', strRepr(head));
      value = named;
    }
    for (const step of path.match(/\.[^.[]+|\[[^\]]*\]/g) ?? []) {
      if (step.startsWith('.')) value = getAttribute(value, step.slice(1), interp);
      else {
        const key = step.slice(1, -1);
        value = subscript(value, /^\d+$/.test(key) ? int(BigInt(key)) : str(key), interp);
      }
    }
    const spec = specTemplate.includes('{') ? strFormat(specTemplate, args, kwargs, interp, depth + 1) : specTemplate;
    const converted = conversion === 'r' ? str(reprOf(value)) : conversion === 's' ? str(strOf(value)) : conversion === 'a' ? str(asciiOf(value)) : value;
    out += formatValue(converted, spec);
    checkStringLength(out.length);
  }
  return out;
}

/** printf-style `'%s' % value` for the common conversions. */
function percentFormat(template: string, values: PyValue, interp: Interpreter): string {
  const args = values.t === 'tuple' ? values.items : [values];
  const mapping = values.t === 'dict' ? values : undefined;
  let index = 0;
  const next = (): PyValue => {
    const value = args[index++];
    if (!value) throw new PyException('TypeError', 'not enough arguments for format string');
    return value;
  };
  const out = template.replace(/%(?:\(([^)]*)\))?([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfFgGcrsa%])/g, (_match, key: string | undefined, flags: string, width: string | undefined, precision: string | undefined, type: string) => {
    if (type === '%') return '%';
    const value = key !== undefined && mapping ? subscript(mapping, str(key), interp) : next();
    const widthNumber = width === '*' ? Number(needInt(next(), 'width')) : width ? Number(width) : 0;
    const precisionNumber = precision === '*' ? Number(needInt(next(), 'precision')) : precision !== undefined ? Number(precision) : undefined;
    const align = flags.includes('-') ? '<' : '>';
    const signFlag = flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '-';
    const zero = flags.includes('0') && !flags.includes('-');
    const spec = `${zero ? '0' : ''}${align === '<' ? '<' : ''}${signFlag === '-' ? '' : signFlag}${flags.includes('#') ? '#' : ''}${widthNumber || ''}`;
    if (type === 's' || type === 'r' || type === 'a') {
      let text = type === 's' ? strOf(value) : type === 'r' ? reprOf(value) : asciiOf(value);
      if (precisionNumber !== undefined) text = Array.from(text).slice(0, precisionNumber).join('');
      return justify(text, widthNumber, ' ', align === '<' ? 'left' : 'right');
    }
    if ('diu'.includes(type)) {
      const number = asInt(value) ?? (value.t === 'float' && Number.isFinite(value.v) ? BigInt(Math.trunc(value.v)) : undefined);
      if (number === undefined) throw new PyException('TypeError', `%${type} format: a real number is required, not ${typeName(value)}`);
      return formatValue(int(number), `${spec.replace('#', '')}d`.replace(/^0</, '<'));
    }
    if ('oxX'.includes(type)) return formatValue(int(needInt(value, '')), `${spec}${type}`);
    if (type === 'c') return value.t === 'str' ? value.v : String.fromCodePoint(Number(needInt(value, '')));
    const x = asFloat(value);
    if (x === undefined) throw new PyException('TypeError', `must be real number, not ${typeName(value)}`);
    return formatValue(float(x), `${spec}.${precisionNumber ?? 6}${type}`);
  });
  // Python skips the check for mappings (anything with mp_subscript, as list, dict, range, bytes), not for str or deque.
  const takesItems = values.t === 'tuple' || values.t === 'str' || !['list', 'dict', 'range', 'bytes'].includes(values.t);
  if (!mapping && index < args.length && takesItems) throw new PyException('TypeError', 'not all arguments converted during string formatting');
  checkStringLength(out.length);
  return out;
}

// ---- builtins table ----------------------------------------------------------------------------------------------

const BUILTIN_FUNCTIONS = [
  'len', 'abs', 'sum', 'min', 'max', 'sorted', 'reversed', 'any', 'all', 'repr', 'ascii', 'isinstance', 'callable', 'enumerate', 'zip', 'map',
  'filter', 'iter', 'next', 'round', 'divmod', 'pow', 'chr', 'ord', 'hex', 'oct', 'bin', 'format', 'hash',
];

/** Every name an expression can use besides the frame's values and its own bindings. */
const BUILTIN_NAMES: ReadonlyMap<string, PyValue> = new Map<string, PyValue>([
  ...BUILTIN_FUNCTIONS.map((name): [string, PyValue] => [name, { t: 'builtin', name }]),
  ...[...CONSTRUCTOR_TYPES].filter((name) => name !== 'object').map((name): [string, PyValue] => [name, { t: 'type', name }]),
  ['object', { t: 'type', name: 'object' }],
  ['Ellipsis', ELLIPSIS],
  ['inf', float(Infinity)],
  ['nan', float(NaN)],
]);

/** The names of the builtins, for documentation and tests. */
export const BUILTIN_NAME_LIST: readonly string[] = [...BUILTIN_NAMES.keys()];

// ---- entry point -------------------------------------------------------------------------------------------------

export type Evaluation =
  | { readonly ok: true; readonly value: PyValue }
  | { readonly ok: false; readonly error: string };

/** Evaluates `source` over the frame's values; never throws. */
/** Parsed expressions by text, most recently used last: conditions are evaluated on every frame a movement passes. */
const parsed = new Map<string, Expr>();
const PARSE_CACHE_ENTRIES = 256;

function parseCached(source: string): Expr {
  const known = parsed.get(source);
  if (known) {
    parsed.delete(source);
    parsed.set(source, known);
    return known;
  }
  const expr = parseExpression(source);
  if (source.length <= 10_000) {
    parsed.set(source, expr);
    if (parsed.size > PARSE_CACHE_ENTRIES) parsed.delete(parsed.keys().next().value ?? '');
  }
  return expr;
}

export function evaluateExpression(source: string, locals: FrameValues, limits: Limits = DEFAULT_LIMITS): Evaluation {
  let expr: Expr;
  try {
    expr = parseCached(source.trim());
  } catch (error) {
    if (error instanceof PySyntaxError) return { ok: false, error: `SyntaxError: ${error.message}${error.offset !== undefined ? ` (column ${error.offset + 1})` : ''}` };
    if (error instanceof RangeError) return { ok: false, error: 'SyntaxError: the expression is nested too deeply' };
    return { ok: false, error: `SyntaxError: ${(error as Error).message}` };
  }
  const context = new Context(limits, locals);
  const interpreter = new Interpreter(context);
  try {
    return { ok: true, value: withAllocationBudget(() => interpreter.eval(expr, newScope(undefined, false))) };
  } catch (error) {
    return { ok: false, error: describeFailure(error) };
  }
}

export function describeFailure(error: unknown): string {
  if (error instanceof PyException) return error.type === 'TextOnly' ? error.message : error.text;
  if (error instanceof LimitError) return `The evaluation was stopped: ${error.message}. Simplify the expression.`;
  if (error instanceof RangeError) return 'RecursionError: the expression is nested or recursive too deeply';
  if (error instanceof TypeError && /already running/.test(error.message)) return 'ValueError: generator already executing';
  return `The evaluator failed: ${error instanceof Error ? error.message : String(error)}`;
}

export { reprOf, truthOf, TRUNCATION_MARKER };
