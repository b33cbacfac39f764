// Shared client logic for servers that take text prompts and stream text back (mlx_lm, generic OpenAI):
// one request per sample, ids recovered from the text (or from logprobs where the server sends ids).
import { z } from 'zod';
import { BaseClient, parseJson, streamError } from './base';
import { endpointErrors } from './errors';
import { readBounded, type RequestGuard } from './http';
import { readSseUntilDone } from './sse';
import { TextToIds } from './text-ids';
import type { CompletionRequest, CompletionResult, TokenChunk } from './types';

const chunkSchema = z.object({
  choices: z.array(
    z.object({
      text: z.string().nullable().optional(),
      finish_reason: z.string().nullable().optional(),
      logprobs: z
        .object({ content: z.array(z.object({ id: z.number().int(), logprob: z.number().optional() }).passthrough()).nullable().optional() })
        .passthrough()
        .nullable()
        .optional(),
    }),
  ),
  usage: z
    .object({
      prompt_tokens: z.number().int(),
      completion_tokens: z.number().int().nullable().optional(),
      prompt_tokens_details: z.object({ cached_tokens: z.number().int().nullable().optional() }).nullable().optional(),
    })
    .nullable()
    .optional(),
});

type Usage = NonNullable<z.infer<typeof chunkSchema>['usage']>;

export abstract class TextStreamClient extends BaseClient {
  abstract override readonly kind: 'mlx' | 'openai';
  readonly streams = true;

  /** The JSON body of one sample's request (`whole`: asked without streaming, see wholeAnswer). */
  protected abstract requestBody(request: CompletionRequest, prompt: string, stop: string[], sample: number, whole: boolean): Record<string, unknown>;

  /**
   * Whether to ask for this request's answer whole instead of streamed: a server that returns log-probabilities only
   * in whole answers (mlx_lm) gets single steps asked that way. Default: always streamed.
   */
  protected wholeAnswer(_request: CompletionRequest): boolean {
    return false;
  }

  /** Model name for error messages about the request (undefined when the request names none). */
  protected abstract requestModel(): string | undefined;

  protected async *run(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    const prompt = this.promptText(request.promptIds);
    // At most four stop strings (OpenAI's limit): the frame separator and the three end tokens.
    const stopIds = request.stopAtFrameEnd ? [this.ids.frameSep, ...this.ids.stops] : this.ids.stops;
    const stop = stopIds.map((id) => this.codec.decode([id]));
    const finishReasons: (string | undefined)[] = [];
    let usage: Usage | undefined;
    let completionTokens = 0;
    const whole = this.wholeAnswer(request);
    for (let sample = 0; sample < (request.n ?? 1); sample++) {
      const res = await this.transport.postJson('/v1/completions', this.requestBody(request, prompt, stop, sample, whole), guard, this.kind, this.requestModel());
      const recover = new TextToIds(this.codec);
      const stream = { done: false };
      let finish: string | undefined;
      let sawText = false;
      let last: number | undefined;
      let cut = false;
      try {
        // mlx_lm's `: keepalive processed/total` comments through a long prefill are progress: the first-token clock restarts.
        // A whole answer is one JSON object of the same shape as a stream chunk (mlx_lm's generate_response).
        const events = whole ? wholeBody(res.body, stream) : readSseUntilDone(res.body, stream, () => guard.stillWorking());
        for await (const event of events) {
          const payload = parseJson(event.data, this.url, this.kind);
          const failed = streamError(payload, this.url);
          if (failed !== undefined) throw failed;
          const chunk = chunkSchema.safeParse(payload);
          if (!chunk.success) throw endpointErrors.protocol(this.url, this.kind, `unexpected stream chunk: ${event.data.slice(0, 80)}`);
          for (const choice of chunk.data.choices) {
            if (choice.finish_reason != null) finish = choice.finish_reason;
            const text = choice.text ?? '';
            if (text !== '') {
              sawText = true;
              // Text held back until a special token settles its ids is still proof the model is producing.
              guard.progressed();
            }
            const content = choice.logprobs?.content;
            const exact = content?.map((entry) => entry.id);
            const ids = exact !== undefined && exact.length > 0 ? exact : recover.push(text);
            if (ids.length > 0) last = ids[ids.length - 1];
            // mlx_lm's generate_response: {id, logprob} per token with `logprobs: true` (its answers that are not streamed).
            const logprobs = ids === exact && content!.every((entry) => entry.logprob !== undefined && Number.isFinite(entry.logprob))
              ? content!.map((entry) => ({ logprob: Math.min(0, entry.logprob!) }))
              : undefined;
            yield { choice: sample, ids, ...(logprobs !== undefined ? { logprobs } : {}) };
          }
          if (chunk.data.usage != null) {
            if (sample === 0) usage = chunk.data.usage;
            completionTokens += chunk.data.usage.completion_tokens ?? 0;
          }
          // The client's token limit cut this sample: its request is closed, the next sample (if any) goes on.
          if (guard.budget?.cut(sample) !== undefined) {
            cut = true;
            break;
          }
        }
      } finally {
        if (!res.body.destroyed) res.body.destroy();
      }
      if (cut) {
        finishReasons[sample] = 'length';
        continue;
      }
      if (!stream.done) throw endpointErrors.dropped(this.url, guard.tokens);
      const tail = recover.end();
      if (tail.length > 0) last = tail[tail.length - 1];
      // These servers cut stop strings out of the text; put the token back so every backend yields the same ids.
      // Which stop fired is not said: an empty answer means the trace ended, any text means the frame did.
      const stoppedOn = last !== undefined && ((request.stopAtFrameEnd && last === this.ids.frameSep) || this.ids.stops.includes(last));
      if (finish === 'stop' && !stoppedOn) tail.push(request.stopAtFrameEnd && sawText ? this.ids.frameSep : this.ids.endOfText);
      yield { choice: sample, ids: tail };
      finishReasons[sample] = finish;
    }
    const cached = usage?.prompt_tokens_details?.cached_tokens;
    return {
      ...(finishReasons[0] !== undefined ? { finishReason: finishReasons[0] } : {}),
      finishReasons,
      ...(usage !== undefined ? { promptTokens: usage.prompt_tokens, completionTokens } : {}),
      ...(cached != null ? { cachedPromptTokens: cached } : {}),
    };
  }

  /** The prompt as text without BOS (these servers tokenize it and add BOS themselves). */
  private promptText(promptIds: readonly number[]): string {
    const ids = promptIds[0] === this.ids.bos ? promptIds.slice(1) : promptIds;
    const text = this.codec.decode(ids);
    const again = this.codec.encodeWithSpecialTokens(text);
    if (again.length !== ids.length || again.some((id, i) => id !== ids[i])) {
      this.warnOnce(
        `The ${this.kind} server takes text prompts, and this prompt does not survive the trip through text (e.g. a program containing "<|...|>" special-token text): predictions may differ from a token-id server's.`,
      );
    }
    return text;
  }
}

/** Most bytes of a whole (not streamed) answer: one step's text and its log-probabilities. */
const WHOLE_ANSWER_LIMIT = 8 * 1024 * 1024;

/** A whole JSON answer as the one event of a stream; `stream.done` once it was read completely. */
async function* wholeBody(body: Parameters<typeof readBounded>[0], stream: { done: boolean }): AsyncGenerator<{ data: string }> {
  const text = await readBounded(body, WHOLE_ANSWER_LIMIT);
  stream.done = text.length < WHOLE_ANSWER_LIMIT;
  yield { data: text };
}
