// The symbolic checker is never wrong about real execution: real traces of the CRUXEval programs under every Python
// 3.8–3.13 here are never marked. `npm test` checks a bounded sample; CWM_FULL_CORPUS=1 checks all 800 under each.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { checkTrace, isMarkedImpossible } from '../../server/engine/flow-check';
import { loadFileFlowFacts, type FlowFacts } from '../../server/engine/flow-facts';
import { recordTrace } from '../../server/tracer/runner';
import { fixturesDir } from '../helpers/paths';
import { availablePythons, missingPythons } from '../helpers/pythons';

const CorpusItem = z.object({ code: z.string(), input: z.string(), output: z.string(), id: z.string() });
const corpus = readFileSync(join(fixturesDir, 'corpus', 'cruxeval.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => CorpusItem.parse(JSON.parse(line)));

const FULL = process.env.CWM_FULL_CORPUS === '1';
/** Programs per Python version in the bounded run: a different slice of the corpus under each version. */
const SAMPLE_PER_VERSION = 12;

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  }));
  return results;
}

test(`real traces of ${FULL ? 'all 800' : 'a sample of the'} CRUXEval programs are never marked impossible, under every Python here`, { timeout: FULL ? 3_600_000 : 120_000 }, async (t) => {
  const pythons = availablePythons();
  if (missingPythons().length > 0) t.diagnostic(`Pythons not installed here, skipped: ${missingPythons().join(', ')}`);
  assert.ok(pythons.length > 0, 'no Python 3.8–3.13 found');
  assert.equal(corpus.length, 800);
  // The facts come from one interpreter (as in a session: the configured or the system one), whatever version ran.
  const batch = await loadFileFlowFacts(corpus.map((item) => item.code + '\n'), { timeoutMs: 120_000 });
  assert.ok(!('problem' in batch), 'problem' in batch ? batch.problem : '');
  const dir = mkdtempSync(join(tmpdir(), 'cwm-flow-corpus-'));
  let frames = 0;
  let traces = 0;
  const marks: string[] = [];
  for (const [v, python] of pythons.entries()) {
    const stride = Math.floor(corpus.length / SAMPLE_PER_VERSION);
    const items = FULL ? corpus : Array.from({ length: SAMPLE_PER_VERSION }, (_, k) => corpus[(k * stride + v * 7 + 3) % corpus.length]!);
    await mapLimit(items, FULL ? 4 : 2, async (item) => {
      const index = corpus.indexOf(item);
      const result = batch.results[index]!;
      assert.ok('facts' in result, `${item.id}: ${'problem' in result ? result.problem : ''}`);
      const facts: FlowFacts = { main: result.facts, files: new Map(), python: batch.python };
      const file = join(dir, `${item.id.replace(/[^\w]/g, '_')}-${python.version}.py`);
      writeFileSync(file, item.code + '\n');
      const trace = await recordTrace({ python: python.path, file, entry: 'f', args: item.input, limits: { timeoutMs: 30_000, maxReprLength: 1000 } });
      traces++;
      frames += trace.frames.length;
      for (const frame of checkTrace(trace.frames, facts).filter(isMarkedImpossible)) {
        marks.push(`${item.id} under ${python.version}: #${frame.index} ${frame.event} line ${frame.line}: ${frame.issues!.map((i) => i.message).join('; ')}`);
      }
    });
  }
  t.diagnostic(`${traces} real traces (${frames} frames) under ${pythons.map((p) => p.version).join(', ')}: ${marks.length} marked`);
  assert.deepEqual(marks, []);
});
