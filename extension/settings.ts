// The extension's settings (`cwmDebug.*`), validated with zod: a wrong value falls back to its default and is reported
// once, naming the setting, instead of failing somewhere later.

import * as vscode from 'vscode';
import { z } from 'zod';
import type { BackendKind } from '../server/endpoint/types';

const SettingsSchema = z.object({
  endpoints: z.array(z.string().trim().min(1)).default([]),
  backend: z.enum(['auto', 'fgserve', 'vllm', 'mlx', 'openai']).default('auto'),
  tokenizerPath: z.string().default(''),
  model: z.string().default(''),
  pythonPath: z.string().default(''),
  temperature: z.number().min(0).max(2).default(0),
  sampleTemperature: z.number().gt(0).max(2).default(0.6),
  seed: z.number().int().nullable().default(null),
  samples: z.number().int().min(1).max(64).default(1),
  contextTokens: z.number().int().min(256).nullable().default(null),
  requestTimeoutSeconds: z.number().positive().default(600),
  allowInsecureHttp: z.boolean().default(false),
  tracer: z.object({
    maxEvents: z.number().int().positive().default(100_000),
    timeoutSeconds: z.number().positive().default(30),
    maxReprLength: z.number().int().min(20).default(2000),
    maxOutputBytes: z.number().int().min(0).default(1_000_000),
    /** null: the tracer's default (half of the machine's memory). */
    maxMemoryMb: z.number().int().min(0).nullable().default(null),
  }).default({ maxEvents: 100_000, timeoutSeconds: 30, maxReprLength: 2000, maxOutputBytes: 1_000_000, maxMemoryMb: null }),
  readAhead: z.object({
    enabled: z.boolean().default(true),
    frames: z.number().int().min(1).max(4096).default(64),
    tokens: z.number().int().min(1).max(131072).default(4096),
  }).default({ enabled: true, frames: 64, tokens: 4096 }),
});

export interface ExtensionSettings {
  readonly endpoints: readonly string[];
  readonly backend: BackendKind | 'auto';
  readonly tokenizerPath?: string;
  readonly model?: string;
  readonly pythonPath?: string;
  readonly temperature: number;
  readonly sampleTemperature: number;
  readonly seed?: number;
  readonly samples: number;
  readonly contextTokens?: number;
  readonly requestTimeoutMs: number;
  readonly allowInsecureHttp: boolean;
  readonly tracerLimits: { maxEvents: number; timeoutMs: number; maxReprLength: number; maxOutputBytes: number; maxMemoryMb?: number };
  /** Predict mode's read-ahead (cwmDebug.readAhead.*). */
  readonly readAhead: { enabled: boolean; frames: number; tokens: number };
}

const KEYS = Object.keys(SettingsSchema.shape) as (keyof typeof SettingsSchema.shape)[];
const reported = new Set<string>();

/** Settings for a resource (its workspace folder's values win over the user's), with bad values replaced by defaults. */
export function readSettings(scope?: vscode.ConfigurationScope): ExtensionSettings {
  const config = vscode.workspace.getConfiguration('cwmDebug', scope);
  const raw: Record<string, unknown> = {};
  for (const key of KEYS) {
    const value = config.get(key);
    if (value !== undefined && value !== null) raw[key] = value;
  }
  let parsed = SettingsSchema.safeParse(raw);
  // Drop each bad key in turn so one wrong setting does not take the others' values with it.
  while (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const name = `cwmDebug.${issue.path.map(String).join('.')}`;
    if (!reported.has(name)) {
      reported.add(name);
      void vscode.window.showWarningMessage(`CWM: the setting ${name} is not valid (${issue.message}); its default is used instead.`);
    }
    if (!(key in raw)) break;
    delete raw[key];
    parsed = SettingsSchema.safeParse(raw);
  }
  const value = parsed.success ? parsed.data : SettingsSchema.parse({});
  return {
    endpoints: value.endpoints,
    backend: value.backend,
    ...(value.tokenizerPath ? { tokenizerPath: value.tokenizerPath } : {}),
    ...(value.model ? { model: value.model } : {}),
    ...(value.pythonPath ? { pythonPath: value.pythonPath } : {}),
    temperature: value.temperature,
    sampleTemperature: value.sampleTemperature,
    ...(value.seed !== null ? { seed: value.seed } : {}),
    samples: value.samples,
    ...(value.contextTokens !== null ? { contextTokens: value.contextTokens } : {}),
    requestTimeoutMs: value.requestTimeoutSeconds * 1000,
    allowInsecureHttp: value.allowInsecureHttp,
    tracerLimits: {
      maxEvents: value.tracer.maxEvents,
      timeoutMs: value.tracer.timeoutSeconds * 1000,
      maxReprLength: value.tracer.maxReprLength,
      maxOutputBytes: value.tracer.maxOutputBytes,
      ...(value.tracer.maxMemoryMb !== null ? { maxMemoryMb: value.tracer.maxMemoryMb } : {}),
    },
    readAhead: { ...value.readAhead },
  };
}
