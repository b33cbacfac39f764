// A compact, read-only `Locals` (trace/model.ts) for recordings of millions of steps: the names (and their positions) are shared by
// every frame with the same names in the same order, so a frame that changed a value holds only an array of values.

/** Children a layout caches before new name sequences stop being shared (a program inventing names cannot grow it). */
const MAX_CACHED_CHILDREN = 64;

/**
 * An ordered list of local names with each name's position, interned as a tree: the layout of `[a, b, c]` is the
 * child `c` of the child `b` of the child `a` of the empty layout, so every scope that gets the same names in the same
 * order shares one layout (and one name → position index).
 */
export class LocalsLayout {
  readonly names: readonly string[];
  private readonly positions: Map<string, number>;
  private readonly children = new Map<string, LocalsLayout>();

  private constructor(names: readonly string[]) {
    this.names = names;
    this.positions = new Map(names.map((name, i) => [name, i]));
  }

  /** The layout with no names: the root every layout is reached from. */
  static readonly empty = new LocalsLayout([]);

  /** The layout of exactly these names, in this order (shared when seen before). */
  static of(names: readonly string[]): LocalsLayout {
    let layout = LocalsLayout.empty;
    for (const name of names) layout = layout.plus(name);
    return layout;
  }

  /** Position of a name, or undefined. */
  positionOf(name: string): number | undefined {
    return this.positions.get(name);
  }

  /** This layout with one more name at the end; a name it has already gives a fresh, unshared layout without repeats. */
  plus(name: string): LocalsLayout {
    const cached = this.children.get(name);
    if (cached) return cached;
    if (this.positions.has(name)) return this;
    const child = new LocalsLayout([...this.names, name]);
    if (this.children.size < MAX_CACHED_CHILDREN) this.children.set(name, child);
    return child;
  }
}

/** Most deltas in a row before a frame's locals are stored whole again (bounds the cost of a lookup). */
const MAX_DELTA_CHAIN = 8;

/**
 * Locals as a layout and the values at its positions. Never changed once a frame holds it. A frame that changed one
 * value holds only that change over the previous frame's locals (a delta); the others hold a whole values array.
 */
export abstract class CompactLocals implements ReadonlyMap<string, string> {
  abstract readonly layout: LocalsLayout;
  /** The value at a position of the layout. */
  abstract slot(at: number): string;
  /** Deltas between this and the whole values array below it. */
  abstract readonly chain: number;
  /** Writes the value of every position into `out` (from 0), in one walk of the delta chain. */
  abstract valuesInto(out: string[]): void;

  get size(): number {
    return this.layout.names.length;
  }

  get(name: string): string | undefined {
    const at = this.layout.positionOf(name);
    return at === undefined ? undefined : this.slot(at);
  }

  has(name: string): boolean {
    return this.layout.positionOf(name) !== undefined;
  }

  forEach(callback: (value: string, key: string, map: ReadonlyMap<string, string>) => void, thisArg?: unknown): void {
    const names = this.layout.names;
    for (let i = 0; i < names.length; i++) callback.call(thisArg, this.slot(i), names[i]!, this);
  }

  *entries(): MapIterator<[string, string]> {
    const names = this.layout.names;
    for (let i = 0; i < names.length; i++) yield [names[i]!, this.slot(i)];
  }

  keys(): MapIterator<string> {
    return this.layout.names[Symbol.iterator]();
  }

  *values(): MapIterator<string> {
    for (let i = 0; i < this.layout.names.length; i++) yield this.slot(i);
  }

  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'CompactLocals';
  }
}

/** Locals stored whole. */
export class WholeLocals extends CompactLocals {
  readonly chain = 0;
  constructor(readonly layout: LocalsLayout, private readonly slots: readonly string[]) {
    super();
  }

  slot(at: number): string {
    return this.slots[at]!;
  }

  valuesInto(out: string[]): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) out[i] = slots[i]!;
  }
}

/** The deltas of a chain, newest first, while valuesInto applies them (reused: frames are encoded one at a time). */
const chainScratch: DeltaLocals[] = [];

/** Locals equal to `base` but for the value at one position. */
export class DeltaLocals extends CompactLocals {
  readonly chain: number;
  constructor(readonly base: CompactLocals, readonly at: number, readonly value: string) {
    super();
    this.chain = base.chain + 1;
  }

  get layout(): LocalsLayout {
    return this.base.layout;
  }

  slot(at: number): string {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    let locals: CompactLocals = this;
    while (locals instanceof DeltaLocals) {
      if (locals.at === at) return locals.value;
      locals = locals.base;
    }
    return locals.slot(at);
  }

  valuesInto(out: string[]): void {
    let depth = 0;
    let locals: CompactLocals = this;
    while (locals instanceof DeltaLocals) {
      chainScratch[depth++] = locals;
      locals = locals.base;
    }
    locals.valuesInto(out);
    // Oldest first, so the newest change of a position is the one left.
    while (depth > 0) {
      const delta = chainScratch[--depth]!;
      out[delta.at] = delta.value;
    }
  }
}

/**
 * A scope's locals as they are now, for a consumer that encodes each frame at once and keeps nothing (the CLI's CWM
 * text): no snapshot is made, so a frame costs no copy; `changed` says what a diff against the scope's last frame needs.
 */
export interface LiveLocals {
  readonly layout: LocalsLayout;
  /** The value at each position of the layout (the builder's own array: read before the stream goes on). */
  readonly values: readonly string[];
  /** Position changed since the scope's last frame, -1 for none, -2 for several (or a changed layout). */
  readonly changed: number;
}

/** Builds locals as the tracer's stream gives them: copy on write, one values array per frame that changed something. */
export class LocalsBuilder implements LiveLocals {
  private current: LocalsLayout = LocalsLayout.empty;
  /** The values now: the builder's own array, never kept by a frame (frames get a copy or a delta; live mode reads it in place). */
  private slots: string[] = [];
  private last: CompactLocals | undefined;
  /** Position changed since `last` (or the last markFrame), -1 for none, -2 for several (or a changed layout). */
  private changedAt = -2;

  get layout(): LocalsLayout {
    return this.current;
  }

  get values(): readonly string[] {
    return this.slots;
  }

  get changed(): number {
    return this.changedAt;
  }

  /** Starts over with no locals (a new call). */
  reset(): void {
    this.current = LocalsLayout.empty;
    this.slots = [];
    this.last = undefined;
    this.changedAt = -2;
  }

  set(name: string, value: string): void {
    const at = this.current.positionOf(name);
    if (at !== undefined) {
      this.slots[at] = value;
      this.changedAt = this.changedAt === -1 || this.changedAt === at ? at : -2;
    } else {
      this.current = this.current.plus(name);
      this.slots.push(value);
      this.changedAt = -2;
    }
  }

  /** Puts the names in this order (the tracer's `keys` record: a local was deleted, or the order changed). */
  reorder(names: readonly string[]): void {
    const before = this.current;
    const previous = this.slots;
    this.current = LocalsLayout.of(names);
    // From the layout's names, not the record's: a repeated name in a corrupted record takes one slot.
    this.slots = this.current.names.map((name) => {
      const at = before.positionOf(name);
      return at === undefined ? '' : previous[at]!;
    });
    this.changedAt = -2;
  }

  /** No names at all. */
  get empty(): boolean {
    return this.current.names.length === 0;
  }

  /** Takes one name out (an attribute that is no longer there); the others keep their order. */
  remove(name: string): void {
    if (this.current.positionOf(name) === undefined) return;
    this.reorder(this.current.names.filter((other) => other !== name));
  }

  /** The locals as they are now, for a frame to keep; unchanged frames share one object. */
  snapshot(): CompactLocals {
    const last = this.last;
    if (last !== undefined && this.changedAt === -1) return last;
    this.last = last !== undefined && this.changedAt >= 0 && last.chain < MAX_DELTA_CHAIN
      ? new DeltaLocals(last, this.changedAt, this.slots[this.changedAt]!)
      : new WholeLocals(this.current, this.slots.slice());
    this.changedAt = -1;
    return this.last;
  }

  /** A frame was made of the locals as they are, without a snapshot (see LiveLocals): changes count from here. */
  markFrame(): void {
    this.last = undefined;
    this.changedAt = -1;
  }
}
