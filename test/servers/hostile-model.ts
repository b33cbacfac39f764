// Loopback model servers that misbehave (tests only, never shipped): vLLM, OpenAI or fgserve framing, max_tokens ignored,
// a huge or endless value, endless frames or a never-ending line, generated as written and stopped when the client leaves.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TokenCodec } from '../../server/cwm/codec';
import { Tok } from '../../server/cwm/tokens';

export type HostileProtocol = 'vllm' | 'openai' | 'fgserve';

export type HostileOutput =
  /** One frame whose local `s` holds a string of `chars` letters, then the frame's end and the trace's end. */
  | { readonly kind: 'value'; readonly chars: number }
  /** A local whose value never ends. */
  | { readonly kind: 'endless-value' }
  /** Small well-formed frames forever, as a model stuck in a loop would write them. */
  | { readonly kind: 'endless-frames' }
  /** Streams only: one event line that never ends. */
  | { readonly kind: 'endless-line' };

export interface HostileServerOptions {
  readonly protocol: HostileProtocol;
  readonly codec: TokenCodec;
  /** What each completion request gets; a list is used in order, its last entry for every later request. */
  readonly output: HostileOutput | readonly HostileOutput[];
}

export interface HostileServer {
  readonly url: string;
  /** Parsed bodies of the completion requests received. */
  readonly requests: unknown[];
  /** Token ids written so far (all requests). */
  readonly tokensSent: number;
  /** Body bytes written so far (all requests). */
  readonly bytesSent: number;
  /** Completion answers the client closed before their end. */
  readonly closedByClient: number;
  /** Completion answers over, either way: closed by the client, or written whole (a finite answer can be wholly in the
   * socket's buffers before the client aborts it, and then it does not count as closed by the client). */
  readonly ended: number;
  /** Polls until `predicate` holds or `timeoutMs` passes; returns whether it held. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

const CREATED = 1_760_000_000;
/** Characters of the value per generated unit: each unit is one stream event. */
const UNIT_CHARS = 256;

/** Whether the request's prompt (ids or text) ends with an event token the client forced. */
function promptEndsWithEvent(codec: TokenCodec, body: unknown): boolean {
  const prompt = (body as { prompt?: unknown } | undefined)?.prompt;
  const events = [Tok.callSep, Tok.lineSep, Tok.returnSep, Tok.exceptionSep];
  if (typeof prompt === 'string') return events.some((token) => prompt.endsWith(token));
  if (Array.isArray(prompt) && prompt.length > 0) {
    const last = prompt[prompt.length - 1];
    return events.some((token) => codec.encodeWithSpecialTokens(token)[0] === last);
  }
  return false;
}

/** The output as ids and their text, unit by unit, endless where the output is. */
function* outputUnits(codec: TokenCodec, output: HostileOutput, forced: boolean): Generator<{ ids: number[]; text: string }> {
  const unit = (text: string, special = false): { ids: number[]; text: string } => ({
    ids: special ? codec.encodeWithSpecialTokens(text) : codec.encodeOrdinary(text),
    text,
  });
  // A prompt that ends with a forced event token (as the client sends them, like CWM's reference debugger) is
  // continued after it, as a real model would: the first frame's event token is already there.
  const event = forced ? '' : Tok.lineSep;
  if (output.kind === 'endless-frames') {
    const first = unit(`${event}{"i": "1"}${Tok.actionSep}    while True:\n${Tok.frameSep}`, true);
    const frame = unit(`${Tok.lineSep}{"i": "1"}${Tok.actionSep}    while True:\n${Tok.frameSep}`, true);
    yield first;
    for (;;) yield frame;
  }
  yield unit(`${event}{"s": "'`, true);
  const letters = unit('q'.repeat(UNIT_CHARS));
  if (output.kind === 'value') {
    let left = output.chars;
    for (; left >= UNIT_CHARS; left -= UNIT_CHARS) yield letters;
    if (left > 0) yield unit('q'.repeat(left));
    yield unit(`'"}${Tok.actionSep}    return s\n${Tok.frameSep}${Tok.endOfText}`, true);
    return;
  }
  for (;;) yield letters;
}

interface Answer {
  readonly res: ServerResponse;
  closed: boolean;
}

export async function startHostileServer(options: HostileServerOptions): Promise<HostileServer> {
  const requests: unknown[] = [];
  const stats = { tokensSent: 0, bytesSent: 0, closedByClient: 0, ended: 0 };
  const sockets = new Set<Socket>();

  /** Writes with backpressure; false once the client is gone. */
  const write = async (answer: Answer, text: string): Promise<boolean> => {
    if (answer.closed) return false;
    stats.bytesSent += Buffer.byteLength(text);
    if (!answer.res.write(text) && !answer.closed) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          answer.res.off('drain', done);
          answer.res.off('close', done);
          resolve();
        };
        answer.res.on('drain', done);
        answer.res.on('close', done);
      });
    }
    return !answer.closed;
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void route(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        console.error('hostile-model handler failed:', err);
        res.destroy();
      });
    });
  };

  const route = async (req: IncomingMessage, res: ServerResponse, raw: string): Promise<void> => {
    const path = req.url ?? '';
    if (req.method === 'GET' && path === '/v1/models' && options.protocol !== 'fgserve') {
      // vllm/entrypoints/openai/api_server.py show_available_models: the served model in an OpenAI model list.
      const body = JSON.stringify({ object: 'list', data: [{ id: 'facebook/cwm', object: 'model', created: CREATED, owned_by: 'vllm', root: 'facebook/cwm' }] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    const completion = options.protocol === 'fgserve' ? path === '/completions' : path === '/v1/completions';
    if (!completion || req.method !== 'POST') {
      // fgserve (Flask) answers a GET on its POST-only route with 405; unknown routes with 404.
      const status = completion ? 405 : 404;
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(status === 405 ? '<h1>Method Not Allowed</h1>' : '<h1>Not Found</h1>');
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    requests.push(body);
    const outputs: readonly HostileOutput[] = Array.isArray(options.output) ? options.output : [options.output as HostileOutput];
    const output = outputs[Math.min(requests.length, outputs.length) - 1]!;
    const answer: Answer = { res, closed: false };
    res.on('close', () => {
      stats.ended++;
      if (!res.writableFinished) {
        answer.closed = true;
        stats.closedByClient++;
      }
    });
    if (options.protocol === 'fgserve') await answerFgserve(answer, body, output);
    else await answerStream(answer, body, output);
  };

  /** vLLM's completion_stream_generator (vllm/entrypoints/openai/serving_completion.py) or an OpenAI text stream. */
  const answerStream = async (answer: Answer, body: unknown, output: HostileOutput): Promise<void> => {
    answer.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    const id = `cmpl-${randomUUID().replace(/-/g, '')}`;
    const model = (body as { model?: unknown } | undefined)?.model ?? 'facebook/cwm';
    if (output.kind === 'endless-line') {
      // The start of a normal event, then its text grows forever without the line end that would close it.
      if (!(await write(answer, `data: {"id":"${id}","object":"text_completion","created":${CREATED},"choices":[{"index":0,"text":"`))) return;
      const filler = 'q'.repeat(64 * 1024);
      while (await write(answer, filler));
      return;
    }
    for (const unit of outputUnits(options.codec, output, promptEndsWithEvent(options.codec, body))) {
      // Several tokens per event, as vLLM sends them when decoding outruns the stream (or with speculative decoding).
      const choice: Record<string, unknown> = { index: 0, text: unit.text, logprobs: null, finish_reason: null };
      if (options.protocol === 'vllm') {
        choice.stop_reason = null;
        choice.token_ids = unit.ids;
      }
      const event = { id, object: 'text_completion', created: CREATED, model, choices: [choice], usage: null };
      stats.tokensSent += unit.ids.length;
      if (!(await write(answer, `data: ${JSON.stringify(event)}\n\n`))) return;
    }
    const last = { id, object: 'text_completion', created: CREATED, model, choices: [{ index: 0, text: '', logprobs: null, finish_reason: 'stop' }], usage: null };
    if (await write(answer, `data: ${JSON.stringify(last)}\n\ndata: [DONE]\n\n`)) answer.res.end();
  };

  /**
   * fgserve's /completions (serve/fgserve.py): Flask's jsonify of choices[].text and choices[].tokens, keys sorted,
   * with a Content-Length, whatever max_tokens asked for. Generated twice: once to count its bytes, once to send.
   */
  const answerFgserve = async (answer: Answer, body: unknown, output: HostileOutput): Promise<void> => {
    const promptLength = Array.isArray((body as { prompt?: unknown } | undefined)?.prompt) ? (body as { prompt: unknown[] }).prompt.length : 0;
    const escape = (text: string): string => JSON.stringify(text).slice(1, -1);
    const head = '{"choices":[{"finish_reason":"length","index":0,"logprobs":null,"text":"';
    let textBytes = 0;
    let idsBytes = 0;
    let count = 0;
    const finite = output.kind === 'value';
    if (finite) {
      for (const unit of outputUnits(options.codec, output, promptEndsWithEvent(options.codec, body))) {
        textBytes += Buffer.byteLength(escape(unit.text));
        for (const tokenId of unit.ids) idsBytes += String(tokenId).length + (count++ === 0 ? 0 : 1);
      }
    }
    const tail = `]}],"created":${CREATED},"id":"${randomUUID().replace(/-/g, '')}","model":null,"object":"text_completion","system_fingerprint":"/checkpoints/cwm","usage":{"completion_tokens":${count},"prompt_tokens":${promptLength},"total_tokens":${count + promptLength}}}\n`;
    const length = head.length + textBytes + '","tokens":['.length + idsBytes + tail.length;
    // An endless answer cannot announce its length: it goes out chunked.
    answer.res.writeHead(200, { 'content-type': 'application/json', ...(finite ? { 'content-length': String(length) } : {}) });
    if (!(await write(answer, head))) return;
    for (const unit of outputUnits(options.codec, output, promptEndsWithEvent(options.codec, body))) if (!(await write(answer, escape(unit.text)))) return;
    if (!(await write(answer, '","tokens":['))) return;
    let first = true;
    for (const unit of outputUnits(options.codec, output, promptEndsWithEvent(options.codec, body))) {
      stats.tokensSent += unit.ids.length;
      if (!(await write(answer, (first ? '' : ',') + unit.ids.join(',')))) return;
      first = false;
    }
    if (await write(answer, tail)) answer.res.end();
  };

  const server = http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get tokensSent() {
      return stats.tokensSent;
    },
    get bytesSent() {
      return stats.bytesSent;
    },
    get closedByClient() {
      return stats.closedByClient;
    },
    get ended() {
      return stats.ended;
    },
    waitFor: async (predicate, timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) return false;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return true;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
