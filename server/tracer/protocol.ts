// Reads the bundled tracer's output stream (one token per line, see the header of cwm_tracer.py) into trace frames.
// JSON records are validated with zod; everything else is parsed by a small state machine that never throws on bad input.

import { z } from 'zod';
import type { EntryPoint, OutputChunk, TraceEventKind, TraceFrame } from '../trace/model';
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
  z.object({ t: z.literal('end'), end: TracerEndSchema }),
]);

interface ScopeInfo {
  depth: number;
  functionName: string;
  /** Latest locals of the scope, in order. */
  locals: Map<string, string>;
}

/** The frame being read: complete (and handed out as is) once the next event starts. */
type PendingFrame = { -readonly [K in keyof TraceFrame]: TraceFrame[K] } & { locals: Map<string, string>; output?: OutputChunk[] };

export interface TracerStreamHandlers {
  onFrame(frame: TraceFrame): void;
  onOutsideOutput(chunk: OutputChunk): void;
  onNote(text: string): void;
  onStart(python: string, pid: number | undefined): void;
  onBegin(entry: EntryPoint): void;
  onEnd(end: TracerEnd): void;
  /** A line that could not be read: the stream is not from this tracer version, or is corrupted. */
  onProtocolError(message: string): void;
}

type Expect = { kind: 'token' } | { kind: 'value'; target: 'local'; name: string } | { kind: 'value'; target: 'arg' };

/** Incremental parser of the tracer's token stream. `push` takes raw text in any chunks. */
export class TracerStreamParser {
  private readonly lines = new LineSplitter();
  private expect: Expect = { kind: 'token' };
  private pending: PendingFrame | undefined;
  /** Scopes of the live calls; the last is the current scope (see the stream header in cwm_tracer.py). */
  private readonly stack: number[] = [];
  private scopeCounter = 0;
  private readonly scopes = new Map<number, ScopeInfo>();
  private nextIndex = 0;
  /** Index of the pending frame once it owns its locals Map (after its first change). */
  private ownedIndex = -1;
  private readonly sourceLines: readonly string[];
  private ended = false;

  constructor(private readonly handlers: TracerStreamHandlers, sourceLines: readonly string[]) {
    this.sourceLines = sourceLines;
  }

  get frameCount(): number {
    return this.nextIndex;
  }

  get sawEnd(): boolean {
    return this.ended;
  }

  push(text: string): void {
    for (const line of this.lines.push(text)) this.line(line);
  }

  /** The stream is over: the last frame is complete. */
  finish(): void {
    const rest = this.lines.end();
    if (rest.length > 0) this.line(rest);
    this.emitPending();
  }

  private line(raw: string): void {
    const text = raw.startsWith('\x01') ? decodeEscaped(raw) : raw;
    if (this.expect.kind === 'value') {
      const expected = this.expect;
      this.expect = { kind: 'token' };
      if (!this.pending) return;
      if (expected.target === 'arg') this.pending.value = text;
      else this.pendingLocals().set(expected.name, text);
      return;
    }
    if (text.length === 0) return;
    const first = text.charCodeAt(0);
    if (first === 0x7b /* { */) return this.record(text);
    if (first === 0x3a /* : */) {
      this.expect = { kind: 'value', target: 'local', name: text.slice(1) };
      return;
    }
    if ((first >= 0x30 && first <= 0x39) || first === 0x2d /* - */) {
      const line = Number.parseInt(text, 10);
      if (Number.isNaN(line)) return this.handlers.onProtocolError(`unreadable tracer token "${text.slice(0, 40)}"`);
      const current = this.stack[this.stack.length - 1] ?? 0;
      if (line < 0) {
        this.startFrame('return', -line, current);
        this.stack.pop();
        this.expect = { kind: 'value', target: 'arg' };
      } else {
        this.startFrame('line', line, current);
      }
      return;
    }
    const kind = text[0];
    const fields = text.slice(1).split(',');
    const line = Number.parseInt(fields[0] ?? '', 10);
    const second = Number.parseInt(fields[1] ?? '', 10);
    if (Number.isNaN(line) || Number.isNaN(second)) return this.handlers.onProtocolError(`unreadable tracer token "${text.slice(0, 40)}"`);
    switch (kind) {
      case 'c': {
        // A new scope: c LINE,DEPTH,NAME; scopes are numbered in the order of their calls.
        const scope = ++this.scopeCounter;
        this.scopes.set(scope, { depth: second, functionName: fields.slice(2).join(','), locals: new Map() });
        this.startFrame('call', line, scope, true);
        this.stack.push(scope);
        return;
      }
      case 'g': {
        // A generator resuming: g LINE,SCOPE,DEPTH,NAME; all its locals follow afresh.
        const depth = Number.parseInt(fields[2] ?? '0', 10);
        this.scopes.set(second, { depth, functionName: fields.slice(3).join(','), locals: new Map() });
        this.startFrame('call', line, second, true);
        this.stack.push(second);
        return;
      }
      case 'l':
      case 'x':
        this.startFrame(kind === 'l' ? 'line' : 'exception', line, second);
        this.makeCurrent(second);
        if (kind === 'x') this.expect = { kind: 'value', target: 'arg' };
        return;
      case 'r':
        this.startFrame('return', line, second);
        this.makeCurrent(second);
        this.stack.pop();
        this.expect = { kind: 'value', target: 'arg' };
        return;
      default:
        this.handlers.onProtocolError(`unknown tracer token "${text.slice(0, 40)}"`);
    }
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
        const before = pending.locals;
        const ordered = new Map<string, string>();
        for (const name of parsed.names) ordered.set(name, before.get(name) ?? '');
        pending.locals = ordered;
        this.ownedIndex = pending.index;
        const info = this.scopes.get(pending.scope);
        if (info) info.locals = ordered;
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
      case 'end':
        this.emitPending();
        this.ended = true;
        return this.handlers.onEnd(parsed.end);
    }
  }

  private startFrame(event: TraceEventKind, line: number, scope: number, fresh = false): void {
    this.emitPending();
    const info = this.scopes.get(scope);
    // Line frames share the scope's locals until one changes (copy on write): unchanged frames cost no copy.
    const locals = event === 'call' || event === 'line' ? (fresh || !info ? new Map<string, string>() : info.locals) : EMPTY_LOCALS;
    this.pending = {
      index: this.nextIndex++,
      event,
      line,
      sourceLine: this.sourceLines[line - 1] ?? '',
      scope,
      functionName: info?.functionName ?? '?',
      depth: info?.depth ?? 0,
      locals,
    };
    if (info && locals !== EMPTY_LOCALS) info.locals = locals;
    if (fresh) this.ownedIndex = this.pending.index;
  }

  private pendingLocals(): Map<string, string> {
    const pending = this.pending!;
    const info = this.scopes.get(pending.scope);
    if (pending.locals === EMPTY_LOCALS) pending.locals = new Map();
    else if (info && pending.index !== this.ownedIndex) {
      // First change in this frame: copy, so earlier frames keep the values they had.
      pending.locals = new Map(pending.locals);
      info.locals = pending.locals;
    }
    this.ownedIndex = pending.index;
    return pending.locals;
  }

  private emitPending(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.handlers.onFrame(pending);
  }
}

/** Locals of return and exception frames; never written to. */
const EMPTY_LOCALS = new Map<string, string>();

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
