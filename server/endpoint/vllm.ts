// Client for vLLM's OpenAI-compatible server: token-id prompts, SSE streaming with `choices[].token_ids`
// (vLLM 0.10.2+ with return_token_ids), stop tokens kept in the output, prefix-cache hits from usage, and each token's
// log-probability with its top alternatives (`logprobs: k`) for the confidence shown with predicted values.
import { z } from 'zod';
import { BaseClient, endpointInfo, parseJson, requireModelList, streamError } from './base';
import { EndpointError, endpointErrors } from './errors';
import type { RequestGuard } from './http';
import { readSseUntilDone } from './sse';
import { TextToIds } from './text-ids';
import type { CompletionRequest, CompletionResult, EndpointInfo, TokenChunk, TokenLogprob } from './types';

/** vLLM's _SAMPLING_EPS: a temperature below it is greedy decoding (vllm/sampling_params.py). */
const VLLM_SAMPLING_EPS = 1e-5;

const chunkSchema = z.object({
  choices: z.array(
    z.object({
      index: z.number().int().min(0),
      text: z.string().nullable().optional(),
      token_ids: z.array(z.number().int()).nullable().optional(),
      finish_reason: z.string().nullable().optional(),
      // CompletionLogProbs (vllm/entrypoints/openai/completion/protocol.py): parallel lists, one entry per new token.
      logprobs: z
        .object({
          token_logprobs: z.array(z.number().nullable()).optional(),
          top_logprobs: z.array(z.record(z.string(), z.number()).nullable()).optional(),
        })
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

/**
 * How vLLM refuses a priority it does not schedule by: the V0 engine without `--scheduling-policy priority` raises
 * "Got priority N but Priority scheduling is not enabled." (vllm/engine/async_llm_engine.py, add_request_async).
 */
const PRIORITY_REFUSED = /priority scheduling is not enabled/i;
/** vLLM's 400 when `logprobs` passes the server's --max-logprobs (SamplingParams._validate_logprobs, vllm/sampling_params.py). */
const TOO_MANY_LOGPROBS = /Requested sample logprobs of -?\d+, which is greater than max allowed: (-?\d+)/;

export class VllmClient extends BaseClient {
  readonly kind = 'vllm' as const;
  readonly streams = true;
  /** The server refused a priority once: requests go without it from then on. */
  private priorityRefused = false;
  /** The server's --max-logprobs once a request found it (default 20 there); later requests ask for no more. */
  private maxLogprobs: number | undefined;

  async probe(): Promise<EndpointInfo> {
    const models = await requireModelList(this.transport, 'vllm');
    return endpointInfo('vllm', this.url, this.model, models);
  }

  protected async *run(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    const withPriority = request.priority !== undefined && request.priority !== 0 && !this.priorityRefused;
    if (!withPriority) return yield* this.runSampled({ ...request, priority: undefined }, guard);
    let yielded = false;
    const inner = this.runSampled(request, guard);
    let step: IteratorResult<TokenChunk, CompletionResult> | undefined;
    try {
      for (step = await inner.next(); step.done !== true; step = await inner.next()) {
        yielded = true;
        yield step.value;
      }
      return step.value;
    } catch (error) {
      if (yielded || !(error instanceof EndpointError) || !PRIORITY_REFUSED.test(error.serverMessage ?? '')) throw error;
      this.priorityRefused = true;
      this.warnOnce('This vLLM server does not schedule by priority (start it with --scheduling-policy priority): read-ahead requests are served as soon as the steps you wait for.');
      return yield* this.runSampled({ ...request, priority: undefined }, guard);
    } finally {
      // The consumer stopped early (a stop condition held): the request underneath is closed too.
      if (step !== undefined && step.done !== true) await inner.return({});
    }
  }

  private async *runSampled(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    // vLLM answers 400 "n must be 1 when using greedy sampling" (SamplingParams._verify_greedy_sampling): greedy samples
    // are all the same, so one is asked for and given as each of them.
    const asked = request.n ?? 1;
    const copies = asked > 1 && request.temperature < VLLM_SAMPLING_EPS ? asked : 1;
    if (copies === 1) return yield* this.stream(request, guard);
    const inner = this.stream({ ...request, n: 1 }, guard);
    let step = await inner.next();
    try {
      for (; step.done !== true; step = await inner.next()) {
        for (let choice = 0; choice < copies; choice++) yield { ...step.value, choice };
      }
    } finally {
      if (step.done !== true) await inner.return({});
    }
    const result = step.value;
    return { ...result, finishReasons: Array.from({ length: copies }, () => result.finishReason) };
  }

  private async *stream(request: CompletionRequest, guard: RequestGuard): AsyncGenerator<TokenChunk, CompletionResult, undefined> {
    const body = {
      ...(this.model !== undefined ? { model: this.model } : {}),
      prompt: [...request.promptIds],
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      ...(request.topP !== undefined ? { top_p: request.topP } : {}),
      ...(request.seed !== undefined ? { seed: request.seed } : {}),
      n: request.n ?? 1,
      ...(request.priority !== undefined ? { priority: request.priority } : {}),
      stream: true,
      stream_options: { include_usage: true },
      // The end tokens are listed in the frame case too: vLLM's own EOS list depends on the checkpoint's config.
      stop_token_ids: request.stopAtFrameEnd ? [this.ids.frameSep, ...this.ids.stops] : [...this.ids.stops],
      skip_special_tokens: false,
      spaces_between_special_tokens: false,
      include_stop_str_in_output: true,
      return_token_ids: true,
      ...(request.logprobs !== undefined ? { logprobs: Math.max(0, Math.min(request.logprobs, this.maxLogprobs ?? request.logprobs)) } : {}),
    };
    let res: Awaited<ReturnType<typeof this.transport.postJson>>;
    try {
      res = await this.transport.postJson('/v1/completions', body, guard, 'vllm', this.model);
    } catch (err) {
      // A server started with a lower --max-logprobs refuses the request before any token: ask again within its limit
      // (0 asks for the sampled tokens' own log-probabilities only, which no limit refuses).
      const allowed = err instanceof EndpointError && err.status === 400 ? TOO_MANY_LOGPROBS.exec(err.serverMessage ?? '') : null;
      if (allowed === null || request.logprobs === undefined || this.maxLogprobs !== undefined) throw err;
      this.maxLogprobs = Math.max(0, Number(allowed[1]));
      this.warnOnce(`This vLLM server gives at most ${this.maxLogprobs} alternatives per token (--max-logprobs): the alternatives shown with a value are cut to that.`);
      return yield* this.stream(request, guard);
    }
    const finishReasons: (string | undefined)[] = [];
    // Only for vLLM before 0.10.2, which ignores return_token_ids: ids come back from the text then.
    const fromText = new Map<number, TextToIds>();
    let usage: z.infer<typeof chunkSchema>['usage'];
    const stream = { done: false };
    try {
      for await (const event of readSseUntilDone(res.body, stream)) {
        const payload = parseJson(event.data, this.url, 'vllm');
        const failed = streamError(payload, this.url);
        if (failed !== undefined) throw failed;
        const chunk = chunkSchema.safeParse(payload);
        if (!chunk.success) throw endpointErrors.protocol(this.url, 'vllm', `unexpected stream chunk: ${event.data.slice(0, 80)}`);
        for (const choice of chunk.data.choices) {
          if (choice.finish_reason != null) finishReasons[choice.index] = choice.finish_reason;
          const logprobs = tokenLogprobs(choice.logprobs);
          if (choice.token_ids != null) {
            yield { choice: choice.index, ids: choice.token_ids, ...(logprobs !== undefined && logprobs.length === choice.token_ids.length ? { logprobs } : {}) };
            continue;
          }
          this.warnOnce('This vLLM server returns no token ids (return_token_ids needs vLLM 0.10.2 or newer): ids are recovered from the text.');
          let recover = fromText.get(choice.index);
          if (recover === undefined) fromText.set(choice.index, (recover = new TextToIds(this.codec)));
          yield { choice: choice.index, ids: recover.push(choice.text ?? '') };
        }
        if (chunk.data.usage != null) usage = chunk.data.usage;
      }
    } finally {
      if (!res.body.destroyed) res.body.destroy();
    }
    if (!stream.done) throw endpointErrors.dropped(this.url, guard.tokens);
    for (const [choice, recover] of fromText) yield { choice, ids: recover.end() };
    const cached = usage?.prompt_tokens_details?.cached_tokens;
    return {
      ...(finishReasons[0] !== undefined ? { finishReason: finishReasons[0] } : {}),
      finishReasons,
      ...(usage != null ? { promptTokens: usage.prompt_tokens } : {}),
      ...(cached != null ? { cachedPromptTokens: cached } : {}),
      ...(usage?.completion_tokens != null ? { completionTokens: usage.completion_tokens } : {}),
    };
  }
}

/**
 * One chunk's log-probabilities per token. vLLM (_create_completion_logprobs, completion/serving.py) keys top_logprobs
 * by each token's decoded text, the sampled token first, caps them at -9999.0, and sends null for a token without them.
 */
function tokenLogprobs(logprobs: z.infer<typeof chunkSchema>['choices'][number]['logprobs']): (TokenLogprob | undefined)[] | undefined {
  const values = logprobs?.token_logprobs;
  if (values == null) return undefined;
  return values.map((logprob, k) => {
    if (logprob === null || !Number.isFinite(logprob)) return undefined;
    const top = logprobs?.top_logprobs?.[k];
    const alternatives = top == null ? undefined : Object.entries(top).filter(([, p]) => Number.isFinite(p)).map(([text, p]) => ({ text, logprob: Math.min(0, p) }));
    return { logprob: Math.min(0, logprob), ...(alternatives !== undefined && alternatives.length > 0 ? { top: alternatives } : {}) };
  });
}
