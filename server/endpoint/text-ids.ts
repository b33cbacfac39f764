// Recovers token ids from streamed completion text, for servers that stream text only (mlx_lm, generic OpenAI).
// Special tokens come back exact; ordinary text gets the canonical tokenization, which decodes to the same text.
import type { TokenCodec } from '../cwm/codec';

const SPECIAL_TEXT = /<\|[A-Za-z0-9_]{1,64}\|>/g;

/**
 * Text arrives in arbitrary pieces, and BPE merges depend on what follows, so ordinary text is only encoded once a
 * special token closes it (tokenizers split at special tokens first) or the stream ends.
 */
export class TextToIds {
  private pending = '';

  constructor(private readonly codec: TokenCodec) {}

  /** Ids of the text that is now settled (through the last complete special token). */
  push(text: string): number[] {
    this.pending += text;
    let settled = 0;
    SPECIAL_TEXT.lastIndex = 0;
    for (let m = SPECIAL_TEXT.exec(this.pending); m !== null; m = SPECIAL_TEXT.exec(this.pending)) {
      if (this.codec.specialTokenId(m[0]) !== undefined) settled = m.index + m[0].length;
    }
    if (settled === 0) return [];
    const head = this.pending.slice(0, settled);
    this.pending = this.pending.slice(settled);
    return this.codec.encodeWithSpecialTokens(head);
  }

  /** Ids of whatever text is left. */
  end(): number[] {
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? [] : this.codec.encodeWithSpecialTokens(rest);
  }

  /** True when text was received but not yet turned into ids. */
  get hasPending(): boolean {
    return this.pending !== '';
  }
}
