// Client for mlx_lm.server (Apple silicon): text prompts, SSE text streaming with `: keepalive` comments,
// no `n` (one request per sample, seeds spread so the samples differ), stop words cut from the output; a single step
// asked whole instead of streamed, since mlx_lm returns token log-probabilities (the step's confidence) only then.
import { endpointInfo, readModelList, requireModelList } from './base';
import type { HttpTransport } from './http';
import { TextStreamClient } from './text-stream';
import type { TokenCodec } from '../cwm/codec';
import type { BackendKind, CompletionRequest, EndpointInfo } from './types';

export class MlxClient extends TextStreamClient {
  readonly kind = 'mlx' as const;

  /**
   * @param model the served model as listed (shown to the user);
   * @param configuredModel sent in requests only when the user named it: mlx_lm loads whatever model a request
   * names, so echoing a listed id (e.g. a resolved local path) could make it load the weights a second time.
   */
  constructor(
    transport: HttpTransport,
    codec: TokenCodec,
    model: string | undefined,
    private readonly configuredModel: string | undefined,
  ) {
    super(transport, codec, model);
  }

  async probe(): Promise<EndpointInfo> {
    // An empty or unreadable list after a 200 is mlx_lm without a Hugging Face cache folder, not a failure.
    const { status, models } = await readModelList(this.transport, 'mlx');
    if (status !== 200) await requireModelList(this.transport, 'mlx');
    return endpointInfo('mlx', this.url, this.model, models ?? []);
  }

  protected requestModel(): string | undefined {
    return this.configuredModel;
  }

  /**
   * One step with log-probabilities wanted: asked whole, as mlx_lm's generate_response puts `logprobs.content` only in
   * an answer that is not streamed (mlx_lm/server.py). Longer rollouts stay streamed, to stop early and show progress.
   */
  protected override wholeAnswer(request: CompletionRequest): boolean {
    return request.logprobs !== undefined && request.stopAtFrameEnd;
  }

  /** A whole answer comes only when the step is generated: the deadlines grow with the tokens asked for, as for fgserve. */
  protected override guardOptions(request: CompletionRequest): { extraMs?: number; backend?: BackendKind } {
    if (!this.wholeAnswer(request)) return { backend: 'mlx' };
    const { perTokenMs, totalMs } = this.transport.config;
    return { backend: 'mlx', extraMs: Math.min(request.maxTokens * perTokenMs, 3 * totalMs) };
  }

  protected requestBody(request: CompletionRequest, prompt: string, stop: string[], sample: number, whole: boolean): Record<string, unknown> {
    return {
      ...(this.configuredModel !== undefined ? { model: this.configuredModel } : {}),
      prompt,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      // A seeded request is served alone, never batched (mlx_lm/server.py, _is_batchable): a seed goes out only when one
      // was set, and never for greedy decoding, which it cannot change.
      ...(request.seed !== undefined && request.temperature > 0 ? { seed: request.seed + sample } : {}),
      ...(whole ? { stream: false } : { stream: true, stream_options: { include_usage: true } }),
      // Sampled token ids and their log-probabilities ride in logprobs.content[] where the server sends them (answers
      // that are not streamed). No top_logprobs: with it each entry's id is the first of the top tokens, not the sampled one.
      logprobs: true,
      stop,
    };
  }
}

