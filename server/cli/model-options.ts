// Command-line options that reach a CWM endpoint (URL, backend, tokenizer, sampling), shared by predict, compare and eval.
// Turning them into a tokenizer and endpoint clients is server/engine/connect-model.ts's job, shared with the other front ends.

import { ModelOptionError, type ModelSettings } from '../engine/connect-model';
import type { BackendKind } from '../endpoint/types';

export { ModelOptionError, NO_ENDPOINT_MESSAGE, type ModelSettings } from '../engine/connect-model';

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
  --tokenizer PATH     the checkpoint's tokenizer.model; default $CWM_TOKENIZER (not needed for vLLM: it tokenizes)
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
