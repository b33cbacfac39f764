// Reads Debug Adapter Protocol messages from the client's byte stream without trusting it: frames by Content-Length,
// and hands on only well-formed requests and responses; each malformed message is answered with an error, never a crash.

import { z } from 'zod';

/** A message body larger than this is refused (the largest real ones, launch configurations, are a few kB). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('Content-Length:');

const RequestShape = z.object({
  seq: z.number().int(),
  type: z.literal('request'),
  command: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
});
const ResponseShape = z.object({
  seq: z.number().int(),
  type: z.literal('response'),
  request_seq: z.number().int(),
  success: z.boolean(),
  command: z.string(),
});

export type DapInputMessage = z.infer<typeof RequestShape> | z.infer<typeof ResponseShape>;

/** A message that could not be used: what was wrong, and the request's seq and command where they could be read. */
export interface MalformedMessage {
  readonly problem: string;
  readonly seq: number;
  readonly command: string;
}

export interface DapInputHandlers {
  onMessage(message: DapInputMessage & Record<string, unknown>): void;
  onMalformed(malformed: MalformedMessage): void;
}

/** Incremental reader of the client's stream: push raw chunks in any sizes. */
export class DapInputReader {
  private pending: Buffer = Buffer.alloc(0);
  private contentLength = -1;

  constructor(private readonly handlers: DapInputHandlers) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.contentLength >= 0) {
        if (this.pending.length < this.contentLength) return;
        const body = this.pending.subarray(0, this.contentLength);
        this.pending = this.pending.subarray(this.contentLength);
        this.contentLength = -1;
        this.message(body.toString('utf8'));
        continue;
      }
      const end = this.pending.indexOf(HEADER_END);
      if (end < 0) {
        // A header never gets this long: drop what cannot be one, up to the next header that may be.
        if (this.pending.length > 64 * 1024) this.resync('a message header without an end');
        return;
      }
      const header = this.pending.subarray(0, end).toString('latin1');
      this.pending = this.pending.subarray(end + HEADER_END.length);
      const match = /Content-Length: *(\d{1,12}) *(?:\r|$)/i.exec(header);
      const length = match ? Number(match[1]) : Number.NaN;
      if (!Number.isSafeInteger(length) || length > MAX_MESSAGE_BYTES) {
        this.malformed(match ? `a message of ${match[1]} bytes, more than the ${MAX_MESSAGE_BYTES} allowed` : 'a message header without a valid Content-Length');
        // Its body, if any, cannot be told from what follows: skip to the next header.
        this.resync(undefined);
        continue;
      }
      this.contentLength = length;
    }
  }

  private resync(problem: string | undefined): void {
    const next = this.pending.indexOf(CONTENT_LENGTH, 1);
    this.pending = next < 0 ? Buffer.alloc(0) : this.pending.subarray(next);
    if (problem !== undefined) this.malformed(problem);
  }

  private message(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      const seq = /"seq"\s*:\s*(\d{1,15})/.exec(text)?.[1];
      const command = /"command"\s*:\s*"([^"\\]{1,100})"/.exec(text)?.[1];
      this.malformed(`invalid JSON (${error instanceof Error ? error.message : String(error)})`, seq === undefined ? 0 : Number(seq), command);
      return;
    }
    const request = RequestShape.safeParse(parsed);
    if (request.success) return this.handlers.onMessage({ ...(parsed as Record<string, unknown>), ...request.data });
    const response = ResponseShape.safeParse(parsed);
    if (response.success) return this.handlers.onMessage({ ...(parsed as Record<string, unknown>), ...response.data });
    const record = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
    if (record.type === 'event') return; // the client sends no events; ignore any it does
    const seq = typeof record.seq === 'number' && Number.isInteger(record.seq) ? record.seq : 0;
    const command = typeof record.command === 'string' ? record.command : String(record.command ?? '');
    const issue = request.error.issues[0];
    const what = parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)
      ? `a message that is ${parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`} instead of an object`
      : `a request whose ${issue?.path.map(String).join('.') || 'shape'} is wrong (${issue?.message ?? 'unknown problem'})`;
    this.malformed(what, seq, command);
  }

  private malformed(problem: string, seq = 0, command?: string): void {
    this.handlers.onMalformed({ problem, seq, command: command ?? 'unknown' });
  }
}
