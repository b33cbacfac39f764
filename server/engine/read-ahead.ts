// Read-ahead for predict mode: while the user looks at a stop, ONE streamed rollout keeps predicting past the end of the
// recording, bounded in frames and tokens, so the next steps are served from frames already read and ask the model nothing.

import { EndpointError } from '../endpoint/errors';
import type { TraceFrame } from '../trace/model';
import type { RolloutResult } from './rollout';

export interface ReadAheadSettings {
  /** false: every step past the recording asks the model when it is taken (the behaviour before read-ahead). */
  readonly enabled: boolean;
  /** Most frames recorded past the current one; reading resumes once half of them have been stepped through. */
  readonly frames: number;
  /** Most tokens one read-ahead request generates. */
  readonly tokens: number;
}

export const DEFAULT_READ_AHEAD: ReadAheadSettings = { enabled: true, frames: 64, tokens: 4096 };
/** Largest bounds accepted: more would only hold the server's capacity for frames nobody is likely to step to. */
export const MAX_READ_AHEAD_FRAMES = 4096;
export const MAX_READ_AHEAD_TOKENS = 131072;
/**
 * vLLM priority of read-ahead requests. vLLM serves lower values sooner (protocol.py: "lower means earlier handling")
 * and the user's own requests go at the default 0, so a read-ahead yields to them under `--scheduling-policy priority`.
 */
export const READ_AHEAD_PRIORITY = 10;

/** Settings with defaults filled in and bounds clamped to whole numbers in range. */
export function readAheadSettings(partial: Partial<ReadAheadSettings> = {}): ReadAheadSettings {
  const clamp = (value: number | undefined, fallback: number, max: number): number =>
    value === undefined || !Number.isFinite(value) ? fallback : Math.min(max, Math.max(1, Math.floor(value)));
  return {
    enabled: partial.enabled ?? DEFAULT_READ_AHEAD.enabled,
    frames: clamp(partial.frames, DEFAULT_READ_AHEAD.frames, MAX_READ_AHEAD_FRAMES),
    tokens: clamp(partial.tokens, DEFAULT_READ_AHEAD.tokens, MAX_READ_AHEAD_TOKENS),
  };
}

/** What the read-ahead needs from the session whose recording it extends. */
export interface ReadAheadHost {
  /** Frames recorded after the current one. */
  lead(): number;
  /** false while nothing may be read: the trace ended, or the session runs a request of its own. */
  mayRead(): boolean;
  /**
   * Runs one streamed rollout from the end of the recording. `accept` sees every frame in order, before it joins the
   * recording, and returns true to stop the stream there; a frame it refuses (`stale`) must not be recorded.
   */
  stream(options: { readonly maxTokens: number; readonly signal: AbortSignal; readonly accept: (frame: TraceFrame) => StreamVerdict }): Promise<RolloutResult>;
  /** Adds a streamed frame to the recording. */
  record(frame: TraceFrame): void;
  /** The stream ended (`<|end_of_text|>`) or reported malformed frames, and its recording is still current. */
  finished(result: RolloutResult): void;
}

/** Per streamed frame: record it and go on, record it and stop, or drop it (the recording changed since the stream began). */
export type StreamVerdict = 'continue' | 'stop' | 'stale';

/** A movement that waits on the running stream instead of sending a request of its own. */
export interface ServeRequest {
  /** One frame is enough. */
  readonly singleFrame: boolean;
  /** Checked on every new frame before it joins the recording; the movement ends on the first frame where it holds. */
  readonly until?: (frame: TraceFrame) => boolean;
  readonly onFrame?: (frame: TraceFrame) => void;
  readonly signal?: AbortSignal;
}

export interface Served {
  /** Frames the stream added while the movement waited, in order; all of them are in the recording. */
  readonly result: RolloutResult;
  /** false: the stream stopped (token bound, error, edit) before the movement had what it needs: it must ask itself. */
  readonly satisfied: boolean;
}

interface Waiter {
  readonly request: ServeRequest;
  readonly frames: TraceFrame[];
  readonly resolve: (served: Served) => void;
}

interface Reading {
  readonly generation: number;
  readonly abort: AbortController;
  readonly done: Promise<void>;
}

export class ReadAhead {
  private generationCount = 0;
  private reading?: Reading;
  private waiter?: Waiter;
  private pokeScheduled = false;
  /** A read-ahead request failed: none is sent again until the session's own request succeeds (no hammering a failing server). */
  private suspended = false;
  private disposed = false;

  constructor(private readonly host: ReadAheadHost, readonly settings: ReadAheadSettings) {}

  /** Changes whenever the recording changes other than by appending: frames streamed for an older generation are dropped. */
  get generation(): number {
    return this.generationCount;
  }

  get running(): boolean {
    return this.reading !== undefined;
  }

  /**
   * Checks, on the next turn of the event loop (after the movement that called it has settled the cursor), whether to
   * start reading (fewer than half the frames bound left ahead) or to stop (the cursor jumped back and the bound is met).
   */
  schedule(): void {
    if (!this.settings.enabled || this.disposed || this.pokeScheduled) return;
    this.pokeScheduled = true;
    setImmediate(() => {
      this.pokeScheduled = false;
      this.poke();
    });
  }

  /** The session's own request succeeded: a failed read-ahead may be tried again. */
  resume(): void {
    this.suspended = false;
  }

  /**
   * Lets a movement wait on the running stream for the frames it needs; undefined when no stream runs (the movement
   * sends its own request). The stream's bound is lifted while a movement waits: it serves that movement to its end.
   */
  serve(request: ServeRequest): Promise<Served> | undefined {
    if (this.reading === undefined || this.waiter !== undefined) return undefined;
    return new Promise<Served>((resolve, reject) => {
      const signal = request.signal;
      if (signal?.aborted) return reject(cancelledError());
      const onAbort = () => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        // The user cancelled the movement: the model stops too, and reads ahead again only after the next step asks it.
        this.suspended = true;
        this.stopReading();
        reject(cancelledError());
      };
      const waiter: Waiter = {
        request,
        frames: [],
        resolve: (served) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(served);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiter = waiter;
    });
  }

  /** The recording changed other than by appending (an edit, a restart, a body dropped): the running stream is stale. */
  invalidate(): void {
    this.generationCount++;
    this.stopReading();
    this.releaseWaiter(false, false);
  }

  /** Stops reading and waits until the stream has let go of the session (before the session sends a request of its own). */
  async cancel(): Promise<void> {
    const reading = this.reading;
    this.stopReading();
    await reading?.done;
  }

  /** The session ends: no stream runs and none starts again. */
  async dispose(): Promise<void> {
    this.disposed = true;
    this.invalidate();
    await this.reading?.done;
  }

  private poke(): void {
    if (this.disposed || !this.settings.enabled) return;
    const lead = this.host.lead();
    if (this.reading !== undefined) {
      // The cursor moved back (a jump, a step back): what is recorded already covers the bound, the stream is not needed.
      if (this.waiter === undefined && lead >= this.settings.frames) this.stopReading();
      return;
    }
    if (this.suspended || !this.host.mayRead() || lead * 2 > this.settings.frames) return;
    this.startReading();
  }

  private startReading(): void {
    const generation = this.generationCount;
    const abort = new AbortController();
    let recorded = 0;
    const accept = (frame: TraceFrame): StreamVerdict => {
      if (generation !== this.generationCount || abort.signal.aborted) return 'stale';
      recorded++;
      const waiter = this.waiter;
      let satisfied = false;
      if (waiter !== undefined) {
        waiter.request.onFrame?.(frame);
        satisfied = waiter.request.singleFrame || (waiter.request.until?.(frame) ?? false);
      }
      this.host.record(frame);
      if (waiter !== undefined) {
        waiter.frames.push(frame);
        if (satisfied) {
          this.waiter = undefined;
          waiter.resolve({ result: servedResult(waiter.frames, !waiter.request.singleFrame, false), satisfied: true });
        }
      }
      return this.waiter === undefined && this.host.lead() >= this.settings.frames ? 'stop' : 'continue';
    };
    const done = this.host.stream({ maxTokens: this.settings.tokens, signal: abort.signal, accept }).then(
      (result) => {
        if (generation !== this.generationCount) return;
        this.host.finished(result);
        // Output that is no frame at all (malformed, cut) would be asked for again and again: wait for the user's next request.
        if (recorded === 0 && !result.ended && !abort.signal.aborted) this.suspended = true;
        this.finishReading(reading, result.ended);
      },
      (error: unknown) => {
        if (generation !== this.generationCount) return;
        if (!abort.signal.aborted && !(error instanceof EndpointError && error.kind === 'cancelled')) this.suspended = true;
        this.finishReading(reading, false);
      },
    );
    const reading: Reading = { generation, abort, done };
    this.reading = reading;
  }

  private finishReading(reading: Reading, ended: boolean): void {
    // A stream stopped on purpose may settle after a newer one started: the newer one and its waiter are left alone.
    if (this.reading !== reading && this.reading !== undefined) return;
    this.reading = undefined;
    this.releaseWaiter(false, ended);
    // The stream stopped at its token bound with the cursor still close: read on.
    this.schedule();
  }

  private stopReading(): void {
    const reading = this.reading;
    if (reading === undefined) return;
    this.reading = undefined;
    reading.abort.abort();
  }

  /** Hands a waiting movement what the stream gave it: the trace ended, or it must ask the model itself. */
  private releaseWaiter(stoppedByCondition: boolean, ended: boolean): void {
    const waiter = this.waiter;
    if (waiter === undefined) return;
    this.waiter = undefined;
    waiter.resolve({ result: servedResult(waiter.frames, stoppedByCondition, ended), satisfied: ended });
  }
}

function servedResult(frames: TraceFrame[], stoppedByCondition: boolean, ended: boolean): RolloutResult {
  return { frames, malformed: [], ended, stoppedByCondition, completionTokens: 0, alternatives: [] };
}

function cancelledError(): EndpointError {
  return new EndpointError('cancelled', 'The prediction was cancelled.');
}
