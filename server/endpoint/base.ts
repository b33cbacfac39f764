// What every backend client shares: request validation, CWM's stop-token ids from the codec, model listing.
// Special ids always come from the codec, never from constants: test tokenizers number them differently.
import { z } from 'zod';
import type { TokenCodec } from '../cwm/codec';
import { specialTokenText, Tok } from '../cwm/tokens';
import { EndpointError, endpointErrors, extractServerMessage, httpError } from './errors';
import type { HttpTransport, RequestGuard } from './http';
import { budgetLimits } from './budget';
import { createCompletionStream } from './stream';
import type { BackendKind, CompletionRequest, CompletionResult, CompletionStream, EndpointClient, EndpointInfo, TokenChunk } from './types';

export const EOM_TEXT = specialTokenText(8);
export const EOT_TEXT = specialTokenText(9);

export interface CwmIds {
  bos: number;
  frameSep: number;
  endOfText: number;
  /** end_of_text, eom, eot: each ends a rollout wherever it appears. */
  stops: number[];
}

/** CWM's structural token ids in this codec; throws 'tokenizer-missing' when the codec is not CWM's. */
export function cwmIds(codec: TokenCodec): CwmIds {
  const need = (text: string): number => {
    const id = codec.specialTokenId(text);
    if (id === undefined) throw endpointErrors.tokenizerMissing(text);
    return id;
  };
  const endOfText = need(Tok.endOfText);
  return { bos: need(Tok.beginOfText), frameSep: need(Tok.frameSep), endOfText, stops: [endOfText, need(EOM_TEXT), need(EOT_TEXT)] };
}

const requestSchema = z.object({
  promptIds: z.array(z.number().int().min(0)).min(1),
  maxTokens: z.number().int().min(1),
  temperature: z.number().finite().min(0),
  topP: z.number().finite().gt(0).max(1).optional(),
  seed: z.number().int().optional(),
  n: z.number().int().min(1).optional(),
  priority: z.number().int().optional(),
  stopAtFrameEnd: z.boolean(),
  maxTokensPerFrame: z.number().int().min(1).optional(),
  logprobs: z.number().int().min(0).optional(),
});

export abstract class BaseClient implements EndpointClient {
  abstract readonly kind: BackendKind;
  abstract readonly streams: boolean;
  readonly warnings: string[] = [];
  /** Served context in tokens, when known (set on connecting: vLLM's max_model_len, the configured contextTokens). */
  contextTokens?: number;
  protected readonly ids: CwmIds;

  constructor(
    protected readonly transport: HttpTransport,
    protected readonly codec: TokenCodec,
    readonly model?: string,
  ) {
    this.ids = cwmIds(codec);
  }

  get url(): string {
    return this.transport.url;
  }

  complete(request: CompletionRequest): CompletionStream {
    const checked = requestSchema.safeParse({ ...request, promptIds: [...request.promptIds] });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new TypeError(`Invalid completion request at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'unknown problem'}`);
    }
    return createCompletionStream(this.transport, request.signal, (guard) => this.runFitted(request, guard), budgetLimits(request, this.ids),
      this.guardOptions(request));
  }

  /** How the request's deadlines are set: a backend that answers whole waits longer for more tokens. */
  protected guardOptions(_request: CompletionRequest): { extraMs?: number; backend?: BackendKind } {
    return { backend: this.kind };
  }

  /**
   * The request, with maxTokens lowered so that prompt plus generation fit the served context: vLLM refuses a request
   * past max_model_len with HTTP 400, fgserve never answers a prompt past its max_seq.
   */
  private async *runFitted(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    const context = this.contextTokens;
    if (context === undefined) return yield* this.run(request, guard);
    const room = context - request.promptIds.length;
    if (room < 1) throw endpointErrors.contextFull(this.url, context, request.promptIds.length);
    return yield* this.run(room < request.maxTokens ? { ...request, maxTokens: room } : request, guard);
  }

  abstract probe(): Promise<EndpointInfo>;

  close(): Promise<void> {
    return this.transport.close();
  }

  protected abstract run(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined>;

  protected warnOnce(message: string): void {
    if (!this.warnings.includes(message)) this.warnings.push(message);
  }

  /** 'stop' when the ids end on the frame separator or an end token, else 'length'. */
  protected finishFromIds(ids: readonly number[]): 'stop' | 'length' {
    const last = ids[ids.length - 1];
    return last !== undefined && (last === this.ids.frameSep || this.ids.stops.includes(last)) ? 'stop' : 'length';
  }
}

const modelListSchema = z.object({
  data: z.array(
    z
      .object({
        id: z.string(),
        owned_by: z.string().optional(),
        root: z.string().nullable().optional(),
        max_model_len: z.number().nullable().optional(),
        permission: z.array(z.unknown()).optional(),
      })
      .passthrough(),
  ),
});

export type ModelEntry = z.infer<typeof modelListSchema>['data'][number];

/** GET /v1/models; undefined when the server has no such route or answers something that is not a model list. */
export async function fetchModelList(transport: HttpTransport, backend?: BackendKind): Promise<ModelEntry[] | undefined> {
  const answer = await transport.getText('/v1/models');
  if (answer.status === 401 || answer.status === 403) {
    throw httpError(answer.status, extractServerMessage(answer.text), { url: transport.url, method: 'GET', path: '/v1/models', ...(backend ? { backend } : {}) });
  }
  if (answer.status !== 200) return undefined;
  try {
    const parsed = modelListSchema.safeParse(JSON.parse(answer.text));
    return parsed.success ? parsed.data.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * GET /v1/models as it came: `models` undefined when the body is not a model list. mlx_lm answers 200 and then an empty
 * body when it has no Hugging Face cache folder, so a 200 without a list still says something about the server.
 */
export async function readModelList(transport: HttpTransport, backend?: BackendKind): Promise<{ status: number; models?: ModelEntry[] }> {
  const answer = await transport.getText('/v1/models');
  if (answer.status === 401 || answer.status === 403) {
    throw httpError(answer.status, extractServerMessage(answer.text), { url: transport.url, method: 'GET', path: '/v1/models', ...(backend ? { backend } : {}) });
  }
  if (answer.status !== 200) return { status: answer.status };
  try {
    const parsed = modelListSchema.safeParse(JSON.parse(answer.text));
    return parsed.success ? { status: 200, models: parsed.data.data } : { status: 200 };
  } catch {
    return { status: 200 };
  }
}

/** Model list of a backend that must have one; throws a clear error when it does not. */
export async function requireModelList(transport: HttpTransport, backend: BackendKind): Promise<ModelEntry[]> {
  const answer = await transport.getText('/v1/models');
  if (answer.status !== 200) {
    throw httpError(answer.status, extractServerMessage(answer.text), { url: transport.url, method: 'GET', path: '/v1/models', backend });
  }
  try {
    const parsed = modelListSchema.safeParse(JSON.parse(answer.text));
    if (parsed.success) return parsed.data.data;
  } catch {
    // Reported below.
  }
  throw endpointErrors.protocol(transport.url, backend, 'GET /v1/models did not return a model list');
}

export function looksLikeCwm(entry: ModelEntry): boolean {
  return /cwm/i.test(entry.id) || (typeof entry.root === 'string' && /cwm/i.test(entry.root));
}

/**
 * The model to request: the configured one if served, else the first CWM-looking one. Undefined only when the
 * server lists nothing and nothing is configured (mlx_lm lists only models it finds on disk).
 */
export function chooseModel(url: string, models: readonly ModelEntry[], configured: string | undefined): string | undefined {
  const ids = models.map((m) => m.id);
  if (configured !== undefined) {
    if (models.length === 0 || ids.includes(configured)) return configured;
    throw endpointErrors.notCwm(url, ids, configured);
  }
  if (models.length === 0) return undefined;
  const cwm = models.find(looksLikeCwm);
  if (cwm === undefined) throw endpointErrors.notCwm(url, ids);
  return cwm.id;
}

export function endpointInfo(kind: BackendKind, url: string, model: string | undefined, models: readonly ModelEntry[]): EndpointInfo {
  return { kind, url, ...(model !== undefined ? { model } : {}), models: models.map((m) => m.id) };
}

/** Parses one JSON payload of a stream or answer, as a protocol error when it is not JSON. */
export function parseJson(text: string, url: string, backend: BackendKind): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw endpointErrors.protocol(url, backend, `invalid JSON: ${text.slice(0, 80)}`);
  }
}

/** The error a stream payload carries (vLLM sends `data: {"error": {...}}` when generation fails mid-stream). */
const streamErrorSchema = z.object({
  error: z.union([z.string(), z.object({ message: z.string(), code: z.union([z.number(), z.string()]).nullable().optional() })]),
});

export function streamError(payload: unknown, url: string): EndpointError | undefined {
  const parsed = streamErrorSchema.safeParse(payload);
  if (!parsed.success) return undefined;
  const error = parsed.data.error;
  const message = typeof error === 'string' ? error : error.message;
  const code = typeof error === 'string' ? undefined : Number(error.code);
  const status = code !== undefined && Number.isInteger(code) && code >= 400 ? code : 500;
  return new EndpointError('http', `The CWM endpoint at ${url} failed while generating (${message}); check the server's log.`, {
    status,
    serverMessage: message,
  });
}
