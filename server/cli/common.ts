// Helpers shared by the cwm-debug commands: option specs and checks, file checks, and how a trace's end is told to the user.

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Trace } from '../trace/model';
export { frameToJson, traceToJson } from '../trace/json';
import type { TracerLimits } from '../tracer/runner';
import { closestName, UsageError } from './options';
import { steps } from './table';
import { displayWidth, terminalWidth } from './terminal';

export { UsageError } from './options';

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
  'max-memory': { type: 'string' },
  cwd: { type: 'string' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The program cannot be run or traced as asked (a file, Python or entry problem): one sentence, exit code 1. */
export class CannotRunError extends Error {}

/** The longest --timeout: setTimeout holds at most 2^31 - 1 ms (about 24.8 days); a round bound well inside it. */
export const MAX_TIMEOUT_SECONDS = 1_000_000;

function boundedNumber(value: string | undefined, flag: string, options: { whole: boolean; max: number; unit: string }): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  const kind = options.whole ? 'a positive whole number' : 'a positive number';
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0 || (options.whole && !Number.isInteger(number))) {
    throw new UsageError(`${flag} needs ${kind} of ${options.unit}, got "${value}".`);
  }
  if (number > options.max) {
    throw new UsageError(`${flag} is at most ${options.max.toLocaleString('en-US')} ${options.unit}, got ${value}.`);
  }
  return number;
}

export function limitsFrom(values: Record<string, unknown>): Partial<TracerLimits> {
  const limits: Partial<TracerLimits> = {};
  const whole = (flag: string, unit: string) => boundedNumber(values[flag.slice(2)] as string | undefined, flag, { whole: true, max: Number.MAX_SAFE_INTEGER, unit });
  const maxEvents = whole('--max-events', 'events');
  if (maxEvents !== undefined) limits.maxEvents = maxEvents;
  const timeout = boundedNumber(values.timeout as string | undefined, '--timeout', { whole: false, max: MAX_TIMEOUT_SECONDS, unit: 'seconds (about 11 days)' });
  if (timeout !== undefined) limits.timeoutMs = Math.max(1, Math.round(timeout * 1000));
  const maxRepr = whole('--max-repr', 'characters');
  if (maxRepr !== undefined) limits.maxReprLength = maxRepr;
  const maxOutput = whole('--max-output', 'bytes');
  if (maxOutput !== undefined) limits.maxOutputBytes = maxOutput;
  const maxMemory = values['max-memory'] as string | undefined;
  if (maxMemory !== undefined) {
    const mb = Number(maxMemory);
    if (!Number.isInteger(mb) || mb < 0) throw new UsageError(`--max-memory needs a whole number of MB (0 for no limit), got "${maxMemory}".`);
    limits.maxMemoryMb = mb;
  }
  return limits;
}

export function checkProgramFile(file: string): string {
  const path = resolve(file);
  if (!existsSync(path)) throw new CannotRunError(`File not found: ${file}. Give the path of a Python file.`);
  if (!statSync(path).isFile()) throw new CannotRunError(`${file} is a folder, not a Python file. Give the path of a .py file in it.`);
  return path;
}

/** `--python PATH` that cannot be an interpreter, told before anything runs. */
export function checkPython(python: string | undefined, flag = '--python'): void {
  if (python === undefined || !python.includes('/')) return;
  if (!existsSync(python)) throw new CannotRunError(`${flag} ${python}: no such file. Give the path of a Python 3.8+ interpreter, e.g. /usr/bin/python3.`);
  if (statSync(python).isDirectory()) {
    const dir = python.replace(/\/+$/, '');
    const example = dir.endsWith('/bin') ? `${dir}/python3` : `${dir}/bin/python3`;
    throw new CannotRunError(`${flag} ${python} is a folder, not a Python interpreter. Give the interpreter file, e.g. ${example}.`);
  }
}

/** One line saying how the trace ended, for the end of a table. */
export function describeEnd(trace: Pick<Trace, 'end' | 'frames'>, stepCount = trace.frames.length): string {
  const end = trace.end;
  switch (end.kind) {
    case 'returned': return `The entry returned after ${steps(stepCount)}.`;
    case 'raised': return `The program raised ${withPeriod(end.message)}`;
    case 'exited': return withPeriod(end.message);
    case 'limit': return `Stopped early: ${withPeriod(end.message)}`;
    case 'crashed': return `The program ended abnormally: ${withPeriod(end.message)}`;
    case 'incomplete': return `The trace is incomplete: ${withPeriod(end.message)}`;
  }
}

/** A sentence ends with a period (an exception message taken from the program may not). */
export function withPeriod(text: string): string {
  const trimmed = text.trimEnd();
  return /[.!?…]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** Entry options that must come together, checked the same way by every command. */
export function checkEntryOptions(values: { entry?: string; args?: string; script?: boolean }): void {
  if (values.script && values.entry !== undefined) throw new UsageError('--script traces the whole file; leave out --entry, or leave out --script.');
  if (values.script && values.args !== undefined) throw new UsageError('--script traces the whole file, which takes no --args; leave out one of them.');
}

export function terminalStyle(values: { 'no-color'?: boolean }, enabled = true): { width: number; color: boolean } {
  return {
    width: terminalWidth(),
    color: enabled && !values['no-color'] && process.stdout.isTTY === true && !process.env.NO_COLOR,
  };
}

export function longestLine(source: string): number {
  let longest = 0;
  for (const line of source.split('\n')) longest = Math.max(longest, displayWidth(line.trimEnd().replace(/\t/g, '    ')));
  return Math.min(80, longest);
}

/** The --format value, refused in one sentence (with the closest format) when the command does not print it. */
export function checkFormat(format: string | undefined, allowed: readonly string[], command: string): string {
  const chosen = format ?? 'table';
  if (allowed.includes(chosen)) return chosen;
  if (command === 'compare' && chosen === 'cwm') {
    throw new UsageError('compare prints a table or json (both traces and their alignment); for the CWM text of one trace use `cwm-debug trace FILE.py --format cwm` or `cwm-debug predict FILE.py --format cwm`.');
  }
  const suggestion = closestName(chosen, allowed);
  const list = allowed.length === 2 ? allowed.join(' or ') : `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}`;
  throw new UsageError(`--format for ${command} is ${list}, not "${chosen}".${suggestion ? ` Did you mean ${suggestion}?` : ''}`);
}
