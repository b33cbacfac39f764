// One request to a CWM endpoint turned into frames: streams token ids through the decoder and the tolerant reader,
// and cancels the HTTP request the moment a stop condition holds (so "run to line" costs one request, not one per frame).

import type { AsyncTokenStreamDecoder, TokenCodec, TokenStreamDecoder } from '../cwm/codec';
import { CwmTraceReader, MalformedReason } from '../cwm/reader';
import type { ContextLayout } from '../cwm/context';
import type { CompletionRequest, CompletionStream, TokenLogprob } from '../endpoint/types';
import { FrameTokenScores } from './confidence';
import type { EntryPoint, MalformedFrame, TraceEventKind, TraceFrame } from '../trace/model';
import { eventToken } from './prompt';

/** Anything that completes token prompts: one endpoint client or a pool of them. */
export interface CompletionBackend {
  complete(request: CompletionRequest): CompletionStream;
  /** false: a completion arrives whole, so a rollout cannot be stopped early (fgserve). */
  readonly streams?: boolean;
  /** Tokens the served context holds, when the endpoint says (vLLM's max_model_len) or the user configured it. */
  readonly contextTokens?: number;
}

export interface RolloutSettings {
  readonly temperature: number;
  readonly topP?: number;
  readonly seed?: number;
}

export interface RolloutRequest {
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  readonly promptIds: readonly number[];
  /** The prompt's source context and entry, for the reader's line mapping. */
  readonly context: string;
  readonly source: string;
  /** Where each traced file is in a multi-file context (buildContext), so frames in other files get their file. */
  readonly layout?: ContextLayout;
  readonly entry: EntryPoint;
  /** Frames already in the prompt: the reader resolves `".."`, scopes and indices from them. */
  readonly prefix: readonly TraceFrame[];
  /** Event token appended to the prompt to force the next event (the prompt ids must end with it too). */
  readonly forced?: TraceEventKind;
  readonly settings: RolloutSettings;
  /** true: one frame; false: stream until `until`, the end of the trace, maxFrames or maxTokens. */
  readonly singleFrame: boolean;
  readonly maxTokens: number;
  /** Most tokens one frame may take; the endpoint client cuts the rollout there (default: its own, 4096). */
  readonly maxTokensPerFrame?: number;
  readonly maxFrames?: number;
  /** Checked on every new frame; when it returns true the request is cancelled and the rollout ends there. */
  readonly until?: (frame: TraceFrame) => boolean;
  readonly onFrame?: (frame: TraceFrame) => void;
  readonly signal?: AbortSignal;
  /** Sample count for server-side n; choices other than 0 are read into `alternatives`. */
  readonly n?: number;
  /** A frame cut off by maxTokens is dropped silently: the caller asked for a chunk and will continue after it. */
  readonly chunked?: boolean;
  /** Scheduling priority where the server has one (vLLM: lower is served sooner; absent: the server's default, 0). */
  readonly priority?: number;
  /** Alternatives per token to ask the endpoint for, for frames' confidence (default 5; servers without log-probabilities ignore it). */
  readonly logprobs?: number;
}

/** Alternatives per token asked for by default: enough to show what else the model weighed, well under vLLM's limit of 20. */
export const DEFAULT_LOGPROBS = 5;

export interface RolloutResult {
  readonly frames: TraceFrame[];
  readonly malformed: MalformedFrame[];
  /** The model emitted `<|end_of_text|>` (or another stop token). */
  readonly ended: boolean;
  /** `until` held on the last frame. */
  readonly stoppedByCondition: boolean;
  /** Tokens generated. */
  readonly completionTokens: number;
  /** Other samples of a server-side n request, in choice order (choice 0 is the result itself). */
  readonly alternatives: RolloutResult[];
}

class ChoiceReader {
  readonly frames: TraceFrame[] = [];
  readonly malformed: MalformedFrame[] = [];
  ended = false;
  stoppedByCondition = false;
  tokens = 0;
  private readonly reader: CwmTraceReader;
  /** A server's tokenizer decodes asynchronously (it may have to ask for the text of new ids). */
  private readonly decoder: TokenStreamDecoder | AsyncTokenStreamDecoder;
  /** The current frame's text with its tokens' log-probabilities, for each frame's confidence. */
  private readonly scores = new FrameTokenScores();

  constructor(private readonly request: RolloutRequest, private readonly reportFrames: boolean) {
    this.reader = new CwmTraceReader({
      context: request.context,
      entry: request.entry,
      source: request.source,
      layout: request.layout,
      prefix: request.prefix,
    });
    this.decoder = request.codec.remote?.asyncStreamDecoder() ?? request.codec.streamDecoder();
    if (request.forced) {
      this.scores.addUnscored(eventToken(request.forced));
      this.take(this.reader.push(eventToken(request.forced)));
    }
  }

  /** Feeds ids (with their log-probabilities, where the endpoint sent them); returns true when this choice needs no more tokens. */
  async push(ids: readonly number[], logprobs?: readonly (TokenLogprob | undefined)[]): Promise<boolean> {
    // With log-probabilities each token's text is needed on its own, to know which value it belongs to.
    const pieces = logprobs !== undefined && ids.length > 1 ? ids.map((id) => [id]) : [ids];
    for (const [k, piece] of pieces.entries()) {
      this.tokens += piece.length;
      let text: string;
      try {
        text = await this.decoder.push(piece);
      } catch (error) {
        // An id outside the vocabulary means a wrong tokenizer: keep what was read, say why the rest is missing.
        this.malformed.push({ index: this.nextIndex(), raw: '', reason: error instanceof Error ? error.message : String(error) });
        this.ended = true;
        return true;
      }
      this.scores.add(text, piece.length === 1 ? logprobs?.[k] : undefined);
      this.take(this.reader.push(text));
      if (this.done()) return true;
    }
    return this.done();
  }

  /** Ends the choice; `cutReason` says which token limit cut its last frame, if one did. */
  async finish(cutReason?: string): Promise<void> {
    if (this.done()) return;
    let rest: string;
    try {
      rest = await this.decoder.end();
    } catch (error) {
      this.malformed.push({ index: this.nextIndex(), raw: '', reason: error instanceof Error ? error.message : String(error) });
      return;
    }
    this.scores.add(rest, undefined);
    this.take(this.reader.push(rest));
    if (this.done() || this.request.chunked) return;
    const items = this.reader.finish();
    this.take(cutReason === undefined ? items : items.map((item) =>
      item.kind === 'malformed' && item.malformed.reason === MalformedReason.cutOff ? { ...item, malformed: { ...item.malformed, reason: cutReason } } : item));
  }

  done(): boolean {
    return this.ended || this.stoppedByCondition || (this.request.singleFrame && this.frames.length + this.malformed.length > 0) ||
      (this.request.maxFrames !== undefined && this.frames.length >= this.request.maxFrames);
  }

  result(alternatives: RolloutResult[] = []): RolloutResult {
    return {
      frames: this.frames,
      malformed: this.malformed,
      ended: this.ended,
      stoppedByCondition: this.stoppedByCondition,
      completionTokens: this.tokens,
      alternatives,
    };
  }

  private nextIndex(): number {
    return this.request.prefix.length + this.frames.length;
  }

  private take(items: ReturnType<CwmTraceReader['push']>): void {
    for (const item of items) {
      if (this.done()) return;
      if (item.kind === 'end') {
        this.ended = true;
      } else if (item.kind === 'malformed') {
        this.scores.takeFrame();
        this.malformed.push(item.malformed);
      } else {
        const confidence = this.scores.takeFrame();
        const frame = confidence === undefined ? item.frame : { ...item.frame, confidence };
        this.frames.push(frame);
        if (this.reportFrames) this.request.onFrame?.(frame);
        if (this.request.until?.(frame)) this.stoppedByCondition = true;
      }
    }
  }
}

/** Runs one completion and reads it; an EndpointError from the request propagates unchanged. */
export async function runRollout(request: RolloutRequest): Promise<RolloutResult> {
  const n = Math.max(1, request.n ?? 1);
  const choices = Array.from({ length: n }, (_, k) => new ChoiceReader(request, k === 0));
  const stream = request.backend.complete({
    promptIds: request.promptIds,
    maxTokens: request.maxTokens,
    temperature: request.settings.temperature,
    topP: request.settings.topP,
    seed: request.settings.seed,
    n: n > 1 ? n : undefined,
    stopAtFrameEnd: request.singleFrame,
    ...(request.maxTokensPerFrame !== undefined ? { maxTokensPerFrame: request.maxTokensPerFrame } : {}),
    ...(request.priority !== undefined ? { priority: request.priority } : {}),
    signal: request.signal,
    logprobs: request.logprobs ?? DEFAULT_LOGPROBS,
  });
  let stoppedEarly = false;
  for await (const chunk of stream) {
    const choice = choices[chunk.choice];
    if (choice === undefined || choice.done()) continue;
    await choice.push(chunk.ids, chunk.logprobs);
    if (choices.every((c) => c.done())) {
      // Leaving the loop closes the HTTP request: the rest of the rollout is not generated.
      stoppedEarly = true;
      break;
    }
  }
  if (!stoppedEarly) {
    const reasons = await cutReasons(stream, request, n);
    for (const [k, choice] of choices.entries()) await choice.finish(reasons[k]);
  }
  const [first, ...rest] = choices;
  return first!.result(rest.map((choice) => choice.result()));
}

/** Per choice, the token limit that cut it, in words (the client's own limit, or the server's max_tokens). */
async function cutReasons(stream: CompletionStream, request: RolloutRequest, n: number): Promise<(string | undefined)[]> {
  const result = await stream.result.catch(() => undefined);
  return Array.from({ length: n }, (_, k) => {
    const cut = result?.cuts?.[k];
    const tokens = cut?.tokens ?? (result?.finishReasons?.[k] === 'length' ? request.maxTokens : undefined);
    if (tokens === undefined) return undefined;
    const step = request.singleFrame || cut?.limit === 'frame';
    return `cut off at the ${tokens}-token limit of ${step ? 'one step' : 'one request'}`;
  });
}
