// The tokenizer interface every model-facing part codes against (implemented by server/cwm/tokenizer.ts).
// Kept separate so endpoint clients and the prediction engine do not depend on how tokens are loaded.

export interface TokenCodec {
  /** Encodes text as ordinary text: `<|frame_sep|>` written in a program is NOT the special token. */
  encodeOrdinary(text: string): number[];
  /** Encodes text where special-token texts ARE the special tokens (for prompts built from rendered CWM text). */
  encodeWithSpecialTokens(text: string): number[];
  /** Decodes ids to text, special tokens rendered as their text; invalid UTF-8 becomes U+FFFD. */
  decode(ids: readonly number[]): string;
  /** A decoder for a stream of ids that never splits a UTF-8 character across chunks. */
  streamDecoder(): TokenStreamDecoder;
  /** Id of a special token given its text (e.g. `<|frame_sep|>`); undefined if it is not one. */
  specialTokenId(text: string): number | undefined;
  /** True when the id is one of the 256 special tokens. */
  isSpecial(id: number): boolean;
  /** Number of ordinary (BPE) tokens; special ids are `ordinaryCount + k`. */
  readonly ordinaryCount: number;
  /** Present when the tokens come from a server rather than a local file (see RemoteTokenizing). */
  readonly remote?: RemoteTokenizing;
}

export interface TokenStreamDecoder {
  /** Text completed by these ids (may be empty while a multi-byte character is pending). */
  push(ids: readonly number[]): string;
  /** Whatever is still pending, flushed (incomplete bytes become U+FFFD). */
  end(): string;
}

/**
 * What a tokenizer behind a server (vLLM's POST /tokenize and /detokenize) adds: the synchronous TokenCodec calls answer
 * from a cache, and these calls fill it first. Local tokenizers have none of this.
 */
export interface RemoteTokenizing {
  /**
   * Tokenizes these texts as ordinary text and returns their ids (encodeOrdinary answers them too, while they stay in the
   * bounded cache; callers that encode after other awaits use the returned map).
   */
  prepareOrdinary(texts: readonly string[]): Promise<ReadonlyMap<string, readonly number[]>>;
  /** A decoder that asks the server for the text of ids it has not seen yet. */
  asyncStreamDecoder(): AsyncTokenStreamDecoder;
  /** A warning to show the user once (then undefined), e.g. text the server's tokenizer could not keep ordinary. */
  takeWarning(): string | undefined;
}

export interface AsyncTokenStreamDecoder {
  push(ids: readonly number[]): Promise<string>;
  end(): Promise<string>;
}
