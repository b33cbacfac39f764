// A TokenCodec that needs no local tokenizer file: a vLLM server tokenizes and detokenizes for the client through its
// POST /tokenize and /detokenize routes (vllm/entrypoints/openai/protocol.py, TokenizeCompletionRequest, DetokenizeRequest).
// Results are cached (bounded), so a session asks about each text and each token id once.
import { z } from 'zod';
import type { AsyncTokenStreamDecoder, RemoteTokenizing, TokenCodec, TokenStreamDecoder } from '../cwm/codec';
import { specialTokenMap, Tok } from '../cwm/tokens';
import { chooseModel, fetchModelList } from './base';
import { classifyModelList } from './connect';
import { EndpointError, endpointErrors } from './errors';
import { HttpTransport, readBounded, resolveConfig } from './http';
import type { BackendKind, EndpointConfig } from './types';
import { appendAll } from '../trace/arrays';

/** How the front end names its settings in messages: CLI flags or VS Code settings. */
export type SettingTerms = 'cli' | 'vscode';

export function tokenizerSettingName(terms: SettingTerms): string {
  return terms === 'cli' ? '--tokenizer PATH (or $CWM_TOKENIZER)' : 'cwmDebug.tokenizerPath';
}

/** Thrown when only a local tokenizer file can serve (the endpoint is not vLLM, or cannot tokenize). */
export class TokenizerRequiredError extends Error {
  override readonly name = 'TokenizerRequiredError';
}

export function tokenizerRequiredMessage(url: string, why: string, terms: SettingTerms): string {
  return (
    `No tokenizer file is configured, and the endpoint at ${url} cannot tokenize for the client (${why}). ` +
    `fgserve and MLX-LM need the CWM checkpoint's tokenizer.model: set ${tokenizerSettingName(terms)}; only a vLLM endpoint can do without it.`
  );
}

const tokenizeAnswer = z.object({ tokens: z.array(z.number().int().min(0)), count: z.number().int().optional() });
const detokenizeAnswer = z.object({ prompt: z.string() });

/** Text that a server's tokenizer would read as a special token wherever it appears (HF splits these out first). */
const SPECIAL_LIKE = /<\|[A-Za-z0-9_]{1,64}\|>/g;
/** Joins texts in one /tokenize or ids in one /detokenize request; the server splits there, and so does the client. */
const SEPARATOR = Tok.frameSep;
/**
 * Most tokens one /tokenize or /detokenize request may hold: vLLM refuses more than its max_model_len (renderers/params.py
 * TokenizeParams._apply_length_check). Text is sized in UTF-8 bytes, which no tokenization exceeds.
 */
const MAX_REQUEST_TOKENS = 16_000;
const MAX_CACHED_TEXTS = 20_000;
const MAX_CACHED_TEXT_CHARS = 8_000_000;
/** Ids of one character split over tokens: more than this and the text is emitted as the server decodes it. */
const MAX_PENDING_IDS = 8;
const MAX_CACHED_RUNS = 10_000;
const ANSWER_LIMIT = 32 * 1024 * 1024;
const REPLACEMENT = '\uFFFD';

/** What Hugging Face's clean_up_tokenization removes a space in front of (tokenization_utils_base.py). */
const CLEANED_PUNCTUATION = /[.?!,']|n't/;
const MAX_SPACING_VARIANTS = 16;

/**
 * The texts a cleaned-up decode may have come from, the text itself first: a space put back in front of punctuation
 * (" ." " ?" " !" " ,"), of "n't" and of quotes ("'s" "'m" "'ve" "'re"), and around a lone quote (" ' ").
 */
export function spacingVariants(text: string): string[] {
  const spots: { at: number; around: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i - 1] === ' ') continue;
    if ('.?!,'.includes(text[i]!) || text.startsWith("n't", i)) spots.push({ at: i, around: false });
    else if (text[i] === "'") spots.push({ at: i, around: true });
  }
  const variants = [text];
  const choose = (k: number, current: string, shift: number): void => {
    if (variants.length >= MAX_SPACING_VARIANTS) return;
    if (k === spots.length) {
      if (current !== text) variants.push(current);
      return;
    }
    const { at, around } = spots[k]!;
    const where = at + shift;
    choose(k + 1, current, shift);
    choose(k + 1, `${current.slice(0, where)} ${current.slice(where)}`, shift + 1);
    if (around) choose(k + 1, `${current.slice(0, where)} ' ${current.slice(where + 1)}`, shift + 2);
  };
  choose(0, text, 0);
  return variants;
}

/**
 * A text longer than `limit` UTF-8 bytes cut after line ends followed by a non-blank character: the pre-tokenization
 * pattern never joins a line end with what follows it there, so the tokens do not change. A longer single line stays whole.
 */
export function splitLongText(text: string, limit: number): string[] {
  if (Buffer.byteLength(text, 'utf8') <= limit) return [text];
  const pieces: string[] = [];
  let start = 0;
  let size = 0;
  let lastCut = -1;
  for (let i = 0; i < text.length; i++) {
    size += Buffer.byteLength(text[i]!, 'utf8');
    const cuttable = (text[i] === '\n' || text[i] === '\r') && i + 1 < text.length && !/\s/.test(text[i + 1]!);
    if (cuttable) lastCut = i + 1;
    if (size > limit && lastCut > start) {
      pieces.push(text.slice(start, lastCut));
      start = lastCut;
      size = Buffer.byteLength(text.slice(start, i + 1), 'utf8');
    }
  }
  pieces.push(text.slice(start));
  return pieces;
}

/**
 * Ordinary text cut so that no piece contains special-token text: each `<|name|>` is split after its `<|`. The cut is
 * a boundary of CWM's pre-tokenization pattern anyway (`<|` always ends a run of punctuation before a letter), so the
 * pieces' tokens joined are exactly the tokens of the whole text encoded as ordinary text.
 */
export function splitAroundSpecialText(text: string): string[] {
  const pieces: string[] = [];
  let from = 0;
  SPECIAL_LIKE.lastIndex = 0;
  for (let m = SPECIAL_LIKE.exec(text); m !== null; m = SPECIAL_LIKE.exec(text)) {
    const cut = m.index + 2;
    pieces.push(text.slice(from, cut));
    from = cut;
  }
  pieces.push(text.slice(from));
  return pieces.filter((piece) => piece !== '');
}

export interface RemoteTokenizerOptions {
  readonly transport: HttpTransport;
  /** Model name the server serves (sent along, as vLLM before 0.7 requires it). */
  readonly model?: string;
  /** Id of `<|begin_of_text|>`: the first of the 256 special tokens. */
  readonly specialBase: number;
  /** Several texts may go in one request, joined by a special token (false when the server strips text around it). */
  readonly batches?: boolean;
  /** The served context length (from /v1/models): no request may hold more tokens. */
  readonly maxModelLen?: number;
  /**
   * The server's decode applies Hugging Face's clean_up_tokenization_spaces (" ," becomes ","), which tokenizer configs
   * derived from Llama 3's ask for: the text of a token with such punctuation is then checked by tokenizing it back.
   */
  readonly cleansSpaces?: boolean;
  readonly terms: SettingTerms;
}

export class RemoteTokenizer implements TokenCodec, RemoteTokenizing {
  readonly ordinaryCount: number;
  readonly remote: RemoteTokenizing = this;
  private readonly specials: Map<string, number>;
  private readonly specialTexts = new Map<number, string>();
  private readonly separatorId: number;
  /** Ordinary text → ids, least recently used first. */
  private readonly texts = new Map<string, number[]>();
  private cachedChars = 0;
  /** Id → its text decoded alone; ids of part of a character decode to U+FFFD and are decoded with their neighbours. */
  private readonly idTexts = new Map<number, string>();
  private readonly runTexts = new Map<string, string>();
  private warning: string | undefined;
  private warned = false;

  /** Most tokens in one request to the server. */
  private readonly requestTokens: number;

  constructor(private readonly options: RemoteTokenizerOptions) {
    this.requestTokens = Math.max(64, Math.min(MAX_REQUEST_TOKENS, (options.maxModelLen ?? Infinity) - 16));
    this.ordinaryCount = options.specialBase;
    this.specials = specialTokenMap(options.specialBase);
    for (const [text, id] of this.specials) this.specialTexts.set(id, text);
    this.separatorId = this.specials.get(SEPARATOR)!;
  }

  get url(): string {
    return this.options.transport.url;
  }

  // ---------------------------------------------------------------- TokenCodec (answers from the cache)

  encodeOrdinary(text: string): number[] {
    if (text === '') return [];
    const ids = this.texts.get(text);
    if (ids === undefined) {
      throw new Error(
        `The vLLM server's tokenizer was not asked about this text first; this path needs a local tokenizer: set ${tokenizerSettingName(this.options.terms)}.`,
      );
    }
    // Least recently used goes first: refresh the entry.
    this.texts.delete(text);
    this.texts.set(text, ids);
    return ids.slice();
  }

  encodeWithSpecialTokens(text: string): number[] {
    const ids: number[] = [];
    let from = 0;
    SPECIAL_LIKE.lastIndex = 0;
    for (let m = SPECIAL_LIKE.exec(text); m !== null; m = SPECIAL_LIKE.exec(text)) {
      const id = this.specials.get(m[0]);
      if (id === undefined) continue;
      appendAll(ids, this.encodeOrdinary(text.slice(from, m.index)));
      ids.push(id);
      from = m.index + m[0].length;
    }
    appendAll(ids, this.encodeOrdinary(text.slice(from)));
    return ids;
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => this.specialTexts.get(id) ?? this.idTexts.get(id) ?? REPLACEMENT).join('');
  }

  streamDecoder(): TokenStreamDecoder {
    return { push: (ids) => this.decode(ids), end: () => '' };
  }

  specialTokenId(text: string): number | undefined {
    return this.specials.get(text);
  }

  isSpecial(id: number): boolean {
    return id >= this.ordinaryCount && id < this.ordinaryCount + 256;
  }

  // ---------------------------------------------------------------- RemoteTokenizing (asks the server)

  async prepareOrdinary(texts: readonly string[]): Promise<ReadonlyMap<string, readonly number[]>> {
    const needed = new Set(texts);
    const found = new Map<string, readonly number[]>([['', []]]);
    for (const text of needed) {
      const ids = this.texts.get(text);
      if (ids !== undefined) found.set(text, ids);
    }
    const missing = [...needed].filter((text) => !found.has(text));
    this.evictExcept(needed);
    if (missing.length === 0) return found;
    const pieces = [...new Set(missing.flatMap((text) => this.piecesOf(text)))];
    const pieceIds = await this.tokenizePieces(pieces);
    for (const text of missing) {
      const ids = this.piecesOf(text).flatMap((piece) => pieceIds.get(piece)!);
      this.remember(text, ids);
      found.set(text, ids);
    }
    this.evictExcept(needed);
    // The model's output copies lines and values much like the prompt's: knowing the prompt's ids now (one request)
    // spares most of the per-chunk /detokenize requests while a rollout streams.
    await this.learnIds([...pieceIds.values()].flat());
    return found;
  }

  asyncStreamDecoder(): AsyncTokenStreamDecoder {
    return new RemoteStreamDecoder(this);
  }

  takeWarning(): string | undefined {
    const warning = this.warning;
    this.warning = undefined;
    return warning;
  }

  /** Closes the connections to the server. */
  close(): Promise<void> {
    return this.options.transport.close();
  }

  dispose(): void {
    void this.close();
  }

  /** Texts cut where tokenization is cut anyway: around special-token text, and between lines of a long text. */
  private piecesOf(text: string): string[] {
    return splitAroundSpecialText(text).flatMap((piece) => splitLongText(piece, this.requestTokens));
  }

  /** Learns the text of every id not seen yet, a request per batch (one per id if the answer cannot be split). */
  async learnIds(ids: readonly number[]): Promise<void> {
    const unknown = [...new Set(ids)].filter((id) => !this.specialTexts.has(id) && !this.idTexts.has(id));
    const batch = Math.max(1, Math.floor(this.requestTokens / 2));
    for (let k = 0; k < unknown.length; k += batch) await this.learnBatch(unknown.slice(k, k + batch));
  }

  private async learnBatch(unknown: readonly number[]): Promise<void> {
    if (unknown.length === 0) return;
    const joined: number[] = [];
    unknown.forEach((id, k) => {
      if (k > 0) joined.push(this.separatorId);
      joined.push(id);
    });
    const parts = (await this.detokenize(joined)).split(SEPARATOR);
    if (parts.length === unknown.length) {
      unknown.forEach((id, k) => this.idTexts.set(id, parts[k]!));
    } else {
      for (const id of unknown) this.idTexts.set(id, await this.detokenize([id]));
    }
    if (this.options.cleansSpaces) await this.undoSpaceCleanup(unknown);
  }

  /** Finds, for tokens whose decoded text may have lost a space, the spelling that tokenizes back to the token. */
  private async undoSpaceCleanup(ids: readonly number[]): Promise<void> {
    const suspects = ids.filter((id) => CLEANED_PUNCTUATION.test(this.idTexts.get(id) ?? ''));
    if (suspects.length === 0) return;
    const variants = suspects.map((id) => spacingVariants(this.idTexts.get(id)!));
    const all = [...new Set(variants.flat())];
    const tokens = await this.tokenizePieces(all.flatMap((text) => this.piecesOf(text)), false);
    suspects.forEach((id, k) => {
      const found = variants[k]!.find((variant) => {
        const ids = this.piecesOf(variant).flatMap((piece) => tokens.get(piece) ?? []);
        return ids.length === 1 && ids[0] === id;
      });
      if (found !== undefined) this.idTexts.set(id, found);
    });
  }

  /** The text of ids that hold a character split over tokens (and what came with them), asked once per sequence. */
  async decodeRun(ids: readonly number[]): Promise<string> {
    const key = ids.join(',');
    let text = this.runTexts.get(key);
    if (text === undefined) {
      text = await this.detokenize(ids);
      if (this.runTexts.size >= MAX_CACHED_RUNS) this.runTexts.delete(this.runTexts.keys().next().value!);
      this.runTexts.set(key, text);
    }
    return text;
  }

  /** The text of `id` alone, once learnt; undefined for part of a character (or an unknown id). */
  wholeText(id: number): string | undefined {
    const text = this.specialTexts.get(id) ?? this.idTexts.get(id);
    return text === undefined || text.includes(REPLACEMENT) ? undefined : text;
  }

  async detokenize(ids: readonly number[]): Promise<string> {
    const body = { ...(this.options.model !== undefined ? { model: this.options.model } : {}), tokens: [...ids] };
    return detokenizeAnswer.parse(await this.post('/detokenize', body)).prompt;
  }

  private async tokenizePieces(pieces: readonly string[], warn = true): Promise<Map<string, number[]>> {
    const result = new Map<string, number[]>();
    let batch: string[] = [];
    let size = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const ids = await this.tokenizeAsServer(batch.join(SEPARATOR));
      const split: number[][] = [[]];
      for (const id of ids) {
        if (id === this.separatorId) split.push([]);
        else split[split.length - 1]!.push(id);
      }
      if (split.length === batch.length && this.options.batches !== false) {
        batch.forEach((piece, k) => result.set(piece, split[k]!));
      } else {
        for (const piece of batch) result.set(piece, await this.tokenizeAsServer(piece));
      }
      batch = [];
      size = 0;
    };
    for (const piece of pieces) {
      // Tokens never outnumber UTF-8 bytes; each separator is one token more.
      const bytes = Buffer.byteLength(piece, 'utf8') + 1;
      if (size + bytes > this.requestTokens) await flush();
      batch.push(piece);
      size += bytes;
    }
    await flush();
    for (const [piece, ids] of result) {
      if (!warn) break;
      const special = ids.find((id) => this.isSpecial(id));
      if (special !== undefined) this.warnOnce(piece, special);
    }
    return result;
  }

  /** The server's own tokens for `text`: special-token text in it becomes special tokens, as in any HF tokenizer. */
  async tokenizeAsServer(text: string): Promise<number[]> {
    const body = { ...(this.options.model !== undefined ? { model: this.options.model } : {}), prompt: text, add_special_tokens: false };
    return tokenizeAnswer.parse(await this.post('/tokenize', body)).tokens;
  }

  private async post(path: '/tokenize' | '/detokenize', body: unknown): Promise<unknown> {
    const transport = this.options.transport;
    const guard = transport.probeGuard();
    try {
      const res = await transport.postJson(path, body, guard, 'vllm', this.options.model);
      const text = await readBounded(res.body, ANSWER_LIMIT);
      try {
        return JSON.parse(text);
      } catch {
        throw endpointErrors.protocol(transport.url, 'vllm', `POST ${path} did not answer JSON: ${text.slice(0, 80)}`);
      }
    } catch (error) {
      throw guard.failure(error);
    } finally {
      guard.dispose();
    }
  }

  private remember(text: string, ids: number[]): void {
    this.texts.set(text, ids);
    this.cachedChars += text.length;
  }

  /**
   * Drops the least recently used texts beyond the cache's bounds, never one of `needed` (the caller encodes them next):
   * one prompt's texts always stay, so the cache may exceed its bounds by at most one prompt.
   */
  private evictExcept(needed: ReadonlySet<string>): void {
    for (const old of this.texts.keys()) {
      if (this.texts.size <= MAX_CACHED_TEXTS && this.cachedChars <= MAX_CACHED_TEXT_CHARS) break;
      if (needed.has(old)) continue;
      this.texts.delete(old);
      this.cachedChars -= old.length;
    }
  }

  private warnOnce(piece: string, special: number): void {
    if (this.warned) return;
    this.warned = true;
    this.warning =
      `The vLLM server's tokenizer reads text of the program (${JSON.stringify(piece.slice(0, 40))}) as the special token ` +
      `${this.specialTexts.get(special) ?? special}, so predictions about it may be off; set ${tokenizerSettingName(this.options.terms)} ` +
      'to a local tokenizer file to keep such text ordinary.';
  }
}

/** Decodes a stream through the tokenizer's id cache, asking the server only for new ids and split characters. */
class RemoteStreamDecoder implements AsyncTokenStreamDecoder {
  private pending: number[] = [];

  constructor(private readonly tokenizer: RemoteTokenizer) {}

  async push(ids: readonly number[]): Promise<string> {
    await this.tokenizer.learnIds(ids);
    let out = '';
    for (const id of ids) {
      const whole = this.tokenizer.wholeText(id);
      if (this.pending.length === 0 && whole !== undefined) {
        out += whole;
        continue;
      }
      this.pending.push(id);
      // A character split over tokens: decoded together once the server no longer ends them with U+FFFD.
      const text = await this.tokenizer.decodeRun(this.pending);
      if (!text.endsWith(REPLACEMENT) || this.pending.length >= MAX_PENDING_IDS) {
        out += text;
        this.pending = [];
      }
    }
    return out;
  }

  async end(): Promise<string> {
    if (this.pending.length === 0) return '';
    const text = await this.tokenizer.decodeRun(this.pending);
    this.pending = [];
    return text;
  }
}

/**
 * The tokenizer of a vLLM endpoint, checked to be CWM's: its special tokens must be the 256 reserved ones in order.
 * Throws TokenizerRequiredError when the endpoint is not vLLM (fgserve and MLX-LM have no /tokenize), EndpointError
 * when it cannot be reached.
 */
export async function connectRemoteTokenizer(
  config: EndpointConfig,
  terms: SettingTerms,
): Promise<RemoteTokenizer> {
  const backend: BackendKind | 'auto' = config.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'vllm') {
    throw new TokenizerRequiredError(tokenizerRequiredMessage(config.url, `it is ${backend}, which has no /tokenize route`, terms));
  }
  const transport = new HttpTransport(resolveConfig(config));
  try {
    const models = await fetchModelList(transport);
    if (models === undefined || models.length === 0 || classifyModelList(models) !== 'vllm') {
      throw new TokenizerRequiredError(tokenizerRequiredMessage(transport.url, 'it does not answer as a vLLM server', terms));
    }
    const model = chooseModel(transport.url, models, config.model);
    const maxModelLen = models.find((entry) => entry.id === model)?.max_model_len ?? undefined;
    const probe = new RemoteTokenizer({ transport, ...(model !== undefined ? { model } : {}), specialBase: 0, terms });
    const names = [Tok.beginOfText, Tok.endOfText, Tok.frameSep, Tok.callSep, Tok.lineSep, Tok.returnSep, Tok.exceptionSep, Tok.actionSep, Tok.argSep, Tok.traceContextStart];
    let ids: number[];
    try {
      ids = await probe.tokenizeAsServer(names.join(''));
    } catch (error) {
      if (error instanceof EndpointError && error.status === 404) {
        throw new TokenizerRequiredError(tokenizerRequiredMessage(transport.url, 'it answers POST /tokenize with HTTP 404', terms));
      }
      throw error;
    }
    const base = ids[0] ?? -1;
    const expected = specialTokenMap(base);
    if (ids.length !== names.length || names.some((name, k) => expected.get(name) !== ids[k]) || base < 256) {
      throw new EndpointError(
        'tokenizer-missing',
        `The model served at ${transport.url} does not have CWM's tokenizer (its special tokens are not CWM's); serve a CWM checkpoint, or set ${tokenizerSettingName(terms)}.`,
      );
    }
    const tokenizer = new RemoteTokenizer({ transport, ...(model !== undefined ? { model } : {}), ...(maxModelLen != null ? { maxModelLen } : {}), specialBase: base, terms });
    // Batching joins texts with a special token; a tokenizer that strips whitespace next to it would change the texts.
    const samples = ['x', '  y\n', '\tz '];
    const joined = await tokenizer.tokenizeAsServer(samples.join(SEPARATOR));
    const alone = await Promise.all(samples.map((sample) => tokenizer.tokenizeAsServer(sample)));
    const batches = joined.join(',') === alone.map((ids) => ids.join(',')).join(`,${expected.get(SEPARATOR)},`);
    // A decode that cleans up spaces (" ," to ",") would change texts; detected once, undone per token (undoSpaceCleanup).
    const cleanupProbe = 'a ,b .c';
    const cleansSpaces = (await tokenizer.detokenize(await tokenizer.tokenizeAsServer(cleanupProbe))) !== cleanupProbe;
    if (batches && !cleansSpaces) return tokenizer;
    return new RemoteTokenizer({ transport, ...(model !== undefined ? { model } : {}), ...(maxModelLen != null ? { maxModelLen } : {}), specialBase: base, terms, batches, cleansSpaces });
  } catch (error) {
    await transport.close();
    throw error;
  }
}
