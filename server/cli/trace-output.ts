// Writers that print a trace while it is recorded, one frame at a time, so that no format needs the whole trace in
// memory: the table, the CWM text (prompt, frames, end), and JSON (the trace object with its frames array streamed).

import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { traceContext } from '../cwm/context';
import { ByteSink, CwmFrameEncoder, markEntryLine, renderPrompt, traceEndsWithEndOfText } from '../cwm/writer';
import { Tok } from '../cwm/tokens';
import { frameToJson } from '../trace/json';
import type { LiveLocals } from '../trace/compact-locals';
import type { EntryPoint, OutputChunk, Trace, TraceFrame } from '../trace/model';
import { describeEnd } from './common';
import { painter, TraceTable, type Paint } from './table';

/** Receives a trace as it is recorded. */
export interface TraceWriter {
  /** The tracer says which entry it calls (before the first frame). */
  begin(entry: EntryPoint): void;
  frame(frame: TraceFrame): void;
  note(text: string): void;
  /** The trace ended: `trace.frames` may be empty (not kept); `stepCount` frames were written. */
  end(trace: Trace, stepCount: number): void | Promise<void>;
}

type Write = (text: string) => void;
/** Settles once what was written has gone out (the destination drained): output held back is not gathered in memory. */
type Drained = () => Promise<void>;

/**
 * JSON.stringify leaves DEL, the C1 controls (U+0080-U+009F, which some terminals obey) and the line separators raw;
 * escaped, the JSON holds exactly the same data and cannot drive a terminal it is printed to.
 */
export function terminalSafeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Consecutive chunks of one stream as one (a print() arrives as its text, then its newline). */
export function mergeOutput(chunks: readonly OutputChunk[]): OutputChunk[] {
  const merged: OutputChunk[] = [];
  for (const chunk of chunks) {
    const last = merged[merged.length - 1];
    if (last && last.stream === chunk.stream) merged[merged.length - 1] = { stream: last.stream, text: last.text + chunk.text };
    else merged.push(chunk);
  }
  return merged;
}

/** The first line of a table: which code is traced, and how to pick another. */
export function entryLine(entry: EntryPoint, file: string, done: 'traced' | 'predicted' = 'traced'): string {
  if (entry.kind === 'script') {
    return `Nothing is marked and no --entry was given, so the whole script ${file} is ${done}. To ${done === 'traced' ? 'trace' : 'predict'} one function, ` +
      'put "# << START_OF_TRACE" on its def line or pass --entry NAME.';
  }
  return '';
}

export class TableTraceWriter implements TraceWriter {
  private readonly paint: Paint;
  private headerWritten = false;

  constructor(private readonly write: Write, private readonly table: TraceTable, color: boolean, private readonly file: string) {
    this.paint = painter(color);
  }

  begin(entry: EntryPoint): void {
    const line = entryLine(entry, this.file);
    if (line) this.write(this.paint('yellow', this.table.message(line)) + '\n');
  }

  private header(): void {
    if (this.headerWritten) return;
    this.headerWritten = true;
    this.write(this.table.header() + '\n');
  }

  frame(frame: TraceFrame): void {
    this.header();
    let text = this.table.row(frame) + '\n';
    for (const chunk of mergeOutput(frame.output ?? [])) text += this.table.output(chunk.text, chunk.stream) + '\n';
    this.write(text);
  }

  note(text: string): void {
    this.write(this.paint('yellow', this.table.message(`note: ${text}`)) + '\n');
  }

  end(trace: Trace, stepCount: number): void {
    const ended = this.table.message(describeEnd(trace, stepCount));
    this.write((trace.end.kind === 'returned' ? this.paint('green', ended) : this.paint('yellow', ended)) + '\n');
  }
}

/**
 * CWM's text: the prompt (every traced file's source, see server/cwm/context.ts), the frames, the end token. The other
 * files are known only once the program has run into them, so the frames wait until the end: in memory up to
 * MEMORY_BYTES, then in a spool file (bounded memory at any length), and follow the prompt.
 */
const EMPTY = Buffer.alloc(0);
/** Bytes of rendered frames held in memory before they go to a spool file. */
const MEMORY_BYTES = 64 * 1024 * 1024;
/** Frames are encoded straight into chunks of this size (a write per frame would cost more than the frame). */
const CHUNK_BYTES = 1 << 18;

export class CwmTraceWriter implements TraceWriter {
  private encoder: CwmFrameEncoder | undefined;
  private entry: EntryPoint = { kind: 'script' };
  private spool: { readonly dir: string; readonly fd: number } | undefined;
  /** Frames are encoded as UTF-8 bytes into chunks, never as strings: nothing per frame for the garbage collector. */
  private readonly sink = new ByteSink((chunk) => this.keep(chunk), CHUNK_BYTES);
  /** Chunks of encoded frames held in memory while they fit MEMORY_BYTES. */
  private readonly held: Buffer[] = [];
  private heldBytes = 0;

  /**
   * @param writeBytes where the held frames go at the end, as the UTF-8 bytes they are kept in (no decoding and
   * re-encoding of what may be hundreds of megabytes); default: decoded and given to `write`.
   */
  constructor(
    private readonly write: Write,
    private readonly source: string,
    private readonly path?: string,
    private readonly drained: Drained = async () => undefined,
    private readonly writeBytes: (bytes: Buffer) => void = (bytes) => write(bytes.toString('utf8')),
  ) {}

  /** The prompt waits for the end (every traced file is known then): a run that fails early prints only its error. */
  begin(entry: EntryPoint): void {
    this.entry = entry;
    // Frames of the main file take their LINE from its marked text; other files' frames carry their own line.
    this.encoder = new CwmFrameEncoder(markEntryLine(this.source, entry));
  }

  frame(frame: TraceFrame): void {
    if (!this.encoder) this.begin({ kind: 'script' });
    this.encoder!.encodeFrame(frame, this.sink);
  }

  /** A frame as the stream reader's live mode gives it (see TraceRequest.onLiveFrame): the same bytes as frame(). */
  liveFrame(frame: TraceFrame, locals: LiveLocals | undefined): void {
    if (!this.encoder) this.begin({ kind: 'script' });
    this.encoder!.encodeLiveFrame(frame, locals, this.sink);
  }

  /** A full chunk: held while memory allows, else (with everything held before it) in the spool file. */
  private keep(chunk: Buffer): void {
    if (!this.spool && this.heldBytes + chunk.length <= MEMORY_BYTES) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    } else {
      const fd = this.openSpool();
      for (const earlier of this.held.splice(0)) writeSync(fd, earlier);
      this.heldBytes = 0;
      writeSync(fd, chunk);
    }
  }

  private openSpool(): number {
    if (!this.spool) {
      const dir = mkdtempSync(join(tmpdir(), 'cwm-debug-frames-'));
      this.spool = { dir, fd: openSync(join(dir, 'frames.txt'), 'w+') };
      // An interrupted run (Ctrl-C) never reaches end(): the spool goes with the process all the same.
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    return this.spool.fd;
  }

  note(): void {}

  async end(trace: Trace): Promise<void> {
    const context = traceContext({ source: this.source, entry: this.encoder ? this.entry : trace.entry, ...(this.path !== undefined ? { path: this.path } : {}), ...(trace.files ? { files: trace.files } : {}) });
    this.write(renderPrompt(context));
    this.sink.flush();
    // Chunks end between pieces of frames (a LINE is never cut), so each is whole UTF-8 text. Each waits for the one before to go out: a slow
    // reader (a pipe) holds the rest here as bytes, not in the output stream's queue as strings.
    const held = this.held.splice(0);
    this.heldBytes = 0;
    for (let i = 0; i < held.length; i++) {
      this.writeBytes(held[i]!);
      held[i] = EMPTY;
      await this.drained();
    }
    if (this.spool) {
      const { dir, fd } = this.spool;
      try {
        let position = 0;
        // The spooled frames go out as the bytes they are (a chunk may end inside a character: bytes do not care).
        for (;;) {
          const buffer = Buffer.allocUnsafe(1 << 20);
          const read = readSync(fd, buffer, 0, buffer.length, position);
          if (read === 0) break;
          position += read;
          this.writeBytes(buffer.subarray(0, read));
          await this.drained();
        }
      } finally {
        closeSync(fd);
        rmSync(dir, { recursive: true, force: true });
        this.spool = undefined;
      }
    }
    // The final newline is for the terminal and for line-based tools; it is not part of the CWM text.
    this.write((traceEndsWithEndOfText(trace) ? Tok.endOfText : '') + '\n');
  }
}

/**
 * The trace object of `--format json` (what traceToJson gives, same keys), written as it comes: the frames array
 * is streamed one frame per line, and the fields known only at the end (entry, end, notes...) follow it.
 */
export class JsonTraceWriter implements TraceWriter {
  private count = 0;
  private started = false;

  constructor(private readonly write: Write, private readonly origin: Trace['origin'], private readonly path: string) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.write(`{\n  "origin": ${JSON.stringify(this.origin)},\n  "path": ${terminalSafeJson(this.path)},\n  "frames": [`);
  }

  /** Nothing is written before the first frame: a run that fails before it prints nothing but its error. */
  begin(): void {}

  frame(frame: TraceFrame): void {
    this.start();
    this.write(`${this.count === 0 ? '\n' : ',\n'}    ${terminalSafeJson(frameToJson(frame))}`);
    this.count++;
  }

  note(): void {}

  end(trace: Trace): void {
    this.start();
    const tail: Record<string, unknown> = {
      entry: trace.entry,
      pythonVersion: trace.pythonVersion,
      end: trace.end,
      notes: trace.notes,
      outsideOutput: trace.outsideOutput,
      ...(trace.files?.length ? { files: trace.files } : {}),
      ...(trace.malformed.length ? { malformed: trace.malformed } : {}),
    };
    let text = this.count === 0 ? '],\n' : '\n  ],\n';
    const entries = Object.entries(tail).filter(([, value]) => value !== undefined);
    text += entries.map(([key, value]) => `  ${JSON.stringify(key)}: ${terminalSafeJson(value, 2).replace(/\n/g, '\n  ')}`).join(',\n');
    this.write(`${text}\n}\n`);
  }
}
