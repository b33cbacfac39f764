// Client for fgserve, the FastGen server of the CWM release: POST /completions with token ids, no streaming.
// Its `choices[i].tokens` keep the stop token at the end; its finish_reason is always "length", so ours is derived.
import { z } from 'zod';
import { Tok } from '../cwm/tokens';
import { BaseClient, endpointInfo, parseJson } from './base';
import { endpointErrors, extractServerMessage, httpError } from './errors';
import { answerByteLimit, readAnswer, type RequestGuard } from './http';
import type { CompletionRequest, CompletionResult, EndpointInfo, TokenChunk } from './types';

const answerSchema = z.object({
  choices: z.array(z.object({ index: z.number().int().min(0), tokens: z.array(z.number().int()) })),
  usage: z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int() }).partial().optional(),
});

export class FgserveClient extends BaseClient {
  readonly kind = 'fgserve' as const;
  readonly streams = false;

  async probe(): Promise<EndpointInfo> {
    // GET on the POST-only route: Flask answers 405 without generating anything, which proves fgserve is there.
    const answer = await this.transport.getText('/completions');
    if (answer.status === 404) {
      throw httpError(404, extractServerMessage(answer.text), { url: this.url, backend: 'fgserve', method: 'GET', path: '/completions' });
    }
    return endpointInfo('fgserve', this.url, undefined, []);
  }

  protected async *run(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    const body = {
      prompt: [...request.promptIds],
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      n: request.n ?? 1,
      // fgserve takes one stop string (a list is rejected); eom/eot/end always stop anyway.
      stop: request.stopAtFrameEnd ? Tok.frameSep : null,
    };
    const res = await this.transport.postJson('/completions', body, guard, 'fgserve');
    // Whole completions of up to n × maxTokens tokens, as ids and text: bounded by what was asked for.
    const asked = body.n * request.maxTokens;
    const text = await readAnswer(res.body, answerByteLimit(asked), this.url, asked);
    const parsed = answerSchema.safeParse(parseJson(text, this.url, 'fgserve'));
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.join('.') ?? '?';
      throw endpointErrors.protocol(this.url, 'fgserve', `the answer has no usable choices[].tokens (problem at ${where})`);
    }
    const choices = [...parsed.data.choices].sort((a, b) => a.index - b.index);
    const finishReasons: ('stop' | 'length')[] = [];
    for (const choice of choices) {
      finishReasons[choice.index] = this.finishFromIds(choice.tokens);
      yield { choice: choice.index, ids: choice.tokens };
    }
    const usage = parsed.data.usage;
    return {
      ...(finishReasons[0] !== undefined ? { finishReason: finishReasons[0] } : {}),
      finishReasons,
      ...(usage?.prompt_tokens !== undefined ? { promptTokens: usage.prompt_tokens } : {}),
      ...(usage?.completion_tokens !== undefined ? { completionTokens: usage.completion_tokens } : {}),
    };
  }
}
