// `cwm-debug predict` and `cwm-debug compare`: a predicted trace streamed from a CWM endpoint, and its side-by-side
// comparison with the real run recorded by the tracer.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { alignTraces } from '../compare/align';
import { scoreAlignment } from '../compare/scores';
import { renderTrace } from '../cwm/writer';
import { comparisonHorizon, comparisonStartFrames } from '../engine/compare-prediction';
import { PredictionSession, type SampleResult } from '../engine/session';
import { findEntryPoint } from '../trace/entry';
import { importedProjectFiles } from '../trace/project-files';
import type { EntryPoint, Trace, TraceFrame } from '../trace/model';
import { buildEntryCallFrame } from '../tracer/entry-frame';
import { recordTrace } from '../tracer/runner';
import {
  TRACER_OPTION_SPECS, UsageError, checkEntryOptions, checkProgramFile, describeEnd, frameToJson, limitsFrom, longestLine, terminalStyle, traceToJson,
} from './common';
import { MODEL_OPTION_SPECS, NO_ENDPOINT_MESSAGE, connectModel, modelSettingsFrom, type ConnectedModel } from './model-options';
import { renderScores, renderSideBySide } from './side-by-side';
import { TraceTable, painter, type Paint } from './table';

const OPTIONS = { ...TRACER_OPTION_SPECS, ...MODEL_OPTION_SPECS, format: { type: 'string', default: 'table' } } as const;

function parse(argv: string[], command: string) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  if (positionals.length !== 1 && !values.help) {
    throw new UsageError(`${command} needs exactly one Python file, e.g. \`cwm-debug ${command} examples/inventory.py\`.`);
  }
  const format = values.format ?? 'table';
  if (!['table', 'cwm', 'json'].includes(format)) throw new UsageError(`--format must be table, cwm or json, not "${format}".`);
  checkEntryOptions(values);
  return { values, file: values.help ? '' : checkProgramFile(positionals[0]!), format };
}

/** A predicted trace in the shared model, for the CWM and JSON outputs. */
function predictedTrace(session: PredictionSession, source: string, path: string, entry: EntryPoint): Trace {
  return {
    origin: 'predicted',
    path,
    source,
    entry,
    frames: session.trace,
    malformed: session.malformed,
    end: session.ended ? { kind: 'returned' } : { kind: 'incomplete', message: 'the model did not end the trace' },
    notes: [],
    outsideOutput: [],
  };
}

function interruptible(): AbortSignal {
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  return abort.signal;
}

function printWarnings(model: ConnectedModel, paint: Paint): void {
  for (const client of model.clients) for (const warning of client.warnings) process.stderr.write(paint('yellow', `warning: ${warning}`) + '\n');
}

export async function predictCommand(argv: string[], usage: string): Promise<number> {
  const { values, file, format } = parse(argv, 'predict');
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const source = readFileSync(file, 'utf8');
  const entry = findEntryPoint(source, { entry: values.entry, script: values.script, args: values.args });
  const settings = modelSettingsFrom(values);
  const initialFrames = entry.kind === 'function' && values.args !== undefined
    ? [await buildEntryCallFrame({ source, functionName: entry.name, args: values.args, python: values.python ?? process.env.CWM_DEBUG_PYTHON })]
    : [];
  const style = terminalStyle(values, format === 'table');
  const paint = painter(style.color);
  const model = await connectModel(settings);
  try {
    printWarnings(model, paint);
    // Nothing runs: the context shows the project modules the program imports, as a real run's trace would.
    const files = importedProjectFiles(file, source);
    const session = new PredictionSession({
      source, path: file, files, entry, backend: model.pool, codec: model.codec, initialFrames,
      temperature: settings.temperature, seed: settings.seed, contextTokens: settings.contextTokens,
    });
    session.onNotice = (message) => process.stderr.write(paint('yellow', `note: ${message}`) + '\n');
    const signal = interruptible();
    const table = new TraceTable(style, longestLine(source));
    if (settings.samples > 1) return printSamples(await session.sample(settings.samples, { parallelRequests: model.clients.length > 1, signal }), table, settings.samples, format);

    if (format === 'table') {
      process.stdout.write(table.header() + '\n');
      for (const frame of initialFrames) process.stdout.write(table.row(frame) + '\n');
    }
    await session.runToEnd(signal, format === 'table' ? (frame) => process.stdout.write(table.row(frame) + '\n') : undefined);
    const trace: Trace = { ...predictedTrace(session, source, file, entry), ...(files.length > 0 ? { files } : {}) };
    if (format === 'cwm') process.stdout.write(renderTrace(trace));
    else if (format === 'json') process.stdout.write(JSON.stringify(traceToJson(trace), null, 2) + '\n');
    else {
      for (const bad of session.malformed) process.stdout.write(paint('yellow', `unreadable model output at step ${bad.index}: ${bad.reason}`) + '\n');
      process.stdout.write((session.ended ? paint('green', `The model ended the trace after ${session.trace.length} steps.`)
        : paint('yellow', `The prediction stopped after ${session.trace.length} steps without the end of the trace (token or frame limit).`)) + '\n');
    }
    return 0;
  } finally {
    await model.close();
  }
}

function printSamples(result: SampleResult, table: TraceTable, n: number, format: string): number {
  if (format !== 'table') {
    process.stdout.write(JSON.stringify({
      rollouts: result.rollouts.map((frames) => frames.map((frame) => frameToJson(frame))),
      agreement: result.agreement.map((entry) => ({ ...entry, variables: Object.fromEntries(entry.variables) })),
    }, null, 2) + '\n');
    return 0;
  }
  const first = result.rollouts[0] ?? [];
  process.stdout.write(`${table.header()}   agreement of ${n} rollouts\n`);
  result.agreement.forEach((entry, k) => {
    const frame = first[k];
    const unsure = [...entry.variables].filter(([, v]) => v.count < n).map(([name, v]) => `${name} ${v.count}/${n}`);
    const agreement = `action ${entry.actionCount}/${n}${unsure.length ? `, ${unsure.join(', ')}` : ''}`;
    process.stdout.write(frame ? `${table.row(frame)}   [${agreement}]\n` : `   (step ${entry.index} only in other rollouts: ${agreement})\n`);
  });
  return 0;
}


export async function compareCommand(argv: string[], usage: string): Promise<number> {
  const { values, file, format } = parse(argv, 'compare');
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const source = readFileSync(file, 'utf8');
  const settings = modelSettingsFrom(values);
  const style = terminalStyle(values, format === 'table');
  const paint = painter(style.color);
  const signal = interruptible();
  const real = await recordTrace({
    file, python: values.python ?? process.env.CWM_DEBUG_PYTHON, entry: values.entry, args: values.args, script: values.script,
    includePaths: values.include, limits: limitsFrom(values), signal,
  });
  if (settings.endpoints.length === 0) {
    process.stderr.write(paint('yellow', `${NO_ENDPOINT_MESSAGE} Showing the real trace only.`) + '\n');
    const table = new TraceTable(style, longestLine(source));
    process.stdout.write(table.header() + '\n');
    for (const frame of real.frames) process.stdout.write(table.row(frame) + '\n');
    process.stdout.write(describeEnd(real) + '\n');
    return 0;
  }
  const model = await connectModel(settings);
  try {
    printWarnings(model, paint);
    const initialFrames = comparisonStartFrames(real);
    const session = new PredictionSession({
      source, path: file, files: real.files, entry: real.entry, backend: model.pool, codec: model.codec, initialFrames,
      temperature: settings.temperature, seed: settings.seed, contextTokens: settings.contextTokens,
    });
    session.onNotice = (message) => process.stderr.write(paint('yellow', `note: ${message}`) + '\n');
    const progress = process.stderr.isTTY ? (frame: TraceFrame) => process.stderr.write(`\rpredicting… ${frame.index + 1} steps`) : undefined;
    await session.runUntil(comparisonHorizon(real), signal, progress);
    if (progress) process.stderr.write('\r\x1b[K');
    const predicted = session.trace;
    const alignment = alignTraces(predicted, real.frames);
    const scores = scoreAlignment(alignment, predicted, real.frames, session.malformed);
    if (format === 'json') {
      process.stdout.write(JSON.stringify({
        actual: traceToJson(real), predicted: traceToJson({ ...predictedTrace(session, source, file, real.entry), ...(real.files ? { files: real.files } : {}) }),
        rows: alignment.rows, firstDivergence: alignment.firstDivergence ?? null, scores,
      }, null, 2) + '\n');
    } else {
      for (const line of renderSideBySide(alignment, predicted, real.frames, style)) process.stdout.write(line + '\n');
      for (const bad of session.malformed) process.stdout.write(paint('yellow', `unreadable model output at step ${bad.index}: ${bad.reason}`) + '\n');
      if (!session.ended) process.stdout.write(paint('yellow', 'The prediction stopped without the end of the trace (token or frame limit).') + '\n');
      process.stdout.write(`real run: ${describeEnd(real)}\n`);
      for (const line of renderScores(alignment, scores, paint)) process.stdout.write(line + '\n');
    }
    return alignment.firstDivergence ? 4 : 0;
  } finally {
    await model.close();
  }
}
