// CWM's tokenizer: loads the checkpoint's tiktoken ranks file (`tokenizer.model`) plus the 256 special tokens,
// and implements TokenCodec on top of tiktoken's WASM build (encoding) and a byte table of our own (decoding).
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { init, Tiktoken } from 'tiktoken/lite/init';
import type { TokenCodec, TokenStreamDecoder } from './codec';
import { chunkRanges, DEFAULT_CHUNK_LIMITS, type ChunkLimits } from './piece-cuts';
import { specialTokenMap } from './tokens';

/** CWM's pre-tokenization pattern (the same as cl100k_base), in the regex dialect of tiktoken's Rust core. */
export const CWM_PRETOKENIZE_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** File name of tiktoken's WASM binary; build.mjs copies it next to the bundles in dist/. */
export const TIKTOKEN_WASM_FILE = 'tiktoken_bg.wasm';

/** Number of special tokens CWM reserves after the ordinary ones. */
const SPECIAL_TOKEN_COUNT = 256;

// The real file is ~2.2 MB; anything far bigger was picked by mistake (e.g. model weights) and must not be read whole.
const MAX_RANKS_FILE_BYTES = 64 * 1024 * 1024;

export type TokenizerErrorKind = 'missing' | 'unreadable' | 'invalid';

/** A tokenizer file that cannot be used; the message says what is wrong and, where it can, what to do. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
  constructor(
    readonly kind: TokenizerErrorKind,
    readonly path: string,
    message: string,
    /** 1-based line of the ranks file at fault, for `invalid`. */
    readonly line?: number,
  ) {
    super(message);
  }
}

/**
 * Where the WASM binary is looked for, in order: next to the running bundle (a packaged extension has no
 * node_modules), then the installed tiktoken package (development, tests run from out/test).
 */
export function tiktokenWasmCandidates(): string[] {
  const candidates = [join(__dirname, TIKTOKEN_WASM_FILE)];
  try {
    candidates.push(require.resolve('tiktoken/lite/tiktoken_bg.wasm'));
  } catch {
    // Not installed (packaged extension): only the copy next to the bundle can serve.
  }
  return candidates;
}

/** Path of the WASM binary that loadTokenizer will use; throws when none is found. */
export function locateTiktokenWasm(): string {
  const candidates = tiktokenWasmCandidates();
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) {
    throw new Error(
      `tiktoken's ${TIKTOKEN_WASM_FILE} was not found (looked at ${candidates.join(', ')}). ` +
        'It must sit next to the bundle: rebuild with `node scripts/build.mjs`.',
    );
  }
  return found;
}

let wasmReady: Promise<void> | undefined;

// One WASM instance serves every tokenizer; a failed start is forgotten so that a later call can retry.
function ensureWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const bytes = await fs.readFile(locateTiktokenWasm());
    await init((imports) => WebAssembly.instantiate(bytes, imports));
  })().catch((error: unknown) => {
    wasmReady = undefined;
    throw error;
  });
  return wasmReady;
}

/** The ordinary tokens of a ranks file, validated: bytes of every rank in one table. */
export interface ParsedRanks {
  /** Number of ordinary tokens; ranks are exactly 0..count-1. */
  readonly count: number;
  /** Bytes of all tokens, rank after rank. */
  readonly bytes: Uint8Array;
  /** `offsets[r]..offsets[r+1]` are the bytes of rank r (count + 1 entries). */
  readonly offsets: Uint32Array;
  /** The tokens as tiktoken's parser takes them: the file itself when it has no blank lines (its parser panics on one). */
  readonly tiktokenText: string;
}

const RANKS_LINE = /^([A-Za-z0-9+/]+={0,2}) (\d+)$/;
const BASE64_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Canonical base64 only: Buffer's decoder silently accepts bad padding and stray bits, tiktoken's does not. */
function isCanonicalBase64(text: string): boolean {
  if (text.length % 4 !== 0) return false;
  if (text.endsWith('==')) return (BASE64_DIGITS.indexOf(text[text.length - 3]!) & 0b1111) === 0;
  if (text.endsWith('=')) return (BASE64_DIGITS.indexOf(text[text.length - 2]!) & 0b11) === 0;
  return true;
}

// Written for speed: the real file has 128000 lines and this runs while the user waits for the first prediction.
function parseRanksFile(path: string, text: string): ParsedRanks {
  const invalid = (message: string, line?: number): TokenizerError =>
    new TokenizerError('invalid', path, `Tokenizer file ${path} is not a tiktoken ranks file: ${message}`, line);

  const rawLines = text.split('\n');
  let count = 0;
  for (const raw of rawLines) if (raw !== '' && raw !== '\r') count++;
  if (count === 0) throw invalid('it holds no tokens');

  // Decoded bytes go to one scratch buffer in file order; the final table is then laid out by rank.
  const scratch = Buffer.allocUnsafe(text.length);
  let scratchEnd = 0;
  const startOfRank = new Uint32Array(count);
  const lengthOfRank = new Uint32Array(count);
  const lineOfRank = new Uint32Array(count); // 0: rank not seen yet
  const lineOfToken = new Map<string, number>();
  const singleBytes = new Uint8Array(256);
  let blankInside = false;
  for (let i = 0; i < rawLines.length; i++) {
    const raw = rawLines[i]!;
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (content === '') {
      // tiktoken's Python loader skips blank lines; only a final newline is harmless to its Rust parser.
      if (i !== rawLines.length - 1) blankInside = true;
      continue;
    }
    const lineNo = i + 1;
    const match = RANKS_LINE.exec(content);
    if (match === null) {
      const shown = content.length > 60 ? `${content.slice(0, 60)}…` : content;
      const hint = lineOfToken.size === 0 && content.trimStart().startsWith('{')
        ? " (this looks like JSON, e.g. a Hugging Face tokenizer.json; CWM needs the checkpoint's tokenizer.model)"
        : '';
      throw invalid(`line ${lineNo} is not "<base64 bytes> <rank>": ${JSON.stringify(shown)}${hint}`, lineNo);
    }
    const base64 = match[1]!;
    if (!isCanonicalBase64(base64)) throw invalid(`line ${lineNo} has invalid base64 ${JSON.stringify(base64)}`, lineNo);
    // Special ids are count + k, so ranks must be exactly 0..count-1 or a special id would shadow a rank.
    const rank = Number(match[2]);
    if (rank >= count) {
      throw invalid(`line ${lineNo} has rank ${match[2]}, but ranks must be 0..${count - 1} (the file has ${count} tokens)`, lineNo);
    }
    if (lineOfRank[rank] !== 0) {
      throw invalid(`line ${lineNo} repeats rank ${rank} (already on line ${lineOfRank[rank]})`, lineNo);
    }
    // Canonical base64 and bytes correspond one to one, so the text can stand for the bytes.
    const sameToken = lineOfToken.get(base64);
    if (sameToken !== undefined) throw invalid(`line ${lineNo} repeats the token ${base64} of line ${sameToken}`, lineNo);
    lineOfToken.set(base64, lineNo);
    lineOfRank[rank] = lineNo;
    const length = scratch.write(base64, scratchEnd, 'base64');
    if (length === 1) singleBytes[scratch[scratchEnd]!] = 1;
    startOfRank[rank] = scratchEnd;
    lengthOfRank[rank] = length;
    scratchEnd += length;
  }
  // Without every single byte, text containing a missing one could not be encoded at all (tiktoken would abort).
  const missingBytes: string[] = [];
  singleBytes.forEach((seen, b) => {
    if (seen === 0) missingBytes.push(`0x${b.toString(16).padStart(2, '0')}`);
  });
  if (missingBytes.length > 0) {
    const listed = missingBytes.length > 8 ? `${missingBytes.slice(0, 8).join(', ')}, … (${missingBytes.length} in all)` : missingBytes.join(', ');
    throw invalid(`it lacks the single-byte tokens ${listed}; every byte must be a token`);
  }

  const offsets = new Uint32Array(count + 1);
  const bytes = new Uint8Array(scratchEnd);
  let at = 0;
  for (let r = 0; r < count; r++) {
    offsets[r] = at;
    const start = startOfRank[r]!;
    bytes.set(scratch.subarray(start, start + lengthOfRank[r]!), at);
    at += lengthOfRank[r]!;
  }
  offsets[count] = at;
  const tiktokenText = blankInside ? rawLines.filter((l) => l !== '' && l !== '\r').join('\n') : text;
  return { count, bytes, offsets, tiktokenText };
}

async function readRanksFile(ranksPath: string): Promise<string> {
  let size: number;
  try {
    const stat = await fs.stat(ranksPath);
    if (stat.isDirectory()) {
      throw new TokenizerError('unreadable', ranksPath,
        `Tokenizer path ${ranksPath} is a directory. Point --tokenizer (or the cwmDebug.tokenizerPath setting) at the checkpoint's tokenizer.model file inside it.`);
    }
    size = stat.size;
  } catch (error) {
    if (error instanceof TokenizerError) throw error;
    throw fileError(ranksPath, error);
  }
  if (size > MAX_RANKS_FILE_BYTES) {
    throw new TokenizerError('invalid', ranksPath,
      `Tokenizer file ${ranksPath} is ${size} bytes, far too big for a tiktoken ranks file (CWM's is about 2 MB). Point --tokenizer (or the cwmDebug.tokenizerPath setting) at the checkpoint's tokenizer.model.`);
  }
  try {
    return await fs.readFile(ranksPath, 'utf8');
  } catch (error) {
    throw fileError(ranksPath, error);
  }
}

function fileError(ranksPath: string, error: unknown): TokenizerError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new TokenizerError('missing', ranksPath,
      `Tokenizer not found at ${ranksPath}. Point --tokenizer (or the cwmDebug.tokenizerPath setting) at the checkpoint's tokenizer.model.`);
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new TokenizerError('unreadable', ranksPath, `Tokenizer file ${ranksPath} cannot be read: ${reason}`);
}

/** Loads a tiktoken ranks file and CWM's 256 special tokens (ids `len(ranks) + k`). */
export async function loadTokenizer(ranksPath: string): Promise<CwmTokenizer> {
  const text = await readRanksFile(ranksPath);
  const parsed = parseRanksFile(ranksPath, text);
  await ensureWasm();
  const specials = specialTokenMap(parsed.count);
  const encoder = new Tiktoken(parsed.tiktokenText, Object.fromEntries(specials), CWM_PRETOKENIZE_PATTERN);
  return new CwmTokenizer(encoder, parsed, specials);
}

/** Every special token's text has this shape (see specialTokenText); the map decides which ones are real. */
const SPECIAL_TOKEN_SHAPE = /<\|[a-z0-9_]+\|>/g;

// ignoreBOM keeps a leading U+FEFF as text instead of swallowing it; a non-streaming decode keeps no state.
const wholeDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

function appendAll(target: number[], ids: Uint32Array): void {
  for (const id of ids) target.push(id);
}

/** CWM's tokenizer. Encoding runs in tiktoken's WASM; decoding reads a byte table and never enters WASM. */
export class CwmTokenizer implements TokenCodec {
  readonly ordinaryCount: number;
  /** Total number of ids (ordinary + special); valid ids are 0..vocabularySize-1. */
  readonly vocabularySize: number;
  private readonly tokenBytes: Uint8Array;
  /** `tokenBytes[offsets[id]..offsets[id+1]]` are the bytes of id, special ids included. */
  private readonly offsets: Uint32Array;
  private readonly specials: ReadonlyMap<string, number>;
  private encoder: Tiktoken | undefined;

  /** Use loadTokenizer; `encoder` must hold the same ranks and `specials` must be specialTokenMap(ranks.count). */
  constructor(encoder: Tiktoken, ranks: ParsedRanks, specials: ReadonlyMap<string, number>) {
    this.encoder = encoder;
    this.ordinaryCount = ranks.count;
    this.vocabularySize = ranks.count + SPECIAL_TOKEN_COUNT;
    this.specials = specials;
    const specialTexts = new Array<string>(SPECIAL_TOKEN_COUNT);
    for (const [text, id] of specials) {
      // encodeWithSpecialTokens finds special tokens by this shape; a text of another shape would go unseen.
      if (text.match(SPECIAL_TOKEN_SHAPE)?.[0] !== text) throw new Error(`Special token ${text} does not look like <|name|>`);
      specialTexts[id - ranks.count] = text;
    }
    const utf8 = new TextEncoder();
    const specialBytes = Array.from(specialTexts, (text, k) => {
      if (text === undefined) throw new Error(`No special token for id ${ranks.count + k}`);
      return utf8.encode(text);
    });
    const specialTotal = specialBytes.reduce((sum, b) => sum + b.length, 0);
    this.tokenBytes = new Uint8Array(ranks.bytes.length + specialTotal);
    this.tokenBytes.set(ranks.bytes);
    this.offsets = new Uint32Array(this.vocabularySize + 1);
    this.offsets.set(ranks.offsets);
    let at = ranks.bytes.length;
    specialBytes.forEach((b, k) => {
      this.tokenBytes.set(b, at);
      at += b.length;
      this.offsets[ranks.count + k + 1] = at;
    });
  }

  encodeOrdinary(text: string): number[] {
    const ids: number[] = [];
    this.appendOrdinary(ids, text);
    return ids;
  }

  encodeWithSpecialTokens(text: string): number[] {
    // Same result as tiktoken's encode(text, 'all'), which however copies its 256-entry special set on every
    // call: splitting here and encoding the pieces as ordinary text is about a third cheaper per frame.
    const ids: number[] = [];
    let pieceStart = 0;
    for (const match of text.matchAll(SPECIAL_TOKEN_SHAPE)) {
      const id = this.specials.get(match[0]);
      if (id === undefined) continue;
      if (match.index > pieceStart) this.appendOrdinary(ids, text.slice(pieceStart, match.index));
      ids.push(id);
      pieceStart = match.index + match[0].length;
    }
    if (pieceStart < text.length) this.appendOrdinary(ids, pieceStart === 0 ? text : text.slice(pieceStart));
    return ids;
  }

  /**
   * Encodes ordinary text in chunks cut at pre-tokenization boundaries (same tokens as one call), so that no call
   * gets a huge piece: BPE time grows with the square of a piece's length, and tiktoken aborts on very long ones.
   * A run with no boundary for `limits.maxRun` characters is cut anyway (CWM's own tokenizer cuts every 400,000).
   */
  appendOrdinary(ids: number[], text: string, limits: ChunkLimits = DEFAULT_CHUNK_LIMITS): void {
    const encoder = this.liveEncoder();
    if (text.length <= Math.min(limits.maxRun, limits.targetChunk)) {
      appendAll(ids, encoder.encode_ordinary(text));
      return;
    }
    for (const [start, end] of chunkRanges(text, limits)) appendAll(ids, encoder.encode_ordinary(text.slice(start, end)));
  }

  decode(ids: readonly number[]): string {
    return wholeDecoder.decode(this.bytesOf(ids));
  }

  /** The raw bytes of ids (special tokens as their UTF-8 text); throws RangeError for an id outside the vocabulary. */
  bytesOf(ids: readonly number[]): Uint8Array {
    const offsets = this.offsets;
    let length = 0;
    for (const id of ids) {
      if (!(Number.isInteger(id) && id >= 0 && id < this.vocabularySize)) {
        throw new RangeError(`Token id ${id} is outside the vocabulary (0..${this.vocabularySize - 1}); was the right tokenizer.model loaded?`);
      }
      length += offsets[id + 1]! - offsets[id]!;
    }
    const out = new Uint8Array(length);
    let at = 0;
    for (const id of ids) {
      const start = offsets[id]!;
      const end = offsets[id + 1]!;
      out.set(this.tokenBytes.subarray(start, end), at);
      at += end - start;
    }
    return out;
  }

  streamDecoder(): TokenStreamDecoder {
    // A streaming TextDecoder holds back an incomplete UTF-8 sequence until the token completing it arrives.
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    return {
      push: (ids) => decoder.decode(this.bytesOf(ids), { stream: true }),
      end: () => decoder.decode(),
    };
  }

  specialTokenId(text: string): number | undefined {
    return this.specials.get(text);
  }

  isSpecial(id: number): boolean {
    return Number.isInteger(id) && id >= this.ordinaryCount && id < this.vocabularySize;
  }

  /** Frees the WASM memory of the encoder; encoding afterwards throws, decoding keeps working. */
  dispose(): void {
    this.encoder?.free();
    this.encoder = undefined;
  }

  private liveEncoder(): Tiktoken {
    if (this.encoder === undefined) throw new Error('This tokenizer was disposed; load it again to encode.');
    return this.encoder;
  }
}
