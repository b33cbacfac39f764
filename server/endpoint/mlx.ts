// Client for mlx_lm.server (Apple silicon): text prompts, SSE text streaming with `: keepalive` comments,
// no `n` (one request per sample, seeds spread so the samples differ), stop words cut from the output.
import { endpointInfo, readModelList, requireModelList } from './base';
import type { HttpTransport } from './http';
import { TextStreamClient } from './text-stream';
import type { TokenCodec } from '../cwm/codec';
import type { CompletionRequest, EndpointInfo } from './types';

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

  protected requestBody(request: CompletionRequest, prompt: string, stop: string[], sample: number): Record<string, unknown> {
    return {
      ...(this.configuredModel !== undefined ? { model: this.configuredModel } : {}),
      prompt,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      // A seeded request is served alone, never batched (mlx_lm/server.py, _is_batchable): a seed goes out only when one
      // was set, and never for greedy decoding, which it cannot change.
      ...(request.seed !== undefined && request.temperature > 0 ? { seed: request.seed + sample } : {}),
      stream: true,
      stream_options: { include_usage: true },
      // Sampled token ids ride in logprobs.content[].id where the server sends logprobs (its non-streamed answers).
      logprobs: true,
      stop,
    };
  }
}

