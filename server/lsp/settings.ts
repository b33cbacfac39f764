// The language server's settings (section `cwmDebug`, pulled from the client per request), validated with zod:
// defaults for missing keys, a message naming the setting for a bad value, and the CLI's environment fallbacks.

import { z } from 'zod';
import type { ModelSettings } from '../engine/connect-model';
import type { BackendKind } from '../endpoint/types';
import { DEFAULT_TRACER_LIMITS, type TracerLimits } from '../tracer/runner';

export const SETTINGS_SECTION = 'cwmDebug';

const optionalText = z.string({ error: 'must be text' }).nullish();
const optionalNumber = <T extends z.ZodNumber>(schema: T) => schema.nullish();

// Unknown keys (settings of other features in the same section) are ignored; null is what VS Code gives for an unset
// setting without a default, so it counts as missing.
const SettingsSchema = z.object({
  endpoints: z.array(z.string({ error: 'must be a list of URLs' }), { error: 'must be a list of URLs' }).nullish(),
  backend: z.enum(['auto', 'fgserve', 'vllm', 'mlx', 'openai'], { error: 'must be one of auto, fgserve, vllm, mlx, openai' }).nullish(),
  tokenizerPath: optionalText,
  model: optionalText,
  temperature: optionalNumber(z.number({ error: 'must be a number from 0 to 2' }).min(0, 'must be a number from 0 to 2').max(2, 'must be a number from 0 to 2')),
  seed: optionalNumber(z.number({ error: 'must be a whole number' }).int('must be a whole number')),
  contextTokens: optionalNumber(z.number({ error: 'must be a whole number of at least 256' }).int('must be a whole number of at least 256').min(256, 'must be a whole number of at least 256')),
  requestTimeoutMs: optionalNumber(z.number({ error: 'must be a positive number of milliseconds' }).positive('must be a positive number of milliseconds')),
  /** The extension's own spelling of the timeout (seconds); requestTimeoutMs wins when both are set. */
  requestTimeoutSeconds: optionalNumber(z.number({ error: 'must be a positive number of seconds' }).positive('must be a positive number of seconds')),
  pythonPath: optionalText,
  allowInsecureHttp: z.boolean({ error: 'must be true or false' }).nullish(),
  tracer: z.object({
    maxEvents: optionalNumber(z.number({ error: 'must be a whole number of at least 1' }).int('must be a whole number of at least 1').min(1, 'must be a whole number of at least 1')),
    timeoutSeconds: optionalNumber(z.number({ error: 'must be a number of seconds of at least 0.1' }).min(0.1, 'must be a number of seconds of at least 0.1')),
    maxReprLength: optionalNumber(z.number({ error: 'must be a whole number of at least 20' }).int('must be a whole number of at least 20').min(20, 'must be a whole number of at least 20')),
    maxOutputBytes: optionalNumber(z.number({ error: 'must be a whole number of at least 0' }).int('must be a whole number of at least 0').min(0, 'must be a whole number of at least 0')),
    maxMemoryMb: optionalNumber(z.number({ error: 'must be a whole number of MB, 0 for no limit' }).int('must be a whole number of MB, 0 for no limit').min(0, 'must be a whole number of MB, 0 for no limit')),
  }, { error: 'must be an object' }).nullish(),
}, { error: 'must be an object' });

/** A setting has a value the server cannot use; the message names it. */
export class SettingsError extends Error {}

export interface ServerSettings {
  readonly endpoints: readonly string[];
  readonly backend: BackendKind | 'auto';
  readonly tokenizerPath?: string;
  readonly model?: string;
  readonly temperature: number;
  readonly seed?: number;
  readonly contextTokens?: number;
  readonly requestTimeoutMs: number;
  readonly pythonPath?: string;
  readonly allowInsecureHttp: boolean;
  /** The memory limit only when set: the runner's default (a share of this machine's memory) applies otherwise. */
  readonly tracerLimits: Omit<TracerLimits, 'maxMemoryMb'> & Partial<Pick<TracerLimits, 'maxMemoryMb'>>;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 600_000;

function nonEmpty(text: string | null | undefined): string | undefined {
  const trimmed = text?.trim();
  return trimmed ? trimmed : undefined;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 40 ? `${json.slice(0, 40)}…` : json;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

/**
 * The settings from the client's `cwmDebug` section (undefined or null: all defaults), with the environment filling in
 * what is not set: CWM_ENDPOINT (comma-separated), CWM_TOKENIZER, CWM_DEBUG_PYTHON.
 */
export function parseServerSettings(raw: unknown, env: NodeJS.ProcessEnv = process.env): ServerSettings {
  const parsed = SettingsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.filter((key) => typeof key === 'string' || typeof key === 'number');
    const topLevel = path.length === 0;
    const name = topLevel ? SETTINGS_SECTION : `${SETTINGS_SECTION}.${path.filter((key) => typeof key === 'string').join('.')}`;
    const where = typeof path[path.length - 1] === 'number' ? ` (item ${Number(path[path.length - 1]) + 1})` : '';
    throw new SettingsError(`The setting ${name}${where} ${issue.message} (it is ${describeValue(valueAt(raw, path))}); fix it in the settings.`);
  }
  const value = parsed.data;
  const configured = (value.endpoints ?? []).map((url) => url.trim()).filter(Boolean);
  const endpoints = configured.length > 0 ? configured : (env.CWM_ENDPOINT ?? '').split(',').map((url) => url.trim()).filter(Boolean);
  const tokenizerPath = nonEmpty(value.tokenizerPath) ?? nonEmpty(env.CWM_TOKENIZER);
  const model = nonEmpty(value.model);
  const pythonPath = nonEmpty(value.pythonPath) ?? nonEmpty(env.CWM_DEBUG_PYTHON);
  const tracer = value.tracer ?? {};
  return {
    endpoints,
    backend: value.backend ?? 'auto',
    ...(tokenizerPath !== undefined ? { tokenizerPath } : {}),
    ...(model !== undefined ? { model } : {}),
    temperature: value.temperature ?? 0,
    ...(value.seed != null ? { seed: value.seed } : {}),
    ...(value.contextTokens != null ? { contextTokens: value.contextTokens } : {}),
    requestTimeoutMs: value.requestTimeoutMs ?? (value.requestTimeoutSeconds != null ? value.requestTimeoutSeconds * 1000 : DEFAULT_REQUEST_TIMEOUT_MS),
    ...(pythonPath !== undefined ? { pythonPath } : {}),
    allowInsecureHttp: value.allowInsecureHttp ?? false,
    tracerLimits: {
      maxEvents: tracer.maxEvents ?? DEFAULT_TRACER_LIMITS.maxEvents,
      timeoutMs: tracer.timeoutSeconds != null ? Math.round(tracer.timeoutSeconds * 1000) : DEFAULT_TRACER_LIMITS.timeoutMs,
      maxReprLength: tracer.maxReprLength ?? DEFAULT_TRACER_LIMITS.maxReprLength,
      maxOutputBytes: tracer.maxOutputBytes ?? DEFAULT_TRACER_LIMITS.maxOutputBytes,
      ...(tracer.maxMemoryMb != null ? { maxMemoryMb: tracer.maxMemoryMb } : {}),
    },
  };
}

/** What connectModel needs, with the API key from the request or $CWM_API_KEY (never from settings, never logged). */
export function modelSettingsOf(settings: ServerSettings, apiKey: string | undefined, env: NodeJS.ProcessEnv = process.env): ModelSettings {
  const key = apiKey || env.CWM_API_KEY || undefined;
  return {
    endpoints: settings.endpoints,
    backend: settings.backend,
    ...(settings.tokenizerPath !== undefined ? { tokenizerPath: settings.tokenizerPath } : {}),
    ...(key !== undefined ? { apiKey: key } : {}),
    ...(settings.model !== undefined ? { model: settings.model } : {}),
    samples: 1,
    temperature: settings.temperature,
    ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
    ...(settings.contextTokens !== undefined ? { contextTokens: settings.contextTokens } : {}),
    requestTimeoutMs: settings.requestTimeoutMs,
  };
}
