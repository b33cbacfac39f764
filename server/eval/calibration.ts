// Calibration of the model's confidence: each predicted action and value that carried a confidence, put in one of ten
// buckets by that confidence and counted right or wrong against the real run; the report draws predicted against measured.
import type { TraceFrame } from '../trace/model';
import { barChart, escapeHtml } from './html';

export const CALIBRATION_BUCKETS = 10;

/** Per bucket (0–10%, …, 90–100%): [right, counted, sum of the predicted confidences]. */
export type CalibrationTally = [number, number, number][];

export function emptyCalibration(): CalibrationTally {
  return Array.from({ length: CALIBRATION_BUCKETS }, () => [0, 0, 0] as [number, number, number]);
}

export function addCalibration(tally: CalibrationTally, p: number, right: boolean): void {
  if (!Number.isFinite(p)) return;
  const bucket = tally[Math.min(CALIBRATION_BUCKETS - 1, Math.max(0, Math.floor(p * CALIBRATION_BUCKETS)))]!;
  bucket[1]++;
  bucket[2] += p;
  if (right) bucket[0]++;
}

/**
 * Counts one predicted frame against the real frame it stands for (undefined: the prediction has a step the real run
 * does not): its action, and where the action is right, each value it wrote and its return value.
 */
export function calibrateFrame(tally: CalibrationTally, guess: TraceFrame, real: TraceFrame | undefined): void {
  const confidence = guess.confidence;
  if (confidence === undefined) return;
  const sameAction = real !== undefined && real.event === guess.event && real.line === guess.line && real.file === guess.file;
  if (confidence.action !== undefined) addCalibration(tally, confidence.action.p, sameAction);
  if (!sameAction) return;
  for (const [name, value] of confidence.locals) addCalibration(tally, value.p, real.locals.get(name) === guess.locals.get(name));
  if (confidence.value !== undefined) addCalibration(tally, confidence.value.p, real.value === guess.value);
}

/** Sums tallies (per program) into one; tallies of another shape are skipped. */
export function sumCalibration(tallies: readonly (CalibrationTally | undefined)[]): CalibrationTally {
  const sum = emptyCalibration();
  for (const tally of tallies) {
    if (tally === undefined || tally.length !== CALIBRATION_BUCKETS) continue;
    tally.forEach((bucket, k) => {
      sum[k]![0] += bucket[0];
      sum[k]![1] += bucket[1];
      sum[k]![2] += bucket[2];
    });
  }
  return sum;
}

export interface CalibrationRow {
  /** `30–40%`. */
  readonly label: string;
  /** Predictions in the bucket. */
  readonly count: number;
  /** Mean confidence the model gave them; null when empty. */
  readonly predicted: number | null;
  /** Share of them that were right; null when empty. */
  readonly measured: number | null;
}

export function calibrationRows(tally: CalibrationTally): CalibrationRow[] {
  return tally.map(([right, count, sumP], k) => ({
    label: `${k * 10}–${(k + 1) * 10}%`,
    count,
    predicted: count === 0 ? null : sumP / count,
    measured: count === 0 ? null : right / count,
  }));
}

function pct(value: number | null): string {
  return value === null ? '–' : `${(value * 100).toFixed(1)}%`;
}

const EXPLANATION = 'Each predicted step (its line) and each value it wrote that came with a confidence, by that confidence; ' +
  'measured: the share equal to the real run (a value counts only where the step is right). A calibrated model has measured near predicted.';

/** The Markdown section; no lines when nothing had a confidence (an endpoint without log-probabilities). */
export function calibrationMarkdown(rows: readonly CalibrationRow[]): string[] {
  if (rows.every((row) => row.count === 0)) return [];
  const out = ['## Calibration of the confidence', '', EXPLANATION, '', '| Confidence | Predictions | Mean confidence | Measured right |', '|---|---:|---:|---:|'];
  for (const row of rows) out.push(`| ${row.label} | ${row.count} | ${pct(row.predicted)} | ${pct(row.measured)} |`);
  return out;
}

/** The HTML section: a chart of predicted against measured per bucket, with the counts in the categories and a table. */
export function calibrationHtml(rows: readonly CalibrationRow[]): string[] {
  if (rows.every((row) => row.count === 0)) return [];
  return [
    '<h2>Calibration of the confidence</h2>',
    `<p>${escapeHtml(EXPLANATION)}</p>`,
    barChart({
      title: 'Predicted confidence against measured correctness, per bucket (predictions in brackets)',
      categories: rows.map((row) => `${row.label} (${row.count})`),
      series: [
        { name: 'Mean confidence', values: rows.map((row) => row.predicted) },
        { name: 'Measured right', values: rows.map((row) => row.measured) },
      ],
      percent: true,
    }),
    '<table class="calibration"><thead><tr><th>Confidence</th><th>Predictions</th><th>Mean confidence</th><th>Measured right</th></tr></thead><tbody>',
    ...rows.map((row) => `<tr><td>${escapeHtml(row.label)}</td><td>${row.count}</td><td>${pct(row.predicted)}</td><td>${pct(row.measured)}</td></tr>`),
    '</tbody></table>',
  ];
}
