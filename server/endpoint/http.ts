// HTTP plumbing shared by the CWM endpoint clients: config validation, one undici Agent per client (TLS, connect
// timeout), request guards (first-token/total timeouts, cancellation) and retries on 429/503 with backoff.
import { readFileSync } from 'node:fs';
import { Agent, request, type Dispatcher } from 'undici';
import { z } from 'zod';
import type { TokenBudget } from './budget';
import { SseLineTooLongError } from './sse';
import { classifyConnectError, EndpointError, endpointErrors, extractServerMessage, httpError, isConnectionLoss, quoteServer } from './errors';
import { rememberSecret } from './redact';
import type { BackendKind, EndpointConfig } from './types';

export const DEFAULT_TIMEOUTS = { connectMs: 10_000, firstTokenMs: 180_000, totalMs: 600_000 } as const;
export const DEFAULT_RETRIES = { max: 3, baseDelayMs: 500, maxDelayMs: 10_000 } as const;
/** A server that answers whole is given this much more time per token asked for: 20 tokens/s, slow for one GPU. */
export const DEFAULT_PER_TOKEN_MS = 50;
/** Probes (model lists, health) wait at most this long for an answer, even with a longer first-token timeout. */
const PROBE_TIMEOUT_CAP_MS = 15_000;
/** Error bodies are read up to this size: enough for any server's message, bounded against a misbehaving one. */
const ERROR_BODY_LIMIT = 64 * 1024;

const positiveMs = z.number().finite().positive();
const configSchema = z.object({
  url: z.string(),
  backend: z.enum(['fgserve', 'vllm', 'mlx', 'openai', 'auto']).optional(),
  apiKey: z.string().optional(),
  model: z.string().optional(),
  timeouts: z
    .object({ connectMs: positiveMs.optional(), firstTokenMs: positiveMs.optional(), totalMs: positiveMs.optional(), perTokenMs: z.number().finite().min(0).optional() })
    .optional(),
  contextTokens: z.number().int().min(1).optional(),
  retries: z
    .object({
      max: z.number().int().min(0).optional(),
      baseDelayMs: z.number().finite().min(0).optional(),
      maxDelayMs: z.number().finite().min(0).optional(),
    })
    .optional(),
  tls: z.object({ caFile: z.string().optional(), insecureSkipVerify: z.boolean().optional() }).optional(),
});

export interface ResolvedConfig {
  /** Server root: no trailing slash, no '/v1', no credentials. */
  base: string;
  /** What messages show: the base URL. */
  url: string;
  host: string;
  backend: BackendKind | 'auto';
  apiKey?: string;
  model?: string;
  connectMs: number;
  firstTokenMs: number;
  totalMs: number;
  /** Extra wait per token asked for, for servers that answer whole. */
  perTokenMs: number;
  contextTokens?: number;
  retries: { max: number; baseDelayMs: number; maxDelayMs: number };
  ca?: string;
  insecureSkipVerify: boolean;
}

/** Validates a configuration (it comes from user settings) and normalizes its URL; throws EndpointError. */
export function resolveConfig(config: EndpointConfig): ResolvedConfig {
  const parsed = configSchema.safeParse(config);
  const raw = typeof (config as { url?: unknown } | undefined)?.url === 'string' ? config.url : String((config as { url?: unknown } | undefined)?.url);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue !== undefined && issue.path.length > 0 ? issue.path.join('.') : 'configuration';
    throw where === 'url' ? endpointErrors.badUrl(raw, 'it is not a string') : endpointErrors.badConfig(raw, where, issue?.message ?? 'unknown problem');
  }
  const c = parsed.data;
  rememberSecret(c.apiKey);
  let url: URL;
  try {
    url = new URL(c.url.trim());
  } catch {
    throw endpointErrors.badUrl(c.url, 'it is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw endpointErrors.badUrl(c.url, `the scheme ${url.protocol} is not http: or https:`);
  if (url.hostname === '') throw endpointErrors.badUrl(c.url, 'it has no host');
  if (url.username !== '' || url.password !== '') throw endpointErrors.badUrl('(URL with credentials)', 'credentials in the URL are not supported, use apiKey');
  if (url.search !== '' || url.hash !== '') throw endpointErrors.badUrl(c.url, 'it must not have a query or fragment');
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/v1')) path = path.slice(0, -3);
  const base = `${url.protocol}//${url.host}${path}`;

  let ca: string | undefined;
  if (c.tls?.caFile !== undefined && c.tls.caFile !== '') {
    try {
      ca = readFileSync(c.tls.caFile, 'utf8');
    } catch (err) {
      throw new EndpointError('tls', `Cannot read the CA file "${c.tls.caFile}" for the CWM endpoint at ${base} (${(err as Error).message}); fix tls.caFile.`, {
        cause: err,
      });
    }
  }
  return {
    base,
    url: base,
    host: url.hostname,
    backend: c.backend ?? 'auto',
    ...(c.apiKey !== undefined && c.apiKey !== '' ? { apiKey: c.apiKey } : {}),
    ...(c.model !== undefined && c.model !== '' ? { model: c.model } : {}),
    connectMs: c.timeouts?.connectMs ?? DEFAULT_TIMEOUTS.connectMs,
    firstTokenMs: c.timeouts?.firstTokenMs ?? DEFAULT_TIMEOUTS.firstTokenMs,
    totalMs: c.timeouts?.totalMs ?? DEFAULT_TIMEOUTS.totalMs,
    perTokenMs: c.timeouts?.perTokenMs ?? DEFAULT_PER_TOKEN_MS,
    ...(c.contextTokens !== undefined ? { contextTokens: c.contextTokens } : {}),
    retries: {
      max: c.retries?.max ?? DEFAULT_RETRIES.max,
      baseDelayMs: c.retries?.baseDelayMs ?? DEFAULT_RETRIES.baseDelayMs,
      maxDelayMs: c.retries?.maxDelayMs ?? DEFAULT_RETRIES.maxDelayMs,
    },
    ...(ca !== undefined ? { ca } : {}),
    insecureSkipVerify: c.tls?.insecureSkipVerify ?? false,
  };
}

/**
 * Timeouts and cancellation of one logical request (a completion with its retries, or a probe). Whoever aborts
 * first sets the reason, so whatever undici throws afterwards is reported as that reason.
 */
export class RequestGuard {
  readonly signal: AbortSignal;
  tokens = 0;
  /** Set once a 2xx answer arrived: losing the connection after that is a dropped stream, not a refusal. */
  answered = false;
  /** The client's own token limits of a completion: backends reading choices one after another stop at a cut. */
  budget: TokenBudget | undefined;
  private readonly controller = new AbortController();
  private reason: EndpointError | undefined;
  private firstTimer: NodeJS.Timeout | undefined;
  private readonly totalTimer: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private readonly onUserAbort = (): void => this.abort(endpointErrors.cancelled(this.transport.url));

  constructor(
    private readonly transport: HttpTransport,
    private readonly firstMs: number,
    private readonly totalMs: number,
    private readonly firstLabel: 'token' | 'response',
    private readonly userSignal?: AbortSignal,
    private readonly backend?: BackendKind,
  ) {
    this.signal = this.controller.signal;
    this.totalTimer = setTimeout(
      () =>
        this.abort(
          this.firstLabel === 'token'
            ? endpointErrors.totalTimeout(transport.url, totalMs, this.tokens)
            : endpointErrors.responseTimeout(transport.url, totalMs),
        ),
      totalMs,
    );
    if (userSignal !== undefined) {
      if (userSignal.aborted) this.onUserAbort();
      else userSignal.addEventListener('abort', this.onUserAbort, { once: true });
    }
  }

  /** (Re)starts the first-token clock for a new attempt. */
  startAttempt(): void {
    this.clearFirstTimer();
    if (this.tokens > 0) return;
    this.firstTimer = setTimeout(
      () =>
        this.abort(
          this.firstLabel === 'token'
            ? endpointErrors.firstTokenTimeout(this.transport.url, this.firstMs, this.backend)
            : endpointErrors.responseTimeout(this.transport.url, this.firstMs),
        ),
      this.firstMs,
    );
  }

  /** Output arrived that is not yet counted as tokens: the first-token deadline is met all the same. */
  progressed(): void {
    this.clearFirstTimer();
  }

  /**
   * The server says it is still working on the prompt (mlx_lm's `: keepalive n/m` during a long prefill): the
   * first-token clock starts again, so a prefill longer than the timeout is not mistaken for a stuck server.
   */
  stillWorking(): void {
    if (this.tokens > 0 || this.reason !== undefined || this.firstTimer === undefined) return;
    this.startAttempt();
  }

  tokensArrived(count: number): void {
    if (count <= 0) return;
    this.tokens += count;
    this.clearFirstTimer();
  }

  abort(reason: EndpointError): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller.abort(reason);
  }

  throwIfAborted(): void {
    if (this.reason !== undefined) throw this.reason;
  }

  remainingMs(): number {
    return this.totalMs - (Date.now() - this.startedAt);
  }

  /** Waits, unless the request is aborted meanwhile. */
  sleep(ms: number): Promise<void> {
    this.clearFirstTimer();
    return new Promise((resolve, reject) => {
      if (this.reason !== undefined) return reject(this.reason);
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(this.reason ?? endpointErrors.cancelled(this.transport.url));
      };
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The EndpointError that explains `err`, whatever layer threw it. */
  failure(err: unknown): EndpointError {
    if (this.reason !== undefined) return this.reason;
    if (err instanceof EndpointError) return err;
    const url = this.transport.url;
    if (err instanceof SseLineTooLongError) {
      return new EndpointError(
        'protocol',
        `The CWM endpoint at ${url} sent a stream line of more than ${formatBytes(err.limit)} without a line end (real servers send one short event per line), so its answer was dropped; check that the server is a CWM server and works properly.`,
        { cause: err },
      );
    }
    if (this.transport.closed) return endpointErrors.clientClosed(url);
    if (this.answered) {
      if (isConnectionLoss(err)) return endpointErrors.dropped(url, this.tokens, err);
    } else {
      const classified = classifyConnectError(err, url, this.transport.config.host, this.transport.config.connectMs);
      if (classified !== undefined) return classified;
    }
    const message = err instanceof Error ? err.message : String(err);
    return new EndpointError('protocol', `The exchange with the CWM endpoint at ${url} failed unexpectedly (${message}); check the server and try again.`, {
      cause: err,
    });
  }

  dispose(): void {
    this.clearFirstTimer();
    clearTimeout(this.totalTimer);
    this.userSignal?.removeEventListener('abort', this.onUserAbort);
  }

  private clearFirstTimer(): void {
    if (this.firstTimer !== undefined) clearTimeout(this.firstTimer);
    this.firstTimer = undefined;
  }
}

export interface TextAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP connection pool per endpoint client, so closing a client closes exactly its sockets. */
export class HttpTransport {
  closed = false;
  readonly url: string;
  private readonly agent: Agent;

  constructor(readonly config: ResolvedConfig) {
    this.url = config.url;
    this.agent = new Agent({
      connect: {
        timeout: config.connectMs,
        ...(config.ca !== undefined ? { ca: config.ca } : {}),
        rejectUnauthorized: !config.insecureSkipVerify,
      },
      keepAliveTimeout: 10_000,
      // Timeouts are the guards' business: undici's own would fire with less helpful errors.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /**
   * A guard for a completion: first token and total timeouts, plus the caller's signal. `extraMs` lengthens both, for a
   * server that answers whole and so needs the time of the generation before anything arrives.
   */
  completionGuard(signal?: AbortSignal, options: { extraMs?: number; backend?: BackendKind } = {}): RequestGuard {
    const extra = options.extraMs ?? 0;
    return new RequestGuard(this, this.config.firstTokenMs + extra, this.config.totalMs + extra, 'token', signal, options.backend);
  }

  /** A guard for a short exchange (model list, health): one bounded response timeout. */
  probeGuard(): RequestGuard {
    const ms = Math.min(this.config.firstTokenMs, this.config.totalMs, PROBE_TIMEOUT_CAP_MS);
    return new RequestGuard(this, ms, ms, 'response');
  }

  /** GET a path and read the whole (bounded) answer, whatever its status; throws only for network failures. */
  async getText(path: string): Promise<TextAnswer> {
    const guard = this.probeGuard();
    try {
      guard.startAttempt();
      const res = await this.send('GET', path, undefined, guard);
      guard.answered = true;
      const text = await readBounded(res.body, 1024 * 1024);
      return { status: res.statusCode, headers: res.headers, text };
    } catch (err) {
      throw guard.failure(err);
    } finally {
      guard.dispose();
    }
  }

  /**
   * POSTs a JSON body and returns the 2xx answer with its body unread; non-2xx answers become EndpointErrors,
   * after retries with backoff for 429/503 (no token can have arrived yet, so retrying is safe).
   */
  async postJson(path: string, body: unknown, guard: RequestGuard, backend: BackendKind, model?: string): Promise<Dispatcher.ResponseData> {
    const { retries } = this.config;
    for (let attempt = 0; ; attempt++) {
      guard.startAttempt();
      let res: Dispatcher.ResponseData;
      try {
        res = await this.send('POST', path, JSON.stringify(body), guard);
      } catch (err) {
        throw guard.failure(err);
      }
      if (res.statusCode >= 200 && res.statusCode < 300) {
        guard.answered = true;
        return res;
      }
      let text: string;
      try {
        text = await readBounded(res.body, ERROR_BODY_LIMIT);
      } catch (err) {
        throw guard.failure(err);
      }
      const serverMessage = extractServerMessage(text);
      const status = res.statusCode;
      const ctx = { url: this.url, backend, method: 'POST', path, retriesDone: attempt, ...(model !== undefined ? { model } : {}) };
      if ((status === 429 || status === 503) && attempt < retries.max) {
        const asked = parseRetryAfter(res.headers['retry-after']);
        const delay = asked ?? backoffDelay(attempt, retries.baseDelayMs, retries.maxDelayMs);
        if (delay >= guard.remainingMs()) {
          const said = quoteServer(serverMessage);
          throw new EndpointError(
            'http',
            `The CWM endpoint at ${this.url} is busy (HTTP ${status}${said}) and asks to retry in ${Math.ceil(delay / 1000)} s, beyond the total timeout; try again later or raise the total timeout.`,
            { status, ...(serverMessage !== undefined ? { serverMessage } : {}) },
          );
        }
        await guard.sleep(delay);
        continue;
      }
      throw httpError(status, serverMessage, ctx);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.agent.destroy();
  }

  private send(method: 'GET' | 'POST', path: string, body: string | undefined, guard: RequestGuard): Promise<Dispatcher.ResponseData> {
    if (this.closed) return Promise.reject(endpointErrors.clientClosed(this.url));
    const headers: Record<string, string> = { accept: 'application/json, text/event-stream', 'user-agent': 'cwm-debug' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.config.apiKey !== undefined) headers.authorization = `Bearer ${this.config.apiKey}`;
    return request(this.config.base + path, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher: this.agent,
      signal: guard.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }
}

/** Reads a body as UTF-8 up to `limit` bytes, then drops the rest (the socket is closed rather than drained). */
export async function readBounded(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  let complete = false;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      parts.push(buf);
      size += buf.length;
      if (size >= limit) break;
    }
    complete = size < limit;
  } finally {
    // A body read to its end leaves the connection reusable; only a cut-off one must be torn down.
    if (!complete && !body.destroyed) body.destroy();
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}

/** Bytes a whole (non-streamed) answer may take per token asked for: an id and its text as JSON, escapes included. */
export const ANSWER_BYTES_PER_TOKEN = 256;
/** Room for the envelope of an answer (usage, field names) on top of its tokens. */
const ANSWER_ENVELOPE_BYTES = 64 * 1024;

/** Largest whole answer accepted for a request of `tokens` tokens in all (max_tokens times n). */
export function answerByteLimit(tokens: number): number {
  return ANSWER_ENVELOPE_BYTES + Math.max(1, tokens) * ANSWER_BYTES_PER_TOKEN;
}

/** "3.1 MB", "512 KB": sizes in messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MB`;
  return `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * Reads a whole answer body as UTF-8, bounded by what the request can legitimately produce: past `limit` bytes the
 * connection is closed and the error says that the answer was too large for the tokens asked for.
 */
export async function readAnswer(body: Dispatcher.ResponseData['body'], limit: number, url: string, tokens: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  let complete = false;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      size += buf.length;
      if (size > limit) {
        parts.length = 0;
        throw new EndpointError(
          'protocol',
          `The CWM endpoint at ${url} sent an answer larger than ${formatBytes(limit)} for ${tokens} tokens asked for (at most ${ANSWER_BYTES_PER_TOKEN} bytes per token are expected), so it was dropped; the server ignored max_tokens or is not a CWM server: check it, or ask for fewer tokens.`,
        );
      }
      parts.push(buf);
    }
    complete = true;
  } finally {
    if (!complete && !body.destroyed) body.destroy();
  }
  return Buffer.concat(parts, size).toString('utf8');
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - Date.now());
}

/** Exponential backoff with equal jitter: half the step fixed, half random, so retries spread out but still grow. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(step / 2 + Math.random() * (step / 2));
}
