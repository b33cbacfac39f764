// The values a debugger expression computes with: Python's built-in value types modelled in TypeScript, with their
// repr, equality, hashing, ordering and truth. Nothing here can reach a process, a file or the environment.
import { TRUNCATION_MARKER } from '../trace/model';
import type { ReprNode } from './pyrepr';
import type { Expr, Param } from './py-parse';

export type DictFlavor = 'dict' | 'OrderedDict' | 'Counter' | 'defaultdict';

/** A dict's or set's storage: insertion-ordered, keyed by the Python hash identity of the key. */
export type PyMap = Map<string, { key: PyValue; value: PyValue }>;

export interface Scope {
  readonly vars: Map<string, PyValue>;
  readonly parent?: Scope;
  /** Comprehension scopes pass `:=` assignments to the scope that holds them. */
  readonly comprehension: boolean;
}

export type PyValue =
  | { readonly t: 'None' }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'int'; readonly v: bigint }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'complex'; readonly re: number; readonly im: number }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'bytes'; readonly v: Uint8Array; readonly mutable: boolean }
  | { readonly t: 'list'; readonly items: PyValue[] }
  | { readonly t: 'tuple'; readonly items: readonly PyValue[] }
  | { readonly t: 'deque'; readonly items: PyValue[]; readonly maxlen: number | null }
  | { readonly t: 'dict'; readonly map: PyMap; readonly flavor: DictFlavor; readonly factory?: PyValue }
  | { readonly t: 'set'; readonly map: PyMap; readonly frozen: boolean }
  | { readonly t: 'view'; readonly kind: 'dict_keys' | 'dict_values' | 'dict_items'; readonly dict: Extract<PyValue, { t: 'dict' }> }
  | { readonly t: 'range'; readonly start: bigint; readonly stop: bigint; readonly step: bigint }
  | { readonly t: 'slice'; readonly lo: PyValue; readonly hi: PyValue; readonly step: PyValue }
  | { readonly t: 'ellipsis' }
  | { readonly t: 'type'; readonly name: string }
  | { readonly t: 'builtin'; readonly name: string }
  | { readonly t: 'method'; readonly name: string; readonly self: PyValue }
  | { readonly t: 'function'; readonly params: readonly Param[]; readonly defaults: ReadonlyMap<string, PyValue>; readonly body: Expr; readonly closure: Scope }
  | { readonly t: 'iterator'; readonly kind: string; readonly it: Iterator<PyValue> }
  | { readonly t: 'opaque'; readonly repr: string; readonly node: ReprNode; readonly origin: string };

export type PyOf<T extends PyValue['t']> = Extract<PyValue, { t: T }>;

/** A Python exception raised by the expression: shown to the user as `Type: message`. */
export class PyException extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
  get text(): string {
    return this.message === '' ? this.type : `${this.type}: ${this.message}`;
  }
}

/** The evaluation hit one of the evaluator's own bounds (time, work, size): not the expression's fault in Python terms. */
export class LimitError extends Error {}

export const NONE: PyValue = { t: 'None' };
export const TRUE: PyValue = { t: 'bool', v: true };
export const FALSE: PyValue = { t: 'bool', v: false };
export const ELLIPSIS: PyValue = { t: 'ellipsis' };

export const MAX_ITEMS = 1_000_000;
export const MAX_STRING = 10_000_000;
export const MAX_INT_BITS = 200_000;

export function bool(v: boolean): PyValue {
  return v ? TRUE : FALSE;
}
export function int(v: bigint | number): PyValue {
  return { t: 'int', v: typeof v === 'bigint' ? v : BigInt(v) };
}
export function float(v: number): PyValue {
  return { t: 'float', v };
}
/**
 * What the running evaluation has allocated, in items and characters: each new str, list or tuple is charged, so
 * that many values within the per-value bounds still cannot add up to more than the evaluation's memory bound.
 * Evaluation is synchronous, so one budget at a time is active.
 */
let allocationBudget: { items: number; chars: number } | undefined;

/** Items and characters one evaluation may allocate in all (about 200 MB of JavaScript memory at most). */
export const MAX_ALLOCATED_ITEMS = 10_000_000;
export const MAX_ALLOCATED_CHARS = 50_000_000;

export function withAllocationBudget<T>(body: () => T): T {
  const previous = allocationBudget;
  allocationBudget = { items: 0, chars: 0 };
  try {
    return body();
  } finally {
    allocationBudget = previous;
  }
}

export function chargeItems(count: number): void {
  if (!allocationBudget) return;
  allocationBudget.items += count;
  if (allocationBudget.items > MAX_ALLOCATED_ITEMS) throw new LimitError(`the expression built more than ${MAX_ALLOCATED_ITEMS.toLocaleString('en-US')} container items in all`);
}

export function chargeChars(count: number): void {
  if (!allocationBudget) return;
  allocationBudget.chars += count;
  if (allocationBudget.chars > MAX_ALLOCATED_CHARS) throw new LimitError(`the expression built more than ${MAX_ALLOCATED_CHARS.toLocaleString('en-US')} characters of text in all`);
}

export function str(v: string): PyValue {
  if (v.length > MAX_STRING) throw new LimitError(`a string would be longer than ${MAX_STRING.toLocaleString('en-US')} characters`);
  if (v.length > 64) chargeChars(v.length);
  return { t: 'str', v };
}
export function list(items: PyValue[]): PyValue {
  checkCount(items.length);
  chargeItems(items.length);
  return { t: 'list', items };
}
export function tuple(items: readonly PyValue[]): PyValue {
  checkCount(items.length);
  chargeItems(items.length);
  return { t: 'tuple', items };
}
export function checkCount(count: number | bigint): void {
  if (count > MAX_ITEMS) throw new LimitError(`a container would hold more than ${MAX_ITEMS.toLocaleString('en-US')} items`);
}
export function checkIntBits(bits: number | bigint): void {
  if (bits > MAX_INT_BITS) throw new LimitError(`an integer would have more than ${MAX_INT_BITS.toLocaleString('en-US')} bits`);
}

export function textOnly(value: PyOf<'opaque'>): PyException {
  const shown = value.repr.length <= 200 ? value.repr : value.repr.slice(0, 200) + '…';
  const cut = value.node.truncated ? ' (its repr was truncated)' : '';
  return new PyException('TextOnly', `${value.origin} exists only as text in this trace${cut}: ${shown}`);
}

// ---- types -------------------------------------------------------------------------------------------------------

const ITERATOR_NAMES: Readonly<Record<string, string>> = {};

export function typeName(value: PyValue): string {
  switch (value.t) {
    case 'None':
      return 'NoneType';
    case 'bytes':
      return value.mutable ? 'bytearray' : 'bytes';
    case 'dict':
      return value.flavor;
    case 'set':
      return value.frozen ? 'frozenset' : 'set';
    case 'view':
      return value.dict.flavor === 'OrderedDict' ? `o${value.kind}` : value.kind;
    case 'builtin':
      return value.name.includes('.') ? 'method_descriptor' : 'builtin_function_or_method';
    case 'method':
      return 'builtin_function_or_method';
    case 'iterator':
      return ITERATOR_NAMES[value.kind] ?? value.kind;
    case 'opaque':
      return value.node.typeName;
    default:
      return value.t;
  }
}

/** Python's type name as the debugger shows it (`None` for NoneType, as the Variables view does). */
export function kindOf(value: PyValue): string {
  return value.t === 'None' ? 'None' : typeName(value);
}

// ---- numbers -----------------------------------------------------------------------------------------------------

/** The number as an int (bools are ints), or undefined. */
export function asInt(value: PyValue): bigint | undefined {
  if (value.t === 'int') return value.v;
  if (value.t === 'bool') return value.v ? 1n : 0n;
  return undefined;
}

export function intToFloat(v: bigint): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new PyException('OverflowError', 'int too large to convert to float');
  return n;
}

/** The number as a float for mixed arithmetic, or undefined when not a real number. */
export function asFloat(value: PyValue): number | undefined {
  if (value.t === 'float') return value.v;
  const i = asInt(value);
  return i === undefined ? undefined : intToFloat(i);
}

export function isNumber(value: PyValue): boolean {
  return value.t === 'int' || value.t === 'bool' || value.t === 'float' || value.t === 'complex';
}

/** Exact comparison of an int with a float (big ints included): -1, 0, 1, or undefined for nan. */
function compareIntFloat(integer: bigint, x: number): number | undefined {
  if (Number.isNaN(x)) return undefined;
  if (x === Infinity) return -1;
  if (x === -Infinity) return 1;
  const floor = Math.floor(x);
  const floorBig = BigInt(floor);
  if (integer < floorBig) return -1;
  if (integer > floorBig) return 1;
  return floor === x ? 0 : -1;
}

/** Order of two real numbers: -1, 0, 1, or undefined when unordered (nan). */
export function compareReal(a: PyValue, b: PyValue): number | undefined {
  const ai = asInt(a);
  const bi = asInt(b);
  if (ai !== undefined && bi !== undefined) return ai < bi ? -1 : ai > bi ? 1 : 0;
  if (ai !== undefined && b.t === 'float') return compareIntFloat(ai, b.v);
  if (bi !== undefined && a.t === 'float') {
    const flipped = compareIntFloat(bi, a.v);
    return flipped === undefined ? undefined : -flipped;
  }
  if (a.t === 'float' && b.t === 'float') {
    if (Number.isNaN(a.v) || Number.isNaN(b.v)) return undefined;
    return a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
  }
  return undefined;
}

// ---- repr --------------------------------------------------------------------------------------------------------

/** Python's repr of a float: the shortest text that reads back the same, in Python's layout. */
export function floatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = Math.abs(x).toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const digits = mantissa.replace('.', '');
  const sign = x < 0 ? '-' : '';
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
      const fraction = digits.slice(exponent + 1);
      return `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
    }
    return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${head}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/** A float inside a complex repr: like repr, without a trailing `.0`. */
function complexPart(x: number): string {
  const text = floatRepr(x);
  return text.endsWith('.0') ? text.slice(0, -2) : text;
}

export function complexRepr(re: number, im: number): string {
  if (re === 0 && !Object.is(re, -0)) return `${complexPart(im)}j`;
  const imText = complexPart(im);
  const signed = imText.startsWith('-') ? imText : `+${imText}`;
  return `(${complexPart(re)}${signed}j)`;
}

const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

export function strRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else if (code < 0x7f || ch === ' ') out += ch;
    else if (ch.length === 1 && code >= 0xd800 && code <= 0xdfff) out += '\\u' + code.toString(16).padStart(4, '0');
    else if (NOT_PRINTABLE.test(ch)) {
      out += code <= 0xff ? '\\x' + code.toString(16).padStart(2, '0') : code <= 0xffff ? '\\u' + code.toString(16).padStart(4, '0') : '\\U' + code.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

export function bytesRepr(bytes: Uint8Array): string {
  let hasSingle = false;
  let hasDouble = false;
  for (const b of bytes) {
    if (b === 0x27) hasSingle = true;
    if (b === 0x22) hasDouble = true;
  }
  const quote = hasSingle && !hasDouble ? '"' : "'";
  let out = 'b' + quote;
  for (const b of bytes) {
    const ch = String.fromCharCode(b);
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (b < 0x20 || b >= 0x7f) out += '\\x' + b.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

const COLLECTIONS_TYPES = new Set(['deque', 'Counter', 'OrderedDict', 'defaultdict']);

/** Thrown by the repr writer when its text reached the limit: the caller marks the text as cut. */
class ReprFull extends Error {}

class ReprWriter {
  text = '';
  private readonly active = new Set<PyValue>();
  constructor(private readonly limit: number) {}

  add(piece: string): void {
    this.text += piece;
    if (this.text.length > this.limit) throw new ReprFull();
  }

  value(value: PyValue): void {
    switch (value.t) {
      case 'None':
        return this.add('None');
      case 'bool':
        return this.add(value.v ? 'True' : 'False');
      case 'int':
        return this.add(value.v.toString());
      case 'float':
        return this.add(floatRepr(value.v));
      case 'complex':
        return this.add(complexRepr(value.re, value.im));
      case 'str':
        return this.add(strRepr(value.v.length > this.limit ? value.v.slice(0, this.limit) : value.v));
      case 'bytes':
        return this.add(value.mutable ? `bytearray(${bytesRepr(value.v)})` : bytesRepr(value.v));
      case 'ellipsis':
        return this.add('Ellipsis');
      case 'range':
        return this.add(value.step === 1n ? `range(${value.start}, ${value.stop})` : `range(${value.start}, ${value.stop}, ${value.step})`);
      case 'slice':
        this.add('slice(');
        this.value(value.lo);
        this.add(', ');
        this.value(value.hi);
        this.add(', ');
        this.value(value.step);
        return this.add(')');
      case 'type':
        return this.add(`<class '${COLLECTIONS_TYPES.has(value.name) ? `collections.${value.name}` : value.name}'>`);
      case 'builtin': {
        const dot = value.name.indexOf('.');
        return this.add(dot > 0 ? `<method '${value.name.slice(dot + 1)}' of '${value.name.slice(0, dot)}' objects>` : `<built-in function ${value.name}>`);
      }
      case 'method':
        return this.add(`<built-in method ${value.name} of ${typeName(value.self)} object>`);
      case 'function':
        return this.add('<function <lambda>>');
      case 'iterator':
        return this.add(value.kind === 'generator' ? '<generator object <genexpr>>' : `<${value.kind === '_deque_iterator' ? '_collections.' : ''}${typeName(value)} object>`);
      case 'opaque':
        return this.add(value.repr);
      case 'view':
        this.add(`${typeName(value)}(`);
        this.items(
          [...value.dict.map.values()].map((entry) =>
            value.kind === 'dict_keys' ? entry.key : value.kind === 'dict_values' ? entry.value : { t: 'tuple', items: [entry.key, entry.value] },
          ),
          '[',
          ']',
        );
        return this.add(')');
      default:
        return this.container(value);
    }
  }

  private container(value: PyOf<'list' | 'tuple' | 'deque' | 'dict' | 'set'>): void {
    if (this.active.has(value)) return this.add(value.t === 'dict' ? '{...}' : value.t === 'tuple' ? '(...)' : value.t === 'set' ? `${value.frozen ? 'frozenset' : 'set'}(...)` : '[...]');
    this.active.add(value);
    try {
      switch (value.t) {
        case 'list':
          return this.items(value.items, '[', ']');
        case 'tuple':
          return this.items(value.items, '(', value.items.length === 1 ? ',)' : ')');
        case 'deque':
          this.add('deque(');
          this.items(value.items, '[', ']');
          return this.add(value.maxlen === null ? ')' : `, maxlen=${value.maxlen})`);
        case 'set': {
          const keys = setOrder(value.map);
          if (keys.length === 0) return this.add(value.frozen ? 'frozenset()' : 'set()');
          if (value.frozen) this.add('frozenset(');
          this.items(keys, '{', '}');
          if (value.frozen) this.add(')');
          return;
        }
        case 'dict':
          return this.dict(value);
      }
    } finally {
      this.active.delete(value);
    }
  }

  private dict(value: PyOf<'dict'>): void {
    let entries = [...value.map.values()];
    if (value.flavor === 'OrderedDict') {
      if (entries.length === 0) return this.add('OrderedDict()');
      this.add('OrderedDict(');
      this.items(entries.map((entry) => ({ t: 'tuple', items: [entry.key, entry.value] })), '[', ']');
      return this.add(')');
    }
    if (value.flavor === 'Counter') {
      if (entries.length === 0) return this.add('Counter()');
      entries = stableSortByCountDescending(entries);
      this.add('Counter(');
    }
    if (value.flavor === 'defaultdict') {
      this.add('defaultdict(');
      this.value(value.factory ?? NONE);
      this.add(', ');
    }
    this.add('{');
    entries.forEach((entry, index) => {
      if (index > 0) this.add(', ');
      this.value(entry.key);
      this.add(': ');
      this.value(entry.value);
    });
    this.add('}');
    if (value.flavor !== 'dict') this.add(')');
  }

  private items(items: readonly PyValue[], open: string, close: string): void {
    this.add(open);
    items.forEach((item, index) => {
      if (index > 0) this.add(', ');
      this.value(item);
    });
    this.add(close);
  }
}

function stableSortByCountDescending(entries: { key: PyValue; value: PyValue }[]): { key: PyValue; value: PyValue }[] {
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => {
      const order = compareReal(b.entry.value, a.entry.value);
      return order === undefined || order === 0 ? a.index - b.index : order;
    })
    .map(({ entry }) => entry);
}

/** Python's repr, cut at `limit` characters (then ending with the truncation marker). */
export function reprOf(value: PyValue, limit = MAX_STRING): string {
  const writer = new ReprWriter(limit);
  try {
    writer.value(value);
    return writer.text;
  } catch (error) {
    if (error instanceof ReprFull) {
      if (limit >= MAX_STRING) throw new LimitError(`a text would be longer than ${MAX_STRING.toLocaleString('en-US')} characters`);
      return writer.text.slice(0, limit) + TRUNCATION_MARKER;
    }
    throw error;
  }
}

/** Python's str(): the text itself for str, the repr otherwise. */
export function strOf(value: PyValue): string {
  if (value.t === 'str') return value.v;
  if (value.t === 'opaque' && value.node.kind === 'str') {
    throw textOnly(value);
  }
  return reprOf(value);
}

// ---- hashing and equality ----------------------------------------------------------------------------------------

const identities = new WeakMap<object, number>();
let nextIdentity = 1;
function identityOf(value: object): number {
  let id = identities.get(value);
  if (id === undefined) {
    id = nextIdentity++;
    identities.set(value, id);
  }
  return id;
}

/** A string that is equal for exactly the keys Python's dict treats as the same key; throws TypeError for unhashable values. */
export function hashKey(value: PyValue): string {
  switch (value.t) {
    case 'None':
      return 'N';
    case 'ellipsis':
      return 'E';
    case 'bool':
      return value.v ? 'i1' : 'i0';
    case 'int':
      return `i${value.v}`;
    case 'float':
      if (Number.isInteger(value.v)) return `i${BigInt(value.v)}`;
      return `f${value.v}`;
    case 'complex':
      return value.im === 0 ? hashKey(float(value.re)) : `c${value.re},${value.im}`;
    case 'str':
      return `s${value.v}`;
    case 'bytes':
      if (value.mutable) break;
      return `b${Buffer.from(value.v).toString('hex')}`;
    case 'tuple':
      return `t${JSON.stringify(value.items.map(hashKey))}`;
    case 'set':
      if (!value.frozen) break;
      return `F${JSON.stringify([...value.map.keys()].sort())}`;
    case 'range':
      return `r${rangeLength(value) === 0n ? '' : `${value.start},${value.step},${rangeLength(value)}`}`;
    case 'type':
      return `T${value.name}`;
    case 'builtin':
      return `B${value.name}`;
    case 'opaque':
      return `o${identityOf(value)}`;
    case 'function':
    case 'iterator':
    case 'method':
      return `@${identityOf(value)}`;
    case 'view':
      if (value.kind !== 'dict_values') break;
      return `@${identityOf(value)}`;
    default:
      break;
  }
  throw new PyException('TypeError', `unhashable type: '${typeName(value)}'`);
}

export function rangeLength(r: PyOf<'range'>): bigint {
  if (r.step > 0n) return r.stop > r.start ? (r.stop - r.start + r.step - 1n) / r.step : 0n;
  return r.start > r.stop ? (r.start - r.stop - r.step - 1n) / -r.step : 0n;
}

export function rangeItem(r: PyOf<'range'>, index: bigint): bigint {
  return r.start + r.step * index;
}

function sequenceItems(value: PyValue): readonly PyValue[] | undefined {
  return value.t === 'list' || value.t === 'tuple' || value.t === 'deque' ? value.items : undefined;
}

/** Python `==`. Values known only as text compare equal only to themselves; anything else about them raises. */
export function pyEquals(a: PyValue, b: PyValue, depth = 0): boolean {
  if (a === b && a.t !== 'float') return true;
  if (depth > 200) throw new PyException('RecursionError', 'maximum recursion depth exceeded in comparison');
  if (a.t === 'opaque') throw textOnly(a);
  if (b.t === 'opaque') throw textOnly(b);
  if (isNumber(a) && isNumber(b)) {
    if (a.t === 'complex' || b.t === 'complex') {
      const [ar, ai] = a.t === 'complex' ? [a.re, a.im] : [asFloat(a)!, 0];
      const [br, bi] = b.t === 'complex' ? [b.re, b.im] : [asFloat(b)!, 0];
      return ar === br && ai === bi;
    }
    return compareReal(a, b) === 0;
  }
  if (a.t === 'str' && b.t === 'str') return a.v === b.v;
  if (a.t === 'bytes' && b.t === 'bytes') return a.v.length === b.v.length && a.v.every((byte, index) => byte === b.v[index]);
  if ((a.t === 'list' && b.t === 'list') || (a.t === 'tuple' && b.t === 'tuple') || (a.t === 'deque' && b.t === 'deque')) {
    const x = sequenceItems(a)!;
    const y = sequenceItems(b)!;
    return x.length === y.length && x.every((item, index) => item === y[index] || pyEquals(item, y[index]!, depth + 1));
  }
  if (a.t === 'dict' && b.t === 'dict') {
    if (a.map.size !== b.map.size) return false;
    for (const [key, entry] of a.map) {
      const other = b.map.get(key);
      if (!other || !(other.value === entry.value || pyEquals(entry.value, other.value, depth + 1))) return false;
    }
    if (a.flavor === 'OrderedDict' && b.flavor === 'OrderedDict') return [...a.map.keys()].every((key, index) => [...b.map.keys()][index] === key);
    return true;
  }
  if (a.t === 'set' && b.t === 'set') return a.map.size === b.map.size && [...a.map.keys()].every((key) => b.map.has(key));
  if (a.t === 'view' && b.t === 'view' && a.kind === 'dict_keys' && b.kind === 'dict_keys') {
    return a.dict.map.size === b.dict.map.size && [...a.dict.map.keys()].every((key) => b.dict.map.has(key));
  }
  if (a.t === 'range' && b.t === 'range') return hashKey(a) === hashKey(b);
  if (a.t === 'None' || b.t === 'None' || a.t === 'ellipsis' || b.t === 'ellipsis') return false;
  if (a.t === 'type' && b.t === 'type') return a.name === b.name;
  if (a.t === 'builtin' && b.t === 'builtin') return a.name === b.name;
  if (a.t === 'slice' && b.t === 'slice') return pyEquals(a.lo, b.lo, depth + 1) && pyEquals(a.hi, b.hi, depth + 1) && pyEquals(a.step, b.step, depth + 1);
  return false;
}

/** Python `is`: singletons and small values by value (as CPython shares them), everything else by identity. */
export function pyIs(a: PyValue, b: PyValue): boolean {
  if (a === b) return true;
  if (a.t === 'opaque' || b.t === 'opaque') {
    // `x is None` on a value known only as text: it is not None (None has its own repr).
    if (a.t === 'None' || b.t === 'None' || a.t === 'bool' || b.t === 'bool' || a.t === 'ellipsis' || b.t === 'ellipsis') return false;
    throw textOnly((a.t === 'opaque' ? a : b) as PyOf<'opaque'>);
  }
  if (a.t !== b.t) return false;
  switch (a.t) {
    case 'None':
    case 'ellipsis':
      return true;
    case 'bool':
      return a.v === (b as PyOf<'bool'>).v;
    case 'type':
    case 'builtin':
      return a.name === (b as PyOf<'type'>).name;
    case 'int':
      // CPython caches -5..256; outside that, two computed ints are distinct objects.
      return a.v === (b as PyOf<'int'>).v && a.v >= -5n && a.v <= 256n;
    case 'tuple':
      return a.items.length === 0 && (b as PyOf<'tuple'>).items.length === 0;
    default:
      return false;
  }
}

/** Python's `<`; throws TypeError where Python does. */
export function pyLess(a: PyValue, b: PyValue, op = '<', depth = 0): boolean {
  if (depth > 200) throw new PyException('RecursionError', 'maximum recursion depth exceeded in comparison');
  if (a.t === 'opaque') throw textOnly(a);
  if (b.t === 'opaque') throw textOnly(b);
  if (isNumber(a) && isNumber(b) && a.t !== 'complex' && b.t !== 'complex') return compareReal(a, b) === -1;
  if (a.t === 'str' && b.t === 'str') return compareCodePoints(a.v, b.v) < 0;
  if (a.t === 'bytes' && b.t === 'bytes') {
    const n = Math.min(a.v.length, b.v.length);
    for (let i = 0; i < n; i++) if (a.v[i] !== b.v[i]) return a.v[i]! < b.v[i]!;
    return a.v.length < b.v.length;
  }
  if ((a.t === 'list' && b.t === 'list') || (a.t === 'tuple' && b.t === 'tuple') || (a.t === 'deque' && b.t === 'deque')) {
    const x = sequenceItems(a)!;
    const y = sequenceItems(b)!;
    const n = Math.min(x.length, y.length);
    for (let i = 0; i < n; i++) {
      if (!pyEquals(x[i]!, y[i]!, depth + 1)) return pyLess(x[i]!, y[i]!, op, depth + 1);
    }
    return x.length < y.length;
  }
  if (a.t === 'set' && b.t === 'set') return a.map.size < b.map.size && [...a.map.keys()].every((key) => b.map.has(key));
  throw new PyException('TypeError', `'${op}' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`);
}

export function compareCodePoints(a: string, b: string): number {
  // Python orders str by code point; JS `<` orders UTF-16 units, which differs above U+FFFF.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs === ys) return x < y ? -1 : 1;
    return xs ? 1 : -1;
  }
  return a.length - b.length;
}

// ---- truth -------------------------------------------------------------------------------------------------------

const OPAQUE_CONTAINERS = new Set(['list', 'tuple', 'dict', 'set', 'frozenset', 'deque', 'defaultdict', 'OrderedDict', 'Counter', 'dict_keys', 'dict_values', 'dict_items', 'mappingproxy']);
const OPAQUE_ALWAYS_TRUE = new Set(['function', 'builtin_function_or_method', 'method', 'module', 'generator', 'coroutine', 'async_generator', 'type']);

/** Python truthiness; undefined for a value known only as text whose type's rule is unknown. */
export function truthOf(value: PyValue): boolean | undefined {
  switch (value.t) {
    case 'None':
      return false;
    case 'bool':
      return value.v;
    case 'int':
      return value.v !== 0n;
    case 'float':
      return value.v !== 0;
    case 'complex':
      return value.re !== 0 || value.im !== 0;
    case 'str':
      return value.v.length > 0;
    case 'bytes':
      return value.v.length > 0;
    case 'list':
    case 'tuple':
    case 'deque':
      return value.items.length > 0;
    case 'dict':
    case 'set':
      return value.map.size > 0;
    case 'view':
      return value.dict.map.size > 0;
    case 'range':
      return rangeLength(value) > 0n;
    case 'opaque': {
      const node = value.node;
      if (OPAQUE_CONTAINERS.has(node.kind)) return node.childCount > 0 || node.truncated;
      if ((node.kind === 'str' || node.kind === 'bytes') && node.truncated) return true;
      if (OPAQUE_ALWAYS_TRUE.has(node.kind)) return true;
      return undefined;
    }
    default:
      return true;
  }
}

/** Truth for `and`, `or`, `not`, `if`: a value whose truth is unknown stops the evaluation with a clear error. */
export function isTrue(value: PyValue): boolean {
  const truth = truthOf(value);
  if (truth === undefined) throw textOnly(value as PyOf<'opaque'>);
  return truth;
}

// ---- strings as code points --------------------------------------------------------------------------------------

const SURROGATE = /[\ud800-\udfff]/;

/** The code points of a str, as Python indexes them (only materialised when the text has astral characters). */
export function codePoints(s: string): readonly string[] | undefined {
  return SURROGATE.test(s) ? Array.from(s) : undefined;
}

export function strLength(s: string): number {
  const points = codePoints(s);
  return points ? points.length : s.length;
}

// ---- set order ---------------------------------------------------------------------------------------------------

const HASH_MODULUS = (1n << 61n) - 1n;
const SIZE_T = 1n << 64n;
const LINEAR_PROBES = 9;

/** CPython's hash of an int (deterministic, unlike str's), as the unsigned size_t its tables use. */
function intHash(v: bigint): bigint {
  const magnitude = (v < 0n ? -v : v) % HASH_MODULUS;
  let hash = v < 0n ? -magnitude : magnitude;
  if (hash === -1n) hash = -2n;
  return hash < 0n ? hash + SIZE_T : hash;
}

/**
 * The order CPython iterates a set of ints in: its hash table's slot order, found by replaying the inserts
 * (setobject.c set_add_entry, set_insert_clean, set_table_resize). Sets holding other keys keep insertion order,
 * as str hashes are random per process anyway.
 */
export function setOrder(map: PyMap): PyValue[] {
  const keys = [...map.values()].map((entry) => entry.key);
  const hashes: bigint[] = [];
  for (const key of keys) {
    const integer = asInt(key) ?? (key.t === 'float' && Number.isInteger(key.v) ? BigInt(key.v) : undefined);
    if (integer === undefined || keys.length > 100_000) return keys;
    hashes.push(intHash(integer));
  }
  let mask = 7n;
  let table: (number | undefined)[] = new Array(8);
  let fill = 0;
  const insert = (slots: (number | undefined)[], slotMask: bigint, index: number): void => {
    const hash = hashes[index]!;
    let perturb = hash;
    let i = hash & slotMask;
    for (;;) {
      const probes = i + BigInt(LINEAR_PROBES) <= slotMask ? LINEAR_PROBES : 0;
      for (let j = 0; j <= probes; j++) {
        const at = Number(i) + j;
        if (slots[at] === undefined) {
          slots[at] = index;
          return;
        }
      }
      perturb >>= 5n;
      i = (i * 5n + 1n + perturb) & slotMask;
    }
  };
  for (let index = 0; index < keys.length; index++) {
    insert(table, mask, index);
    fill++;
    if (BigInt(fill) * 5n >= mask * 3n) {
      const minused = fill > 50000 ? fill * 2 : fill * 4;
      let size = 8;
      while (size <= minused) size *= 2;
      const old = table;
      table = new Array(size);
      mask = BigInt(size - 1);
      for (const slot of old) if (slot !== undefined) insert(table, mask, slot);
    }
  }
  return table.filter((slot): slot is number => slot !== undefined).map((slot) => keys[slot]!);
}
