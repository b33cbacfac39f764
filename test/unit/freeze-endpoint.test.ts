// Hostile servers against the endpoint clients: each backend stops an endless or huge answer at its own max_tokens (per
// request and per frame); stream lines are read in linear time and bounded; whole answers are bounded by the tokens asked.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { Tok } from '../../server/cwm/tokens';
import { DEFAULT_MAX_TOKENS_PER_FRAME } from '../../server/endpoint/budget';
import { connectEndpoint } from '../../server/endpoint/connect';
import { EndpointError } from '../../server/endpoint/errors';
import { readSse, SseLineTooLongError, type SseEvent } from '../../server/endpoint/sse';
import { collectCompletion } from '../../server/endpoint/stream';
import type { CompletionRequest, EndpointClient } from '../../server/endpoint/types';
import { LineSplitter } from '../../server/trace/line-splitter';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startHostileServer, type HostileOutput, type HostileProtocol, type HostileServer } from '../servers/hostile-model';

let codec: CwmTokenizer;
let prompt: number[];
const open: { servers: HostileServer[]; clients: EndpointClient[] } = { servers: [], clients: [] };

before(async () => {
  codec = await loadTokenizer(await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-freeze-ep-'))));
  prompt = codec.encodeWithSpecialTokens(`${Tok.beginOfText}${Tok.traceContextStart}def f(s):\n    return s\n${Tok.frameSep}`);
});
after(async () => {
  for (const client of open.clients) await client.close();
  for (const server of open.servers) await server.close();
  codec?.dispose();
});

/** A hostile server and a client of it; the total timeout is far longer than a bounded answer may take. */
async function hostile(protocol: HostileProtocol, output: HostileOutput): Promise<{ server: HostileServer; client: EndpointClient }> {
  const server = await startHostileServer({ protocol, codec, output });
  open.servers.push(server);
  const client = await connectEndpoint({ url: server.url, backend: protocol, timeouts: { connectMs: 2_000, firstTokenMs: 10_000, totalMs: 30_000 } }, codec);
  open.clients.push(client);
  return { server, client };
}

function request(extra: Partial<CompletionRequest>): CompletionRequest {
  return { promptIds: prompt, maxTokens: 131_034, temperature: 0.2, stopAtFrameEnd: false, ...extra };
}

async function failure(promise: Promise<unknown>): Promise<EndpointError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof EndpointError, `expected an EndpointError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an EndpointError, but it succeeded');
}

describe('the client stops an endless answer itself, on every backend', { timeout: 60_000 }, () => {
  for (const protocol of ['vllm', 'openai', 'fgserve'] as const) {
    test(`${protocol}: an endless value is cut at the frame limit; the request is closed`, async () => {
      const { server, client } = await hostile(protocol, { kind: 'endless-value' });
      const outcome = collectCompletion(client.complete(request({})));
      if (protocol === 'fgserve') {
        // A whole answer cannot be cut while it arrives: it is refused once larger than the tokens asked for allow.
        const err = await failure(outcome);
        assert.match(err.message, /sent an answer larger than [\d.]+ MB for 131034 tokens asked for/);
      } else {
        const { choices, result } = await outcome;
        assert.equal(choices[0]!.length, DEFAULT_MAX_TOKENS_PER_FRAME, 'the frame holds exactly the per-frame limit');
        assert.equal(result.finishReason, 'length');
      }
      assert.ok(await server.waitFor(() => server.closedByClient === 1), 'the client closed the connection');
      // The server writes as fast as the connection takes it: what the socket buffers, or the whole-answer limit.
      assert.ok(server.bytesSent < 64 * 1024 * 1024, `the server could send only a bounded part (${server.bytesSent} bytes)`);
    });
  }

  test('vllm: endless small frames stop at the request\'s max_tokens', async () => {
    const { server, client } = await hostile('vllm', { kind: 'endless-frames' });
    const { choices, result } = await collectCompletion(client.complete(request({ maxTokens: 5_000 })));
    assert.equal(choices[0]!.length, 5_000);
    assert.equal(result.finishReason, 'length');
    assert.ok(await server.waitFor(() => server.closedByClient === 1));
  });

  test('fgserve: an answer with more tokens than asked for is cut to max_tokens', async () => {
    const { client } = await hostile('fgserve', { kind: 'value', chars: 40_000 });
    const { choices, result } = await collectCompletion(client.complete(request({ maxTokens: 300, stopAtFrameEnd: true })));
    assert.equal(choices[0]!.length, 300);
    assert.equal(result.finishReason, 'length');
  });

  test('fgserve: a 10,000,000-character value is refused as too large for the tokens asked for, without reading it all', async () => {
    const { server, client } = await hostile('fgserve', { kind: 'value', chars: 10_000_000 });
    const err = await failure(collectCompletion(client.complete(request({ maxTokens: 4_096, stopAtFrameEnd: true }))));
    assert.match(err.message, /sent an answer larger than 1.1 MB for 4096 tokens asked for/);
    assert.match(err.message, /ignored max_tokens/);
    assert.ok(await server.waitFor(() => server.closedByClient === 1));
    assert.ok(server.bytesSent < 20_000_000, `only part of the answer was sent (${server.bytesSent} bytes)`);
  });
});

describe('stream lines', { timeout: 60_000 }, () => {
  test('a line that never ends is an error saying so, after a bounded read', async () => {
    const { server, client } = await hostile('vllm', { kind: 'endless-line' });
    const err = await failure(collectCompletion(client.complete(request({}))));
    assert.equal(err.kind, 'protocol');
    assert.match(err.message, /sent a stream line of more than 4 MB without a line end/);
    assert.ok(await server.waitFor(() => server.closedByClient === 1));
    assert.ok(server.bytesSent < 64 * 1024 * 1024, `${server.bytesSent} bytes were sent`);
  });

  async function events(chunks: string[], maxLineChars?: number): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for await (const event of readSse((async function* () { yield* chunks; })(), undefined, maxLineChars)) out.push(event);
    return out;
  }

  test('events split at every character, CR LF split across chunks included, read the same as whole', async () => {
    const text = '\ufeffdata: {"a": 1}\r\n\r\n: keepalive 1/2\r\ndata: x\rdata: y\r\rdata: [DONE]\n\n';
    const whole = await events([text]);
    assert.deepEqual(whole, [{ data: '{"a": 1}' }, { data: 'x\ny' }, { data: '[DONE]' }]);
    assert.deepEqual(await events([...text]), whole);
  });

  test('a line longer than the limit throws, however it is split', async () => {
    const pieces = Array.from({ length: 100 }, () => 'q'.repeat(1_000));
    await assert.rejects(events(['data: ', ...pieces, '\n\n'], 50_000), (err: unknown) => err instanceof SseLineTooLongError && err.limit === 50_000);
    assert.equal((await events(['data: ', ...pieces, '\n\n'], 200_000))[0]!.data.length, 100_000);
  });

  test('an 8 MB line in 64-byte chunks is read in linear time (limit raised for the test)', async () => {
    const chunks = Array.from({ length: 128 * 1024 }, () => 'q'.repeat(64));
    const started = Date.now();
    const out = await events(['data: ', ...chunks, '\n\n'], 16 * 1024 * 1024);
    assert.equal(out[0]!.data.length, 8 * 1024 * 1024);
    // Generous: rescanning the growing line on every chunk (the old reader) takes minutes here.
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  });

  test('the tracer and evaluator line reader: lines split anywhere come out whole, an 8 MB line in linear time', () => {
    const splitter = new LineSplitter();
    const text = 'a\nbc\n\nlast';
    const lines: string[] = [];
    for (const c of text) for (const line of splitter.push(c)) lines.push(line);
    assert.deepEqual(lines, ['a', 'bc', '']);
    assert.equal(splitter.end(), 'last');
    const started = Date.now();
    const piece = 'q'.repeat(64);
    for (let i = 0; i < 128 * 1024; i++) assert.equal(splitter.push(piece).length, 0);
    assert.equal(splitter.pendingLength, 8 * 1024 * 1024);
    assert.deepEqual(splitter.push('\nx').map((line) => line.length), [8 * 1024 * 1024]);
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  });
});
