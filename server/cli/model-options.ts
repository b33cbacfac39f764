// Command-line options that reach a CWM endpoint (URL, backend, tokenizer, sampling), shared by predict, compare and eval,
// and the one place that turns them into a tokenizer plus a pool of endpoint clients.

import type { TokenCodec } from '../cwm/codec';
import { loadTokenizer } from '../cwm/tokenizer';
import { connectEndpoint } from '../endpoint/connect';
import { EndpointPool } from '../endpoint/pool';
import type { BackendKind, EndpointClient } from '../endpoint/types';

export const MODEL_OPTION_SPECS = {
  endpoint: { type: 'string', multiple: true },
  backend: { type: 'string' },
  tokenizer: { type: 'string' },
  'api-key-env': { type: 'string' },
  model: { type: 'string' },
  samples: { type: 'string' },
  temperature: { type: 'string' },
  'sample-temperature': { type: 'string' },
  seed: { type: 'string' },
  'context-tokens': { type: 'string' },
  'request-timeout': { type: 'string' },
} as const;

export const MODEL_OPTIONS_HELP = `Model options (predict, compare, eval):
  --endpoint URL       a CWM endpoint (repeatable: rollouts are spread over them); default $CWM_ENDPOINT (comma-separated)
  --backend KIND       fgserve | vllm | mlx | openai | auto (default auto: detected from the server)
  --tokenizer PATH     the checkpoint's tokenizer.model; default $CWM_TOKENIZER
  --model NAME         model name to request (vLLM/MLX/OpenAI); default: detected from /v1/models
  --api-key-env VAR    read a Bearer token from this environment variable (default CWM_API_KEY)
  --samples N          n independent rollouts and how much they agree (predict)
  --temperature T      sampling temperature (default 0: the most likely trace; fgserve gets a near-greedy 0.01)
  --sample-temperature T  temperature of several samples and restarts (--samples, eval --samples; default 0.6)
  --seed S             sampling seed (default none)
  --context-tokens N   tokens the endpoint's context holds, where the server cannot say (fgserve, MLX-LM;
                       default 131072); vLLM's --max-model-len is read from the server
  --request-timeout S  give up on a request after S seconds (default 600)
`;

export interface ModelSettings {
  readonly endpoints: readonly string[];
  readonly backend: BackendKind | 'auto';
  readonly tokenizerPath?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly samples: number;
  readonly temperature: number;
  /** Temperature of several samples and restarts (default 0.6). */
  readonly sampleTemperature?: number;
  readonly seed?: number;
  readonly contextTokens?: number;
  readonly requestTimeoutMs: number;
}

/** A wrong option value; the message names the option. */
export class ModelOptionError extends Error {}

function numberOption(value: unknown, flag: string, check: (n: number) => boolean, what: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(number) || !check(number)) {
    throw new ModelOptionError(`${flag} needs ${what}, got "${String(value)}".`);
  }
  return number;
}

export function modelSettingsFrom(values: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): ModelSettings {
  const given = (values.endpoint as string[] | undefined) ?? [];
  const endpoints = (given.length > 0 ? given : (env.CWM_ENDPOINT ?? '').split(',')).map((url) => url.trim()).filter(Boolean);
  const backend = (values.backend as string | undefined) ?? 'auto';
  if (!['fgserve', 'vllm', 'mlx', 'openai', 'auto'].includes(backend)) {
    throw new ModelOptionError(`--backend must be fgserve, vllm, mlx, openai or auto, not "${backend}".`);
  }
  const keyVariable = (values['api-key-env'] as string | undefined) ?? 'CWM_API_KEY';
  return {
    endpoints,
    backend: backend as BackendKind | 'auto',
    tokenizerPath: (values.tokenizer as string | undefined) ?? env.CWM_TOKENIZER,
    apiKey: env[keyVariable] || undefined,
    model: values.model as string | undefined,
    samples: numberOption(values.samples, '--samples', (n) => Number.isInteger(n) && n >= 1 && n <= 64, 'a whole number from 1 to 64') ?? 1,
    temperature: numberOption(values.temperature, '--temperature', (n) => n >= 0 && n <= 2, 'a number from 0 to 2') ?? 0,
    sampleTemperature: numberOption(values['sample-temperature'], '--sample-temperature', (n) => n > 0 && n <= 2, 'a number above 0 and at most 2'),
    seed: numberOption(values.seed, '--seed', Number.isInteger, 'a whole number'),
    contextTokens: numberOption(values['context-tokens'], '--context-tokens', (n) => Number.isInteger(n) && n >= 256, 'a whole number of at least 256'),
    requestTimeoutMs: (numberOption(values['request-timeout'], '--request-timeout', (n) => n > 0, 'a positive number of seconds') ?? 600) * 1000,
  };
}

export const NO_ENDPOINT_MESSAGE =
  'No CWM endpoint is configured. Pass --endpoint URL and --tokenizer PATH (the checkpoint\'s tokenizer.model), ' +
  'or set CWM_ENDPOINT and CWM_TOKENIZER; see "Connecting a model" in the README.';

export const NO_TOKENIZER_MESSAGE =
  'No tokenizer is configured. Pass --tokenizer PATH (the tokenizer.model file of the CWM checkpoint) or set CWM_TOKENIZER.';

export interface ConnectedModel {
  readonly codec: TokenCodec;
  readonly pool: EndpointPool;
  readonly clients: readonly EndpointClient[];
  close(): Promise<void>;
}

/** Loads the tokenizer and connects every endpoint (detecting its kind); throws TokenizerError / EndpointError in words. */
export async function connectModel(settings: ModelSettings): Promise<ConnectedModel> {
  if (settings.endpoints.length === 0) throw new ModelOptionError(NO_ENDPOINT_MESSAGE);
  if (!settings.tokenizerPath) throw new ModelOptionError(NO_TOKENIZER_MESSAGE);
  const codec = await loadTokenizer(settings.tokenizerPath);
  const clients: EndpointClient[] = [];
  try {
    for (const url of settings.endpoints) {
      clients.push(await connectEndpoint({
        url,
        backend: settings.backend,
        apiKey: settings.apiKey,
        model: settings.model,
        // The first-token deadline follows the request timeout (180 s of the default 600 s), so raising one raises both.
        timeouts: { totalMs: settings.requestTimeoutMs, firstTokenMs: Math.round(settings.requestTimeoutMs * 0.3) },
        ...(settings.contextTokens !== undefined ? { contextTokens: settings.contextTokens } : {}),
      }, codec));
    }
  } catch (error) {
    await Promise.all(clients.map((client) => client.close()));
    codec.dispose();
    throw error;
  }
  return {
    codec,
    pool: new EndpointPool(clients),
    clients,
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      codec.dispose();
    },
  };
}
