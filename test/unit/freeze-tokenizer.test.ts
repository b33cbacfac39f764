// Huge values through the tokenizer and text-to-ids recovery (server/cwm/tokenizer.ts, piece-cuts.ts, endpoint/text-ids.ts):
// long runs are encoded in bounded chunks, and chunks cut at piece boundaries give exactly the tokens of one whole call.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkRanges, isPieceBoundary } from '../../server/cwm/piece-cuts';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { Tok } from '../../server/cwm/tokens';
import { TextToIds } from '../../server/endpoint/text-ids';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';

let tok: CwmTokenizer;

before(async () => {
  tok = await loadTokenizer(await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-freeze-tok-'))));
});
after(() => tok?.dispose());

/** One encoder call for the whole text, as before chunking existed. */
function wholeCall(text: string): number[] {
  const ids: number[] = [];
  tok.appendOrdinary(ids, text, { maxRun: Number.MAX_SAFE_INTEGER, targetChunk: Number.MAX_SAFE_INTEGER });
  return ids;
}

/** A seeded generator, so a failure names a reproducible case. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Every class the pre-tokenization pattern tells apart, several of each, non-ASCII and surrogate pairs included.
const ALPHABET = ['a', 'b', 'Z', 's', 't', 'l', 'd', 'é', 'ж', '漢', '0', '7', '٣', '²', ' ', ' ', '\t', '\n', '\r', '\r\n', '\v',
  '\f', '\u0085', '\u00a0', '\u3000', '\u001c', '\x01', "'", '"', '.', ',', '(', ')', '[', '=', '-', '_', '<', '|', '>', '😀', '\ufeff'];

describe('chunked encoding', () => {
  test('chunks cut at every certain piece boundary give exactly the tokens of one call', () => {
    const next = random(11);
    let cutsSeen = 0;
    for (let n = 0; n < 400; n++) {
      const length = 1 + Math.floor(next() * 120);
      let text = '';
      while (text.length < length) text += ALPHABET[Math.floor(next() * ALPHABET.length)];
      const ranges = [...chunkRanges(text, { maxRun: Number.MAX_SAFE_INTEGER, targetChunk: 1 })];
      cutsSeen += ranges.length - 1;
      const chunked: number[] = [];
      tok.appendOrdinary(chunked, text, { maxRun: Number.MAX_SAFE_INTEGER, targetChunk: 1 });
      assert.deepEqual(chunked, wholeCall(text), `case ${n}: ${JSON.stringify(text)}`);
    }
    assert.ok(cutsSeen > 2000, `the random texts were cut (${cutsSeen} cuts)`);
  });

  test('the corpus programs and trace-like values encode the same in chunks as in one call', () => {
    const lines = readFileSync(join(fixturesDir, 'corpus', 'cruxeval.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '');
    const text = lines.slice(0, 150).join('\n');
    const chunked: number[] = [];
    tok.appendOrdinary(chunked, text, { maxRun: Number.MAX_SAFE_INTEGER, targetChunk: 64 });
    assert.deepEqual(chunked, wholeCall(text));
    assert.deepEqual(tok.encodeOrdinary(text), wholeCall(text), 'the default limits cut no piece of ordinary programs');
  });

  test('a boundary is never claimed inside a word, a number, a punctuation run or before a line break', () => {
    for (const [text, at] of [['abc', 1], ['123', 1], ['a.b', 2], ['==', 1], [')\n', 1], ['\n ', 1], [' x', 1], ["'s", 1]] as const) {
      assert.equal(isPieceBoundary(text, at), false, JSON.stringify(text));
    }
  });

  test('a 1,000,000-letter run encodes (tiktoken alone aborts with "unreachable") and decodes back', () => {
    const text = 'a'.repeat(1_000_000);
    const ids = tok.encodeOrdinary(text);
    assert.equal(tok.decode(ids), text);
  });

  test('a 400,000-character value with special-token text around it round-trips, no piece cut wrongly', () => {
    const value = `'${'q'.repeat(400_000)}'`;
    const text = `{"s": ${JSON.stringify(value)}}${Tok.frameSep}${Tok.lineSep}`;
    const ids = tok.encodeWithSpecialTokens(text);
    assert.equal(tok.decode(ids), text);
    assert.equal(ids.at(-1), tok.specialTokenId(Tok.lineSep));
    assert.equal(ids.at(-2), tok.specialTokenId(Tok.frameSep));
  });

  test('a forced cut never splits a surrogate pair', () => {
    const text = '😀'.repeat(5_000);
    assert.equal(tok.decode(tok.encodeOrdinary(text)), text);
  });
});

describe('ids recovered from streamed text', () => {
  test('a long value streamed in small pieces yields ids as it goes, the same ids as the whole text', () => {
    const recover = new TextToIds(tok);
    const value = Array.from({ length: 20_000 }, (_, i) => `${i}: 'v${i}'`).join(', ');
    const ids: number[] = [];
    let idsBeforeEnd = 0;
    for (let at = 0; at < value.length; at += 7) {
      for (const id of recover.push(value.slice(at, at + 7))) ids.push(id);
      idsBeforeEnd = ids.length;
    }
    for (const id of recover.end()) ids.push(id);
    assert.ok(idsBeforeEnd > ids.length / 2, `ids came while streaming (${idsBeforeEnd} of ${ids.length})`);
    assert.deepEqual(ids, tok.encodeWithSpecialTokens(value));
  });

  test('an endless run of letters streamed as text keeps yielding ids; special tokens are never split', () => {
    const recover = new TextToIds(tok);
    const ids: number[] = [];
    const piece = 'x'.repeat(997);
    for (let i = 0; i < 2_000; i++) for (const id of recover.push(piece)) ids.push(id);
    for (const id of recover.push(`${Tok.frameSep.slice(0, 5)}`)) ids.push(id);
    for (const id of recover.push(`${Tok.frameSep.slice(5)}`)) ids.push(id);
    assert.equal(ids.at(-1), tok.specialTokenId(Tok.frameSep));
    assert.equal(tok.decode(ids), piece.repeat(2_000) + Tok.frameSep);
  });
});
