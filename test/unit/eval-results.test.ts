// The evaluation's files and inputs without an endpoint: the results file (append, cut-off last line, damage, header
// checks), corpus loading and its deterministic subset, and the progress line.

import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CorpusError, loadCorpus, selectItems } from '../../server/eval/corpus';
import { formatProgressBar, progressOf } from '../../server/eval/progress';
import { ResultsError, ResultsWriter, headerMismatches, loadResults, type ItemError, type RunHeader } from '../../server/eval/results';
import { fixturesDir } from '../helpers/paths';

const header: RunHeader = {
  type: 'header', format: 1, tool: 'cwm-debug', toolVersion: '0.1.0', createdAt: '2026-01-01T00:00:00.000Z',
  corpus: { path: '/c.jsonl', kind: 'jsonl', hash: 'abc', items: 3, selected: 3 }, limit: null, model: 'facebook/cwm',
  backends: ['vllm'], endpoints: ['http://127.0.0.1:8000'], temperature: 0, seed: 0, samples: 1, teacherForcing: true,
  python: 'python3', tracerLimits: { maxEvents: 100000 },
};

function failed(id: string, index: number): ItemError {
  return { type: 'item', status: 'error', id, index, error: { kind: 'syntax-error', message: 'bad' }, finishedAt: '2026-01-01T00:00:01.000Z' };
}

describe('results file', () => {
  test('records appended one per line read back by id; a cut-off last line is ignored and cut away before appending', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'cwm-results-')), 'results.jsonl');
    const writer = new ResultsWriter(path);
    writer.append(header);
    writer.append(failed('a', 0));
    writer.close();
    appendFileSync(path, JSON.stringify(failed('b', 1)).slice(0, 30));
    const cut = loadResults(path);
    assert.equal(cut.truncatedTail, true);
    assert.deepEqual([...cut.items.keys()], ['a']);

    const again = new ResultsWriter(path);
    again.append(failed('c', 2));
    again.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.length, 4, 'header, a, c and the final empty element');
    const whole = loadResults(path);
    assert.equal(whole.truncatedTail, false);
    assert.deepEqual([...whole.items.keys()], ['a', 'c']);
    assert.deepEqual(whole.header, header);
  });

  test('a damaged line inside the file is an error naming the line; a file without header is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cwm-results-'));
    const damaged = join(dir, 'damaged.jsonl');
    writeFileSync(damaged, [JSON.stringify(header), '{"type":"item","id":3}', JSON.stringify(failed('a', 0)), ''].join('\n'));
    assert.throws(() => loadResults(damaged), (error: unknown) => error instanceof ResultsError && /Line 2 of .* is not a result record/.test(error.message));
    const headless = join(dir, 'headless.jsonl');
    writeFileSync(headless, JSON.stringify(failed('a', 0)) + '\n');
    assert.throws(() => loadResults(headless), /has no run header/);
  });

  test('settings that must agree for a rerun are listed when they differ; endpoints may change', () => {
    assert.deepEqual(headerMismatches(header, { ...header, endpoints: ['http://other:1'], createdAt: 'later' }), []);
    assert.deepEqual(headerMismatches(header, { ...header, seed: 4, model: 'other' }), ['model "facebook/cwm" there, "other" now', 'seed 0 there, 4 now']);
  });
});

describe('corpus', () => {
  test('the CRUXEval fixture loads as 800 programs with entry f, and a subset is spread evenly and the same every time', () => {
    const corpus = loadCorpus(join(fixturesDir, 'corpus', 'cruxeval.jsonl'));
    assert.equal(corpus.items.length, 800);
    assert.equal(corpus.kind, 'jsonl');
    assert.match(corpus.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual({ entry: corpus.items[0]!.entry, args: corpus.items[0]!.args, id: corpus.items[0]!.id }, { entry: 'f', args: '[1, 1, 3, 1, 3, 1]', id: 'sample_0' });
    const subset = selectItems(corpus.items, 36);
    assert.equal(subset.length, 36);
    assert.equal(new Set(subset.map((item) => item.id)).size, 36);
    assert.deepEqual(selectItems(corpus.items, 36).map((item) => item.id), subset.map((item) => item.id));
    const gaps = subset.slice(1).map((item, k) => item.index - subset[k]!.index);
    assert.ok(Math.max(...gaps) <= Math.ceil(800 / 36) && subset[0]!.index === 0 && subset.at(-1)!.index >= 800 - 23);
    assert.equal(selectItems(corpus.items).length, 800);
  });

  test('a broken corpus is refused with the line and the reason', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cwm-corpus-'));
    const duplicate = join(dir, 'dup.jsonl');
    writeFileSync(duplicate, ['{"id":"x","code":"def f(): pass","input":""}', '{"id":"x","code":"def f(): pass","input":""}'].join('\n'));
    assert.throws(() => loadCorpus(duplicate), (e: unknown) => e instanceof CorpusError && /"x" occurs twice/.test(e.message));
    const broken = join(dir, 'broken.jsonl');
    writeFileSync(broken, '{"id":"x","code":"def f(): pass","input":""}\n{"id": 1, "code": 3}\n');
    assert.throws(() => loadCorpus(broken), /Line 2 of broken\.jsonl is not a corpus item: it needs string fields code and input/);
    assert.throws(() => loadCorpus(join(dir, 'missing.jsonl')), /Corpus not found/);
    assert.throws(() => loadCorpus(dir), /No program in .* marks its entry/);
  });
});

describe('progress line', () => {
  test('shows done and total, the rate and the time left', () => {
    const progress = progressOf(120, 800, 5, 0, 60_000);
    assert.equal(progress.rate, 2);
    assert.equal(progress.etaSeconds, 340);
    assert.equal(formatProgressBar(progress, 100), `[${'#'.repeat(6)}${'-'.repeat(34)}]  120/800  15%  2.00 programs/s  5m40s left`);
    assert.match(formatProgressBar(progressOf(0, 10, 0, 0, 0), 100), /0\/10  0%  – programs\/s  \? left$/);
  });
});
