// Benchmark of inverse execution: verified hits per minute of `searchInputs` against the scripted inverse endpoint at a
// real model's pace (20 ms per generated token, about a 32B model on one GPU), at concurrency 1 and 8.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { searchInputs } from '../../server/engine/inverse';
import { fixturesDir } from '../helpers/paths';
import { createInverseModel, type ScriptedProposal } from '../servers/inverse-model';
import { startProtocolServer } from '../servers/protocol-server';

const SAMPLES = 16;
const TOKEN_LATENCY_MS = 20;

export async function benchInverse(codec: CwmTokenizer, python?: string): Promise<string[]> {
  const lines = [
    `## Inverse execution: verified hits per minute, ${SAMPLES} rollouts of one round against the scripted inverse endpoint ` +
      `at ${TOKEN_LATENCY_MS} ms per token (vLLM protocol); half the proposals truly reach the line, a quarter are false claims`,
  ];
  const file = join(mkdtempSync(join(tmpdir(), 'cwm-inverse-bench-')), 'gate.py');
  writeFileSync(file, readFileSync(join(fixturesDir, 'inverse', 'gate.py'), 'utf8'));
  const source = readFileSync(file, 'utf8');
  const target = source.split('\n').findIndex((line) => line.includes('return total')) + 1;
  const script: ScriptedProposal[] = [];
  for (let k = 0; k < SAMPLES / 4; k++) {
    script.push({ kind: 'real', args: `${12 + 2 * k}, 'ab${k}'` }, { kind: 'real', args: `${40 + 2 * k}, 'abc${k}'` },
      { kind: 'real', args: `${k}, 'x'` }, { kind: 'claim', args: `${k}, 'ab'`, line: target });
  }
  const inverse = createInverseModel(codec);
  await inverse.prepare({ file, script, python });
  const server = await startProtocolServer({ protocol: 'vllm', codec, model: inverse.model, faults: { tokenLatencyMs: TOKEN_LATENCY_MS, prefillMsPerToken: 0.05 } });
  const client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 600_000 } }, codec);
  try {
    const entryLine = source.split('\n').findIndex((line) => line.startsWith('def gate(')) + 1;
    for (const concurrency of [1, 8]) {
      const started = performance.now();
      const result = await searchInputs({
        source, path: file, entry: { kind: 'function', name: 'gate', line: entryLine }, backend: client, codec, target: { kind: 'line', line: target },
        samples: SAMPLES, rounds: 1, concurrency, verify: { python }, seed: 0,
      });
      const minutes = (performance.now() - started) / 60_000;
      const c = result.counts;
      lines.push(`concurrency ${concurrency}: ${(c.verified / minutes).toFixed(1)} verified hits/min (${c.verified} verified, ${c.refuted} refuted, ` +
        `${c.verifications} real runs, ${c.completionTokens} tokens in ${(minutes * 60).toFixed(1)} s)`);
    }
  } finally {
    await client.close();
    await server.close();
  }
  return lines;
}
