// Confidence per predicted value (issue 14): the vLLM test server returns token log-probabilities shaped like vLLM's,
// the replay model is sure of real values and unsure of injected wrong ones, and every view shows the doubt exactly
// there: the engine's frames, VARIABLES and "stop when unsure" (DebugClient), the side-by-side view model, the CLI table
// and JSON, and the eval report's calibration chart.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { buildSideBySideModel } from '../../server/compare/view-model';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import type { BackendKind, EndpointClient } from '../../server/endpoint/types';
import { scoreFrameText } from '../../server/engine/confidence';
import { PredictionSession } from '../../server/engine/session';
import { historySection } from '../../server/lsp/line-values';
import { loadCorpus, selectItems } from '../../server/eval/corpus';
import { evaluationModelOf, runEvaluation } from '../../server/eval/run';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { runCli } from '../helpers/cli-run';
import { Debuggee } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, prepareCorpusItems, REPLAY_REAL_ALTERNATIVE, REPLAY_SURE, REPLAY_UNSURE, type ReplayModel } from '../servers/replay-model';

const LOOP = join(fixturesDir, 'adapter', 'loop.py');
const CORPUS = join(fixturesDir, 'corpus', 'cruxeval.jsonl');
/** The step of LOOP(8) whose `total` the tests corrupt (the line `total += sq` after the first square). */
const WRONG_STEP = 8;
const WRONG = { kind: 'wrong-value', step: WRONG_STEP, variable: 'total', value: '99' } as const;

let codec: CwmTokenizer;
let tokenizerPath: string;
let replay: ReplayModel;
let realLoop: Trace;
const servers = new Map<BackendKind, ProtocolServer>();

before(async () => {
  tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-confidence-tok-')));
  codec = await loadTokenizer(tokenizerPath);
  replay = createReplayModel({ codec, corruptions: [WRONG] });
  realLoop = await replay.prepare({ file: LOOP, entry: 'main', args: '8' });
  for (const protocol of ['vllm', 'fgserve', 'mlx'] as BackendKind[]) servers.set(protocol, await startProtocolServer({ protocol, codec, model: replay.model }));
});

after(async () => {
  for (const server of servers.values()) await server.close();
  codec?.dispose();
});

function vllm(): ProtocolServer {
  return servers.get('vllm')!;
}

/** Every value a frame wrote that the model was unsure of, as `step:name` (`step:action`, `step:value`). */
function unsurePlaces(frames: readonly TraceFrame[], below = 0.5): string[] {
  const places: string[] = [];
  for (const frame of frames) {
    const c = frame.confidence;
    if (c === undefined) continue;
    if (c.action !== undefined && c.action.p < below) places.push(`${frame.index}:action`);
    for (const [name, value] of c.locals) if (value.p < below) places.push(`${frame.index}:${name}`);
    if (c.value !== undefined && c.value.p < below) places.push(`${frame.index}:value`);
  }
  return places;
}

describe('the vLLM test server returns log-probabilities as vLLM does', () => {
  async function complete(body: Record<string, unknown>): Promise<{ status: number; text: string }> {
    const res = await fetch(`${vllm().url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  }

  test('streamed chunks carry each new token\'s logprob and its top-k, keyed by text, the sampled token first', async () => {
    const { status, text } = await complete({ prompt: [1, 2, 3], max_tokens: 5, stream: true, logprobs: 2, return_token_ids: true, temperature: 0 });
    assert.equal(status, 200);
    const chunks = text.split('\n\n').filter((event) => event.startsWith('data: {')).map((event) => JSON.parse(event.slice(6)) as {
      choices: { text: string; token_ids: number[]; logprobs: { text_offset: number[]; token_logprobs: number[]; tokens: string[]; top_logprobs: Record<string, number>[] } }[];
    });
    assert.ok(chunks.length > 0);
    let offset = 0;
    for (const chunk of chunks) {
      const choice = chunk.choices[0]!;
      const lp = choice.logprobs;
      assert.deepEqual(Object.keys(lp).sort(), ['text_offset', 'token_logprobs', 'tokens', 'top_logprobs']);
      assert.equal(lp.token_logprobs.length, choice.token_ids.length);
      if (choice.token_ids.length === 0) continue;
      // text_offset goes on from the text sent before (previous_text_lens in completion_stream_generator).
      assert.deepEqual(lp.text_offset, [offset]);
      offset += choice.text.length;
      assert.equal(lp.tokens[0], codec.decode(choice.token_ids));
      assert.ok(lp.token_logprobs[0]! <= 0);
      const top = lp.top_logprobs[0]!;
      assert.equal(Object.keys(top)[0], lp.tokens[0], 'the sampled token comes first');
      assert.ok(Object.keys(top).length <= 3, 'at most k + 1 entries');
    }
  });

  test('logprobs past --max-logprobs (20 by default) is refused with vLLM\'s 400', async () => {
    const { status, text } = await complete({ prompt: [1, 2, 3], max_tokens: 5, logprobs: 21 });
    assert.equal(status, 400);
    const error = (JSON.parse(text) as { error: { message: string; type: string; param: string } }).error;
    assert.equal(error.message, 'Requested sample logprobs of 21, which is greater than max allowed: 20 (parameter=logprobs, value=21)');
    assert.equal(error.type, 'BadRequestError');
    assert.equal(error.param, 'logprobs');
  });

  test('a server with a lower --max-logprobs: the client asks again within it, says so once, and still gets confidence', async () => {
    const low = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model, maxLogprobs: 1 });
    const client = await connectEndpoint({ url: low.url, backend: 'vllm' }, codec);
    try {
      const session = new PredictionSession({ source: realLoop.source, entry: realLoop.entry, backend: client, codec, initialFrames: [realLoop.frames[0]!] });
      await session.start();
      await session.stepIn();
      await session.stepIn();
      assert.ok(session.trace[2]?.confidence !== undefined, 'the frame has a confidence');
      const asked = low.requests.filter((r) => r.method === 'POST').map((r) => [r.status, (r.body as { logprobs?: number }).logprobs]);
      assert.deepEqual(asked[0], [400, 5]);
      assert.ok(asked.slice(1).every(([status, logprobs]) => status === 200 && logprobs === 1), JSON.stringify(asked));
      assert.equal(client.warnings.filter((w) => /--max-logprobs/.test(w)).length, 1);
    } finally {
      await client.close();
      await low.close();
    }
  });
});

describe('mapping tokens onto a frame\'s text', () => {
  /** Token spans over `text`, one per piece, the piece `unsure` scored low with `top` as alternatives. */
  function spans(pieces: readonly string[], unsure: string, top: { text: string; logprob: number }[]) {
    let at = 0;
    return pieces.map((piece) => {
      const span = { start: at, end: at + piece.length, score: piece === unsure ? { logprob: Math.log(0.2), top } : { logprob: Math.log(0.95) } };
      at += piece.length;
      return span;
    });
  }

  test('a value\'s confidence is its least likely token; alternatives are cut at the closing quote and unescaped; ".." has none', () => {
    const pieces = ['<|line_sep|>', '{"s": "', 'a', '\\"b', '", "n": ".."}', '<|action_sep|>', '    x = 1\n', '<|frame_sep|>'];
    const text = pieces.join('');
    const confidence = scoreFrameText(text, spans(pieces, '\\"b', [{ text: '\\"b', logprob: Math.log(0.2) }, { text: '\\u0000', logprob: Math.log(0.5) }, { text: '", ', logprob: Math.log(0.25) }]))!;
    assert.deepEqual([...confidence.locals.keys()], ['s']);
    const s = confidence.locals.get('s')!;
    assert.ok(Math.abs(s.p - 0.2) < 1e-9);
    assert.deepEqual(s.alternatives?.map((a) => a.value), ['a\u0000', 'a']);
    assert.ok(Math.abs(confidence.action!.p - 0.95) < 1e-9);
  });

  test('alternatives are model text: a hover shows them in code spans, never as Markdown', () => {
    const lines = historySection('CWM prediction', [{ step: 3, value: '1', confidence: { p: 0.1, alternatives: [{ value: '`x`\n![img](http://example.com/a.png)', p: 0.6 }] } }], true, 4);
    const text = lines.join('\n');
    // Inside a code span of a longer fence, on one line: the image is text, not an image to load.
    assert.match(text, /step 3: `1` ⚠ 10% \(the model also weighed `` `x` !\[img\]\(http:\/\/example\.com\/a\.png\) `` 60%\)/);
    assert.doesNotMatch(text, /\n!\[img\]/, 'no line break of the model\'s text reaches the Markdown');
  });
});

describe('the engine: confidence per frame', { timeout: 120_000 }, () => {
  const clients: EndpointClient[] = [];
  after(async () => {
    for (const client of clients) await client.close();
  });

  async function predictAll(protocol: BackendKind): Promise<readonly TraceFrame[]> {
    const client = await connectEndpoint({ url: servers.get(protocol)!.url, backend: protocol }, codec);
    clients.push(client);
    const session = new PredictionSession({ source: realLoop.source, entry: realLoop.entry, backend: client, codec, initialFrames: [realLoop.frames[0]!] });
    await session.start();
    await session.runToEnd();
    return session.trace;
  }

  test('over vLLM: low exactly on the injected value, with the real value as the alternative; high everywhere else', async () => {
    const frames = await predictAll('vllm');
    assert.equal(frames.length, realLoop.frames.length);
    assert.deepEqual(unsurePlaces(frames), [`${WRONG_STEP}:total`]);
    const total = frames[WRONG_STEP]!.confidence!.locals.get('total')!;
    assert.ok(Math.abs(total.p - REPLAY_UNSURE) < 1e-9);
    assert.deepEqual(total.alternatives?.map((a) => a.value), [realLoop.frames[WRONG_STEP]!.locals.get('total')]);
    assert.ok(Math.abs(total.alternatives![0]!.p - REPLAY_REAL_ALTERNATIVE) < 1e-9);
    // Every other predicted frame is scored, sure of its action and of every value it wrote.
    for (const frame of frames.slice(1)) {
      assert.ok(frame.confidence !== undefined, `step ${frame.index} has no confidence`);
      assert.ok(Math.abs(frame.confidence.action!.p - REPLAY_SURE) < 1e-9, `step ${frame.index}: action ${frame.confidence.action!.p}`);
    }
    // The next step writes the real value again (the replay goes on with the real run), and is sure of it.
    assert.equal(frames[WRONG_STEP + 1]!.locals.get('total'), realLoop.frames[WRONG_STEP + 1]!.locals.get('total'));
    assert.ok(frames[WRONG_STEP + 1]!.confidence!.locals.get('total')!.p > 0.9);
    // Only values a frame wrote have one: `n` is unchanged (".." in the frame's text) at every line step of main.
    assert.equal(frames[WRONG_STEP + 1]!.confidence!.locals.has('n'), false);
  });

  test('over mlx_lm: each step is asked whole (its only answer with log-probabilities): low exactly on the injected value', async () => {
    const server = servers.get('mlx')!;
    const client = await connectEndpoint({ url: server.url, backend: 'mlx' }, codec);
    clients.push(client);
    const before = server.requests.length;
    const session = new PredictionSession({ source: realLoop.source, entry: realLoop.entry, backend: client, codec, initialFrames: [realLoop.frames[0]!] });
    await session.start();
    for (let k = 1; k <= WRONG_STEP + 1; k++) await session.stepIn();
    const frames = session.trace;
    assert.equal(frames.length, WRONG_STEP + 2);
    assert.deepEqual(unsurePlaces(frames), [`${WRONG_STEP}:total`]);
    assert.ok(frames.slice(1).every((frame) => frame.confidence !== undefined));
    // mlx_lm sends no alternatives we can use (with top_logprobs its entries' ids are not the sampled tokens').
    assert.equal(frames[WRONG_STEP]!.confidence!.locals.get('total')!.alternatives, undefined);
    const bodies = server.requests.slice(before).filter((r) => r.method === 'POST').map((r) => r.body as { stream?: boolean; logprobs?: boolean });
    assert.ok(bodies.length > 0 && bodies.every((body) => body.stream === false && body.logprobs === true), JSON.stringify(bodies));
  });

  test('over fgserve, which returns no log-probabilities: no confidence at all', async () => {
    const frames = await predictAll('fgserve');
    assert.equal(frames.length, realLoop.frames.length);
    assert.ok(frames.every((frame) => frame.confidence === undefined));
  });

  test('several samples: agreement is the confidence', async () => {
    const client = await connectEndpoint({ url: vllm().url, backend: 'vllm' }, codec);
    clients.push(client);
    const disagreeing = createReplayModel({ codec, sampleCorruptions: { 1: [{ kind: 'wrong-value', step: 4, variable: 'v', value: '7' }] } });
    const real = await disagreeing.prepare({ file: LOOP, entry: 'main', args: '8' });
    const server = await startProtocolServer({ protocol: 'vllm', codec, model: disagreeing.model });
    const sampling = await connectEndpoint({ url: server.url, backend: 'vllm' }, codec);
    try {
      const session = new PredictionSession({ source: real.source, entry: real.entry, backend: sampling, codec, initialFrames: [real.frames[0]!] });
      await session.start();
      const result = await session.sample(2);
      const frame = result.rollouts[0]![4 - 1]!;
      assert.equal(frame.confidence?.source, 'agreement');
      assert.equal(frame.confidence?.locals.get('v')?.p, 0.5);
      assert.equal(result.rollouts[0]![2]!.confidence?.locals.get('total')?.p, 1);
    } finally {
      await sampling.close();
      await server.close();
    }
  });
});

describe('the debug adapter: VARIABLES and "stop when unsure"', { timeout: 300_000 }, () => {
  let session: Debuggee | undefined;
  const config = (): Record<string, unknown> => ({ program: LOOP, mode: 'predict', entry: 'main', args: '8', endpoints: [vllm().url], tokenizer: tokenizerPath });

  async function launch(options: Parameters<Debuggee['launch']>[1] = {}): Promise<{ debuggee: Debuggee; stop: DebugProtocol.StoppedEvent }> {
    await session?.close();
    session = await Debuggee.open();
    return { debuggee: session, stop: await session.launch(config(), options) };
  }
  after(async () => {
    await session?.close();
  });

  test('VARIABLES: every predicted value says how sure the model was; only the injected one is marked unsure, with the alternative', async () => {
    const { debuggee } = await launch();
    const marked: string[] = [];
    let side: unknown;
    for (let step = 1; step <= WRONG_STEP + 3; step++) {
      await debuggee.move('stepIn');
      const locals = await debuggee.locals();
      for (const [name, variable] of locals) {
        const unsure = variable.presentationHint?.attributes?.includes('cwm.unsure') === true;
        if (variable.value.includes('⚠') || unsure) marked.push(`${step}:${name}`);
        assert.equal(variable.value.includes('⚠'), unsure, `${step}:${name} ${variable.value}`);
      }
      if (step === WRONG_STEP) {
        const total = locals.get('total')!;
        assert.equal(total.value, '99  ⚠ 30%');
        assert.match(total.type ?? '', /the model was unsure \(30%\); it also weighed 0 \(60%\)/);
        // A value the step wrote and was sure of shows its confidence too; the side-by-side view shades the same.
        assert.equal(locals.get('sq')!.value, '0  · 99%');
        side = (await debuggee.traces());
      }
    }
    assert.deepEqual(marked, [`${WRONG_STEP}:total`]);
    // `total` is not written again at the next steps: its value is shown without a confidence there.
    assert.equal((await debuggee.locals()).get('total')!.value.includes('%'), false);

    const model = buildSideBySideModel(side);
    const shaded = model.rows.flatMap((row) => (row.predicted?.changes ?? []).filter((c) => c.confidence?.unsure).map((c) => `${row.predicted!.step}:${c.name}`));
    assert.deepEqual(shaded, [`${WRONG_STEP}:total`]);
    const wrongRow = model.rows.find((row) => row.predicted?.step === WRONG_STEP)!;
    const total = wrongRow.predicted!.changes.find((c) => c.name === 'total')!;
    assert.equal(total.confidence?.shade, 3);
    assert.equal(total.confidence?.text, '30%');
    assert.equal(wrongRow.predicted!.changes.find((c) => c.name === 'sq')!.confidence?.shade, 0);
  });

  test('"When the model is unsure" stops at the injected low-confidence step and says which value and how sure', async () => {
    await session?.close();
    session = await Debuggee.open();
    const capabilities = (await session.initialize()).body!;
    assert.equal(capabilities.supportsExceptionFilterOptions, true, 'without it a client sends no condition');
    const filter = capabilities.exceptionBreakpointFilters?.find((f) => f.filter === 'uncertain');
    assert.equal(filter?.label, 'When the Model Is Unsure');
    assert.equal(filter?.supportsCondition, true);
    const { debuggee, stop } = await launch({ exceptionFilterOptions: [{ filterId: 'uncertain', condition: '0.5' }] });
    assert.equal(stop.body.reason, 'entry');
    const unsure = await debuggee.move('continue');
    assert.equal(unsure.body.reason, 'unsure');
    assert.equal((await debuggee.state()).position, WRONG_STEP);
    assert.equal(unsure.body.description, 'The model is unsure of total = 99 (30%)');
    assert.match(unsure.body.text ?? '', /total = 99 at step 8: 30% likely, under the 50% threshold; it also weighed 0 \(60%\)/);
    // Nothing else is under the threshold: the next continue runs to the end.
    const end = await debuggee.move('continue');
    assert.notEqual(end.body.reason, 'unsure', end.body.description);
    const state = await debuggee.state();
    assert.equal(state.position, state.length - 1, JSON.stringify({ reason: end.body.reason, state }));
  });

  test('a threshold under the injected confidence does not stop there; a bad threshold is refused with the reason', async () => {
    const { debuggee } = await launch({ exceptionFilterOptions: [{ filterId: 'uncertain', condition: '20%' }] });
    const end = await debuggee.move('continue');
    assert.notEqual(end.body.reason, 'unsure');
    const refused = await debuggee.dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'uncertain', condition: 'often' }] });
    assert.equal(refused.body?.breakpoints?.[0]?.verified, false);
    assert.match(refused.body?.breakpoints?.[0]?.message ?? '', /"often" is not a confidence threshold: give a probability such as 0.5/);
  });
});

describe('the CLI: a sure column and confidence in JSON', { timeout: 120_000 }, () => {
  const args = (): string[] => ['predict', LOOP, '--entry', 'main', '--args', '8', '--endpoint', vllm().url, '--tokenizer', tokenizerPath];

  test('the table has a `sure` column, ⚠ only on the injected step; JSON carries each frame\'s confidence', async () => {
    const table = await runCli(args(), { COLUMNS: '140' });
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n');
    const header = lines.find((line) => /\bstep\b.*\bevent\b/.test(line))!;
    assert.match(header, /line\s+sure\s+source/);
    const rows = lines.filter((line) => /^\s*\d+ (call|line|return|exception)/.test(line));
    assert.equal(rows.length, realLoop.frames.length);
    const flagged = rows.filter((row) => row.includes('⚠')).map((row) => Number(/^\s*(\d+)/.exec(row)![1]));
    assert.deepEqual(flagged, [WRONG_STEP]);
    assert.match(rows[WRONG_STEP]!, /⚠ 30%.*total=99/);
    assert.match(rows[WRONG_STEP + 1]!, /\s99%\s/);

    const json = await runCli([...args(), '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const frames = (JSON.parse(json.stdout) as { frames: { confidence?: { source: string; locals: Record<string, { p: number; alternatives?: { value: string }[] }> } }[] }).frames;
    const total = frames[WRONG_STEP]!.confidence!.locals.total!;
    assert.equal(frames[WRONG_STEP]!.confidence!.source, 'logprobs');
    assert.ok(Math.abs(total.p - REPLAY_UNSURE) < 1e-9);
    assert.deepEqual(total.alternatives?.map((a) => a.value), ['0']);
  });

  test('against fgserve (no log-probabilities) the table has no sure column', async () => {
    const table = await runCli(['predict', LOOP, '--entry', 'main', '--args', '8', '--endpoint', servers.get('fgserve')!.url, '--tokenizer', tokenizerPath]);
    assert.equal(table.code, 0, table.stderr);
    assert.doesNotMatch(table.stdout, /\bsure\b/);
    assert.doesNotMatch(table.stdout, /⚠/);
  });
});

describe('the eval report: calibration', { timeout: 300_000 }, () => {
  test('the calibration chart separates injected values (30%, mostly wrong) from real ones (99%, right)', async () => {
    const items = selectItems(loadCorpus(CORPUS).items, 8);
    const rated = createReplayModel({ codec, rateCorruption: { kind: 'wrong-value', rate: 0.3, seed: 5 } });
    await prepareCorpusItems(rated, items, { concurrency: 2 });
    const server = await startProtocolServer({ protocol: 'vllm', codec, model: rated.model });
    const client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 60_000 } }, codec);
    const out = mkdtempSync(join(tmpdir(), 'cwm-confidence-eval-'));
    try {
      const outcome = await runEvaluation({ corpus: CORPUS, outDir: out, model: evaluationModelOf({ pool: client, codec, clients: [client] }), limit: 8, concurrency: 2 });
      const rows = outcome.totals.calibration;
      assert.equal(rows.length, 10);
      // The replay model's unsure tokens are 30% likely: exp(log 0.3) falls in the 20–30% bucket.
      const low = rows.find((row) => row.predicted !== null && Math.abs(row.predicted - REPLAY_UNSURE) < 1e-6)!;
      const high = rows.find((row) => row.label === '90–100%')!;
      assert.ok(low !== undefined && low.count > 0 && high.count > 0, JSON.stringify(rows));
      assert.ok(low.measured! <= 0.1, `injected values measured ${low.measured} right`);
      assert.ok(high.measured! >= 0.95, `real values measured ${high.measured} right`);
      assert.ok(Math.abs(high.predicted! - REPLAY_SURE) < 1e-6);
      const summary = readFileSync(join(out, 'summary.md'), 'utf8');
      assert.match(summary, /## Calibration of the confidence/);
      assert.match(summary, new RegExp(`\\| ${low.label} \\| ${low.count} \\| 30\\.0% \\| 0\\.0% \\|`));
      const html = readFileSync(join(out, 'report.html'), 'utf8');
      assert.match(html, /Predicted confidence against measured correctness/);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

