// The debug adapter against a hostile or broken client (issue 11): malformed messages (invalid JSON, a null body, a
// numeric command, a bad header) are answered with an error and the session carries on; and whatever ends the
// adapter, the tracer and everything the traced program started die with it.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ADAPTER } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { pidsIn, running } from '../helpers/processes';

const python = process.env.CWM_DEBUG_PYTHON ?? 'python3';
const linux = process.platform === 'linux';

interface Received {
  type: string;
  seq: number;
  request_seq?: number;
  success?: boolean;
  command?: string;
  message?: string;
  event?: string;
  body?: Record<string, unknown>;
}

/** dist/adapter.js over raw stdio: bytes in, parsed messages out. */
class RawClient {
  readonly child: ChildProcessWithoutNullStreams;
  readonly received: Received[] = [];
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor() {
    this.child = spawn(process.execPath, [ADAPTER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.resume();
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) break;
        const length = Number(/Content-Length: (\d+)/.exec(this.buffer.subarray(0, end).toString())?.[1]);
        if (this.buffer.length < end + 4 + length) break;
        this.received.push(JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString()) as Received);
        this.buffer = this.buffer.subarray(end + 4 + length);
      }
      for (const waiter of this.waiters.splice(0)) waiter();
    });
  }

  sendRaw(body: string, header?: string): void {
    this.child.stdin.write(`${header ?? `Content-Length: ${Buffer.byteLength(body)}`}\r\n\r\n${body}`);
  }

  send(message: Record<string, unknown>): void {
    this.sendRaw(JSON.stringify(message));
  }

  async waitFor(predicate: (message: Received) => boolean, timeoutMs = 20_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such message within ${timeoutMs} ms; got ${JSON.stringify(this.received).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('malformed DAP messages', { timeout: 60_000 }, () => {
  test('invalid JSON, a null body, a numeric command and a bad header are answered with errors; the session carries on', async () => {
    const client = new RawClient();
    try {
      client.sendRaw('{"seq": 1, "type": "request", "command": "initialize", "arguments": {');
      const invalid = await client.waitFor((m) => m.type === 'response' && m.request_seq === 1);
      assert.equal(invalid.success, false);
      assert.match(invalid.message ?? '', /invalid JSON.*carries on/);

      client.sendRaw('null');
      const nullBody = await client.waitFor((m) => m.type === 'response' && /null instead of an object/.test(m.message ?? ''));
      assert.equal(nullBody.success, false);

      client.send({ seq: 3, type: 'request', command: 42, arguments: {} });
      const numeric = await client.waitFor((m) => m.type === 'response' && m.request_seq === 3);
      assert.equal(numeric.success, false);
      assert.match(numeric.message ?? '', /command/);

      client.send({ seq: 4, type: 'request', command: 'threads', arguments: null });
      const nullArgs = await client.waitFor((m) => m.type === 'response' && m.request_seq === 4);
      assert.equal(nullArgs.success, false);

      client.sendRaw('{}', 'Content-Length: banana');
      await client.waitFor((m) => m.type === 'response' && /Content-Length/.test(m.message ?? ''));

      // Still alive and speaking the protocol.
      client.send({ seq: 10, type: 'request', command: 'initialize', arguments: { adapterID: 'cwm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' } });
      const initialized = await client.waitFor((m) => m.type === 'response' && m.request_seq === 10);
      assert.equal(initialized.success, true);
      client.send({ seq: 11, type: 'request', command: 'threads' });
      assert.equal((await client.waitFor((m) => m.type === 'response' && m.request_seq === 11)).success, true);
      assert.equal(client.child.exitCode, null, 'the adapter is still running');
    } finally {
      client.child.kill('SIGKILL');
      await client.exited;
    }
  });
});

describe('the adapter takes the tracer and the program with it', { timeout: 90_000 }, () => {
  for (const how of ['is killed (SIGKILL)', 'loses its client (stdin closes)', 'gets SIGTERM'] as const) {
    test(`when the adapter ${how} during a trace, nothing of the program is left`, { skip: !linux }, async () => {
      const pidfile = join(mkdtempSync(join(tmpdir(), 'cwm-hostile-dap-')), 'pids');
      const client = new RawClient();
      try {
        client.send({ seq: 1, type: 'request', command: 'initialize', arguments: { adapterID: 'cwm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' } });
        await client.waitFor((m) => m.request_seq === 1);
        client.send({
          seq: 2, type: 'request', command: 'launch',
          arguments: { program: join(fixturesDir, 'hostile', 'escapes.py'), mode: 'actual', python, entry: 'escape', args: `${JSON.stringify(pidfile)}, True`, tracerLimits: { timeoutMs: 60_000 } },
        });
        await client.waitFor((m) => m.event === 'initialized');
        client.send({ seq: 3, type: 'request', command: 'configurationDone' });
        await waitUntil(() => pidsIn(pidfile).length === 3, 'the program, its daemon and its child to start');
        if (how === 'is killed (SIGKILL)') client.child.kill('SIGKILL');
        else if (how === 'gets SIGTERM') client.child.kill('SIGTERM');
        else client.child.stdin.end();
        await client.exited;
        const pids = pidsIn(pidfile);
        try {
          await waitUntil(() => !pids.some(running), 'every process of the program to be gone', 5000);
        } catch {
          const left = pids.filter(running);
          for (const pid of left) process.kill(pid, 'SIGKILL');
          assert.deepEqual(left, [], 'processes of the program outlived the adapter');
        }
      } finally {
        client.child.kill('SIGKILL');
      }
    });
  }
});
