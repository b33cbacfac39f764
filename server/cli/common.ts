// Helpers shared by the cwm-debug commands: option parsing, file checks, and how a trace's end is told to the user.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Trace } from '../trace/model';
export { frameToJson, traceToJson } from '../trace/json';
import type { TracerLimits } from '../tracer/runner';
import { maxOf } from '../trace/arrays';

export const TRACER_OPTION_SPECS = {
  entry: { type: 'string' },
  args: { type: 'string' },
  script: { type: 'boolean' },
  python: { type: 'string' },
  include: { type: 'string', multiple: true },
  'max-events': { type: 'string' },
  timeout: { type: 'string' },
  'max-repr': { type: 'string' },
  'max-output': { type: 'string' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A problem with how the tool was called: one sentence, exit code 2. */
export class UsageError extends Error {}

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new UsageError(`${flag} needs a positive number, got "${value}".`);
  return number;
}

export function limitsFrom(values: Record<string, unknown>): Partial<TracerLimits> {
  const limits: Partial<TracerLimits> = {};
  const maxEvents = positiveNumber(values['max-events'] as string | undefined, '--max-events');
  if (maxEvents !== undefined) limits.maxEvents = Math.floor(maxEvents);
  const timeout = positiveNumber(values.timeout as string | undefined, '--timeout');
  if (timeout !== undefined) limits.timeoutMs = Math.round(timeout * 1000);
  const maxRepr = positiveNumber(values['max-repr'] as string | undefined, '--max-repr');
  if (maxRepr !== undefined) limits.maxReprLength = Math.floor(maxRepr);
  const maxOutput = positiveNumber(values['max-output'] as string | undefined, '--max-output');
  if (maxOutput !== undefined) limits.maxOutputBytes = Math.floor(maxOutput);
  return limits;
}

export function checkProgramFile(file: string): string {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`File not found: ${file}. Give the path of a Python file.`);
  if (!statSync(path).isFile()) throw new UsageError(`${file} is a folder, not a Python file.`);
  return path;
}

/** One line saying how the trace ended, for the end of a table. */
export function describeEnd(trace: Trace): string {
  const end = trace.end;
  switch (end.kind) {
    case 'returned': return `The entry returned after ${trace.frames.length} steps.`;
    case 'raised': return `The program raised: ${end.message}`;
    case 'exited': return end.message;
    case 'limit': return `Stopped early: ${end.message}`;
    case 'crashed': return `The program ended abnormally: ${end.message}`;
    case 'incomplete': return `The trace is incomplete: ${end.message}`;
  }
}

/** Entry options that must come together, checked the same way by every command. */
export function checkEntryOptions(values: { entry?: string; args?: string; script?: boolean }): void {
  if (values.args !== undefined && values.entry === undefined) throw new UsageError('--args needs --entry NAME to say which function gets them.');
  if (values.script && values.entry !== undefined) throw new UsageError('--script traces the whole file; leave out --entry, or leave out --script.');
}

export function terminalStyle(values: { 'no-color'?: boolean }, enabled = true): { width: number; color: boolean } {
  return {
    width: process.stdout.columns || 140,
    color: enabled && !values['no-color'] && process.stdout.isTTY === true && !process.env.NO_COLOR,
  };
}

export function longestLine(source: string): number {
  return Math.min(80, maxOf(source.split('\n').map((line) => line.trimEnd().length), 0));
}
