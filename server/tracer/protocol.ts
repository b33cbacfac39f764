// Reads the bundled tracer's output stream (one token per line, see the header of cwm_tracer.py) into trace frames.
// JSON records are validated with zod; everything else is parsed by a small state machine that never throws on bad input.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import type { EntryPoint, Locals, OutputChunk, TraceEventKind, TraceFrame, TraceSourceFile } from '../trace/model';
import { LocalsBuilder, LocalsLayout, WholeLocals, type LiveLocals } from '../trace/compact-locals';
import { splitSourceLines } from '../cwm/lines';
import { LineSplitter } from '../trace/line-splitter';

const EntrySchema = z.union([
  z.object({ kind: z.literal('function'), name: z.string(), line: z.number().int(), args: z.string().optional() }),
  z.object({ kind: z.literal('script') }),
]);

export const TracerEndSchema = z.union([
  z.object({ kind: z.literal('returned') }),
  z.object({ kind: z.literal('raised'), message: z.string() }),
  z.object({ kind: z.literal('exited'), code: z.union([z.number(), z.string(), z.null()]), message: z.string() }),
  z.object({ kind: z.literal('limit'), limit: z.enum(['events', 'time', 'output', 'memory']), message: z.string() }),
  z.object({ kind: z.literal('error'), reason: z.string(), message: z.string() }),
]);
export type TracerEnd = z.infer<typeof TracerEndSchema>;

const RecordSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('start'), python: z.string(), pid: z.number().int().optional(), file: z.string() }),
  z.object({ t: z.literal('begin'), entry: EntrySchema }),
  z.object({ t: z.literal('keys'), names: z.array(z.string()) }),
  // stream: 0 stdout, 1 stderr (numbers keep the hot path cheap); names accepted too.
  z.object({ t: z.literal('out'), stream: z.union([z.literal(0), z.literal(1), z.enum(['stdout', 'stderr'])]), text: z.string(), outside: z.boolean().optional() }),
  z.object({ t: z.literal('note'), text: z.string() }),
  z.object({ t: z.literal('file'), id: z.number().int().positive(), path: z.string(), source: z.string() }),
  // events: how many events the tracer wrote, so the reader can tell that none went missing.
  z.object({ t: z.literal('end'), events: z.number().int().nonnegative().optional(), end: TracerEndSchema }),
]);

interface ScopeInfo {
  depth: number;
  functionName: string;
  /** The file the scope's code is in, when not the main file. */
  file?: TracedFile;
  /** Latest locals of the scope, in order, copied on write (frames keep compact snapshots of them). */
  locals: LocalsBuilder;
  /** Latest attributes of the objects its locals hold (`--objects`), made at the scope's first attribute. */
  objects?: LocalsBuilder;
}

/** The frame being read: complete (and handed out as is) once the next event starts. */
type PendingFrame = { -readonly [K in keyof TraceFrame]: TraceFrame[K] } & { output?: OutputChunk[] };

export interface TracerStreamHandlers {
  onFrame(frame: TraceFrame): void;
  /**
   * When given, frames come here instead of onFrame, for a consumer that encodes each one at once and keeps nothing
   * (the CLI's CWM text): one frame object is reused for every frame, its `locals` are left empty and no object state
   * is given; a call/line frame's locals are `locals`, its scope's as they are now (undefined for return/exception).
   */
  onLiveFrame?(frame: TraceFrame, locals: LiveLocals | undefined): void;
  onOutsideOutput(chunk: OutputChunk): void;
  onNote(text: string): void;
  onStart(python: string, pid: number | undefined): void;
  onBegin(entry: EntryPoint): void;
  /** Another traced file (a module of the user's project), announced before the first frame in it. */
  onFile?(file: TraceSourceFile): void;
  /** `events`: how many events the tracer says it wrote (absent from older tracers). */
  onEnd(end: TracerEnd, events?: number): void;
  /** A line that could not be read: the stream is not from this tracer version, or is corrupted. */
  onProtocolError(message: string): void;
}

/** Another traced file, as its file record announced it. */
interface TracedFile {
  readonly path: string;
  readonly source: string;
  readonly lines: readonly string[];
}

/** What the next line of the stream is: a token, a local's value (of `expectName`), or a return/exception value. */
const enum Expect { token, local, arg, attribute }

/** Incremental parser of the tracer's token stream. `push` takes raw text in any chunks. */
export class TracerStreamParser {
  private readonly lines = new LineSplitter();
  private expect = Expect.token;
  /** The local whose value the next line holds (Expect.local). */
  private expectName = '';
  /** `line` bound once: the line splitter calls it for every line. */
  private readonly onLine = (line: string): void => this.line(line);
  private pending: PendingFrame | undefined;
  /** The builder of the pending frame's locals (its scope's, or the stray one), looked up once per frame. */
  private pendingLocals: LocalsBuilder = new LocalsBuilder();
  /** The pending frame's scope record, when known. */
  private pendingInfo: ScopeInfo | undefined;
  /** Scopes of the live calls; the last is the current scope (see the stream header in cwm_tracer.py). */
  private readonly stack: number[] = [];
  private scopeCounter = 0;
  private readonly scopes = new Map<number, ScopeInfo>();
  private readonly files = new Map<number, TracedFile>();
  private nextIndex = 0;
  /** Call tokens already parsed (bounded: a program's call sites are few, a hostile stream's are cut off). */
  private readonly callTokens = new Map<string, { readonly line: number; readonly depth: number; readonly name: string }>();
  /** Locals of a pending call/line frame whose scope is unknown (a corrupted stream): kept, never shared. */
  private readonly strayLocals = new LocalsBuilder();
  private readonly sourceLines: readonly string[];
  private ended = false;
  /** The one frame object of live mode (handlers.onLiveFrame), every field present so that it keeps one shape. */
  private readonly liveFrame: PendingFrame | undefined;

  constructor(private readonly handlers: TracerStreamHandlers, sourceLines: readonly string[]) {
    this.sourceLines = sourceLines;
    if (handlers.onLiveFrame) {
      this.liveFrame = {
        index: 0, event: 'line', line: 0, sourceLine: '', scope: 0, functionName: '?', depth: 0, locals: EMPTY_LOCALS,
        file: undefined, value: undefined, output: undefined,
      };
    }
  }

  get frameCount(): number {
    return this.nextIndex;
  }

  get sawEnd(): boolean {
    return this.ended;
  }

  push(text: string): void {
    // Lines whole in this text are split here; a line token (digits, or `-` and digits) is read in place, without
    // making a string of it: it is every other line of a recording. A line cut by the chunk's end goes to the splitter.
    let start = 0;
    if (this.lines.pendingLength > 0) {
      const newline = text.indexOf('\n');
      if (newline < 0) return this.lines.each(text, this.onLine);
      this.lines.each(text.slice(0, newline + 1), this.onLine);
      start = newline + 1;
    }
    for (let newline = text.indexOf('\n', start); newline >= 0; newline = text.indexOf('\n', start)) {
      if (this.expect === Expect.token) {
        const first = text.charCodeAt(start);
        if (first === 0x3a /* : */) {
          // A local's name: the value follows on the next line.
          this.expect = Expect.local;
          this.expectName = text.slice(start + 1, newline);
          start = newline + 1;
          continue;
        }
        if (((first >= 0x30 && first <= 0x39) || first === 0x2d) && this.lineToken(text, start, newline)) {
          start = newline + 1;
          continue;
        }
      }
      this.line(text.slice(start, newline));
      start = newline + 1;
    }
    if (start < text.length) this.lines.each(text.slice(start), this.onLine);
  }

  /** A line token of text[start, end) read in place; false when it is not one made of digits alone (the slow path reads it). */
  private lineToken(text: string, start: number, end: number): boolean {
    let at = start;
    const negative = text.charCodeAt(at) === 0x2d;
    if (negative) at++;
    // Up to 9 digits: exact in a small integer, and more than any program's line count.
    if (end - at < 1 || end - at > 9) return false;
    let line = 0;
    for (; at < end; at++) {
      const digit = text.charCodeAt(at) - 0x30;
      if (digit < 0 || digit > 9) return false;
      line = line * 10 + digit;
    }
    this.lineEvent(negative ? -line : line);
    return true;
  }

  /** A line token: a line event of the current scope, or (negative) its return. */
  private lineEvent(line: number): void {
    const current = this.stack[this.stack.length - 1] ?? 0;
    if (line < 0) {
      this.startFrame('return', -line, current);
      this.forgetScope(current);
      this.stack.pop();
      this.expect = Expect.arg;
    } else {
      this.startFrame('line', line, current);
    }
  }

  /** The stream is over: the last frame is complete. */
  finish(): void {
    const rest = this.lines.end();
    if (rest.length > 0) this.line(rest);
    this.emitPending();
  }

  private line(raw: string): void {
    const text = raw.charCodeAt(0) === 0x01 ? decodeEscaped(raw) : raw;
    if (this.expect !== Expect.token) {
      const expected = this.expect;
      this.expect = Expect.token;
      const pending = this.pending;
      if (!pending) return;
      if (expected === Expect.arg) pending.value = text;
      else if (expected === Expect.attribute) this.objectsOf(pending)?.set(this.expectName, text);
      else if (pending.event === 'call' || pending.event === 'line') this.pendingLocals.set(this.expectName, text);
      return;
    }
    if (text.length === 0) return;
    const first = text.charCodeAt(0);
    if (first === 0x7b /* { */) return this.record(text);
    if (first === 0x3a /* : */) {
      this.expect = Expect.local;
      this.expectName = text.slice(1);
      return;
    }
    if (first === 0x2e /* . */) {
      this.expect = Expect.attribute;
      this.expectName = text.slice(1);
      return;
    }
    if (first === 0x21 /* ! */) return this.dropAttribute(text.slice(1));
    if ((first >= 0x30 && first <= 0x39) || first === 0x2d /* - */) {
      const line = Number.parseInt(text, 10);
      if (Number.isNaN(line)) return this.handlers.onProtocolError(`unreadable tracer token "${text.slice(0, 40)}"`);
      return this.lineEvent(line);
    }
    const kind = text[0];
    if (kind === 'c') {
      // A call token repeats exactly for every call of a function from the same place: parsed once.
      let call = this.callTokens.get(text);
      if (call === undefined) {
        const fields = text.slice(1).split(',');
        call = { line: Number.parseInt(fields[0] ?? '', 10), depth: Number.parseInt(fields[1] ?? '', 10), name: fields.slice(2).join(',') };
        if (Number.isNaN(call.line) || Number.isNaN(call.depth)) return this.handlers.onProtocolError(`unreadable tracer token "${text.slice(0, 40)}"`);
        if (this.callTokens.size >= MAX_CACHED_CALL_TOKENS) this.callTokens.clear();
        this.callTokens.set(text, call);
      }
      // A new scope: c LINE,DEPTH,NAME; scopes are numbered in the order of their calls.
      const scope = ++this.scopeCounter;
      this.scopes.set(scope, { depth: call.depth, functionName: call.name, locals: new LocalsBuilder() });
      this.startFrame('call', call.line, scope, true);
      this.stack.push(scope);
      return;
    }
    const fields = text.slice(1).split(',');
    const line = Number.parseInt(fields[0] ?? '', 10);
    const second = Number.parseInt(fields[1] ?? '', 10);
    if (Number.isNaN(line) || Number.isNaN(second)) return this.handlers.onProtocolError(`unreadable tracer token "${text.slice(0, 40)}"`);
    switch (kind) {
      case 'C': {
        // A new scope in another traced file: C LINE,DEPTH,FILE,NAME (the file's record came before).
        const scope = ++this.scopeCounter;
        const file = this.files.get(Number.parseInt(fields[2] ?? '', 10));
        if (!file) this.handlers.onProtocolError(`call event names an unknown file: "${text.slice(0, 40)}"`);
        this.scopes.set(scope, { depth: second, functionName: fields.slice(3).join(','), locals: new LocalsBuilder(), ...(file ? { file } : {}) });
        this.startFrame('call', line, scope, true);
        this.stack.push(scope);
        return;
      }
      case 'g': {
        // A generator resuming: g LINE,SCOPE,DEPTH,NAME; all its locals follow afresh.
        const depth = Number.parseInt(fields[2] ?? '0', 10);
        const file = this.scopes.get(second)?.file;
        this.scopes.set(second, { depth, functionName: fields.slice(3).join(','), locals: new LocalsBuilder(), ...(file ? { file } : {}) });
        this.startFrame('call', line, second, true);
        this.stack.push(second);
        return;
      }
      case 'l':
      case 'x':
        this.startFrame(kind === 'l' ? 'line' : 'exception', line, second);
        this.makeCurrent(second);
        if (kind === 'x') this.expect = Expect.arg;
        return;
      case 'r':
        this.startFrame('return', line, second);
        this.forgetScope(second);
        this.makeCurrent(second);
        this.stack.pop();
        this.expect = Expect.arg;
        return;
      default:
        this.handlers.onProtocolError(`unknown tracer token "${text.slice(0, 40)}"`);
    }
  }

  /**
   * A returned scope's record is not needed again (a generator's resume, `g`, brings its locals afresh), so it goes:
   * a recording of a million calls holds no million scope records. Only scopes in other files stay, since the resume
   * token does not repeat their file.
   */
  private forgetScope(scope: number): void {
    if (this.scopes.get(scope)?.file === undefined) this.scopes.delete(scope);
  }

  private makeCurrent(scope: number): void {
    if (this.stack.length === 0) this.stack.push(scope);
    else this.stack[this.stack.length - 1] = scope;
  }

  private record(text: string): void {
    let parsed: z.infer<typeof RecordSchema>;
    try {
      parsed = RecordSchema.parse(JSON.parse(text));
    } catch (error) {
      this.handlers.onProtocolError(`unreadable tracer record ${text.slice(0, 80)}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      return;
    }
    switch (parsed.t) {
      case 'start':
        return this.handlers.onStart(parsed.python, parsed.pid);
      case 'begin':
        return this.handlers.onBegin(parsed.entry);
      case 'keys': {
        const pending = this.pending;
        if (!pending || (pending.event !== 'call' && pending.event !== 'line')) return;
        this.pendingLocals.reorder(parsed.names);
        return;
      }
      case 'out': {
        const chunk: OutputChunk = { stream: parsed.stream === 1 || parsed.stream === 'stderr' ? 'stderr' : 'stdout', text: parsed.text };
        if (parsed.outside || !this.pending) this.handlers.onOutsideOutput(chunk);
        else appendOutput((this.pending.output ??= []), chunk);
        return;
      }
      case 'note':
        return this.handlers.onNote(parsed.text);
      case 'file':
        this.files.set(parsed.id, { path: parsed.path, source: parsed.source, lines: splitSourceLines(parsed.source) });
        return this.handlers.onFile?.({ path: parsed.path, source: parsed.source });
      case 'end':
        this.emitPending();
        this.ended = true;
        return this.handlers.onEnd(parsed.end, parsed.events);
    }
  }

  private startFrame(event: TraceEventKind, line: number, scope: number, fresh = false): void {
    this.emitPending();
    const info = this.scopes.get(scope);
    // Line frames share the scope's locals until one changes (copy on write): unchanged frames cost no copy. The frame
    // gets them when it is complete (emitPending), after the changes that follow its token.
    if (fresh) {
      info?.locals.reset();
      info?.objects?.reset();
    }
    if (!info) this.strayLocals.reset();
    this.pendingInfo = info;
    this.pendingLocals = info ? info.locals : this.strayLocals;
    const file = info?.file;
    const live = this.liveFrame;
    if (live !== undefined) {
      live.index = this.nextIndex++;
      live.event = event;
      live.line = line;
      live.sourceLine = (file ? file.lines : this.sourceLines)[line - 1] ?? '';
      live.scope = scope;
      live.functionName = info?.functionName ?? '?';
      live.depth = info?.depth ?? 0;
      live.file = file?.path;
      live.value = undefined;
      live.output = undefined;
      this.pending = live;
      return;
    }
    // One object shape for every frame of the main file (no spread: this runs once per event).
    const pending: PendingFrame = {
      index: this.nextIndex++,
      event,
      line,
      sourceLine: (file ? file.lines : this.sourceLines)[line - 1] ?? '',
      scope,
      functionName: info?.functionName ?? '?',
      depth: info?.depth ?? 0,
      locals: EMPTY_LOCALS,
    };
    if (file) pending.file = file.path;
    this.pending = pending;
  }

  /**
   * The builder of a pending call/line frame's object attributes (made at the scope's first one: a recording without
   * objects costs nothing); undefined for other frames or an unknown scope.
   */
  private objectsOf(pending: PendingFrame): LocalsBuilder | undefined {
    if (pending.event !== 'call' && pending.event !== 'line') return undefined;
    const info = this.pendingInfo;
    if (!info) return undefined;
    return (info.objects ??= new LocalsBuilder());
  }

  /** `!PATH`: an attribute that is no longer there. */
  private dropAttribute(path: string): void {
    const pending = this.pending;
    const objects = pending ? this.objectsOf(pending) : undefined;
    if (!objects) return;
    objects.remove(path);
  }

  private emitPending(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    if (this.liveFrame !== undefined) {
      if (pending.event === 'call' || pending.event === 'line') {
        this.handlers.onLiveFrame!(pending, this.pendingLocals);
        this.pendingLocals.markFrame();
      } else {
        this.handlers.onLiveFrame!(pending, undefined);
      }
      return;
    }
    if (pending.event === 'call' || pending.event === 'line') {
      pending.locals = this.pendingLocals.snapshot();
      const objects = this.pendingInfo?.objects;
      if (objects !== undefined && !objects.empty) pending.objects = objects.snapshot();
    }
    this.handlers.onFrame(pending);
  }
}

const MAX_CACHED_CALL_TOKENS = 1024;

/** Locals of return and exception frames. */
const EMPTY_LOCALS: Locals = new WholeLocals(LocalsLayout.empty, []);

/** Adds a chunk to a step's output; consecutive writes to the same stream (print's text, then its newline) merge. */
export function appendOutput(output: OutputChunk[], chunk: OutputChunk): void {
  const last = output[output.length - 1];
  if (last && last.stream === chunk.stream) output[output.length - 1] = { stream: last.stream, text: last.text + chunk.text };
  else output.push(chunk);
}

function decodeEscaped(raw: string): string {
  try {
    const value: unknown = JSON.parse(raw.slice(1));
    return typeof value === 'string' ? value : raw.slice(1);
  } catch {
    return raw.slice(1);
  }
}

/** How long a frame of the authenticated channel may be (cwm_tracer.py writes at most 4096 bytes at a time). */
const MAX_FRAME_BYTES = 4096;
const MAX_HEADER_BYTES = 64;
const FRAME_HEADER = /^\x02(\d{1,12}) (\d{1,5}) ([0-9a-f]{32})$/;

/** What the traced program wrote to the channel that the tracer did not: bytes skipped and frames missing. */
export interface ChannelForgery {
  readonly bytes: number;
  readonly missingFrames: number;
}

/**
 * Reads the tracer's authenticated channel (see `--channel-key-stdin` in cwm_tracer.py): hands on the text of the
 * frames whose MAC checks out, in order, and counts everything else as forged. A forged header can delay the
 * genuine frames behind it by at most one frame's length, never hide them.
 */
export class ChannelReader {
  private pending: Buffer = Buffer.alloc(0);
  private readonly decoder = new StringDecoder('utf8');
  private lastSeq = 0;
  private forgedBytes = 0;
  private missingFrames = 0;

  constructor(private readonly key: Buffer, private readonly onText: (text: string) => void) {}

  /** The per-run key, as the tracer reads it from its stdin. */
  static newKey(): Buffer {
    return randomBytes(32);
  }

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.drain(false);
  }

  /** The stream is over: what is left cannot be a whole frame. */
  finish(): void {
    this.drain(true);
    const rest = this.decoder.end();
    if (rest) this.onText(rest);
  }

  /** Forgeries seen so far; undefined when there were none. */
  get forgery(): ChannelForgery | undefined {
    return this.forgedBytes > 0 || this.missingFrames > 0 ? { bytes: this.forgedBytes, missingFrames: this.missingFrames } : undefined;
  }

  private drain(final: boolean): void {
    let at = 0;
    const data = this.pending;
    while (at < data.length) {
      if (data[at] !== 0x02) {
        const next = data.indexOf(0x02, at);
        const end = next < 0 ? data.length : next;
        // Before the tracer's first frame (its start record) the program has not run: what comes is the tracer's own
        // plain output, e.g. its "needs Python 3.8" end record under an older interpreter.
        if (this.lastSeq === 0) this.onText(this.decoder.write(data.subarray(at, end)));
        else this.forgedBytes += end - at;
        at = end;
        continue;
      }
      const newline = data.indexOf(0x0a, at);
      if (newline < 0 || newline - at > MAX_HEADER_BYTES) {
        if (!final && newline < 0 && data.length - at <= MAX_HEADER_BYTES) break;
        this.skip();
        at += 1;
        continue;
      }
      const header = FRAME_HEADER.exec(data.toString('latin1', at, newline));
      const length = header ? Number(header[2]) : -1;
      if (!header || length > MAX_FRAME_BYTES) {
        this.skip();
        at += 1;
        continue;
      }
      const end = newline + 1 + length;
      if (end > data.length) {
        if (!final) break;
        this.skip();
        at += 1;
        continue;
      }
      const seq = Number(header[1]);
      const payload = data.subarray(newline + 1, end);
      const mac = createHmac('sha256', this.key).update(`${seq} ${length}\n`).update(payload).digest('hex').slice(0, 32);
      if (seq <= this.lastSeq || !timingSafeEqual(Buffer.from(mac), Buffer.from(header[3]!))) {
        this.skip();
        at += 1;
        continue;
      }
      this.missingFrames += seq - this.lastSeq - 1;
      this.lastSeq = seq;
      this.onText(this.decoder.write(payload));
      at = end;
    }
    this.pending = at >= data.length ? Buffer.alloc(0) : data.subarray(at);
  }

  private skip(): void {
    this.forgedBytes += 1;
  }
}
