// cwm-debug: the command-line tool. `trace` records the real execution of a Python program; `predict` asks a CWM
// endpoint for the predicted trace; `compare` puts both side by side and points at the first divergence.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { renderTrace } from '../cwm/writer';
import { EndpointError, inCliTerms } from '../endpoint/errors';
import { TokenizerError } from '../cwm/tokenizer';
import type { OutputChunk, TraceFrame } from '../trace/model';
import { EntryNotFoundError } from '../trace/entry';
import { DEFAULT_TRACER_LIMITS, recordTrace, TracerError } from '../tracer/runner';
import { EntryFrameError } from '../tracer/entry-frame';
import {
  TRACER_OPTION_SPECS, UsageError, checkEntryOptions, checkProgramFile, describeEnd, limitsFrom, longestLine, terminalStyle, traceToJson,
} from './common';
import { MODEL_OPTIONS_HELP, ModelOptionError } from './model-options';
import { compareCommand, predictCommand } from './predict';
import { EVAL_USAGE, evalCommand } from './eval';
import { TraceTable, painter } from './table';

const USAGE = `Usage:
  cwm-debug trace FILE.py   [entry options] [tracer options] [--format table|cwm|json]
  cwm-debug predict FILE.py [entry options] [model options] [--format table|cwm|json]
  cwm-debug compare FILE.py [entry options] [tracer options] [model options]
  cwm-debug eval CORPUS     [--endpoint URL ...] [--samples N] [--concurrency C] [--out DIR] [model options]

Commands:
  trace    Run FILE.py under the bundled tracer and print its real execution trace.
  predict  Ask a CWM endpoint to predict the trace, without running anything; frames print as they arrive.
  compare  Record the real trace and the predicted one, and show them side by side with the first divergence.
  eval     Score the model on a corpus of programs (rollouts, next-frame accuracy, breakdowns); writes a report.

Entry options (first that applies): --entry NAME (with --args, a Python argument list such as "[1, 2], 'a'"),
the function whose def line carries "# << START_OF_TRACE", else the whole script (or --script).

Tracer options:
  --python PATH      Python interpreter (default: $CWM_DEBUG_PYTHON, else python3)
  --include PATH     also trace code from this file or folder of your project (repeatable)
  --max-events N     stop after N events (default ${DEFAULT_TRACER_LIMITS.maxEvents})
  --timeout SECONDS  stop after this much wall time (default ${DEFAULT_TRACER_LIMITS.timeoutMs / 1000})
  --max-repr N       cut values longer than N characters (default ${DEFAULT_TRACER_LIMITS.maxReprLength})
  --max-output BYTES stop once the program printed more than this (default ${DEFAULT_TRACER_LIMITS.maxOutputBytes})

${MODEL_OPTIONS_HELP}
${EVAL_USAGE}
Output:
  --format FORMAT    table (default), cwm (the exact text CWM is trained on), json
  --no-color         plain text even on a terminal
  -h, --help         this help

Exit codes: 0 done (also when the program raised), 1 could not run (one sentence on stderr), 2 bad command line,
3 stopped by a limit, 4 compare found a divergence.
`;

async function traceCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...TRACER_OPTION_SPECS, format: { type: 'string', default: 'table' } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('trace needs exactly one Python file, e.g. `cwm-debug trace examples/inventory.py`.');
  const format = values.format ?? 'table';
  if (!['table', 'cwm', 'json'].includes(format)) throw new UsageError(`--format must be table, cwm or json, not "${format}".`);
  checkEntryOptions(values);
  const file = checkProgramFile(positionals[0]!);
  const style = terminalStyle(values, format === 'table');
  const table = new TraceTable(style, longestLine(readFileSync(file, 'utf8')));

  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  let headerPrinted = false;
  const printRow = (frame: TraceFrame): void => {
    if (!headerPrinted) {
      process.stdout.write(table.header() + '\n');
      headerPrinted = true;
    }
    process.stdout.write(table.row(frame) + '\n');
    for (const chunk of mergeOutput(frame.output ?? [])) process.stdout.write(table.output(chunk.text, chunk.stream) + '\n');
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
    const paint = painter(style.color);
    for (const note of trace.notes) process.stdout.write(paint('yellow', `note: ${note}`) + '\n');
    const ended = describeEnd(trace);
    process.stdout.write((trace.end.kind === 'returned' ? paint('green', ended) : paint('yellow', ended)) + '\n');
  }
  // A limit or crash is worth a non-zero exit so scripts notice; a program that raised was still traced faithfully.
  return trace.end.kind === 'limit' || trace.end.kind === 'crashed' ? 3 : 0;
}

/** Consecutive chunks of one stream as one (a print() arrives as its text, then its newline). */
function mergeOutput(chunks: readonly OutputChunk[]): OutputChunk[] {
  const merged: OutputChunk[] = [];
  for (const chunk of chunks) {
    const last = merged[merged.length - 1];
    if (last && last.stream === chunk.stream) merged[merged.length - 1] = { stream: last.stream, text: last.text + chunk.text };
    else merged.push(chunk);
  }
  return merged;
}

/** Errors a user can meet and act on: printed as their one sentence, never as a stack. */
function isUserFacing(error: unknown): error is Error {
  return error instanceof TracerError || error instanceof EndpointError || error instanceof TokenizerError ||
    error instanceof ModelOptionError || error instanceof EntryNotFoundError || error instanceof EntryFrameError;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'trace':
        return await traceCommand(rest);
      case 'predict':
        return await predictCommand(rest, USAGE);
      case 'compare':
        return await compareCommand(rest, USAGE);
      case 'eval':
        return await evalCommand(rest, USAGE);
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
    if (error instanceof UsageError) {
      process.stderr.write(`cwm-debug: ${error.message}\n`);
      return 2;
    }
    if (isUserFacing(error)) {
      // Endpoint messages name VS Code settings; here they name the flags that set the same things.
      process.stderr.write(`cwm-debug: ${error instanceof EndpointError ? inCliTerms(error.message) : error.message}\n`);
      return 1;
    }
    if (error instanceof TypeError && 'code' in error && typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`cwm-debug: ${error.message}. Run \`cwm-debug --help\` for the options.\n`);
      return 2;
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
      process.stderr.write(`cwm-debug: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      process.exitCode = 70;
    },
  );
}
