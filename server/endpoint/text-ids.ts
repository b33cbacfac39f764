// Recovers token ids from streamed completion text, for servers that stream text only (mlx_lm, generic OpenAI).
// Special tokens come back exact; ordinary text gets the canonical tokenization, which decodes to the same text.
import type { TokenCodec } from '../cwm/codec';
import { lastPieceBoundary } from '../cwm/piece-cuts';

const SPECIAL_TEXT = /<\|[A-Za-z0-9_]{1,64}\|>/g;
/** Longest special-token text: an incomplete one can only sit in this many last characters. */
const LONGEST_SPECIAL = 68;
/** Unsettled text beyond this is settled at its last pre-tokenization boundary, so memory and rescans stay bounded. */
const SETTLE_AT_CHARS = 16 * 1024;

/** `at`, or one less where a cut at `at` would split a surrogate pair. */
function withoutSplitPair(text: string, at: number): number {
  const c = text.charCodeAt(at);
  return c >= 0xdc00 && c <= 0xdfff ? at - 1 : at;
}

/**
 * Text arrives in arbitrary pieces, and BPE merges depend on what follows, so ordinary text is only encoded once a
 * special token closes it (tokenizers split at special tokens first), a certain piece boundary is far enough behind
 * (a long value then yields ids as it streams, instead of piling up), or the stream ends.
 */
export class TextToIds {
  private pending = '';
  /** Where the search for special tokens resumes: no complete one starts before it. */
  private scanFrom = 0;

  constructor(private readonly codec: TokenCodec) {}

  /** Ids of the text that is now settled (through the last complete special token, or a far piece boundary). */
  push(text: string): number[] {
    this.pending += text;
    let settled = 0;
    SPECIAL_TEXT.lastIndex = this.scanFrom;
    for (let m = SPECIAL_TEXT.exec(this.pending); m !== null; m = SPECIAL_TEXT.exec(this.pending)) {
      if (this.codec.specialTokenId(m[0]) !== undefined) settled = m.index + m[0].length;
    }
    if (this.pending.length - settled > SETTLE_AT_CHARS) {
      // Cut where the text's pieces certainly end, and never inside a special token still arriving. Only the last
      // half of the limit is searched, so what stays pending is bounded and each character is searched about once.
      const latest = this.pending.length - LONGEST_SPECIAL;
      const cut = lastPieceBoundary(this.pending, Math.max(settled, latest - SETTLE_AT_CHARS / 2), latest);
      // A run that long without a certain boundary (a value of a million letters) is cut anyway: tokens may then
      // differ from the canonical ones at the cut, the text does not.
      settled = cut > settled ? cut : withoutSplitPair(this.pending, latest);
    }
    if (settled === 0) {
      this.scanFrom = Math.max(0, this.pending.length - LONGEST_SPECIAL);
      return [];
    }
    const head = this.pending.slice(0, settled);
    this.pending = this.pending.slice(settled);
    this.scanFrom = Math.max(0, this.pending.length - LONGEST_SPECIAL);
    return this.codec.encodeWithSpecialTokens(head);
  }

  /** Ids of whatever text is left. */
  end(): number[] {
    const rest = this.pending;
    this.pending = '';
    this.scanFrom = 0;
    return rest === '' ? [] : this.codec.encodeWithSpecialTokens(rest);
  }

  /** True when text was received but not yet turned into ids. */
  get hasPending(): boolean {
    return this.pending !== '';
  }
}
