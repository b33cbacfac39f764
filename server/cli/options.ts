// Command-line parsing for cwm-debug: Node's parseArgs behind a check that turns every mistake into one sentence
// naming the option and offering the right spelling, and that takes everything after `--` as the program's arguments.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { editDistance } from '../trace/edit-distance';

/** A problem with how the tool was called: one sentence, exit code 2. */
export class UsageError extends Error {}

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** The closest known name, when one is close enough to be what the user meant. */
export function closestName(given: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = name.startsWith(given) || given.startsWith(name) ? Math.min(1, editDistance(given, name)) : editDistance(given, name);
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(given.length / 3)) ? best : undefined;
}

/** Options that other commands take, to say where a misplaced one belongs. */
const OPTION_HOMES: Readonly<Record<string, string>> = {
  samples: 'predict and eval', temperature: 'predict, compare and eval', endpoint: 'predict, compare and eval',
  tokenizer: 'predict, compare and eval', include: 'trace and compare', concurrency: 'eval', out: 'eval', limit: 'eval',
};

export interface ParsedCommandLine<T extends OptionSpecs> {
  values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>>['values'];
  positionals: string[];
  /** What came after `--`: the traced program's own arguments. */
  programArgs: string[];
}

/**
 * Parses one command's arguments. Every error is a UsageError in one sentence: an unknown option (with the closest
 * spelling, or the command that takes it), a value missing or given to a flag that takes none. A value may start
 * with a dash (`--args -1`): it is passed on as `--args=-1`, which Node's parser takes without complaint.
 */
export function parseCommandLine<T extends OptionSpecs>(argv: readonly string[], options: T, command: string): ParsedCommandLine<T> {
  const separator = argv.indexOf('--');
  const own = separator < 0 ? [...argv] : argv.slice(0, separator);
  const programArgs = separator < 0 ? [] : argv.slice(separator + 1);
  const longNames = Object.keys(options);
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(options)) if (spec.short) shorts.set(spec.short, name);
  const normalized: string[] = [];
  for (let i = 0; i < own.length; i++) {
    const token = own[i]!;
    if (token === '-' || !token.startsWith('-')) {
      normalized.push(token);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (token.startsWith('--')) {
      const equals = token.indexOf('=');
      name = equals < 0 ? token.slice(2) : token.slice(2, equals);
      value = equals < 0 ? undefined : token.slice(equals + 1);
    } else {
      const long = shorts.get(token.slice(1));
      if (long === undefined) {
        if (/^-\d/.test(token)) throw new UsageError(`"${token}" is not an option of ${command}; to pass it to the program, put it after --, e.g. \`cwm-debug ${command} FILE.py -- ${token}\`.`);
        throw new UsageError(`${command} has no option ${token}; run \`cwm-debug ${command} --help\` for its options.`);
      }
      name = long;
    }
    const spec = options[name];
    if (spec === undefined) {
      const suggestion = closestName(name, longNames);
      const home = OPTION_HOMES[name];
      if (suggestion !== undefined) throw new UsageError(`${command} has no option --${name}; did you mean --${suggestion}?`);
      if (home !== undefined) throw new UsageError(`--${name} is an option of ${home}, not of ${command}.`);
      throw new UsageError(`${command} has no option --${name}; run \`cwm-debug ${command} --help\` for its options.`);
    }
    if (spec.type === 'boolean') {
      if (value !== undefined) throw new UsageError(`--${name} takes no value; write just --${name}.`);
      normalized.push(`--${name}`);
      continue;
    }
    if (value === undefined) {
      const next = own[i + 1];
      const nextIsOption = next !== undefined && next.startsWith('--') && longNames.includes(next.slice(2).split('=')[0]!);
      if (next === undefined || nextIsOption) throw new UsageError(`--${name} needs a value, e.g. --${name} ${placeholder(name)}.`);
      value = next;
      i++;
    }
    normalized.push(`--${name}=${value}`);
  }
  try {
    const { values, positionals } = parseArgs({ args: normalized, options, allowPositionals: true, strict: true });
    return { values, positionals, programArgs } as ParsedCommandLine<T>;
  } catch (error) {
    // Checked above, so this is a case the checks missed: still one sentence, never Node's own text.
    throw new UsageError(`The command line of ${command} could not be read (${error instanceof Error ? error.message.split('.')[0] : String(error)}); run \`cwm-debug ${command} --help\`.`);
  }
}

function placeholder(name: string): string {
  switch (name) {
    case 'entry': return 'NAME';
    case 'args': return '"1, 2"';
    case 'format': return 'json';
    case 'python': return '/usr/bin/python3';
    case 'endpoint': return 'http://127.0.0.1:8000';
    case 'tokenizer': return 'PATH/tokenizer.model';
    case 'timeout': case 'request-timeout': return '60';
    default: return 'VALUE';
  }
}
