// EndpointError and the one-sentence messages for every way talking to a CWM server can fail.
// Messages say what happened and what to do; they name the endpoint URL but never the API key.
import { z } from 'zod';
import { redactSecrets } from './redact';
import type { BackendKind } from './types';

export type EndpointErrorKind =
  | 'refused'
  | 'dns'
  | 'timeout'
  | 'http'
  | 'not-cwm'
  | 'tokenizer-missing'
  | 'cancelled'
  | 'protocol'
  | 'tls'
  | 'bad-url'
  /** The prompt and the tokens to generate do not fit the served context. */
  | 'context';

export class EndpointError extends Error {
  override readonly name = 'EndpointError';
  readonly kind: EndpointErrorKind;
  /** HTTP status, for 'http' errors. */
  readonly status?: number;
  /** The server's own error text, when it sent one. */
  readonly serverMessage?: string;

  constructor(kind: EndpointErrorKind, message: string, details: { status?: number; serverMessage?: string; cause?: unknown } = {}) {
    // Server text can echo the API key (a 401 repeating the Authorization header): no message carries it.
    super(redactSecrets(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    if (details.status !== undefined) this.status = details.status;
    if (details.serverMessage !== undefined) this.serverMessage = redactSecrets(details.serverMessage);
  }
}

const SETTING = 'cwmDebug.endpoints';
const CONTEXT_SETTING = 'cwmDebug.contextTokens';
const TIMEOUT_SETTING = 'cwmDebug.requestTimeoutSeconds';

/** Settings named in these messages and the CLI flags that set the same things. */
const SETTING_FLAGS: readonly (readonly [string, string])[] = [
  [SETTING, '--endpoint'],
  [CONTEXT_SETTING, '--context-tokens'],
  [TIMEOUT_SETTING, '--request-timeout'],
  ['cwmDebug.sampleTemperature', '--sample-temperature'],
  ['cwmDebug.temperature', '--temperature'],
  ['cwmDebug.tokenizerPath', '--tokenizer'],
  ['cwmDebug.backend', '--backend'],
  ['cwmDebug.model', '--model'],
  ['cwmDebug.seed', '--seed'],
];

/** A message of this module in the CLI's terms: each setting it names becomes the command-line flag for it. */
export function inCliTerms(message: string): string {
  let text = message;
  for (const [setting, flag] of SETTING_FLAGS) text = text.split(setting).join(flag);
  return text;
}

function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

export const endpointErrors = {
  badUrl: (raw: string, why: string) =>
    new EndpointError('bad-url', `The CWM endpoint URL "${raw}" is not usable: ${why}; fix it in ${SETTING}, e.g. http://127.0.0.1:8000.`),
  refused: (url: string, cause?: unknown) =>
    new EndpointError(
      'refused',
      `Cannot reach the CWM endpoint at ${url}: connection refused. Is the server running? Start it or fix ${SETTING}.`,
      { cause },
    ),
  closedBeforeAnswer: (url: string, cause?: unknown) =>
    new EndpointError(
      'refused',
      `Cannot reach the CWM endpoint at ${url}: the server closed the connection without answering; check that a CWM server (not something else) listens there, or fix ${SETTING}.`,
      { cause },
    ),
  dns: (url: string, host: string, cause?: unknown) =>
    new EndpointError(
      'dns',
      `Cannot reach the CWM endpoint at ${url}: the host name "${host}" could not be resolved (DNS); check the host name in ${SETTING} and your network.`,
      { cause },
    ),
  connectTimeout: (url: string, ms: number, cause?: unknown) =>
    new EndpointError(
      'timeout',
      `Cannot reach the CWM endpoint at ${url}: no connection after ${ms} ms (connect timeout); check host, port and firewall, or raise the connect timeout.`,
      { cause },
    ),
  firstTokenTimeout: (url: string, ms: number, backend?: BackendKind) =>
    new EndpointError(
      'timeout',
      backend === 'fgserve'
        ? `fgserve at ${url} sent no answer in ${seconds(ms)} (it answers a completion whole, once generated). Common causes: ` +
          `it got a request at temperature 0 (from another client: this one never sends 0), whose sampling fails in FastGen's ` +
          `generation thread so that fgserve answers nothing until it is restarted; a prompt at or past its max_seq; or a long ` +
          `generation still running. Check fgserve's log and restart it if it is stuck, or raise ${TIMEOUT_SETTING}.`
        : `The CWM endpoint at ${url} sent no token in ${seconds(ms)} (first-token timeout). Common causes: a long prompt still in ` +
          `prefill on a busy server, or a stuck server; check the server's log, or raise ${TIMEOUT_SETTING}.`,
    ),
  contextFull: (url: string, contextTokens: number, promptTokens: number) =>
    new EndpointError(
      'context',
      `The prompt (${promptTokens} tokens) leaves no room to generate in the ${contextTokens}-token context of the CWM endpoint at ${url}; ` +
        `the program's source alone is too long for it: serve a longer context (vLLM: --max-model-len), or set ${CONTEXT_SETTING} to what the server holds if it is more.`,
    ),
  responseTimeout: (url: string, ms: number) =>
    new EndpointError(
      'timeout',
      `The CWM endpoint at ${url} did not answer within ${ms} ms (response timeout); the server may be overloaded or stuck, so check it or raise the timeouts.`,
    ),
  totalTimeout: (url: string, ms: number, tokens: number) =>
    new EndpointError(
      'timeout',
      `The CWM endpoint at ${url} did not finish within ${ms} ms (total timeout, ${tokens} tokens received); the server may be stuck or too slow, so check it or raise the total timeout.`,
    ),
  tls: (url: string, detail: string, cause?: unknown) =>
    new EndpointError(
      'tls',
      `The TLS connection to the CWM endpoint at ${url} failed (${detail}); set tls.caFile to the CA that signed the server's certificate, or tls.insecureSkipVerify for testing only.`,
      { cause },
    ),
  notTls: (url: string, cause?: unknown) =>
    new EndpointError(
      'tls',
      `The TLS connection to the CWM endpoint at ${url} failed because the server does not speak TLS on that port; use an http:// URL for it in ${SETTING}.`,
      { cause },
    ),
  badConfig: (url: string, where: string, problem: string) =>
    new EndpointError('bad-url', `The CWM endpoint configuration for "${url}" is invalid at ${where} (${problem}); fix it in ${SETTING}.`),
  cancelled: (url: string) => new EndpointError('cancelled', `The request to the CWM endpoint at ${url} was cancelled.`),
  clientClosed: (url: string) =>
    new EndpointError('cancelled', `The request to the CWM endpoint at ${url} was cancelled because its client was closed.`),
  dropped: (url: string, tokens: number, cause?: unknown) =>
    new EndpointError(
      'protocol',
      `The CWM endpoint at ${url} closed the connection in the middle of its answer (after ${tokens} tokens); the server may have crashed or restarted, so check its log and try again.`,
      { cause },
    ),
  protocol: (url: string, backend: BackendKind, detail: string) =>
    new EndpointError(
      'protocol',
      `The CWM endpoint at ${url} sent an answer that a ${backend} client cannot read (${detail}); check that it really is a ${backend} server, or set the backend to 'auto'.`,
    ),
  notCwm: (url: string, models: readonly string[], configured?: string) =>
    new EndpointError(
      'not-cwm',
      configured !== undefined
        ? `The endpoint at ${url} does not serve the configured model "${configured}" but ${listModels(models)}; fix the model name in ${SETTING} or start the server with CWM.`
        : `The endpoint at ${url} serves ${listModels(models)}, none of which looks like CWM; start it with facebook/cwm, or set the model name in ${SETTING} if CWM is served under another name.`,
    ),
  tokenizerMissing: (token: string) =>
    new EndpointError(
      'tokenizer-missing',
      `The loaded tokenizer has no ${token} token, so it is not CWM's; point the extension at the tokenizer.model of the CWM checkpoint.`,
    ),
};

function listModels(models: readonly string[]): string {
  if (models.length === 0) return 'no model at all';
  const shown = models.slice(0, 5).map((m) => `"${m}"`).join(', ');
  return models.length > 5 ? `${shown} and ${models.length - 5} more` : shown;
}

/** What a failed HTTP exchange is about, so a 404 can say which path the backend expects. */
export interface HttpFailureContext {
  url: string;
  backend?: BackendKind;
  method: string;
  path: string;
  model?: string;
  retriesDone?: number;
}

const EXPECTED_PATHS: Record<BackendKind, string> = {
  fgserve: 'fgserve serves POST /completions at the server root (default http://127.0.0.1:5678)',
  vllm: 'vLLM serves POST /v1/completions, so give the server root (e.g. http://host:8000)',
  mlx: 'mlx_lm.server serves POST /v1/completions, so give the server root (e.g. http://127.0.0.1:8080)',
  openai: 'an OpenAI-compatible server answers POST /v1/completions under the server root',
};

/** `: message` to put after an HTTP status inside parentheses, without the message's own final period. */
export function quoteServer(serverMessage: string | undefined): string {
  const text = serverMessage?.replace(/[.\s]+$/, '');
  return text !== undefined && text !== '' ? `: ${text}` : '';
}

export function httpError(status: number, serverMessage: string | undefined, ctx: HttpFailureContext): EndpointError {
  const said = quoteServer(serverMessage);
  const what = `${ctx.method} ${ctx.path}`;
  const details = { status, ...(serverMessage !== undefined ? { serverMessage } : {}) };
  if (status === 401 || status === 403) {
    return new EndpointError(
      'http',
      `The CWM endpoint at ${ctx.url} refused ${what} (HTTP ${status}${said}); set the right API key for this endpoint in ${SETTING}.`,
      details,
    );
  }
  if (status === 404 && serverMessage !== undefined && /model/i.test(serverMessage) && /(does not exist|not found)/i.test(serverMessage)) {
    return new EndpointError(
      'http',
      `The CWM endpoint at ${ctx.url} does not serve the model "${ctx.model ?? ''}" (HTTP 404${said}); fix the model name in ${SETTING} or leave it empty to use the served one.`,
      details,
    );
  }
  if (status === 404 || status === 405) {
    const hint = ctx.backend !== undefined ? EXPECTED_PATHS[ctx.backend] : 'fgserve serves /completions and vLLM/mlx_lm serve /v1/completions';
    return new EndpointError(
      'http',
      `The CWM endpoint at ${ctx.url} has no ${what} (HTTP ${status}${said}): the URL or the backend is wrong, since ${hint}; fix ${SETTING} or set the backend to 'auto'.`,
      details,
    );
  }
  const context = status === 400 && serverMessage !== undefined ? /maximum context length is (\d+) tokens/i.exec(serverMessage) : null;
  if (context !== null) {
    const served = Number(context[1]);
    const asked = /you requested (\d+) tokens/i.exec(serverMessage ?? '')?.[1];
    return new EndpointError(
      'context',
      `The CWM endpoint at ${ctx.url} serves a context of ${served} tokens (its --max-model-len)${asked !== undefined ? ` and this request needs ${asked}` : ''} ` +
        `(HTTP 400). Requests are sized from the length the server reports when connecting, so it was probably restarted with a ` +
        `smaller one: start again, or set ${CONTEXT_SETTING} to ${served} or less.`,
      details,
    );
  }
  if (status === 429 || status === 503) {
    const retried = ctx.retriesDone !== undefined && ctx.retriesDone > 0 ? ` and still was after ${ctx.retriesDone} retries` : '';
    return new EndpointError(
      'http',
      `The CWM endpoint at ${ctx.url} is busy (HTTP ${status}${said})${retried}; try again later, or add endpoints to spread the load.`,
      details,
    );
  }
  return new EndpointError(
    'http',
    `The CWM endpoint at ${ctx.url} failed ${what} (HTTP ${status}${said}); check the server's log.`,
    details,
  );
}

// Error bodies of the servers: vLLM/OpenAI {error:{message}}, older vLLM {object:'error',message},
// mlx_lm {error:"text"}, FastAPI {detail:"Not Found"} or a validation list, Flask (fgserve) an HTML page.
const jsonErrorBody = z.union([
  z.object({ error: z.object({ message: z.string() }) }),
  z.object({ error: z.string() }),
  z.object({ message: z.string() }),
  z.object({ detail: z.string() }),
  z.object({ detail: z.array(z.object({ msg: z.string() })) }),
]);

/** The server's own message from an error body, in whatever shape the server uses; undefined when empty. */
export function extractServerMessage(body: string): string | undefined {
  const text = body.trim();
  if (text === '') return undefined;
  try {
    const parsed = jsonErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) {
      const value = parsed.data;
      if ('error' in value) return clip(typeof value.error === 'string' ? value.error : value.error.message);
      if ('message' in value) return clip(value.message);
      if (typeof value.detail === 'string') return clip(value.detail);
      return clip(value.detail.map((d) => d.msg).join('; '));
    }
  } catch {
    // Not JSON: HTML or plain text below.
  }
  if (/<html|<!doctype|<title/i.test(text)) {
    const paragraph = /<p>([\s\S]*?)<\/p>/i.exec(text)?.[1];
    const title = /<title>([\s\S]*?)<\/title>/i.exec(text)?.[1] ?? /<h1>([\s\S]*?)<\/h1>/i.exec(text)?.[1];
    const parts = [title, paragraph].filter((p): p is string => p !== undefined).map(stripTags);
    return parts.length > 0 ? clip(parts.join(': ')) : undefined;
  }
  return clip(text);
}

function stripTags(html: string): string {
  return html.replace(/<[^>]*>/g, '').replace(/\s+/g, ' ').trim();
}

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

/** Every `code` found on an error, its cause chain and (for AggregateError, e.g. IPv4+IPv6 attempts) its members. */
export function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (e === null || typeof e !== 'object' || seen.has(e) || depth > 5) return;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    visit((e as { cause?: unknown }).cause, depth + 1);
    const members = (e as { errors?: unknown }).errors;
    if (Array.isArray(members)) for (const m of members) visit(m, depth + 1);
  };
  visit(err, 0);
  return codes;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

const TLS_DETAILS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the server certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted self-signed CA',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server certificate cannot be verified',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the CA of the server certificate is not trusted',
  CERT_HAS_EXPIRED: 'the server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the server certificate is for another host name',
  EPROTO: 'the TLS handshake failed; is the server speaking plain HTTP?',
};

/**
 * Maps a failure to connect or to get an answer (before any response arrived) to an EndpointError;
 * undefined when the error is not a network failure this module knows.
 */
export function classifyConnectError(err: unknown, url: string, host: string, connectMs: number): EndpointError | undefined {
  const codes = errorCodes(err);
  const has = (c: string): boolean => codes.includes(c);
  if (has('ECONNREFUSED')) return endpointErrors.refused(url, err);
  if (has('ENOTFOUND') || has('EAI_AGAIN') || has('EAI_NONAME') || has('EAI_FAIL')) return endpointErrors.dns(url, host, err);
  if (has('UND_ERR_CONNECT_TIMEOUT') || has('ETIMEDOUT')) return endpointErrors.connectTimeout(url, connectMs, err);
  if (has('ERR_SSL_WRONG_VERSION_NUMBER') || has('ERR_SSL_PACKET_LENGTH_TOO_LONG')) return endpointErrors.notTls(url, err);
  const tlsCode = codes.find((c) => TLS_CODES.has(c) || c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_'));
  if (tlsCode !== undefined) return endpointErrors.tls(url, TLS_DETAILS[tlsCode] ?? tlsCode, err);
  if (has('UND_ERR_SOCKET') || has('ECONNRESET') || has('EPIPE') || has('UND_ERR_CLOSED')) {
    return endpointErrors.closedBeforeAnswer(url, err);
  }
  if (has('EHOSTUNREACH') || has('ENETUNREACH') || has('EADDRNOTAVAIL')) {
    return new EndpointError(
      'refused',
      `Cannot reach the CWM endpoint at ${url}: the host is unreachable (${codes.find((c) => c.startsWith('E'))}); check the network and ${SETTING}.`,
      { cause: err },
    );
  }
  return undefined;
}

/** True for the errors a response body raises when the connection goes away mid-answer. */
export function isConnectionLoss(err: unknown): boolean {
  const codes = errorCodes(err);
  const lost = ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_CLOSED'];
  if (lost.some((c) => codes.includes(c))) return true;
  // undici's HTTP parser reports a socket that ended inside a chunked body as "Invalid EOF state", without a code.
  return err instanceof Error && err.name === 'HTTPParserError' && /EOF/i.test(err.message);
}
