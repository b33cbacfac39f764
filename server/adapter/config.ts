// The launch configuration of the `cwm` debug type: its zod schema, defaults, and errors that name the wrong field,
// so a user can fix launch.json from the message alone.

import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { BackendKind } from '../endpoint/types';
import type { TracerLimits } from '../tracer/runner';

export type DebugMode = 'predict' | 'actual' | 'compare';

/** A launch configuration that passed validation, with defaults applied and paths made absolute. */
export interface LaunchConfig {
  /** Absent only when `trace` replays a saved trace whose own context supplies the program text. */
  readonly program?: string;
  readonly entry?: string;
  readonly args?: string;
  readonly mode: DebugMode;
  readonly endpoints: readonly string[];
  readonly backend: BackendKind | 'auto';
  readonly tokenizer?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly python?: string;
  readonly stopOnEntry: boolean;
  readonly stopOnDivergence: boolean;
  readonly temperature: number;
  /** Temperature of restarts and of several samples (default 0.6). */
  readonly sampleTemperature: number;
  readonly seed?: number;
  readonly samples: number;
  readonly contextTokens?: number;
  readonly requestTimeoutMs: number;
  readonly tracerLimits: Partial<TracerLimits>;
  /** Real runs also record the attributes of the program's objects (VARIABLES expands `self`); default true. */
  readonly recordObjects: boolean;
  readonly cwd?: string;
  /** A saved trace (.cwmtrace or .json) to replay instead of running the program (actual mode). */
  readonly trace?: string;
  /** Predict mode: one streamed rollout kept running ahead of the current step (absent: none). */
  readonly readAhead?: ReadAheadConfig;
}

export interface ReadAheadConfig {
  readonly enabled: boolean;
  readonly frames?: number;
  readonly tokens?: number;
}

/** The configuration cannot be used; the message names the field and says what it must be. */
export class ConfigError extends Error {}

const positiveInt = (what: string) => z.number({ error: `must be ${what}` }).int({ error: `must be ${what}` }).positive({ error: `must be ${what}` });

const TracerLimitsSchema = z.object(
  {
    maxEvents: positiveInt('a positive whole number of events').optional(),
    timeoutMs: positiveInt('a positive whole number of milliseconds').optional(),
    maxReprLength: z.number({ error: 'must be a whole number of at least 20' }).int({ error: 'must be a whole number of at least 20' })
      .min(20, { error: 'must be a whole number of at least 20' }).optional(),
    maxOutputBytes: z.number({ error: 'must be a whole number of bytes, 0 or more' }).int({ error: 'must be a whole number of bytes, 0 or more' })
      .min(0, { error: 'must be a whole number of bytes, 0 or more' }).optional(),
    maxMemoryMb: z.number({ error: 'must be a whole number of MB, 0 for no limit' }).int({ error: 'must be a whole number of MB, 0 for no limit' })
      .min(0, { error: 'must be a whole number of MB, 0 for no limit' }).optional(),
  },
  { error: 'must be an object such as { "maxEvents": 100000, "timeoutMs": 30000 }' },
);

const ReadAheadSchema = z.object(
  {
    enabled: z.boolean({ error: 'must be true or false' }).default(true),
    frames: z.number({ error: 'must be a whole number of frames from 1 to 4096' }).int({ error: 'must be a whole number of frames from 1 to 4096' })
      .min(1, { error: 'must be a whole number of frames from 1 to 4096' }).max(4096, { error: 'must be a whole number of frames from 1 to 4096' }).optional(),
    tokens: z.number({ error: 'must be a whole number of tokens from 1 to 131072' }).int({ error: 'must be a whole number of tokens from 1 to 131072' })
      .min(1, { error: 'must be a whole number of tokens from 1 to 131072' }).max(131072, { error: 'must be a whole number of tokens from 1 to 131072' }).optional(),
  },
  { error: 'must be an object such as { "enabled": true, "frames": 64, "tokens": 4096 }' },
);

const PROGRAM_REQUIRED = 'is required: the path of the Python file to debug';

const nonEmpty = (what: string) => z.string({ error: `must be ${what}` }).min(1, { error: `must be ${what}` });

const LaunchSchema = z.object({
  program: z.string({ error: PROGRAM_REQUIRED }).min(1, { error: PROGRAM_REQUIRED }).optional(),
  entry: nonEmpty('the name of the function to trace, e.g. "main"').optional(),
  args: z.string({ error: 'must be a string holding the Python argument list, e.g. "[1, 2], 3"' }).optional(),
  mode: z.enum(['predict', 'actual', 'compare'], { error: 'must be predict, actual or compare' }).optional(),
  endpoints: z.array(nonEmpty('a URL such as http://127.0.0.1:8000'), { error: 'must be a list of endpoint URLs, e.g. ["http://127.0.0.1:8000"]' }).optional(),
  backend: z.enum(['auto', 'fgserve', 'vllm', 'mlx', 'openai'], { error: 'must be auto, fgserve, vllm, mlx or openai' }).default('auto'),
  tokenizer: nonEmpty("the path of the checkpoint's tokenizer.model").optional(),
  apiKey: z.string({ error: 'must be a string' }).optional(),
  model: nonEmpty('a model name').optional(),
  python: nonEmpty('the path or command of a Python interpreter').optional(),
  stopOnEntry: z.boolean({ error: 'must be true or false' }).default(true),
  stopOnDivergence: z.boolean({ error: 'must be true or false' }).default(true),
  temperature: z.number({ error: 'must be a number from 0 to 2' }).min(0, { error: 'must be a number from 0 to 2' })
    .max(2, { error: 'must be a number from 0 to 2' }).default(0),
  sampleTemperature: z.number({ error: 'must be a number above 0 and at most 2' }).gt(0, { error: 'must be a number above 0 and at most 2' })
    .max(2, { error: 'must be a number above 0 and at most 2' }).default(0.6),
  seed: z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).optional(),
  samples: z.number({ error: 'must be a whole number from 1 to 64' }).int({ error: 'must be a whole number from 1 to 64' })
    .min(1, { error: 'must be a whole number from 1 to 64' }).max(64, { error: 'must be a whole number from 1 to 64' }).default(1),
  contextTokens: z.number({ error: 'must be a whole number of at least 256' }).int({ error: 'must be a whole number of at least 256' })
    .min(256, { error: 'must be a whole number of at least 256' }).optional(),
  requestTimeoutMs: positiveInt('a positive whole number of milliseconds').default(600_000),
  tracerLimits: TracerLimitsSchema.default({}),
  recordObjects: z.boolean({ error: 'must be true or false' }).default(true),
  cwd: nonEmpty('the path of a folder').optional(),
  trace: nonEmpty('the path of a saved trace (.cwmtrace or .json)').optional(),
  readAhead: ReadAheadSchema.optional(),
});

/** `"field.sub" must be …` for the first problem zod found. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return `Unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')} in the launch configuration.`;
  return path === '' ? `The launch configuration ${issue.message}.` : `"${path}" ${issue.message}.`;
}

/**
 * Validates a raw launch configuration (launch.json arguments; unknown keys such as `type` or `name` are ignored).
 * Throws ConfigError naming the field. `env` supplies CWM_API_KEY, CWM_ENDPOINT and CWM_TOKENIZER fallbacks.
 */
export function parseLaunchConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): LaunchConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('The launch configuration must be an object.');
  const parsed = LaunchSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error.issues[0]!));
  const value = parsed.data;
  const cwd = value.cwd === undefined ? undefined : resolve(value.cwd);
  if (cwd !== undefined && (!existsSync(cwd) || !statSync(cwd).isDirectory())) throw new ConfigError(`"cwd" must be an existing folder; ${cwd} is not one.`);
  const base = cwd ?? process.cwd();
  const absolute = (path: string): string => (isAbsolute(path) ? path : resolve(base, path));
  const trace = value.trace === undefined ? undefined : absolute(value.trace);
  // A replay reads the program text from the trace when there is no program (or not the one the trace ran).
  if (value.program === undefined && trace === undefined) {
    throw new ConfigError(`"program" ${PROGRAM_REQUIRED} (or give "trace": a saved trace to step through).`);
  }
  const mode: DebugMode = value.mode ?? (trace !== undefined ? 'actual' : 'compare');
  const program = value.program === undefined ? undefined : absolute(value.program);
  if (program !== undefined) {
    if (!existsSync(program)) throw new ConfigError(`"program" must name an existing Python file; ${program} does not exist.`);
    if (!statSync(program).isFile()) throw new ConfigError(`"program" must name a Python file; ${program} is a folder.`);
  }
  if (value.args !== undefined && value.entry === undefined) {
    throw new ConfigError('"args" needs "entry": name the function that receives the arguments.');
  }
  const endpoints = value.endpoints ?? (env.CWM_ENDPOINT ?? '').split(',').map((url) => url.trim()).filter(Boolean);
  const tokenizer = value.tokenizer ?? (env.CWM_TOKENIZER || undefined);
  if (trace !== undefined) {
    if (mode !== 'actual') throw new ConfigError('"trace" replays a saved trace: use it with "mode": "actual" (or leave "mode" out).');
    if (!existsSync(trace)) throw new ConfigError(`"trace" must name an existing trace file; ${trace} does not exist.`);
    if (!statSync(trace).isFile()) throw new ConfigError(`"trace" must name a trace file (.cwmtrace or .json); ${trace} is a folder.`);
  }
  if (mode !== 'actual') {
    if (endpoints.length === 0) {
      throw new ConfigError(`"endpoints" is required in ${mode} mode: give the URL of a CWM server, e.g. ["http://127.0.0.1:8000"] (or set CWM_ENDPOINT), or use "mode": "actual".`);
    }
    // No tokenizer: a vLLM endpoint tokenizes for the client; connectModel says what to set for the others.
  }
  return {
    program,
    entry: value.entry,
    args: value.args,
    mode,
    endpoints,
    backend: value.backend,
    tokenizer: tokenizer === undefined ? undefined : absolute(tokenizer),
    apiKey: value.apiKey ?? (env.CWM_API_KEY || undefined),
    model: value.model,
    python: value.python,
    stopOnEntry: value.stopOnEntry,
    stopOnDivergence: value.stopOnDivergence,
    temperature: value.temperature,
    sampleTemperature: value.sampleTemperature,
    seed: value.seed,
    samples: value.samples,
    contextTokens: value.contextTokens,
    requestTimeoutMs: value.requestTimeoutMs,
    tracerLimits: value.tracerLimits,
    recordObjects: value.recordObjects,
    cwd,
    trace,
    ...(value.readAhead !== undefined ? { readAhead: value.readAhead } : {}),
  };
}
