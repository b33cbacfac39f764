// Evaluates one program: its real trace (tracer), full predicted rollouts, their alignment and scores, and teacher-forced
// next-frame accuracy (each real frame predicted from the real frames before it), with tokens and time spent.

import { calibrateFrame, emptyCalibration, type CalibrationTally } from './calibration';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alignTraces, compareState, sameAction, type Alignment } from '../compare/align';
import { scoreAlignment, type Ratio } from '../compare/scores';
import type { TokenCodec } from '../cwm/codec';
import { buildContext } from '../cwm/context';
import type { CompletionRequest, CompletionStream, TokenChunk } from '../endpoint/types';
import { comparisonHorizon, comparisonStartFrames } from '../engine/compare-prediction';
import { FlowGuard } from '../engine/checked-rollout';
import { PromptBuilder } from '../engine/prompt';
import { runRollout, type CompletionBackend } from '../engine/rollout';
import { effectiveContextTokens, PredictionSession } from '../engine/session';
import type { Trace, TraceFrame } from '../trace/model';
import { recordTrace, type TracerLimits } from '../tracer/runner';
import type { CorpusItem } from './corpus';
import type { Breakdown, ForcedRecord, ItemOk, RolloutRecord, Tally } from './results';
import { valueTypeOf } from './value-types';

export interface ItemSettings {
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  readonly temperature: number;
  /** Rollout k uses seed + k. */
  readonly seed: number;
  readonly samples: number;
  readonly teacherForcing: boolean;
  readonly python?: string;
  readonly tracerLimits?: Partial<TracerLimits>;
  readonly contextTokens?: number;
  /** Where JSON Lines programs are written to be traced. */
  readonly workDir: string;
  readonly signal?: AbortSignal;
}

/** Most tokens one teacher-forced frame may take. */
const MAX_TOKENS_PER_FRAME = 4096;
/** Longest description of a first divergence kept in the results. */
const MAX_DESCRIPTION = 300;

/** Counts what one phase of an evaluation sends and receives, around the real backend. */
class MeteredBackend implements CompletionBackend {
  promptTokens = 0;
  completionTokens = 0;
  requests = 0;

  constructor(private readonly inner: CompletionBackend) {}

  get streams(): boolean | undefined {
    return this.inner.streams;
  }

  get contextTokens(): number | undefined {
    return this.inner.contextTokens;
  }

  complete(request: CompletionRequest): CompletionStream {
    this.requests++;
    this.promptTokens += request.promptIds.length * Math.max(1, request.n ?? 1);
    const stream = this.inner.complete(request);
    const meter = this;
    return {
      result: stream.result,
      async *[Symbol.asyncIterator](): AsyncIterator<TokenChunk> {
        for await (const chunk of stream) {
          meter.completionTokens += chunk.ids.length;
          yield chunk;
        }
      },
    };
  }
}

/** The real trace of a corpus item, written to a file of its own when the corpus is JSON Lines. */
export async function traceItem(item: CorpusItem, settings: Pick<ItemSettings, 'python' | 'tracerLimits' | 'workDir' | 'signal'>): Promise<Trace> {
  let file = item.file;
  if (file === undefined) {
    file = join(settings.workDir, `${item.index}-${item.id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}.py`);
    writeFileSync(file, item.code.endsWith('\n') ? item.code : item.code + '\n');
  }
  return recordTrace({ file, python: settings.python, entry: item.entry, args: item.args, limits: settings.tracerLimits, signal: settings.signal });
}

function tally(ratio: Ratio): Tally {
  return [ratio.matched, ratio.total];
}

function bump(tallies: Record<string, [number, number]>, key: string, matched: boolean): void {
  const entry = (tallies[key] ??= [0, 0]);
  if (matched) entry[0]++;
  entry[1]++;
}

/** A frame predicted exactly: same action, same locals and the same return/exception value. */
function exactlyEqual(predicted: TraceFrame, actual: TraceFrame): boolean {
  if (!sameAction(predicted, actual)) return false;
  const { variables, value } = compareState(predicted, actual);
  return variables.length === 0 && value === undefined;
}

/** Value-type tallies of one same-action pair: each real local, and the return value, equal or not. */
function countValueTypes(tallies: Record<string, [number, number]>, predicted: TraceFrame, actual: TraceFrame): void {
  const { variables, value } = compareState(predicted, actual);
  if (actual.event === 'call' || actual.event === 'line') {
    const differing = new Set(variables.map((variable) => variable.name));
    for (const [name, repr] of actual.locals) bump(tallies, valueTypeOf(repr), !differing.has(name));
  } else if (actual.event === 'return' && actual.value !== undefined) {
    bump(tallies, valueTypeOf(actual.value), value === undefined);
  }
}

/** The real step where the prediction first leaves the real run: real frames in rows before the first divergent one. */
function divergenceStep(alignment: Alignment, offset: number): { step: number; description: string } | null {
  const first = alignment.firstDivergence;
  if (first === undefined) return null;
  let step = offset;
  for (let r = 0; r < first.row; r++) if (alignment.rows[r]!.actual !== undefined) step++;
  const text = first.description;
  return { step, description: text.length > MAX_DESCRIPTION ? `${text.slice(0, MAX_DESCRIPTION - 1)}…` : text };
}

async function evaluateRollout(
  real: Trace,
  given: readonly TraceFrame[],
  seed: number,
  settings: ItemSettings,
  breakdown: { values: Record<string, [number, number]>; events: Record<string, [number, number]>; calibration: CalibrationTally },
): Promise<RolloutRecord> {
  const started = performance.now();
  const backend = new MeteredBackend(settings.backend);
  const session = new PredictionSession({
    source: real.source, path: real.path, files: real.files, entry: real.entry, backend, codec: settings.codec, initialFrames: given,
    temperature: settings.temperature, seed, contextTokens: settings.contextTokens,
    // The evaluation runs the programs anyway: the symbolic checks parse them with the same interpreter.
    ...(settings.python !== undefined ? { flowPython: settings.python } : {}),
  });
  // A runaway prediction is cut well past the real length: it has diverged long before, and it must not run forever.
  await session.runUntil(comparisonHorizon(real), settings.signal);
  const predicted = session.trace.slice(given.length);
  const actual = real.frames.slice(given.length);
  const alignment = alignTraces(predicted, actual);
  const scores = scoreAlignment(alignment, predicted, actual, session.malformed);
  for (const row of alignment.rows) {
    if (row.actual === undefined) continue;
    const realFrame = actual[row.actual]!;
    bump(breakdown.events, realFrame.event, row.verdict === 'match');
    const guess = row.predicted === undefined ? undefined : predicted[row.predicted];
    if (guess !== undefined && sameAction(guess, realFrame)) countValueTypes(breakdown.values, guess, realFrame);
  }
  // The model's confidence against what came true: every predicted frame, against the real one aligned with it.
  for (const row of alignment.rows) {
    if (row.predicted !== undefined) calibrateFrame(breakdown.calibration, predicted[row.predicted]!, row.actual === undefined ? undefined : actual[row.actual]);
  }
  return {
    seed,
    steps: predicted.length,
    ended: session.ended,
    action: tally(scores.action),
    stateByFrame: tally(scores.stateByFrame),
    stateByVariable: tally(scores.stateByVariable),
    wellFormed: tally(scores.wellFormed),
    output: { predicted: scores.returnValue.predicted ?? null, match: scores.returnValue.match },
    firstDivergence: divergenceStep(alignment, given.length),
    verdicts: { ...scores.verdicts },
    promptTokens: backend.promptTokens,
    completionTokens: backend.completionTokens,
    requests: backend.requests,
    ms: performance.now() - started,
    checks: { ...session.flow.stats },
  };
}

/** Teacher forcing: every real frame after the given ones, predicted from the real frames before it; then the end. */
async function evaluateForced(
  real: Trace,
  from: number,
  settings: ItemSettings,
  breakdown: { values: Record<string, [number, number]>; events: Record<string, [number, number]>; calibration: CalibrationTally },
): Promise<ForcedRecord> {
  const started = performance.now();
  const backend = new MeteredBackend(settings.backend);
  const layout = buildContext(real);
  const context = layout.text;
  const builder = new PromptBuilder(context, settings.codec);
  const contextTokens = effectiveContextTokens(settings.contextTokens, backend);
  const budget = contextTokens - Math.min(MAX_TOKENS_PER_FRAME, Math.floor(contextTokens / 4));
  const frames = real.frames;
  const action: Tally = [0, 0];
  const exact: Tally = [0, 0];
  const wellFormed: Tally = [0, 0];
  const impossible: Tally = [0, 0];
  // The symbolic checks judge each guess after the real frames before it (the checker follows the real run).
  // The same interpreter parses it as the rollouts' checks use (it never runs it).
  const checker = await new FlowGuard({ source: real.source, files: real.files, ...(settings.python !== undefined ? { python: settings.python } : {}) }).ready();
  const predictAfter = async (count: number) => {
    const prefix = frames.slice(0, count);
    return runRollout({
      backend, codec: settings.codec, promptIds: (await builder.build(prefix, budget)).ids, context, layout, source: real.source, entry: real.entry,
      prefix, settings: { temperature: settings.temperature, seed: settings.seed }, singleFrame: true, maxTokens: MAX_TOKENS_PER_FRAME,
      signal: settings.signal,
    });
  };
  for (let k = 0; k < from; k++) {
    builder.append(frames[k]!);
    checker?.observe(frames[k]!);
  }
  for (let k = from; k < frames.length; k++) {
    const result = await predictAfter(k);
    const actual = frames[k]!;
    const guess = result.frames[0];
    const sameStep = guess !== undefined && sameAction(guess, actual);
    const equal = guess !== undefined && exactlyEqual(guess, actual);
    action[1]++;
    exact[1]++;
    wellFormed[1]++;
    if (sameStep) action[0]++;
    if (equal) exact[0]++;
    if (guess !== undefined && (guess.issues === undefined || guess.issues.length === 0)) wellFormed[0]++;
    bump(breakdown.events, actual.event, equal);
    if (guess !== undefined && sameStep) countValueTypes(breakdown.values, guess, actual);
    if (guess !== undefined) calibrateFrame(breakdown.calibration, guess, actual);
    if (checker !== undefined && guess !== undefined) {
      impossible[1]++;
      if (checker.judge(guess).length > 0) impossible[0]++;
    }
    builder.append(actual);
    checker?.observe(actual);
  }
  let end: boolean | null = null;
  if (real.end.kind === 'returned' || real.end.kind === 'raised') {
    const result = await predictAfter(frames.length);
    end = result.ended && result.frames.length === 0;
  }
  return {
    positions: frames.length - from,
    action,
    exact,
    wellFormed,
    ...(checker !== undefined ? { impossible } : {}),
    end,
    promptTokens: backend.promptTokens,
    completionTokens: backend.completionTokens,
    requests: backend.requests,
    ms: performance.now() - started,
  };
}

/** Evaluates one program; TracerError and EndpointError propagate (the caller decides what each means for the run). */
export async function evaluateItem(item: CorpusItem, settings: ItemSettings): Promise<ItemOk> {
  const started = performance.now();
  const real = await traceItem(item, settings);
  const tracerMs = performance.now() - started;
  // The model is given the entry's call frame with the real arguments, as CRUXEval-O gives the input.
  const given = comparisonStartFrames(real);
  const rolloutValues: Record<string, [number, number]> = {};
  const rolloutEvents: Record<string, [number, number]> = {};
  const rollouts: RolloutRecord[] = [];
  const calibration = emptyCalibration();
  for (let k = 0; k < settings.samples; k++) {
    rollouts.push(await evaluateRollout(real, given, settings.seed + k, settings, { values: rolloutValues, events: rolloutEvents, calibration }));
  }
  const forcedValues: Record<string, [number, number]> = {};
  const forcedEvents: Record<string, [number, number]> = {};
  const forced = settings.teacherForcing ? await evaluateForced(real, given.length, settings, { values: forcedValues, events: forcedEvents, calibration }) : null;
  const calibrated = calibration.some((bucket) => bucket[1] > 0);
  const breakdown: Breakdown = { rolloutValueTypes: rolloutValues, forcedValueTypes: forcedValues, rolloutEvents, forcedEvents, ...(calibrated ? { calibration } : {}) };
  const last = real.frames[real.frames.length - 1];
  return {
    type: 'item',
    status: 'ok',
    id: item.id,
    index: item.index,
    realSteps: real.frames.length,
    givenSteps: given.length,
    realEnd: real.end.kind,
    realOutput: last !== undefined && last.event === 'return' && last.depth === 0 ? last.value ?? null : null,
    expectedOutput: item.expectedOutput ?? null,
    rollouts,
    forced,
    breakdown,
    tracerMs,
    ms: performance.now() - started,
    finishedAt: new Date().toISOString(),
  };
}
