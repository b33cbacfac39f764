// Huge (400,000 and 10,000,000 characters) and endless predicted values from hostile servers, through dist/adapter.js:
// `threads` is answered within 200 ms throughout, the frame ends cut at the limit, the adapter stays under 500 MB.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { Debuggee } from '../helpers/debuggee';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startHostileServer, type HostileOutput, type HostileProtocol, type HostileServer } from '../servers/hostile-model';

const RESPONSIVE_MS = 200;
const MEMORY_LIMIT_BYTES = 500 * 1024 * 1024;

let dir: string;
let tokenizerPath: string;
let codec: CwmTokenizer;
let program: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cwm-freeze-adapter-'));
  tokenizerPath = await writeTestTokenizer(dir);
  codec = await loadTokenizer(tokenizerPath);
  program = join(dir, 'echo.py');
  writeFileSync(program, 'def f(s):\n    return s\n\n\nprint(f("x"))\n');
});
after(() => codec?.dispose());

/** Resident memory of a process (Linux), in bytes. */
function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? 0 : Number(match[1]) * 1024;
}

/**
 * CPU time the process's main thread has used (Linux, user + system), in ms; clock ticks are 10 ms. Only the main
 * thread answers DAP requests: V8's background threads (WASM tier-up, concurrent GC) work alongside without blocking it.
 */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Responsiveness {
  /** Slowest `threads` answer, wall clock (includes waiting for a CPU on a loaded machine). */
  slowestMs: number;
  /** Slowest answer counting only the time the adapter itself was computing meanwhile (its own blocking). */
  slowestBlockedMs: number;
  peakRss: number;
  probes: number;
}

/**
 * Sends `threads` over and over while `work` runs. A late answer counts as the adapter blocking only as far as the
 * adapter used CPU meanwhile: on a loaded test machine a process can wait for a CPU far longer than it computes.
 */
async function whileResponsive<T>(session: Debuggee, work: Promise<T>): Promise<{ outcome: PromiseSettledResult<T> } & Responsiveness> {
  const pid = session.process.pid!;
  let done = false;
  const seen: Responsiveness = { slowestMs: 0, slowestBlockedMs: 0, peakRss: rssOf(pid), probes: 0 };
  const settled = work.then(
    (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
    (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
  ).finally(() => {
    done = true;
  });
  const probe = (async () => {
    while (!done) {
      const cpuBefore = cpuMsOf(pid);
      const started = performance.now();
      await session.dc.threadsRequest();
      const wall = performance.now() - started;
      const blocked = Math.min(wall, cpuMsOf(pid) - cpuBefore + 10);
      seen.slowestMs = Math.max(seen.slowestMs, wall);
      seen.slowestBlockedMs = Math.max(seen.slowestBlockedMs, blocked);
      seen.probes++;
      seen.peakRss = Math.max(seen.peakRss, rssOf(pid));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  const outcome = await settled;
  await probe;
  return { outcome, ...seen };
}

const CUT = /step 1 could not be read as a frame \(cut off at the 4096-token limit of one step\)/;

interface Move {
  readonly name: string;
  readonly output: HostileOutput;
  readonly move: 'stepIn' | 'continue';
  readonly expect: RegExp;
}

// One adapter session per protocol; its server answers each request with the next output.
const sessions: { protocol: HostileProtocol; moves: Move[] }[] = [
  {
    protocol: 'vllm',
    moves: [
      { name: 'a 400,000-character value, one step', output: { kind: 'value', chars: 400_000 }, move: 'stepIn', expect: CUT },
      { name: 'a 10,000,000-character value, continue', output: { kind: 'value', chars: 10_000_000 }, move: 'continue', expect: CUT },
      { name: 'an endless value, continue', output: { kind: 'endless-value' }, move: 'continue', expect: CUT },
    ],
  },
  {
    protocol: 'openai',
    moves: [
      { name: 'a 10,000,000-character value as text, one step', output: { kind: 'value', chars: 10_000_000 }, move: 'stepIn', expect: CUT },
      { name: 'an endless value as text, continue', output: { kind: 'endless-value' }, move: 'continue', expect: CUT },
    ],
  },
  {
    protocol: 'fgserve',
    moves: [
      { name: 'a 10,000,000-character value in a whole answer, one step', output: { kind: 'value', chars: 10_000_000 }, move: 'stepIn', expect: /sent an answer larger than 1.1 MB for 4096 tokens asked for/ },
    ],
  },
];

for (const { protocol, moves } of sessions) {
  describe(`${protocol}: huge and endless predictions keep the adapter responsive and bounded`, { timeout: 120_000 }, () => {
    let server: HostileServer;
    let session: Debuggee;

    before(async () => {
      server = await startHostileServer({ protocol, codec, output: moves.map((m) => m.output) });
      session = await Debuggee.open();
      const stop = await session.launch({
        program, mode: 'predict', entry: 'f', args: "'x'", endpoints: [server.url], backend: protocol, tokenizer: tokenizerPath, temperature: 0.2,
      });
      assert.equal(stop.body.reason, 'entry');
    });
    after(async () => {
      await session?.close();
      await server?.close();
    });

    moves.forEach((m) => {
      test(m.name, async (t) => {
        const closedBefore = server.closedByClient;
        const endedBefore = server.ended;
        const move = m.move === 'stepIn' ? session.dc.stepInRequest({ threadId: 1 }) : session.dc.continueRequest({ threadId: 1 });
        const seen = await whileResponsive(session, move);
        t.diagnostic(`threads: ${seen.probes} answers, slowest ${seen.slowestMs.toFixed(0)} ms (${seen.slowestBlockedMs.toFixed(0)} ms of it computing); adapter RSS peak ${(seen.peakRss / 2 ** 20).toFixed(0)} MB`);
        assert.equal(seen.outcome.status, 'rejected', 'the move fails with a message, it does not hang');
        assert.match(String((seen.outcome as PromiseRejectedResult).reason), m.expect);
        assert.ok(seen.probes >= 1, 'threads was asked while the prediction ran');
        assert.ok(seen.slowestBlockedMs < RESPONSIVE_MS, `a threads answer waited ${seen.slowestBlockedMs.toFixed(0)} ms on the adapter's own work`);
        assert.ok(seen.peakRss < MEMORY_LIMIT_BYTES, `the adapter used ${(seen.peakRss / 2 ** 20).toFixed(0)} MB`);
        // An endless or 10 MB answer can only end by the adapter closing it; a 400 KB one may already sit whole in the
        // socket's buffers when the adapter aborts it: then it must at least be over.
        const closed = m.output.kind === 'endless-value' || (m.output.kind === 'value' && m.output.chars >= 1_000_000)
          ? () => server.closedByClient > closedBefore
          : () => server.ended > endedBefore;
        assert.ok(await server.waitFor(closed), 'the adapter closed the request');
        // Still usable: the entry frame is there to look at, and nothing was added to the trace.
        assert.equal((await session.stack())[0]?.name, 'f');
        assert.equal((await session.state()).length, 1);
      });
    });
  });
}
