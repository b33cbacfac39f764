// Totals and breakdowns of an evaluation run, computed from its results file alone: the numbers of the summary, the
// HTML report and the run comparison. Frame-level scores are pooled over all programs (matched frames / frames).

import type { ItemOk, ItemRecord, RunHeader, Tally, Tallies } from './results';
import { VALUE_TYPES } from './value-types';
import { calibrationRows, sumCalibration, type CalibrationRow, type CalibrationTally } from './calibration';

export interface Score {
  readonly matched: number;
  readonly total: number;
  /** null when there was nothing to count. */
  readonly rate: number | null;
}

export function score(matched: number, total: number): Score {
  return { matched, total, rate: total === 0 ? null : matched / total };
}

/** Trace-length buckets (real steps), shortest first. */
export const LENGTH_BUCKETS: readonly { readonly label: string; readonly max: number }[] = [
  { label: '1–10', max: 10 },
  { label: '11–25', max: 25 },
  { label: '26–50', max: 50 },
  { label: '51–100', max: 100 },
  { label: '101–250', max: 250 },
  { label: '251+', max: Infinity },
];

/** First-divergence positions, as a share of the real trace's length, in tenths; plus "none" (whole trace right). */
export const DIVERGENCE_BINS = ['0–10%', '10–20%', '20–30%', '30–40%', '40–50%', '50–60%', '60–70%', '70–80%', '80–90%', '90–100%'] as const;

export interface RunTotals {
  readonly programs: { readonly selected: number; readonly done: number; readonly failed: number };
  readonly rollout: {
    readonly action: Score;
    readonly state: Score;
    readonly stateByVariable: Score;
    /** Programs whose predicted return value equals the real one (CRUXEval-O), over rollouts. */
    readonly output: Score;
    /** Rollouts that match the real trace from start to end. */
    readonly fullMatch: Score;
    readonly wellFormed: Score;
    readonly ended: Score;
  };
  readonly forced: {
    readonly action: Score;
    readonly exact: Score;
    readonly wellFormed: Score;
    readonly end: Score;
    /** Predicted frames the symbolic checks found impossible, of those judged. */
    readonly impossible: Score;
  } | null;
  /** Rollouts per first-divergence bin, `none` last. */
  readonly firstDivergence: readonly { readonly label: string; readonly count: number }[];
  /** Median first-divergence step (real step index) among rollouts that diverge; null when none does. */
  readonly medianDivergenceStep: number | null;
  readonly tokens: { readonly prompt: number; readonly completion: number; readonly requests: number };
  /** The symbolic checks over all rollouts: frames judged, found impossible, re-samples, fixed by one, kept marked. */
  readonly checks: { readonly checked: number; readonly impossible: number; readonly resamples: number; readonly fixed: number; readonly marked: number };
  readonly latency: {
    /** Median wall time per program (trace, rollouts, teacher forcing). */
    readonly programMs: number | null;
    readonly rolloutMs: number | null;
    /** Median time of one teacher-forced frame. */
    readonly forcedFrameMs: number | null;
    readonly tracerMs: number | null;
  };
  readonly byLength: readonly { readonly label: string; readonly programs: number; readonly action: Score; readonly state: Score; readonly output: Score; readonly forcedExact: Score }[];
  readonly byValueType: readonly { readonly type: string; readonly rollout: Score; readonly forced: Score }[];
  readonly byEvent: readonly { readonly event: string; readonly rollout: Score; readonly forced: Score }[];
  readonly failures: readonly { readonly id: string; readonly kind: string; readonly message: string }[];
  /** Predicted confidence against measured correctness, per bucket (all counts 0 when no prediction had a confidence). */
  readonly calibration: readonly CalibrationRow[];
}

function add(sum: [number, number], t: Tally): void {
  sum[0] += t[0];
  sum[1] += t[1];
}

function toScore(sum: readonly [number, number]): Score {
  return score(sum[0], sum[1]);
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function mergeTallies(into: Map<string, [number, number]>, tallies: Tallies): void {
  for (const [key, t] of Object.entries(tallies)) {
    const sum = into.get(key) ?? [0, 0];
    add(sum, t);
    into.set(key, sum);
  }
}

function bucketOf(steps: number): number {
  return LENGTH_BUCKETS.findIndex((bucket) => steps <= bucket.max);
}

export function computeTotals(header: RunHeader, records: Iterable<ItemRecord>): RunTotals {
  const ok: ItemOk[] = [];
  const failures: { id: string; kind: string; message: string }[] = [];
  const calibrations: (CalibrationTally | undefined)[] = [];
  for (const record of records) {
    if (record.status === 'ok') ok.push(record);
    else failures.push({ id: record.id, ...record.error });
  }
  ok.sort((a, b) => a.index - b.index);
  const sums = {
    action: [0, 0] as [number, number], state: [0, 0] as [number, number], stateByVariable: [0, 0] as [number, number],
    output: [0, 0] as [number, number], fullMatch: [0, 0] as [number, number], wellFormed: [0, 0] as [number, number],
    ended: [0, 0] as [number, number],
    forcedAction: [0, 0] as [number, number], forcedExact: [0, 0] as [number, number], forcedWellFormed: [0, 0] as [number, number],
    forcedEnd: [0, 0] as [number, number],
    forcedImpossible: [0, 0] as [number, number],
  };
  const bins = new Array<number>(DIVERGENCE_BINS.length + 1).fill(0);
  const divergenceSteps: number[] = [];
  const tokens = { prompt: 0, completion: 0, requests: 0 };
  const checks = { checked: 0, impossible: 0, resamples: 0, fixed: 0, marked: 0 };
  const programMs: number[] = [];
  const rolloutMs: number[] = [];
  const forcedFrameMs: number[] = [];
  const tracerMs: number[] = [];
  const lengths = LENGTH_BUCKETS.map(() => ({
    programs: 0, action: [0, 0] as [number, number], state: [0, 0] as [number, number], output: [0, 0] as [number, number],
    forcedExact: [0, 0] as [number, number],
  }));
  const rolloutValues = new Map<string, [number, number]>();
  const forcedValues = new Map<string, [number, number]>();
  const rolloutEvents = new Map<string, [number, number]>();
  const forcedEvents = new Map<string, [number, number]>();
  let anyForced = false;

  for (const item of ok) {
    const bucket = lengths[bucketOf(item.realSteps)]!;
    bucket.programs++;
    programMs.push(item.ms);
    tracerMs.push(item.tracerMs);
    const scored = Math.max(1, item.realSteps - item.givenSteps);
    for (const rollout of item.rollouts) {
      add(sums.action, rollout.action);
      add(sums.state, rollout.stateByFrame);
      add(sums.stateByVariable, rollout.stateByVariable);
      add(sums.wellFormed, rollout.wellFormed);
      add(bucket.action, rollout.action);
      add(bucket.state, rollout.stateByFrame);
      add(sums.ended, [rollout.ended ? 1 : 0, 1]);
      if (rollout.output.match !== null) {
        add(sums.output, [rollout.output.match ? 1 : 0, 1]);
        add(bucket.output, [rollout.output.match ? 1 : 0, 1]);
      }
      add(sums.fullMatch, [rollout.firstDivergence === null ? 1 : 0, 1]);
      if (rollout.firstDivergence === null) bins[DIVERGENCE_BINS.length]!++;
      else {
        const share = (rollout.firstDivergence.step - item.givenSteps) / scored;
        bins[Math.min(DIVERGENCE_BINS.length - 1, Math.max(0, Math.floor(share * 10)))]!++;
        divergenceSteps.push(rollout.firstDivergence.step);
      }
      tokens.prompt += rollout.promptTokens;
      tokens.completion += rollout.completionTokens;
      tokens.requests += rollout.requests;
      if (rollout.checks) for (const key of Object.keys(checks) as (keyof typeof checks)[]) checks[key] += rollout.checks[key];
      rolloutMs.push(rollout.ms);
    }
    if (item.forced !== null) {
      anyForced = true;
      const forced = item.forced;
      add(sums.forcedAction, forced.action);
      add(sums.forcedExact, forced.exact);
      add(sums.forcedWellFormed, forced.wellFormed);
      add(bucket.forcedExact, forced.exact);
      if (forced.end !== null) add(sums.forcedEnd, [forced.end ? 1 : 0, 1]);
      if (forced.impossible) add(sums.forcedImpossible, forced.impossible);
      tokens.prompt += forced.promptTokens;
      tokens.completion += forced.completionTokens;
      tokens.requests += forced.requests;
      if (forced.requests > 0) forcedFrameMs.push(forced.ms / forced.requests);
    }
    mergeTallies(rolloutValues, item.breakdown.rolloutValueTypes);
    mergeTallies(forcedValues, item.breakdown.forcedValueTypes);
    mergeTallies(rolloutEvents, item.breakdown.rolloutEvents);
    mergeTallies(forcedEvents, item.breakdown.forcedEvents);
    calibrations.push(item.breakdown.calibration as CalibrationTally | undefined);
  }

  const typeOrder = [...VALUE_TYPES, ...[...rolloutValues.keys(), ...forcedValues.keys()].filter((t) => !(VALUE_TYPES as readonly string[]).includes(t))];
  const byValueType = [...new Set(typeOrder)]
    .filter((type) => rolloutValues.has(type) || forcedValues.has(type))
    .map((type) => ({ type, rollout: toScore(rolloutValues.get(type) ?? [0, 0]), forced: toScore(forcedValues.get(type) ?? [0, 0]) }));
  const byEvent = ['call', 'line', 'return', 'exception']
    .filter((event) => rolloutEvents.has(event) || forcedEvents.has(event))
    .map((event) => ({ event, rollout: toScore(rolloutEvents.get(event) ?? [0, 0]), forced: toScore(forcedEvents.get(event) ?? [0, 0]) }));

  return {
    programs: { selected: header.corpus.selected, done: ok.length, failed: failures.length },
    rollout: {
      action: toScore(sums.action),
      state: toScore(sums.state),
      stateByVariable: toScore(sums.stateByVariable),
      output: toScore(sums.output),
      fullMatch: toScore(sums.fullMatch),
      wellFormed: toScore(sums.wellFormed),
      ended: toScore(sums.ended),
    },
    forced: anyForced
      ? {
        action: toScore(sums.forcedAction), exact: toScore(sums.forcedExact), wellFormed: toScore(sums.forcedWellFormed), end: toScore(sums.forcedEnd),
        impossible: toScore(sums.forcedImpossible),
      }
      : null,
    firstDivergence: [...DIVERGENCE_BINS, 'none'].map((label, k) => ({ label, count: bins[k]! })),
    medianDivergenceStep: median(divergenceSteps),
    tokens,
    checks,
    latency: { programMs: median(programMs), rolloutMs: median(rolloutMs), forcedFrameMs: median(forcedFrameMs), tracerMs: median(tracerMs) },
    byLength: LENGTH_BUCKETS.map((bucket, k) => ({
      label: bucket.label,
      programs: lengths[k]!.programs,
      action: toScore(lengths[k]!.action),
      state: toScore(lengths[k]!.state),
      output: toScore(lengths[k]!.output),
      forcedExact: toScore(lengths[k]!.forcedExact),
    })),
    byValueType,
    byEvent,
    failures,
    calibration: calibrationRows(sumCalibration(calibrations)),
  };
}

/** The weakest row of a breakdown (lowest rate among rows with at least `minimum` counted), for "where it fails". */
export function weakest<T>(rows: readonly T[], scoreOf: (row: T) => Score, minimum = 10): T | undefined {
  let worst: T | undefined;
  for (const row of rows) {
    const s = scoreOf(row);
    if (s.rate === null || s.total < minimum || s.rate >= 1) continue;
    if (worst === undefined || s.rate < scoreOf(worst).rate!) worst = row;
  }
  return worst;
}

export function percent(s: Score, digits = 1): string {
  return s.rate === null ? '–' : `${(s.rate * 100).toFixed(digits)}%`;
}
