// The API key against hostile programs and servers (issue 11): no program the extension starts (a traced program, an
// eval corpus program, their own children) sees CWM_API_KEY or the key of the launch configuration, and no message
// shows the key when a server echoes it back (a 401 that repeats the Authorization header, a mid-stream error).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { EndpointError } from '../../server/endpoint/errors';
import { childEnvironment, redactSecrets, rememberSecret } from '../../server/endpoint/redact';
import { evaluationModelOf, runEvaluation } from '../../server/eval/run';
import { recordTrace } from '../../server/tracer/runner';
import { Debuggee } from '../helpers/debuggee';
import { fixturesDir, repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer } from '../servers/protocol-server';
import { createReplayModel, prepareCorpusItems } from '../servers/replay-model';
import { loadCorpus } from '../../server/eval/corpus';

const CLI = join(repoRoot, 'dist', 'cli.js');
const python = process.env.CWM_DEBUG_PYTHON ?? 'python3';
const ENV_KEY = 'sk-env-canary-6f1d2c9a8b7e4d3c';
const OTHER_KEY = 'sk-other-canary-0a9b8c7d6e5f4a3b';
const CONFIG_KEY = 'sk-config-canary-1234567890abcdef';

/** A copy of dump_env.py in a fresh folder; returns its path and where it writes what it saw. */
function envDumper(): { file: string; dump: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-hostile-env-'));
  const file = join(dir, 'dump_env.py');
  copyFileSync(join(fixturesDir, 'hostile', 'dump_env.py'), file);
  return { file, dump: join(dir, 'env-dump.json') };
}

function assertNoKeyIn(dump: string, keys: readonly string[]): void {
  assert.ok(existsSync(dump), 'the program ran and dumped its environment');
  const text = readFileSync(dump, 'utf8');
  const seen = JSON.parse(text) as { own: Record<string, string>; child: Record<string, string> };
  assert.ok(Object.keys(seen.own).length > 0 && Object.keys(seen.child).length > 0, 'both environments were dumped');
  assert.equal(seen.own.CWM_API_KEY, undefined, 'CWM_API_KEY reached the program');
  assert.equal(seen.child.CWM_API_KEY, undefined, "CWM_API_KEY reached the program's child");
  for (const key of keys) assert.ok(!text.includes(key), `the key ${key.slice(0, 12)}… reached the program or its child`);
  assert.ok(seen.own.PATH !== undefined, 'the rest of the environment is kept');
}

/** Runs `body` with CWM_API_KEY (and another variable holding a key) set in this process's environment. */
async function withKeysInEnvironment<T>(body: () => Promise<T>): Promise<T> {
  const before = { key: process.env.CWM_API_KEY, other: process.env.MY_SERVICE_KEY };
  process.env.CWM_API_KEY = ENV_KEY;
  process.env.MY_SERVICE_KEY = OTHER_KEY;
  rememberSecret(OTHER_KEY); // as --api-key-env MY_SERVICE_KEY would
  try {
    return await body();
  } finally {
    if (before.key === undefined) delete process.env.CWM_API_KEY;
    else process.env.CWM_API_KEY = before.key;
    if (before.other === undefined) delete process.env.MY_SERVICE_KEY;
    else process.env.MY_SERVICE_KEY = before.other;
  }
}

describe('no child process sees the API key', { timeout: 120_000 }, () => {
  test('a traced program and its child (trace)', async () => {
    const { file, dump } = envDumper();
    await withKeysInEnvironment(async () => {
      const trace = await recordTrace({ python, file, args: JSON.stringify(dump) });
      assert.equal(trace.end.kind, 'returned', JSON.stringify(trace.end));
    });
    assertNoKeyIn(dump, [ENV_KEY, OTHER_KEY]);
  });

  test('a program traced by the debug adapter, with the key in its environment and in the launch configuration', async () => {
    const { file, dump } = envDumper();
    const session = await withKeysInEnvironment(async () => Debuggee.open());
    try {
      await session.launch({ program: file, mode: 'actual', entry: 'dump', args: JSON.stringify(dump), apiKey: CONFIG_KEY, python });
    } finally {
      await session.close();
    }
    assertNoKeyIn(dump, [ENV_KEY, CONFIG_KEY]);
  });

  test('an eval corpus program', async () => {
    const { file, dump } = envDumper();
    const work = mkdtempSync(join(tmpdir(), 'cwm-hostile-eval-'));
    const tokenizerPath = await writeTestTokenizer(work);
    const codec: CwmTokenizer = await loadTokenizer(tokenizerPath);
    const replay = createReplayModel({ codec });
    const corpus = loadCorpus(join(file, '..'));
    await prepareCorpusItems(replay, corpus.items);
    rmSync(dump);
    const server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
    try {
      await withKeysInEnvironment(async () => {
        const client = await connectEndpoint({ url: server.url, apiKey: ENV_KEY, timeouts: { totalMs: 60_000 } }, codec);
        try {
          const outcome = await runEvaluation({ corpus: join(file, '..'), outDir: join(work, 'run'), model: evaluationModelOf({ pool: client, codec, clients: [client] }) });
          assert.equal(outcome.totals.programs.done, 1);
        } finally {
          await client.close();
        }
      });
    } finally {
      await server.close();
      codec.dispose();
    }
    assertNoKeyIn(dump, [ENV_KEY, OTHER_KEY]);
  });

  test('childEnvironment drops CWM_API_KEY and any variable holding a known key, and keeps the rest', () => {
    rememberSecret('sk-remembered-0123456789');
    const env = childEnvironment({ EXTRA: '1' }, { CWM_API_KEY: 'x', PATH: '/bin', OTHER: 'sk-remembered-0123456789', HOME: '/h' });
    assert.deepEqual(env, { PATH: '/bin', HOME: '/h', EXTRA: '1' });
  });
});

/**
 * A hostile server in front of vLLM's API (a misconfigured proxy, say): every error it sends repeats the request's
 * Authorization header. Real vLLM answers a bad key with {"error": "Unauthorized"} (vllm/entrypoints/openai/api_server.py,
 * the authentication middleware) and a failed generation mid-stream with `data: {"error": {...}}` (serving_completion.py);
 * this one puts the key in both.
 */
async function startEchoingServer(mode: '401' | 'mid-stream'): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'facebook/cwm', object: 'model', owned_by: 'vllm', max_model_len: 131072 }] }));
        return;
      }
      if (mode === '401') {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `Invalid credentials "${auth}" (Authorization: ${auth}; url ${req.url}?api_key=${auth.slice(7)})`, type: 'auth', code: 401 } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: ${JSON.stringify({ id: 'c', object: 'text_completion', choices: [{ index: 0, text: '', token_ids: [], finish_reason: null }] })}\n\n`);
      res.end(`data: ${JSON.stringify({ error: { message: `generation failed for ${auth}; the key ${auth.slice(7)} is rate limited`, code: 500 } })}\n\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', CWM_ENDPOINT: '', CWM_TOKENIZER: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('no message shows the key a server echoes', { timeout: 120_000 }, () => {
  let tokenizerPath: string;
  const program = join(fixturesDir, 'hostile', 'memory_hog.py');
  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-hostile-tok-')));
  });

  for (const mode of ['401', 'mid-stream'] as const) {
    test(`CLI stderr, when the server echoes the key in ${mode === '401' ? 'a 401' : 'a mid-stream error'}`, async () => {
      const server = await startEchoingServer(mode);
      try {
        const result = await runCli(['predict', program, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--backend', 'vllm'], { CWM_API_KEY: ENV_KEY });
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, mode === '401' ? /HTTP 401/ : /failed while generating/);
        assert.match(result.stderr, /\[redacted\]/);
        assert.ok(!(result.stdout + result.stderr).includes(ENV_KEY), `the key was shown: ${result.stderr}`);
        assert.ok(!(result.stdout + result.stderr).includes(ENV_KEY.slice(0, 12)), `part of the key was shown: ${result.stderr}`);
      } finally {
        await server.close();
      }
    });

    test(`DAP launch error, when the server echoes the launch configuration's key in ${mode === '401' ? 'a 401' : 'a mid-stream error'}`, async () => {
      const server = await startEchoingServer(mode);
      const session = await Debuggee.open();
      try {
        const message = await session.launchError({ program, mode: 'predict', endpoints: [server.url], tokenizer: tokenizerPath, apiKey: CONFIG_KEY, backend: 'vllm', stopOnEntry: false });
        assert.match(message, mode === '401' ? /HTTP 401/ : /failed while generating/);
        assert.ok(!message.includes(CONFIG_KEY) && !message.includes(CONFIG_KEY.slice(0, 12)), `the key was shown: ${message}`);
        const outputs = session.outputs.map((event) => event.body.output).join('');
        assert.ok(!outputs.includes(CONFIG_KEY), `the key was in the debug console: ${outputs}`);
      } finally {
        await session.close();
        await server.close();
      }
    });
  }

  test('redactSecrets: whole keys, cut-off fragments, Bearer tokens, Authorization headers and api_key= parameters', () => {
    rememberSecret('sk-unit-abcdefghijklmnop');
    const text = redactSecrets('key sk-unit-abcdefghijklmnop; cut sk-unit-abcdefgh…; Bearer xyz123; "Authorization": "token42"; http://h/v1?api_key=zzz&x=1');
    assert.equal(text, 'key [redacted]; cut [redacted]…; Bearer [redacted]; "Authorization": "[redacted]"; http://h/v1?api_key=[redacted]&x=1');
    const error = new EndpointError('http', 'echo sk-unit-abcdefghijklmnop', { serverMessage: 'Bearer sk-unit-abcdefghijklmnop' });
    assert.ok(!error.message.includes('abcdefgh') && !error.serverMessage!.includes('abcdefgh'));
  });
});

after(() => undefined);
