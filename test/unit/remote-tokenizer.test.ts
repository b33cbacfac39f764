// No tokenizer file with a vLLM endpoint: the client tokenizes and detokenizes through the server's POST /tokenize and
// /detokenize (the loopback vLLM stand-in, with the test tokenizer as its Hugging Face tokenizer), exactly and cached.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { Tok } from '../../server/cwm/tokens';
import { markEntryLine } from '../../server/cwm/writer';
import { connectModel, ModelOptionError } from '../../server/engine/connect-model';
import { checkEndpoints } from '../../server/endpoint/health';
import { connectRemoteTokenizer, spacingVariants, splitAroundSpecialText, splitLongText, type RemoteTokenizer } from '../../server/endpoint/remote-tokenizer';
import { examplesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';
import { runCli } from '../helpers/cli-run';


const run = (args: string[]) => runCli(args);

// Special-token text in the program: a Hugging Face tokenizer would make it special tokens if sent as it is.
const MARKED_PROGRAM = `# CWM ends frames with <|frame_sep|> and starts calls with <|call_sep|>: here it is ordinary text.
MARKER = "<|frame_sep|>"


def count_up(n):
    total = 0
    for i in range(n):
        total += i
    return total
`;

let local: CwmTokenizer;
let replay: ReplayModel;
let vllm: ProtocolServer;
let workDir: string;

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'cwm-remote-tok-'));
  local = await loadTokenizer(await writeTestTokenizer(workDir));
  replay = createReplayModel({ codec: local });
  vllm = await startProtocolServer({ protocol: 'vllm', codec: local, model: replay.model });
});

after(async () => {
  await vllm?.close();
  local?.dispose();
});

function requestsTo(path: string): number {
  return vllm.requests.filter((r) => r.method === 'POST' && r.path === path).length;
}

describe('the vLLM endpoint as the tokenizer', { timeout: 120_000 }, () => {
  let remote: RemoteTokenizer;
  before(async () => {
    remote = await connectRemoteTokenizer({ url: vllm.url, backend: 'auto' }, 'cli');
  });
  after(async () => {
    await remote?.close();
  });

  test('special tokens have the server tokenizer ids', () => {
    for (const text of Object.values(Tok)) assert.equal(remote.specialTokenId(text), local.specialTokenId(text), text);
    assert.equal(remote.ordinaryCount, local.ordinaryCount);
  });

  test('texts tokenize exactly as the local tokenizer encodes ordinary text, special-token text kept ordinary, in one request', async () => {
    const texts = [
      markEntryLine(MARKED_PROGRAM, { kind: 'function', name: 'count_up', line: 5 }),
      "x = '<|frame_sep|>'\n",
      '{"s": "\'a<|call_sep|><|line_sep|>b\'", "t": "<|not_a_token|>"}',
      '<|begin_of_text|>',
      '    indented\n\tand tabbed  \n',
      'naïve café ✓ 😀 漢字',
      '<|',
      '|>',
    ];
    const before = requestsTo('/tokenize');
    await remote.prepareOrdinary(texts);
    assert.equal(requestsTo('/tokenize') - before, 1, 'every text went in one /tokenize request');
    for (const text of texts) assert.deepEqual(remote.encodeOrdinary(text), local.encodeOrdinary(text), JSON.stringify(text));
    await remote.prepareOrdinary(texts);
    assert.equal(requestsTo('/tokenize') - before, 1, 'the second time comes from the cache');
    assert.equal(remote.takeWarning(), undefined, 'nothing to warn about: the special-token text stayed ordinary');
  });

  test('the cut after `<|` keeps every piece free of special-token text', () => {
    assert.deepEqual(splitAroundSpecialText('a<|frame_sep|>b<|x|>'), ['a<|', 'frame_sep|>b<|', 'x|>']);
    assert.deepEqual(splitAroundSpecialText('plain'), ['plain']);
  });

  test('a stream decodes id by id, characters split over several tokens included, and ids are asked about once', async () => {
    const text = `${Tok.callSep}{"s": "'naïve ✓ 😀'"}${Tok.actionSep}    s = '漢字'\n${Tok.frameSep}${Tok.endOfText}`;
    const ids = local.encodeWithSpecialTokens(text);
    const decodeAll = async (): Promise<string> => {
      const decoder = remote.asyncStreamDecoder();
      let out = '';
      for (const id of ids) out += await decoder.push([id]);
      return out + (await decoder.end());
    };
    assert.equal(await decodeAll(), text);
    const before = requestsTo('/detokenize');
    assert.equal(await decodeAll(), text);
    assert.equal(requestsTo('/detokenize') - before, 0, 'the second pass comes from the cache, split characters included');
  });
});

describe("the vLLM test server's /tokenize and /detokenize follow vLLM's rules", { timeout: 30_000 }, () => {
  async function post(path: string, body: unknown): Promise<{ status: number; json: { error?: { message: string; type: string; code: number } } & Record<string, unknown> }> {
    const res = await request(`${vllm.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.statusCode, json: (await res.body.json()) as never };
  }

  test('a prompt is tokenized with <|begin_of_text|> unless add_special_tokens is false, special-token text as special tokens', async () => {
    const bos = local.specialTokenId(Tok.beginOfText)!;
    const frameSep = local.specialTokenId(Tok.frameSep)!;
    const withBos = await post('/tokenize', { prompt: `a${Tok.frameSep}` });
    assert.equal(withBos.status, 200);
    assert.deepEqual(withBos.json.tokens, [bos, ...local.encodeOrdinary('a'), frameSep]);
    assert.equal(withBos.json.count, 3);
    assert.equal(typeof withBos.json.max_model_len, 'number');
    const without = await post('/tokenize', { prompt: 'a', add_special_tokens: false });
    assert.deepEqual(without.json.tokens, local.encodeOrdinary('a'));
    const back = await post('/detokenize', { tokens: [bos, ...local.encodeOrdinary('a'), frameSep] });
    assert.equal(back.json.prompt, `${Tok.beginOfText}a${Tok.frameSep}`);
  });

  test('bad bodies get 400 and an unknown model 404, in vLLM\'s error shape', async () => {
    for (const [path, body] of [['/tokenize', { prompt: 5 }], ['/tokenize', {}], ['/detokenize', { tokens: [-1] }], ['/detokenize', { tokens: 'abc' }]] as const) {
      const answer = await post(path, body);
      assert.equal(answer.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(answer.json.error?.type, 'BadRequestError');
      assert.equal(answer.json.error?.code, 400);
    }
    const unknown = await post('/tokenize', { model: 'someone/else', prompt: 'x' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error?.message, 'The model `someone/else` does not exist.');
  });
});

describe('a vLLM served with a short context (max_model_len 512)', { timeout: 60_000 }, () => {
  test('every /tokenize and /detokenize request fits the served length, and the tokens are still exact', async () => {
    const short = await startProtocolServer({ protocol: 'vllm', codec: local, model: replay.model, maxModelLen: 512 });
    const remote = await connectRemoteTokenizer({ url: short.url, backend: 'vllm' }, 'cli');
    try {
      const program = Array.from({ length: 300 }, (_, i) => `def f${i}(x):\n    return x + ${i}  # <|frame_sep|> ${'é'.repeat(i % 7)}\n`).join('\n');
      await remote.prepareOrdinary([program]);
      assert.deepEqual(remote.encodeOrdinary(program), local.encodeOrdinary(program));
      const refused = short.requests.filter((r) => r.status !== undefined && r.status >= 400);
      assert.deepEqual(refused.map((r) => `${r.path} ${r.status}`), []);
      assert.ok(short.requests.filter((r) => r.path === '/tokenize').length > 10, 'the program went in many requests');
    } finally {
      await remote.close();
      await short.close();
    }
  });

  test('long texts are cut only after a line end followed by a non-blank character', () => {
    assert.deepEqual(splitLongText('ab\ncd\n  ef\ngh', 4), ['ab\n', 'cd\n  ef\n', 'gh']);
    assert.deepEqual(splitLongText('short', 100), ['short']);
    assert.deepEqual(splitLongText('one very long line', 4), ['one very long line']);
  });
});

describe('a vLLM whose decode cleans up spaces (clean_up_tokenization_spaces)', { timeout: 60_000 }, () => {
  test('token texts that lost a space are found again by tokenizing them back', async () => {
    const cleaning = await startProtocolServer({ protocol: 'vllm', codec: local, model: replay.model, detokenizeCleansSpaces: true });
    const remote = await connectRemoteTokenizer({ url: cleaning.url, backend: 'vllm' }, 'cli');
    try {
      const text = `${Tok.lineSep}{"s": "'it 's'", "t": "[1 , 2]"}${Tok.actionSep}    x = a .b if c else "don 't !"\n${Tok.frameSep}`;
      const ids = local.encodeWithSpecialTokens(text);
      const decoder = remote.asyncStreamDecoder();
      let out = '';
      for (const id of ids) out += await decoder.push([id]);
      assert.equal(out + (await decoder.end()), text);
    } finally {
      await remote.close();
      await cleaning.close();
    }
  });

  test('the spellings tried put spaces back before punctuation and around quotes', () => {
    assert.deepEqual(spacingVariants('abc'), ['abc']);
    assert.ok(spacingVariants(',').includes(' ,'));
    assert.ok(spacingVariants("'s").includes(" 's"));
    assert.ok(spacingVariants("'").includes(" ' "));
  });
});

describe('predict and compare with no tokenizer file', { timeout: 120_000 }, () => {
  test('predict of a program holding special-token text: the context is sent as ordinary tokens and the trace is right', async () => {
    const file = join(workDir, 'marked.py');
    writeFileSync(file, MARKED_PROGRAM);
    const real = await replay.prepare({ file, entry: 'count_up', args: '3' });
    const before = vllm.requests.length;
    const result = await run(['predict', file, '--entry', 'count_up', '--args', '3', '--endpoint', vllm.url]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`The model ended the trace after ${real.frames.length} steps\\.`));
    assert.doesNotMatch(result.stderr, /special token/);
    const mine = vllm.requests.slice(before).filter((r) => r.method === 'POST');
    assert.ok(mine.some((r) => r.path === '/tokenize') && mine.some((r) => r.path === '/detokenize'), 'the server tokenized and detokenized');
    const context = markEntryLine(real.source, real.entry);
    const contextIds = local.encodeOrdinary(context);
    const prompts = mine.filter((r) => r.path === '/v1/completions').map((r) => (r.body as { prompt: number[] }).prompt);
    assert.ok(prompts.length > 0);
    for (const prompt of prompts) {
      assert.deepEqual(prompt.slice(2, 2 + contextIds.length), contextIds, 'the context is ordinary text, token for token');
      assert.equal(prompt[2 + contextIds.length], local.specialTokenId(Tok.frameSep));
    }
  });

  test('compare of a faithful prediction finds no divergence', async () => {
    const program = join(examplesDir, 'inventory.py');
    await replay.prepare({ file: program });
    const result = await run(['compare', program, '--endpoint', vllm.url]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /No divergence/);
    assert.match(result.stdout, /return value: match \(real 6\.5, predicted 6\.5\)/);
  });

  test("VS Code's endpoint check is ready with a vLLM endpoint and no tokenizer file", async () => {
    const health = await checkEndpoints({ endpoints: [vllm.url], backend: 'auto', allowInsecureHttp: true, timeoutMs: 10_000 });
    assert.equal(health.state, 'ok', health.summary);
    assert.match(health.summary, /on vllm at/);
  });

  test('fgserve and MLX-LM need the tokenizer file, and the message names the setting of the front end', async () => {
    for (const protocol of ['fgserve', 'mlx'] as const) {
      const server = await startProtocolServer({ protocol, codec: local, model: replay.model });
      try {
        const settings = { endpoints: [server.url], backend: 'auto' as const, samples: 1, temperature: 0, requestTimeoutMs: 10_000 };
        await assert.rejects(connectModel(settings), (error: unknown) => {
          assert.ok(error instanceof ModelOptionError);
          assert.equal(error.setting, 'tokenizer');
          assert.match(error.message, /set --tokenizer PATH/);
          return true;
        });
        await assert.rejects(connectModel(settings, { terms: 'vscode' }), /set cwmDebug\.tokenizerPath/);
        const health = await checkEndpoints({ endpoints: [server.url], backend: 'auto', allowInsecureHttp: true, timeoutMs: 10_000 });
        assert.equal(health.state, 'tokenizer');
        assert.match(health.summary, /set cwmDebug\.tokenizerPath/);
        const result = await run(['predict', join(examplesDir, 'inventory.py'), '--endpoint', server.url]);
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, /fgserve and MLX-LM need the CWM checkpoint's tokenizer\.model: set --tokenizer PATH/);
      } finally {
        await server.close();
      }
    }
  });
});
