// Turns a Python `repr` string (from the tracer or from the model) into a lazily expandable tree for the debugger's
// Variables view: one linear scan per level, children materialised by ranges, never throws on untrusted text.
import { TRUNCATION_MARKER } from '../trace/model';

/**
 * What a repr looks like. Literal kinds carry Python's own type name (`type(x).__name__`, `None` for NoneType) so they
 * match what the evaluator reports as the kind; anything else is `object` (or one of the recognisable `<...>` forms).
 */
export type ReprKind =
  | 'str'
  | 'bytes'
  | 'int'
  | 'float'
  | 'complex'
  | 'bool'
  | 'None'
  | 'ellipsis'
  | 'NotImplementedType'
  | 'list'
  | 'tuple'
  | 'dict'
  | 'set'
  | 'frozenset'
  | 'deque'
  | 'defaultdict'
  | 'OrderedDict'
  | 'Counter'
  | 'dict_keys'
  | 'dict_values'
  | 'dict_items'
  | 'mappingproxy'
  | 'bytearray'
  | 'range'
  | 'type'
  | 'function'
  | 'builtin_function_or_method'
  | 'method'
  | 'module'
  | 'generator'
  | 'coroutine'
  | 'async_generator'
  | 'object';

/**
 * How a node's children are named, which is also how an expression reaches them:
 * `index` → `x[0]`, `position` → not addressable (sets), `key` → `x[<name>]` (name is the key's repr), `field` → `x.name`.
 */
export type ChildNaming = 'index' | 'position' | 'key' | 'field';

/** One child of an expanded node. */
export interface ReprChild {
  /** `'0'`, `'1'`... for sequences and sets, the key's repr for mappings, the field name for `Name(k=v)` records. */
  readonly name: string;
  /** The child's repr exactly as it stands in the parent's text (a truncated last child keeps the marker). */
  readonly value: string;
  /** The child parsed shallowly; computed on first access. */
  readonly node: ReprNode;
}

/** A parsed repr. Containers know their child count after one scan; children are built only when asked for. */
export interface ReprNode {
  /** The repr text of this node (trimmed). */
  readonly text: string;
  readonly kind: ReprKind;
  /** What to show as the type: the kind for builtins, the class's `__name__` for records and `<X object>`. */
  readonly typeName: string;
  /** Number of children (0 for atoms); a truncated container counts the children before the cut, the partial one included. */
  readonly childCount: number;
  /** Whether this node can be expanded (it has children). */
  readonly expandable: boolean;
  /** The text ended with the tracer's truncation marker: the value shown is only a prefix of the real one. */
  readonly truncated: boolean;
  readonly naming: ChildNaming;
  /** Text before the first child (`[`, `deque([`, `Point(`); for an atom, the whole text. */
  readonly prefix: string;
  /** Text after the last child (`]`, `,)`, `], maxlen=3)`); for an atom, empty. */
  readonly suffix: string;
  /** Children `start` .. `start + count - 1`, clamped to the existing ones. */
  children(start?: number, count?: number): ReprChild[];
}

const MARKER_LENGTH = TRUNCATION_MARKER.length;

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x27;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const EQUALS = 0x3d;
const LT = 0x3c;
const GT = 0x3e;
const LPAREN = 0x28;
const RPAREN = 0x29;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

/** Index just past the string literal whose opening quote is at `i`, or -1 when it is not closed before `limit`. */
function skipString(text: string, i: number, limit: number): number {
  const quote = text.charCodeAt(i);
  let j = i + 1;
  while (j < limit) {
    const c = text.charCodeAt(j);
    if (c === BACKSLASH) j += 2;
    else if (c === quote) return j + 1;
    else j++;
  }
  return -1;
}

/** Index just past a `<...>` form starting at `i` (nested `<>` counted, quotes skipped), or -1 when not closed before `limit`. */
function skipAngle(text: string, i: number, limit: number): number {
  let depth = 0;
  let j = i;
  while (j < limit) {
    const c = text.charCodeAt(j);
    if (c === QUOTE || c === DQUOTE) {
      j = skipString(text, j, limit);
      if (j < 0) return -1;
      continue;
    }
    if (c === LT) depth++;
    else if (c === GT && --depth === 0) return j + 1;
    j++;
  }
  return -1;
}

/** Child boundaries found by one scan of a bracketed body. Offsets index the whole text. */
interface BodyScan {
  readonly starts: number[];
  /** Exclusive; for a child cut by truncation this is the cut position (the marker follows). */
  readonly ends: number[];
  /** Index of the first top-level `:` in each child, or -1. */
  readonly colons: number[];
  /** Index of the matching closer, or -1 when the body was cut at `limit`. */
  readonly closeIndex: number;
  readonly trailingComma: boolean;
  /** The last child runs into the cut (its value gets the marker). */
  readonly lastIsPartial: boolean;
}

/**
 * Scans the body after the opener at `open` up to its matching `close` at nesting depth 0, recording each top-level
 * child's trimmed range. With `cutAllowed`, reaching `limit` inside the body (or inside a string or `<...>`) is a cut,
 * not an error. Returns undefined for anything malformed: mismatched brackets, empty children, stray closers.
 */
function scanBody(text: string, open: number, limit: number, close: number, cutAllowed: boolean): BodyScan | undefined {
  const starts: number[] = [];
  const ends: number[] = [];
  const colons: number[] = [];
  const stack: number[] = [];
  let elementStart = -1;
  let lastEnd = -1;
  let colon = -1;
  let atValueStart = true;
  let trailingComma = false;
  let i = open + 1;
  while (i < limit) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (stack.length === 0) {
      if (c === close) {
        if (elementStart >= 0) {
          starts.push(elementStart);
          ends.push(lastEnd);
          colons.push(colon);
        } else if (starts.length > 0) {
          if (trailingComma) return undefined;
          trailingComma = true;
        }
        return { starts, ends, colons, closeIndex: i, trailingComma, lastIsPartial: false };
      }
      if (c === COMMA) {
        if (elementStart < 0) return undefined;
        starts.push(elementStart);
        ends.push(lastEnd);
        colons.push(colon);
        elementStart = -1;
        colon = -1;
        atValueStart = true;
        i++;
        continue;
      }
      if (c === COLON && colon < 0) {
        if (elementStart < 0) return undefined;
        colon = i;
        atValueStart = true;
        i++;
        continue;
      }
    }
    if (elementStart < 0) elementStart = i;
    if (c === QUOTE || c === DQUOTE || (c === LT && atValueStart)) {
      const next = c === LT ? skipAngle(text, i, limit) : skipString(text, i, limit);
      if (next < 0) {
        if (!cutAllowed) return undefined;
        lastEnd = limit;
        break;
      }
      lastEnd = next;
      i = next;
      atValueStart = false;
      continue;
    }
    if (c === LBRACKET) stack.push(RBRACKET);
    else if (c === LPAREN) stack.push(RPAREN);
    else if (c === LBRACE) stack.push(RBRACE);
    else if (c === RBRACKET || c === RPAREN || c === RBRACE) {
      if (stack.pop() !== c) return undefined;
    }
    atValueStart = c === LBRACKET || c === LPAREN || c === LBRACE || c === COMMA || c === COLON || c === EQUALS;
    lastEnd = i + 1;
    i++;
  }
  if (!cutAllowed) return undefined;
  let lastIsPartial = false;
  if (elementStart >= 0) {
    starts.push(elementStart);
    ends.push(limit);
    colons.push(colon);
    lastIsPartial = true;
  }
  return { starts, ends, colons, closeIndex: -1, trailingComma: false, lastIsPartial };
}

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*/y;
/** A class or function name as reprs print it: dotted, possibly with `<locals>` parts (`f.<locals>.Point`). */
const QUALIFIED_NAME = /[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|<locals>))*/y;
const FIELD_START = /[A-Za-z_][A-Za-z0-9_]*=(?!=)/y;
const INT = /^-?\d+$/;
const FLOAT = /^-?(?:\d+\.\d*(?:e[+-]?\d+)?|\d+e[+-]?\d+|inf|nan)$/;
const IMAGINARY = /^-?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf|nan)j$/;
const COMPLEX_BODY = /^-?(?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf|nan)[+-](?:\d+(?:\.\d*)?(?:e[+-]?\d+)?|inf|nan)j$/;
const MAXLEN_SUFFIX = /^, maxlen=\d+\)$/;

const KEYWORD_ATOMS: ReadonlyMap<string, ReprKind> = new Map<string, ReprKind>([
  ['None', 'None'],
  ['True', 'bool'],
  ['False', 'bool'],
  ['Ellipsis', 'ellipsis'],
  ['NotImplemented', 'NotImplementedType'],
  ['inf', 'float'],
  ['nan', 'float'],
  ['infj', 'complex'],
  ['nanj', 'complex'],
]);

interface Wrapper {
  readonly opener: number;
  readonly kind: ReprKind;
}
/** `Name(<inner container>...)` wrappers whose children are those of the inner literal. */
const WRAPPERS = new Map<string, readonly Wrapper[]>([
  ['frozenset', [{ opener: LBRACE, kind: 'frozenset' }]],
  ['deque', [{ opener: LBRACKET, kind: 'deque' }]],
  ['Counter', [{ opener: LBRACE, kind: 'Counter' }]],
  ['OrderedDict', [{ opener: LBRACE, kind: 'OrderedDict' }, { opener: LBRACKET, kind: 'OrderedDict' }]],
  ['dict_keys', [{ opener: LBRACKET, kind: 'dict_keys' }]],
  ['dict_values', [{ opener: LBRACKET, kind: 'dict_values' }]],
  ['dict_items', [{ opener: LBRACKET, kind: 'dict_items' }]],
  ['mappingproxy', [{ opener: LBRACE, kind: 'mappingproxy' }]],
]);
const EMPTY_CALLS: ReadonlyMap<string, ReprKind> = new Map<string, ReprKind>([
  ['set', 'set'],
  ['frozenset', 'frozenset'],
  ['Counter', 'Counter'],
  ['OrderedDict', 'OrderedDict'],
  ['deque', 'deque'],
]);
const ATOM_CALLS: ReadonlyMap<string, ReprKind> = new Map<string, ReprKind>([
  ['bytearray', 'bytearray'],
  ['range', 'range'],
]);

/** The class's `__name__`: the last part of a dotted or `<locals>` qualified name. */
function displayName(qualified: string): string {
  return qualified.slice(qualified.lastIndexOf('.') + 1);
}

/** Kind and type name of a `<...>` repr from its first words. */
function angleKind(body: string): { kind: ReprKind; typeName: string } {
  if (body.startsWith('<class ')) return { kind: 'type', typeName: 'type' };
  if (body.startsWith('<function ')) return { kind: 'function', typeName: 'function' };
  if (body.startsWith('<built-in ')) return { kind: 'builtin_function_or_method', typeName: 'builtin_function_or_method' };
  if (body.startsWith('<bound method ')) return { kind: 'method', typeName: 'method' };
  if (body.startsWith('<module ')) return { kind: 'module', typeName: 'module' };
  for (const kind of ['generator', 'coroutine', 'async_generator'] as const) {
    if (body.startsWith(`<${kind} object`)) return { kind, typeName: kind };
  }
  QUALIFIED_NAME.lastIndex = 1;
  const name = QUALIFIED_NAME.exec(body);
  if (name) {
    const rest = body.slice(1 + name[0].length);
    // `<X object>`, `<X object; ...>`, `<Color.RED: 1>` (enum members).
    if (rest.startsWith(' object')) return { kind: 'object', typeName: displayName(name[0]) };
    const dot = name[0].lastIndexOf('.');
    if (rest.startsWith(':') && dot > 0) return { kind: 'object', typeName: displayName(name[0].slice(0, dot)) };
  }
  return { kind: 'object', typeName: 'object' };
}

/** A node without children. */
class AtomNode implements ReprNode {
  constructor(
    readonly text: string,
    readonly kind: ReprKind,
    readonly typeName: string,
    readonly truncated: boolean,
  ) {}
  get childCount(): number {
    return 0;
  }
  get expandable(): boolean {
    return false;
  }
  get naming(): ChildNaming {
    return 'position';
  }
  get prefix(): string {
    return this.text;
  }
  get suffix(): string {
    return '';
  }
  children(): ReprChild[] {
    return [];
  }
}

type ChildStyle = 'item' | 'entry' | 'field' | 'pair';

/** A child whose value, name and node are sliced/parsed only when read. */
class LazyChild implements ReprChild {
  private parsed: ReprNode | undefined;
  private pairParts: readonly [string, ReprNode] | undefined;
  constructor(
    private readonly source: string,
    private readonly style: ChildStyle,
    private readonly index: number,
    private readonly start: number,
    private readonly end: number,
    private readonly separator: number,
    private readonly partial: boolean,
  ) {}

  private get valueEnd(): number {
    return this.partial ? this.end + MARKER_LENGTH : this.end;
  }

  private get valueStart(): number {
    if (this.style === 'item' || this.style === 'pair') return this.start;
    let i = this.separator + 1;
    while (i < this.end && isSpace(this.source.charCodeAt(i))) i++;
    return i;
  }

  /** For `OrderedDict([(k, v), ...])`: the pair's key repr and value node, when the child is a 2-tuple. */
  private get pair(): readonly [string, ReprNode] | undefined {
    if (this.style !== 'pair') return undefined;
    if (!this.pairParts) {
      const tuple = parseRange(this.source, this.start, this.valueEnd);
      const parts = tuple.kind === 'tuple' && tuple.childCount === 2 ? tuple.children(0, 2) : [];
      const [key, value] = parts;
      this.pairParts = key && value ? [key.value, value.node] : ['', tuple];
    }
    return this.pairParts[0] === '' ? undefined : this.pairParts;
  }

  get name(): string {
    switch (this.style) {
      case 'item':
        return String(this.index);
      case 'pair':
        return this.pair?.[0] ?? String(this.index);
      case 'entry':
      case 'field': {
        let end = this.separator;
        while (end > this.start && isSpace(this.source.charCodeAt(end - 1))) end--;
        return this.source.slice(this.start, end);
      }
    }
  }

  get value(): string {
    const pair = this.pair;
    if (pair) return pair[1].text;
    return this.source.slice(this.valueStart, this.valueEnd);
  }

  get node(): ReprNode {
    const pair = this.pair;
    if (pair) return pair[1];
    this.parsed ??= parseRange(this.source, this.valueStart, this.valueEnd);
    return this.parsed;
  }
}

/** A container: the children's boundaries come from one BodyScan; their contents are parsed on demand. */
class ContainerNode implements ReprNode {
  constructor(
    private readonly source: string,
    private readonly start: number,
    private readonly end: number,
    readonly kind: ReprKind,
    readonly typeName: string,
    readonly naming: ChildNaming,
    private readonly style: ChildStyle,
    private readonly scan: BodyScan,
    /** Where the body opens (index of the opener) and closes (closer index, or the cut), for prefix/suffix of an empty body. */
    private readonly bodyOpen: number,
    private readonly bodyClose: number,
    readonly truncated: boolean,
  ) {}

  get text(): string {
    return this.source.slice(this.start, this.end);
  }
  get childCount(): number {
    return this.scan.starts.length;
  }
  get expandable(): boolean {
    return this.scan.starts.length > 0;
  }
  get prefix(): string {
    const first = this.scan.starts[0];
    return this.source.slice(this.start, first ?? this.bodyOpen + 1);
  }
  get suffix(): string {
    const count = this.scan.starts.length;
    if (count === 0) return this.source.slice(this.bodyClose, this.end);
    const lastEnd = this.scan.ends[count - 1] ?? this.end;
    return this.scan.lastIsPartial ? '' : this.source.slice(lastEnd, this.end);
  }
  children(start = 0, count = this.childCount): ReprChild[] {
    const total = this.childCount;
    const from = Math.max(0, Math.min(total, Math.floor(start)));
    const to = Math.max(from, Math.min(total, from + Math.floor(count)));
    const out: ReprChild[] = [];
    const { starts, ends, colons } = this.scan;
    for (let i = from; i < to; i++) {
      const partial = this.scan.lastIsPartial && i === total - 1;
      out.push(new LazyChild(this.source, this.style, i, starts[i] ?? 0, ends[i] ?? 0, colons[i] ?? -1, partial));
    }
    return out;
  }
}

/** Field children of `Name(k=v, ...)`: the `=` positions are found per child when the node is built. */
function fieldScan(text: string, scan: BodyScan): BodyScan | undefined {
  const equals: number[] = [];
  for (let i = 0; i < scan.starts.length; i++) {
    const start = scan.starts[i] ?? 0;
    FIELD_START.lastIndex = start;
    const match = FIELD_START.exec(text);
    if (!match) return undefined;
    equals.push(start + match[0].length - 1);
  }
  return { ...scan, colons: equals };
}

function closerOf(opener: number): number {
  return opener === LBRACKET ? RBRACKET : opener === LBRACE ? RBRACE : RPAREN;
}

/** `{...}` body as a dict (every child has a colon) or a set (none has one); undefined when mixed. */
function mappingStyle(scan: BodyScan): 'dict' | 'set' | undefined {
  const count = scan.starts.length;
  if (count === 0) return 'dict';
  let withColon = 0;
  for (let i = 0; i < count; i++) if ((scan.colons[i] ?? -1) >= 0) withColon++;
  // A child cut before its colon is dropped by the caller; judge by the complete ones.
  const complete = scan.lastIsPartial ? count - 1 : count;
  if (withColon >= complete && withColon > 0) return 'dict';
  if (withColon === 0) return 'set';
  return undefined;
}

/** Drops a cut last child of a dict that lost its colon: it has no key to show. */
function withoutKeylessTail(scan: BodyScan): BodyScan {
  const last = scan.starts.length - 1;
  if (!scan.lastIsPartial || last < 0 || (scan.colons[last] ?? -1) >= 0) return scan;
  return {
    ...scan,
    starts: scan.starts.slice(0, last),
    ends: scan.ends.slice(0, last),
    colons: scan.colons.slice(0, last),
    lastIsPartial: false,
  };
}

interface Range {
  readonly text: string;
  readonly start: number;
  /** End of the whole range, the marker included. */
  readonly end: number;
  /** End of the content before the marker. */
  readonly contentEnd: number;
  readonly truncated: boolean;
}

function atom(range: Range, kind: ReprKind, typeName: string = kind): ReprNode {
  return new AtomNode(range.text.slice(range.start, range.end), kind, typeName, range.truncated);
}

/** A bracketed literal (`[`, `(`, `{`) starting at `range.start`. */
function parseBracketed(range: Range): ReprNode {
  const { text, start, end, contentEnd, truncated } = range;
  const opener = text.charCodeAt(start);
  const scan = scanBody(text, start, contentEnd, closerOf(opener), truncated);
  if (!scan) return atom(range, 'object');
  const closedAtEnd = scan.closeIndex === contentEnd - 1;
  if (scan.closeIndex >= 0 && !closedAtEnd) return atom(range, 'object');
  const bodyClose = scan.closeIndex >= 0 ? scan.closeIndex : contentEnd;
  if (opener === LBRACKET) return new ContainerNode(text, start, end, 'list', 'list', 'index', 'item', scan, start, bodyClose, truncated);
  if (opener === LPAREN) {
    const count = scan.starts.length;
    const isTuple = count === 0 || count > 1 || scan.trailingComma || (scan.closeIndex < 0 && scan.lastIsPartial === false && count > 0);
    if (isTuple) return new ContainerNode(text, start, end, 'tuple', 'tuple', 'index', 'item', scan, start, bodyClose, truncated);
    if (count === 1 && scan.closeIndex >= 0 && COMPLEX_BODY.test(text.slice(start + 1, scan.closeIndex))) return atom(range, 'complex');
    return atom(range, 'object');
  }
  const style = mappingStyle(scan);
  if (style === 'dict') {
    return new ContainerNode(text, start, end, 'dict', 'dict', 'key', 'entry', withoutKeylessTail(scan), start, bodyClose, truncated);
  }
  if (style === 'set') return new ContainerNode(text, start, end, 'set', 'set', 'position', 'item', scan, start, bodyClose, truncated);
  return atom(range, 'object');
}

/** `Name(...)`: the known wrappers, empty constructors, `defaultdict`, records `Name(k=v)`, else an opaque object. */
function parseCall(range: Range, name: string, paren: number): ReprNode {
  const { text, start, end, contentEnd, truncated } = range;
  const afterParen = paren + 1;
  const emptyKind = EMPTY_CALLS.get(name);
  if (emptyKind && afterParen === contentEnd - 1 && text.charCodeAt(afterParen) === RPAREN) {
    const empty: BodyScan = { starts: [], ends: [], colons: [], closeIndex: afterParen, trailingComma: false, lastIsPartial: false };
    const naming: ChildNaming = emptyKind === 'deque' ? 'index' : emptyKind === 'Counter' || emptyKind === 'OrderedDict' ? 'key' : 'position';
    return new ContainerNode(text, start, end, emptyKind, emptyKind, naming, 'item', empty, paren, afterParen, truncated);
  }
  const atomKind = ATOM_CALLS.get(name);
  if (atomKind) return atom(range, atomKind);

  let innerOpen = afterParen;
  let kindsHere = WRAPPERS.get(name);
  if (name === 'defaultdict') {
    // defaultdict(<factory>, {...}): skip the factory (one value), then a dict body.
    const factory = scanBody(text, paren, contentEnd, RPAREN, truncated);
    const dictStart = factory && factory.starts.length >= 2 ? factory.starts[1] : undefined;
    if (dictStart !== undefined && text.charCodeAt(dictStart) === LBRACE) {
      innerOpen = dictStart;
      kindsHere = [{ opener: LBRACE, kind: 'defaultdict' }];
    }
  }
  const wrapper = kindsHere?.find((candidate) => candidate.opener === text.charCodeAt(innerOpen));
  if (wrapper) {
    const scan = scanBody(text, innerOpen, contentEnd, closerOf(wrapper.opener), truncated);
    const rest = scan && scan.closeIndex >= 0 ? text.slice(scan.closeIndex + 1, contentEnd) : '';
    const restOk = scan ? scan.closeIndex < 0 || rest === ')' || (wrapper.kind === 'deque' && MAXLEN_SUFFIX.test(rest)) : false;
    if (scan && restOk) {
      const bodyClose = scan.closeIndex >= 0 ? scan.closeIndex : contentEnd;
      if (wrapper.opener === LBRACKET) {
        const style: ChildStyle = wrapper.kind === 'OrderedDict' ? 'pair' : 'item';
        const naming: ChildNaming = wrapper.kind === 'OrderedDict' ? 'key' : wrapper.kind === 'deque' ? 'index' : 'position';
        return new ContainerNode(text, start, end, wrapper.kind, wrapper.kind, naming, style, scan, innerOpen, bodyClose, truncated);
      }
      const mapping = mappingStyle(scan);
      const wantsSet = wrapper.kind === 'frozenset';
      if (wantsSet && mapping === 'set' && scan.starts.length > 0) {
        return new ContainerNode(text, start, end, wrapper.kind, wrapper.kind, 'position', 'item', scan, innerOpen, bodyClose, truncated);
      }
      if (!wantsSet && mapping === 'dict') {
        return new ContainerNode(text, start, end, wrapper.kind, wrapper.kind, 'key', 'entry', withoutKeylessTail(scan), innerOpen, bodyClose, truncated);
      }
    }
  }

  // A record: every argument is `field=value` (namedtuple, dataclass, SimpleNamespace...).
  const args = scanBody(text, paren, contentEnd, RPAREN, truncated);
  const typeName = displayName(name);
  if (!args || (args.closeIndex >= 0 && args.closeIndex !== contentEnd - 1)) return atom(range, 'object', typeName);
  const complete = args.lastIsPartial ? { ...args, starts: args.starts.slice(0, -1) } : args;
  const fields = fieldScan(text, complete);
  if (!fields) return atom(range, 'object', typeName);
  const scan = args.lastIsPartial ? (fieldScan(text, args) ?? { ...fields, lastIsPartial: false }) : fields;
  const bodyClose = args.closeIndex >= 0 ? args.closeIndex : contentEnd;
  return new ContainerNode(text, start, end, 'object', typeName, 'field', 'field', scan, paren, bodyClose, truncated);
}

function parseNameLed(range: Range): ReprNode {
  const { text, start, contentEnd } = range;
  QUALIFIED_NAME.lastIndex = start;
  const match = QUALIFIED_NAME.exec(text);
  if (!match) return atom(range, 'object');
  const nameEnd = start + match[0].length;
  if (nameEnd > contentEnd) return atom(range, 'object');
  if (nameEnd === contentEnd) {
    const keyword = KEYWORD_ATOMS.get(match[0]);
    return keyword ? atom(range, keyword) : atom(range, 'object');
  }
  if (text.charCodeAt(nameEnd) === LPAREN) return parseCall(range, match[0], nameEnd);
  if (match[0] === 'b' || match[0] === 'B') return parseQuoted(range, nameEnd, 'bytes');
  return atom(range, 'object');
}

function parseQuoted(range: Range, quoteAt: number, kind: ReprKind): ReprNode {
  const c = range.text.charCodeAt(quoteAt);
  if (c !== QUOTE && c !== DQUOTE) return atom(range, 'object');
  const close = skipString(range.text, quoteAt, range.contentEnd);
  if (close === range.contentEnd || (close < 0 && range.truncated)) return atom(range, kind);
  return atom(range, 'object');
}

function parseNumber(range: Range): ReprNode {
  const body = range.text.slice(range.start, range.contentEnd);
  if (INT.test(body)) return atom(range, 'int');
  if (FLOAT.test(body)) return atom(range, 'float');
  if (IMAGINARY.test(body)) return atom(range, 'complex');
  return atom(range, 'object');
}

/** Parses `text[start, end)` shallowly. Whitespace around it is ignored. */
function parseRange(text: string, start: number, end: number): ReprNode {
  let s = start;
  let e = end;
  while (s < e && isSpace(text.charCodeAt(s))) s++;
  while (e > s && isSpace(text.charCodeAt(e - 1))) e--;
  const truncated = e - s >= MARKER_LENGTH && text.startsWith(TRUNCATION_MARKER, e - MARKER_LENGTH);
  const range: Range = { text, start: s, end: e, contentEnd: truncated ? e - MARKER_LENGTH : e, truncated };
  if (range.contentEnd <= s) return atom(range, 'object');
  const c = text.charCodeAt(s);
  if (c === LBRACKET || c === LPAREN || c === LBRACE) return parseBracketed(range);
  if (c === QUOTE || c === DQUOTE) return parseQuoted(range, s, 'str');
  if (c === LT) {
    const close = skipAngle(text, s, range.contentEnd);
    if (close === range.contentEnd || (close < 0 && truncated)) {
      const { kind, typeName } = angleKind(text.slice(s, Math.min(range.contentEnd, s + 200)));
      return atom(range, kind, typeName);
    }
    return atom(range, 'object');
  }
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return parseNumber(range);
  IDENTIFIER.lastIndex = s;
  if (IDENTIFIER.test(text)) return parseNameLed(range);
  return atom(range, 'object');
}

/** Parses a repr into a shallow node: one scan of the top level, nothing deeper until children are read. Never throws. */
export function parseRepr(text: string): ReprNode {
  try {
    return parseRange(text, 0, text.length);
  } catch {
    // Defensive only: every path above returns an atom for text it does not understand.
    return new AtomNode(text, 'object', 'object', text.endsWith(TRUNCATION_MARKER));
  }
}

/** The kind of a repr, for type display (`'list'`, `'str'`, `'object'`...). */
export function reprKind(text: string): ReprKind {
  return parseRepr(text).kind;
}

const SIMPLE_ESCAPES: ReadonlyMap<string, string> = new Map([
  ['\\', '\\'],
  ["'", "'"],
  ['"', '"'],
  ['n', '\n'],
  ['r', '\r'],
  ['t', '\t'],
  ['a', '\x07'],
  ['b', '\b'],
  ['f', '\f'],
  ['v', '\v'],
  ['\n', ''],
]);

/**
 * The value of a plain Python string literal (`'...'` or `"..."`, no prefix), as Python reads it; undefined when the
 * text is not one, or when it uses an escape this decoder does not model exactly (`\N{...}`, lone surrogates).
 */
export function decodePythonString(literal: string): string | undefined {
  const quote = literal[0];
  if ((quote !== "'" && quote !== '"') || literal.length < 2 || literal[literal.length - 1] !== quote) return undefined;
  if (skipString(literal, 0, literal.length) !== literal.length) return undefined;
  let out = '';
  let i = 1;
  const last = literal.length - 1;
  while (i < last) {
    const backslash = literal.indexOf('\\', i);
    if (backslash < 0 || backslash >= last) {
      out += literal.slice(i, last);
      break;
    }
    out += literal.slice(i, backslash);
    const next = literal[backslash + 1] ?? '';
    const simple = SIMPLE_ESCAPES.get(next);
    if (simple !== undefined) {
      out += simple;
      i = backslash + 2;
      continue;
    }
    const hexLength = next === 'x' ? 2 : next === 'u' ? 4 : next === 'U' ? 8 : 0;
    if (hexLength > 0) {
      const hex = literal.slice(backslash + 2, backslash + 2 + hexLength);
      if (hex.length !== hexLength || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
      const code = parseInt(hex, 16);
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
      out += String.fromCodePoint(code);
      i = backslash + 2 + hexLength;
      continue;
    }
    const octal = /^[0-7]{1,3}/.exec(literal.slice(backslash + 1, backslash + 4));
    if (octal) {
      const code = parseInt(octal[0], 8);
      out += String.fromCodePoint(code);
      i = backslash + 1 + octal[0].length;
      continue;
    }
    if (next === 'N') return undefined;
    // Python keeps an unknown escape as written.
    out += '\\' + next;
    i = backslash + 2;
  }
  return out;
}
