// The strict test servers break the way the real fgserve, vLLM and mlx_lm do when a rule is broken on purpose, and
// the endpoint clients keep to those rules (and explain, in the user's terms, when a server still fails).
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { Tok } from '../../server/cwm/tokens';
import { collectCompletion, connectEndpoint, EndpointError, type CompletionRequest, type EndpointClient, type EndpointConfig } from '../../server/endpoint';
import { inCliTerms } from '../../server/endpoint/errors';
import { PredictionSession } from '../../server/engine/session';
import { createCharCodec, startProtocolServer, type ProtocolServer, type ProtocolServerOptions, type TestModel } from '../servers/protocol-server';

const codec = createCharCodec();
const id = (text: string): number => codec.specialTokenId(text)!;
const ids = (text: string): number[] => codec.encodeWithSpecialTokens(text);
const PROMPT = [id(Tok.beginOfText), ...ids(`${Tok.traceContextStart}def f(a): # << START_OF_TRACE\n    return a\n${Tok.frameSep}`)];
const FRAME = ids(`${Tok.lineSep}{"a": "1"}${Tok.actionSep}    return a\n${Tok.frameSep}`);

/** One frame, whatever the prompt. */
const oneFrame: TestModel = () => FRAME;

const servers: ProtocolServer[] = [];
const clients: EndpointClient[] = [];
after(async () => {
  for (const client of clients) await client.close();
  for (const server of servers) await server.close();
});

async function serve(options: Omit<ProtocolServerOptions, 'codec' | 'model'> & { model?: TestModel }): Promise<ProtocolServer> {
  const server = await startProtocolServer({ codec, model: oneFrame, ...options });
  servers.push(server);
  return server;
}

async function connect(server: ProtocolServer, config: Partial<EndpointConfig> = {}): Promise<EndpointClient> {
  const client = await connectEndpoint({ url: server.url, timeouts: { firstTokenMs: 3_000, totalMs: 8_000 }, ...config }, codec);
  clients.push(client);
  return client;
}

function frameRequest(extra: Partial<CompletionRequest> = {}): CompletionRequest {
  return { promptIds: PROMPT, maxTokens: 100, temperature: 0, stopAtFrameEnd: true, ...extra };
}

/** POSTs JSON and reads the whole answer; `silent` when nothing came back within `waitMs`, `dropped` when the socket closed. */
async function post(url: string, body: unknown, waitMs = 5_000): Promise<{ status: number; text: string; type: string } | 'silent' | 'dropped'> {
  try {
    const res = await request(url, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(waitMs) });
    return { status: res.statusCode, text: await res.body.text(), type: String(res.headers['content-type'] ?? '') };
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'silent';
    return 'dropped';
  }
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

describe('fgserve rules', { timeout: 30_000 }, () => {
  test('temperature 0 is never answered, and stalls the requests after it for a while', async () => {
    const server = await serve({ protocol: 'fgserve', stuckAfterZeroTemperatureMs: 1_000 });
    assert.equal(await post(`${server.url}/completions`, { prompt: PROMPT, temperature: 0, max_tokens: 10 }, 400), 'silent');
    assert.equal(await post(`${server.url}/completions`, { prompt: PROMPT, temperature: 0.6, max_tokens: 10 }, 300), 'silent');
    await new Promise((resolve) => setTimeout(resolve, 800));
    const later = await post(`${server.url}/completions`, { prompt: PROMPT, temperature: 0.6, max_tokens: 10 });
    assert.ok(typeof later === 'object' && later.status === 200, JSON.stringify(later));
  });

  test('a list of stop strings is a 500 HTML page', async () => {
    const server = await serve({ protocol: 'fgserve' });
    const answer = await post(`${server.url}/completions`, { prompt: PROMPT, temperature: 0.6, stop: [Tok.frameSep] });
    assert.ok(typeof answer === 'object');
    assert.equal(answer.status, 500);
    assert.match(answer.type, /text\/html/);
    assert.match(answer.text, /<title>500 Internal Server Error<\/title>/);
  });

  test('n samples run one after another inside one request', async () => {
    const server = await serve({ protocol: 'fgserve', faults: { tokenLatencyMs: 5 } });
    const answer = await post(`${server.url}/completions`, { prompt: PROMPT, temperature: 0.6, n: 3, max_tokens: 20 });
    assert.ok(typeof answer === 'object' && answer.status === 200);
    const generations = server.requests[0]!.generations!;
    assert.equal(generations.length, 3);
    for (let k = 1; k < 3; k++) assert.ok(generations[k]!.start >= generations[k - 1]!.end, `sample ${k} started before sample ${k - 1} ended`);
  });

  test('a prompt at or past max_seq is never answered', async () => {
    const server = await serve({ protocol: 'fgserve', maxSeq: PROMPT.length });
    assert.equal(await post(`${server.url}/completions`, { prompt: PROMPT, temperature: 0.6, max_tokens: 10 }, 400), 'silent');
  });

  const outside = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
  test('it listens on loopback only', { skip: outside === undefined ? 'no address outside loopback' : false }, async () => {
    const server = await serve({ protocol: 'fgserve' });
    const port = new URL(server.url).port;
    assert.equal((await get(`${server.url}/completions`)).status, 405);
    await assert.rejects(request(`http://${outside!.address}:${port}/completions`), /ECONNREFUSED/);
  });
});

describe('vLLM rules', { timeout: 30_000 }, () => {
  test('/v1/models reports the served max_model_len', async () => {
    const server = await serve({ protocol: 'vllm', maxModelLen: 32768 });
    const models = JSON.parse((await get(`${server.url}/v1/models`)).text) as { data: { max_model_len: number }[] };
    assert.equal(models.data[0]!.max_model_len, 32768);
  });

  test('a prompt plus max_tokens past max_model_len is a 400 with its JSON error', async () => {
    const server = await serve({ protocol: 'vllm', maxModelLen: 32768 });
    const answer = await post(`${server.url}/v1/completions`, { prompt: PROMPT, max_tokens: 32768 - PROMPT.length + 1 });
    assert.ok(typeof answer === 'object');
    assert.equal(answer.status, 400);
    assert.deepEqual(JSON.parse(answer.text), {
      error: {
        message: `This model's maximum context length is 32768 tokens. However, you requested 32769 tokens (${PROMPT.length} in the messages, ${32769 - PROMPT.length} in the completion). Please reduce the length of the messages or completion.`,
        type: 'BadRequestError',
        param: null,
        code: 400,
      },
    });
    const fits = await post(`${server.url}/v1/completions`, { prompt: PROMPT, max_tokens: 32768 - PROMPT.length });
    assert.ok(typeof fits === 'object' && fits.status === 200);
  });

  test('n > 1 at temperature 0 is a 400', async () => {
    const server = await serve({ protocol: 'vllm' });
    const answer = await post(`${server.url}/v1/completions`, { prompt: PROMPT, max_tokens: 10, temperature: 0, n: 2 });
    assert.ok(typeof answer === 'object');
    assert.equal(answer.status, 400);
    assert.equal((JSON.parse(answer.text) as { error: { message: string } }).error.message, 'n must be 1 when using greedy sampling, got 2.');
  });

  test('token_ids and prompt_token_ids come only with return_token_ids', async () => {
    const server = await serve({ protocol: 'vllm' });
    type Choice = { token_ids: number[] | null; prompt_token_ids: number[] | null };
    const choice = async (extra: object): Promise<Choice> => {
      const answer = await post(`${server.url}/v1/completions`, { prompt: PROMPT, max_tokens: 30, ...extra });
      assert.ok(typeof answer === 'object' && answer.status === 200);
      return (JSON.parse(answer.text) as { choices: Choice[] }).choices[0]!;
    };
    const without = await choice({});
    assert.equal(without.token_ids, null);
    assert.equal(without.prompt_token_ids, null);
    const withIds = await choice({ return_token_ids: true });
    assert.deepEqual(withIds.token_ids, FRAME.slice(0, 30));
    assert.deepEqual(withIds.prompt_token_ids, PROMPT);
  });

  test('cached_tokens are reported only with --enable-prompt-tokens-details', async () => {
    const usage = async (server: ProtocolServer): Promise<Record<string, unknown>> => {
      const prompt = [...PROMPT, ...Array.from({ length: 40 }, () => PROMPT[1]!)];
      await post(`${server.url}/v1/completions`, { prompt, max_tokens: 5 });
      const answer = await post(`${server.url}/v1/completions`, { prompt: [...prompt, ...FRAME], max_tokens: 5 });
      assert.ok(typeof answer === 'object' && answer.status === 200);
      return (JSON.parse(answer.text) as { usage: Record<string, unknown> }).usage;
    };
    assert.equal((await usage(await serve({ protocol: 'vllm' }))).prompt_tokens_details, undefined);
    const details = (await usage(await serve({ protocol: 'vllm', promptTokensDetails: true }))).prompt_tokens_details as { cached_tokens: number };
    assert.ok(details.cached_tokens > 0);
  });
});

describe('mlx_lm rules', { timeout: 30_000 }, () => {
  test('a long prefill sends `: keepalive processed/total` comments before any data', async () => {
    const server = await serve({ protocol: 'mlx', faults: { prefillMsPerToken: 0.2 } });
    const prompt = codec.decode(PROMPT.slice(1)) + 'x'.repeat(1000);
    const answer = await post(`${server.url}/v1/completions`, { prompt, max_tokens: 5, stream: true });
    assert.ok(typeof answer === 'object' && answer.status === 200);
    const beforeData = answer.text.slice(0, answer.text.indexOf('data:'));
    const comments = beforeData.split('\n').filter((line) => line.startsWith(': keepalive'));
    assert.ok(comments.length >= 4, beforeData);
    assert.match(comments.at(-1)!, /^: keepalive (\d+)\/\1$/);
  });

  test('token ids come in logprobs only without streaming', async () => {
    const server = await serve({ protocol: 'mlx' });
    const prompt = codec.decode(PROMPT.slice(1));
    const whole = await post(`${server.url}/v1/completions`, { prompt, max_tokens: 50, logprobs: true });
    assert.ok(typeof whole === 'object' && whole.status === 200);
    const content = (JSON.parse(whole.text) as { choices: { logprobs: { content: { id: number }[] } }[] }).choices[0]!.logprobs.content;
    assert.deepEqual(content.map((c) => c.id), FRAME);
    const streamed = await post(`${server.url}/v1/completions`, { prompt, max_tokens: 50, logprobs: true, stream: true });
    assert.ok(typeof streamed === 'object' && streamed.status === 200);
    assert.doesNotMatch(streamed.text, /logprobs/);
  });

  test('without a Hugging Face cache folder /v1/models is a 200 with an empty body', async () => {
    const server = await serve({ protocol: 'mlx', emptyModelList: true });
    assert.deepEqual(await get(`${server.url}/v1/models`), { status: 200, text: '' });
  });

  test('a bad parameter drops the connection without an answer', async () => {
    const server = await serve({ protocol: 'mlx' });
    assert.equal(await post(`${server.url}/v1/completions`, { prompt: 'x', temperature: 'hot' }), 'dropped');
    assert.equal(await post(`${server.url}/v1/completions`, { prompt: 'x', top_logprobs: 50 }), 'dropped');
  });

  test('a seeded request is served alone, after the one before', async () => {
    const server = await serve({ protocol: 'mlx', faults: { tokenLatencyMs: 20 } });
    const prompt = codec.decode(PROMPT.slice(1));
    await Promise.all([0, 1].map(() => post(`${server.url}/v1/completions`, { prompt, max_tokens: 8, seed: 1 })));
    const [first, second] = server.requests.map((r) => r.generations![0]!).sort((a, b) => a.start - b.start);
    assert.ok(second!.start >= first!.end, 'two seeded requests were generated side by side');
  });
});

describe('the clients keep to the rules', { timeout: 30_000 }, () => {
  test('fgserve never gets temperature 0, and several samples go as parallel single requests', async () => {
    // 20 ms a token: each generation takes most of a second, so samples sent together overlap even on a loaded machine.
    const server = await serve({ protocol: 'fgserve', faults: { tokenLatencyMs: 20 } });
    const client = await connect(server);
    const one = await collectCompletion(client.complete(frameRequest()));
    assert.deepEqual(one.choices, [FRAME]);
    const three = await collectCompletion(client.complete(frameRequest({ n: 3, temperature: 0.6 })));
    assert.equal(three.choices.length, 3);
    const posts = server.requests.filter((r) => r.method === 'POST');
    assert.deepEqual(posts.map((r) => (r.body as { temperature: number }).temperature), [0.01, 0.6, 0.6, 0.6]);
    assert.deepEqual(posts.map((r) => (r.body as { n: number }).n), [1, 1, 1, 1]);
    const [a, b, c] = posts.slice(1).map((r) => r.generations![0]!);
    assert.ok(b!.start < a!.end && c!.start < a!.end, 'the samples did not run side by side');
  });

  test("fgserve's deadline grows with the tokens asked for; when it passes, the message names the likely causes", async () => {
    const server = await serve({ protocol: 'fgserve', faults: { tokenLatencyMs: 10 }, model: () => FRAME.slice(0, -1) });
    // About 40 tokens at 10 ms: the answer comes after twice the 200 ms first-token timeout, within the 2 s it grows to.
    const patient = await connect(server, { timeouts: { firstTokenMs: 200, totalMs: 400, perTokenMs: 20 } });
    assert.equal((await collectCompletion(patient.complete(frameRequest({ maxTokens: 100, stopAtFrameEnd: false })))).choices[0]!.length, FRAME.length - 1);
    const strict = await connect(server, { timeouts: { firstTokenMs: 200, totalMs: 400, perTokenMs: 0 } });
    const error = await collectCompletion(strict.complete(frameRequest({ maxTokens: 100, stopAtFrameEnd: false }))).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof EndpointError && error.kind === 'timeout', String(error));
    assert.match(error.message, /^fgserve at http:\/\/127\.0\.0\.1:\d+ sent no answer in 0\.2 s/);
    assert.match(error.message, /temperature 0/);
    assert.match(error.message, /max_seq/);
    assert.match(error.message, /raise cwmDebug\.requestTimeoutSeconds\.$/);
    assert.match(inCliTerms(error.message), /raise --request-timeout\.$/);
  });

  test('a vLLM request never asks for more than max_model_len, and greedy samples are one request', async () => {
    const server = await serve({ protocol: 'vllm', maxModelLen: 4096 });
    const client = await connect(server);
    assert.equal(client.contextTokens, 4096);
    await collectCompletion(client.complete(frameRequest({ maxTokens: 131072 })));
    const three = await collectCompletion(client.complete(frameRequest({ n: 3 })));
    assert.deepEqual(three.choices, [FRAME, FRAME, FRAME]);
    const posts = server.requests.filter((r) => r.method === 'POST');
    assert.deepEqual(posts.map((r) => r.status), [200, 200]);
    assert.equal((posts[0]!.body as { max_tokens: number }).max_tokens, 4096 - PROMPT.length);
    assert.equal((posts[1]!.body as { n: number }).n, 1);
    const configured = await connect(server, { contextTokens: 2048 });
    assert.equal(configured.contextTokens, 2048);
    const full = await collectCompletion(configured.complete(frameRequest({ promptIds: [...PROMPT, ...new Array<number>(2048).fill(PROMPT[1]!)] }))).then(() => undefined, (e: unknown) => e);
    assert.ok(full instanceof EndpointError && full.kind === 'context', String(full));
    assert.match(full.message, /leaves no room to generate in the 2048-token context/);
  });

  test("vLLM's context 400 says the served length and what to set", async () => {
    const options: ProtocolServerOptions = { protocol: 'vllm', maxModelLen: 32768, codec, model: oneFrame };
    const server = await startProtocolServer(options);
    servers.push(server);
    const client = await connect(server);
    options.maxModelLen = 1000; // restarted with a smaller --max-model-len since the client connected
    const error = await collectCompletion(client.complete(frameRequest({ maxTokens: 5000 }))).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof EndpointError && error.kind === 'context', String(error));
    assert.match(error.message, /serves a context of 1000 tokens \(its --max-model-len\) and this request needs 5\d{3} \(HTTP 400\)/);
    assert.match(error.message, /set cwmDebug\.contextTokens to 1000 or less\.$/);
    assert.match(inCliTerms(error.message), /set --context-tokens to 1000 or less\.$/);
  });

  test('mlx_lm: keepalives through a prefill longer than the first-token timeout count as progress', async () => {
    const server = await serve({ protocol: 'mlx', faults: { prefillMsPerToken: 0.5 } });
    const client = await connect(server, { timeouts: { firstTokenMs: 400, totalMs: 8_000 } });
    // 3000 prompt tokens at 0.5 ms: 1.5 s of prefill, a keepalive every 256 tokens (128 ms).
    const long = [...PROMPT.slice(0, -1), ...ids('x'.repeat(3000)), PROMPT.at(-1)!];
    const { choices } = await collectCompletion(client.complete(frameRequest({ promptIds: long })));
    assert.deepEqual(choices, [FRAME]);
  });

  test('mlx_lm: an empty model list falls back to the configured model, with a warning', async () => {
    const server = await serve({ protocol: 'mlx', emptyModelList: true });
    const detected = await connect(server);
    assert.equal(detected.kind, 'mlx');
    assert.match(detected.warnings.join('\n'), /empty or unreadable body .* requests go to the model it was started with/);
    const named = await connect(server, { model: 'mlx-community/cwm-4bit' });
    assert.equal(named.model, 'mlx-community/cwm-4bit');
    assert.match(named.warnings.join('\n'), /requests go to the configured model "mlx-community\/cwm-4bit"/);
    assert.deepEqual((await collectCompletion(named.complete(frameRequest()))).choices, [FRAME]);
    assert.equal((server.requests.at(-1)!.body as { model: string }).model, 'mlx-community/cwm-4bit');
  });

  test('mlx_lm gets a seed only when one was set, and never for greedy decoding', async () => {
    const server = await serve({ protocol: 'mlx' });
    const client = await connect(server);
    await collectCompletion(client.complete(frameRequest()));
    await collectCompletion(client.complete(frameRequest({ seed: 5 })));
    await collectCompletion(client.complete(frameRequest({ seed: 5, temperature: 0.6 })));
    const seeds = server.requests.filter((r) => r.method === 'POST').map((r) => (r.body as { seed?: number }).seed);
    assert.deepEqual(seeds, [undefined, undefined, 5]);
  });

  test('samples and restarts use the sample temperature; parallel samples carry no seed nobody set', async () => {
    const server = await serve({ protocol: 'vllm' });
    const client = await connect(server);
    const session = new PredictionSession({
      source: 'def f(a):\n    return a\n', entry: { kind: 'function', name: 'f', line: 1 }, backend: client, codec,
    });
    await session.sample(2);
    await session.sample(2, { parallelRequests: true });
    await session.restart();
    const bodies = server.requests.filter((r) => r.method === 'POST').map((r) => r.body as { temperature: number; n: number; seed?: number });
    assert.deepEqual(bodies.map((b) => b.temperature), [0.6, 0.6, 0.6, 0.6]);
    assert.deepEqual(bodies.map((b) => b.seed), [undefined, undefined, undefined, undefined]);
    assert.equal(session.sampling.temperature, 0.6);
  });
});
