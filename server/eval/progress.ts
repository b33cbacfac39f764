// Progress of an evaluation run: rate, time left, and the one-line bar the CLI redraws on a terminal.

export interface EvaluationProgress {
  /** Programs finished in this run (recorded results, program errors included). */
  readonly done: number;
  /** Programs this run has to do (selected minus those finished by an earlier run). */
  readonly total: number;
  /** Programs finished by an earlier run and skipped. */
  readonly skipped: number;
  /** Programs that failed at the endpoint or the interpreter (not recorded; a rerun retries them). */
  readonly failed: number;
  readonly elapsedMs: number;
  /** Programs per second in this run; null before the first one finished. */
  readonly rate: number | null;
  /** Seconds left at the current rate; null while unknown. */
  readonly etaSeconds: number | null;
  /** Id of the program that just finished, if any. */
  readonly lastId?: string;
}

export function progressOf(done: number, total: number, skipped: number, failed: number, elapsedMs: number, lastId?: string): EvaluationProgress {
  const rate = done > 0 && elapsedMs > 0 ? done / (elapsedMs / 1000) : null;
  const etaSeconds = rate === null ? null : (total - done) / rate;
  return { done, total, skipped, failed, elapsedMs, rate, etaSeconds, lastId };
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `[########------------]  120/800  15%  3.2 programs/s  11m20s left`, fitted to `width` columns. */
export function formatProgressBar(progress: EvaluationProgress, width: number): string {
  const share = progress.total === 0 ? 1 : progress.done / progress.total;
  const rate = progress.rate === null ? '– programs/s' : `${progress.rate.toFixed(progress.rate < 10 ? 2 : 1)} programs/s`;
  const failed = progress.failed > 0 ? `  ${progress.failed} failed (retried on rerun)` : '';
  const text = `  ${progress.done}/${progress.total}  ${Math.floor(share * 100)}%  ${rate}  ${formatDuration(progress.etaSeconds)} left${failed}`;
  const barWidth = Math.max(10, Math.min(40, width - text.length - 3));
  const filled = Math.round(share * barWidth);
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${text}`;
}
