// Runs an evaluation over a corpus: programs spread over C workers (and so over the pool's endpoints), each result
// appended to the results file as it finishes, a rerun skipping finished programs, and the report written at the end.

import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { version as toolVersion } from '../../package.json';
import type { TokenCodec } from '../cwm/codec';
import { PromptTooLongError } from '../engine/prompt';
import type { CompletionBackend } from '../engine/rollout';
import { EndpointError } from '../endpoint/errors';
import type { EndpointClient } from '../endpoint/types';
import { DEFAULT_TRACER_LIMITS, TracerError, type TracerLimits } from '../tracer/runner';
import { loadCorpus, selectItems, type CorpusItem } from './corpus';
import { evaluateItem } from './evaluate-item';
import type { RunTotals } from './metrics';
import { progressOf, type EvaluationProgress } from './progress';
import { writeReport } from './report';
import { RESULTS_FILE, ResultsError, ResultsWriter, headerMismatches, loadResults, resumeRecord, type ItemRecord, type RunHeader } from './results';

export { toolVersion };

/** The model side of an evaluation: where completions go, and what to record about it. */
export interface EvaluationModel {
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  /** Model name the endpoints serve (null when they do not say, e.g. fgserve). */
  readonly name: string | null;
  readonly backends: readonly string[];
  readonly endpoints: readonly string[];
}

/** What to record about connected endpoint clients, with the pool that spreads requests over them. */
export function evaluationModelOf(connected: {
  readonly pool: CompletionBackend;
  readonly codec: TokenCodec;
  readonly clients: readonly Pick<EndpointClient, 'kind' | 'url' | 'model'>[];
}): EvaluationModel {
  const names = [...new Set(connected.clients.map((client) => client.model).filter((name): name is string => name !== undefined))];
  return {
    backend: connected.pool,
    codec: connected.codec,
    name: names.length > 0 ? names.join(', ') : null,
    backends: connected.clients.map((client) => client.kind),
    endpoints: connected.clients.map((client) => client.url),
  };
}

export interface EvaluationOptions {
  /** A .jsonl file in CRUXEval's format, or a folder of .py files with marked entries. */
  readonly corpus: string;
  /** Where results.jsonl, summary.md and report.html go; a folder holding results of the same run is continued. */
  readonly outDir: string;
  readonly model: EvaluationModel;
  readonly temperature?: number;
  /** Default 0, so that runs at a temperature above 0 are reproducible too. */
  readonly seed?: number;
  /** Rollouts per program (default 1). */
  readonly samples?: number;
  /** Programs evaluated at once (default 1). */
  readonly concurrency?: number;
  /** Evaluate only this many programs, spread evenly over the corpus. */
  readonly limit?: number;
  /** Also predict every real frame from the real prefix (default true). */
  readonly teacherForcing?: boolean;
  readonly python?: string;
  readonly tracerLimits?: Partial<TracerLimits>;
  readonly contextTokens?: number;
  /** Stops the run: programs in flight are dropped (a rerun does them), finished ones stay. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: EvaluationProgress) => void;
  /** Things worth telling the user (a resumed run, a skipped file). */
  readonly onNotice?: (message: string) => void;
}

export interface EvaluationOutcome {
  readonly outDir: string;
  readonly resultsPath: string;
  readonly summaryPath: string;
  readonly htmlPath: string;
  /** Programs finished by an earlier run of the same results. */
  readonly skipped: number;
  /** Programs finished by this run. */
  readonly finished: number;
  /** Programs that failed for reasons outside themselves (endpoint, interpreter): not recorded, so a rerun retries them. */
  readonly failed: number;
  /** Programs of the selection still without a result (stopped or failed). */
  readonly remaining: number;
  /** The run was stopped by the signal before it was done. */
  readonly stopped: boolean;
  readonly totals: RunTotals;
}

/** The results in the output folder belong to another run; the message lists what differs. */
export class EvaluationSetupError extends Error {}

/** Failures outside the programs in a row after which the run gives up (the endpoint is down, not one prompt unlucky). */
const MAX_CONSECUTIVE_FAILURES = 3;

/** Tracer errors that say the interpreter or the tracer is unusable, not the program: retried on a rerun. */
const ENVIRONMENT_TRACER_ERRORS: ReadonlySet<string> = new Set(['python-not-found', 'tracer-failed']);

export async function runEvaluation(options: EvaluationOptions): Promise<EvaluationOutcome> {
  const corpus = loadCorpus(options.corpus);
  if (corpus.skipped.length > 0) {
    const files = corpus.skipped.length === 1 ? '1 .py file has' : `${corpus.skipped.length} .py files have`;
    options.onNotice?.(`${files} no "# << START_OF_TRACE" marker and ${corpus.skipped.length === 1 ? 'is' : 'are'} left out (${corpus.skipped.slice(0, 3).join(', ')}${corpus.skipped.length > 3 ? ', …' : ''}).`);
  }
  const selected = selectItems(corpus.items, options.limit);
  const tracerLimits = { ...DEFAULT_TRACER_LIMITS, ...options.tracerLimits };
  const header: RunHeader = {
    type: 'header',
    format: 1,
    tool: 'cwm-debug',
    toolVersion,
    createdAt: new Date().toISOString(),
    corpus: { path: corpus.path, kind: corpus.kind, hash: corpus.hash, items: corpus.items.length, selected: selected.length },
    limit: options.limit !== undefined && options.limit < corpus.items.length ? options.limit : null,
    model: options.model.name,
    backends: [...options.model.backends],
    endpoints: [...options.model.endpoints],
    temperature: options.temperature ?? 0,
    seed: options.seed ?? 0,
    samples: options.samples ?? 1,
    teacherForcing: options.teacherForcing ?? true,
    python: options.python ?? 'python3',
    tracerLimits: { ...tracerLimits },
  };

  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const resultsPath = join(outDir, RESULTS_FILE);
  const finishedIds = new Set<string>();
  let runHeader = header;
  const resuming = existsSync(resultsPath) && statSync(resultsPath).size > 0 && holdsRunHeader(resultsPath);
  if (resuming) {
    const existing = loadResults(resultsPath);
    const differences = headerMismatches(existing.header, header);
    if (differences.length > 0) {
      throw new EvaluationSetupError(
        `${outDir} holds results of another run (${differences.join('; ')}). Use another --out folder, or the same settings to continue that run.`,
      );
    }
    runHeader = existing.header;
    for (const id of existing.items.keys()) finishedIds.add(id);
    if (existing.truncatedTail) options.onNotice?.('The last result line was cut off (the run was killed while writing it); that program is done again.');
  }
  const writer = new ResultsWriter(resultsPath);
  const workDir = mkdtempSync(join(tmpdir(), 'cwm-eval-'));
  const pending = selected.filter((item) => !finishedIds.has(item.id));
  const skipped = selected.length - pending.length;
  let finished = 0;
  let failed = 0;
  let consecutiveFailures = 0;
  let fatal: unknown;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) stop.abort();
  const started = performance.now();
  const report = (lastId?: string) =>
    options.onProgress?.(progressOf(finished, pending.length, skipped, failed, performance.now() - started, lastId));

  try {
    if (resuming) {
      if (skipped > 0) options.onNotice?.(`Continuing the run in ${outDir}: ${skipped} of ${selected.length} programs are already done.`);
      const known = new Set(runHeader.endpoints);
      if (header.endpoints.some((url) => !known.has(url))) writer.append(resumeRecord(header.endpoints));
    } else {
      writer.append(header);
    }
    report();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (!stop.signal.aborted && next < pending.length) {
        const item = pending[next++]!;
        const record = await evaluateOne(item, options, header, workDir, stop.signal);
        if (record === 'cancelled') return;
        if (record instanceof Error) {
          failed++;
          consecutiveFailures++;
          if (consecutiveFailures >= MAX_CONSECUTIVE_FAILURES && fatal === undefined) {
            fatal = record;
            stop.abort();
          }
          report(item.id);
          continue;
        }
        consecutiveFailures = 0;
        writer.append(record);
        finished++;
        report(item.id);
      }
    };
    const workers = Math.max(1, Math.min(options.concurrency ?? 1, pending.length || 1));
    await Promise.all(Array.from({ length: workers }, () => worker()));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    writer.close();
    rmSync(workDir, { recursive: true, force: true });
  }
  const written = writeReport(outDir);
  if (fatal !== undefined) throw fatal;
  const done = new Set(loadResults(resultsPath).items.keys());
  return {
    outDir,
    resultsPath,
    summaryPath: written.summaryPath,
    htmlPath: written.htmlPath,
    skipped,
    finished,
    failed,
    remaining: selected.filter((item) => !done.has(item.id)).length,
    stopped: options.signal?.aborted === true,
    totals: written.totals,
  };
}

/** One program's record; an error outside the program (endpoint, interpreter) the run counts; 'cancelled' when it is stopping. */
async function evaluateOne(
  item: CorpusItem,
  options: EvaluationOptions,
  header: RunHeader,
  workDir: string,
  signal: AbortSignal,
): Promise<ItemRecord | EndpointError | TracerError | 'cancelled'> {
  try {
    return await evaluateItem(item, {
      backend: options.model.backend,
      codec: options.model.codec,
      temperature: header.temperature,
      seed: header.seed,
      samples: header.samples,
      teacherForcing: header.teacherForcing,
      python: options.python,
      tracerLimits: options.tracerLimits,
      contextTokens: options.contextTokens,
      workDir,
      signal,
    });
  } catch (error) {
    if (signal.aborted) return 'cancelled';
    if (error instanceof EndpointError) return error.kind === 'cancelled' ? 'cancelled' : error;
    if (error instanceof TracerError && ENVIRONMENT_TRACER_ERRORS.has(error.kind)) return error;
    // The program's own problem (cannot be traced, too long for the context): recorded, so a rerun does not retry it.
    const kind = error instanceof TracerError ? error.kind : error instanceof PromptTooLongError ? 'prompt-too-long' : 'internal';
    const message = error instanceof Error ? error.message : String(error);
    return { type: 'item', status: 'error', id: item.id, index: item.index, error: { kind, message }, finishedAt: new Date().toISOString() };
  }
}

function holdsRunHeader(path: string): boolean {
  try {
    loadResults(path);
    return true;
  } catch (error) {
    if (error instanceof ResultsError && /has no run header/.test(error.message)) return false;
    throw error;
  }
}
