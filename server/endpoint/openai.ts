// Client of last resort for other OpenAI-compatible servers: text prompt, text stream, ids recovered by
// tokenizing the returned text, which only works when the server renders CWM's special tokens as text.
import { endpointInfo, requireModelList } from './base';
import type { HttpTransport } from './http';
import { TextStreamClient } from './text-stream';
import type { TokenCodec } from '../cwm/codec';
import type { CompletionRequest, EndpointInfo } from './types';

export const OPENAI_FALLBACK_WARNING =
  'This endpoint is neither fgserve, vLLM nor mlx_lm: it is driven as a generic OpenAI-compatible server with text prompts, and token ids are recovered by tokenizing its text, which breaks if it drops special tokens from its output.';

export class OpenAiClient extends TextStreamClient {
  readonly kind = 'openai' as const;

  constructor(transport: HttpTransport, codec: TokenCodec, model: string | undefined) {
    super(transport, codec, model);
    this.warnings.push(OPENAI_FALLBACK_WARNING);
  }

  async probe(): Promise<EndpointInfo> {
    const models = await requireModelList(this.transport, 'openai');
    return endpointInfo('openai', this.url, this.model, models);
  }

  protected requestModel(): string | undefined {
    return this.model;
  }

  protected requestBody(request: CompletionRequest, prompt: string, stop: string[], sample: number, _whole: boolean): Record<string, unknown> {
    return {
      ...(this.model !== undefined ? { model: this.model } : {}),
      prompt,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      ...(request.seed !== undefined ? { seed: request.seed + sample } : {}),
      stream: true,
      stop,
    };
  }
}
