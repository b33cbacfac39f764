// cwm-debug: the command-line tool. `trace` records the real execution of a Python program as a CWM trace
// and prints it as a table, as the exact CWM token text, or as JSON.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { renderTrace } from '../cwm/writer';
import { localsToObject, type Trace, type TraceFrame } from '../trace/model';
import { DEFAULT_TRACER_LIMITS, recordTrace, TracerError, type TracerLimits } from '../tracer/runner';
import { TraceTable, painter } from './table';

const USAGE = `Usage:
  cwm-debug trace FILE.py [--entry NAME --args EXPR] [--script] [--python PATH] [--format table|cwm|json]
                          [--include PATH]... [--max-events N] [--timeout SECONDS] [--max-repr N] [--max-output BYTES]

Commands:
  trace    Run FILE.py under the bundled tracer and print its real execution trace.

Entry point (first that applies): --entry NAME (with --args, a Python argument list such as "[1, 2], 'a'"),
the function whose def line carries "# << START_OF_TRACE", else the whole script (or --script).

Options:
  --python PATH      Python interpreter (default: $CWM_DEBUG_PYTHON, else python3)
  --format FORMAT    table (default), cwm (the exact text CWM is trained on), json
  --include PATH     also trace code from this file or folder of your project (repeatable)
  --max-events N     stop after N events (default ${DEFAULT_TRACER_LIMITS.maxEvents})
  --timeout SECONDS  stop after this much wall time (default ${DEFAULT_TRACER_LIMITS.timeoutMs / 1000})
  --max-repr N       cut values longer than N characters (default ${DEFAULT_TRACER_LIMITS.maxReprLength})
  --max-output BYTES stop once the program printed more than this (default ${DEFAULT_TRACER_LIMITS.maxOutputBytes})
  --no-color         plain text even on a terminal
  -h, --help         this help
`;

/** A problem with how the tool was called: one sentence, exit code 2. */
class UsageError extends Error {}

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new UsageError(`${flag} needs a positive number, got "${value}".`);
  return number;
}

function limitsFrom(values: Record<string, unknown>): Partial<TracerLimits> {
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

function checkProgramFile(file: string): string {
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

function frameToJson(frame: TraceFrame): Record<string, unknown> {
  return {
    index: frame.index,
    event: frame.event,
    line: frame.line,
    source: frame.sourceLine,
    scope: frame.scope,
    function: frame.functionName,
    depth: frame.depth,
    locals: localsToObject(frame.locals),
    ...(frame.value !== undefined ? { value: frame.value } : {}),
    ...(frame.output?.length ? { output: frame.output } : {}),
  };
}

export function traceToJson(trace: Trace): Record<string, unknown> {
  return {
    origin: trace.origin,
    path: trace.path,
    entry: trace.entry,
    pythonVersion: trace.pythonVersion,
    end: trace.end,
    notes: trace.notes,
    frames: trace.frames.map(frameToJson),
    outsideOutput: trace.outsideOutput,
  };
}

async function traceCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      entry: { type: 'string' },
      args: { type: 'string' },
      script: { type: 'boolean' },
      python: { type: 'string' },
      format: { type: 'string', default: 'table' },
      include: { type: 'string', multiple: true },
      'max-events': { type: 'string' },
      timeout: { type: 'string' },
      'max-repr': { type: 'string' },
      'max-output': { type: 'string' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('trace needs exactly one Python file, e.g. `cwm-debug trace examples/inventory.py`.');
  const format = values.format ?? 'table';
  if (!['table', 'cwm', 'json'].includes(format)) throw new UsageError(`--format must be table, cwm or json, not "${format}".`);
  if (values.args !== undefined && values.entry === undefined) throw new UsageError('--args needs --entry NAME to say which function gets them.');
  if (values.script && values.entry !== undefined) throw new UsageError('--script traces the whole file; leave out --entry, or leave out --script.');
  const file = checkProgramFile(positionals[0]!);
  const color = format === 'table' && !values['no-color'] && process.stdout.isTTY === true && !process.env.NO_COLOR;
  const source = readFileSync(file, 'utf8');
  const longest = Math.min(80, Math.max(...source.split('\n').map((line) => line.trimEnd().length)));
  const table = new TraceTable({ width: process.stdout.columns || 140, color }, longest);

  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  let headerPrinted = false;
  const printRow = (frame: TraceFrame): void => {
    if (!headerPrinted) {
      process.stdout.write(table.header() + '\n');
      headerPrinted = true;
    }
    process.stdout.write(table.row(frame) + '\n');
    for (const chunk of frame.output ?? []) process.stdout.write(table.output(chunk.text, chunk.stream) + '\n');
  };

  const trace = await recordTrace({
    file,
    python: values.python ?? process.env.CWM_DEBUG_PYTHON,
    entry: values.entry,
    args: values.args,
    script: values.script,
    includePaths: values.include,
    limits: limitsFrom(values),
    signal: abort.signal,
    onFrame: format === 'table' ? printRow : undefined,
  });

  if (format === 'cwm') {
    process.stdout.write(renderTrace(trace));
  } else if (format === 'json') {
    process.stdout.write(JSON.stringify(traceToJson(trace), null, 2) + '\n');
  } else {
    const paint = painter(color);
    for (const note of trace.notes) process.stdout.write(paint('yellow', `note: ${note}`) + '\n');
    const ended = describeEnd(trace);
    const good = trace.end.kind === 'returned';
    process.stdout.write((good ? paint('green', ended) : paint('yellow', ended)) + '\n');
  }
  // A limit or crash is worth a non-zero exit so scripts notice; a program that raised was still traced faithfully.
  return trace.end.kind === 'limit' || trace.end.kind === 'crashed' ? 3 : 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'trace':
        return await traceCommand(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`Unknown command "${command}". Run \`cwm-debug --help\` to see the commands.`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof TracerError) {
      process.stderr.write(`cwm-debug: ${error.message}\n`);
      return error instanceof UsageError ? 2 : 1;
    }
    if (error instanceof TypeError && 'code' in error && typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`cwm-debug: ${error.message}. Run \`cwm-debug --help\` for the options.\n`);
      return 2;
    }
    throw error;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`cwm-debug: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      process.exitCode = 70;
    },
  );
}
