// `npm run bench`: speed and memory of the tracer, the prediction client and the harness, each printed as a ratio
// against a baseline measured in the same run on the same machine (never an absolute threshold).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { alignTraces } from '../../server/compare/align';
import { readCwmTrace } from '../../server/cwm/reader';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { renderFrames, markEntryLine } from '../../server/cwm/writer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { PredictionSession } from '../../server/engine/session';
import { PromptBuilder } from '../../server/engine/prompt';
import type { TraceFrame } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { benchActivation } from './activation-bench';
import { benchAdapter } from './adapter-bench';
import { benchEval } from './eval-bench';
import { benchReadAhead } from './read-ahead-bench';
import { benchInverse } from './inverse-bench';
import { benchTracer } from './tracer-bench';
import { benchObjects } from './objects-bench';
import { benchQueries } from './queries-bench';
import { startProtocolServer, type Faults } from '../servers/protocol-server';
import { createReplayModel } from '../servers/replay-model';
import { median } from './stats';

const python = process.env.CWM_DEBUG_PYTHON ?? 'python3';


async function repeat(times: number, run: () => Promise<number>): Promise<number> {
  const results: number[] = [];
  for (let i = 0; i < times; i++) results.push(await run());
  return median(results);
}

const out: string[] = [];
function print(line = ''): void {
  out.push(line);
  process.stdout.write(line + '\n');
}

/** A synthetic real-looking trace of n frames: one loop with a few changing ints, for alignment and parsing costs. */
function syntheticFrames(n: number, changeAt?: Set<number>): TraceFrame[] {
  const frames: TraceFrame[] = [];
  for (let i = 0; i < n; i++) {
    const line = 2 + (i % 3);
    const value = changeAt?.has(i) ? 'changed' : String(i >> 1);
    frames.push({
      index: i, event: i === 0 ? 'call' : 'line', line, sourceLine: `    line ${line}`, scope: 1, functionName: 'f', depth: 0,
      locals: new Map([['n', String(n)], ['i', value], ['total', String(i * 3)]]),
    });
  }
  return frames;
}

async function benchRollouts(codec: CwmTokenizer): Promise<void> {
  print();
  print('## Reaching a line 200 frames ahead: one streamed rollout vs one request per frame (the reference debugger\'s way)');
  const program = join(repoRoot, 'examples', 'bench_loop.py');
  const costModels: { name: string; faults: Faults }[] = [
    { name: 'prefix cache on ', faults: { tokenLatencyMs: 0.5, prefillMsPerToken: 0.1, prefixCache: true } },
    { name: 'prefix cache off', faults: { tokenLatencyMs: 0.5, prefillMsPerToken: 0.1, prefixCache: false } },
  ];
  print('test endpoint cost model: 0.5 ms per generated token (timer-bound, ~1 ms in practice), 0.1 ms per prompt token not in the prefix');
  print('cache, plus real HTTP. Both ways generate the same tokens, so with the cache on the gain is only the per-request overhead;');
  print('without it, one request per frame re-reads the whole growing prompt every time. fgserve cannot stream: its rollout comes in growing chunks.');
  for (const protocol of ['vllm', 'fgserve'] as const) {
    for (const model of costModels) {
      const replay = createReplayModel({ codec });
      const real = await replay.prepare({ file: program, python });
      const server = await startProtocolServer({ protocol, codec, model: replay.model, faults: { ...model.faults } });
      const client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 600_000 } }, codec);
      try {
        const target = 200;
        const session = () => new PredictionSession({ source: real.source, entry: real.entry, backend: client, codec });
        const streamed = performance.now();
        const a = session();
        await a.runUntil((frame) => frame.index >= target);
        const streamedMs = performance.now() - streamed;
        const perFrame = performance.now();
        const b = session();
        await b.start();
        while (b.cursor < target) await b.stepIn();
        const perFrameMs = performance.now() - perFrame;
        const requests = server.requests.filter((r) => r.method === 'POST').length;
        print(
          `${protocol.padEnd(8)} ${model.name}: streamed ${streamedMs.toFixed(0)} ms, per frame ${perFrameMs.toFixed(0)} ms → ` +
            `${(perFrameMs / streamedMs).toFixed(1)}x faster streamed (${requests} requests in all; each extra request costs ` +
            `${((perFrameMs - streamedMs) / target).toFixed(1)} ms over a streamed frame)`,
        );
      } finally {
        await client.close();
        await server.close();
      }
    }
  }
}

async function benchClientCosts(codec: CwmTokenizer): Promise<void> {
  print();
  print('## Client cost per frame (no network): tokenize, parse, resolve, align');
  const real = await recordTrace({ file: join(repoRoot, 'examples', 'bench_loop.py'), python });
  const context = markEntryLine(real.source, real.entry);
  const frames = real.frames;
  const text = renderFrames(frames, context);
  const rounds = 5;
  const tokenize = await repeat(rounds, async () => {
    const started = performance.now();
    const builder = new PromptBuilder(context, codec);
    for (const frame of frames) builder.append(frame);
    return performance.now() - started;
  });
  const ids = codec.encodeWithSpecialTokens(text);
  const decodeParse = await repeat(rounds, async () => {
    const started = performance.now();
    const decoder = codec.streamDecoder();
    let all = '';
    for (let i = 0; i < ids.length; i += 8) all += decoder.push(ids.slice(i, i + 8));
    readCwmTrace(all, { context, entry: real.entry, source: real.source });
    return performance.now() - started;
  });
  const align = await repeat(rounds, async () => {
    const started = performance.now();
    alignTraces(frames, frames);
    return performance.now() - started;
  });
  const per = (ms: number) => ((ms * 1000) / frames.length).toFixed(1);
  print(`${frames.length} frames, ${ids.length} tokens: tokenize ${per(tokenize)} µs/frame · decode+parse+resolve ${per(decodeParse)} µs/frame · align ${per(align)} µs/frame`);

  const big = syntheticFrames(100_000);
  const changed = syntheticFrames(100_000, new Set([10, 5000, 77_777]));
  const identical = await repeat(3, async () => {
    const started = performance.now();
    alignTraces(big, syntheticFrames(100_000));
    return performance.now() - started;
  });
  const differing = await repeat(3, async () => {
    const started = performance.now();
    alignTraces(big, changed);
    return performance.now() - started;
  });
  const dropped = changed.filter((_, i) => i % 20_000 !== 7);
  const gaps = await repeat(3, async () => {
    const started = performance.now();
    alignTraces(dropped, big);
    return performance.now() - started;
  });
  print(`alignment of two 100,000-frame traces: identical ${identical.toFixed(0)} ms · 3 wrong values ${differing.toFixed(0)} ms · 5 missing frames + 3 wrong values ${gaps.toFixed(0)} ms`);
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const wants = (name: string) => only.length === 0 || only.includes(name);
  const tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-bench-')));
  const codec = await loadTokenizer(tokenizerPath);
  try {
    if (wants('tracer')) await benchTracer(print);
    if (wants('objects')) {
      print();
      await benchObjects(print);
    }
    if (wants('queries')) {
      print();
      await benchQueries(print);
    }
    if (wants('rollout')) await benchRollouts(codec);
    if (wants('client')) await benchClientCosts(codec);
    if (wants('adapter')) {
      print();
      for (const line of await benchAdapter()) print(line);
    }
    if (wants('eval')) {
      print();
      for (const line of await benchEval(codec, python)) print(line);
    }
    if (wants('read-ahead')) {
      print();
      for (const line of await benchReadAhead(codec, tokenizerPath, python)) print(line);
    }
    if (wants('inverse')) {
      print();
      for (const line of await benchInverse(codec, python)) print(line);
    }
    if (wants('activation')) {
      print();
      for (const line of benchActivation()) print(line);
    }
  } finally {
    codec.dispose();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
