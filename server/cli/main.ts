// cwm-debug: the command-line tool. `trace` records the real execution of a Python program; `predict` asks a CWM
// endpoint for the predicted trace; `compare` puts both side by side and points at the first divergence.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EndpointError } from '../endpoint/errors';
import { TokenizerError } from '../cwm/tokenizer';
import { EntryNotFoundError, findEntryPoint } from '../trace/entry';
import { recordTrace, TracerError } from '../tracer/runner';
import { EntryFrameError } from '../tracer/entry-frame';
import type { LiveLocals } from '../trace/compact-locals';
import type { TraceFrame } from '../trace/model';
import {
  CannotRunError, TRACER_OPTION_SPECS, UsageError, checkEntryOptions, checkFormat, checkProgramFile, checkPython, limitsFrom, longestLine, terminalStyle, withPeriod,
} from './common';
import { OVERVIEW, TRACE_HELP } from './help';
import { inCliTerms, tracerProblem, userMessage } from './messages';
import { ModelOptionError } from './model-options';
import { closestName, parseCommandLine } from './options';
import { compareCommand, predictCommand } from './predict';
import { EVAL_USAGE, evalCommand } from './eval';
import { queryCommand } from './query';
import { inputsCommand } from './inputs';
import { TraceTable } from './table';
import { visible } from './terminal';
import { CwmTraceWriter, JsonTraceWriter, TableTraceWriter, type TraceWriter } from './trace-output';

const TRACE_OPTIONS = { ...TRACER_OPTION_SPECS, format: { type: 'string' }, 'no-objects': { type: 'boolean' } } as const;
const FORMATS = ['table', 'cwm', 'json'];


async function traceCommand(argv: string[]): Promise<number> {
  const { values, positionals, programArgs } = parseCommandLine(argv, TRACE_OPTIONS, 'trace');
  if (values.help) {
    process.stdout.write(TRACE_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0
      ? 'trace needs a Python file, e.g. `cwm-debug trace examples/inventory.py`.'
      : `trace takes one Python file, got ${positionals.length} (${positionals.join(', ')}); program arguments go after --.`);
  }
  const format = checkFormat(values.format, FORMATS, 'trace');
  checkEntryOptions(values);
  const limits = limitsFrom(values);
  const file = checkProgramFile(positionals[0]!);
  checkPython(values.python);
  const source = readFileSync(file, 'utf8');
  if (values.args !== undefined && values.entry === undefined && findEntryPoint(source).kind === 'script') {
    throw new UsageError(`--args needs a function to call, and ${positionals[0]} marks none: put "# << START_OF_TRACE" on its def line or pass --entry NAME.`);
  }
  const python = values.python ?? process.env.CWM_DEBUG_PYTHON;
  const style = terminalStyle(values, format === 'table');
  // Rows are gathered and written once per batch of frames (a write per frame costs more than the frame): what the
  // tracer sent so far is on stdout before the next piece of its output is read, so the table still streams.
  let unwritten = '';
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    if (unwritten === '') return;
    const text = unwritten;
    unwritten = '';
    process.stdout.write(text);
  };
  const write = (text: string): void => {
    unwritten += text;
    if (unwritten.length >= 1 << 16) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };
  const drained = async (): Promise<void> => {
    flush();
    if (!process.stdout.writableNeedDrain) return;
    // 'close' too: a reader that went away (`| head`) must not leave the end waiting.
    await new Promise<void>((resolve) => {
      const done = (): void => {
        process.stdout.off('drain', done).off('close', done);
        resolve();
      };
      process.stdout.once('drain', done).once('close', done);
    });
  };
  const writeBytes = (bytes: Buffer): void => {
    flush();
    process.stdout.write(bytes);
  };
  const cwmWriter = format === 'cwm' ? new CwmTraceWriter(write, source, file, drained, writeBytes) : undefined;
  const writer: TraceWriter = cwmWriter ?? (format === 'json' ? new JsonTraceWriter(write, 'actual', file)
    : new TableTraceWriter(write, new TraceTable(style, longestLine(source)), style.color, positionals[0]!));

  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  let count = 0;
  let trace;
  try {
    trace = await recordTrace({
      file, python, entry: values.entry, args: values.args, script: values.script, includePaths: values.include, limits,
      signal: abort.signal, programArgs, ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
      // Object state only shows in JSON (never in the CWM text or the table): recorded for it alone.
      objects: format === 'json' && values['no-objects'] !== true,
      // Frames go straight to stdout: a trace of millions of steps is never held whole.
      keepFrames: false,
      output: process.stdout,
      onBegin: (entry) => writer.begin(entry),
      onNote: (text) => writer.note(inCliTerms(text)),
      onFrame: (frame) => {
        count++;
        writer.frame(frame);
      },
      // The CWM text is encoded as each frame comes, from the stream reader's own locals: no snapshot per frame.
      ...(cwmWriter ? {
        onLiveFrame: (frame: TraceFrame, locals: LiveLocals | undefined) => {
          count++;
          cwmWriter.liveFrame(frame, locals);
        },
      } : {}),
    });
  } catch (error) {
    flush();
    if (error instanceof TracerError && error.kind === 'cancelled') return 130;
    if (error instanceof TracerError) throw tracerProblem(error, { source, file, python });
    throw error;
  }
  const told = { ...trace, end: 'message' in trace.end ? { ...trace.end, message: inCliTerms(trace.end.message) } : trace.end };
  await writer.end(told, count);
  flush();
  // A limit or crash is worth a non-zero exit so scripts notice; a program that raised was still traced faithfully.
  return trace.end.kind === 'limit' || trace.end.kind === 'crashed' ? 3 : 0;
}

/** Errors a user can meet and act on: printed as their one sentence, never as a stack. */
function isUserFacing(error: unknown): error is Error {
  return error instanceof TracerError || error instanceof EndpointError || error instanceof TokenizerError || error instanceof CannotRunError ||
    error instanceof ModelOptionError || error instanceof EntryNotFoundError || error instanceof EntryFrameError;
}

function version(): string {
  for (const candidate of [join(__dirname, '..', 'package.json'), join(__dirname, '..', '..', '..', 'package.json')]) {
    try {
      const parsed = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'cwm-debug' && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // Not there: try the next place.
    }
  }
  return 'unknown';
}

const COMMANDS = ['trace', 'predict', 'compare', 'eval', 'inputs', 'query'];

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'trace':
        return await traceCommand(rest);
      case 'predict':
        return await predictCommand(rest);
      case 'compare':
        return await compareCommand(rest);
      case 'eval':
        return await evalCommand(rest, EVAL_USAGE);
      case 'query':
        return await queryCommand(rest);
      case 'inputs':
        return await inputsCommand(rest);
      case '--version':
      case '-V':
        process.stdout.write(`cwm-debug ${version()}\n`);
        return 0;
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        if (command === 'help' && rest[0] !== undefined && COMMANDS.includes(rest[0])) return await main([rest[0], '--help']);
        process.stdout.write(OVERVIEW);
        return command === undefined ? 2 : 0;
      default: {
        const suggestion = closestName(command.replace(/^-+/, ''), COMMANDS);
        if (command.startsWith('-')) throw new UsageError(`Give a command before the options (${COMMANDS.join(', ')}), e.g. \`cwm-debug trace FILE.py ${command}\`.`);
        throw new UsageError(`Unknown command "${command}".${suggestion ? ` Did you mean ${suggestion}?` : ''} The commands are ${COMMANDS.slice(0, -1).join(', ')} and ${COMMANDS.at(-1)}; run \`cwm-debug --help\`.`);
      }
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`cwm-debug: ${visible(withPeriod(error.message))}\n`);
      return 2;
    }
    if (error instanceof ModelOptionError && !/^No (CWM endpoint|tokenizer) is configured/.test(error.message)) {
      // A bad value of a model option is a bad command line.
      process.stderr.write(`cwm-debug: ${visible(userMessage(error))}\n`);
      return 2;
    }
    if (isUserFacing(error)) {
      process.stderr.write(`cwm-debug: ${visible(userMessage(error))}\n`);
      return 1;
    }
    throw error;
  }
}

if (require.main === module) {
  // `cwm-debug trace x.py | head`: a closed pipe just means nobody reads any more.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`cwm-debug: internal error: ${(error instanceof Error ? error.stack ?? error.message : String(error)).split('\n').map(visible).join('\n')}\n`);
      process.exitCode = 70;
    },
  );
}
