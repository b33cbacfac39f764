// Renders traces in CWM's wire format (prompt context, frames, `".."` diff encoding) byte for byte as the spec fixes it.
// Used for the tracer's CWM output and, incrementally, by the prediction engine to build prompts.
import type { Locals, Trace, TraceEventKind, TraceFrame } from '../trace/model';
import { Tok } from './tokens';
import { SourceLineIndex } from './lines';
import { traceContext } from './context';
import { CompactLocals, DeltaLocals, type LiveLocals, type LocalsLayout } from '../trace/compact-locals';

export { markEntryLine } from './context';

/** What a value equal to its previous value in the same scope is written as. */
export const ELLIPSIS_VALUE = '..';

/**
 * Python's `json.dumps(s)` for a str with default settings (`ensure_ascii=True`), exactly:
 * `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, every other character outside printable ASCII (DEL included) as
 * lowercase `\uXXXX` per UTF-16 code unit, which gives surrogate pairs for astral characters and keeps lone surrogates.
 */
export function pythonJsonString(value: string): string {
  if (/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(value)) return `"${value}"`;
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue;
    out += value.slice(runStart, i) + escapeCodeUnit(code);
    runStart = i + 1;
  }
  return out + value.slice(runStart) + '"';
}

function escapeCodeUnit(code: number): string {
  switch (code) {
    case 0x22: return '\\"';
    case 0x5c: return '\\\\';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    default: return '\\u' + code.toString(16).padStart(4, '0');
  }
}

/** `<|begin_of_text|><|trace_context_start|>{context}<|frame_sep|>`: the prompt before the first frame. */
export function renderPrompt(context: string): string {
  return `${Tok.beginOfText}${Tok.traceContextStart}${context}${Tok.frameSep}`;
}

/**
 * Renders frames one at a time, remembering what the diff encoding needs. The prediction engine keeps one per rollout
 * and appends `renderFrame(next)` to its prompt.
 *
 * `".."` rule: a call/line frame diffs against the previous locals-bearing frame of its scope only when, walking back,
 * that frame is reached through nothing but the same scope's exception frames; a call frame, or any other scope's frame
 * or a return in between, writes every value in full. This is exactly what a reader walking back and stopping at
 * call/return boundaries (the reference debugger) can resolve: after a callee returns, the caller's exception frame for
 * the propagating error does not revive the chain.
 */
export class CwmFrameEncoder {
  private readonly lines: SourceLineIndex;
  /** The scope whose `".."` chain is live: set by its call/line frames, kept by its own exception frames, else cleared. */
  private chainScope: number | undefined;
  /** Locals of the chain scope's last call/line frame: what its next line frame diffs against. */
  private chainLocals: Locals | undefined;
  /** encodeLiveFrame's copy of the same: the layout and values of the chain scope's last call/line frame. */
  private liveLayout: LocalsLayout | undefined;
  /** Its values (the first liveLayout.names.length of them; the array is never shortened, which costs more than it saves). */
  private readonly liveValues: string[] = [];
  /** `"name": ` per local name seen (names repeat on every frame; JSON-quoting them once saves most of the work). */
  private readonly keyTexts = new Map<string, string>();
  /** LINE text (the context's line and `\n`) per main-file line number, built once. */
  private readonly lineTexts: (string | undefined)[] = [];
  /** The byte path's pieces (encodeFrame), made at its first use. */
  private bytes: FrameBytes | undefined;

  /** @param context the prompt's context (as markEntryLine returns it); LINEs are taken from it */
  constructor(context: string, framesSoFar: readonly TraceFrame[] = []) {
    this.lines = new SourceLineIndex(context);
    for (const frame of framesSoFar) this.renderFrame(frame);
  }

  /** The text of one more frame, ending with `<|frame_sep|>`; updates the diff state. */
  renderFrame(frame: TraceFrame): string {
    // Built as one string without the pieces object: this runs once per event of a recording (millions).
    const line = this.lineText(frame);
    if (frame.event === 'call' || frame.event === 'line') {
      return `${EVENT_TOKENS[frame.event]}${this.localsText(frame)}${Tok.actionSep}${line}${Tok.frameSep}`;
    }
    this.endChain(frame);
    return `${EVENT_TOKENS[frame.event]}${Tok.actionSep}${line}${Tok.argSep}${pythonJsonString(frame.value ?? '')}${Tok.frameSep}`;
  }

  /** One more frame as its ordinary-text fields, for callers that put the special tokens in as ids; updates the diff state. */
  renderFramePieces(frame: TraceFrame): FramePieces {
    const line = this.lineText(frame);
    if (frame.event === 'call' || frame.event === 'line') return { event: frame.event, locals: this.localsText(frame), line };
    this.endChain(frame);
    return { event: frame.event, line, value: pythonJsonString(frame.value ?? '') };
  }

  /**
   * One more frame as UTF-8 bytes appended to `out`, exactly the bytes of renderFrame's text; updates the same diff
   * state. For recordings of millions of frames: no string is built, so nothing is left for the garbage collector
   * (the ".." runs, keys and LINEs are cached bytes; values are JSON-quoted straight into the buffer).
   */
  encodeFrame(frame: TraceFrame, out: ByteSink): void {
    const bytes = (this.bytes ??= new FrameBytes(this.lines.lineCount));
    if (frame.event === 'call' || frame.event === 'line') {
      this.encodeLocals(frame, out, bytes);
      out.put(this.lineTail(frame, bytes));
      return;
    }
    this.encodeValueFrame(frame, out, bytes);
  }

  /** A return/exception frame (no locals): `EVENT<|action_sep|>LINE<|arg_sep|>VALUE<|frame_sep|>`; ends the chain. */
  private encodeValueFrame(frame: TraceFrame, out: ByteSink, bytes: FrameBytes): void {
    this.endChain(frame);
    out.put(this.valueHead(frame, bytes));
    out.jsonString(frame.value ?? '');
    out.put(bytes.frameSep);
  }

  /**
   * encodeFrame for frames whose locals come live from the stream reader (TracerStreamHandlers.onLiveFrame): the same
   * bytes, but a frame's locals are its scope's as they are now, with what changed since the scope's last frame, so
   * no snapshot is made per frame. Frames of one trace go all through this or all through encodeFrame.
   */
  encodeLiveFrame(frame: TraceFrame, locals: LiveLocals | undefined, out: ByteSink): void {
    const bytes = (this.bytes ??= new FrameBytes(this.lines.lineCount));
    if (locals === undefined) return this.encodeValueFrame(frame, out, bytes);
    this.encodeLiveLocals(frame, locals, out, bytes);
    out.put(this.lineTail(frame, bytes));
  }

  /** encodeLocals's decisions, from the live locals and the copy of the chain's last ones (kept up to date here). */
  private encodeLiveLocals(frame: TraceFrame, locals: LiveLocals, out: ByteSink, bytes: FrameBytes): void {
    // The chain's last frame is this scope's last call/line frame, which is what `changed` counts from.
    const baseLayout = frame.event !== 'call' && this.chainScope === frame.scope ? this.liveLayout : undefined;
    this.chainScope = frame.scope;
    this.chainLocals = undefined;
    const layout = locals.layout;
    const values = locals.values;
    const base = this.liveValues;
    const layoutBytes = bytes.layout(layout);
    const changed = locals.changed;
    if (baseLayout !== undefined && changed >= -1) {
      // Nothing changed, or one value (a change of layout is never one value): the cached runs around it.
      if (changed === -1) return out.put(layoutBytes.allElided());
      const value = values[changed]!;
      out.put(layoutBytes.before(changed));
      out.jsonString(value);
      out.put(layoutBytes.after(changed));
      base[changed] = value;
      return;
    }
    out.put(frame.event === 'call' ? bytes.callOpen : bytes.lineOpen);
    const count = layout.names.length;
    if (baseLayout === undefined) {
      layoutBytes.putAll(values, out);
    } else {
      const names = layout.names;
      const sameLayout = baseLayout === layout;
      for (let i = 0; i < count; i++) {
        out.put(layoutBytes.lead(i));
        const value = values[i]!;
        const at = sameLayout ? i : baseLayout.positionOf(names[i]!);
        if (at !== undefined && base[at] === value) out.put(bytes.elided);
        else out.jsonString(value);
      }
    }
    this.liveLayout = layout;
    for (let i = 0; i < count; i++) base[i] = values[i]!;
  }

  /** LINE text (the context's line and `\n`). */
  private lineText(frame: TraceFrame): string {
    if (frame.file !== undefined) return frame.sourceLine + '\n';
    const cached = this.lineTexts[frame.line];
    if (cached !== undefined) return cached;
    const contextLine = this.lines.contextLine(frame.line);
    if (contextLine === undefined) return frame.sourceLine + '\n';
    return (this.lineTexts[frame.line] = contextLine + '\n');
  }

  /** A return/exception frame up to its VALUE, `EVENT<|action_sep|>LINE<|arg_sep|>`: cached for the main file's lines. */
  private valueHead(frame: TraceFrame, bytes: FrameBytes): Uint8Array {
    const heads = frame.event === 'return' ? bytes.returnHeads : bytes.exceptionHeads;
    if (frame.file === undefined) {
      const cached = heads[frame.line];
      if (cached !== undefined) return cached;
    }
    const head = Buffer.from(`${EVENT_TOKENS[frame.event]}${Tok.actionSep}${this.lineText(frame)}${Tok.argSep}`, 'utf8');
    if (frame.file === undefined && this.lines.contextLine(frame.line) !== undefined) heads[frame.line] = head;
    return head;
  }

  /** The end of a call/line frame after its last value, `}<|action_sep|>LINE<|frame_sep|>`: cached for the main file's lines. */
  private lineTail(frame: TraceFrame, bytes: FrameBytes): Uint8Array {
    if (frame.file === undefined) {
      const cached = bytes.tails[frame.line];
      if (cached !== undefined) return cached;
    }
    const tail = Buffer.from(`}${Tok.actionSep}${this.lineText(frame)}${Tok.frameSep}`, 'utf8');
    if (frame.file === undefined && this.lines.contextLine(frame.line) !== undefined) bytes.tails[frame.line] = tail;
    return tail;
  }

  /** The base a call/line frame's locals diff against (undefined: every value in full); moves the chain to its scope. */
  private chainBase(frame: TraceFrame): Locals | undefined {
    // Only the chain scope's last locals can ever be a base: any other scope's frame breaks the chain.
    const chainBroken = frame.event === 'call' || this.chainScope !== frame.scope;
    const base = chainBroken ? undefined : this.chainLocals;
    this.chainLocals = frame.locals;
    this.chainScope = frame.scope;
    return base;
  }

  /** LOCALS of a call/line frame, `".."` applied; moves the chain to the frame's scope. */
  private localsText(frame: TraceFrame): string {
    const base = this.chainBase(frame);
    let text = '{';
    let first = true;
    const locals = frame.locals;
    if (locals instanceof CompactLocals && (base === undefined || base instanceof CompactLocals)) {
      // A recording's locals: a delta over the base changed one position and nothing else; otherwise compare by
      // position where the layout is the base's.
      const names = locals.layout.names;
      const deltaOverBase = locals instanceof DeltaLocals && locals.base === base ? locals.at : -1;
      const sameLayout = base !== undefined && base.layout === locals.layout;
      for (let i = 0; i < names.length; i++) {
        let rendered: string;
        if (base === undefined) rendered = pythonJsonString(locals.slot(i));
        else if (deltaOverBase >= 0) rendered = i === deltaOverBase ? pythonJsonString(locals.slot(i)) : ELLIPSIS_JSON;
        else if (locals === base) rendered = ELLIPSIS_JSON;
        else {
          const value = locals.slot(i);
          rendered = (sameLayout ? base.slot(i) : base.get(names[i]!)) === value ? ELLIPSIS_JSON : pythonJsonString(value);
        }
        text += (first ? '' : ', ') + this.keyText(names[i]!) + rendered;
        first = false;
      }
      return text + '}';
    }
    for (const [name, value] of locals) {
      text += (first ? '' : ', ') + this.keyText(name) + (base !== undefined && base.get(name) === value ? ELLIPSIS_JSON : pythonJsonString(value));
      first = false;
    }
    return text + '}';
  }

  /**
   * The event token and LOCALS but for the closing brace (which lineTail brings), as bytes, the same decisions as
   * localsText; the common cases of a line frame (one value changed, none changed) are cached runs that start with the
   * event token, and each value otherwise comes after its cached `, "name": `.
   */
  private encodeLocals(frame: TraceFrame, out: ByteSink, bytes: FrameBytes): void {
    const base = this.chainBase(frame);
    const locals = frame.locals;
    // A base means a line frame: a call frame's chain is always broken.
    if (locals instanceof CompactLocals && (base === undefined || base instanceof CompactLocals)) {
      // The base's layout bytes serve a frame that shares its layout (unchanged, or one value changed): asking a delta
      // for its layout walks its chain.
      const sharesBase = base !== undefined && (locals === base || (locals instanceof DeltaLocals && locals.base === base));
      const layout = sharesBase && base === bytes.layoutOwner ? bytes.ownerLayout! : bytes.layout(locals.layout);
      bytes.layoutOwner = locals;
      bytes.ownerLayout = layout;
      if (sharesBase) {
        if (locals === base) return out.put(layout.allElided());
        const delta = locals as DeltaLocals;
        out.put(layout.before(delta.at));
        out.jsonString(delta.value);
        return out.put(layout.after(delta.at));
      }
      const names = locals.layout.names;
      out.put(frame.event === 'call' ? bytes.callOpen : bytes.lineOpen);
      // The values in one walk of the delta chain (slot by slot would walk it once per value).
      const values = bytes.values;
      locals.valuesInto(values);
      if (base === undefined) {
        // Every value in full (a call, or the first frame after another scope's): no comparison to make.
        return layout.putAll(values, out);
      }
      const sameLayout = base.layout === locals.layout;
      const baseValues = bytes.baseValues;
      if (sameLayout) base.valuesInto(baseValues);
      for (let i = 0; i < names.length; i++) {
        out.put(layout.lead(i));
        const value = values[i]!;
        if ((sameLayout ? baseValues[i] : base.get(names[i]!)) === value) out.put(bytes.elided);
        else out.jsonString(value);
      }
      return;
    }
    out.put(frame.event === 'call' ? bytes.callOpen : bytes.lineOpen);
    let first = true;
    for (const [name, value] of locals) {
      if (!first) out.put(bytes.comma);
      first = false;
      out.jsonString(name);
      out.put(bytes.colon);
      if (base !== undefined && base.get(name) === value) out.put(bytes.elided);
      else out.jsonString(value);
    }
  }

  /** `"name": ` for a local name. */
  private keyText(name: string): string {
    let key = this.keyTexts.get(name);
    if (key === undefined) {
      key = `${pythonJsonString(name)}: `;
      // Names come from the program: a bounded cache, cleared rather than grown without end.
      if (this.keyTexts.size >= MAX_CACHED_KEYS) this.keyTexts.clear();
      this.keyTexts.set(name, key);
    }
    return key;
  }

  private endChain(frame: TraceFrame): void {
    if (frame.event === 'return' || this.chainScope !== frame.scope) {
      this.chainScope = undefined;
      this.chainLocals = undefined;
      this.liveLayout = undefined;
    }
  }
}

/**
 * Where encodeFrame appends: UTF-8 bytes in fixed-size chunks, each handed to `onChunk` when full (and by `flush`).
 * A chunk handed on is never written again.
 */
export class ByteSink {
  private chunk: Buffer;
  private at = 0;

  constructor(private readonly onChunk: (bytes: Buffer) => void, private readonly chunkBytes = 1 << 20) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
  }

  /** Bytes appended since the last flush. */
  get pending(): number {
    return this.at;
  }

  put(bytes: Uint8Array): void {
    const length = bytes.length;
    if (this.at + length > this.chunk.length) this.makeRoom(length);
    const chunk = this.chunk;
    const at = this.at;
    // A loop beats TypedArray#set's fixed cost (~16 ns on Node 20) only up to about 12 bytes (1.3 ns a byte).
    if (length <= 12) for (let i = 0; i < length; i++) chunk[at + i] = bytes[i]!;
    else chunk.set(bytes, at);
    this.at = at + length;
  }

  /** `pythonJsonString(value)`'s bytes (ASCII: ensure_ascii), written without building the string. */
  jsonString(value: string): void {
    const length = value.length;
    // Worst case: every code unit as \uXXXX, and the quotes.
    if (this.at + length * 6 + 2 > this.chunk.length) this.makeRoom(length * 6 + 2);
    const chunk = this.chunk;
    let at = this.at;
    chunk[at++] = 0x22;
    for (let i = 0; i < length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) {
        chunk[at++] = code;
        continue;
      }
      chunk[at++] = 0x5c;
      switch (code) {
        case 0x22: chunk[at++] = 0x22; break;
        case 0x5c: chunk[at++] = 0x5c; break;
        case 0x0a: chunk[at++] = 0x6e; break;
        case 0x0d: chunk[at++] = 0x72; break;
        case 0x09: chunk[at++] = 0x74; break;
        case 0x08: chunk[at++] = 0x62; break;
        case 0x0c: chunk[at++] = 0x66; break;
        default:
          chunk[at++] = 0x75;
          chunk[at++] = HEX_DIGITS[(code >> 12) & 0xf]!;
          chunk[at++] = HEX_DIGITS[(code >> 8) & 0xf]!;
          chunk[at++] = HEX_DIGITS[(code >> 4) & 0xf]!;
          chunk[at++] = HEX_DIGITS[code & 0xf]!;
      }
    }
    chunk[at++] = 0x22;
    this.at = at;
  }

  /** Hands on what was appended so far (if anything). */
  flush(): void {
    if (this.at === 0) return;
    const full = this.chunk.subarray(0, this.at);
    this.chunk = Buffer.allocUnsafe(this.chunkBytes);
    this.at = 0;
    this.onChunk(full);
  }

  private makeRoom(needed: number): void {
    this.flush();
    // A value bigger than a chunk gets a chunk of its own size.
    if (needed > this.chunk.length) this.chunk = Buffer.allocUnsafe(needed);
  }
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** The byte path's fixed pieces, per-layout runs and per-line LINEs. */
class FrameBytes {
  readonly callOpen = Buffer.from(`${Tok.callSep}{`, 'latin1');
  readonly lineOpen = Buffer.from(`${Tok.lineSep}{`, 'latin1');
  readonly frameSep = Buffer.from(Tok.frameSep, 'latin1');
  readonly comma = Buffer.from(', ', 'latin1');
  readonly colon = Buffer.from(': ', 'latin1');
  readonly elided = Buffer.from(ELLIPSIS_JSON, 'latin1');
  /** Per main-file line number (sized up front: a read past an array's end makes V8 deoptimize): `}<|action_sep|>LINE<|frame_sep|>`. */
  readonly tails: (Uint8Array | undefined)[];
  /** `<|return_sep|><|action_sep|>LINE<|arg_sep|>` per main-file line number. */
  readonly returnHeads: (Uint8Array | undefined)[];
  /** `<|exception_sep|><|action_sep|>LINE<|arg_sep|>` per main-file line number. */
  readonly exceptionHeads: (Uint8Array | undefined)[];
  /** The last frame's locals and their layout bytes: the next frame of the chain, diffed against them, has the same. */
  layoutOwner: Locals | undefined;
  ownerLayout: LayoutBytes | undefined;
  /** Scratch arrays for a frame's values and its base's (frames are encoded one at a time). */
  readonly values: string[] = [];
  readonly baseValues: string[] = [];

  constructor(lineCount: number) {
    this.tails = new Array<Uint8Array | undefined>(lineCount + 2).fill(undefined);
    this.returnHeads = new Array<Uint8Array | undefined>(lineCount + 2).fill(undefined);
    this.exceptionHeads = new Array<Uint8Array | undefined>(lineCount + 2).fill(undefined);
  }
  private readonly layouts = new WeakMap<LocalsLayout, LayoutBytes>();
  /** The two layouts asked for last: a scope's frames ask for the same one again and again, a caller's and its
   * callee's take turns. */
  private lastLayout: LocalsLayout | undefined;
  private lastLayoutBytes: LayoutBytes | undefined;
  private otherLayout: LocalsLayout | undefined;
  private otherLayoutBytes: LayoutBytes | undefined;

  layout(layout: LocalsLayout): LayoutBytes {
    if (layout === this.lastLayout) return this.lastLayoutBytes!;
    let cached = layout === this.otherLayout ? this.otherLayoutBytes : this.layouts.get(layout);
    if (cached === undefined) this.layouts.set(layout, (cached = new LayoutBytes(layout.names)));
    this.otherLayout = this.lastLayout;
    this.otherLayoutBytes = this.lastLayoutBytes;
    this.lastLayout = layout;
    this.lastLayoutBytes = cached;
    return cached;
  }
}

/** A layout's LOCALS runs as bytes (without the closing brace): `, "name": ` per position, and the `".."` runs around one changed position. */
class LayoutBytes {
  private readonly leads: (Uint8Array | undefined)[];
  private readonly befores: (Uint8Array | undefined)[];
  private readonly afters: (Uint8Array | undefined)[];
  private elidedAll: Uint8Array | undefined;

  constructor(private readonly names: readonly string[]) {
    this.leads = new Array<Uint8Array | undefined>(names.length).fill(undefined);
    this.befores = new Array<Uint8Array | undefined>(names.length).fill(undefined);
    this.afters = new Array<Uint8Array | undefined>(names.length).fill(undefined);
  }

  /** `"name": ` for the first position, `, "name": ` for the others. */
  lead(i: number): Uint8Array {
    return (this.leads[i] ??= Buffer.from(`${i > 0 ? ', ' : ''}${pythonJsonString(this.names[i]!)}: `, 'latin1'));
  }

  /** Every value in full, each after its lead (a frame with nothing to diff against). */
  putAll(values: readonly string[], out: ByteSink): void {
    for (let i = 0; i < this.names.length; i++) {
      out.put(this.lead(i));
      out.jsonString(values[i]!);
    }
  }

  /** `<|line_sep|>{"a": "..", "b": ".."`: nothing changed. */
  allElided(): Uint8Array {
    return (this.elidedAll ??= Buffer.from(`${Tok.lineSep}{${this.names.map((name) => `${pythonJsonString(name)}: ${ELLIPSIS_JSON}`).join(', ')}`, 'latin1'));
  }

  /** `<|line_sep|>{"a": "..", "k": ` before the changed position k. */
  before(k: number): Uint8Array {
    return (this.befores[k] ??= Buffer.from(`${Tok.lineSep}{${this.names.slice(0, k + 1).map((name, i) => `${pythonJsonString(name)}: ${i < k ? ELLIPSIS_JSON : ''}`).join(', ')}`, 'latin1'));
  }

  /** `, "c": ".."` after the changed position k. */
  after(k: number): Uint8Array {
    return (this.afters[k] ??= Buffer.from(this.names.slice(k + 1).map((name) => `, ${pythonJsonString(name)}: ${ELLIPSIS_JSON}`).join(''), 'latin1'));
  }
}

const ELLIPSIS_JSON = `"${ELLIPSIS_VALUE}"`;
const MAX_CACHED_KEYS = 4096;

/** A frame's fields, each ordinary text; the special tokens between them are implied by the event. */
export interface FramePieces {
  readonly event: TraceEventKind;
  /** LOCALS (`call`/`line` frames): the JSON object, `".."` applied. */
  readonly locals?: string;
  /** LINE: the context's physical line followed by `\n`. */
  readonly line: string;
  /** VALUE (`return`/`exception` frames): the JSON string. */
  readonly value?: string;
}

const EVENT_TOKENS: Readonly<Record<TraceEventKind, string>> = {
  call: Tok.callSep,
  line: Tok.lineSep,
  return: Tok.returnSep,
  exception: Tok.exceptionSep,
};

/** `EVENT{LOCALS}<|action_sep|>LINE[<|arg_sep|>VALUE]<|frame_sep|>`. */
export function framePiecesText(pieces: FramePieces): string {
  const value = pieces.value !== undefined ? `${Tok.argSep}${pieces.value}` : '';
  return `${EVENT_TOKENS[pieces.event]}${pieces.locals ?? ''}${Tok.actionSep}${pieces.line}${value}${Tok.frameSep}`;
}

/** LOCALS: `json.dumps` of the name → repr dict, a value equal to `base`'s written `".."`. */
export function renderLocals(locals: Locals, base?: Locals): string {
  const parts: string[] = [];
  for (const [name, value] of locals) {
    const same = base !== undefined && base.get(name) === value;
    parts.push(`${pythonJsonString(name)}: ${pythonJsonString(same ? ELLIPSIS_VALUE : value)}`);
  }
  return `{${parts.join(', ')}}`;
}

/** All frames, each ending with `<|frame_sep|>` (the text that follows the prompt). */
export function renderFrames(frames: readonly TraceFrame[], context: string): string {
  const encoder = new CwmFrameEncoder(context);
  let text = '';
  for (const frame of frames) text += encoder.renderFrame(frame);
  return text;
}

/** One frame following `framesSoFar`, without keeping an encoder (replays the earlier frames: linear in their number). */
export function renderFrame(frame: TraceFrame, framesSoFar: readonly TraceFrame[], context: string): string {
  return new CwmFrameEncoder(context, framesSoFar).renderFrame(frame);
}

/** A prompt that continues after `frames`: the model's next output is the next frame. */
export function renderContinuationPrompt(context: string, frames: readonly TraceFrame[]): string {
  return renderPrompt(context) + renderFrames(frames, context);
}

/** Whether a trace that stopped this way is followed by `<|end_of_text|>`. */
export function traceEndsWithEndOfText(trace: Pick<Trace, 'end'>): boolean {
  return trace.end.kind === 'returned' || trace.end.kind === 'raised';
}

/** The full training sequence of a trace: prompt (every traced file's source, see buildContext), frames, and `<|end_of_text|>` when the entry returned or raised. */
export function renderTrace(trace: Trace): string {
  const context = traceContext(trace);
  return renderPrompt(context) + renderFrames(trace.frames, context) + (traceEndsWithEndOfText(trace) ? Tok.endOfText : '');
}
