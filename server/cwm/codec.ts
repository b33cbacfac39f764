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
}

export interface TokenStreamDecoder {
  /** Text completed by these ids (may be empty while a multi-byte character is pending). */
  push(ids: readonly number[]): string;
  /** Whatever is still pending, flushed (incomplete bytes become U+FFFD). */
  end(): string;
}
