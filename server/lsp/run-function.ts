// `cwm/runFunction`: predicts the full trace of one function of a document, and in compare mode also records its real run
// and aligns both. Built from the same pieces as `cwm-debug predict/compare`; every failure becomes a RunError in words.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { compareTraces, type Alignment } from '../compare';
import { describeEnd } from '../cli/common';
import { connectModel, ModelOptionError, type ConnectedModel } from '../engine/connect-model';
import { TokenizerError } from '../cwm/tokenizer';
import { EndpointError } from '../endpoint/errors';
import { endpointTransportProblem } from '../endpoint/policy';
import { comparisonHorizon, comparisonStartFrames } from '../engine/compare-prediction';
import { PredictionSession } from '../engine/session';
import type { EntryPoint, Trace, TraceFrame } from '../trace/model';
import { buildEntryCallFrame, EntryFrameError } from '../tracer/entry-frame';
import { recordTrace, TracerError } from '../tracer/runner';
import { findFunctions, type PythonFunction } from '../trace/functions';
import type { RunFunctionErrorKind, RunFunctionParams, RunFunctionResult } from './protocol';
import { modelSettingsOf, type ServerSettings } from './settings';
import { appendAll } from '../trace/arrays';

/** A run that could not be done; `kind` goes to the client as the error's data. */
export class RunError extends Error {
  constructor(readonly kind: RunFunctionErrorKind, message: string) {
    super(message);
  }
}

export interface RunContext {
  /** The document's text now (what the prediction is about). */
  readonly source: string;
  readonly settings: ServerSettings;
  readonly signal: AbortSignal;
  /** A phase of the run ("Running f…"). */
  readonly onPhase: (message: string) => void;
  /** Predicted frames so far. */
  readonly onPredicted: (count: number) => void;
}

export interface RunOutcome {
  readonly result: RunFunctionResult;
  readonly function: PythonFunction;
  readonly predicted: readonly TraceFrame[];
  readonly real?: readonly TraceFrame[];
  readonly alignment?: Alignment;
}

const SETTINGS_HINT = 'set cwmDebug.endpoints to the URL of a CWM server (e.g. ["http://127.0.0.1:8000"]) or the CWM_ENDPOINT environment variable';

export async function runFunction(params: RunFunctionParams, context: RunContext): Promise<RunOutcome> {
  const { settings, signal } = context;
  const fn = locateFunction(context.source, params.functionName);
  if (params.mode === 'compare' && !params.allowExecution) {
    throw new RunError('untrusted', `Comparing with the real run executes ${fn.name}, and this workspace is not trusted, so nothing of it is run. ` +
      'Trust the workspace to compare, or use "Predict trace", which runs nothing.');
  }
  checkEndpointSettings(settings);
  const file = params.mode === 'compare' ? await savedFile(params.uri, context.source, fn.name) : undefined;
  const python = params.python || settings.pythonPath || 'python3';
  const notes: string[] = [];

  let real: Trace | undefined;
  if (file !== undefined) {
    context.onPhase(`Running ${fn.name} for real…`);
    real = await recordRealRun(file, fn, params.args, python, settings, signal);
    appendAll(notes, [...real.notes, `The real run: ${describeEnd(real)}`]);
    if (real.frames.length === 0) throw new RunError('program', `The real run of ${fn.name} recorded no steps: ${describeEnd(real)}`);
  }

  signal.throwIfAborted();
  context.onPhase('Connecting to the CWM endpoint…');
  const model = await abortable(connect(settings, params.apiKey), signal, (late) => void late.close());
  try {
    for (const client of model.clients) appendAll(notes, client.warnings);
    const entry: EntryPoint = { kind: 'function', name: fn.bareName, line: real?.entry.kind === 'function' && real.entry.line > 0 ? real.entry.line : fn.line + 1 };
    const initialFrames = real !== undefined ? comparisonStartFrames(real)
      : params.args !== undefined ? [await entryCallFrame(context.source, fn, params.args, settings)] : [];
    const session = new PredictionSession({
      source: context.source,
      ...(file !== undefined ? { path: file } : {}),
      ...(real?.files !== undefined ? { files: real.files } : {}),
      entry,
      backend: model.pool,
      codec: model.codec,
      initialFrames,
      temperature: settings.temperature,
      ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
      ...(settings.contextTokens !== undefined ? { contextTokens: settings.contextTokens } : {}),
    });
    session.onNotice = (message) => notes.push(message);
    context.onPhase(`Predicting ${fn.name}…`);
    context.onPredicted(session.trace.length);
    // The session records a rollout's frames when it ends; the frames streamed so far are counted by their index.
    const onFrame = (frame: TraceFrame): void => context.onPredicted(frame.index + 1);
    try {
      if (real !== undefined) await session.runUntil(comparisonHorizon(real), signal, onFrame);
      else await session.runToEnd(signal, onFrame);
    } catch (error) {
      throw asRunError(error, signal);
    }
    signal.throwIfAborted();
    const predicted = session.trace;
    for (const bad of session.malformed) notes.push(`Unreadable model output at step ${bad.index}: ${bad.reason}`);
    if (!session.ended) notes.push('The prediction stopped without the end of the trace (token or frame limit).');
    const executedLines = [...new Set(predicted.filter((frame) => frame.file === undefined).map((frame) => frame.line).filter((line) => line > 0))].sort((a, b) => a - b);
    const base = { mode: params.mode, steps: predicted.length, executedLines, notes, ended: session.ended };
    if (real === undefined) return { result: base, function: fn, predicted };

    const predictedTrace: Trace = {
      origin: 'predicted', source: context.source, entry, frames: predicted, malformed: session.malformed,
      end: session.ended ? { kind: 'returned' } : { kind: 'incomplete', message: 'the model did not end the trace' }, notes: [], outsideOutput: [],
    };
    const { alignment, scores } = compareTraces(predictedTrace, real);
    const divergence = alignment.firstDivergence;
    const row = divergence === undefined ? undefined : alignment.rows[divergence.row];
    const at = row === undefined ? undefined : (row.actual !== undefined ? real.frames[row.actual] : undefined) ?? (row.predicted !== undefined ? predicted[row.predicted] : undefined);
    const firstDivergence = divergence !== undefined && at !== undefined
      ? { step: divergence.actualStep ?? divergence.predictedStep ?? at.index, line: at.line, message: divergence.description }
      : undefined;
    return {
      result: { ...base, ...(firstDivergence !== undefined ? { firstDivergence } : {}), scores },
      function: fn,
      predicted,
      real: real.frames,
      alignment,
    };
  } finally {
    await model.close();
  }
}

function locateFunction(source: string, name: string): PythonFunction {
  const fn = findFunctions(source).find((candidate) => candidate.name === name);
  if (fn === undefined) {
    throw new RunError('no-function', `There is no function ${name} in this document (renamed or deleted?); use the lens above its def again.`);
  }
  if (fn.unsupported !== undefined) throw new RunError('no-function', `${name} cannot be traced as an entry: ${fn.unsupported}.`);
  return fn;
}

/** Refuses before anything runs: no endpoint, or an endpoint that would carry the code in clear text. */
function checkEndpointSettings(settings: ServerSettings): void {
  if (settings.endpoints.length === 0) throw new RunError('no-endpoint', `No CWM endpoint is configured: ${SETTINGS_HINT}.`);
  for (const url of settings.endpoints) {
    const problem = endpointTransportProblem(url, settings.allowInsecureHttp);
    if (problem !== undefined) throw new RunError('insecure-endpoint', problem);
  }
  // No tokenizer file is fine for a vLLM endpoint (it tokenizes); connectModel says so for the others.
}

/** The real run executes the file on disk, so it must be a saved file holding exactly the text the prediction sees. */
async function savedFile(uri: string, source: string, name: string): Promise<string> {
  let path: string;
  try {
    path = fileURLToPath(uri);
  } catch {
    throw new RunError('unsaved', `Comparing runs ${name} from its file, and this document is not a file on disk: save it as a .py file first.`);
  }
  let onDisk: string;
  try {
    onDisk = await readFile(path, 'utf8');
  } catch {
    throw new RunError('unsaved', `Comparing runs ${name} from its file, and ${path} cannot be read: save the document first.`);
  }
  if (onDisk !== source) throw new RunError('unsaved', `The document has unsaved changes, and the real run executes the file on disk: save it, then compare again.`);
  return path;
}

async function recordRealRun(file: string, fn: PythonFunction, args: string | undefined, python: string, settings: ServerSettings, signal: AbortSignal): Promise<Trace> {
  try {
    return await recordTrace({ file, python, entry: fn.name, ...(args !== undefined ? { args } : {}), limits: settings.tracerLimits, signal });
  } catch (error) {
    if (!(error instanceof TracerError)) throw asRunError(error, signal);
    switch (error.kind) {
      case 'cancelled': throw new RunError('cancelled', 'The run was cancelled.');
      case 'python-not-found': throw new RunError('python', error.message);
      case 'bad-args':
        if (args === undefined) {
          const needed = /needs arguments \(([^)]*)\)/.exec(error.message)?.[1];
          throw new RunError('needs-arguments', `Comparing runs ${fn.name} for real, and it needs arguments${needed ? ` (${needed})` : ''}: ` +
            'give them as in a call, e.g. "[1, 2], \'a\'", and compare again.');
        }
        throw new RunError('bad-arguments', cliWordingToArguments(error.message));
      case 'no-entry': throw new RunError('no-function', error.message);
      case 'syntax-error':
      case 'program-import-failed':
      case 'file-not-found': throw new RunError('program', error.message);
      default: throw new RunError('internal', error.message);
    }
  }
}

/** The tracer words its argument errors for the CLI (`--args`); here the arguments are the ones given for the run. */
function cliWordingToArguments(message: string): string {
  return message
    .replace(/pass them with --args, e\.g\. --args/g, 'give them, e.g.')
    .replace(/the --args expression/g, 'the arguments')
    .replace(/--args /g, '');
}

async function entryCallFrame(source: string, fn: PythonFunction, args: string, settings: ServerSettings): Promise<TraceFrame> {
  try {
    return await buildEntryCallFrame({ source, functionName: fn.name, args, maxReprLength: settings.tracerLimits.maxReprLength });
  } catch (error) {
    if (error instanceof EntryFrameError) throw new RunError('bad-arguments', error.message);
    throw error;
  }
}

async function connect(settings: ServerSettings, apiKey: string | undefined): Promise<ConnectedModel> {
  try {
    return await connectModel(modelSettingsOf(settings, apiKey), { terms: 'vscode' });
  } catch (error) {
    if (error instanceof TokenizerError) throw new RunError('tokenizer', error.message);
    if (error instanceof ModelOptionError) throw new RunError(error.setting === 'tokenizer' ? 'tokenizer' : 'settings', error.message);
    throw asRunError(error);
  }
}

/** Endpoint and cancellation errors in the run's terms; anything else is a bug, said as it is. */
export function asRunError(error: unknown, signal?: AbortSignal): RunError {
  if (error instanceof RunError) return error;
  if (signal?.aborted || (error instanceof EndpointError && error.kind === 'cancelled') || (error instanceof Error && error.name === 'AbortError')) {
    return new RunError('cancelled', 'The run was cancelled.');
  }
  if (error instanceof EndpointError) return new RunError('endpoint', error.message);
  if (error instanceof TokenizerError) return new RunError('tokenizer', error.message);
  return new RunError('internal', `The run failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`);
}

/**
 * Waits for `work` unless `signal` fires first (then rejects as cancelled); a result that arrives after the abort is
 * handed to `dispose` so that nothing it holds stays open.
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal, dispose: (late: T) => void): Promise<T> {
  if (signal.aborted) {
    work.then(dispose, () => undefined);
    return Promise.reject(new RunError('cancelled', 'The run was cancelled.'));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.then(dispose, () => undefined);
      reject(new RunError('cancelled', 'The run was cancelled.'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) dispose(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
