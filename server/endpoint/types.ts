// Public types of the CWM endpoint clients: configuration, completion requests, token streams and results.
// Every backend (fgserve, vLLM, mlx_lm, generic OpenAI) is driven through these, so callers never see wire formats.

export type BackendKind = 'fgserve' | 'vllm' | 'mlx' | 'openai';

export interface EndpointTimeouts {
  /** TCP (and TLS) connection setup. */
  connectMs?: number;
  /** From sending a request until its first token arrives (for fgserve, which does not stream: the whole answer). */
  firstTokenMs?: number;
  /** Whole completion, retries included. */
  totalMs?: number;
  /**
   * Servers that answer a completion whole (fgserve): both deadlines grow by this much per token asked for, since
   * nothing arrives before the last token is generated (default 50 ms, i.e. 20 tokens/s).
   */
  perTokenMs?: number;
}

export interface EndpointRetries {
  /** Retries after the first attempt, on HTTP 429/503 only and only before any token arrived. */
  max?: number;
  baseDelayMs?: number;
  /** Cap of the computed backoff; a server's Retry-After is honoured even when longer. */
  maxDelayMs?: number;
}

export interface EndpointTls {
  /** PEM file of the CA that signed the server's certificate. */
  caFile?: string;
  /** Accept any certificate (testing only). */
  insecureSkipVerify?: boolean;
}

export interface EndpointConfig {
  /** e.g. http://127.0.0.1:5678 (fgserve) or http://host:8000 (vLLM); a trailing '/v1' is tolerated. */
  url: string;
  /** 'auto' (default) detects the backend from what the server answers. */
  backend?: BackendKind | 'auto';
  /** Bearer token; never logged nor put in error messages. */
  apiKey?: string;
  /** Model name for vllm/openai/mlx requests; detected from /v1/models when absent. */
  model?: string;
  timeouts?: EndpointTimeouts;
  retries?: EndpointRetries;
  tls?: EndpointTls;
  /**
   * Tokens the served context holds (prompt plus generation), where the server cannot say (fgserve sizes its max_seq
   * from the GPUs, mlx_lm is bounded by memory); vLLM's max_model_len is read from /v1/models, and the smaller wins.
   */
  contextTokens?: number;
}

export interface CompletionRequest {
  /** Full prompt as token ids (BOS included by the caller). */
  promptIds: readonly number[];
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  /** Independent samples: server-side n where supported, else one request per sample. */
  n?: number;
  /** true: stop after <|frame_sep|> (one frame); false: run to <|end_of_text|>/eom/eot or maxTokens. */
  stopAtFrameEnd: boolean;
  /** Most tokens one frame may take; the client cuts the choice there (default: maxTokens for one frame, else 4096). */
  maxTokensPerFrame?: number;
  /** Aborting closes the HTTP request and ends the stream with EndpointError 'cancelled'. */
  signal?: AbortSignal;
  /**
   * Scheduling priority, sent to vLLM only (lower is served sooner; 0 is its default). A vLLM that refuses it (the V0
   * engine without `--scheduling-policy priority`) is asked again without it, and never sent it again.
   */
  priority?: number;
  /**
   * Ask for each generated token's log-probability and this many alternatives per position (0: the sampled token's
   * only), where the server gives them (vLLM; mlx_lm only in answers that are not streamed; never fgserve).
   */
  logprobs?: number;
}

/** How likely the model found one generated token, and what else it weighed there. */
export interface TokenLogprob {
  /** Natural log of the sampled token's probability (0 = certain). */
  readonly logprob: number;
  /** The most likely tokens at this position as the server listed them (the sampled one may be among them). */
  readonly top?: readonly { readonly text: string; readonly logprob: number }[];
}

/** New token ids of one sample (`choice` is 0..n-1), in generation order. */
export interface TokenChunk {
  choice: number;
  ids: number[];
  /** Per id (same order and length as `ids`) where the server sent log-probabilities; undefined entries have none. */
  logprobs?: (TokenLogprob | undefined)[];
}

export interface CompletionResult {
  /** 'stop' (ended on <|frame_sep|> or an end token) or 'length'; of choice 0. */
  finishReason?: string;
  /** finishReason of every choice, by choice index. */
  finishReasons?: (string | undefined)[];
  promptTokens?: number;
  /** Prompt tokens the server took from its prefix cache (vLLM, mlx_lm report it). */
  cachedPromptTokens?: number;
  completionTokens?: number;
  /** Choices the client cut at its own token limit (server/endpoint/budget.ts), by choice index. */
  cuts?: (TokenCut | undefined)[];
}

/** Where the client cut a choice: at the request's max_tokens or at the per-frame limit, of `tokens` tokens. */
export interface TokenCut {
  limit: 'request' | 'frame';
  tokens: number;
}

/**
 * The tokens of one completion, as they arrive. Iterate it once; `result` settles when the iteration ends
 * (it rejects with the same EndpointError the iteration threw, or 'cancelled' when the consumer stopped early).
 */
export interface CompletionStream extends AsyncIterable<TokenChunk> {
  readonly result: Promise<CompletionResult>;
}

export interface EndpointInfo {
  kind: BackendKind;
  url: string;
  /** Model the requests are sent for (undefined for fgserve, which serves one model without naming it). */
  model?: string;
  /** Every model the server lists. */
  models: string[];
}

export interface EndpointClient {
  readonly kind: BackendKind;
  readonly url: string;
  readonly model?: string;
  /** Things the user should know about this endpoint (e.g. ids recovered from text); never secrets. */
  readonly warnings: readonly string[];
  /** Tokens arrive as they are generated (false for fgserve, whose answer comes whole). */
  readonly streams: boolean;
  /**
   * Tokens the served context holds, when known (vLLM's max_model_len, or the configured contextTokens): no request
   * asks for more than fits, `maxTokens` is lowered to what is left after the prompt.
   */
  readonly contextTokens?: number;
  complete(request: CompletionRequest): CompletionStream;
  /** Health + model name + kind; throws EndpointError. */
  probe(): Promise<EndpointInfo>;
  /** Closes every connection of this client; streams still running end with an error. */
  close(): Promise<void>;
}
