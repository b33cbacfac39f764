// Must-show of issue 10: with no option beyond --endpoint and --tokenizer, predict, compare, samples, eval and debug
// sessions work against test servers that follow the real fgserve, vLLM (max_model_len 32768) and MLX-LM rules.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { loadCorpus, selectItems } from '../../server/eval/corpus';
import { Debuggee } from '../helpers/debuggee';
import { examplesDir, fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer, type ProtocolServerOptions } from '../servers/protocol-server';
import { createReplayModel, prepareCorpusItems, type ReplayModel } from '../servers/replay-model';
import { runCli } from '../helpers/cli-run';

const CORPUS = join(fixturesDir, 'corpus', 'cruxeval.jsonl');
const LOOP = join(fixturesDir, 'adapter', 'loop.py');
const INVENTORY = join(examplesDir, 'inventory.py');
const SLICE = 20;

const cli = (args: string[]) => runCli(args);

const SERVERS: { name: string; options: Omit<ProtocolServerOptions, 'codec' | 'model'> }[] = [
  { name: 'fgserve', options: { protocol: 'fgserve' } },
  { name: 'vLLM', options: { protocol: 'vllm', maxModelLen: 32768 } },
  // mlx_lm without a Hugging Face cache folder: its model list is a 200 with an empty body.
  { name: 'MLX-LM', options: { protocol: 'mlx', emptyModelList: true } },
];

let codec: CwmTokenizer;
let tokenizerPath: string;
let replay: ReplayModel;
let work: string;
let slice: string;
const servers = new Map<string, ProtocolServer>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cwm-real-servers-'));
  tokenizerPath = await writeTestTokenizer(work);
  codec = await loadTokenizer(tokenizerPath);
  replay = createReplayModel({ codec });
  await replay.prepare({ file: INVENTORY });
  await replay.prepare({ file: LOOP, entry: 'main', args: '8' });
  // The slice as a corpus of its own, so eval needs no option to select it.
  const items = selectItems(loadCorpus(CORPUS).items, SLICE);
  const lines = readFileSync(CORPUS, 'utf8').split('\n').filter((line) => line.trim() !== '');
  slice = join(work, 'cruxeval-slice.jsonl');
  const wanted = new Set(items.map((item) => item.id));
  writeFileSync(slice, lines.filter((line) => wanted.has((JSON.parse(line) as { id: string }).id)).join('\n') + '\n');
  await prepareCorpusItems(replay, loadCorpus(slice).items);
  for (const { name, options } of SERVERS) servers.set(name, await startProtocolServer({ ...options, codec, model: replay.model }));
});

after(async () => {
  for (const server of servers.values()) await server.close();
  codec?.dispose();
});

const posts = (server: ProtocolServer) => server.requests.filter((r) => r.method === 'POST');

for (const { name } of SERVERS) {
  describe(`${name} with the real rules, default settings`, { timeout: 120_000 }, () => {
    const model = () => ['--endpoint', servers.get(name)!.url, '--tokenizer', tokenizerPath];

    test('predict, compare and predict --samples 3 succeed', async () => {
      const predicted = await cli(['predict', INVENTORY, ...model()]);
      assert.equal(predicted.code, 0, predicted.stderr);
      assert.match(predicted.stdout, /The model ended the trace after 35 steps\./);
      const compared = await cli(['compare', INVENTORY, ...model()]);
      assert.equal(compared.code, 0, compared.stderr);
      assert.match(compared.stdout, /No divergence/);
      const sampled = await cli(['predict', INVENTORY, '--samples', '3', ...model()]);
      assert.equal(sampled.code, 0, sampled.stderr);
      assert.match(sampled.stdout, /agreement of 3\b/);
      assert.match(sampled.stdout, /return\s+23 .*→ 6\.5\s+action 3\/3/);
      const server = servers.get(name)!;
      for (const request of posts(server)) {
        const body = request.body as { temperature?: number; n?: number; seed?: number };
        if (name === 'fgserve') assert.ok(body.temperature !== 0, 'fgserve got temperature 0');
        if (name === 'MLX-LM') assert.equal(body.seed, undefined, 'mlx got a seed nobody asked for');
        if ((body.n ?? 1) > 1) assert.ok((body.temperature ?? 1) > 0, 'several samples asked for at temperature 0');
      }
    });

    test(`eval on a ${SLICE}-program CRUXEval slice succeeds`, async () => {
      const out = join(work, `eval-${name}`);
      const result = await cli(['eval', slice, '--concurrency', '4', '--out', out, ...model()]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`${SLICE} programs evaluated`));
      assert.match(result.stdout, /Output \(CRUXEval-O\)\s+100\.0%/);
      assert.doesNotMatch(result.stdout, /could not be evaluated/);
    });

    test('a predict-mode and a compare-mode debug session step in, over, back and run to a line', async () => {
      for (const mode of ['predict', 'compare']) {
        const session = await Debuggee.open();
        try {
          await session.launch({ program: LOOP, mode, entry: 'main', args: '8', endpoints: [servers.get(name)!.url], tokenizer: tokenizerPath });
          for (let i = 0; i < 3; i++) await session.move('stepIn'); // total = 0, for, sq = square(i)
          assert.equal((await session.stack())[0]!.line, 12, mode);
          await session.move('next'); // over square(0)
          assert.equal((await session.stack())[0]!.line, 13, mode);
          await session.move('stepIn');
          await session.move('stepBack');
          assert.equal((await session.stack())[0]!.line, 13, mode);
          const stop = await session.move('goto', { threadId: 1, targetId: 16 });
          assert.equal(stop.body.reason, 'goto', mode);
          assert.equal((await session.values()).total, '140', mode);
        } finally {
          await session.close();
        }
      }
    });
  });
}

describe('a trace that outgrows a 4096-token served context', { timeout: 120_000 }, () => {
  test('steps to its end, the oldest steps cut with one notice', async () => {
    const program = join(work, 'grow.py');
    writeFileSync(program, 'def grow(n):\n    acc = []\n    for i in range(n):\n        acc.append(i * 7)\n    return len(acc)\n');
    const real = await replay.prepare({ file: program, entry: 'grow', args: '70' });
    const server = await startProtocolServer({ protocol: 'vllm', maxModelLen: 4096, codec, model: replay.model });
    const session = await Debuggee.open();
    try {
      await session.launch({ program, mode: 'predict', entry: 'grow', args: '70', endpoints: [server.url], tokenizer: tokenizerPath });
      let steps = 0;
      for (; steps < 1000; steps++) if ((await session.move('stepIn')).body.reason === 'end') break;
      const state = await session.state();
      assert.equal(state.position, real.frames.length - 1);
      assert.equal(state.frame?.value, '70');
      const notices = session.console().split('\n').filter((line) => /no longer fits the endpoint's context \(4096 tokens\)/.test(line));
      assert.equal(notices.length, 1, session.console());
      const largest = Math.max(...posts(server).map((r) => (r.promptIds?.length ?? 0) + ((r.body as { max_tokens: number }).max_tokens)));
      assert.ok(largest <= 4096, `a request asked for ${largest} tokens`);
      assert.ok(posts(server).every((r) => r.status === 200), 'a request was refused');
    } finally {
      await session.close();
      await server.close();
    }
  });
});
