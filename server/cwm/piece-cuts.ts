// Where long text may be cut before BPE encoding without changing its tokens (certain pre-tokenization boundaries),
// so huge values are encoded in bounded chunks: BPE time is quadratic in a piece, and tiktoken aborts on huge ones.

/** Text at most this long is encoded in one call: no piece in it can be costly. */
export const MAX_RUN_CHARS = 256;
/** Chunks handed to the encoder are about this long when the text offers boundaries. */
export const TARGET_CHUNK_CHARS = 8192;

export interface ChunkLimits {
  /** Longest run without a certain boundary before it is cut anyway (tokens then differ from canonical BPE there). */
  readonly maxRun: number;
  /** Chunk length at which the chunk is closed at its last certain boundary. */
  readonly targetChunk: number;
}

export const DEFAULT_CHUNK_LIMITS: ChunkLimits = { maxRun: MAX_RUN_CHARS, targetChunk: TARGET_CHUNK_CHARS };

const isAsciiLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAsciiDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isLineBreak = (c: number): boolean => c === 0x0a || c === 0x0d;

/**
 * True when a piece of the pattern `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` certainly ends between text[i-1] and text[i], whatever comes
 * before or after. Only ASCII pairs are judged (their classes are the same in every Unicode version):
 * - a letter, then a non-letter: letter pieces (contractions, `\p{L}+`) end at the last letter, and no piece takes a
 *   letter's left neighbour except the one optional non-letter, non-digit, non-newline prefix char before letters;
 * - a digit, then a non-digit: digit groups end with the run, and nothing else holds digits;
 * - a line break, then a non-space: pieces holding line breaks end with them, and a prefix is never a line break;
 * - punctuation, then a digit, a space or a tab: punctuation runs take only line breaks after them, and punctuation
 *   is a letter prefix only before a letter.
 */
export function isPieceBoundary(text: string, i: number): boolean {
  if (i <= 0 || i >= text.length) return false;
  const x = text.charCodeAt(i - 1);
  const y = text.charCodeAt(i);
  if (x >= 0x80 || y >= 0x80) return false;
  if (isAsciiLetter(x)) return !isAsciiLetter(y);
  if (isAsciiDigit(x)) return !isAsciiDigit(y);
  // Control characters count as possible whitespace (definitions differ); printable ASCII other than space does not.
  if (isLineBreak(x)) return y > 0x20 && y !== 0x7f;
  if (x <= 0x20 || x === 0x7f) return false; // other whitespace and control characters
  // x is punctuation (its class is `[^\s\p{L}\p{N}]`).
  return isAsciiDigit(y) || y === 0x20 || y === 0x09;
}

/** A cut between these two code units would split a surrogate pair. */
function splitsSurrogate(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 0xdc00 && c <= 0xdfff && i > 0 && (text.charCodeAt(i - 1) & 0xfc00) === 0xd800;
}

/**
 * Splits text into consecutive [start, end) ranges to be encoded one by one. Ranges end at certain piece boundaries,
 * so the concatenated tokens equal those of the whole text, except inside a run longer than `maxRun` with no certain
 * boundary (e.g. a million letters), which is cut every `maxRun` characters.
 */
export function* chunkRanges(text: string, limits: ChunkLimits = DEFAULT_CHUNK_LIMITS): Generator<[number, number]> {
  const n = text.length;
  if (n <= Math.min(limits.maxRun, limits.targetChunk)) {
    if (n > 0) yield [0, n];
    return;
  }
  let start = 0;
  let lastCut = 0; // the latest boundary (certain or forced) after which no range has started yet
  for (let i = 1; i < n; i++) {
    if (isPieceBoundary(text, i)) {
      lastCut = i;
    } else if (i - lastCut >= limits.maxRun && !splitsSurrogate(text, i)) {
      // No boundary for too long: this piece would cost quadratic time, so it is cut here.
      yield [start, i];
      start = i;
      lastCut = i;
      continue;
    }
    if (i - start >= limits.targetChunk && lastCut > start) {
      yield [start, lastCut];
      start = lastCut;
    }
  }
  yield [start, n];
}

/** The last certain piece boundary in (from, to], or -1. Scans backwards, so the cost is the distance to it. */
export function lastPieceBoundary(text: string, from: number, to: number): number {
  for (let i = Math.min(to, text.length - 1); i > from; i--) if (isPieceBoundary(text, i)) return i;
  return -1;
}
