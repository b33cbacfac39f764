// Read-ahead in predict mode, end to end: DebugClient over stdio against dist/adapter.js and the loopback vLLM endpoint
// whose model replays the real run; the server's request log shows what was asked, when, and what was cancelled.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { Tok } from '../../server/cwm/tokens';
import type { CompletionRequest, CompletionResult, CompletionStream, TokenChunk } from '../../server/endpoint/types';
import type { CompletionBackend } from '../../server/engine/rollout';
import { PredictionSession } from '../../server/engine/session';
import type { Trace } from '../../server/trace/model';
import { ADAPTER, Debuggee } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, tokenIdOf, type ProtocolServer, type RecordedRequest, type TestModel } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const LOOP = join(fixturesDir, 'adapter', 'loop.py');
/** Iterations of the loop: enough frames (about 200) that a read-ahead never reaches the end by accident. */
const N = '30';

let codec: CwmTokenizer;
let tokenizerPath: string;
let replay: ReplayModel;
let real: Trace;
let server: ProtocolServer;
let session: Debuggee | undefined;

before(async () => {
  assert.ok(existsSync(ADAPTER), `${ADAPTER} is missing: run node scripts/build.mjs first`);
  tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-read-ahead-tok-')));
  codec = await loadTokenizer(tokenizerPath);
  replay = createReplayModel({ codec });
  real = await replay.prepare({ file: LOOP, entry: 'main', args: N });
  assert.ok(real.frames.length > 150, `the loop traced only ${real.frames.length} frames`);
  server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
});

after(async () => {
  await session?.close();
  await server?.close();
  codec?.dispose();
});

afterEach(async () => {
  await session?.close();
  session = undefined;
  server.faults = {};
});

/** Where this test's requests start in the server's log. */
let firstOfTest = 0;

/** This test's completion requests, in order. */
function completions(): RecordedRequest[] {
  return server.requests.slice(firstOfTest).filter((r) => r.method === 'POST' && r.path === '/v1/completions');
}

async function launch(readAhead: Record<string, unknown>, faults = {}, extra: Record<string, unknown> = {}): Promise<Debuggee> {
  server.faults = faults;
  firstOfTest = server.requests.length;
  session = await Debuggee.open();
  const stop = await session.launch({
    program: LOOP, mode: 'predict', entry: 'main', args: N, endpoints: [server.url], tokenizer: tokenizerPath, readAhead, ...extra,
  });
  assert.equal(stop.body.reason, 'entry');
  return session;
}

/** Frames recorded after the current one. */
async function lead(s: Debuggee): Promise<number> {
  const state = await s.state();
  return state.length - 1 - state.position;
}

async function until(predicate: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Requests the user waited for: read-ahead requests are the ones sent at a priority. */
function stepRequests(): RecordedRequest[] {
  return completions().filter((r) => (r.body as { priority?: number }).priority === undefined);
}

/** The completion request streaming now (sent, prompt read, neither finished nor closed). */
function inFlight(): RecordedRequest | undefined {
  return completions().find((r) => r.promptIds !== undefined && !r.finished && !r.clientClosed);
}

describe('read-ahead in predict mode', { timeout: 300_000 }, () => {
  test('after the first stop, steps are served from frames read ahead: no new completion request', async () => {
    const s = await launch({ enabled: true, frames: 8 });
    await until(async () => (await lead(s)) >= 8, 'eight frames are read ahead');
    const asked = stepRequests().length;
    for (let i = 1; i <= 3; i++) {
      assert.equal((await s.move('stepIn')).body.reason, 'step');
      const state = await s.state();
      assert.equal(state.position, i);
      assert.equal(state.frame?.line, real.frames[i]!.line);
      assert.deepEqual(state.frame?.locals, Object.fromEntries(real.frames[i]!.locals));
    }
    assert.match(real.frames[3]!.sourceLine ?? '', /sq = square\(i\)/);
    // F10 over `sq = square(i)`: the body was read ahead too, so stepping over it asks nothing either.
    assert.equal((await s.move('next')).body.reason, 'step');
    const after = real.frames.findIndex((f, k) => k > 3 && f.depth === 0);
    assert.equal((await s.state()).position, after);
    assert.deepEqual((await s.state()).frame?.locals, Object.fromEntries(real.frames[after]!.locals));
    // Reading resumed in the background meanwhile (lower priority); no step sent a request of its own.
    assert.equal(stepRequests().length, asked, 'a step asked the model although the frames were read ahead');
  });

  test('a step beyond the frames read ahead waits on the running stream instead of sending a second request', async () => {
    // About 170 ms a frame: the stream is still reading when the steps come.
    const s = await launch({ enabled: true, frames: 64 }, { tokenLatencyMs: 6 });
    await until(() => inFlight() !== undefined, 'the read-ahead request streams');
    const asked = completions().length;
    for (let i = 0; i < 6; i++) await s.move('stepIn');
    assert.equal((await s.state()).position, 6);
    assert.equal(completions().length, asked, 'a step sent its own request next to the read-ahead');
    assert.equal((await s.state()).frame?.line, real.frames[6]!.line);
  });

  test('an edit during read-ahead: the stream is dropped, reading restarts from the edited state, no stale frame is served', async () => {
    const s = await launch({ enabled: true, frames: 16 }, { tokenLatencyMs: 4 });
    await s.move('stepIn'); // total = 0
    await s.move('stepIn'); // for i in range(n)
    await until(async () => (await lead(s)) >= 2, 'the read-ahead recorded frames after the for line');
    const stale = inFlight();
    assert.ok(stale, 'the read-ahead is not streaming at the edit');
    const scope = (await s.scopes())[0]!;
    const edited = await s.dc.setVariableRequest({ variablesReference: scope.variablesReference, name: 'total', value: '1000 + 1' });
    assert.equal(edited.body.value, '1001');
    await until(() => stale.clientClosed, 'the stale stream is closed');
    // Reading starts again on its own, from a prompt that holds the edited value.
    const decoded = (r: RecordedRequest) => (r.promptIds ? codec.decode(r.promptIds) : '');
    await until(() => completions().some((r) => r !== stale && r.promptIds !== undefined && decoded(r).includes('1001')), 'a request from the edited state');
    await until(async () => (await lead(s)) >= 3, 'frames are read ahead from the edited state');
    const asked = completions().length;
    const totals: string[] = [];
    for (let i = 0; i < 4; i++) {
      await s.move('stepIn');
      const total = (await s.state()).frame?.locals.total;
      if (total !== undefined) totals.push(total);
    }
    assert.equal(totals[0], '1001', 'the step after the edit came from the old state');
    assert.ok(totals.every((t) => Number(t) >= 1001), `a frame from before the edit was served: totals ${totals.join(', ')}`);
    assert.equal(completions().length, asked, 'the steps after the edit were not served by the restarted read-ahead');
    const trace = ((await s.traces()).predicted as { locals: Record<string, string> }[]).slice(3);
    assert.ok(trace.every((f) => f.locals.total === undefined || Number(f.locals.total) >= 1001), 'the recording holds a frame of the old state');
  });

  test('restart cancels the running read-ahead (the server sees the connection closed)', async () => {
    const s = await launch({ enabled: true, frames: 64 }, { tokenLatencyMs: 6 });
    await until(() => inFlight() !== undefined, 'the read-ahead request streams');
    const reading = inFlight()!;
    assert.equal((await s.move('restart', {})).body.reason, 'entry');
    await until(() => reading.clientClosed, 'the read-ahead request is closed');
    assert.equal((await s.state()).position, 0);
  });

  test('a jump back far enough to cover the bound cancels the running read-ahead', async () => {
    const s = await launch({ enabled: true, frames: 4 }, { tokenLatencyMs: 6 });
    for (let i = 0; i < 6; i++) await s.move('stepIn');
    await until(() => inFlight() !== undefined, 'the read-ahead request streams');
    const reading = inFlight()!;
    assert.equal((await s.move('cwm/goToStep', { step: 0 })).body.reason, 'goto');
    await until(() => reading.clientClosed, 'the read-ahead request is closed');
    assert.equal(inFlight(), undefined, 'a read-ahead runs although the frames ahead cover the bound');
  });

  test('cancelling a continue that waits on the read-ahead stops the stream; the position stays', async () => {
    server.faults = { tokenLatencyMs: 6 };
    firstOfTest = server.requests.length;
    session = await Debuggee.open();
    const s = session;
    await s.launch({
      program: LOOP, mode: 'predict', entry: 'main', args: N, endpoints: [server.url], tokenizer: tokenizerPath, readAhead: { frames: 64 },
    }, { progress: true });
    await until(() => inFlight() !== undefined, 'the read-ahead request streams');
    const reading = inFlight()!;
    const started = s.dc.waitForEvent('progressStart');
    const continued = s.dc.continueRequest({ threadId: 1 });
    const progress = (await started) as DebugProtocol.ProgressStartEvent;
    await s.dc.customRequest('cancel', { progressId: progress.body.progressId });
    await assert.rejects(continued, /cancelled/);
    await until(() => reading.clientClosed, 'the read-ahead request is closed');
    assert.equal((await s.state()).position, 0);
    assert.equal(completions().length, 1, 'the continue sent a request of its own');
    // The next step asks the model again (the read-ahead waits for it), and stepping goes on.
    assert.equal((await s.move('stepIn')).body.reason, 'step');
    assert.equal((await s.state()).frame?.line, real.frames[1]!.line);
  });

  test('the end of the debug session cancels the running read-ahead', async () => {
    const s = await launch({ enabled: true, frames: 64 }, { tokenLatencyMs: 6 });
    await until(() => inFlight() !== undefined, 'the read-ahead request streams');
    const reading = inFlight()!;
    await s.close();
    session = undefined;
    await until(() => reading.clientClosed, 'the read-ahead request is closed');
  });

  test('bounded: never more than the configured frames ahead; reading resumes once half are stepped through', async () => {
    const s = await launch({ enabled: true, frames: 6 });
    await until(async () => (await lead(s)) >= 6 && inFlight() === undefined, 'six frames are read ahead and reading stopped');
    const first = completions().at(-1)!;
    assert.equal(first.clientClosed, true, 'the read-ahead ran to the end of the trace instead of stopping at its bound');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await lead(s), 6);
    const leads: number[] = [];
    for (let i = 0; i < 4; i++) {
      await s.move('stepIn');
      leads.push(await lead(s));
    }
    await until(async () => (await lead(s)) >= 6 && inFlight() === undefined, 'the read-ahead filled up again');
    await new Promise((resolve) => setTimeout(resolve, 300));
    leads.push(await lead(s));
    assert.ok(leads.every((n) => n <= 6), `more than 6 frames ahead: ${leads.join(', ')}`);
    assert.equal(leads.at(-1), 6);
    assert.ok(completions().length >= 2, 'reading did not resume after the steps');
  });

  test('read-ahead requests go to vLLM at a lower priority than the steps the user waits for', async () => {
    // Without args the entry's call frame is predicted: the launch's own request comes first.
    const s = await launch({ enabled: true, frames: 4, tokens: 300 }, {}, { args: undefined });
    await until(async () => (await lead(s)) >= 4 && inFlight() === undefined, 'four frames are read ahead');
    const bodies = completions().map((r) => r.body as { priority?: number; max_tokens?: number });
    // The launch's first step is the user's: default priority. Then the read-ahead's, deprioritised.
    assert.equal(bodies[0]!.priority, undefined);
    assert.ok(bodies.slice(1).length > 0 && bodies.slice(1).every((b) => b.priority === 10), JSON.stringify(bodies));
    assert.ok(bodies.slice(1).every((b) => (b.max_tokens ?? 0) <= 300), 'a read-ahead request asked for more than its token bound');
  });

  test('a vLLM that refuses priority (V0 engine, fcfs): the read-ahead is asked again without it, and never sent it again', async () => {
    const v0 = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model, vllmV0Engine: true });
    try {
      session = await Debuggee.open();
      await session.launch({
        program: LOOP, mode: 'predict', entry: 'main', args: N, endpoints: [v0.url], tokenizer: tokenizerPath, readAhead: { frames: 4 },
      });
      const s = session;
      await until(async () => (await lead(s)) >= 4, 'four frames are read ahead');
      for (let i = 0; i < 3; i++) await s.move('stepIn');
      await until(async () => (await lead(s)) >= 4, 'the read-ahead filled up again');
      const bodies = v0.requests.filter((r) => r.path === '/v1/completions').map((r) => r.body as { priority?: number });
      assert.equal(bodies[0]!.priority, 10, 'the first read-ahead request was not sent at a priority');
      assert.ok(bodies.length >= 3 && bodies.slice(1).every((b) => b.priority === undefined), JSON.stringify(bodies));
      assert.equal((await s.state()).frame?.line, real.frames[3]!.line);
    } finally {
      await session?.close();
      session = undefined;
      await v0.close();
    }
  });

  test('a model that answers no frame gets one read-ahead request, not a retry loop; the step then says why', async () => {
    const word = codec.encodeOrdinary(' noise');
    const babbler = await startProtocolServer({
      protocol: 'vllm', codec, model: function* () {
        for (;;) yield* word;
      },
    });
    try {
      session = await Debuggee.open();
      const s = session;
      await s.launch({
        program: LOOP, mode: 'predict', entry: 'main', args: N, endpoints: [babbler.url], tokenizer: tokenizerPath, readAhead: { tokens: 200 },
      });
      const asked = () => babbler.requests.filter((r) => r.path === '/v1/completions');
      await until(() => asked().length === 1 && asked()[0]!.finished, 'the read-ahead request ran to its token bound');
      assert.equal((asked()[0]!.body as { max_tokens?: number }).max_tokens, 200);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(asked().length, 1, 'the read-ahead asked again for output that is no frame');
      await assert.rejects(s.dc.stepInRequest({ threadId: 1 }), /could not be read as a frame/);
      assert.equal((await s.state()).position, 0);
    } finally {
      await session?.close();
      session = undefined;
      await babbler.close();
    }
  });

  test('disabled, every step past the recording asks the model (the behaviour before read-ahead)', async () => {
    const s = await launch({ enabled: false });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await lead(s), 0);
    const asked = completions().length;
    await s.move('stepIn');
    assert.equal(completions().length, asked + 1);
  });
});

/**
 * A backend that streams the replay model's tokens a few milliseconds apart and goes on streaming after its request was
 * cancelled, as a server may while the cancellation travels: what it sends then must never reach the recording.
 */
function heedlessBackend(model: TestModel): { backend: CompletionBackend; prompts: string[]; cancelled: number; closed: boolean[] } {
  const frameSep = codec.specialTokenId(Tok.frameSep)!;
  const endOfText = codec.specialTokenId(Tok.endOfText)!;
  const log = { prompts: [] as string[], cancelled: 0, closed: [] as boolean[] };
  const backend: CompletionBackend = {
    streams: true,
    complete(request: CompletionRequest): CompletionStream {
      const index = log.prompts.push(codec.decode([...request.promptIds])) - 1;
      log.closed[index] = false;
      request.signal?.addEventListener('abort', () => log.cancelled++, { once: true });
      let finish: (result: CompletionResult) => void = () => undefined;
      const result = new Promise<CompletionResult>((resolve) => (finish = resolve));
      async function* tokens(): AsyncGenerator<TokenChunk> {
        let count = 0;
        try {
          for (const token of model([...request.promptIds], { maxTokens: request.maxTokens, temperature: 0, stopIds: [], sampleIndex: 0 })) {
            const id = tokenIdOf(token);
            if (count++ >= request.maxTokens) break;
            await new Promise((resolve) => setTimeout(resolve, 2));
            yield { choice: 0, ids: [id] };
            if (id === endOfText || (request.stopAtFrameEnd && id === frameSep)) break;
          }
          finish({ finishReason: 'stop' });
        } finally {
          log.closed[index] = true;
        }
      }
      return { result, [Symbol.asyncIterator]: () => tokens() };
    },
  };
  return { backend, get prompts() { return log.prompts; }, get cancelled() { return log.cancelled; }, get closed() { return log.closed; } };
}

describe('read-ahead in the prediction engine', { timeout: 120_000 }, () => {
  test('frames a cancelled stream still sends after an edit never join the recording', async () => {
    const fake = heedlessBackend(replay.model);
    const engine = new PredictionSession({
      source: real.source, entry: real.entry, backend: fake.backend, codec, initialFrames: [real.frames[0]!], readAhead: { frames: 32 },
    });
    try {
      await engine.start();
      await until(() => engine.trace.length >= 4, 'the read-ahead recorded frames');
      assert.equal(engine.goTo(2).kind, 'frame');
      assert.match(engine.current!.sourceLine, /for i in range/);
      engine.setVariable('total', '1001');
      // The old stream goes on sending frames of the old state; the new one reads from the edited state.
      await until(() => engine.trace.length >= 12, 'the read-ahead recorded frames from the edited state');
      // Until the old stream is read no more: whatever it sent meanwhile had its chance to be recorded.
      await until(() => fake.closed[0] === true, 'the old stream is no longer read');
      assert.equal(fake.cancelled, 1, 'the stale stream was not cancelled');
      assert.ok(fake.prompts.length >= 2 && fake.prompts.at(-1)!.includes('1001'), 'no read-ahead from the edited state');
      const totals = engine.trace.slice(3).map((frame) => frame.locals.get('total')).filter((t): t is string => t !== undefined);
      assert.ok(totals.length > 0 && totals.every((t) => Number(t) >= 1001), `a frame of the old state was recorded: totals ${totals.join(', ')}`);
      for (let i = 0; i < 3; i++) assert.equal((await engine.stepIn()).kind, 'frame');
      assert.ok(Number(engine.current!.locals.get('total') ?? '1001') >= 1001);
    } finally {
      await engine.dispose();
    }
  });
});
