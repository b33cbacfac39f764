// Tests of the CWM endpoint clients against the loopback protocol servers (fgserve, vLLM, mlx_lm, OpenAI):
// frames and rollouts, detection, samples, cancellation, every fault's error, and no socket left open.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import type { TokenCodec } from '../../server/cwm/codec';
import { Tok } from '../../server/cwm/tokens';
import {
  collectCompletion,
  connectEndpoint,
  createEndpointClient,
  EndpointError,
  EndpointPool,
  parseRetryAfter,
  type BackendKind,
  type CompletionRequest,
  type EndpointClient,
  type EndpointConfig,
} from '../../server/endpoint';
import { readSse } from '../../server/endpoint/sse';
import { TextToIds } from '../../server/endpoint/text-ids';
import { createCharCodec, startProtocolServer, type ProtocolServer, type ProtocolServerOptions, type TestModel } from '../servers/protocol-server';

const codec = createCharCodec();
const special = (text: string): number => {
  const id = codec.specialTokenId(text);
  assert.ok(id !== undefined, text);
  return id;
};
const FRAME_SEP = special(Tok.frameSep);
const END = special(Tok.endOfText);
const BOS = special(Tok.beginOfText);
const ids = (text: string): number[] => codec.encodeWithSpecialTokens(text);

// A real CWM trace of `f(1)` (spec format), replayed by the scripted model below.
const SOURCE = 'def f(a): # << START_OF_TRACE\n    return a + 1\n';
const PROMPT = [BOS, ...ids(`${Tok.traceContextStart}${SOURCE}${Tok.frameSep}`)];
const FRAMES = [
  `${Tok.callSep}{"a": "1"}${Tok.actionSep}def f(a): # << START_OF_TRACE\n${Tok.frameSep}`,
  `${Tok.lineSep}{"a": ".."}${Tok.actionSep}    return a + 1\n${Tok.frameSep}`,
  `${Tok.returnSep}${Tok.actionSep}    return a + 1\n${Tok.argSep}"2"${Tok.frameSep}`,
].map(ids);
const FULL = [...PROMPT, ...FRAMES.flat(), END];

/** Replays the trace: whatever prefix of it the prompt is, the model continues it (and then rambles on). */
const replay: TestModel = function* (promptIds) {
  const isPrefix = promptIds.length <= FULL.length && promptIds.every((id, i) => FULL[i] === id);
  if (isPrefix) yield* FULL.slice(promptIds.length);
  for (;;) yield* ids('x');
};

/** Each sample says which it is, so n samples are told apart. */
const sampler: TestModel = (_prompt, params) => ids(`${Tok.lineSep}sample ${params.sampleIndex} seed ${params.seed ?? '-'}${Tok.frameSep}`);

/** Never stops by itself: line frames without a separator, so the frame never ends either. */
const ENDLESS_UNIT = ids(`${Tok.lineSep}y`);
const endless: TestModel = function* () {
  for (;;) yield* ENDLESS_UNIT;
};
const endlessIds = (count: number): number[] => Array.from({ length: count }, (_, i) => ENDLESS_UNIT[i % ENDLESS_UNIT.length] as number);

const PROTOCOLS: BackendKind[] = ['fgserve', 'vllm', 'mlx', 'openai'];
// perTokenMs 0: fgserve's deadlines do not grow with the tokens asked for here (real-servers-rules tests that they do).
const FAST = { connectMs: 2_000, firstTokenMs: 3_000, totalMs: 8_000, perTokenMs: 0 };

// Every server and client a test opens is closed after it, and no connection may outlive the client.
const servers: ProtocolServer[] = [];
const clients: EndpointClient[] = [];

async function serve(protocol: BackendKind, options: Partial<ProtocolServerOptions> = {}): Promise<ProtocolServer> {
  const server = await startProtocolServer({ protocol, codec, model: replay, ...options });
  servers.push(server);
  return server;
}

async function connect(server: ProtocolServer, config: Partial<EndpointConfig> = {}, useCodec: TokenCodec = codec): Promise<EndpointClient> {
  const client = await connectEndpoint({ url: server.url, timeouts: FAST, retries: { max: 2, baseDelayMs: 10, maxDelayMs: 50 }, ...config }, useCodec);
  clients.push(client);
  return client;
}

function frameRequest(extra: Partial<CompletionRequest> = {}): CompletionRequest {
  return { promptIds: PROMPT, maxTokens: 200, temperature: 0, stopAtFrameEnd: true, ...extra };
}

async function expectEndpointError(promise: Promise<unknown>, kind: string, pattern?: RegExp): Promise<EndpointError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof EndpointError, `expected EndpointError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected an EndpointError '${kind}', but it succeeded`);
}

function completionRequests(server: ProtocolServer): typeof server.requests {
  return server.requests.filter((r) => r.method === 'POST');
}

afterEach(async () => {
  const opened = servers.splice(0);
  for (const client of clients.splice(0)) await client.close();
  for (const server of opened) {
    const idle = await server.waitFor(() => server.openConnections() === 0);
    await server.close();
    assert.ok(idle, `${server.url} still has ${server.openConnections()} open connections after its client closed`);
  }
});

for (const protocol of PROTOCOLS) {
  describe(`${protocol} endpoint`, () => {
    test('is detected and probed', { timeout: 10_000 }, async () => {
      const server = await serve(protocol);
      const client = await connect(server);
      assert.equal(client.kind, protocol);
      const info = await client.probe();
      assert.equal(info.kind, protocol);
      assert.equal(info.url, server.url);
      if (protocol === 'fgserve') assert.equal(client.model, undefined);
      else assert.match(client.model ?? '', /cwm/i);
      assert.equal(client.warnings.length, protocol === 'openai' ? 1 : 0, client.warnings.join(' | '));
    });

    test('completes one frame, then the next from the grown prompt', { timeout: 10_000 }, async () => {
      const server = await serve(protocol);
      const client = await connect(server);
      const first = await collectCompletion(client.complete(frameRequest({ seed: 7 })));
      assert.deepEqual(first.choices, [FRAMES[0]]);
      assert.equal(first.result.finishReason, 'stop');
      const second = await collectCompletion(client.complete(frameRequest({ promptIds: [...PROMPT, ...(FRAMES[0] ?? [])] })));
      assert.deepEqual(second.choices, [FRAMES[1]]);

      const body = completionRequests(server)[0]?.body as Record<string, unknown>;
      assert.equal(body.max_tokens, 200);
      // fgserve cannot decode greedily per request: it gets a near-greedy temperature, never 0.
      assert.equal(body.temperature, protocol === 'fgserve' ? 0.01 : 0);
      if (protocol === 'fgserve') {
        assert.deepEqual(body.prompt, PROMPT);
        assert.equal(body.stop, Tok.frameSep);
        assert.equal(body.n, 1);
      } else if (protocol === 'vllm') {
        assert.deepEqual(body.prompt, PROMPT);
        assert.deepEqual((body.stop_token_ids as number[])[0], FRAME_SEP);
        assert.equal(body.return_token_ids, true);
        assert.equal(body.include_stop_str_in_output, true);
        assert.equal(body.skip_special_tokens, false);
        assert.equal(body.stream, true);
        assert.equal(body.seed, 7);
        assert.equal(body.model, 'facebook/cwm');
      } else {
        // Text servers add BOS themselves: the client sends the prompt without it, and the model sees the same ids.
        assert.equal(body.prompt, codec.decode(PROMPT.slice(1)));
        assert.deepEqual(completionRequests(server)[0]?.promptIds, PROMPT);
        assert.ok((body.stop as string[]).includes(Tok.frameSep));
        assert.equal(body.stream, true);
        if (protocol === 'mlx') {
          assert.equal(body.logprobs, true);
          assert.equal(body.model, undefined, 'mlx_lm must not be asked to load a model by name');
        }
      }
    });

    test('runs a whole rollout to <|end_of_text|>', { timeout: 10_000 }, async () => {
      const server = await serve(protocol);
      const client = await connect(server);
      const { choices, result } = await collectCompletion(client.complete(frameRequest({ stopAtFrameEnd: false, maxTokens: 1000 })));
      assert.deepEqual(choices, [[...FRAMES.flat(), END]]);
      assert.equal(result.finishReason, 'stop');
      assert.equal(codec.decode(choices[0] ?? []).split(Tok.frameSep).length, 4);
    });

    test('stops at maxTokens with finish reason length', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { model: endless });
      const client = await connect(server);
      const { choices, result } = await collectCompletion(client.complete(frameRequest({ maxTokens: 25 })));
      assert.deepEqual(choices, [endlessIds(25)]);
      assert.equal(result.finishReason, 'length');
    });

    test('draws n independent samples', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { model: sampler });
      const client = await connect(server);
      const { choices } = await collectCompletion(client.complete(frameRequest({ n: 3, seed: 40, temperature: 0.6 })));
      assert.equal(choices.length, 3);
      const texts = choices.map((c) => codec.decode(c));
      for (let i = 0; i < 3; i++) {
        assert.ok(texts[i]?.startsWith(`${Tok.lineSep}sample `), texts[i]);
        assert.ok(texts[i]?.endsWith(Tok.frameSep), texts[i]);
      }
      const posts = completionRequests(server);
      if (protocol === 'fgserve') {
        // fgserve runs its own n one sample after another: one request per sample instead, which FastGen batches.
        assert.equal(posts.length, 3);
        for (const post of posts) assert.equal((post.body as { n: number }).n, 1);
      } else if (protocol === 'vllm') {
        // Server-side n: one request, the server numbers the samples.
        assert.equal(posts.length, 1);
        assert.equal((posts[0]?.body as { n: number }).n, 3);
        assert.deepEqual(
          texts.map((t) => /sample (\d)/.exec(t)?.[1]),
          ['0', '1', '2'],
        );
      } else {
        // One request per sample, seeds spread so the samples differ.
        assert.equal(posts.length, 3);
        assert.deepEqual(
          posts.map((p) => (p.body as { seed: number }).seed),
          [40, 41, 42],
        );
        assert.equal(new Set(texts).size, 3);
      }
    });

    test('cancellation closes the request and rejects with cancelled', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { model: endless, faults: { tokenLatencyMs: 20 } });
      const client = await connect(server);
      const controller = new AbortController();
      const stream = client.complete(frameRequest({ maxTokens: 5_000, signal: controller.signal }));
      const iteration = (async () => {
        for await (const chunk of stream) {
          assert.ok(chunk.ids.length > 0);
          controller.abort();
        }
      })();
      if (protocol === 'fgserve') setTimeout(() => controller.abort(), 150); // nothing streams: abort while it generates
      await expectEndpointError(iteration, 'cancelled', /was cancelled/);
      await expectEndpointError(stream.result, 'cancelled');
      const post = completionRequests(server)[0];
      assert.ok(post !== undefined);
      assert.ok(await server.waitFor(() => post.clientClosed), 'the server never saw the client close the request');
    });

    test('HTTP 500 is reported with the server message', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { faults: { http500: 'CUDA out of memory while allocating the KV cache' } });
      const client = await connect(server);
      const err = await expectEndpointError(collectCompletion(client.complete(frameRequest())), 'http', /HTTP 500/);
      assert.equal(err.status, 500);
      if (protocol === 'fgserve') assert.match(err.serverMessage ?? '', /Internal Server Error/);
      else assert.equal(err.serverMessage, 'CUDA out of memory while allocating the KV cache');
    });

    test('HTTP 429 with Retry-After is retried and then succeeds', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { faults: { rateLimit: { count: 2, retryAfter: '0' } } });
      const client = await connect(server);
      const { choices } = await collectCompletion(client.complete(frameRequest()));
      assert.deepEqual(choices, [FRAMES[0]]);
      assert.deepEqual(
        completionRequests(server).map((r) => r.status),
        [429, 429, 200],
      );
    });

    test('a stream dropped mid-frame is a protocol error', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { model: endless, faults: { dropAfterTokens: 5 } });
      const client = await connect(server);
      const received: number[] = [];
      const run = (async () => {
        for await (const chunk of client.complete(frameRequest({ maxTokens: 100 }))) received.push(...chunk.ids);
      })();
      await expectEndpointError(run, 'protocol', /closed the connection in the middle of its answer/);
      assert.ok(received.length < 100);
    });

    test('a stall before the first token hits the first-token timeout', { timeout: 10_000 }, async () => {
      const server = await serve(protocol, { model: endless, faults: { stallAfterTokens: 0 } });
      const client = await connect(server, { timeouts: { ...FAST, firstTokenMs: 300 } });
      await expectEndpointError(collectCompletion(client.complete(frameRequest())), 'timeout', protocol === 'fgserve' ? /fgserve at .* sent no answer in 0\.3 s/ : /no token in 0\.3 s \(first-token timeout\)/);
      const post = completionRequests(server)[0];
      assert.ok(post !== undefined && (await server.waitFor(() => post.clientClosed)));
    });

    if (protocol !== 'fgserve') {
      test('a stall after some tokens hits the total timeout', { timeout: 10_000 }, async () => {
        const server = await serve(protocol, { model: endless, faults: { stallAfterTokens: 3 } });
        const client = await connect(server, { timeouts: { ...FAST, totalMs: 500 } });
        const received: number[] = [];
        const run = (async () => {
          for await (const chunk of client.complete(frameRequest())) received.push(...chunk.ids);
        })();
        await expectEndpointError(run, 'timeout', /did not finish within 500 ms \(total timeout, \d+ tokens received\)/);
        if (protocol === 'vllm') assert.deepEqual(received, endlessIds(3));
      });

      test('breaking out of the iteration closes the request', { timeout: 10_000 }, async () => {
        const server = await serve(protocol, { model: endless, faults: { tokenLatencyMs: 10 } });
        const client = await connect(server);
        const stream = client.complete(frameRequest({ maxTokens: 5_000 }));
        for await (const chunk of stream) {
          assert.ok(chunk.ids.length > 0);
          break;
        }
        await expectEndpointError(stream.result, 'cancelled');
        const post = completionRequests(server)[0];
        assert.ok(post !== undefined && (await server.waitFor(() => post.clientClosed)));
      });
    }
  });
}

describe('connection failures', () => {
  test('a closed port is refused with the documented sentence', { timeout: 10_000 }, async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const err = await expectEndpointError(connectEndpoint({ url, timeouts: FAST }, codec), 'refused');
    assert.equal(err.message, `Cannot reach the CWM endpoint at ${url}: connection refused. Is the server running? Start it or fix cwmDebug.endpoints.`);
  });

  test('a server that drops every connection is reported as refusing', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { faults: { refuse: true } });
    await expectEndpointError(connectEndpoint({ url: server.url, timeouts: FAST }, codec), 'refused', /closed the connection without answering/);
  });

  test('an unknown host name is a DNS error', { timeout: 15_000 }, async () => {
    await expectEndpointError(connectEndpoint({ url: 'http://cwm-endpoint.invalid:8000', timeouts: FAST }, codec), 'dns', /"cwm-endpoint\.invalid" could not be resolved/);
  });

  test('unusable URLs are bad-url', { timeout: 5_000 }, async () => {
    for (const url of ['not a url', 'ftp://127.0.0.1:21', 'http://127.0.0.1:8000/v1?x=1', 'http://user:secret@127.0.0.1:8000']) {
      const err = await expectEndpointError(connectEndpoint({ url }, codec), 'bad-url');
      assert.doesNotMatch(err.message, /secret/);
    }
  });

  test('a codec without CWM special tokens is tokenizer-missing', { timeout: 5_000 }, async () => {
    const server = await serve('vllm');
    const plain: TokenCodec = { ...codec, specialTokenId: (text) => (text === Tok.frameSep ? undefined : codec.specialTokenId(text)) };
    await expectEndpointError(connectEndpoint({ url: server.url }, plain), 'tokenizer-missing', /no <\|frame_sep\|> token/);
  });
});

describe('server checks', () => {
  test('a model list without CWM is not-cwm and names what is served', { timeout: 10_000 }, async () => {
    for (const protocol of ['vllm', 'mlx', 'openai'] as const) {
      const server = await serve(protocol, { listedModels: ['meta-llama/Llama-3.1-8B-Instruct', 'Qwen/Qwen2.5-7B'] });
      await expectEndpointError(connectEndpoint({ url: server.url, timeouts: FAST }, codec), 'not-cwm', /"meta-llama\/Llama-3\.1-8B-Instruct", "Qwen\/Qwen2\.5-7B", none of which looks like CWM/);
    }
  });

  test('a configured model name is used, and rejected when not served', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { modelName: 'trace-model' });
    const client = await connect(server, { model: 'trace-model' });
    assert.equal(client.model, 'trace-model');
    await collectCompletion(client.complete(frameRequest()));
    assert.equal((completionRequests(server)[0]?.body as { model: string }).model, 'trace-model');
    await expectEndpointError(connectEndpoint({ url: server.url, model: 'facebook/cwm' }, codec), 'not-cwm', /does not serve the configured model "facebook\/cwm" but "trace-model"/);
  });

  test('vLLM found by its served root name when the served name hides it', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { listedModels: ['my-model', 'facebook/cwm'] });
    const client = await connect(server);
    assert.equal(client.model, 'facebook/cwm');
  });

  test('a wrong URL path gives a 404 that says which path the backend serves', { timeout: 10_000 }, async () => {
    const server = await serve('vllm');
    const explicit = await expectEndpointError(connectEndpoint({ url: `${server.url}/api`, backend: 'vllm', timeouts: FAST }, codec), 'http', /has no GET \/v1\/models \(HTTP 404: Not Found\).*vLLM serves POST \/v1\/completions/);
    assert.equal(explicit.status, 404);
    await expectEndpointError(connectEndpoint({ url: `${server.url}/api`, timeouts: FAST }, codec), 'http', /No CWM server API answers at .*\/api: GET \/v1\/models and \/completions both failed/);
    await expectEndpointError(connectEndpoint({ url: server.url, backend: 'fgserve', timeouts: FAST }, codec), 'http', /has no GET \/completions \(HTTP 404.*fgserve serves POST \/completions/);
    // The same mistake found only at completion time (client made without contacting the server).
    const lazy = createEndpointClient({ url: `${server.url}/api/v1`, backend: 'vllm', timeouts: FAST }, codec);
    clients.push(lazy);
    await expectEndpointError(collectCompletion(lazy.complete(frameRequest())), 'http', /has no POST \/v1\/completions \(HTTP 404: Not Found\)/);
  });

  test('a trailing /v1 in the URL is tolerated', { timeout: 10_000 }, async () => {
    const server = await serve('vllm');
    const client = await connect(server, { url: `${server.url}/v1/` });
    assert.equal(client.url, server.url);
    assert.deepEqual((await collectCompletion(client.complete(frameRequest()))).choices, [FRAMES[0]]);
  });

  test('the API key is sent as a bearer token and never shows in errors', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { requireApiKey: 'sk-secret-123' });
    const err = await expectEndpointError(connectEndpoint({ url: server.url, apiKey: 'wrong-key', timeouts: FAST }, codec), 'http', /HTTP 401: Unauthorized.*API key/);
    assert.doesNotMatch(err.message, /wrong-key|sk-secret/);
    const client = await connect(server, { apiKey: 'sk-secret-123' });
    await collectCompletion(client.complete(frameRequest()));
    assert.equal(completionRequests(server)[0]?.headers.authorization, 'Bearer sk-secret-123');
  });

  test('429 retries give up after retries.max with the last error', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { faults: { rateLimit: { count: 100, retryAfter: '0' } } });
    const client = await connect(server, { retries: { max: 2, baseDelayMs: 5, maxDelayMs: 20 } });
    const err = await expectEndpointError(collectCompletion(client.complete(frameRequest())), 'http', /busy \(HTTP 429: Too many requests, slow down\) and still was after 2 retries/);
    assert.equal(err.status, 429);
    assert.equal(completionRequests(server).length, 3);
  });

  test('503 without Retry-After backs off and retries', { timeout: 10_000 }, async () => {
    const server = await serve('mlx', { faults: { rateLimit: { count: 1, status: 503 } } });
    const client = await connect(server, { retries: { max: 3, baseDelayMs: 10, maxDelayMs: 20 } });
    assert.deepEqual((await collectCompletion(client.complete(frameRequest()))).choices, [FRAMES[0]]);
    assert.deepEqual(
      completionRequests(server).map((r) => r.status),
      [503, 200],
    );
  });

  test('a Retry-After beyond the total timeout gives up at once', { timeout: 10_000 }, async () => {
    const later = new Date(Date.now() + 120_000).toUTCString();
    const server = await serve('vllm', { faults: { rateLimit: { count: 1, retryAfter: later } } });
    const client = await connect(server);
    await expectEndpointError(collectCompletion(client.complete(frameRequest())), 'http', /asks to retry in 1[12]\d s, beyond the total timeout/);
    assert.equal(completionRequests(server).length, 1);
  });

  test('HTTPS: untrusted certificate is a tls error; caFile or insecureSkipVerify fix it', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { tls: { key: TEST_KEY, cert: TEST_CERT } });
    assert.ok(server.url.startsWith('https://'));
    await expectEndpointError(connectEndpoint({ url: server.url, timeouts: FAST }, codec), 'tls', /TLS connection .* failed \(.*\); set tls\.caFile/);
    const dir = mkdtempSync(join(tmpdir(), 'cwm-endpoint-'));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, TEST_CERT);
    const trusted = await connect(server, { tls: { caFile } });
    assert.deepEqual((await collectCompletion(trusted.complete(frameRequest()))).choices, [FRAMES[0]]);
    const insecure = await connect(server, { tls: { insecureSkipVerify: true } });
    assert.equal(insecure.kind, 'vllm');
    await expectEndpointError(connectEndpoint({ url: server.url, tls: { caFile: join(dir, 'missing.pem') } }, codec), 'tls', /Cannot read the CA file/);
    const plain = await serve('vllm');
    await expectEndpointError(connectEndpoint({ url: plain.url.replace('http:', 'https:'), timeouts: FAST }, codec), 'tls', /does not speak TLS on that port; use an http:\/\/ URL/);
  });

  test('vLLM reports prefix-cache hits of a growing prompt', { timeout: 10_000 }, async () => {
    // Started with --enable-prompt-tokens-details, without which vLLM reports no cached tokens; it leaves out a zero.
    const server = await serve('vllm', { faults: { prefillMsPerToken: 0.5 }, promptTokensDetails: true });
    const client = await connect(server);
    const first = await collectCompletion(client.complete(frameRequest()));
    assert.equal(first.result.cachedPromptTokens, undefined);
    assert.equal(first.result.promptTokens, PROMPT.length);
    const grown = [...PROMPT, ...(FRAMES[0] ?? [])];
    const second = await collectCompletion(client.complete(frameRequest({ promptIds: grown })));
    assert.deepEqual(second.choices, [FRAMES[1]]);
    // vLLM counts whole 16-token blocks of the shared prefix.
    assert.equal(second.result.cachedPromptTokens, Math.floor((grown.length - 1) / 16) * 16);
    assert.equal(completionRequests(server)[1]?.cachedTokens, second.result.cachedPromptTokens);
  });

  test('vLLM before 0.10.2 (no token_ids) falls back to the text, with a warning', { timeout: 10_000 }, async () => {
    const server = await serve('vllm', { omitTokenIds: true });
    const client = await connect(server);
    const { choices } = await collectCompletion(client.complete(frameRequest({ stopAtFrameEnd: false, maxTokens: 1000 })));
    assert.deepEqual(choices, [[...FRAMES.flat(), END]]);
    assert.match(client.warnings.join(' '), /no token ids/);
  });

  test('mlx_lm keepalive comments during a long prefill do not disturb the stream', { timeout: 10_000 }, async () => {
    const server = await serve('mlx', { faults: { prefillMsPerToken: 0.5 } });
    const client = await connect(server);
    const { choices, result } = await collectCompletion(client.complete(frameRequest({ stopAtFrameEnd: false, maxTokens: 1000 })));
    assert.deepEqual(choices, [[...FRAMES.flat(), END]]);
    assert.equal(result.promptTokens, PROMPT.length);
  });

  test('a prompt that does not survive the text round trip warns on text backends', { timeout: 10_000 }, async () => {
    const server = await serve('mlx');
    const client = await connect(server);
    const tricky = [BOS, ...ids(Tok.traceContextStart), ...codec.encodeOrdinary(`s = "${Tok.frameSep}"\n`), FRAME_SEP];
    await collectCompletion(client.complete(frameRequest({ promptIds: tricky })));
    assert.match(client.warnings.join(' '), /does not survive the trip through text/);
  });
});

describe('EndpointPool', () => {
  test('spreads concurrent rollouts over the least busy endpoints', { timeout: 10_000 }, async () => {
    const a = await serve('vllm', { faults: { tokenLatencyMs: 5 } });
    const b = await serve('fgserve', { faults: { tokenLatencyMs: 5 } });
    const pool = new EndpointPool([await connect(a), await connect(b)]);
    const runs = await Promise.all([0, 1, 2, 3].map(() => collectCompletion(pool.complete(frameRequest()))));
    for (const run of runs) assert.deepEqual(run.choices, [FRAMES[0]]);
    assert.equal(completionRequests(a).length, 2);
    assert.equal(completionRequests(b).length, 2);
    assert.equal(pool.inFlight(pool.clients[0] as EndpointClient), 0);
  });

  test('sends work to the idle endpoint while the other is busy', { timeout: 10_000 }, async () => {
    const busy = await serve('vllm', { model: endless, faults: { tokenLatencyMs: 10 } });
    const idle = await serve('vllm');
    const pool = new EndpointPool([await connect(busy), await connect(idle)]);
    const controller = new AbortController();
    const long = pool.complete(frameRequest({ maxTokens: 5_000, signal: controller.signal }));
    const iterator = long[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false); // the long rollout is running on `busy`
    assert.equal(pool.inFlight(pool.clients[0] as EndpointClient), 1);
    for (let i = 0; i < 3; i++) assert.deepEqual((await collectCompletion(pool.complete(frameRequest()))).choices, [FRAMES[0]]);
    assert.equal(completionRequests(busy).length, 1);
    assert.equal(completionRequests(idle).length, 3);
    controller.abort();
    await expectEndpointError(iterator.next(), 'cancelled');
    await expectEndpointError(long.result, 'cancelled');
    assert.equal(pool.inFlight(pool.clients[0] as EndpointClient), 0);
  });

  test('moves a rollout to another endpoint when one is unreachable', { timeout: 10_000 }, async () => {
    const down = createEndpointClient({ url: `http://127.0.0.1:${await closedPort()}`, backend: 'vllm', timeouts: FAST }, codec);
    clients.push(down);
    const live = await serve('mlx');
    const pool = new EndpointPool([down, await connect(live)]);
    for (let i = 0; i < 2; i++) assert.deepEqual((await collectCompletion(pool.complete(frameRequest()))).choices, [FRAMES[0]]);
    assert.equal(completionRequests(live).length, 2);
  });
});

describe('protocol servers speak the wire formats', () => {
  test('vLLM streams data: chunks with token_ids and ends with data: [DONE]', { timeout: 5_000 }, async () => {
    const server = await serve('vllm');
    const text = await post(server, '/v1/completions', { prompt: PROMPT, max_tokens: 100, stream: true, return_token_ids: true, stop_token_ids: [FRAME_SEP], include_stop_str_in_output: true, stream_options: { include_usage: true } });
    assert.ok(text.endsWith('data: [DONE]\n\n'));
    const events = text.split('\n\n').filter((e) => e !== '');
    assert.ok(events.every((e) => e.startsWith('data: ')));
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as { choices: { token_ids?: number[]; finish_reason: string | null }[]; usage?: unknown });
    assert.deepEqual(chunks.flatMap((c) => c.choices.flatMap((ch) => ch.token_ids ?? [])), FRAMES[0]);
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.ok(chunks.at(-1)?.usage !== undefined);
  });

  test('mlx_lm sends keepalive comments, Python-style JSON and cuts the stop word', { timeout: 5_000 }, async () => {
    const server = await serve('mlx', { faults: { prefillMsPerToken: 0.1 } });
    const text = await post(server, '/v1/completions', { prompt: codec.decode(PROMPT.slice(1)), max_tokens: 100, stream: true, stop: [Tok.frameSep] });
    assert.match(text, /^: keepalive 0\/\d+\n\n/);
    assert.match(text, /data: \{"id": "cmpl-/);
    assert.doesNotMatch(text, /frame_sep/);
    const nonStream = await post(server, '/v1/completions', { prompt: codec.decode(PROMPT.slice(1)), max_tokens: 100, logprobs: true, stop: [Tok.frameSep] });
    const answer = JSON.parse(nonStream) as { choices: { logprobs: { content: { id: number }[] } }[] };
    assert.deepEqual(
      answer.choices[0]?.logprobs.content.map((c) => c.id),
      FRAMES[0]?.slice(0, -1),
    );
  });

  test('fgserve answers Flask pages for unknown paths and list stops', { timeout: 5_000 }, async () => {
    const server = await serve('fgserve');
    const models = await raw(server, '/v1/models', 'GET');
    assert.equal(models.status, 404);
    assert.match(models.text, /<title>404 Not Found<\/title>/);
    assert.equal((await raw(server, '/completions', 'GET')).status, 405);
    // fgserve's pydantic model takes one stop string; a list raises outside any handler, so Flask answers 500.
    const list = await raw(server, '/completions', 'POST', { prompt: PROMPT, stop: [Tok.frameSep] });
    assert.equal(list.status, 500);
    assert.match(list.text, /Internal Server Error/);
    const ok = JSON.parse(await post(server, '/completions', { prompt: PROMPT, max_tokens: 100, stop: Tok.frameSep })) as { choices: { tokens: number[]; finish_reason: string }[] };
    assert.deepEqual(ok.choices[0]?.tokens, FRAMES[0]);
    assert.equal(ok.choices[0]?.finish_reason, 'length');
  });
});

describe('helpers', () => {
  test('Retry-After is read as seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    assert.equal(parseRetryAfter(['0']), 0);
    const inTen = parseRetryAfter(new Date(Date.now() + 10_000).toUTCString());
    assert.ok(inTen !== undefined && inTen > 8_000 && inTen <= 10_000, String(inTen));
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  test('the SSE reader handles split CRLF, comments and multi-line data', async () => {
    const parts = ['data: {"a"', ':1}\r', '\n\r\n: keepalive 5/10\n\ndata: x\ndata: y\n\nevent: e\ndata: z\r\r', 'data: unterminated'];
    const comments: string[] = [];
    const events = [];
    for await (const event of readSse(toAsync(parts.map((p) => Buffer.from(p))), (c) => comments.push(c))) events.push(event);
    assert.deepEqual(events, [{ data: '{"a":1}' }, { data: 'x\ny' }, { data: 'z', event: 'e' }]);
    assert.deepEqual(comments, ['keepalive 5/10']);
  });

  test('text is turned into ids only once a special token closes it', () => {
    const recover = new TextToIds(codec);
    assert.deepEqual(recover.push(`ab<|fra`), []);
    assert.deepEqual(recover.push(`me_sep|>c`), [...ids('ab'), FRAME_SEP]);
    assert.deepEqual(recover.end(), ids('c'));
  });
});

/** A raw exchange on its own connection pool, closed afterwards so the socket check holds. */
async function raw(server: ProtocolServer, path: string, method: 'GET' | 'POST', body?: unknown): Promise<{ status: number; text: string }> {
  const agent = new Agent();
  try {
    const res = await request(`${server.url}${path}`, {
      method,
      dispatcher: agent,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await agent.close();
  }
}

async function post(server: ProtocolServer, path: string, body: unknown): Promise<string> {
  const { status, text } = await raw(server, path, 'POST', body);
  assert.equal(status, 200, text);
  return text;
}

async function* toAsync<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

// Self-signed certificate for 127.0.0.1/localhost, valid 2000–2199: tests only.
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglLUt9uzNoZuMwBDF
51B0hhoyRqY7wAdps6gb4D0hGA2hRANCAASJbk303udEP7ryrhJME3YObRhCCgNV
9/W+lWCGZg7Gmj3ueBb2yb0kzbVg72XzyKNdDENkLEiDN1vESe3k/A7p
-----END PRIVATE KEY-----
`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUJyJARqMtbw6q+NvI5uPmCPsgmkwwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVY3dtLWRlYnVnIHRlc3Qgc2VydmVyMCAXDTAwMDEwMTAwMDAw
MFoYDzIxOTkxMjMxMDAwMDAwWjAgMR4wHAYDVQQDDBVjd20tZGVidWcgdGVzdCBz
ZXJ2ZXIwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASJbk303udEP7ryrhJME3YO
bRhCCgNV9/W+lWCGZg7Gmj3ueBb2yb0kzbVg72XzyKNdDENkLEiDN1vESe3k/A7p
oy8wLTAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiAvBfkUwCDgal98IcIfmk++a7brgqIftgBpvdA5
fGgyRQIhAIEGZptU4ItWK07ly0QmYW+Q77ss0yORQODXm1DoSDPa
-----END CERTIFICATE-----
`;
