// Impossible steps from a model: against a test endpoint that injects a line that cannot follow and a local that cannot
// exist, every injected frame is marked with its reason, re-sampled (fixed where the model then gives a possible frame),
// and counted, in the engine, the CLI (table and JSON) and a DebugClient session.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { IMPOSSIBLE_LINE, IMPOSSIBLE_LOCAL, isMarkedImpossible } from '../../server/engine/flow-check';
import { PredictionSession } from '../../server/engine/session';
import { buildSideBySideModel } from '../../server/compare/view-model';
import { computeTotals } from '../../server/eval/metrics';
import { loadResults } from '../../server/eval/results';
import { runEvaluation } from '../../server/eval/run';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { runCli } from '../helpers/cli-run';
import { Debuggee } from '../helpers/debuggee';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { createImpossibleModel, type ImpossibleModel, type Injection } from '../servers/impossible-model';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';

const PROGRAM = `def helper(v):
    return v * 2

def f(xs):
    total = 0
    for x in xs:
        if x > 2:
            total += helper(x)
        else:
            total -= 1
    return total
`;
const ARGS = '[1, 3, 4]';

/**
 * Step 3: a frame on line 2 (helper's) inserted after the loop head; step 5: the real frame with a local `tmp`; both
 * persist through every re-sample. Step 7: a frame on line 5 after the loop head, in rollouts and the first request for
 * that step alone: a streamed rollout then needs two re-samples (the first is that request), a single step one.
 */
const INJECTIONS: readonly Injection[] = [
  { kind: 'impossible-line', step: 3, line: 2 },
  { kind: 'impossible-local', step: 5, name: 'tmp' },
  { kind: 'impossible-line', step: 7, line: 5, times: 1 },
];
const EXPECTED_MARKS = [
  { index: 3, issues: [{ kind: IMPOSSIBLE_LINE, message: 'line 2 cannot follow line 6 (line 2 is not in f)' }] },
  { index: 5, issues: [{ kind: IMPOSSIBLE_LOCAL, message: '`tmp` cannot be a local of f', local: 'tmp' }] },
];
/** Three impossible frames; 3 + 3 + 2 re-samples in a streamed rollout; the last fixed. */
const EXPECTED_STATS = { impossible: 3, resamples: 8, fixed: 1, marked: 2 };

let codec: CwmTokenizer;
let tokenizerPath: string;
let model: ImpossibleModel;
let server: ProtocolServer;
let real: Trace;
let file: string;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-flow-resample-'));
  tokenizerPath = await writeTestTokenizer(dir);
  codec = await loadTokenizer(tokenizerPath);
  model = createImpossibleModel({ codec });
  file = join(dir, 'program.py');
  writeFileSync(file, PROGRAM);
  real = await model.prepare({ file, entry: 'f', args: ARGS });
  server = await startProtocolServer({ protocol: 'vllm', codec, model: model.model });
});

after(async () => {
  await server?.close();
  codec?.dispose();
});

function posts(): number {
  return server.requests.filter((request) => request.method === 'POST').length;
}

/** The predicted trace without the inserted frame, as (event, line) pairs: the real trace's. */
function withoutInserted(frames: readonly TraceFrame[]): string[] {
  return frames.filter((frame) => frame.index !== 3).map((frame) => `${frame.event}:${frame.line}`);
}

test('the engine marks, re-samples and counts every injected impossible step; the rest is the real trace', { timeout: 120_000 }, async () => {
  assert.deepEqual(real.frames.slice(1, 7).map((frame) => frame.line), [5, 6, 7, 10, 6, 7], 'the program runs as the injections expect');
  model.setInjections(INJECTIONS);
  const client = await connectEndpoint({ url: server.url, backend: 'auto', timeouts: { totalMs: 20_000, firstTokenMs: 10_000 } }, codec);
  const session = new PredictionSession({ source: real.source, path: file, entry: real.entry, backend: client, codec });
  const before = posts();
  await session.runToEnd().finally(() => client.close());
  assert.ok(session.ended);
  const marked = session.trace.filter(isMarkedImpossible).map((frame) => ({ index: frame.index, issues: frame.issues }));
  assert.deepEqual(marked, EXPECTED_MARKS);
  assert.deepEqual(withoutInserted(session.trace), real.frames.map((frame) => `${frame.event}:${frame.line}`));
  assert.equal(session.trace[5]!.locals.get('tmp'), '42');
  assert.deepEqual(pick(session.flow.stats), EXPECTED_STATS);
  // Each impossible step cost its re-samples; the rollout went on where none replaced it, and started again after the one
  // a re-sample fixed: one streamed request, eight re-samples, one more streamed request.
  assert.deepEqual([...model.asked], [[3, 3], [5, 3], [7, 2]]);
  assert.equal(posts() - before, 1 + 8 + 1);
});

test('without a Python to parse the program the prediction goes on unchecked, and says why there are no checks', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const client = await connectEndpoint({ url: server.url, backend: 'auto', timeouts: { totalMs: 20_000, firstTokenMs: 10_000 } }, codec);
  const session = new PredictionSession({ source: real.source, path: file, entry: real.entry, backend: client, codec, flowPython: join(tmpdir(), 'no-such-python') });
  await session.runToEnd().finally(() => client.close());
  assert.ok(session.ended);
  assert.equal(session.trace.filter(isMarkedImpossible).length, 0);
  assert.equal(session.trace.length, real.frames.length + 2, 'the injected line frames stay, unmarked');
  assert.match(session.flow.problem ?? '', /could not start/);
  assert.deepEqual(pick(session.flow.stats), { impossible: 0, resamples: 0, fixed: 0, marked: 0 });
});

test('cwm-debug predict shows each impossible step with its reason and counts them; --format json carries the issues', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const table = await runCli(['predict', file, '--entry', 'f', '--args', ARGS, '--endpoint', server.url, '--tokenizer', tokenizerPath], { COLUMNS: '200' });
  assert.equal(table.code, 0, table.stderr);
  const row = (index: number) => table.stdout.split('\n').find((line) => new RegExp(`^\\s*${index} `).test(line)) ?? '';
  assert.match(row(3), /\[impossible: line 2 cannot follow line 6 \(line 2 is not in f\)\]/);
  assert.match(row(5), /\[impossible: `tmp` cannot be a local of f\]/);
  assert.doesNotMatch(row(7), /impossible/);
  assert.match(table.stdout, /The symbolic checks caught 3 impossible steps: 8 re-samples replaced 1; 2 kept with their mark/);

  model.setInjections(INJECTIONS);
  const json = await runCli(['predict', file, '--entry', 'f', '--args', ARGS, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const frames = (JSON.parse(json.stdout) as { frames: { index: number; issues?: unknown }[] }).frames;
  assert.deepEqual(frames.filter((frame) => frame.issues !== undefined).map((frame) => ({ index: frame.index, issues: frame.issues })), EXPECTED_MARKS);
});

test('cwm-debug predict --samples marks the impossible steps of every rollout (samples are not re-sampled)', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const json = await runCli(['predict', file, '--entry', 'f', '--args', ARGS, '--samples', '2', '--endpoint', server.url, '--tokenizer', tokenizerPath, '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const rollouts = (JSON.parse(json.stdout) as { rollouts: { index: number; issues?: { kind: string; message: string }[] }[][] }).rollouts;
  assert.equal(rollouts.length, 2);
  for (const frames of rollouts) {
    assert.deepEqual(frames.filter((frame) => frame.issues !== undefined).map((frame) => ({ index: frame.index, issues: frame.issues })), [
      ...EXPECTED_MARKS,
      { index: 7, issues: [{ kind: IMPOSSIBLE_LINE, message: 'line 5 cannot follow line 6' }] },
    ]);
  }
});

test('cwm-debug compare marks each impossible predicted step in the side-by-side table, with its reason under the row', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const result = await runCli(['compare', file, '--entry', 'f', '--args', ARGS, '--endpoint', server.url, '--tokenizer', tokenizerPath], { COLUMNS: '160' });
  // Exit status 4: compare found a divergence (the injected steps are not the real run's).
  assert.equal(result.code, 4, `${result.stderr}\n${result.stdout}`);
  assert.match(result.stdout, /⊘ impossible predicted step 3: line 2 cannot follow line 6 \(line 2 is not in f\)/);
  assert.match(result.stdout, /⊘ impossible predicted step 5: `tmp` cannot be a local of f/);
  assert.equal(result.stdout.match(/⊘ impossible predicted step/g)?.length, 2);
});

test('the side-by-side view of a compare session shows the reason on each impossible predicted step', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const session = await Debuggee.open();
  try {
    await session.launch({ program: file, mode: 'compare', entry: 'f', args: ARGS, endpoints: [server.url], tokenizer: tokenizerPath });
    const view = buildSideBySideModel((await session.dc.customRequest('cwm/traces')).body);
    const marked = view.rows.filter((row) => row.predicted?.issues !== undefined).map((row) => [row.predicted!.step, row.predicted!.issues]);
    assert.deepEqual(marked, [
      [3, ['line 2 cannot follow line 6 (line 2 is not in f)']],
      [5, ['`tmp` cannot be a local of f']],
    ]);
  } finally {
    await session.close();
  }
});

test('a DebugClient session stops on each impossible step with its reason in the stop, and counts them in cwm/state', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const session = await Debuggee.open();
  try {
    const first = await session.launch({ program: file, mode: 'predict', entry: 'f', args: ARGS, endpoints: [server.url], tokenizer: tokenizerPath });
    assert.equal(first.body.reason, 'entry');
    const stops = new Map<number, string | undefined>();
    for (let step = 1; step <= 8; step++) {
      const stop = await session.move('stepIn');
      stops.set((await session.state()).position, stop.body.text);
    }
    assert.equal(stops.get(3), 'Impossible step\nImpossible step: line 2 cannot follow line 6 (line 2 is not in f) (the model gave no possible step in its re-samples).');
    assert.match(stops.get(5) ?? '', /Impossible step: `tmp` cannot be a local of f/);
    // VARIABLES marks the local itself, with the reason in its type; the other locals stay unmarked.
    await session.move('cwm/goToStep', { step: 5 });
    const variables = [...(await session.locals()).values()];
    const tmp = variables.find((variable) => variable.name === 'tmp');
    assert.match(tmp?.value ?? '', /  ⊘ impossible$/);
    assert.match(tmp?.type ?? '', /impossible: `tmp` cannot be a local of f/);
    assert.ok(variables.length > 1);
    assert.ok(variables.filter((variable) => variable.name !== 'tmp').every((variable) => !variable.value.includes('⊘')));
    for (const step of [1, 2, 4, 6, 7, 8]) assert.equal(stops.get(step), undefined, `step ${step} was marked`);
    const state = (await session.state()) as unknown as { checks: { impossible: number; resamples: number; fixed: number; marked: number } };
    // Stepping asks for one frame at a time: step 7's first request is the model's own answer, its first re-sample fixes it.
    assert.deepEqual(pick(state.checks), { ...EXPECTED_STATS, resamples: 7 });
  } finally {
    await session.close();
  }
});

test('an evaluation counts how often the checks fired: impossible steps, re-samples, fixed ones', { timeout: 120_000 }, async () => {
  model.setInjections(INJECTIONS);
  const out = await evaluateInjected(false);
  const loaded = loadResults(join(out, 'results.jsonl'));
  const totals = computeTotals(loaded.header, loaded.items.values());
  const { checked, ...rest } = totals.checks;
  assert.ok(checked >= real.frames.length, `checked ${checked} frames`);
  assert.deepEqual(rest, EXPECTED_STATS);
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /\| Impossible steps \| [^|]*3[^|]* \|/);
  assert.match(summary, /\| Fixed by re-sampling \| [^|]*1[^|]* \| impossible frames a re-sample replaced with a possible one \(8 re-samples/);
});

/** Evaluates the injected program against the test endpoint; returns the run's folder. */
async function evaluateInjected(teacherForcing: boolean): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'cwm-flow-eval-'));
  const corpus = join(work, 'corpus.jsonl');
  writeFileSync(corpus, JSON.stringify({ id: 'injected', code: PROGRAM, input: ARGS, output: '13' }) + '\n');
  const client = await connectEndpoint({ url: server.url, backend: 'auto', timeouts: { totalMs: 20_000, firstTokenMs: 10_000 } }, codec);
  try {
    const out = join(work, 'run');
    await runEvaluation({
      corpus, outDir: out, teacherForcing,
      model: { backend: client, codec, name: null, backends: [client.kind], endpoints: [server.url] },
    });
    return out;
  } finally {
    await client.close();
  }
}

test('with teacher forcing, each next-frame guess is judged after the real steps before it, and the impossible ones counted', { timeout: 120_000 }, async () => {
  // Steps 3 and 5 are answered impossible every time they are asked for; step 7 only the first time, not this time.
  model.setInjections(INJECTIONS.filter((injection) => injection.step !== 7));
  const out = await evaluateInjected(true);
  const loaded = loadResults(join(out, 'results.jsonl'));
  const item = [...loaded.items.values()][0]!;
  assert.equal(item.status, 'ok');
  const forced = item.status === 'ok' ? item.forced : null;
  assert.ok(forced, 'teacher forcing ran');
  assert.deepEqual(forced.impossible, [2, forced.positions], 'steps 3 and 5 of the guesses were impossible, the others possible');
  const totals = computeTotals(loaded.header, loaded.items.values());
  assert.deepEqual(totals.forced?.impossible.matched, 2);
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  assert.match(summary, /\| Next frame: impossible \| [^|]*2[^|]* \|/);
});

function pick(stats: { impossible: number; resamples: number; fixed: number; marked: number }) {
  return { impossible: stats.impossible, resamples: stats.resamples, fixed: stats.fixed, marked: stats.marked };
}
