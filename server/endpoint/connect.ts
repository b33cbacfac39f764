// Opens a client for a configured CWM endpoint: validates the config, detects the backend when 'auto'
// (vLLM and mlx_lm by their /v1/models shapes, fgserve by its root /completions route) and checks it serves CWM.
import type { TokenCodec } from '../cwm/codec';
import { chooseModel, cwmIds, readModelList, requireModelList, type ModelEntry } from './base';
import { EndpointError, extractServerMessage, quoteServer } from './errors';
import { FgserveClient } from './fgserve';
import { HttpTransport, resolveConfig } from './http';
import { MlxClient } from './mlx';
import { OpenAiClient } from './openai';
import type { BackendKind, EndpointClient, EndpointConfig } from './types';
import { VllmClient } from './vllm';

/** Which backend a /v1/models answer comes from. */
export function classifyModelList(models: readonly ModelEntry[]): 'vllm' | 'mlx' | 'openai' {
  // vLLM's ModelCard: owned_by "vllm", plus root/max_model_len/permission that no other server sends.
  if (models.some((m) => m.owned_by === 'vllm' || m.max_model_len !== undefined || m.permission !== undefined)) return 'vllm';
  // mlx_lm lists {id, object, created} only; OpenAI and its imitators always say who owns a model.
  if (models.every((m) => m.owned_by === undefined)) return 'mlx';
  return 'openai';
}

/** mlx_lm answers GET /health with {"status": "ok"}. */
async function answersLikeMlx(transport: HttpTransport): Promise<boolean> {
  const health = await transport.getText('/health');
  return health.status === 200 && /"status"\s*:\s*"ok"/.test(health.text);
}

async function detect(transport: HttpTransport): Promise<{ kind: BackendKind; models: ModelEntry[]; unlisted?: boolean }> {
  const listing = await readModelList(transport);
  const models = listing.models;
  // A 200 with an empty or unreadable body: mlx_lm without a Hugging Face cache folder (handle_models_request fails
  // after sending its headers).
  if (listing.status === 200 && models === undefined && (await answersLikeMlx(transport))) return { kind: 'mlx', models: [], unlisted: true };
  if (models !== undefined) {
    // An empty list says nothing about the server: mlx_lm is the one that can list nothing (it lists what is on disk).
    if (models.length === 0) return { kind: (await answersLikeMlx(transport)) ? 'mlx' : 'openai', models };
    return { kind: classifyModelList(models), models };
  }
  const completions = await transport.getText('/completions');
  // fgserve's /completions is POST-only: a GET gets Flask's 405, which proves the route exists without generating.
  if (completions.status === 405 || completions.status === 400 || completions.status === 422) return { kind: 'fgserve', models: [] };
  const said = extractServerMessage(completions.text);
  throw new EndpointError(
    'http',
    `No CWM server API answers at ${transport.url}: GET /v1/models and /completions both failed (last HTTP ${completions.status}${quoteServer(said)}); give the server root, e.g. http://host:8000 for vLLM or http://127.0.0.1:5678 for fgserve, in cwmDebug.endpoints.`,
    { status: completions.status, ...(said !== undefined ? { serverMessage: said } : {}) },
  );
}

/**
 * Connects to a CWM endpoint: detects its backend when `backend` is 'auto' (the default), checks that it is up
 * and serves CWM, and returns a client. Throws EndpointError; nothing stays open when it throws.
 */
export async function connectEndpoint(config: EndpointConfig, codec: TokenCodec): Promise<EndpointClient> {
  const resolved = resolveConfig(config);
  cwmIds(codec);
  const transport = new HttpTransport(resolved);
  try {
    let kind: BackendKind;
    let models: ModelEntry[] = [];
    let unlisted = false;
    if (resolved.backend === 'auto') {
      ({ kind, models, unlisted = false } = await detect(transport));
    } else {
      kind = resolved.backend;
      if (kind === 'mlx') {
        const listing = await readModelList(transport, 'mlx');
        if (listing.status !== 200) models = await requireModelList(transport, 'mlx');
        else if (listing.models === undefined) unlisted = true;
        else models = listing.models;
      } else if (kind !== 'fgserve') {
        models = await requireModelList(transport, kind);
      }
    }
    const model = kind === 'fgserve' ? undefined : chooseModel(transport.url, models, resolved.model);
    const client = createClient(kind, transport, codec, model, resolved.model);
    client.contextTokens = servedContext(kind, models, model, resolved.contextTokens);
    if (kind === 'fgserve') await client.probe();
    if (kind === 'mlx' && model === undefined) {
      client.warnings.push(
        unlisted
          ? `mlx_lm at ${transport.url} answered its model list with an empty or unreadable body (it lists only models in a Hugging Face cache folder, and has none), so it cannot be checked to be CWM; requests go to the model it was started with.`
          : `mlx_lm at ${transport.url} lists no model, so it cannot be checked to be CWM; requests go to the model it was started with.`,
      );
    } else if (kind === 'mlx' && unlisted) {
      client.warnings.push(
        `mlx_lm at ${transport.url} answered its model list with an empty or unreadable body (it lists only models in a Hugging Face cache folder, and has none); requests go to the configured model "${model}".`,
      );
    }
    return client;
  } catch (err) {
    await transport.close();
    throw err;
  }
}

/**
 * Tokens the endpoint's context holds: vLLM's max_model_len for the requested model (its /v1/models says), capped by
 * the configured contextTokens, which is all there is for servers that cannot say (fgserve, mlx_lm).
 */
function servedContext(kind: BackendKind, models: readonly ModelEntry[], model: string | undefined, configured: number | undefined): number | undefined {
  const entry = kind === 'vllm' ? (models.find((m) => m.id === model) ?? models[0]) : undefined;
  const served = typeof entry?.max_model_len === 'number' && entry.max_model_len > 0 ? entry.max_model_len : undefined;
  if (served === undefined) return configured;
  return configured === undefined ? served : Math.min(served, configured);
}

/**
 * A client for an endpoint whose backend is known, without contacting it (errors surface on first use).
 * `model` comes from the config; vLLM then uses its served model when none is given.
 */
export function createEndpointClient(config: EndpointConfig & { backend: BackendKind }, codec: TokenCodec): EndpointClient {
  const resolved = resolveConfig(config);
  cwmIds(codec);
  const client = createClient(config.backend, new HttpTransport(resolved), codec, resolved.model, resolved.model);
  client.contextTokens = resolved.contextTokens;
  return client;
}

function createClient(
  kind: BackendKind,
  transport: HttpTransport,
  codec: TokenCodec,
  model: string | undefined,
  configuredModel: string | undefined,
): EndpointClient & { warnings: string[]; contextTokens?: number } {
  switch (kind) {
    case 'fgserve':
      return new FgserveClient(transport, codec);
    case 'vllm':
      return new VllmClient(transport, codec, model);
    case 'mlx':
      return new MlxClient(transport, codec, model, configuredModel);
    case 'openai':
      return new OpenAiClient(transport, codec, model);
  }
}
