// Serves the replay test endpoint for a whole corpus, for running `cwm-debug eval` by hand (tests only, never shipped):
// traces every program, writes the test tokenizer, prints the eval command to run, and serves until Ctrl-C.
// Run: npx esbuild test/servers/serve-replay.ts --bundle --platform=node --outfile=out/test/servers/serve-replay.js &&
//      node out/test/servers/serve-replay.js test/fixtures/corpus/cruxeval.jsonl [--protocol vllm] [--corrupt KIND:RATE[:SEED]]

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadTokenizer } from '../../server/cwm/tokenizer';
import { loadCorpus } from '../../server/eval/corpus';
import type { BackendKind } from '../../server/endpoint/types';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer } from './protocol-server';
import { createReplayModel, prepareCorpusItems, type RateCorruption } from './replay-model';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { protocol: { type: 'string', default: 'vllm' }, corrupt: { type: 'string' }, python: { type: 'string' }, concurrency: { type: 'string', default: '4' } },
  });
  const corpusPath = positionals[0];
  if (corpusPath === undefined) throw new Error('usage: serve-replay CORPUS [--protocol vllm|fgserve|mlx] [--corrupt KIND:RATE[:SEED]]');
  const tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-serve-replay-')));
  const codec = await loadTokenizer(tokenizerPath);
  let rateCorruption: RateCorruption | undefined;
  if (values.corrupt) {
    const [kind, rate, seed] = values.corrupt.split(':');
    rateCorruption = { kind: kind as RateCorruption['kind'], rate: Number(rate), seed: seed === undefined ? 0 : Number(seed) };
  }
  const replay = createReplayModel({ codec, rateCorruption });
  const corpus = loadCorpus(corpusPath);
  const started = performance.now();
  const traces = await prepareCorpusItems(replay, corpus.items, { python: values.python, concurrency: Number(values.concurrency) });
  process.stderr.write(`traced ${traces.size} of ${corpus.items.length} programs in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  const server = await startProtocolServer({ protocol: values.protocol as BackendKind, codec, model: replay.model });
  process.stdout.write(`endpoint ${server.url}\ntokenizer ${tokenizerPath}\n` +
    `run: node dist/cli.js eval ${corpusPath} --endpoint ${server.url} --tokenizer ${tokenizerPath}\n`);
  const stop = async () => {
    await server.close();
    codec.dispose();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`serve-replay failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
