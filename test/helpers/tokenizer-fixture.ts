// Builds a small tiktoken ranks file in the format of CWM's gated tokenizer.model, for tests.
// A real byte-level BPE: the 256 bytes in tiktoken's order, then merges learned from corpus programs and trace text.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { fixturesDir } from './paths';

export interface TestRanksOptions {
  /** Number of ordinary tokens (lines); special ids start right after. 128000 gives the spec's ids. */
  readonly size?: number;
  /** Text the merges are learned from; defaults to the corpus programs plus trace-like text. */
  readonly trainingText?: string;
}

export const DEFAULT_TEST_RANKS_SIZE = 4000;

// Merges beyond this are not learned whatever the size, so a 128000-line file encodes exactly like the default one.
const MAX_TRAINED_RANKS = 4000;

/** The tiktoken ranks of single bytes: printable bytes (as Python's isprintable, space excluded) first, then the rest. */
export function singleByteOrder(): number[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xff && b !== 0xad);
  const all = Array.from({ length: 256 }, (_, b) => b);
  return [...all.filter(printable), ...all.filter((b) => !printable(b))];
}

// cl100k's pattern in JS syntax: JS regexes (Node 20) have no `(?i:...)` group, so the contractions are spelled out.
const PRETOKENIZE = /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

const CorpusEntry = z.object({ code: z.string(), input: z.string(), output: z.string(), id: z.string() });

/** Corpus programs plus what traces of them look like (calls, locals dicts with `".."`, return values). */
function defaultTrainingText(): string {
  const lines = readFileSync(join(fixturesDir, 'corpus', 'cruxeval.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const parts: string[] = [];
  for (const line of lines) {
    const entry = CorpusEntry.parse(JSON.parse(line));
    const params = /def f\(([^)]*)\)/.exec(entry.code)?.[1]?.split(',').map((p) => p.trim().split(/[=:]/)[0]!.trim()).filter(Boolean) ?? [];
    const full: Record<string, string> = {};
    const unchanged: Record<string, string> = {};
    params.forEach((p, i) => {
      full[p] = i === 0 ? entry.input : String(i);
      unchanged[p] = '..';
    });
    const codeLines = entry.code.split('\n');
    const defLine = codeLines[0] ?? '';
    parts.push(
      entry.code.replace(defLine, `${defLine} # << START_OF_TRACE`),
      `f(${entry.input})`,
      `${JSON.stringify(full)}${defLine} # << START_OF_TRACE\n`,
      ...codeLines.slice(1, 4).map((l) => `${JSON.stringify(unchanged)}${l}\n`),
      `${codeLines[codeLines.length - 1] ?? ''}\n${JSON.stringify(entry.output)}`,
      `"(<class 'ValueError'>, ValueError('${entry.id}'), <traceback object>)"`,
    );
  }
  return parts.join('\n');
}

interface TrainedMerges {
  /** Bytes of each learned token, in rank order (after the 256 single bytes). */
  readonly tokens: readonly Uint8Array[];
}

const trainedByText = new Map<string, TrainedMerges>();
const fileCache = new Map<string, string>();

/** Greedy byte-level BPE: repeatedly merges the most frequent adjacent pair inside pre-tokenized chunks. */
function trainMerges(text: string, limit: number): TrainedMerges {
  const byteRank = new Array<number>(256);
  const tokenBytes: Uint8Array[] = [];
  singleByteOrder().forEach((b, rank) => {
    byteRank[b] = rank;
    tokenBytes.push(Uint8Array.of(b));
  });
  const idOfBytes = new Map<string, number>(tokenBytes.map((bytes, id) => [Buffer.from(bytes).toString('latin1'), id]));

  const chunkCounts = new Map<string, number>();
  for (const match of text.matchAll(PRETOKENIZE)) chunkCounts.set(match[0], (chunkCounts.get(match[0]) ?? 0) + 1);
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [chunk, count] of chunkCounts) {
    words.push([...Buffer.from(chunk, 'utf8')].map((b) => byteRank[b]!));
    freqs.push(count);
  }

  // Pair keys pack two ids (< 2^16) into one number.
  const key = (a: number, b: number): number => a * 65536 + b;
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const touched = new Set<number>();
  const addPairs = (w: number, sign: 1 | -1): void => {
    const word = words[w]!;
    for (let i = 0; i + 1 < word.length; i++) {
      const k = key(word[i]!, word[i + 1]!);
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + sign * freqs[w]!);
      touched.add(k);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (set === undefined) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1);

  // Max-heap of [count, key] with lazy deletion: an entry is live only while its count is the pair's current count.
  const heap: [number, number][] = [];
  const above = (x: [number, number], y: [number, number]): boolean => x[0] > y[0] || (x[0] === y[0] && x[1] < y[1]);
  const push = (entry: [number, number]): void => {
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!above(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const pop = (): [number, number] | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && above(heap[l]!, heap[best]!)) best = l;
        if (r < heap.length && above(heap[r]!, heap[best]!)) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best]!, heap[i]!];
        i = best;
      }
    }
    return top;
  };
  const flushTouched = (): void => {
    for (const k of touched) {
      const count = pairCounts.get(k) ?? 0;
      if (count > 1) push([count, k]);
    }
    touched.clear();
  };
  flushTouched();

  const learned: Uint8Array[] = [];
  while (256 + learned.length < limit) {
    const top = pop();
    if (top === undefined) break;
    const [count, k] = top;
    if (pairCounts.get(k) !== count) continue;
    const a = Math.floor(k / 65536);
    const b = k % 65536;
    const merged = Buffer.concat([tokenBytes[a]!, tokenBytes[b]!]);
    const mergedKey = merged.toString('latin1');
    // Two merge paths can spell the same bytes ("ab"+"c", "a"+"bc"): the token exists once, both paths use it.
    let id = idOfBytes.get(mergedKey);
    if (id === undefined) {
      id = tokenBytes.length;
      tokenBytes.push(merged);
      idOfBytes.set(mergedKey, id);
      learned.push(merged);
    }
    for (const w of pairWords.get(k) ?? []) {
      const word = words[w]!;
      addPairs(w, -1);
      const next: number[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
          next.push(id);
          i++;
        } else {
          next.push(word[i]!);
        }
      }
      words[w] = next;
      addPairs(w, 1);
    }
    pairWords.delete(k);
    flushTouched();
  }
  return { tokens: learned };
}

/** Text of a ranks file (`base64(bytes) rank` per line) in the format of CWM's tokenizer.model. */
export function buildTestRanksFile(options: TestRanksOptions = {}): string {
  const size = options.size ?? DEFAULT_TEST_RANKS_SIZE;
  if (!Number.isInteger(size) || size < 256 || size > 1 << 24) throw new RangeError(`size must be an integer in 256..2^24, got ${size}`);
  const cacheKey = `${size}\u0000${options.trainingText ?? ''}`;
  const cached = fileCache.get(cacheKey);
  if (cached !== undefined) return cached;

  const textKey = options.trainingText ?? '\u0000default';
  let trained = trainedByText.get(textKey);
  if (trained === undefined) {
    trained = trainMerges(options.trainingText ?? defaultTrainingText(), MAX_TRAINED_RANKS);
    trainedByText.set(textKey, trained);
  }
  const lines: string[] = singleByteOrder().map((b, rank) => `${Buffer.of(b).toString('base64')} ${rank}`);
  for (const token of trained.tokens) {
    if (lines.length >= size) break;
    lines.push(`${Buffer.from(token).toString('base64')} ${lines.length}`);
  }
  // Padding tokens hold the byte 0xFF, which valid UTF-8 never contains: no text can ever encode to them.
  // The varying byte comes first because tiktoken's FxHash buckets by the low bits of the first bytes.
  for (let i = 0; lines.length < size; i++) {
    lines.push(`${Buffer.of(i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, 0xff).toString('base64')} ${lines.length}`);
  }
  const text = `${lines.join('\n')}\n`;
  fileCache.set(cacheKey, text);
  return text;
}

/** Writes `tokenizer.model` (see buildTestRanksFile) into dir and returns its path. */
export async function writeTestTokenizer(dir: string, options: TestRanksOptions = {}): Promise<string> {
  const path = join(dir, 'tokenizer.model');
  await writeFile(path, buildTestRanksFile(options), 'utf8');
  return path;
}
