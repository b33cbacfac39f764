// Benchmark of the evaluation harness itself: programs per second of `runEvaluation` on a fixed CRUXEval subset against
// the replay endpoint with no simulated latency (an "instant" model), at concurrency 1 and 8.

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { loadCorpus, selectItems } from '../../server/eval/corpus';
import { evaluationModelOf, runEvaluation } from '../../server/eval/run';
import { fixturesDir } from '../helpers/paths';
import { startProtocolServer } from '../servers/protocol-server';
import { createReplayModel, prepareCorpusItems } from '../servers/replay-model';

const PROGRAMS = 48;

export async function benchEval(codec: CwmTokenizer, python?: string): Promise<string[]> {
  const lines = [
    `## Evaluation harness: programs per second on ${PROGRAMS} CRUXEval programs against an instant replay endpoint (vLLM protocol)`,
    `each program: tracer run, one full rollout, teacher forcing on every real frame; ${cpus().length} CPU cores`,
  ];
  const corpus = join(fixturesDir, 'corpus', 'cruxeval.jsonl');
  const items = selectItems(loadCorpus(corpus).items, PROGRAMS);
  const replay = createReplayModel({ codec });
  await prepareCorpusItems(replay, items, { python });
  const server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  const client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 600_000 } }, codec);
  const model = evaluationModelOf({ pool: client, codec, clients: [client] });
  try {
    const rates = new Map<number, number>();
    for (const concurrency of [1, 8]) {
      for (const teacherForcing of [true, false]) {
        const out = mkdtempSync(join(tmpdir(), 'cwm-eval-bench-'));
        const started = performance.now();
        const outcome = await runEvaluation({ corpus, outDir: out, model, limit: PROGRAMS, concurrency, teacherForcing, python });
        const seconds = (performance.now() - started) / 1000;
        rmSync(out, { recursive: true, force: true });
        const rate = outcome.finished / seconds;
        if (teacherForcing) rates.set(concurrency, rate);
        const l = outcome.totals.latency;
        lines.push(
          `concurrency ${concurrency}, teacher forcing ${teacherForcing ? 'on ' : 'off'}: ${rate.toFixed(2)} programs/s ` +
            `(${seconds.toFixed(1)} s; median per program ${Math.round(l.programMs ?? 0)} ms, of which tracing ${Math.round(l.tracerMs ?? 0)} ms, ` +
            `rollout ${Math.round(l.rolloutMs ?? 0)} ms; ${outcome.totals.tokens.requests} requests)`,
        );
      }
    }
    lines.push(`speed-up of concurrency 8 over 1: ${((rates.get(8) ?? 0) / (rates.get(1) ?? 1)).toFixed(1)}x`);
  } finally {
    await client.close();
    await server.close();
  }
  return lines;
}
