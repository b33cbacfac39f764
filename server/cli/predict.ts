// `cwm-debug predict` and `cwm-debug compare`: a predicted trace streamed from a CWM endpoint, and its side-by-side
// comparison with the real run recorded by the tracer.

import { readFileSync } from 'node:fs';
import { alignTraces } from '../compare/align';
import { scoreAlignment } from '../compare/scores';
import { renderTrace } from '../cwm/writer';
import { definitionOn, splitSourceLines } from '../cwm/lines';
import { TokenizerError } from '../cwm/tokenizer';
import { EndpointError } from '../endpoint/errors';
import { comparisonHorizon, comparisonStartFrames } from '../engine/compare-prediction';
import { PredictionSession, type SampleResult } from '../engine/session';
import type { FlowCheckStats } from '../engine/checked-rollout';
import { EntryNotFoundError, findEntryPoint } from '../trace/entry';
import { importedProjectFiles } from '../trace/project-files';
import { START_OF_TRACE_MARKER, type EntryPoint, type Trace, type TraceFrame } from '../trace/model';
import { buildEntryCallFrame } from '../tracer/entry-frame';
import { recordTrace, TracerError } from '../tracer/runner';
import {
  CannotRunError, TRACER_OPTION_SPECS, UsageError, checkEntryOptions, checkFormat, checkProgramFile, checkPython, describeEnd, frameToJson, limitsFrom,
  longestLine, terminalStyle, traceToJson,
} from './common';
import { connectModel, type ConnectedModel } from '../engine/connect-model';
import { COMPARE_HELP, PREDICT_HELP } from './help';
import { inCliTerms, tracerProblem, userMessage, withFunctionList } from './messages';
import { MODEL_OPTION_SPECS, ModelOptionError, NO_ENDPOINT_MESSAGE, modelSettingsFrom, type ModelSettings } from './model-options';
import { parseCommandLine } from './options';
import { renderScores, renderSideBySide } from './side-by-side';
import { TraceTable, painter, steps, wrap, type Paint } from './table';
import { fitWidth, padEndWidth, visible } from './terminal';
import { entryLine, terminalSafeJson } from './trace-output';

const PREDICT_OPTIONS = {
  entry: TRACER_OPTION_SPECS.entry, args: TRACER_OPTION_SPECS.args, script: TRACER_OPTION_SPECS.script, python: TRACER_OPTION_SPECS.python,
  'no-color': TRACER_OPTION_SPECS['no-color'], help: TRACER_OPTION_SPECS.help, ...MODEL_OPTION_SPECS, format: { type: 'string' },
} as const;
const COMPARE_OPTIONS = { ...TRACER_OPTION_SPECS, ...MODEL_OPTION_SPECS, format: { type: 'string' } } as const;

function needOneFile(positionals: readonly string[], command: string): string {
  if (positionals.length === 1) return positionals[0]!;
  throw new UsageError(positionals.length === 0
    ? `${command} needs a Python file, e.g. \`cwm-debug ${command} examples/inventory.py\`.`
    : `${command} takes one Python file, got ${positionals.length} (${positionals.join(', ')}).`);
}

/** Def lines carrying the START_OF_TRACE marker: more than one is refused (which would be the entry?). */
export function refuseTwoMarkedFunctions(source: string, file: string): void {
  const marked: { name: string; line: number }[] = [];
  splitSourceLines(source).forEach((text, index) => {
    const definition = definitionOn(text);
    if (text.includes(START_OF_TRACE_MARKER) && definition?.kind === 'def') marked.push({ name: definition.name, line: index + 1 });
  });
  if (marked.length > 1) {
    throw new CannotRunError(`Two functions of ${file} carry the START_OF_TRACE marker: "${marked[0]!.name}" (line ${marked[0]!.line}) and ` +
      `"${marked[1]!.name}" (line ${marked[1]!.line}). Keep the marker on one of them, or pass --entry NAME.`);
  }
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

function printWarnings(model: ConnectedModel, paint: Paint, width: number): void {
  for (const client of model.clients) {
    for (const warning of client.warnings) process.stderr.write(paint('yellow', wrap(`warning: ${inCliTerms(warning)}`, width, '  ').join('\n')) + '\n');
  }
}

function noticePrinter(paint: Paint, width: number): (message: string) => void {
  return (message) => process.stderr.write(paint('yellow', wrap(`note: ${inCliTerms(message)}`, width, '  ').join('\n')) + '\n');
}

export function findEntry(source: string, file: string, values: { entry?: string; script?: boolean; args?: string }): EntryPoint {
  if (values.entry === undefined && !values.script) refuseTwoMarkedFunctions(source, file);
  try {
    const entry = findEntryPoint(source, values);
    return entry.kind === 'function' && values.args !== undefined ? { ...entry, args: values.args } : entry;
  } catch (error) {
    if (error instanceof EntryNotFoundError) throw new CannotRunError(withFunctionList(`No function named ${values.entry ?? ''} in ${file}; check --entry`, source, file));
    throw error;
  }
}

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, PREDICT_OPTIONS, 'predict');
  if (values.help) {
    process.stdout.write(PREDICT_HELP);
    return 0;
  }
  const given = needOneFile(positionals, 'predict');
  const format = checkFormat(values.format, ['table', 'cwm', 'json'], 'predict');
  checkEntryOptions(values);
  const settings = modelSettingsFrom(values);
  if (settings.samples > 1 && format === 'cwm') {
    throw new UsageError('--samples prints a table or json (several rollouts and their agreement), not cwm; leave out --format cwm or --samples.');
  }
  const file = checkProgramFile(given);
  checkPython(values.python);
  const source = readFileSync(file, 'utf8');
  const entry = findEntry(source, given, values);
  if (values.args !== undefined && entry.kind !== 'function') {
    throw new UsageError('--args needs a function to call: mark its def line with "# << START_OF_TRACE" or pass --entry NAME.');
  }
  const initialFrames = entry.kind === 'function' && values.args !== undefined
    ? [await buildEntryCallFrame({ source, functionName: entry.name, args: values.args })]
    : [];
  const style = terminalStyle(values, format === 'table');
  const paint = painter(style.color);
  const model = await connectModel(settings);
  try {
    printWarnings(model, paint, style.width);
    // Nothing runs: the context shows the project modules the program imports, as a real run's trace would.
    const files = importedProjectFiles(file, source);
    const session = new PredictionSession({
      source, path: file, files, entry, backend: model.pool, codec: model.codec, initialFrames,
      temperature: settings.temperature, sampleTemperature: settings.sampleTemperature, seed: settings.seed, contextTokens: settings.contextTokens,
      // The symbolic checks parse the program (never run it) with python3: --python is for runs, and predict runs nothing.
    });
    session.onNotice = noticePrinter(paint, style.width);
    const signal = interruptible();
    if (settings.samples > 1) {
      const result = await session.sample(settings.samples, { parallelRequests: model.clients.length > 1, signal });
      return printSamples(result, settings.samples, format, style, longestLine(source), initialFrames.length);
    }
    let table = new TraceTable(style, longestLine(source));
    if (format === 'table' && entry.kind === 'script') process.stdout.write(paint('yellow', table.message(entryLine(entry, given, 'predicted'))) + '\n');
    // The header waits for the first predicted frame: it has a `sure` column when the endpoint gave confidence.
    let headed = false;
    const head = (first: TraceFrame | undefined): void => {
      if (headed) return;
      headed = true;
      if (first?.confidence !== undefined) table = new TraceTable({ ...style, confidence: true }, longestLine(source));
      process.stdout.write(table.header() + '\n');
      for (const frame of initialFrames) process.stdout.write(table.row(frame) + '\n');
    };
    await session.runToEnd(signal, format === 'table' ? (frame) => {
      head(frame);
      process.stdout.write(table.row(frame) + '\n');
    } : undefined);
    if (format === 'table') head(undefined);
    const trace: Trace = { ...predictedTrace(session, source, file, entry), ...(files.length > 0 ? { files } : {}) };
    if (format === 'cwm') process.stdout.write(renderTrace(trace) + '\n');
    else if (format === 'json') process.stdout.write(terminalSafeJson(traceToJson(trace), 2) + '\n');
    else {
      for (const bad of session.malformed) process.stdout.write(paint('yellow', table.message(`unreadable model output at step ${bad.index}: ${bad.reason}`)) + '\n');
      const checks = flowCheckSummary(session.flow.stats);
      if (checks !== undefined) process.stdout.write(paint('yellow', table.message(checks)) + '\n');
      process.stdout.write((session.ended ? paint('green', table.message(`The model ended the trace after ${steps(session.trace.length)}.`))
        : paint('yellow', table.message(`The prediction stopped after ${steps(session.trace.length)} without the end of the trace (token or frame limit).`))) + '\n');
    }
    return 0;
  } finally {
    await model.close();
  }
}

/** What the symbolic checks did, when they found an impossible step. */
export function flowCheckSummary(stats: FlowCheckStats): string | undefined {
  if (stats.impossible === 0) return undefined;
  const kept = stats.marked > 0 ? `; ${stats.marked} kept with their mark (no re-sample was possible)` : '';
  return `The symbolic checks caught ${stats.impossible} impossible ${stats.impossible === 1 ? 'step' : 'steps'}: ` +
    `${stats.resamples} ${stats.resamples === 1 ? 're-sample' : 're-samples'} replaced ${stats.fixed}${kept}.`;
}

/** The agreement column's widest: `action 3/3, name 2/3, ...` is cut to this. */
const AGREEMENT_MAX_WIDTH = 24;

function printSamples(result: SampleResult, n: number, format: string, style: { width: number; color: boolean }, longest: number, given: number): number {
  if (format !== 'table') {
    process.stdout.write(terminalSafeJson({
      rollouts: result.rollouts.map((frames) => frames.map((frame) => frameToJson(frame))),
      agreement: result.agreement.map((entry) => ({ ...entry, variables: Object.fromEntries(entry.variables) })),
    }, 2) + '\n');
    return 0;
  }
  const texts = result.agreement.map((entry) => {
    const unsure = [...entry.variables].filter(([, v]) => v.count < n).map(([name, v]) => `${visible(name)} ${v.count}/${n}`);
    return `action ${entry.actionCount}/${n}${unsure.length ? `, ${unsure.join(', ')}` : ''}`;
  });
  const heading = `agreement of ${n}`;
  const agreementWidth = Math.min(AGREEMENT_MAX_WIDTH, texts.reduce((widest, text) => Math.max(widest, text.length), heading.length));
  const table = new TraceTable({ ...style, width: style.width - agreementWidth - 1 }, longest);
  const first = result.rollouts[0] ?? [];
  process.stdout.write(`${padEndWidth(table.header(), table.width)} ${heading}\n`);
  let fullActions = 0;
  let agreeingValues = 0;
  let values = 0;
  result.agreement.forEach((entry, k) => {
    const frame = first[k];
    if (entry.actionCount === n) fullActions++;
    for (const variable of entry.variables.values()) {
      values++;
      if (variable.count === n) agreeingValues++;
    }
    const agreement = fitWidth(texts[k]!, agreementWidth);
    const row = frame ? table.row(frame, true) : fitWidth(`   (step ${entry.index} only in other rollouts)`, table.width);
    process.stdout.write(`${padEndWidth(row, table.width)} ${agreement}\n`);
  });
  const lengths = result.rollouts.map((frames) => frames.length + given);
  const ended = result.rollouts.filter((frames) => frames.at(-1)?.event === 'return' && frames.at(-1)?.depth === 0).length;
  const actionShare = result.agreement.length ? Math.round((100 * fullActions) / result.agreement.length) : 100;
  const valueShare = values ? Math.round((100 * agreeingValues) / values) : 100;
  const how = ended === n ? `all ${n} rollouts ended with the entry returning` : `${ended} of ${n} rollouts ended with the entry returning, the others stopped early`;
  const summary = `${how} (${lengths.map((l) => steps(l)).join(', ')}). Overall agreement: all ${n} agree on the action at ${actionShare}% of ` +
    `${steps(result.agreement.length)} and on ${valueShare}% of the values.`;
  for (const line of wrap(summary.charAt(0).toUpperCase() + summary.slice(1), style.width, '  ')) process.stdout.write(line + '\n');
  return 0;
}

/** Errors that make the model unusable for this comparison (the real trace is still worth printing). */
function isModelProblem(error: unknown): error is Error {
  return error instanceof EndpointError || error instanceof TokenizerError || error instanceof ModelOptionError;
}

function printRealOnly(real: Trace, format: string, style: { width: number; color: boolean }, reason: string): void {
  if (format === 'json') {
    process.stdout.write(terminalSafeJson({ actual: traceToJson(real), predicted: null, predictionError: reason }, 2) + '\n');
    return;
  }
  const table = new TraceTable(style, longestLine(real.source));
  process.stdout.write(table.header() + '\n');
  for (const frame of real.frames) process.stdout.write(table.row(frame) + '\n');
  process.stdout.write(table.message(`real run: ${describeEnd(real)}`) + '\n');
}

export async function compareCommand(argv: string[]): Promise<number> {
  const { values, positionals, programArgs } = parseCommandLine(argv, COMPARE_OPTIONS, 'compare');
  if (values.help) {
    process.stdout.write(COMPARE_HELP);
    return 0;
  }
  const given = needOneFile(positionals, 'compare');
  const format = checkFormat(values.format, ['table', 'json'], 'compare');
  checkEntryOptions(values);
  const limits = limitsFrom(values);
  const settings: ModelSettings = modelSettingsFrom(values);
  const file = checkProgramFile(given);
  checkPython(values.python);
  const source = readFileSync(file, 'utf8');
  const style = terminalStyle(values, format === 'table');
  const paint = painter(style.color);
  const signal = interruptible();
  const python = values.python ?? process.env.CWM_DEBUG_PYTHON;
  let real: Trace;
  try {
    real = await recordTrace({
      file, python, entry: values.entry, args: values.args, script: values.script, includePaths: values.include, limits, signal, programArgs,
        ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
    });
  } catch (error) {
    if (error instanceof TracerError && error.kind === 'cancelled') return 130;
    if (error instanceof TracerError) throw tracerProblem(error, { source, file, python });
    throw error;
  }
  real = { ...real, notes: real.notes.map(inCliTerms), end: 'message' in real.end ? { ...real.end, message: inCliTerms(real.end.message) } : real.end };
  const say = (text: string): void => {
    process.stderr.write(paint('yellow', wrap(text, style.width, '  ').join('\n')) + '\n');
  };
  if (settings.endpoints.length === 0) {
    printRealOnly(real, format, style, NO_ENDPOINT_MESSAGE);
    say(`${NO_ENDPOINT_MESSAGE} Above is the real trace only.`);
    return 0;
  }
  let model: ConnectedModel;
  try {
    model = await connectModel(settings);
  } catch (error) {
    if (!isModelProblem(error)) throw error;
    const reason = userMessage(error);
    printRealOnly(real, format, style, reason);
    say(`No prediction: ${reason}`);
    return 1;
  }
  try {
    printWarnings(model, paint, style.width);
    const initialFrames = comparisonStartFrames(real);
    const session = new PredictionSession({
      source, path: file, files: real.files, entry: real.entry, backend: model.pool, codec: model.codec, initialFrames,
      temperature: settings.temperature, sampleTemperature: settings.sampleTemperature, seed: settings.seed, contextTokens: settings.contextTokens,
      ...(python !== undefined ? { flowPython: python } : {}),
    });
    session.onNotice = noticePrinter(paint, style.width);
    const progress = process.stderr.isTTY ? (frame: TraceFrame) => process.stderr.write(`\rpredicting… ${steps(frame.index + 1)}`) : undefined;
    try {
      await session.runUntil(comparisonHorizon(real), signal, progress);
    } catch (error) {
      if (progress) process.stderr.write('\r\x1b[K');
      if (!isModelProblem(error)) throw error;
      const reason = userMessage(error);
      printRealOnly(real, format, style, reason);
      say(`No prediction: ${reason}`);
      return 1;
    }
    if (progress) process.stderr.write('\r\x1b[K');
    const predicted = session.trace;
    const alignment = alignTraces(predicted, real.frames);
    const scores = scoreAlignment(alignment, predicted, real.frames, session.malformed);
    if (format === 'json') {
      process.stdout.write(terminalSafeJson({
        actual: traceToJson(real), predicted: traceToJson({ ...predictedTrace(session, source, file, real.entry), ...(real.files ? { files: real.files } : {}) }),
        rows: alignment.rows, firstDivergence: alignment.firstDivergence ?? null, scores,
      }, 2) + '\n');
    } else {
      const message = (text: string): string => wrap(text, style.width, '  ').join('\n');
      if (real.entry.kind === 'script') process.stdout.write(paint('yellow', message(entryLine(real.entry, given))) + '\n');
      for (const line of renderSideBySide(alignment, predicted, real.frames, style)) process.stdout.write(line + '\n');
      for (const bad of session.malformed) process.stdout.write(paint('yellow', message(`unreadable model output at step ${bad.index}: ${bad.reason}`)) + '\n');
      if (!session.ended) process.stdout.write(paint('yellow', message('The prediction stopped without the end of the trace (token or frame limit).')) + '\n');
      process.stdout.write(message(`real run: ${describeEnd(real)}`) + '\n');
      for (const line of renderScores(alignment, scores, paint, style.width)) process.stdout.write(line + '\n');
    }
    return alignment.firstDivergence ? 4 : 0;
  } finally {
    await model.close();
  }
}
