// Client for fgserve, the FastGen server of the CWM release: POST /completions with token ids, no streaming.
// Its `choices[i].tokens` keep the stop token at the end; its finish_reason is always "length", so ours is derived.
// It never gets temperature 0 (FastGen cannot decode greedily per request) and asks for several samples as parallel
// single requests, which FastGen batches, instead of its `n`, which it runs one after another.
import { z } from 'zod';
import { Tok } from '../cwm/tokens';
import { BaseClient, endpointInfo, parseJson } from './base';
import { endpointErrors, extractServerMessage, httpError } from './errors';
import { answerByteLimit, readAnswer, type RequestGuard } from './http';
import type { BackendKind, CompletionRequest, CompletionResult, EndpointInfo, TokenChunk } from './types';

type FgserveAnswer = z.infer<typeof answerSchema>;

/**
 * What fgserve gets instead of temperature 0. FastGen samples every request with softmax(logits / temperature)
 * (cwm/fastgen/generate.py, FastGen._sample, unless the server was started with gen_args.use_sampling=false): 0 gives
 * NaN probabilities, its generation thread dies and fgserve never answers again. At 0.01 a token 0.1 below the best in
 * logit is picked with odds e^-10: greedy in all but name.
 */
export const FGSERVE_NEAR_GREEDY_TEMPERATURE = 0.01;

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

  /**
   * The whole answer arrives only once generated: the deadlines grow with the tokens asked for, up to three times the
   * total timeout (a whole rollout may ask for the rest of a 131k context, which no one waits hours for).
   */
  protected override guardOptions(request: CompletionRequest): { extraMs?: number; backend?: BackendKind } {
    const { perTokenMs, totalMs } = this.transport.config;
    return { backend: 'fgserve', extraMs: Math.min(request.maxTokens * perTokenMs, 3 * totalMs) };
  }

  protected async *run(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    const body = {
      prompt: [...request.promptIds],
      max_tokens: request.maxTokens,
      temperature: Math.max(request.temperature, FGSERVE_NEAR_GREEDY_TEMPERATURE),
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      n: 1,
      // fgserve takes one stop string (a list is rejected); eom/eot/end always stop anyway.
      stop: request.stopAtFrameEnd ? Tok.frameSep : null,
    };
    // One request per sample, all at once: fgserve's own `n` loops over generate() inside one request, so n samples
    // would take n times as long in one answer, while concurrent requests share FastGen's batch.
    const count = request.n ?? 1;
    const pending = new Map<number, Promise<{ sample: number; answer: FgserveAnswer }>>();
    for (let sample = 0; sample < count; sample++) pending.set(sample, this.fetchOne(body, guard, request.maxTokens).then((answer) => ({ sample, answer })));
    const finishReasons: ('stop' | 'length')[] = [];
    let promptTokens: number | undefined;
    let completionTokens: number | undefined;
    try {
      while (pending.size > 0) {
        const { sample, answer } = await Promise.race(pending.values());
        pending.delete(sample);
        const choice = answer.choices[0];
        const ids = choice?.tokens ?? [];
        finishReasons[sample] = this.finishFromIds(ids);
        promptTokens ??= answer.usage?.prompt_tokens;
        if (answer.usage?.completion_tokens !== undefined) completionTokens = (completionTokens ?? 0) + answer.usage.completion_tokens;
        yield { choice: sample, ids };
      }
    } finally {
      // Requests still out when the consumer stopped or one failed: their errors are moot, and they are closed once the
      // stream has settled on the first failure (aborting now would report a cancellation instead of it).
      if (pending.size > 0) {
        for (const rest of pending.values()) rest.catch(() => undefined);
        setImmediate(() => guard.abort(endpointErrors.cancelled(this.url)));
      }
    }
    return {
      ...(finishReasons[0] !== undefined ? { finishReason: finishReasons[0] } : {}),
      finishReasons,
      ...(promptTokens !== undefined ? { promptTokens } : {}),
      ...(completionTokens !== undefined ? { completionTokens } : {}),
    };
  }

  private async fetchOne(body: Record<string, unknown>, guard: RequestGuard, maxTokens: number): Promise<FgserveAnswer> {
    const res = await this.transport.postJson('/completions', body, guard, 'fgserve');
    // One whole completion of up to maxTokens tokens, as ids and text: bounded by what was asked for.
    const asked = maxTokens;
    const text = await readAnswer(res.body, answerByteLimit(asked), this.url, asked);
    const parsed = answerSchema.safeParse(parseJson(text, this.url, 'fgserve'));
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.join('.') ?? '?';
      throw endpointErrors.protocol(this.url, 'fgserve', `the answer has no usable choices[].tokens (problem at ${where})`);
    }
    return { ...parsed.data, choices: [...parsed.data.choices].sort((a, b) => a.index - b.index) };
  }
}
