// The prediction engine: a stepping session over frames predicted by CWM. The debug adapter, the language server
// and the CLI drive it; it knows nothing of DAP. A trace is a recording, so moving back never asks the model again.

import { withAgreement } from './confidence';
import type { TokenCodec } from '../cwm/codec';
import { buildContext, type ContextLayout } from '../cwm/context';
import type { EntryPoint, MalformedFrame, TraceEventKind, TraceFrame, TraceSourceFile } from '../trace/model';
import { PromptBuilder } from './prompt';
import { runRollout, type CompletionBackend, type RolloutResult, type RolloutSettings } from './rollout';
import { ReadAhead, READ_AHEAD_PRIORITY, readAheadSettings, type ReadAheadSettings, type StreamVerdict } from './read-ahead';
import { appendAll, maxOf, minOf } from '../trace/arrays';
import { FlowGuard } from './checked-rollout';

export interface PredictionSessionOptions {
  readonly source: string;
  readonly path?: string;
  /** Other files of the program the context holds (a real run's `Trace.files`); frames may then run in them. */
  readonly files?: readonly TraceSourceFile[];
  readonly entry: EntryPoint;
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  /** Frames the trace starts with, e.g. the entry's call frame holding the user's arguments. */
  readonly initialFrames?: readonly TraceFrame[];
  readonly temperature?: number;
  /** Temperature of restarts and of several samples (`sample`): they must differ, so never 0 (default 0.6). */
  readonly sampleTemperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  /** Tokens the endpoint's context holds (CWM: 131072); the backend's own limit, when smaller, wins. */
  readonly contextTokens?: number;
  /** Most tokens one frame may take before it counts as cut off. */
  readonly maxTokensPerFrame?: number;
  /** Most frames one streamed rollout may add. */
  readonly maxFramesPerRollout?: number;
  /**
   * Keep one streamed rollout running ahead of the current frame while nothing else is asked (predict mode in the debug
   * adapter); absent: no read-ahead (the CLI, evaluations and compare mode, which stream on their own).
   */
  readonly readAhead?: Partial<ReadAheadSettings>;
  /** Symbolic checks of predicted frames (default on); the interpreter that parses the program for them (never runs it). */
  readonly flowCheck?: boolean;
  readonly flowPython?: string;
}

export const DEFAULT_CONTEXT_TOKENS = 131072;
/** The reference debugger's CLI samples at 0.6 (demos/cwmdbg.py). */
export const DEFAULT_SAMPLE_TEMPERATURE = 0.6;

/** The context to size prompts for: the smaller of the configured one and the one the backend reports. */
export function effectiveContextTokens(configured: number | undefined, backend: { readonly contextTokens?: number }): number {
  const limits = [configured, backend.contextTokens].filter((n): n is number => n !== undefined && n > 0);
  return limits.length > 0 ? minOf(limits) : DEFAULT_CONTEXT_TOKENS;
}
const DEFAULT_MAX_TOKENS_PER_FRAME = 4096;
const DEFAULT_MAX_FRAMES_PER_ROLLOUT = 20000;

/** What a movement ended on. */
export type StepOutcome =
  | { readonly kind: 'frame'; readonly frame: TraceFrame }
  /** The trace is over: the model emitted `<|end_of_text|>` after the entry returned. */
  | { readonly kind: 'end'; readonly frame?: TraceFrame }
  /** The model's output could not be read as a frame; the cursor did not move. */
  | { readonly kind: 'malformed'; readonly malformed: MalformedFrame; readonly frame?: TraceFrame };

export type FrameCondition = (frame: TraceFrame) => boolean;

export interface AgreementEntry {
  /** Index in the trace (after the session's current frame). */
  readonly index: number;
  /** Most common `event:line` among the rollouts that reached this index, and how many share it. */
  readonly action: string;
  readonly actionCount: number;
  /** Rollouts that reached this index. */
  readonly reached: number;
  /** Per variable: most common value among rollouts with the majority action, and how many agree. */
  readonly variables: ReadonlyMap<string, { readonly value: string; readonly count: number }>;
}

export interface SampleResult {
  readonly rollouts: readonly (readonly TraceFrame[])[];
  readonly agreement: readonly AgreementEntry[];
}

/** Notices the UI should show (a prompt cut to fit the context, a malformed frame skipped...). */
export type SessionNotice = (message: string) => void;

export class PredictionSession {
  readonly context: string;
  private readonly layout: ContextLayout;
  private frames: TraceFrame[] = [];
  private prompt: PromptBuilder;
  private cursorIndex = -1;
  private endReached = false;
  private readonly malformedFrames: MalformedFrame[] = [];
  private settings: RolloutSettings;
  private readonly contextTokens: number;
  private readonly maxTokensPerFrame: number;
  private readonly maxFramesPerRollout: number;
  private promptCutNoticed = false;
  /** Call frames whose body a step over skipped by forcing their return right after them. */
  private readonly skippedBodies = new Set<number>();
  /** Requests of the session's own running (a step the user waits for, samples): no read-ahead starts meanwhile. */
  private ownRequests = 0;
  private readonly readAheadStream?: ReadAhead;
  onNotice: SessionNotice = () => undefined;
  /** Marks and re-samples predicted frames the program cannot take; its stats count how often. */
  readonly flow: FlowGuard;

  constructor(private readonly options: PredictionSessionOptions) {
    this.flow = new FlowGuard({ source: options.source, files: options.files, python: options.flowPython, enabled: options.flowCheck });
    this.layout = buildContext(options);
    this.context = this.layout.text;
    this.prompt = new PromptBuilder(this.context, options.codec);
    this.settings = { temperature: options.temperature ?? 0, topP: options.topP, seed: options.seed };
    this.contextTokens = effectiveContextTokens(options.contextTokens, options.backend);
    this.maxTokensPerFrame = options.maxTokensPerFrame ?? DEFAULT_MAX_TOKENS_PER_FRAME;
    this.maxFramesPerRollout = options.maxFramesPerRollout ?? DEFAULT_MAX_FRAMES_PER_ROLLOUT;
    const readAhead = options.readAhead === undefined ? undefined : readAheadSettings(options.readAhead);
    if (readAhead?.enabled) this.readAheadStream = this.createReadAhead(readAhead);
    this.resetFrames();
  }

  /** The read-ahead, when this session has one: its settings, and whether it is reading now. */
  get readAhead(): ReadAhead | undefined {
    return this.readAheadStream;
  }

  /** Stops the read-ahead for good (the debug session ends). */
  async dispose(): Promise<void> {
    await this.readAheadStream?.dispose();
  }

  /** Every frame predicted so far (the recording), in order. */
  get trace(): readonly TraceFrame[] {
    return this.frames;
  }

  /** Index of the current frame; -1 before the first one. */
  get cursor(): number {
    return this.cursorIndex;
  }

  get current(): TraceFrame | undefined {
    return this.frames[this.cursorIndex];
  }

  /** The model ended the trace after the last recorded frame. */
  get ended(): boolean {
    return this.endReached;
  }

  get malformed(): readonly MalformedFrame[] {
    return this.malformedFrames;
  }

  get sampling(): RolloutSettings {
    return this.settings;
  }

  /** Moves to the first frame, predicting it if the session has none. */
  async start(signal?: AbortSignal): Promise<StepOutcome> {
    if (this.frames.length > 0) return this.moveTo(0);
    return this.stepIn(signal);
  }

  /**
   * One frame forward: the recorded one, else one predicted frame. As the reference debugger (`demos/cwmdbg.py`,
   * `step`/`reset`) does, the event is forced where the format leaves no choice the model could get wrong: the first
   * frame of an empty trace is a call (`<|call_sep|>`), and stepping in from a call frame enters its body (`<|line_sep|>`).
   * A call whose body a step over skipped (its return was forced) is entered now: the recording after it is dropped and
   * predicted again, as the reference debugger's step back followed by step does.
   */
  async stepIn(signal?: AbortSignal): Promise<StepOutcome> {
    const next = this.cursorIndex + 1;
    if (next < this.frames.length) {
      if (!this.skippedBodies.has(this.cursorIndex)) return this.moveTo(next);
      this.dropAfter(this.cursorIndex);
    } else if (this.endReached) {
      return { kind: 'end', frame: this.current };
    }
    const last = this.frames[this.frames.length - 1];
    const forced = last === undefined ? 'call' : last.event === 'call' ? 'line' : undefined;
    return this.outcomeOf(await this.predict({ singleFrame: true, signal, forced }));
  }

  /**
   * To the next frame at this depth or shallower: the next line of this function, its return, or its caller.
   * A call the model would predict is not predicted body and all: its return is forced right after the call frame,
   * as the reference debugger does.
   */
  async stepOver(signal?: AbortSignal): Promise<StepOutcome> {
    const here = this.current;
    if (here === undefined) return this.stepIn(signal);
    const depth = here.depth;
    // The recording is searched again after every prediction: a read-ahead may have recorded more than the one frame asked for.
    let searched = this.cursorIndex + 1;
    for (let predicted = 0; predicted <= this.maxFramesPerRollout; predicted++) {
      for (; searched < this.frames.length; searched++) {
        if (this.frames[searched]!.depth <= depth) return this.moveTo(searched);
      }
      if (this.endReached) return this.moveTo(this.frames.length - 1, true);
      if (predicted === this.maxFramesPerRollout) break;
      const last = this.frames[this.frames.length - 1];
      const forced = last !== undefined && last.event === 'call' && last.depth > depth ? 'return' : undefined;
      const callIndex = this.frames.length - 1;
      const result = await this.predict({ singleFrame: true, signal, forced });
      if (forced === 'return' && result.frames[0] !== undefined) this.skippedBodies.add(callIndex);
      if (result.frames.length === 0) return this.outcomeOf(result);
    }
    return this.moveTo(this.frames.length - 1);
  }

  /** To the frame after the current function returned (its caller's next frame), in one streamed rollout. */
  async stepOut(signal?: AbortSignal, onFrame?: (frame: TraceFrame) => void): Promise<StepOutcome> {
    const here = this.current;
    if (here === undefined) return this.stepIn(signal);
    const depth = here.depth;
    return this.runUntil((frame) => frame.depth < depth, signal, onFrame);
  }

  /** One frame back in the recording; nothing is predicted or discarded. */
  stepBack(): StepOutcome {
    if (this.cursorIndex <= 0) return this.current ? { kind: 'frame', frame: this.current } : { kind: 'end' };
    return this.moveTo(this.cursorIndex - 1);
  }

  /** Jumps to a recorded frame (the side-by-side view's "go to step N"). */
  goTo(index: number): StepOutcome {
    if (index < 0 || index >= this.frames.length) {
      throw new RangeError(`Step ${index} is not recorded; the prediction has ${this.frames.length} steps.`);
    }
    return this.moveTo(index);
  }

  /**
   * Forward to the first frame after the current one where `condition` holds (a line, a breakpoint condition), or to the
   * end: first through the recording, then with ONE streamed rollout cancelled as soon as the condition holds.
   */
  async runUntil(condition: FrameCondition, signal?: AbortSignal, onFrame?: (frame: TraceFrame) => void): Promise<StepOutcome> {
    for (let i = this.cursorIndex + 1; i < this.frames.length; i++) {
      if (condition(this.frames[i]!)) return this.moveTo(i);
    }
    if (this.endReached) return this.moveTo(this.frames.length - 1, true);
    return this.outcomeOf(await this.predict({ singleFrame: false, until: condition, signal, onFrame, forced: this.firstFrameForced() }));
  }

  /** Forward to the end of the trace (or the rollout limits). */
  async runToEnd(signal?: AbortSignal, onFrame?: (frame: TraceFrame) => void): Promise<StepOutcome> {
    return this.runUntil(() => false, signal, onFrame);
  }

  /**
   * A what-if: sets `name` to `valueRepr` in the current frame; the frames after it are dropped and later predictions
   * continue from the edited state.
   */
  setVariable(name: string, valueRepr: string): TraceFrame {
    const here = this.current;
    if (here === undefined) throw new Error('No current frame: start the session first.');
    if (here.event !== 'call' && here.event !== 'line') {
      throw new Error(`Variables can be set on call and line steps only; step ${here.index} is a ${here.event}.`);
    }
    const locals = new Map(here.locals);
    locals.set(name, valueRepr);
    // The user set this value: the model's confidence in the one it predicted no longer applies to it.
    const confidence = here.confidence === undefined ? undefined
      : { ...here.confidence, locals: new Map([...here.confidence.locals].filter(([local]) => local !== name)) };
    const edited: TraceFrame = { ...here, locals, issues: undefined, raw: undefined, confidence };
    // Frames read ahead from the old state are dropped with the rest, and a stream still reading them is stale.
    this.readAheadStream?.invalidate();
    this.frames = [...this.frames.slice(0, this.cursorIndex), edited];
    this.forgetSkippedBodiesFrom(this.cursorIndex);
    this.prompt.truncate(this.frames, this.cursorIndex);
    this.prompt.append(edited);
    this.endReached = false;
    this.readAheadStream?.schedule();
    return edited;
  }

  /** Drops the prediction and starts over with a fresh sample (at the sample temperature unless told another). */
  async restart(options: { temperature?: number; seed?: number } = {}, signal?: AbortSignal): Promise<StepOutcome> {
    this.settings = {
      ...this.settings,
      temperature: options.temperature ?? this.sampleTemperature,
      seed: options.seed ?? (this.settings.seed === undefined ? undefined : this.settings.seed + 1),
    };
    this.resetFrames();
    return this.start(signal);
  }

  /**
   * n independent rollouts from the current frame to the end, and how much they agree per frame and variable.
   * Several endpoints: parallel requests spread by the backend; one endpoint: server-side n.
   */
  async sample(n: number, options: { parallelRequests?: boolean; signal?: AbortSignal; temperature?: number } = {}): Promise<SampleResult> {
    this.ownRequests++;
    try {
      // Samples are what the user waits for now: the read-ahead steps aside until they are done.
      await this.readAheadStream?.cancel();
      return await this.sampleFromCursor(n, options);
    } finally {
      this.ownRequests--;
      this.readAheadStream?.schedule();
    }
  }

  private async sampleFromCursor(n: number, options: { parallelRequests?: boolean; signal?: AbortSignal; temperature?: number }): Promise<SampleResult> {
    const count = Math.max(1, Math.floor(n));
    const prefix = this.frames.slice(0, this.cursorIndex + 1);
    const forced: TraceEventKind | undefined = prefix.length === 0 ? 'call' : undefined;
    const built = await this.buildPrompt(prefix, forced);
    // Greedy samples would all be the same (and vLLM refuses n > 1 at temperature 0): samples use the sample temperature.
    const settings = { ...this.settings, temperature: options.temperature ?? this.sampleTemperature };
    const base = {
      ...this.rolloutBase(prefix, built.ids),
      forced,
      settings,
      singleFrame: false,
      maxTokens: this.rolloutTokenBudget(built.ids.length),
    };
    let rollouts: RolloutResult[];
    if (options.parallelRequests) {
      // A seed only where the user set one: mlx_lm serves a seeded request alone instead of batching it.
      rollouts = await Promise.all(
        Array.from({ length: count }, (_, k) =>
          runRollout({ ...base, settings: { ...settings, seed: settings.seed === undefined ? undefined : settings.seed + k }, signal: options.signal })),
      );
    } else {
      const result = await runRollout({ ...base, n: count, signal: options.signal });
      rollouts = [result, ...result.alternatives];
    }
    // Impossible steps are marked in each rollout; then how many rollouts agree is each frame's confidence
    // (server/engine/confidence.ts).
    const frames = withAgreement(await this.flow.markRollouts(prefix, rollouts.map((rollout) => rollout.frames)));
    return { rollouts: frames, agreement: computeAgreement(frames, prefix.length) };
  }

  private get sampleTemperature(): number {
    return this.options.sampleTemperature ?? DEFAULT_SAMPLE_TEMPERATURE;
  }

  private resetFrames(): void {
    this.readAheadStream?.invalidate();
    this.frames = [...(this.options.initialFrames ?? [])];
    this.prompt = new PromptBuilder(this.context, this.options.codec);
    for (const frame of this.frames) this.prompt.append(frame);
    this.cursorIndex = this.frames.length > 0 ? 0 : -1;
    this.endReached = false;
    this.malformedFrames.length = 0;
    this.skippedBodies.clear();
  }

  /** The event a prediction from the end of the recording starts with when nothing else decides it. */
  private firstFrameForced(): TraceFrame['event'] | undefined {
    return this.frames.length === 0 ? 'call' : undefined;
  }

  /** Keeps the frames up to `index` (the cursor stays there); what came after is predicted again when needed. */
  private dropAfter(index: number): void {
    this.readAheadStream?.invalidate();
    this.frames = this.frames.slice(0, index + 1);
    this.forgetSkippedBodiesFrom(index);
    this.prompt.truncate(this.frames, this.frames.length);
    this.endReached = false;
  }

  private forgetSkippedBodiesFrom(index: number): void {
    for (const call of this.skippedBodies) if (call >= index) this.skippedBodies.delete(call);
  }

  private moveTo(index: number, atEnd = false): StepOutcome {
    this.cursorIndex = index;
    this.readAheadStream?.schedule();
    const frame = this.frames[index]!;
    return atEnd ? { kind: 'end', frame } : { kind: 'frame', frame };
  }

  /** Where a prediction leaves the cursor: on its last new frame, else at the end, else on a malformed frame. */
  private outcomeOf(result: RolloutResult): StepOutcome {
    const last = result.frames[result.frames.length - 1];
    if (last !== undefined) {
      // A read-ahead may have recorded frames after the ones this movement needed: the cursor goes to the movement's last.
      const index = this.frames.lastIndexOf(last);
      return this.moveTo(index >= 0 ? index : this.frames.length - 1, result.ended && !result.stoppedByCondition);
    }
    if (result.ended) return { kind: 'end', frame: this.current };
    const malformed = result.malformed[0] ?? { index: this.frames.length, raw: '', reason: 'the model returned no frame' };
    return { kind: 'malformed', malformed, frame: this.current };
  }

  private async buildPrompt(frames: readonly TraceFrame[], forced?: TraceFrame['event']): Promise<{ ids: number[] }> {
    const budget = this.contextTokens - Math.min(this.maxTokensPerFrame, Math.floor(this.contextTokens / 4));
    // The prompt builder caches the recorded frames' ids; a prefix shorter than the recording needs its own builder.
    const builder = frames.length === this.frames.length ? this.prompt : this.builderFor(frames);
    const built = await builder.build(frames, budget, forced);
    const tokenizerWarning = this.options.codec.remote?.takeWarning();
    if (tokenizerWarning !== undefined) this.onNotice(tokenizerWarning);
    if (built.droppedFrames > 0 && !this.promptCutNoticed) {
      this.promptCutNoticed = true;
      this.onNotice(
        `The trace no longer fits the endpoint's context (${this.contextTokens} tokens): the prompt leaves out the ` +
          `${built.droppedFrames} oldest steps, so predictions may lose track of early state.`,
      );
    }
    return built;
  }

  private builderFor(frames: readonly TraceFrame[]): PromptBuilder {
    const builder = new PromptBuilder(this.context, this.options.codec);
    for (const frame of frames) builder.append(frame);
    return builder;
  }

  private rolloutTokenBudget(promptLength: number): number {
    return Math.max(this.maxTokensPerFrame, this.contextTokens - promptLength);
  }

  private rolloutBase(prefix: readonly TraceFrame[], promptIds: readonly number[]) {
    return {
      backend: this.options.backend,
      codec: this.options.codec,
      promptIds,
      context: this.context,
      layout: this.layout,
      source: this.options.source,
      entry: this.options.entry,
      prefix,
      settings: this.settings,
      maxFrames: this.maxFramesPerRollout,
      maxTokensPerFrame: this.maxTokensPerFrame,
    };
  }

  private createReadAhead(settings: ReadAheadSettings): ReadAhead {
    return new ReadAhead({
      lead: () => this.frames.length - 1 - this.cursorIndex,
      mayRead: () => !this.endReached && this.ownRequests === 0,
      stream: (options) => this.readAheadRollout(options),
      record: (frame) => {
        this.frames.push(frame);
        this.prompt.append(frame);
      },
      finished: (result) => {
        appendAll(this.malformedFrames, result.malformed);
        if (result.ended) this.endReached = true;
      },
    }, settings);
  }

  /** The read-ahead's one streamed rollout from the end of the recording, at the priority that lets the user's requests go first. */
  private async readAheadRollout(options: {
    readonly maxTokens: number;
    readonly signal: AbortSignal;
    readonly accept: (frame: TraceFrame) => StreamVerdict;
  }): Promise<RolloutResult> {
    // In the background nobody waits: the read-ahead waits for the impossible-step checker's facts (a parse taking a
    // fraction of a second), so that its frames are judged as they stream and its bound stops the stream on time.
    await this.flow.ready();
    options.signal.throwIfAborted();
    const last = this.frames[this.frames.length - 1];
    // Forced as stepping in forces it: the first frame of an empty trace is a call, and a call's next frame enters its body.
    const forced: TraceEventKind | undefined = last === undefined ? 'call' : last.event === 'call' ? 'line' : undefined;
    // The reader numbers frames from its prefix, and the recording grows while this stream runs: it gets a copy.
    const prefix = [...this.frames];
    const built = await this.buildPrompt(this.frames, forced);
    options.signal.throwIfAborted();
    // A backend that answers whole cannot be stopped at the bound: it is asked for small chunks instead.
    const chunk = this.options.backend.streams === false ? FIRST_CHUNK_TOKENS : options.maxTokens;
    // Read-ahead frames are checked like any other predicted frame: an impossible one is re-sampled before it is shown.
    return this.flow.run({
      ...this.rolloutBase(prefix, built.ids),
      forced,
      singleFrame: false,
      maxTokens: Math.min(options.maxTokens, chunk, this.rolloutTokenBudget(built.ids.length)),
      // Cut at its token bound, the last frame is left for the next read-ahead, not reported as malformed.
      chunked: true,
      until: (frame) => options.accept(frame) !== 'continue',
      signal: options.signal,
      priority: READ_AHEAD_PRIORITY,
    }, async (frames, forcedEvent) => (await this.buildPrompt(frames, forcedEvent)).ids, this.sampleTemperature);
  }

  /**
   * The frames a movement needs past the recording: from the running read-ahead stream when there is one (the movement
   * waits on it instead of sending a request that would compete with it), else from a request of the movement's own.
   */
  private async predict(request: PredictRequest): Promise<RolloutResult> {
    const ahead = this.readAheadStream;
    // A forced return (step over a call) is not what a free-running stream predicts: that one asks on its own.
    const served = ahead !== undefined && request.forced !== 'return' ? await ahead.serve(request) : undefined;
    if (served?.satisfied) return served.result;
    const rest = served !== undefined && served.result.frames.length > 0 ? { ...request, forced: undefined } : request;
    this.ownRequests++;
    try {
      await ahead?.cancel();
      const result = await this.predictUnshared(rest);
      ahead?.resume();
      return served === undefined ? result : joinResults(served.result, result);
    } finally {
      this.ownRequests--;
      ahead?.schedule();
    }
  }

  private async predictUnshared(request: PredictRequest): Promise<RolloutResult> {
    if (request.singleFrame || this.options.backend.streams !== false) return this.predictOnce(request);
    // A backend that answers whole (fgserve) cannot be stopped when the condition holds: ask for geometrically growing
    // chunks instead, so reaching a frame costs at most about twice the tokens it needs and a few extra requests.
    const frames: TraceFrame[] = [];
    const malformed: MalformedFrame[] = [];
    let tokens = 0;
    let chunk = FIRST_CHUNK_TOKENS;
    for (let first = true; ; first = false) {
      const result = await this.predictOnce({ ...request, forced: first ? request.forced : undefined }, chunk);
      appendAll(frames, result.frames);
      appendAll(malformed, result.malformed);
      tokens += result.completionTokens;
      const finished = result.ended || result.stoppedByCondition || frames.length >= this.maxFramesPerRollout;
      if (finished || (result.frames.length === 0 && chunk >= this.maxTokensPerFrame)) {
        return { frames, malformed, ended: result.ended, stoppedByCondition: result.stoppedByCondition, completionTokens: tokens, alternatives: [] };
      }
      chunk = Math.min(chunk * 2, MAX_CHUNK_TOKENS);
    }
  }

  private async predictOnce(request: PredictRequest, chunkTokens?: number): Promise<RolloutResult> {
    const built = await this.buildPrompt(this.frames, request.forced);
    const budget = request.singleFrame ? this.maxTokensPerFrame : this.rolloutTokenBudget(built.ids.length);
    const result = await this.flow.run({
      ...this.rolloutBase(this.frames, built.ids),
      forced: request.forced,
      singleFrame: request.singleFrame,
      maxTokens: chunkTokens === undefined ? budget : Math.min(chunkTokens, budget),
      chunked: chunkTokens !== undefined && chunkTokens < budget,
      until: request.until,
      onFrame: request.onFrame,
      signal: request.signal,
    }, async (frames, forced) => (await this.buildPrompt(frames, forced)).ids, this.sampleTemperature);
    for (const frame of result.frames) {
      this.frames.push(frame);
      this.prompt.append(frame);
    }
    appendAll(this.malformedFrames, result.malformed);
    if (result.ended) this.endReached = true;
    return result;
  }
}

/** Frames a movement got from the read-ahead, then from its own request. */
function joinResults(first: RolloutResult, second: RolloutResult): RolloutResult {
  return {
    frames: [...first.frames, ...second.frames],
    malformed: [...first.malformed, ...second.malformed],
    ended: second.ended,
    stoppedByCondition: second.stoppedByCondition,
    completionTokens: first.completionTokens + second.completionTokens,
    alternatives: second.alternatives,
  };
}

interface PredictRequest {
  readonly singleFrame: boolean;
  readonly forced?: TraceFrame['event'];
  readonly until?: FrameCondition;
  readonly signal?: AbortSignal;
  readonly onFrame?: (frame: TraceFrame) => void;
}

/** First chunk of a rollout from a non-streaming backend: about a dozen frames. Also a read-ahead request's size there. */
const FIRST_CHUNK_TOKENS = 512;
const MAX_CHUNK_TOKENS = 16384;

/** Teacher forcing: the model's next frame given a (real) prefix, so a comparison can re-synchronise after a divergence. */
export async function predictNextFrame(options: {
  readonly source: string;
  readonly path?: string;
  readonly files?: readonly TraceSourceFile[];
  readonly entry: EntryPoint;
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  readonly prefix: readonly TraceFrame[];
  readonly settings?: RolloutSettings;
  readonly contextTokens?: number;
  readonly maxTokensPerFrame?: number;
  readonly signal?: AbortSignal;
}): Promise<{ frame?: TraceFrame; ended: boolean; malformed?: MalformedFrame; completionTokens: number }> {
  const layout = buildContext(options);
  const context = layout.text;
  const builder = new PromptBuilder(context, options.codec);
  for (const frame of options.prefix) builder.append(frame);
  const maxTokens = options.maxTokensPerFrame ?? DEFAULT_MAX_TOKENS_PER_FRAME;
  // The first frame is always a call: forced as the reference debugger forces it, so teacher forcing sees the same prompt.
  const forced: TraceEventKind | undefined = options.prefix.length === 0 ? 'call' : undefined;
  const contextTokens = effectiveContextTokens(options.contextTokens, options.backend);
  const built = await builder.build(options.prefix, contextTokens - Math.min(maxTokens, Math.floor(contextTokens / 4)), forced);
  const result = await runRollout({
    backend: options.backend,
    codec: options.codec,
    promptIds: built.ids,
    context,
    layout,
    source: options.source,
    entry: options.entry,
    prefix: options.prefix,
    forced,
    settings: options.settings ?? { temperature: 0 },
    singleFrame: true,
    maxTokens,
    signal: options.signal,
  });
  return { frame: result.frames[0], ended: result.ended && result.frames.length === 0, malformed: result.malformed[0], completionTokens: result.completionTokens };
}

/** Per frame after `offset`: the majority action and, among rollouts with it, how many agree on each variable. */
export function computeAgreement(rollouts: readonly (readonly TraceFrame[])[], offset: number): AgreementEntry[] {
  const longest = maxOf(rollouts.map((frames) => frames.length), 0);
  const entries: AgreementEntry[] = [];
  for (let k = 0; k < longest; k++) {
    const present = rollouts.map((frames) => frames[k]).filter((frame): frame is TraceFrame => frame !== undefined);
    const actions = countBy(present.map((frame) => `${frame.event}:${frame.line}`));
    const [action, actionCount] = majority(actions);
    const sameAction = present.filter((frame) => `${frame.event}:${frame.line}` === action);
    const names = new Set(sameAction.flatMap((frame) => [...frame.locals.keys()]));
    const variables = new Map<string, { value: string; count: number }>();
    for (const name of names) {
      const values = countBy(sameAction.map((frame) => frame.locals.get(name)).filter((v): v is string => v !== undefined));
      const [value, count] = majority(values);
      variables.set(name, { value, count });
    }
    entries.push({ index: offset + k, action, actionCount, reached: present.length, variables });
  }
  return entries;
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}

function majority(counts: ReadonlyMap<string, number>): [string, number] {
  let best: [string, number] = ['', 0];
  for (const entry of counts) if (entry[1] > best[1]) best = entry;
  return best;
}
