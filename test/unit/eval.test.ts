// `cwm-debug eval` against the loopback replay endpoint on a deterministic subset of the CRUXEval corpus: 100% when the
// endpoint replays the real traces, scores that follow a seeded corruption rate (and breakdowns that point at it),
// resume after SIGKILL with the same totals, header checks, folder corpora, comparison of runs.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { EndpointError } from '../../server/endpoint/errors';
import type { EndpointClient } from '../../server/endpoint/types';
import { loadCorpus, selectItems, type CorpusItem } from '../../server/eval/corpus';
import { compareRuns } from '../../server/eval/compare-runs';
import { computeTotals, type RunTotals } from '../../server/eval/metrics';
import { loadResults } from '../../server/eval/results';
import { evaluationModelOf, runEvaluation, type EvaluationModel } from '../../server/eval/run';
import { valueTypeOf } from '../../server/eval/value-types';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { fixturesDir, repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, prepareCorpusItems, type ReplayModel } from '../servers/replay-model';

const CLI = join(repoRoot, 'dist', 'cli.js');
const CORPUS = join(fixturesDir, 'corpus', 'cruxeval.jsonl');
// playwright-core is loaded at run time, not bundled: esbuild would inline its lazy requires and data files wrongly.
const loadPlaywright = (): typeof import('playwright-core') => createRequire(join(repoRoot, 'package.json'))('playwright-core');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** Programs of the corpus the suite evaluates (spread evenly over it, the same every run): CI time is tight. */
const SUBSET = 36;

function runCli(args: string[], options: { onStdoutLine?: (child: ReturnType<typeof spawn>) => void } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, NO_COLOR: '1', CWM_ENDPOINT: '', CWM_TOKENIZER: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  options.onStdoutLine?.(child);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

function resultLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line.startsWith('{"type":"item"'));
  } catch {
    return [];
  }
}

/** The totals of a run folder that do not depend on timing. */
function timeless(totals: RunTotals): unknown {
  const { latency: _latency, ...rest } = totals;
  return rest;
}

function totalsOf(dir: string): RunTotals {
  const loaded = loadResults(join(dir, 'results.jsonl'));
  return computeTotals(loaded.header, loaded.items.values());
}

/** Binomial check: `observed` faults among `eligible` chances at `rate`, within 3.5 standard deviations. */
function assertNearRate(observed: number, eligible: number, rate: number, what: string, t?: { diagnostic(message: string): void }): void {
  const expected = eligible * rate;
  const sd = Math.sqrt(eligible * rate * (1 - rate));
  t?.diagnostic(`${what}: measured ${observed}/${eligible} = ${(observed / eligible).toFixed(3)}, expected rate ${rate} (${expected.toFixed(1)} ± ${sd.toFixed(1)} for 1 sd)`);
  assert.ok(eligible >= 50, `${what}: only ${eligible} chances, too few to measure a rate`);
  assert.ok(Math.abs(observed - expected) <= 3.5 * sd,
    `${what}: ${observed} of ${eligible} corrupted, expected ${expected.toFixed(1)} ± ${(3.5 * sd).toFixed(1)} at rate ${rate}`);
}

const isInt = (_name: string, repr: string) => valueTypeOf(repr) === 'int';

describe('cwm-debug eval against the replay endpoint', { timeout: 600_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let replay: ReplayModel;
  let server: ProtocolServer;
  /** A second endpoint serving the same model, for runs spread over two. */
  let second: ProtocolServer;
  let client: EndpointClient;
  let items: CorpusItem[];
  let realTraces: Map<string, Trace>;
  let work: string;
  let model: EvaluationModel;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cwm-eval-test-'));
    tokenizerPath = await writeTestTokenizer(work);
    codec = await loadTokenizer(tokenizerPath);
    replay = createReplayModel({ codec });
    items = selectItems(loadCorpus(CORPUS).items, SUBSET);
    realTraces = await prepareCorpusItems(replay, items);
    assert.equal(realTraces.size, SUBSET);
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
    second = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
    client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 60_000 } }, codec);
    model = evaluationModelOf({ pool: client, codec, clients: [client] });
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await second?.close();
    codec?.dispose();
  });

  const evalArgs = (out: string, extra: string[] = []) =>
    ['eval', CORPUS, '--limit', String(SUBSET), '--endpoint', server.url, '--tokenizer', tokenizerPath, '--out', out, ...extra];

  let fullRun: string;

  test('replaying the real traces scores 100% on every metric (over two endpoints)', async () => {
    fullRun = join(work, 'full');
    const { done } = runCli(evalArgs(fullRun, ['--concurrency', '4', '--endpoint', second.url]));
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const totals = totalsOf(fullRun);
    assert.equal(totals.programs.done, SUBSET);
    assert.equal(totals.programs.failed, 0);
    const all = [
      totals.rollout.action, totals.rollout.state, totals.rollout.stateByVariable, totals.rollout.output, totals.rollout.fullMatch,
      totals.rollout.wellFormed, totals.rollout.ended, totals.forced!.action, totals.forced!.exact, totals.forced!.wellFormed, totals.forced!.end,
    ];
    for (const s of all) {
      assert.ok(s.total > 0);
      assert.equal(s.matched, s.total);
    }
    for (const row of [...totals.byValueType, ...totals.byEvent]) {
      assert.equal(row.rollout.matched, row.rollout.total, `rollout ${JSON.stringify(row)}`);
      assert.equal(row.forced.matched, row.forced.total, `forced ${JSON.stringify(row)}`);
    }
    assert.equal(totals.firstDivergence.at(-1)!.count, SUBSET, 'every rollout follows the real run to the end');
    assert.ok(totals.tokens.prompt > 0 && totals.tokens.completion > 0);
    assert.match(result.stdout, new RegExp(`${SUBSET} programs evaluated \\(${SUBSET} in this run, 0 earlier\\)`));
    assert.match(result.stdout, /Output \(CRUXEval-O\)\s+100\.0%/);
    const summary = readFileSync(join(fullRun, 'summary.md'), 'utf8');
    assert.match(summary, /\| Output \(CRUXEval-O\) \| 100\.0% \(36\/36\)/);
    assert.match(summary, /No breakdown has a weak spot/);
    const header = loadResults(join(fullRun, 'results.jsonl')).header;
    assert.equal(header.model, 'facebook/cwm');
    assert.deepEqual(header.endpoints, [server.url, second.url]);
    const posts = (s: ProtocolServer) => s.requests.filter((r) => r.method === 'POST').length;
    assert.ok(posts(server) > 0 && posts(second) > 0, `requests spread over both endpoints (${posts(server)} and ${posts(second)})`);
    assert.equal(header.seed, 0);
    assert.equal(header.temperature, 0);
    assert.equal(header.corpus.selected, SUBSET);
    assert.equal(header.corpus.items, 800);
  });

  test('wrong int values at a seeded rate: scores follow the rate, and the value-type breakdown points at int', async (t) => {
    const rate = 0.2;
    replay.setRateCorruption({ kind: 'wrong-value', rate, seed: 11, variable: isInt });
    try {
      const out = join(work, 'wrong-int');
      await runEvaluation({ corpus: CORPUS, outDir: out, model, limit: SUBSET, concurrency: 4 });
      const loaded = loadResults(join(out, 'results.jsonl'));
      const totals = computeTotals(loaded.header, loaded.items.values());
      // Chances: real call/line frames past the given call frame that hold an int local.
      const eligible = countFrames((frame) => (frame.event === 'call' || frame.event === 'line') && [...frame.locals.values()].some((v) => isInt('', v)));
      const forced = totals.forced!;
      assertNearRate(forced.exact.total - forced.exact.matched, eligible, rate, 'teacher-forced frames with an int local, state wrong', t);
      // Only the corrupted frames differ, and only in state: actions stay right.
      assert.equal(forced.action.matched, forced.action.total);
      const corruptedRollout = totals.rollout.state.total - totals.rollout.state.matched;
      assertNearRate(corruptedRollout, eligible, rate, 'rollout frames with an int local, state wrong', t);
      const byType = new Map(totals.byValueType.map((row) => [row.type, row]));
      assert.ok(byType.get('int')!.forced.rate! < 1);
      for (const [type, row] of byType) if (type !== 'int') assert.equal(row.forced.matched, row.forced.total, `${type} values were not corrupted`);
      const summary = readFileSync(join(out, 'summary.md'), 'utf8');
      assert.match(summary, /Value type: `int` values are the weakest/);
    } finally {
      replay.setRateCorruption(undefined);
    }
  });

  test('wrong lines on line events at a seeded rate: action accuracy follows the rate, and the event breakdown points at line', async (t) => {
    const rate = 0.1;
    replay.setRateCorruption({ kind: 'wrong-line', rate, seed: 5, events: ['line'] });
    try {
      const out = join(work, 'wrong-line');
      await runEvaluation({ corpus: CORPUS, outDir: out, model, limit: SUBSET, concurrency: 4 });
      const totals = totalsOf(out);
      const eligible = countFrames((frame) => frame.event === 'line');
      const forced = totals.forced!;
      assertNearRate(forced.action.total - forced.action.matched, eligible, rate, 'teacher-forced line frames, action wrong', t);
      const byEvent = new Map(totals.byEvent.map((row) => [row.event, row]));
      assert.ok(byEvent.get('line')!.forced.rate! < 1);
      for (const event of ['call', 'return']) assert.equal(byEvent.get(event)!.forced.matched, byEvent.get(event)!.forced.total);
      assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /Event kind: `line` steps are the weakest/);
      assert.ok(totals.rollout.action.rate! < 1);
    } finally {
      replay.setRateCorruption(undefined);
    }
  });

  test('malformed locals at a seeded rate: the well-formed share follows the rate', async (t) => {
    const rate = 0.15;
    replay.setRateCorruption({ kind: 'malformed-json', rate, seed: 3 });
    try {
      const out = join(work, 'malformed');
      await runEvaluation({ corpus: CORPUS, outDir: out, model, limit: SUBSET, concurrency: 4 });
      const totals = totalsOf(out);
      const eligible = countFrames((frame) => (frame.event === 'call' || frame.event === 'line') && frame.locals.size > 0);
      const forced = totals.forced!;
      assertNearRate(forced.wellFormed.total - forced.wellFormed.matched, eligible, rate, 'teacher-forced frames with locals, read with issues', t);
    } finally {
      replay.setRateCorruption(undefined);
    }
  });

  test('the HTML report is self-contained and renders in headless Chromium (light and dark); a screenshot is kept', async (t) => {
    const htmlPath = join(work, 'wrong-int', 'report.html');
    const html = readFileSync(htmlPath, 'utf8');
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(|\b(?:src|href)=|\bon[a-z]+=/i, 'the page loads nothing and runs nothing');
    // Length, value type, first divergence, and the calibration of the confidence (the replay endpoint gives log-probabilities).
    assert.equal((html.match(/<svg class="chart"/g) ?? []).length, 4);
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is not installed: the page was checked as text only`);
      return;
    }
    const { chromium } = loadPlaywright();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const artifacts = join(repoRoot, 'test-artifacts');
      mkdirSync(artifacts, { recursive: true });
      for (const scheme of ['light', 'dark'] as const) {
        const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, colorScheme: scheme });
        const requests: string[] = [];
        page.on('request', (request) => requests.push(request.url()));
        await page.goto(pathToFileURL(htmlPath).href);
        assert.deepEqual(requests, [pathToFileURL(htmlPath).href], 'no request beyond the page itself');
        const charts = await page.$$eval('svg.chart', (nodes) => nodes.map((node) => {
          const box = node.getBoundingClientRect();
          return { width: box.width, height: box.height, bars: node.querySelectorAll('rect').length };
        }));
        assert.equal(charts.length, 4);
        for (const chart of charts) {
          assert.ok(chart.width > 300 && chart.height > 100, `a chart is drawn at ${chart.width}x${chart.height}`);
          assert.ok(chart.bars > 2, 'a chart has bars');
        }
        const colors = await page.evaluate(() => [getComputedStyle(document.body).color, getComputedStyle(document.body).backgroundColor]);
        if (scheme === 'dark') assert.deepEqual(colors, ['rgb(230, 237, 243)', 'rgb(13, 17, 23)']);
        else assert.deepEqual(colors, ['rgb(31, 35, 40)', 'rgb(255, 255, 255)']);
        assert.match(await page.textContent('body') ?? '', /`?int`? values are the weakest/);
        await page.screenshot({ path: join(artifacts, scheme === 'light' ? 'eval-report.png' : 'eval-report-dark.png'), fullPage: true });
        await page.close();
      }
    } finally {
      await browser.close();
    }
  });

  test('a run killed with SIGKILL half-way finishes on rerun without redoing finished programs, with the same totals', async () => {
    assert.ok(fullRun, 'needs the uninterrupted run');
    const out = join(work, 'killed');
    const results = join(out, 'results.jsonl');
    const first = runCli(evalArgs(out, ['--concurrency', '2']));
    // Kill once half of the programs are on disk.
    const killedAt = await new Promise<number>((resolve) => {
      const poll = setInterval(() => {
        const count = resultLines(results).length;
        if (count >= SUBSET / 2) {
          clearInterval(poll);
          first.child.kill('SIGKILL');
          resolve(count);
        }
      }, 20);
    });
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    const kept = resultLines(results);
    assert.ok(kept.length >= killedAt && kept.length < SUBSET, `${kept.length} results after the kill`);
    // A kill in the middle of a write leaves half a line: the rerun must ignore it and do that program again.
    appendFileSync(results, kept[kept.length - 1]!.slice(0, 40));

    const second = await runCli(evalArgs(out, ['--concurrency', '2'])).done;
    assert.equal(second.code, 0, second.stderr);
    const redone = SUBSET - kept.length;
    assert.match(second.stdout, new RegExp(`${SUBSET} programs evaluated \\(${redone} in this run, ${kept.length} earlier\\)`));
    assert.match(second.stderr, /last result line was cut off/);
    const lines = resultLines(results);
    assert.equal(lines.length, SUBSET, 'no program was recorded twice');
    assert.equal(new Set(lines.map((line) => (JSON.parse(line) as { id: string }).id)).size, SUBSET);
    assert.deepEqual(timeless(totalsOf(out)), timeless(totalsOf(fullRun)));
  });

  test('Ctrl-C stops the run cleanly: finished programs stay recorded and the report covers them', async () => {
    const out = join(work, 'interrupted');
    const results = join(out, 'results.jsonl');
    const run = runCli(evalArgs(out));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (resultLines(results).length >= 3) {
          clearInterval(poll);
          run.child.kill('SIGINT');
          resolve();
        }
      }, 20);
    });
    const result = await run.done;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /Stopping: finished programs are kept/);
    const kept = resultLines(results).length;
    assert.ok(kept >= 3 && kept < SUBSET);
    assert.doesNotThrow(() => loadResults(results), 'the results file is whole');
    const summary = readFileSync(join(out, 'summary.md'), 'utf8');
    assert.match(summary, new RegExp(`Programs: ${kept} evaluated, 0 could not be evaluated, ${SUBSET - kept} not done yet, of ${SUBSET}`));
  });

  test('a rerun with other settings into the same folder is refused, naming what differs', async () => {
    const result = await runCli(evalArgs(fullRun, ['--seed', '7'])).done;
    assert.equal(result.code, 1);
    assert.match(result.stderr, /holds results of another run \(seed 0 there, 7 now\)/);
  });

  test('--compare-runs puts two runs side by side', async () => {
    const comparison = compareRuns(fullRun, join(work, 'wrong-int'));
    assert.match(comparison.markdown, /\| State exact match \| 100\.0% \| \d+\.\d% \| -\d+\.\d pt \|/);
    assert.match(comparison.html, /<svg class="chart"/);
    const result = await runCli(['eval', '--compare-runs', fullRun, join(work, 'wrong-line'), '--out', join(work, 'cmp')]).done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\| Action exact match \| 100\.0% \| \d+\.\d% \| -\d+\.\d pt \|/);
    assert.match(readFileSync(join(work, 'cmp', 'comparison.html'), 'utf8'), /two runs compared/);
  });

  test('a folder corpus evaluates the .py files whose entry is marked, and says which it left out', async () => {
    const folder = join(work, 'programs');
    mkdirSync(join(folder, 'sub'), { recursive: true });
    writeFileSync(join(folder, 'a.py'), 'def helper(x):\n    return x * 2\n\ndef main():  # << START_OF_TRACE\n    total = 0\n    for i in range(3):\n        total += helper(i)\n    return total\n');
    writeFileSync(join(folder, 'sub', 'b.py'), "def main():  # << START_OF_TRACE\n    words = 'a b c'.split()\n    return {w: len(w) for w in words}\n");
    writeFileSync(join(folder, 'not_marked.py'), 'print(1)\n');
    const corpus = loadCorpus(folder);
    assert.deepEqual(corpus.items.map((item) => item.id), ['a.py', 'sub/b.py']);
    assert.deepEqual(corpus.skipped, ['not_marked.py']);
    assert.equal((await prepareCorpusItems(replay, corpus.items)).size, 2);
    const notices: string[] = [];
    const outcome = await runEvaluation({ corpus: folder, outDir: join(work, 'folder-run'), model, onNotice: (m) => notices.push(m) });
    assert.equal(outcome.totals.programs.done, 2);
    assert.equal(outcome.totals.rollout.output.matched, 2);
    assert.equal(outcome.totals.rollout.fullMatch.matched, 2);
    assert.match(notices.join('\n'), /1 \.py file has no "# << START_OF_TRACE" marker and is left out/);
  });

  test('a program that cannot be traced is recorded as such and not retried', async () => {
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, [
      JSON.stringify({ id: 'ok', code: 'def f(x):\n    return x + 1', input: '1', output: '2' }),
      JSON.stringify({ id: 'syntax', code: 'def f(x:\n    return x', input: '1', output: '1' }),
    ].join('\n') + '\n');
    await prepareCorpusItems(replay, loadCorpus(bad).items);
    const out = join(work, 'bad-run');
    const outcome = await runEvaluation({ corpus: bad, outDir: out, model });
    assert.equal(outcome.totals.programs.done, 1);
    assert.deepEqual(outcome.totals.failures.map((f) => [f.id, f.kind]), [['syntax', 'syntax-error']]);
    const again = await runEvaluation({ corpus: bad, outDir: out, model });
    assert.equal(again.skipped, 2);
    assert.equal(again.finished, 0);
    assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /`syntax` \(syntax-error\)/);
  });

  test('an endpoint that fails stops the run after three programs in a row; nothing is recorded for them and a rerun does them', async () => {
    const small = join(work, 'small.jsonl');
    writeFileSync(small, [1, 2, 3, 4].map((k) => JSON.stringify({ id: `p${k}`, code: `def f(x):\n    y = x * ${k}\n    return y`, input: String(k), output: String(k * k) })).join('\n') + '\n');
    await prepareCorpusItems(replay, loadCorpus(small).items);
    const out = join(work, 'endpoint-down');
    server.faults.http500 = 'model crashed';
    try {
      await assert.rejects(runEvaluation({ corpus: small, outDir: out, model }), (error: unknown) => error instanceof EndpointError && error.kind === 'http');
    } finally {
      server.faults.http500 = false;
    }
    assert.equal(loadResults(join(out, 'results.jsonl')).items.size, 0);
    assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /Programs: 0 evaluated, 0 could not be evaluated, 4 not done yet/);
    const rerun = await runEvaluation({ corpus: small, outDir: out, model });
    assert.equal(rerun.finished, 4);
    assert.equal(rerun.totals.rollout.output.matched, 4);
  });

  /** Real frames past the given call frame (what the evaluation scores) that satisfy `predicate`, over the subset. */
  function countFrames(predicate: (frame: TraceFrame) => boolean): number {
    let count = 0;
    for (const trace of realTraces.values()) {
      const given = trace.frames[0]?.event === 'call' && trace.frames[0].locals.size > 0 ? 1 : 0;
      count += trace.frames.slice(given).filter(predicate).length;
    }
    return count;
  }
});

describe('value types of reprs', () => {
  test('each repr is sorted into its type', () => {
    const cases: [string, string][] = [
      ["'abc'", 'str'], ['"it\'s"', 'str'], ['42', 'int'], ['-7', 'int'], ['3.5', 'float'], ['1e-05', 'float'], ['inf', 'float'],
      ['True', 'bool'], ['None', 'None'], ['[1, 2]', 'list'], ['(1,)', 'tuple'], ['{}', 'dict'], ["{'a': 1}", 'dict'],
      ["{'a:b', 'c'}", 'set'], ['{1, 2}', 'set'], ['set()', 'set'], ['frozenset({1})', 'set'], ["b'x'", 'bytes'],
      ['<function f.<locals>.g>', 'object'], ['deque([1])', 'other'], ["{'k': {1, 2}}", 'dict'],
    ];
    for (const [repr, type] of cases) assert.equal(valueTypeOf(repr), type, repr);
  });
});
