// Compare mode: drives the real trace and a PredictionSession streaming ahead in the background, aligns them
// (alignTraces) and offers the alignment rows as the debugger's timeline: one row is one step, both sides shown.

import { alignTraces, type Alignment, type AlignmentRow } from '../compare/align';
import { scoreAlignment, type AlignmentScores } from '../compare/scores';
import { comparisonHorizon } from '../engine/compare-prediction';
import type { PredictionSession } from '../engine/session';
import type { MalformedFrame, Trace, TraceEnd, TraceFrame } from '../trace/model';
import type { ExtendRequest, ExtendResult, PositionView, SideFrame, TraceNavigator } from './navigator';

/** Where the prediction first departs from the real run, as a position of the compare timeline. */
export interface DivergencePoint {
  readonly position: number;
  readonly description: string;
  readonly actualStep?: number;
  readonly predictedStep?: number;
}

export interface PredictionProgress {
  /** The background prediction started (at launch, and again after a restart). */
  onStart?(): void;
  /** A predicted frame arrived. */
  onFrame?(frame: TraceFrame): void;
  /** The background prediction finished (error: it failed or was cancelled; the frames so far are kept). */
  onDone?(error?: unknown): void;
}

export class CompareNavigator implements TraceNavigator {
  readonly kind = 'compare' as const;
  readonly threadName = 'Python (predicted vs real)';
  private rows: readonly AlignmentRow[];
  private alignment?: Alignment;
  private cursor = 0;
  private revisionCount = 0;
  private predicted: TraceFrame[] = [];
  private prediction?: Promise<void>;
  private predictionAbort = new AbortController();
  private failure?: unknown;
  /** The prediction is being cancelled by the debugger itself (restart, end of session): not worth a message. */
  private quiet = false;
  progress: PredictionProgress = {};

  constructor(
    private readonly real: Trace,
    readonly session: PredictionSession,
  ) {
    this.predicted = [...session.trace];
    this.rows = this.provisionalRows();
  }

  /** Starts predicting the whole trace in the background (ONE streamed rollout); idempotent. */
  startPrediction(): void {
    if (this.prediction) return;
    const collected: TraceFrame[] = [...this.session.trace];
    this.predicted = collected;
    // A prediction far longer than the real run is wrong anyway: cut it off instead of filling the context.
    const pastHorizon = comparisonHorizon(this.real);
    const signal = this.predictionAbort.signal;
    this.progress.onStart?.();
    this.prediction = (async () => {
      try {
        await this.session.runUntil(pastHorizon, signal, (frame) => {
          collected.push(frame);
          this.progress.onFrame?.(frame);
        });
        // The session's recording is the authoritative one when the rollout completed.
        this.predicted = [...this.session.trace];
      } catch (error) {
        this.failure = error;
      }
      this.align();
      this.progress.onDone?.(this.quiet ? undefined : this.failure);
    })();
  }

  /** The prediction failed or was cancelled before its end; the comparison uses the frames predicted until then. */
  get predictionFailure(): unknown {
    return this.failure;
  }

  get predictionDone(): boolean {
    return this.alignment !== undefined;
  }

  get length(): number {
    return this.rows.length;
  }

  get position(): number {
    return this.cursor;
  }

  get complete(): boolean {
    return this.alignment !== undefined;
  }

  get revision(): number {
    return this.revisionCount;
  }

  get end(): TraceEnd {
    return this.real.end;
  }

  get actualTrace(): Trace {
    return this.real;
  }

  get predictedFrames(): readonly TraceFrame[] {
    return this.predicted;
  }

  get malformed(): readonly MalformedFrame[] {
    return this.session.malformed;
  }

  get currentAlignment(): Alignment | undefined {
    return this.alignment;
  }

  get scores(): AlignmentScores | undefined {
    return this.alignment ? scoreAlignment(this.alignment, this.predicted, this.real.frames, this.session.malformed) : undefined;
  }

  get divergence(): DivergencePoint | undefined {
    const first = this.alignment?.firstDivergence;
    if (first === undefined) return undefined;
    return { position: first.row, description: first.description, actualStep: first.actualStep, predictedStep: first.predictedStep };
  }

  row(position: number): AlignmentRow {
    return this.rows[position]!;
  }

  view(position: number): PositionView {
    const row = this.rows[position];
    if (row === undefined) throw new RangeError(`Row ${position} does not exist; the comparison has ${this.rows.length} rows.`);
    const sides: SideFrame[] = [];
    if (row.predicted !== undefined) sides.push({ side: 'predicted', frames: this.predicted, index: row.predicted });
    if (row.actual !== undefined) sides.push({ side: 'actual', frames: this.real.frames, index: row.actual });
    return { position, primary: sides[sides.length - 1]!, sides };
  }

  moveTo(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position >= this.rows.length) {
      throw new RangeError(`Row ${position} does not exist; the comparison has ${this.rows.length} rows.`);
    }
    this.cursor = position;
  }

  /** Position of the row holding a given step of one side. */
  positionOfStep(side: 'actual' | 'predicted', step: number): number | undefined {
    const found = this.rows.findIndex((row) => row[side] === step);
    return found < 0 ? undefined : found;
  }

  /** Waits for the background prediction; aborting the request cancels it (the comparison keeps what was predicted). */
  async extend(request: ExtendRequest): Promise<ExtendResult> {
    if (this.alignment) return { added: 0 };
    this.startPrediction();
    const before = this.rows.length;
    const cancel = () => this.predictionAbort.abort();
    request.signal?.addEventListener('abort', cancel, { once: true });
    try {
      await this.prediction;
    } finally {
      request.signal?.removeEventListener('abort', cancel);
    }
    request.signal?.throwIfAborted();
    return { added: this.rows.length - before };
  }

  /** Cancels the background prediction (disconnect, user cancel). */
  cancelPrediction(): void {
    this.predictionAbort.abort();
  }

  async restart(signal?: AbortSignal): Promise<void> {
    this.quiet = true;
    this.predictionAbort.abort();
    await this.prediction;
    this.quiet = false;
    this.predictionAbort = new AbortController();
    this.prediction = undefined;
    this.alignment = undefined;
    this.failure = undefined;
    await this.session.restart({}, signal);
    this.predicted = [...this.session.trace];
    this.rows = this.provisionalRows();
    this.cursor = 0;
    this.revisionCount++;
    this.startPrediction();
  }

  async dispose(): Promise<void> {
    this.quiet = true;
    this.predictionAbort.abort();
    await this.prediction;
  }

  /** Before the alignment exists: the real run's first step, next to the prediction's first step when it has one. */
  private provisionalRows(): AlignmentRow[] {
    if (this.real.frames.length === 0) return this.predicted.length > 0 ? [{ predicted: 0, verdict: 'extra' }] : [];
    return [{ actual: 0, ...(this.predicted.length > 0 ? { predicted: 0 } : {}), verdict: 'match' }];
  }

  private align(): void {
    const alignment = alignTraces(this.predicted, this.real.frames);
    const provisional = this.rows[this.cursor];
    this.alignment = alignment;
    this.rows = alignment.rows;
    // Keep the user on the same real step they were looking at.
    const actualStep = provisional?.actual;
    const found = actualStep === undefined ? -1 : this.rows.findIndex((row) => row.actual === actualStep);
    this.cursor = Math.max(0, found);
    this.revisionCount++;
  }
}
