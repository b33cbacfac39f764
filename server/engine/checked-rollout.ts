// Rollouts whose frames pass the symbolic checker: a frame the program cannot take is re-sampled (a few single-frame
// requests at the sample temperature), the first possible one kept, else the best one with its mark, and the rollout
// goes on from there. Wraps runRollout; the prediction session calls it instead (flow-check.ts judges the frames).

import type { TraceEventKind, TraceFrame, FrameIssue, MalformedFrame } from '../trace/model';
import { checkTrace, FlowChecker, isMarkedImpossible, withFlowIssues } from './flow-check';
import { loadFlowFacts } from './flow-facts';
import { runRollout, type RolloutRequest, type RolloutResult } from './rollout';

/** Re-samples of one impossible frame before it is kept with its mark. */
export const DEFAULT_FLOW_RETRIES = 3;

/** How often the checker fired in a session (or an eval run). */
export interface FlowCheckStats {
  /** Frames judged. */
  checked: number;
  /** Frames the model first predicted impossible. */
  impossible: number;
  /** Single-frame requests made to replace them. */
  resamples: number;
  /** Impossible frames a re-sample replaced with a possible one. */
  fixed: number;
  /** Frames kept with their mark (no re-sample was possible). */
  marked: number;
}

export function emptyFlowStats(): FlowCheckStats {
  return { checked: 0, impossible: 0, resamples: 0, fixed: 0, marked: 0 };
}

export interface FlowGuardOptions {
  readonly source: string;
  readonly files?: readonly { readonly path: string; readonly source: string }[];
  /** Interpreter that parses the program (never runs it): the configured one where the workspace is trusted, else python3. */
  readonly python?: string;
  readonly retries?: number;
  /** false: no checks (nothing is parsed). */
  readonly enabled?: boolean;
}

/** Builds the prompt ids of the context followed by `frames` (and the forced event token). */
export type PromptFor = (frames: readonly TraceFrame[], forced?: TraceEventKind) => Promise<readonly number[]>;

/** A session's checker: its facts are worked out once, from the first rollout on; without them rollouts run unchecked. */
export class FlowGuard {
  readonly stats: FlowCheckStats = emptyFlowStats();
  private checker?: Promise<FlowChecker | undefined>;
  private factsProblem?: string;

  constructor(private readonly options: FlowGuardOptions) {}

  /** Why there are no checks, once known (no Python, a program it cannot parse, checks turned off). */
  get problem(): string | undefined {
    return this.options.enabled === false ? 'the checks are off' : this.factsProblem;
  }

  /** The checker once its facts are in; undefined when there are none. Parsing starts on the first call. */
  ready(): Promise<FlowChecker | undefined> {
    if (this.options.enabled === false) return Promise.resolve(undefined);
    this.checker ??= loadFlowFacts({ source: this.options.source, files: this.options.files, python: this.options.python }).then((result) => {
      if ('facts' in result) return new FlowChecker(result.facts);
      this.factsProblem = result.problem;
      return undefined;
    });
    return this.checker;
  }

  /**
   * Marks the impossible frames of independent rollouts from `prefix` (several samples), each judged on its own; they are
   * not re-sampled (the samples are there to show how the model varies).
   */
  async markRollouts(prefix: readonly TraceFrame[], rollouts: readonly (readonly TraceFrame[])[]): Promise<TraceFrame[][]> {
    const checker = await this.ready();
    if (checker === undefined) return rollouts.map((frames) => [...frames]);
    return rollouts.map((frames) => {
      const marked = checkTrace([...prefix, ...frames], checker.facts, prefix.length).slice(prefix.length);
      for (const frame of marked) {
        this.stats.checked++;
        if (isMarkedImpossible(frame)) {
          this.stats.impossible++;
          this.stats.marked++;
        }
      }
      return marked;
    });
  }

  run(request: RolloutRequest, promptFor: PromptFor, sampleTemperature: number): Promise<RolloutResult> {
    if (this.options.enabled === false) return runRollout(request);
    return runCheckedRollout(request, { checker: this.ready(), promptFor, temperature: sampleTemperature, retries: this.options.retries ?? DEFAULT_FLOW_RETRIES, stats: this.stats });
  }
}

export interface FlowCheck {
  /** The checker, or the facts still being worked out: the model is not kept waiting for them (frames wait instead). */
  readonly checker: FlowChecker | Promise<FlowChecker | undefined>;
  readonly promptFor: PromptFor;
  /** Temperature of the re-samples (the session's sample temperature: never 0, or they would repeat the frame). */
  readonly temperature: number;
  readonly retries: number;
  readonly stats: FlowCheckStats;
}

/**
 * runRollout, with every new frame judged, in order, before it is kept and reported. An impossible frame is re-sampled
 * while the request goes on: when a re-sample replaces it, the request is cancelled (what it said next followed from the
 * replaced frame) and a new one starts after the replacement, until the request's own end (condition, end of the trace,
 * frame or token limits); when none does, the frame is kept with its mark and the request simply goes on. A single-frame
 * or chunked request returns after a replaced frame. Frames read before the facts are in wait for them, in order.
 */
export async function runCheckedRollout(request: RolloutRequest, check: FlowCheck): Promise<RolloutResult> {
  const { stats } = check;
  const facts = check.checker instanceof Promise ? check.checker : Promise.resolve(check.checker);
  let checker: FlowChecker | undefined;
  let factsIn = false;
  let synced = false;
  const frames: TraceFrame[] = [];
  const malformed: MalformedFrame[] = [];
  let tokens = 0;
  let promptIds = request.promptIds;
  let forced = request.forced;
  const done = (over: Partial<RolloutResult>): RolloutResult => ({
    frames, malformed, ended: false, stoppedByCondition: false, completionTokens: tokens, alternatives: [], ...over,
  });
  for (;;) {
    const stream = openStream({
      ...request,
      promptIds,
      forced,
      prefix: [...request.prefix, ...frames],
      maxTokens: Math.max(1, request.maxTokens - tokens),
      ...(request.maxFrames !== undefined ? { maxFrames: Math.max(1, request.maxFrames - frames.length) } : {}),
    });
    let first = true;
    let replaced = false;
    try {
      for (;;) {
        const frame = await stream.next();
        if (frame === undefined) break;
        if (!factsIn) {
          checker = await facts;
          factsIn = true;
        }
        let kept = frame;
        if (checker !== undefined) {
          if (!synced) checker.sync(request.prefix);
          synced = true;
          stats.checked++;
          const issues = checker.judge(frame);
          if (issues.length > 0) {
            stats.impossible++;
            const outcome = await resample(request, { ...check, checker }, [...request.prefix, ...frames], first ? forced : undefined, { frame, issues },
              (used) => { tokens += used; });
            kept = outcome.frame;
            replaced = outcome.replaced;
          }
          checker.observe(kept);
        }
        first = false;
        frames.push(kept);
        request.onFrame?.(kept);
        if (request.until?.(kept)) {
          stream.stop();
          tokens += (await stream.done).completionTokens;
          return done({ stoppedByCondition: true });
        }
        if (replaced) break;
      }
    } catch (error) {
      stream.stop();
      void stream.done.catch(() => undefined);
      throw error;
    }
    if (replaced) stream.stop();
    const result = await stream.done;
    tokens += result.completionTokens;
    if (!replaced) {
      for (const item of result.malformed) malformed.push(item);
      return done({ ended: result.ended });
    }
    if (request.singleFrame || request.chunked) return done({});
    if (request.maxFrames !== undefined && frames.length >= request.maxFrames) return done({});
    if (tokens >= request.maxTokens) return done({});
    promptIds = await check.promptFor([...request.prefix, ...frames]);
    forced = undefined;
  }
}

/** A rollout read frame by frame: `next` gives each frame as the model writes it (undefined at the end), `stop` cancels. */
function openStream(request: RolloutRequest): { next(): Promise<TraceFrame | undefined>; stop(): void; readonly done: Promise<RolloutResult> } {
  const queue: TraceFrame[] = [];
  let waiting: ((frame: TraceFrame | undefined) => void) | undefined;
  let finished = false;
  let stopped = false;
  const cancel = new AbortController();
  const signal = request.signal === undefined ? cancel.signal : AbortSignal.any([request.signal, cancel.signal]);
  const wake = (frame: TraceFrame | undefined) => {
    const waiter = waiting;
    waiting = undefined;
    waiter?.(frame);
  };
  const done = runRollout({
    ...request,
    signal,
    onFrame: (frame) => {
      if (waiting !== undefined) wake(frame);
      else queue.push(frame);
    },
    until: () => stopped,
  }).catch((error: unknown) => {
    // Cancelled here, not by the caller: the frames it had are what counts.
    if (cancel.signal.aborted && !(request.signal?.aborted ?? false)) {
      return { frames: [], malformed: [], ended: false, stoppedByCondition: false, completionTokens: 0, alternatives: [] };
    }
    throw error;
  }).finally(() => {
    finished = true;
    wake(undefined);
  });
  // A failure surfaces through `done`, which the caller awaits; `next` just ends.
  done.catch(() => undefined);
  return {
    next: () => {
      if (queue.length > 0) return Promise.resolve(queue.shift());
      if (finished) return Promise.resolve(undefined);
      return new Promise((settle) => { waiting = settle; });
    },
    stop: () => {
      stopped = true;
      cancel.abort();
    },
    done,
  };
}

/** Up to `retries` single-frame samples in place of an impossible frame: the first possible one, else the fewest marks. */
async function resample(
  request: RolloutRequest,
  check: FlowCheck & { readonly checker: FlowChecker },
  prefix: readonly TraceFrame[],
  forced: TraceEventKind | undefined,
  bad: { frame: TraceFrame; issues: FrameIssue[] },
  spent: (tokens: number) => void,
): Promise<{ frame: TraceFrame; replaced: boolean }> {
  let best = bad;
  for (let attempt = 0; attempt < check.retries; attempt++) {
    request.signal?.throwIfAborted();
    check.stats.resamples++;
    const seed = request.settings.seed === undefined ? undefined : request.settings.seed + 1 + attempt;
    const result = await runRollout({
      backend: request.backend,
      codec: request.codec,
      promptIds: await check.promptFor(prefix, forced),
      context: request.context,
      source: request.source,
      ...(request.layout !== undefined ? { layout: request.layout } : {}),
      entry: request.entry,
      prefix,
      ...(forced !== undefined ? { forced } : {}),
      settings: { ...request.settings, temperature: check.temperature, seed },
      singleFrame: true,
      maxTokens: request.maxTokensPerFrame ?? request.maxTokens,
      ...(request.maxTokensPerFrame !== undefined ? { maxTokensPerFrame: request.maxTokensPerFrame } : {}),
      ...(request.signal !== undefined ? { signal: request.signal } : {}),
    });
    spent(result.completionTokens);
    const frame = result.frames[0];
    if (frame === undefined) continue;
    const issues = check.checker.judge(frame);
    if (issues.length === 0) {
      check.stats.fixed++;
      return { frame, replaced: true };
    }
    if (issues.length < best.issues.length) best = { frame, issues };
  }
  check.stats.marked++;
  return { frame: withFlowIssues(best.frame, best.issues), replaced: best !== bad };
}
