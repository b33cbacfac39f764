// Loopback stand-ins for fgserve, vLLM, mlx_lm.server and a generic OpenAI server (tests only, never shipped):
// same paths, bodies, stream framing, stop handling, error shapes and (strict mode, the default) the real servers'
// rules, each with the file and function of the real server it comes from, driven by a scripted model.
import { randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { z } from 'zod';
import type { TokenCodec, TokenStreamDecoder } from '../../server/cwm/codec';
import { specialTokenMap, specialTokenText, Tok } from '../../server/cwm/tokens';
import type { BackendKind } from '../../server/endpoint/types';

export interface TestModelParams {
  maxTokens: number;
  temperature: number;
  seed?: number;
  /** Ids the server stops on for this request: the requested stop tokens, then end/eom/eot. */
  stopIds: number[];
  sampleIndex: number;
}

/**
 * A generated token with how likely the model found it, and what else it weighed there (most likely first). Servers
 * that return log-probabilities send these; a bare id counts as a token the model was sure of (DEFAULT_TOKEN_LOGPROB).
 */
export interface ScoredToken {
  readonly id: number;
  readonly logprob: number;
  readonly top?: readonly { readonly id: number; readonly logprob: number }[];
}

/** The id of what a TestModel yields. */
export function tokenIdOf(token: number | ScoredToken): number {
  return typeof token === 'number' ? token : token.id;
}

/** Log-probability of a token a TestModel yields as a bare id (probability 0.99). */
export const DEFAULT_TOKEN_LOGPROB = Math.log(0.99);

/** The ids the "model" would generate for a prompt, before the server's stop handling (may be endless). */
export type TestModel = (promptIds: number[], params: TestModelParams) => number[] | Iterable<number | ScoredToken>;

export interface Faults {
  /** Delay before each generated token (each decoding step, all choices together). */
  tokenLatencyMs?: number;
  /** Prefill delay per prompt token not found in the prefix cache. */
  prefillMsPerToken?: number;
  /** Fixed delay before the first token of every completion (a real model's time to first token, cache or not). */
  prefillMs?: number;
  /** Longest common prefix with earlier prompts (and their outputs) counts as cached; default true. */
  prefixCache?: boolean;
  /** Destroy every connection as soon as it is accepted. */
  refuse?: boolean;
  /** Completion requests fail with HTTP 500 in the server's error shape; a string is the message. */
  http500?: boolean | string;
  /** The first `count` completion requests get HTTP 429 with this Retry-After (seconds or HTTP date). */
  rateLimit?: { count: number; retryAfter?: string; status?: 429 | 503 };
  /** Destroy the socket after this many tokens were sent (fgserve: after part of the answer). */
  dropAfterTokens?: number;
  /** Stop sending after this many tokens, keeping the connection open. */
  stallAfterTokens?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; undefined when there was none or it was not JSON. */
  body: unknown;
  rawBody: string;
  /** Prompt ids the model saw (after the server's own tokenization for text prompts). */
  promptIds?: number[];
  /** Prompt tokens served from the prefix cache. */
  cachedTokens?: number;
  status?: number;
  /** The client closed the connection before the response was complete. */
  clientClosed: boolean;
  /** The server dropped the connection on purpose (dropAfterTokens). */
  serverDropped: boolean;
  /** The response was sent completely. */
  finished: boolean;
  /** fgserve, mlx: when each generation (of n, for fgserve) started and ended (ms since the epoch), in order. */
  generations?: { start: number; end: number }[];
}

export interface ProtocolServerOptions {
  protocol: BackendKind;
  codec: TokenCodec;
  model: TestModel;
  faults?: Faults;
  /** Name the server serves; default 'facebook/cwm' (mlx: 'mlx-community/cwm-4bit'). */
  modelName?: string;
  /** Overrides the /v1/models listing (e.g. [] or several models). */
  listedModels?: string[];
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
  /** vLLM only: behave like vLLM before 0.10.2, which ignores return_token_ids. */
  omitTokenIds?: boolean;
  /** Answer 401 (vLLM's --api-key behaviour) unless `Authorization: Bearer <key>` is sent. */
  requireApiKey?: string;
  /**
   * Enforce the real servers' rules (default true): fgserve hangs at temperature 0, vLLM refuses requests past its
   * max_model_len and n > 1 when greedy, ... false accepts whatever the client sends, for unit tests of other things.
   */
  strict?: boolean;
  /** vLLM: the served `--max-model-len`, reported in /v1/models and enforced (default 131072). */
  maxModelLen?: number;
  /** vLLM: the server's `--max-logprobs` (default 20; -1 allows the whole vocabulary). */
  maxLogprobs?: number;
  /** vLLM: started with `--enable-prompt-tokens-details`, so usage reports cached_tokens (default false). */
  promptTokensDetails?: boolean;
  /**
   * vLLM: run as the V0 engine (VLLM_USE_V1=0, vLLM before 0.11), which refuses a request's `priority` other than 0
   * unless started with `--scheduling-policy priority` (default: the V1 engine, which takes it and, under the default
   * fcfs policy, ignores it).
   */
  vllmV0Engine?: boolean;
  /** vLLM: `--scheduling-policy` (default 'fcfs'). The order of waiting requests is not emulated, only what is accepted. */
  schedulingPolicy?: 'fcfs' | 'priority';
  /** fgserve: FastGen's max_seq; a prompt at or past it trips an assert in the generation thread (default 131072). */
  maxSeq?: number;
  /** fgserve: how long the server stays stuck after a request at temperature 0 (default 2000 ms). */
  stuckAfterZeroTemperatureMs?: number;
  /** mlx: /v1/models answers 200 and then an empty body (mlx_lm without a Hugging Face cache folder). */
  emptyModelList?: boolean;
}

export interface ProtocolServer {
  url: string;
  requests: RecordedRequest[];
  /** Live faults: tests may change them between requests. */
  faults: Faults;
  /** Connections open right now. */
  openConnections(): number;
  /** Connections accepted since start. */
  totalConnections(): number;
  /** Polls until `predicate` holds or `timeoutMs` passes; returns whether it held. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

const CREATED = 1_760_000_000;
const MLX_FINGERPRINT = '0.28.3-0.29.2-macOS-15.6-arm64-applegpu_g15s';
const VLLM_BLOCK = 16;

interface Ctx {
  options: ProtocolServerOptions;
  faults: Faults;
  codec: TokenCodec;
  eos: number[];
  bos: number;
  cache: number[][];
  completionRequests: number;
  closing: boolean;
  strict: boolean;
  /** mlx: the seeded request running now; seeded requests are not batched, so each waits for the one before. */
  mlxUnbatched: Promise<void>;
  /** fgserve: requests being answered, by prompt: concurrent requests for one prompt are samples of one batch. */
  fgserveInFlight: Map<string, number>;
  /** fgserve: until when every request hangs, after a temperature-0 request killed the generation thread. */
  stuckUntil: number;
}

export async function startProtocolServer(options: ProtocolServerOptions): Promise<ProtocolServer> {
  const codec = options.codec;
  const special = (text: string): number => {
    const id = codec.specialTokenId(text);
    if (id === undefined) throw new Error(`test codec lacks ${text}`);
    return id;
  };
  const ctx: Ctx = {
    options,
    faults: options.faults ?? {},
    codec,
    eos: [special(Tok.endOfText), special(specialTokenText(8)), special(specialTokenText(9))],
    bos: special(Tok.beginOfText),
    cache: [],
    completionRequests: 0,
    closing: false,
    strict: options.strict !== false,
    mlxUnbatched: Promise.resolve(),
    fgserveInFlight: new Map(),
    stuckUntil: 0,
  };
  const sockets = new Set<Socket>();
  let total = 0;
  const requests: RecordedRequest[] = [];

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = rawBody === '' ? undefined : JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        rawBody,
        clientClosed: false,
        serverDropped: false,
        finished: false,
      };
      requests.push(rec);
      res.on('finish', () => {
        rec.finished = true;
      });
      res.on('close', () => {
        if (!res.writableFinished && !rec.serverDropped && !ctx.closing) rec.clientClosed = true;
      });
      const wrapped = new Exchange(req, res, rec, ctx);
      route(wrapped).catch((err: unknown) => {
        // A bug in the stand-in must be loud, not a hung test.
        console.error('protocol-server handler failed:', err);
        res.destroy();
      });
    });
  };

  const server = options.tls !== undefined ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler) : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    total++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (ctx.faults.refuse === true) socket.destroy();
  });
  // Loopback only, as fgserve binds it (serve/fgserve.py, start_flask_server: app.run(host="127.0.0.1")).
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls !== undefined ? 'https' : 'http';

  return {
    url: `${scheme}://127.0.0.1:${port}`,
    requests,
    get faults() {
      return ctx.faults;
    },
    set faults(value: Faults) {
      ctx.faults = value;
    },
    openConnections: () => sockets.size,
    totalConnections: () => total,
    waitFor: async (predicate, timeoutMs = 2_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) return false;
        await sleep(5);
      }
      return true;
    },
    close: async () => {
      ctx.closing = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } satisfies ProtocolServer & { faults: Faults };
}

/** One request/response pair, with the fault-aware writing the protocols share. */
class Exchange {
  tokensSent = 0;
  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly rec: RecordedRequest,
    readonly ctx: Ctx,
  ) {}

  get gone(): boolean {
    return this.res.destroyed || this.req.socket.destroyed;
  }

  send(status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
    this.rec.status = status;
    this.res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), ...headers });
    this.res.end(body);
  }

  startStream(headers: Record<string, string>): void {
    this.rec.status = 200;
    this.res.writeHead(200, headers);
    this.res.flushHeaders();
  }

  write(text: string): void {
    if (!this.gone) this.res.write(text);
  }

  /** Counts sent tokens and applies the drop fault; false when the exchange must stop. */
  afterTokens(count: number): boolean {
    this.tokensSent += count;
    const { dropAfterTokens } = this.ctx.faults;
    if (dropAfterTokens !== undefined && this.tokensSent >= dropAfterTokens) {
      this.drop();
      return false;
    }
    return !this.gone;
  }

  /** Before each decoding step: the stall fault, then the per-token delay; false when the exchange must stop. */
  async ready(): Promise<boolean> {
    const { stallAfterTokens } = this.ctx.faults;
    if (stallAfterTokens !== undefined && this.tokensSent >= stallAfterTokens) {
      await this.stall();
      return false;
    }
    const ms = this.ctx.faults.tokenLatencyMs ?? 0;
    await (ms > 0 ? sleep(ms) : yieldToIo());
    return !this.gone;
  }

  drop(): void {
    this.rec.serverDropped = true;
    this.req.socket.destroy();
  }

  /** Sends nothing more and keeps the connection until the client (or server shutdown) closes it. */
  stall(): Promise<void> {
    return new Promise((resolve) => {
      if (this.gone) return resolve();
      this.res.once('close', () => resolve());
    });
  }

}

async function route(ex: Exchange): Promise<void> {
  const key = ex.ctx.options.requireApiKey;
  if (key !== undefined && ex.req.headers.authorization !== `Bearer ${key}`) {
    return ex.send(401, 'application/json', JSON.stringify({ error: 'Unauthorized' }));
  }
  switch (ex.ctx.options.protocol) {
    case 'fgserve':
      return routeFgserve(ex);
    case 'vllm':
      return routeVllm(ex);
    case 'mlx':
      return routeMlx(ex);
    case 'openai':
      return routeOpenAi(ex);
  }
}

// ---------------------------------------------------------------- shared generation

interface Prefill {
  promptIds: number[];
  cached: number;
}

/** Looks the prompt up in the prefix cache, records it, and waits the prefill time of the uncached part. */
async function prefill(ex: Exchange, promptIds: number[], reportCached: (lcp: number, length: number) => number, onProgress?: (done: number, total: number) => void): Promise<Prefill> {
  const { faults, cache } = ex.ctx;
  let lcp = 0;
  if (faults.prefixCache !== false) {
    for (const seen of cache) {
      let k = 0;
      while (k < seen.length && k < promptIds.length && seen[k] === promptIds[k]) k++;
      lcp = Math.max(lcp, k);
    }
  }
  const cached = reportCached(lcp, promptIds.length);
  ex.rec.promptIds = promptIds;
  ex.rec.cachedTokens = cached;
  const uncached = promptIds.length - cached;
  if ((faults.prefillMs ?? 0) > 0) await sleep(faults.prefillMs!);
  const perToken = faults.prefillMsPerToken ?? 0;
  onProgress?.(0, uncached);
  if (perToken > 0 && uncached > 0) {
    const step = 256;
    for (let done = 0; done < uncached; ) {
      const n = Math.min(step, uncached - done);
      await sleep(perToken * n);
      done += n;
      if (ex.gone) break;
      onProgress?.(done, uncached);
    }
  } else if (uncached > 0) {
    onProgress?.(uncached, uncached);
  }
  return { promptIds, cached };
}

function remember(ctx: Ctx, ids: number[]): void {
  ctx.cache.push(ids);
  if (ctx.cache.length > 64) ctx.cache.shift();
}

/** Pulls the model's ids lazily, so endless scripted models work. */
class Sampler {
  private readonly it: Iterator<number | ScoredToken>;
  /** The score of the token next() returned last. */
  last: ScoredToken | undefined;
  constructor(model: TestModel, promptIds: number[], params: TestModelParams) {
    this.it = model([...promptIds], params)[Symbol.iterator]();
  }
  next(): number | undefined {
    const step = this.it.next();
    if (step.done === true) {
      this.last = undefined;
      return undefined;
    }
    this.last = typeof step.value === 'number' ? { id: step.value, logprob: DEFAULT_TOKEN_LOGPROB } : step.value;
    return this.last.id;
  }
}

function endsWith(ids: readonly number[], tail: readonly number[]): boolean {
  if (tail.length === 0 || ids.length < tail.length) return false;
  for (let k = 0; k < tail.length; k++) if (ids[ids.length - tail.length + k] !== tail[k]) return false;
  return true;
}

/** Completion-level faults shared by all protocols: rate limit, then HTTP 500. Returns true when it answered. */
function completionFault(ex: Exchange, answer: (status: number, message: string, headers: Record<string, string>) => void): boolean {
  const faults = ex.ctx.faults;
  ex.ctx.completionRequests++;
  const limit = faults.rateLimit;
  if (limit !== undefined && ex.ctx.completionRequests <= limit.count) {
    answer(limit.status ?? 429, 'Too many requests, slow down.', limit.retryAfter !== undefined ? { 'retry-after': limit.retryAfter } : {});
    return true;
  }
  if (faults.http500 !== undefined && faults.http500 !== false) {
    answer(500, typeof faults.http500 === 'string' ? faults.http500 : 'CUDA error: an illegal memory access was encountered', {});
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- fgserve (Flask)

const FLASK_PAGES: Record<number, [string, string]> = {
  400: ['Bad Request', 'The browser (or proxy) sent a request that this server could not understand.'],
  404: ['Not Found', 'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.'],
  405: ['Method Not Allowed', 'The method is not allowed for the requested URL.'],
  429: ['Too Many Requests', 'This user has exceeded an allotted request count. Try again later.'],
  500: [
    'Internal Server Error',
    'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.',
  ],
};

function flaskError(ex: Exchange, status: number, headers: Record<string, string> = {}): void {
  const [title, text] = FLASK_PAGES[status] ?? ['Error', ''];
  const page = `<!doctype html>\n<html lang=en>\n<title>${status} ${title}</title>\n<h1>${title}</h1>\n<p>${text}</p>\n`;
  ex.send(status, 'text/html; charset=utf-8', page, headers);
}

const fgserveRequest = z.object({
  prompt: z.union([z.array(z.number().int()), z.string()]),
  temperature: z.number().nullable().optional(),
  top_p: z.number().nullable().optional(),
  max_tokens: z.number().int().default(8192),
  min_tokens: z.number().int().optional(),
  model: z.string().nullable().optional(),
  n: z.number().int().default(1),
  stop: z.string().nullable().optional(),
});

async function routeFgserve(ex: Exchange): Promise<void> {
  const { method, path } = ex.rec;
  if (path === '/completions' || path === '/chat/completions') {
    if (method !== 'POST') return flaskError(ex, 405, { allow: 'OPTIONS, POST' });
    if (path === '/chat/completions') return flaskError(ex, 500); // not emulated: the debugger never chats
  } else {
    return flaskError(ex, 404);
  }
  if (ex.rec.body === undefined) return flaskError(ex, 400);
  // A generation thread killed by an earlier temperature-0 request answers nothing (cwm/fastgen/generate.py, FastGen._sample).
  if (ex.ctx.strict && Date.now() < ex.ctx.stuckUntil) return ex.stall();
  // CompletionsRequest(**json) raising a pydantic ValidationError is unhandled in fgserve: Flask answers 500
  // (serve/fgserve.py, handle_text_completions; serve/openai_api.py, CompletionsRequest: `stop: str | None`, so a
  // list of stop strings is such an error).
  const parsed = (ex.ctx.strict ? fgserveRequest : fgserveRequest.extend({ stop: z.union([z.string(), z.array(z.string())]).nullable().optional() })).safeParse(ex.rec.body);
  if (!parsed.success) return flaskError(ex, 500);
  if (completionFault(ex, (status, _message, headers) => flaskError(ex, status, headers))) return;
  const rq = parsed.data;
  const { codec } = ex.ctx;
  const promptIds = typeof rq.prompt === 'string' ? [ex.ctx.bos, ...codec.encodeOrdinary(rq.prompt)] : rq.prompt;
  const stopText = Array.isArray(rq.stop) ? rq.stop[0] : rq.stop;
  const stopSeq = stopText != null ? codec.encodeWithSpecialTokens(stopText) : [];
  if (ex.ctx.strict) {
    // handle_text_completions passes `temperature=rq.temperature` straight on (None: FastGenArgs' 0.6); FastGen samples
    // with softmax(logits / temperature) (cwm/fastgen/generate.py, FastGen._sample, use_sampling=True by default), so 0
    // gives NaN probabilities, torch.multinomial raises in the generation thread, and no request is answered again
    // until the server is restarted: here, for stuckAfterZeroTemperatureMs.
    if (rq.temperature === 0) {
      ex.ctx.stuckUntil = Date.now() + (ex.ctx.options.stuckAfterZeroTemperatureMs ?? 2_000);
      return ex.stall();
    }
    // FastGen._prefill: `assert len(toks) < self.max_seq` in the generation thread, the same silence.
    if (promptIds.length >= (ex.ctx.options.maxSeq ?? 131072)) return ex.stall();
  }
  // Concurrent requests for the same prompt are independent draws in FastGen's batch: each is numbered as a sample,
  // so a scripted model tells them apart as it does the n samples of one request.
  const promptKey = promptIds.join(',');
  const batchIndex = ex.ctx.fgserveInFlight.get(promptKey) ?? 0;
  ex.ctx.fgserveInFlight.set(promptKey, batchIndex + 1);
  ex.res.once('close', () => {
    const left = (ex.ctx.fgserveInFlight.get(promptKey) ?? 1) - 1;
    if (left > 0) ex.ctx.fgserveInFlight.set(promptKey, left);
    else ex.ctx.fgserveInFlight.delete(promptKey);
  });
  await prefill(ex, promptIds, (lcp) => lcp);
  const completions: number[][] = [];
  const generations: { start: number; end: number }[] = [];
  ex.rec.generations = generations;
  // `for _ in range(rq.n): g.generate(...)`: the n samples run one after another (serve/fgserve.py, handle_text_completions).
  for (let i = 0; i < rq.n; i++) {
    const generation = { start: Date.now(), end: 0 };
    generations.push(generation);
    const sampler = new Sampler(ex.ctx.options.model, promptIds, {
      maxTokens: rq.max_tokens,
      temperature: rq.temperature ?? 0.6,
      stopIds: stopSeq.length === 1 ? [...stopSeq, ...ex.ctx.eos] : [...ex.ctx.eos],
      sampleIndex: batchIndex + i,
    });
    const out: number[] = [];
    // Lane.from_pkt: maxlen = min(len(prompt) + max_gen, max_seq).
    const room = Math.min(rq.max_tokens, (ex.ctx.options.maxSeq ?? 131072) - promptIds.length);
    while (out.length < room) {
      if (!(await ex.ready())) return;
      const id = sampler.next();
      if (id === undefined) break;
      out.push(id);
      const { dropAfterTokens } = ex.ctx.faults;
      ex.tokensSent++;
      if (dropAfterTokens !== undefined && ex.tokensSent >= dropAfterTokens) {
        // Headers and part of the JSON, then the socket dies: a crash while the answer is on the wire.
        ex.rec.status = 200;
        ex.res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
        ex.res.write('{"choices":[{"finish_reason":"length","index":0,"logprobs":null,"text":"');
        await new Promise<void>((resolve) => ex.res.write('', () => resolve()));
        return ex.drop();
      }
      if (ex.ctx.eos.includes(id) || endsWith(out, stopSeq)) break;
    }
    generation.end = Date.now();
    completions.push(out);
    remember(ex.ctx, [...promptIds, ...out]);
  }
  const choices = completions.map((tokens, index) => ({ finish_reason: 'length', index, logprobs: null, text: codec.decode(tokens), tokens }));
  const completionTokens = completions.reduce((sum, c) => sum + c.length, 0);
  const answer = {
    choices,
    created: CREATED,
    id: randomUUID().replace(/-/g, ''),
    model: rq.model ?? null,
    object: 'text_completion',
    system_fingerprint: '/checkpoints/cwm',
    usage: { completion_tokens: completionTokens, prompt_tokens: promptIds.length, total_tokens: promptIds.length + completionTokens },
  };
  // Flask's jsonify: sorted keys, compact separators, trailing newline.
  ex.send(200, 'application/json', `${JSON.stringify(sortKeys(answer))}\n`);
}

// ---------------------------------------------------------------- vLLM (FastAPI)

function vllmError(ex: Exchange, status: number, message: string, type: string, headers: Record<string, string> = {}, param: string | null = null): void {
  ex.send(status, 'application/json', JSON.stringify({ error: { message, type, param, code: status } }), headers);
}

const vllmRequest = z.object({
  model: z.string().nullable().optional(),
  prompt: z.union([z.array(z.number().int().min(0)), z.string()]),
  max_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  n: z.number().int().min(1).default(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().nullable().optional() }).nullable().optional(),
  stop: z.union([z.string(), z.array(z.string())]).nullable().optional(),
  stop_token_ids: z.array(z.number().int()).nullable().optional(),
  include_stop_str_in_output: z.boolean().default(false),
  skip_special_tokens: z.boolean().default(true),
  spaces_between_special_tokens: z.boolean().default(true),
  return_token_ids: z.boolean().nullable().optional(),
  // CompletionRequest.priority (vllm/entrypoints/openai/protocol.py): "lower means earlier handling; default: 0".
  priority: z.number().int().default(0),
  logprobs: z.number().int().nullable().optional(),
  return_tokens_as_token_ids: z.boolean().nullable().optional(),
});

/**
 * vLLM's CompletionLogProbs for some generated tokens (_create_completion_logprobs, vllm/entrypoints/openai/completion/
 * serving.py): tokens as decoded text (or `token_id:N` with return_tokens_as_token_ids), log-probabilities floored at
 * -9999.0, and per token a dict of the sampled token first, then the top `k`, at most k+1 keys (a key appears once);
 * text_offset counts on from `offset` by each listed token's length.
 */
function vllmLogprobs(codec: TokenCodec, scored: readonly ScoredToken[], k: number, asIds: boolean, offset: number): Record<string, unknown> {
  const name = (id: number): string => (asIds ? `token_id:${id}` : codec.decode([id]));
  const floor = (logprob: number): number => Math.max(logprob, -9999.0);
  const textOffset: number[] = [];
  let at = offset;
  for (const token of scored) {
    textOffset.push(at);
    at += name(token.id).length;
  }
  return {
    text_offset: textOffset,
    token_logprobs: scored.map((token) => floor(token.logprob)),
    tokens: scored.map((token) => name(token.id)),
    top_logprobs: scored.map((token) => {
      // The test model's vocabulary at this position is the sampled token and the alternatives it names.
      const vocabulary = [token, ...(token.top ?? []).filter((t) => t.id !== token.id)].sort((a, b) => b.logprob - a.logprob);
      const top: Record<string, number> = { [name(token.id)]: floor(token.logprob) };
      for (const alt of vocabulary.slice(0, k)) top[name(alt.id)] ??= floor(alt.logprob);
      return top;
    }),
  };
}

function servedNames(ex: Exchange, fallback: string): string[] {
  return ex.ctx.options.listedModels ?? [ex.ctx.options.modelName ?? fallback];
}

async function routeVllm(ex: Exchange): Promise<void> {
  const { method, path } = ex.rec;
  const names = servedNames(ex, 'facebook/cwm');
  if (path === '/health' && method === 'GET') return ex.send(200, 'application/json', '');
  if (path === '/v1/models' && method === 'GET') {
    const data = names.map((id) => ({
      id,
      object: 'model',
      created: CREATED,
      owned_by: 'vllm',
      root: id,
      parent: null,
      // OpenAIServing.show_available_models: the served --max-model-len (vllm/entrypoints/openai/serving_models.py).
      max_model_len: vllmMaxModelLen(ex),
      permission: [
        {
          id: `modelperm-${randomUUID().replace(/-/g, '')}`,
          object: 'model_permission',
          created: CREATED,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: '*',
          group: null,
          is_blocking: false,
        },
      ],
    }));
    return ex.send(200, 'application/json', JSON.stringify({ object: 'list', data }));
  }
  if (path === '/tokenize' || path === '/detokenize') return routeVllmTokenization(ex, names);
  if (path !== '/v1/completions') return ex.send(404, 'application/json', JSON.stringify({ detail: 'Not Found' }));
  if (method !== 'POST') return ex.send(405, 'application/json', JSON.stringify({ detail: 'Method Not Allowed' }));
  const parsed = vllmRequest.safeParse(ex.rec.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return vllmError(ex, 400, `1 validation error: ${issue?.path.join('.')}: ${issue?.message}`, 'BadRequestError');
  }
  const rq = parsed.data;
  const served = names[0] ?? 'facebook/cwm';
  if (rq.model != null && !names.includes(rq.model)) return vllmError(ex, 404, `The model \`${rq.model}\` does not exist.`, 'NotFoundError');
  if (completionFault(ex, (status, message, headers) => vllmError(ex, status, message, status === 429 ? 'TooManyRequests' : 'InternalServerError', headers))) return;
  const { codec } = ex.ctx;
  const promptIds = typeof rq.prompt === 'string' ? [ex.ctx.bos, ...codec.encodeWithSpecialTokens(rq.prompt)] : rq.prompt;
  const maxTokens = rq.max_tokens ?? 16;
  if (ex.ctx.strict) {
    // SamplingParams._verify_greedy_sampling (vllm/sampling_params.py): temperature below _SAMPLING_EPS is greedy, and
    // greedy allows one sample only; the ValueError becomes a 400 (serving_completion.py, create_completion).
    const temperature = rq.temperature ?? 1;
    if (temperature < 1e-5 && rq.n > 1) return vllmError(ex, 400, `n must be 1 when using greedy sampling, got ${rq.n}.`, 'BadRequestError');
    // CompletionRequest.check_logprobs (vllm/entrypoints/openai/completion/protocol.py): -1 (the whole vocabulary) or >= 0.
    if (rq.logprobs != null && rq.logprobs < 0 && rq.logprobs !== -1) {
      return vllmError(ex, 400, `\`logprobs\` must be a positive value or -1. (parameter=logprobs, value=${rq.logprobs})`, 'BadRequestError', {}, 'logprobs');
    }
    // SamplingParams._validate_logprobs (vllm/sampling_params.py): -1 means the vocabulary size, and no more than the
    // server's --max-logprobs (ModelConfig.max_logprobs, default 20; -1 there is the vocabulary too). A VLLMValidationError
    // (vllm/exceptions.py) adds "(parameter=..., value=...)" to its message.
    const vocabulary = codec.ordinaryCount + 256;
    const maxLogprobs = (ex.ctx.options.maxLogprobs ?? 20) === -1 ? vocabulary : (ex.ctx.options.maxLogprobs ?? 20);
    const asked = rq.logprobs === -1 ? vocabulary : (rq.logprobs ?? 0);
    if (asked > maxLogprobs) {
      return vllmError(ex, 400, `Requested sample logprobs of ${asked}, which is greater than max allowed: ${maxLogprobs} (parameter=logprobs, value=${asked})`,
        'BadRequestError', {}, 'logprobs');
    }
    // OpenAIServing._validate_input (vllm/entrypoints/openai/serving_engine.py): prompt plus max_tokens must fit.
    const limit = ex.ctx.options.maxModelLen ?? 131072;
    if (promptIds.length + maxTokens > limit) {
      return vllmError(
        ex,
        400,
        `This model's maximum context length is ${limit} tokens. However, you requested ${maxTokens + promptIds.length} tokens ` +
          `(${promptIds.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
        'BadRequestError',
      );
    }
  }
  // The V0 engine checks the priority when the request reaches it (vllm/engine/async_llm_engine.py, add_request_async:
  // "Got priority N but Priority scheduling is not enabled."): a ValueError, which create_completion answers with 400,
  // and which a stream, already answering, reports as an error event (serving_completion.py, completion_stream_generator,
  // create_streaming_error_response) before its [DONE]. The V1 engine takes any priority.
  const priorityRefused = ex.ctx.strict && ex.ctx.options.vllmV0Engine === true && rq.priority !== 0 &&
    (ex.ctx.options.schedulingPolicy ?? 'fcfs') !== 'priority';
  const priorityMessage = `Got priority ${rq.priority} but Priority scheduling is not enabled.`;
  if (priorityRefused && rq.stream !== true) return vllmError(ex, 400, priorityMessage, 'BadRequestError');
  const stopIds = rq.stop_token_ids ?? [];
  // CompletionResponseChoice/CompletionResponseStreamChoice carry token_ids and prompt_token_ids only when the request
  // asked with return_token_ids (vllm/entrypoints/openai/serving_completion.py, vLLM 0.10.2+).
  const returnIds = rq.return_token_ids === true && ex.ctx.options.omitTokenIds !== true;
  // serving_completion.py: usage.prompt_tokens_details only with --enable-prompt-tokens-details and a nonzero count.
  const usageDetails = (cached: number): Record<string, unknown> =>
    !ex.ctx.strict || (ex.ctx.options.promptTokensDetails === true && cached > 0) ? { prompt_tokens_details: { cached_tokens: cached } } : {};
  const requestId = `cmpl-${randomUUID().replace(/-/g, '')}`;
  const model = rq.model ?? served;
  // logprobs: -1 lists the whole vocabulary; the test model's is what it names.
  const topCount = rq.logprobs === -1 ? Number.MAX_SAFE_INTEGER : (rq.logprobs ?? 0);

  interface Choice {
    sampler: Sampler;
    out: number[];
    /** Each generated token's score, for `logprobs`. */
    scored: ScoredToken[];
    /** Text sent so far (previous_text_lens in completion_stream_generator: where the next chunk's text_offset starts). */
    textLength: number;
    decoder: TokenStreamDecoder;
    finish?: string;
    stopReason: number | null;
  }
  const choices: Choice[] = [];
  for (let i = 0; i < rq.n; i++) {
    choices.push({
      sampler: new Sampler(ex.ctx.options.model, promptIds, {
        maxTokens,
        temperature: rq.temperature ?? 1,
        ...(rq.seed != null ? { seed: rq.seed } : {}),
        stopIds: [...stopIds, ...ex.ctx.eos],
        sampleIndex: i,
      }),
      out: [],
      scored: [],
      textLength: 0,
      decoder: codec.streamDecoder(),
      stopReason: null,
    });
  }
  // One decoding step: every unfinished choice gets its next token, with vLLM's stop rules (stop tokens stay in token_ids).
  const step = (choice: Choice): { id?: number; text: string } => {
    const id = choice.sampler.next();
    if (id === undefined) {
      choice.finish = 'length';
      return { text: '' };
    }
    choice.out.push(id);
    choice.scored.push(choice.sampler.last ?? { id, logprob: DEFAULT_TOKEN_LOGPROB });
    const isStop = stopIds.includes(id);
    const isEos = ex.ctx.eos.includes(id);
    if (isStop || isEos) {
      choice.finish = 'stop';
      choice.stopReason = isStop ? id : null;
    } else if (choice.out.length >= maxTokens) {
      choice.finish = 'length';
    }
    const hideSpecial = rq.skip_special_tokens && codec.isSpecial(id);
    const hideStop = (isStop || isEos) && !rq.include_stop_str_in_output;
    const text = choice.decoder.push([id]);
    return { id, text: hideSpecial || hideStop ? '' : text };
  };

  if (rq.stream !== true) {
    const pre = await prefill(ex, promptIds, vllmCached);
    while (choices.some((c) => c.finish === undefined)) {
      if (!(await ex.ready())) return;
      for (const c of choices) if (c.finish === undefined) step(c);
    }
    for (const c of choices) remember(ex.ctx, [...promptIds, ...c.out]);
    const completionTokens = choices.reduce((s, c) => s + c.out.length, 0);
    const body = {
      id: requestId,
      object: 'text_completion',
      created: CREATED,
      model,
      choices: choices.map((c, index) => ({
        index,
        text: codec.decode(c.out.filter((id) => !(rq.skip_special_tokens && codec.isSpecial(id)))),
        logprobs: rq.logprobs != null ? vllmLogprobs(codec, c.scored, topCount, rq.return_tokens_as_token_ids === true, 0) : null,
        finish_reason: c.finish ?? 'length',
        stop_reason: c.stopReason,
        token_ids: returnIds ? c.out : null,
        prompt_logprobs: null,
        prompt_token_ids: returnIds ? promptIds : null,
      })),
      service_tier: null,
      system_fingerprint: null,
      usage: {
        prompt_tokens: promptIds.length,
        total_tokens: promptIds.length + completionTokens,
        completion_tokens: completionTokens,
        ...usageDetails(pre.cached),
      },
    };
    return ex.send(200, 'application/json', JSON.stringify(body));
  }

  ex.startStream({ 'content-type': 'text/event-stream; charset=utf-8' });
  if (priorityRefused) {
    const error = { error: { object: 'error', message: priorityMessage, type: 'BadRequestError', param: null, code: 400 } };
    ex.write(`data: ${JSON.stringify(error)}\n\n`);
    ex.write('data: [DONE]\n\n');
    ex.res.end();
    return;
  }
  const pre = await prefill(ex, promptIds, vllmCached);
  const sentPrompt = new Set<number>();
  while (choices.some((c) => c.finish === undefined)) {
    if (!(await ex.ready())) return;
    let sent = 0;
    for (let index = 0; index < choices.length; index++) {
      const c = choices[index];
      if (c === undefined || c.finish !== undefined) continue;
      const { id, text } = step(c);
      const first = !sentPrompt.has(index);
      sentPrompt.add(index);
      const chunk = {
        id: requestId,
        object: 'text_completion',
        created: CREATED,
        model,
        choices: [
          {
            index,
            text,
            // completion_stream_generator: this chunk's new tokens only, text_offset going on from the text sent before.
            logprobs: rq.logprobs != null
              ? vllmLogprobs(codec, id === undefined ? [] : c.scored.slice(-1), topCount, rq.return_tokens_as_token_ids === true, c.textLength)
              : null,
            finish_reason: c.finish ?? null,
            stop_reason: c.finish === undefined ? null : c.stopReason,
            token_ids: returnIds ? (id === undefined ? [] : [id]) : null,
            prompt_token_ids: returnIds && first ? promptIds : null,
          },
        ],
      };
      c.textLength += text.length;
      ex.write(`data: ${JSON.stringify(chunk)}\n\n`);
      if (id !== undefined) sent++;
    }
    if (!ex.afterTokens(sent)) return;
  }
  for (const c of choices) remember(ex.ctx, [...promptIds, ...c.out]);
  if (rq.stream_options?.include_usage === true) {
    const completionTokens = choices.reduce((s, c) => s + c.out.length, 0);
    const usage = {
      id: requestId,
      object: 'text_completion',
      created: CREATED,
      model,
      choices: [],
      usage: {
        prompt_tokens: promptIds.length,
        total_tokens: promptIds.length + completionTokens,
        completion_tokens: completionTokens,
        ...usageDetails(pre.cached),
      },
    };
    ex.write(`data: ${JSON.stringify(usage)}\n\n`);
  }
  ex.write('data: [DONE]\n\n');
  ex.res.end();
}

// ---------------------------------------------------------------- vLLM POST /tokenize and /detokenize
// (kept in one block: the client's remote tokenizer, server/endpoint/remote-tokenizer.ts, depends on these rules)

// vllm/entrypoints/openai/protocol.py: TokenizeCompletionRequest (model optional, prompt, add_special_tokens default
// True, return_token_strs) and DetokenizeRequest (model optional, tokens: list of ints >= 0).
const vllmTokenizeRequest = z.object({
  model: z.string().nullable().optional(),
  prompt: z.string(),
  add_special_tokens: z.boolean().default(true),
  return_token_strs: z.boolean().nullable().optional(),
});
const vllmDetokenizeRequest = z.object({
  model: z.string().nullable().optional(),
  tokens: z.array(z.number().int().min(0)),
});

export interface ProtocolServerOptions {
  /** vLLM: the served context length (`--max-model-len`), listed in /v1/models; default 131072. */
  maxModelLen?: number;
  /** vLLM: /detokenize applies Hugging Face's clean_up_tokenization_spaces, as tokenizer configs derived from Llama 3's ask. */
  detokenizeCleansSpaces?: boolean;
}

/** transformers tokenization_utils_base.py clean_up_tokenization: the spaces a "cleaned" decode drops. */
function cleanUpTokenizationSpaces(text: string): string {
  return text
    .replaceAll(' .', '.').replaceAll(' ?', '?').replaceAll(' !', '!').replaceAll(' ,', ',').replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

/** The context length /v1/models reports. */
function vllmMaxModelLen(ex: Exchange): number {
  return ex.ctx.options.maxModelLen ?? 131072;
}

async function routeVllmTokenization(ex: Exchange, names: readonly string[]): Promise<void> {
  const { method, path } = ex.rec;
  if (method !== 'POST') return ex.send(405, 'application/json', JSON.stringify({ detail: 'Method Not Allowed' }));
  const parsed = path === '/tokenize' ? vllmTokenizeRequest.safeParse(ex.rec.body) : vllmDetokenizeRequest.safeParse(ex.rec.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return vllmError(ex, 400, `1 validation error: ${issue?.path.join('.')}: ${issue?.message}`, 'BadRequestError');
  }
  // serving_engine.py OpenAIServing._check_model: a named model must be served.
  const model = parsed.data.model;
  if (model != null && !names.includes(model)) return vllmError(ex, 404, `The model \`${model}\` does not exist.`, 'NotFoundError');
  const { codec } = ex.ctx;
  const maxModelLen = vllmMaxModelLen(ex);
  // vllm/renderers/params.py TokenizeParams._apply_length_check (max_total_tokens=max_model_len, max_output_tokens=0).
  const tooLong = (count: number): boolean => {
    if (count <= maxModelLen) return false;
    vllmError(
      ex,
      400,
      `You passed ${count} input tokens and requested 0 output tokens. However, the model's context length is only ${maxModelLen}. Please reduce the length of the input messages.`,
      'BadRequestError',
    );
    return true;
  };
  if ('prompt' in parsed.data) {
    const rq = parsed.data;
    // A Hugging Face tokenizer splits added (special) tokens out of the text before BPE, so `<|frame_sep|>` written in
    // the text IS the special token; add_special_tokens puts the template's <|begin_of_text|> in front.
    const tokens = [...(rq.add_special_tokens ? [ex.ctx.bos] : []), ...codec.encodeWithSpecialTokens(rq.prompt)];
    if (tooLong(tokens.length)) return;
    const answer = { count: tokens.length, max_model_len: maxModelLen, tokens, token_strs: null };
    return ex.send(200, 'application/json', JSON.stringify(answer));
  }
  const { tokens } = parsed.data;
  if (tooLong(tokens.length)) return;
  // serving_tokenization.py create_detokenize: tokenizer.decode, special tokens kept as their text; the Rust decoder
  // skips ids outside the vocabulary.
  const known = tokens.filter((id) => id < codec.ordinaryCount + 256);
  const text = codec.decode(known);
  const prompt = ex.ctx.options.detokenizeCleansSpaces === true ? cleanUpTokenizationSpaces(text) : text;
  return ex.send(200, 'application/json', JSON.stringify({ prompt }));
}

/** vLLM caches whole blocks, and always recomputes at least the last prompt token. */
function vllmCached(lcp: number, length: number): number {
  return Math.floor(Math.min(lcp, length - 1) / VLLM_BLOCK) * VLLM_BLOCK;
}

// ---------------------------------------------------------------- mlx_lm.server (http.server, Python json)

function mlxSend(ex: Exchange, status: number, body: string, headers: Record<string, string> = {}): void {
  // BaseHTTPRequestHandler speaks HTTP/1.0: one request per connection; content-type is JSON even for "Not Found".
  ex.send(status, 'application/json', body, { connection: 'close', 'access-control-allow-origin': '*', ...headers });
}

const mlxRequest = z.object({
  prompt: z.string(),
  model: z.string().optional(),
  stream: z.boolean().default(false),
  stream_options: z.object({ include_usage: z.boolean() }).nullable().optional(),
  max_tokens: z.number().int().min(0).default(512),
  temperature: z.number().min(0).default(0),
  top_p: z.number().min(0).max(1).default(1),
  logprobs: z.boolean().default(false),
  top_logprobs: z.number().int().default(-1),
  seed: z.number().int().nullable().optional(),
  stop: z.union([z.string(), z.array(z.string())]).nullable().optional(),
});

async function routeMlx(ex: Exchange): Promise<void> {
  const { method, path } = ex.rec;
  const names = servedNames(ex, 'mlx-community/cwm-4bit');
  if (method === 'GET') {
    if (path.startsWith('/v1/models')) {
      // handle_models_request (mlx_lm/server.py) sends the 200 headers first, then scan_cache_dir() raises when there
      // is no Hugging Face cache folder: the client gets a 200 and an empty body (HTTP/1.0, the connection closes).
      if (ex.ctx.options.emptyModelList === true) {
        ex.rec.status = 200;
        ex.res.writeHead(200, { 'content-type': 'application/json', connection: 'close' });
        ex.res.end();
        return;
      }
      return mlxSend(ex, 200, pyJson({ object: 'list', data: names.map((id) => ({ id, object: 'model', created: CREATED })) }));
    }
    if (path === '/health') return mlxSend(ex, 200, '{"status": "ok"}');
    return mlxSend(ex, 404, 'Not Found');
  }
  if (method !== 'POST' || !['/v1/completions', '/v1/chat/completions', '/chat/completions'].includes(path)) return mlxSend(ex, 404, 'Not Found');
  if (path !== '/v1/completions') return mlxSend(ex, 404, 'Not Found'); // chat: not emulated
  if (ex.rec.body === undefined) return mlxSend(ex, 400, pyJson({ error: 'Invalid JSON in request body: Expecting value: line 1 column 1 (char 0)' }));
  // validate_model_parameters (mlx_lm/server.py, APIHandler.do_POST) raises ValueError outside any handler: the
  // connection just closes without an answer.
  const parsed = mlxRequest.safeParse(ex.rec.body);
  if (!parsed.success) return ex.drop();
  const rq = parsed.data;
  if (rq.top_logprobs !== -1 && !(rq.top_logprobs > 0 && rq.top_logprobs <= 10)) return ex.drop();
  if (completionFault(ex, (status, message, headers) => mlxSend(ex, status, pyJson({ error: message }), headers))) return;
  const { codec } = ex.ctx;
  // The HF tokenizer adds BOS and reads special-token text as special tokens.
  const promptIds = [ex.ctx.bos, ...codec.encodeWithSpecialTokens(rq.prompt)];
  const stopWords = rq.stop == null ? [] : typeof rq.stop === 'string' ? [rq.stop] : rq.stop;
  const stopSeqs = stopWords.map((w) => codec.encodeWithSpecialTokens(w));
  const requestId = `cmpl-${randomUUID()}`;
  const model = rq.model ?? 'default_model';
  const frame = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    id: requestId,
    system_fingerprint: MLX_FINGERPRINT,
    object: 'text_completion',
    model,
    created: CREATED,
    choices: [choice],
    ...extra,
  });
  const mlxCached = (lcp: number, length: number): number => (lcp >= length ? length : Math.min(lcp, length - 1));

  // ResponseGenerator._is_batchable: a request with a seed is served alone (mlx_lm/server.py), after the one before.
  let release = (): void => undefined;
  if (ex.ctx.strict && rq.seed != null) {
    const before = ex.ctx.mlxUnbatched;
    ex.ctx.mlxUnbatched = new Promise<void>((resolve) => (release = resolve));
    ex.res.once('close', () => release());
    await before;
  }
  const generation = { start: Date.now(), end: 0 };
  ex.rec.generations = [generation];
  try {
    await serveMlxCompletion(ex, rq, promptIds, stopWords, stopSeqs, requestId, model, frame, mlxCached);
  } finally {
    generation.end = Date.now();
    release();
  }
}

async function serveMlxCompletion(
  ex: Exchange,
  rq: z.infer<typeof mlxRequest>,
  promptIds: number[],
  stopWords: string[],
  stopSeqs: number[][],
  requestId: string,
  model: string,
  frame: (choice: Record<string, unknown>, extra?: Record<string, unknown>) => Record<string, unknown>,
  mlxCached: (lcp: number, length: number) => number,
): Promise<void> {
  const { codec } = ex.ctx;
  if (rq.stream) {
    ex.rec.status = 200;
    ex.res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'access-control-allow-origin': '*', connection: 'close' });
    ex.res.flushHeaders();
  }
  // handle_completion's keepalive_callback: `: keepalive processed/total` SSE comments all through the prompt's
  // prefill, streaming requests only (mlx_lm/server.py).
  const pre = await prefill(ex, promptIds, mlxCached, (done, total) => {
    if (rq.stream) ex.write(`: keepalive ${done}/${total}\n\n`);
  });
  if (ex.gone) return;
  const sampler = new Sampler(ex.ctx.options.model, promptIds, {
    maxTokens: rq.max_tokens,
    temperature: rq.temperature,
    ...(rq.seed != null ? { seed: rq.seed } : {}),
    stopIds: [...stopSeqs.filter((s) => s.length === 1).map((s) => s[0] as number), ...ex.ctx.eos],
    sampleIndex: 0,
  });
  const decoder = codec.streamDecoder();
  let tokens: number[] = [];
  let scores: ScoredToken[] = [];
  const generated: number[] = [];
  let text = '';
  let segment = '';
  let finish = 'length';
  for (let n = 0; n < rq.max_tokens; n++) {
    if (!(await ex.ready())) return;
    const id = sampler.next();
    if (id === undefined) break;
    generated.push(id);
    const isEos = ex.ctx.eos.includes(id);
    // The detokenizer never sees EOS, so its text is not in the output.
    const piece = isEos ? decoder.end() : decoder.push([id]);
    text += piece;
    segment += piece;
    tokens.push(id);
    scores.push(sampler.last ?? { id, logprob: DEFAULT_TOKEN_LOGPROB });
    if (isEos) {
      finish = 'stop';
      segment = '';
      break;
    }
    const hit = stopSeqs.findIndex((seq) => endsWith(tokens, seq));
    if (hit >= 0) {
      finish = 'stop';
      const seq = stopSeqs[hit] ?? [];
      tokens = tokens.slice(0, tokens.length - seq.length);
      scores = scores.slice(0, tokens.length);
      text = text.slice(0, text.length - (stopWords[hit] ?? '').length);
      segment = '';
      break;
    }
    if (rq.stream) {
      const overlaps = stopSeqs.some((seq) => overlap(tokens, seq));
      if (!overlaps && segment !== '') {
        ex.write(`data: ${pyJson(frame({ index: 0, finish_reason: null, text: segment }))}\n\n`);
        segment = '';
        if (!ex.afterTokens(1)) return;
      }
    }
  }
  remember(ex.ctx, [...promptIds, ...generated]);
  const usage = {
    prompt_tokens: promptIds.length,
    completion_tokens: tokens.length,
    total_tokens: promptIds.length + tokens.length,
    prompt_tokens_details: { cached_tokens: pre.cached },
  };
  if (rq.stream) {
    ex.write(`data: ${pyJson(frame({ index: 0, finish_reason: finish, text: segment }))}\n\n`);
    if (rq.stream_options?.include_usage === true) {
      ex.write(`data: ${pyJson({ id: requestId, system_fingerprint: MLX_FINGERPRINT, object: 'chat.completion', model, created: CREATED, choices: [], usage })}\n\n`);
    }
    ex.write('data: [DONE]\n\n');
    ex.res.end();
    return;
  }
  // generate_response puts ids in logprobs.content[].id only in the whole (non-streamed) answer (mlx-lm 0.31+).
  const choice: Record<string, unknown> = { index: 0, finish_reason: finish };
  // With top_logprobs > 0 each entry is the first of the top tokens (_format_top_logprobs: argpartition, not the sampled
  // token) with the list as top_logprobs; else {id, logprob} of the sampled token (logprobs: true).
  if (rq.top_logprobs > 0) {
    choice.logprobs = {
      content: scores.map((token) => {
        const top = [token, ...(token.top ?? []).filter((t) => t.id !== token.id)].slice(0, rq.top_logprobs)
          .map((t) => ({ id: t.id, token: codec.decode([t.id]), logprob: t.logprob }));
        return { ...top[0], top_logprobs: top };
      }),
    };
  } else if (rq.logprobs) {
    choice.logprobs = { content: scores.map((token) => ({ id: token.id, logprob: token.logprob })) };
  }
  choice.text = text;
  mlxSend(ex, 200, pyJson(frame(choice, { usage })));
}

function overlap(tokens: readonly number[], seq: readonly number[]): boolean {
  const max = Math.min(tokens.length, seq.length);
  for (let i = 1; i <= max; i++) {
    let same = true;
    for (let k = 0; k < i; k++) if (tokens[tokens.length - i + k] !== seq[k]) same = false;
    if (same) return true;
  }
  return false;
}

// ---------------------------------------------------------------- generic OpenAI-compatible server

function openAiError(ex: Exchange, status: number, message: string, type: string, headers: Record<string, string> = {}): void {
  ex.send(status, 'application/json', JSON.stringify({ error: { message, type, param: null, code: null } }), headers);
}

const openAiRequest = z.object({
  model: z.string(),
  prompt: z.string(),
  max_tokens: z.number().int().min(1).default(16),
  temperature: z.number().min(0).max(2).default(1),
  top_p: z.number().optional(),
  seed: z.number().int().optional(),
  stream: z.boolean().default(false),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
});

async function routeOpenAi(ex: Exchange): Promise<void> {
  const { method, path } = ex.rec;
  const names = servedNames(ex, 'cwm-32b-instruct');
  if (path === '/v1/models' && method === 'GET') {
    return ex.send(200, 'application/json', JSON.stringify({ object: 'list', data: names.map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'system' })) }));
  }
  if (path !== '/v1/completions' || method !== 'POST') return openAiError(ex, 404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
  const parsed = openAiRequest.safeParse(ex.rec.body);
  if (!parsed.success) return openAiError(ex, 400, parsed.error.issues[0]?.message ?? 'invalid request', 'invalid_request_error');
  const rq = parsed.data;
  if (!names.includes(rq.model)) return openAiError(ex, 404, `The model '${rq.model}' does not exist`, 'invalid_request_error');
  if (completionFault(ex, (status, message, headers) => openAiError(ex, status, message, status === 429 ? 'rate_limit_exceeded' : 'server_error', headers))) return;
  const { codec } = ex.ctx;
  const promptIds = [ex.ctx.bos, ...codec.encodeWithSpecialTokens(rq.prompt)];
  const stopWords = rq.stop == null ? [] : typeof rq.stop === 'string' ? [rq.stop] : rq.stop;
  const stopIds = stopWords.map((w) => codec.encodeWithSpecialTokens(w)).filter((s) => s.length === 1).map((s) => s[0] as number);
  const requestId = `cmpl-${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  if (rq.stream) ex.startStream({ 'content-type': 'text/event-stream' });
  await prefill(ex, promptIds, (lcp) => lcp);
  const sampler = new Sampler(ex.ctx.options.model, promptIds, {
    maxTokens: rq.max_tokens,
    temperature: rq.temperature,
    ...(rq.seed !== undefined ? { seed: rq.seed } : {}),
    stopIds: [...stopIds, ...ex.ctx.eos],
    sampleIndex: 0,
  });
  const decoder = codec.streamDecoder();
  const generated: number[] = [];
  let text = '';
  let finish = 'length';
  const chunk = (piece: string, reason: string | null): string =>
    `data: ${JSON.stringify({ id: requestId, object: 'text_completion', created: CREATED, choices: [{ text: piece, index: 0, logprobs: null, finish_reason: reason }], model: rq.model })}\n\n`;
  while (generated.length < rq.max_tokens) {
    if (!(await ex.ready())) return;
    const id = sampler.next();
    if (id === undefined) break;
    generated.push(id);
    // Stop sequences and end-of-sequence tokens are not part of the returned text.
    if (stopIds.includes(id) || ex.ctx.eos.includes(id)) {
      finish = 'stop';
      break;
    }
    const piece = decoder.push([id]);
    text += piece;
    if (rq.stream && piece !== '') {
      ex.write(chunk(piece, null));
      if (!ex.afterTokens(1)) return;
    }
  }
  remember(ex.ctx, [...promptIds, ...generated]);
  if (rq.stream) {
    ex.write(chunk('', finish));
    ex.write('data: [DONE]\n\n');
    ex.res.end();
    return;
  }
  const completionTokens = generated.length;
  ex.send(
    200,
    'application/json',
    JSON.stringify({
      id: requestId,
      object: 'text_completion',
      created: CREATED,
      model: rq.model,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      usage: { prompt_tokens: promptIds.length, completion_tokens: completionTokens, total_tokens: promptIds.length + completionTokens },
    }),
  );
}

// ---------------------------------------------------------------- helpers

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function yieldToIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Python's json.dumps with its defaults: ", " and ": " separators, non-ASCII escaped. */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyJson(k)}: ${pyJson(v)}`);
  return `{${entries.join(', ')}}`;
}

/**
 * A stand-in TokenCodec until tests use the real tokenizer: one id per Unicode code point, and the 256 special
 * tokens right after (so their ids differ from CWM's real 128000+ on purpose).
 */
export function createCharCodec(): TokenCodec {
  const ordinaryCount = 0x110000;
  const specials = specialTokenMap(ordinaryCount);
  const byId = new Map<number, string>([...specials].map(([text, id]) => [id, text]));
  const pattern = new RegExp([...specials.keys()].map((t) => t.replace(/[|]/g, '\\|')).join('|'), 'g');
  const encodeOrdinary = (text: string): number[] => Array.from(text, (c) => c.codePointAt(0) as number);
  const decode = (ids: readonly number[]): string =>
    ids.map((id) => (id < ordinaryCount ? String.fromCodePoint(id) : (byId.get(id) ?? '\uFFFD'))).join('');
  return {
    ordinaryCount,
    encodeOrdinary,
    encodeWithSpecialTokens(text: string): number[] {
      const ids: number[] = [];
      let at = 0;
      pattern.lastIndex = 0;
      for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
        ids.push(...encodeOrdinary(text.slice(at, m.index)), specials.get(m[0]) as number);
        at = m.index + m[0].length;
      }
      ids.push(...encodeOrdinary(text.slice(at)));
      return ids;
    },
    decode,
    streamDecoder: () => ({ push: (ids) => decode(ids), end: () => '' }),
    specialTokenId: (text) => specials.get(text),
    isSpecial: (id) => id >= ordinaryCount && id < ordinaryCount + 256,
  };
}
