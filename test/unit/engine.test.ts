// The prediction engine against the loopback test endpoint, for each protocol (fgserve, vLLM, MLX): every operation
// on predictions replayed from a real tracer run of a real program, plus corruption and fault handling.

import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { alignTraces } from '../../server/compare/align';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { EndpointError } from '../../server/endpoint/errors';
import type { BackendKind, EndpointClient } from '../../server/endpoint/types';
import { PredictionSession, predictNextFrame } from '../../server/engine/session';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { examplesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const SPEC_EXAMPLE = join(examplesDir, 'spec_example.py');

/** What must agree between a predicted and a real frame (scope ids are numbered independently). */
function essence(frame: TraceFrame) {
  return { event: frame.event, line: frame.line, depth: frame.depth, locals: [...frame.locals], value: frame.value };
}

function completionRequests(server: ProtocolServer): number {
  return server.requests.filter((r) => r.method === 'POST').length;
}

let codec: CwmTokenizer;

before(async () => {
  codec = await loadTokenizer(await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-tok-'))));
});
after(() => codec.dispose());

for (const protocol of ['fgserve', 'vllm', 'mlx'] as BackendKind[]) {
  describe(`prediction engine over ${protocol}`, { timeout: 120_000 }, () => {
    let replay: ReplayModel;
    let real: Trace;
    let server: ProtocolServer;
    let client: EndpointClient;

    before(async () => {
      replay = createReplayModel({ codec, sampleCorruptions: { 1: [{ kind: 'wrong-value', step: 5, variable: 'y', value: '42' }] } });
      real = await replay.prepare({ file: SPEC_EXAMPLE });
      server = await startProtocolServer({ protocol, codec, model: replay.model });
      client = await connectEndpoint({ url: server.url, backend: 'auto', timeouts: { totalMs: 20_000, firstTokenMs: 10_000 } }, codec);
    });
    after(async () => {
      await client.close();
      await server.close();
    });

    function session(options: Partial<ConstructorParameters<typeof PredictionSession>[0]> = {}): PredictionSession {
      return new PredictionSession({ source: real.source, entry: real.entry, backend: client, codec, ...options });
    }

    test('the endpoint kind is detected', () => {
      assert.equal(client.kind, protocol);
    });

    test('stepIn predicts the whole trace frame by frame, equal to the real run, then ends', async () => {
      const s = session();
      let outcome = await s.start();
      while (outcome.kind === 'frame') outcome = await s.stepIn();
      assert.equal(outcome.kind, 'end');
      assert.deepEqual(s.trace.map(essence), real.frames.map(essence));
      assert.equal(s.ended, true);
    });

    test('stepBack walks the recording without asking the model', async () => {
      const s = session();
      await s.start();
      for (let i = 0; i < 5; i++) await s.stepIn();
      const before = completionRequests(server);
      assert.equal(s.stepBack().kind, 'frame');
      assert.equal(s.stepBack().kind, 'frame');
      assert.equal(s.cursor, 3);
      assert.deepEqual(essence(s.current!), essence(real.frames[3]!));
      assert.equal((await s.stepIn()).kind, 'frame');
      assert.equal(s.cursor, 4);
      assert.equal(completionRequests(server), before, 'stepping back and forth inside the recording sent requests');
    });

    test('stepOver forces the return of a call instead of predicting its body', async () => {
      const s = session();
      await s.start(); // call main
      await s.stepIn(); // line: return f(1,3)
      const outcome = await s.stepOver();
      assert.equal(outcome.kind, 'frame');
      const events = s.trace.map((f) => `${f.event}@${f.depth}`);
      assert.deepEqual(events, ['call@0', 'line@0', 'call@1', 'return@1', 'return@0']);
      assert.equal(s.trace[3]!.value, '6', "the forced return carries f's real return value");
      assert.equal(s.current!.event, 'return');
      assert.equal(s.current!.depth, 0);
    });

    test('stepOut reaches the caller with one streamed request, cancelled once there', async () => {
      const s = session();
      await s.start();
      for (let i = 0; i < 4; i++) await s.stepIn(); // inside f, at `y = a`
      assert.equal(s.current!.depth, 1);
      const before = completionRequests(server);
      const outcome = await s.stepOut();
      assert.equal(outcome.kind, 'frame');
      assert.equal(s.current!.depth, 0);
      assert.equal(s.current!.event, 'return');
      assert.equal(completionRequests(server) - before, 1, 'stepOut took more than one request');
      assert.deepEqual(s.trace.map(essence), real.frames.slice(0, s.trace.length).map(essence));
    });

    test('runUntil reaches a condition 8 frames ahead with one request and cancels the rest', async () => {
      const s = session();
      await s.start();
      const before = completionRequests(server);
      const outcome = await s.runUntil((frame) => frame.line === 4 && frame.locals.get('i') === '2');
      assert.equal(outcome.kind, 'frame');
      assert.equal(s.current!.locals.get('y'), '2');
      assert.equal(s.trace.length, real.frames.findIndex((f) => f.line === 4 && f.locals.get('i') === '2') + 1);
      assert.equal(completionRequests(server) - before, 1);
      if (protocol !== 'fgserve') {
        const last = server.requests[server.requests.length - 1]!;
        assert.ok(await server.waitFor(() => last.clientClosed || last.finished, 5000));
        assert.equal(last.clientClosed, true, 'the streamed rollout was not cancelled when the condition held');
      }
    });

    test('setVariable is a what-if: later frames continue from the edited state', async () => {
      const s = session();
      await s.start();
      await s.runUntil((frame) => frame.line === 3 && frame.event === 'line'); // `for i in range(b)`, first time
      const cursor = s.cursor;
      await s.stepIn();
      await s.stepIn();
      s.stepBack();
      s.stepBack();
      assert.equal(s.cursor, cursor);
      const edited = s.setVariable('b', '5');
      assert.equal(edited.locals.get('b'), '5');
      assert.equal(s.trace.length, cursor + 1, 'frames after the edited one were not dropped');
      await s.stepIn();
      assert.equal(s.current!.locals.get('b'), '5', 'the next predicted frame does not carry the edited value');
      assert.equal(s.ended, false);
    });

    test('restart drops the prediction and samples again', async () => {
      const s = session({ seed: 7 });
      await s.start();
      await s.stepIn();
      await s.stepIn();
      const outcome = await s.restart({ temperature: 0.8 });
      assert.equal(outcome.kind, 'frame');
      assert.equal(s.trace.length, 1);
      assert.equal(s.sampling.temperature, 0.8);
      assert.equal(s.sampling.seed, 8);
      const last = server.requests[server.requests.length - 1]!.body as Record<string, unknown>;
      assert.equal(last.temperature, 0.8);
    });

    test('sample(3) reports how many rollouts agree per frame and variable', async () => {
      const s = session({ seed: 0 });
      await s.start();
      const result = await s.sample(3);
      assert.equal(result.rollouts.length, 3);
      for (const frames of [result.rollouts[0]!, result.rollouts[2]!]) {
        assert.deepEqual(frames.map(essence), real.frames.slice(1).map(essence));
      }
      const disputed = result.agreement.find((entry) => entry.index === 5)!;
      assert.equal(disputed.actionCount, 3);
      assert.deepEqual(disputed.variables.get('y'), { value: real.frames[5]!.locals.get('y'), count: 2 });
      const calm = result.agreement.find((entry) => entry.index === 4)!;
      assert.ok([...calm.variables.values()].every((v) => v.count === 3));
    });

    test('teacher forcing predicts each next frame from the real prefix', async () => {
      for (const k of [0, 1, 4, 9, real.frames.length - 1]) {
        const next = await predictNextFrame({ source: real.source, entry: real.entry, backend: client, codec, prefix: real.frames.slice(0, k) });
        assert.ok(next.frame, `no frame predicted after ${k} real frames`);
        assert.deepEqual(essence(next.frame), essence(real.frames[k]!));
      }
      const done = await predictNextFrame({ source: real.source, entry: real.entry, backend: client, codec, prefix: real.frames });
      assert.equal(done.ended, true);
    });
  });
}

describe('corrupted predictions are marked and compared at the right step', { timeout: 120_000 }, () => {
  let replay: ReplayModel;
  let real: Trace;
  let server: ProtocolServer;
  let client: EndpointClient;

  before(async () => {
    replay = createReplayModel({ codec });
    real = await replay.prepare({ file: SPEC_EXAMPLE });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
    client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 20_000 } }, codec);
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  async function predictAll(): Promise<PredictionSession> {
    const s = new PredictionSession({ source: real.source, entry: real.entry, backend: client, codec });
    await s.runToEnd();
    return s;
  }

  test('a wrong value at step 7 is the first divergence, naming the variable', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 7, variable: 'y', value: '99' }]);
    const s = await predictAll();
    const alignment = alignTraces(s.trace, real.frames);
    assert.equal(alignment.firstDivergence?.actualStep, 7);
    assert.match(alignment.firstDivergence!.description, /\by\b/);
    assert.equal(alignment.rows.filter((r) => r.verdict !== 'match').length, 1, 'the prediction did not re-synchronise after step 7');
  });

  test('a wrong line is an action divergence at its step', async () => {
    replay.setCorruptions([{ kind: 'wrong-line', step: 4 }]);
    const s = await predictAll();
    const alignment = alignTraces(s.trace, real.frames);
    assert.equal(alignment.firstDivergence?.actualStep ?? alignment.firstDivergence?.predictedStep, 4);
  });

  test('malformed JSON locals are marked on the frame that carries them', async () => {
    replay.setCorruptions([{ kind: 'malformed-json', step: 5 }]);
    const s = await predictAll();
    const marked = [...s.trace.filter((f) => f.issues?.length).map((f) => f.index), ...s.malformed.map((m) => m.index)];
    assert.deepEqual(marked, [5]);
    assert.equal(s.ended, true, 'the reader did not carry on after the malformed frame');
  });

  test('a frame cut off mid-way is malformed and the trace is incomplete', async () => {
    replay.setCorruptions([{ kind: 'cut-frame', step: 6 }]);
    const s = await predictAll();
    assert.equal(s.trace.length, 6);
    assert.equal(s.malformed[0]?.index, 6);
    assert.match(s.malformed[0]!.reason, /cut/);
    assert.equal(s.ended, false);
  });

  test('an early end of text ends the prediction at that step', async () => {
    replay.setCorruptions([{ kind: 'early-end', step: 8 }]);
    const s = await predictAll();
    assert.equal(s.trace.length, 8);
    assert.equal(s.ended, true);
    const alignment = alignTraces(s.trace, real.frames);
    assert.equal(alignment.firstDivergence?.actualStep, 8);
    assert.equal(alignment.rows[alignment.firstDivergence!.row]!.verdict, 'missing');
  });

  test('garbage tokens before a frame are marked and the frame after them is kept', async () => {
    replay.setCorruptions([{ kind: 'garbage', step: 3 }]);
    const s = await predictAll();
    assert.ok(s.malformed.length > 0 || s.trace.some((f) => f.issues?.length), 'garbage left no mark');
    assert.deepEqual(s.trace.map(essence), real.frames.map(essence));
  });

  test('a stalled stream ends with a timeout error, not a hang', async () => {
    replay.setCorruptions([]);
    server.faults.stallAfterTokens = 30;
    const stalling = await connectEndpoint({ url: server.url, timeouts: { totalMs: 1500, firstTokenMs: 1000 } }, codec);
    try {
      const s = new PredictionSession({ source: real.source, entry: real.entry, backend: stalling, codec });
      await assert.rejects(s.runToEnd(), (error: unknown) => error instanceof EndpointError && error.kind === 'timeout');
    } finally {
      server.faults.stallAfterTokens = undefined;
      await stalling.close();
    }
    assert.ok(await server.waitFor(() => server.openConnections() === 0, 3000), 'a connection was left open');
  });
});
