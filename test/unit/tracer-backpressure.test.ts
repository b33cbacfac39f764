// The tracer never loses an event to a slow reader: it makes the program wait (bounded buffer), its end record counts
// what it wrote, and the runner checks that count. CWM_TRACER_5M=1 adds the 5,000,000-event run (about a minute).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { recordTrace } from '../../server/tracer/runner';
import { repoRoot } from '../helpers/paths';

const python = process.env.CWM_DEBUG_PYTHON ?? 'python3';
const tracer = join(repoRoot, 'server', 'tracer', 'cwm_tracer.py');
const dir = mkdtempSync(join(tmpdir(), 'cwm-backpressure-'));
const program = join(dir, 'loop.py');
writeFileSync(program, [
  'def loop_heavy(n):',
  '    total = 0',
  '    for i in range(n):',
  '        square = i * i',
  '        if square % 3 == 0:',
  '            total += square',
  '        else:',
  '            total -= 1',
  '    return total',
  '',
].join('\n'));
/** Events of loop_heavy(n): call, line 2, four per iteration, the last loop test, the return line and the return. */
const eventsOf = (n: number): number => 4 * n + 5;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs the tracer with a reader that reads nothing for `stallMs`, then everything; returns the stream's lines. */
function readAfterStall(args: string[], stallMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [tracer, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.pause();
    setTimeout(() => {
      child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.stdout.resume();
    }, stallMs);
    child.once('error', reject);
    child.once('close', () => resolve(Buffer.concat(chunks).toString('utf8').split('\n').filter((line) => line.length > 0)));
  });
}

/** Counts the event tokens of a raw stream (see the header of cwm_tracer.py): values follow ':' names and returns. */
function countEvents(lines: string[]): number {
  let events = 0;
  let valueNext = false;
  for (const line of lines) {
    if (valueNext) {
      valueNext = false;
      continue;
    }
    if (line.startsWith('{')) continue;
    if (line.startsWith(':')) {
      valueNext = true;
      continue;
    }
    events++;
    if (line.startsWith('-') || line.startsWith('r') || line.startsWith('x')) valueNext = true;
  }
  return events;
}

/** Streams the tracer's output through a reader that stops for 300 ms after every 4 MB; counts events as they come. */
function countWhileStalling(args: string[]): Promise<{ events: number; end: string; beforeEnd: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [tracer, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let rest = '';
    let bytes = 0;
    let events = 0;
    let valueNext = false;
    const recent: string[] = [];
    const take = (line: string): void => {
      recent.push(line);
      if (recent.length > 4) recent.shift();
      if (valueNext) valueNext = false;
      else if (line.startsWith(':')) valueNext = true;
      else if (line.length > 0 && !line.startsWith('{')) {
        events++;
        if (line.startsWith('-') || line.startsWith('r') || line.startsWith('x')) valueNext = true;
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      lines.forEach(take);
      const before = bytes;
      bytes += chunk.length;
      if (Math.floor(bytes / 4e6) > Math.floor(before / 4e6)) {
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), 300);
      }
    });
    child.once('error', reject);
    child.once('close', () => resolve({ events, end: recent.at(-1) ?? '', beforeEnd: recent.at(-3) ?? '' }));
  });
}

describe('backpressure: a slow reader loses nothing', () => {
  test("the issue's reproduction: a reader that starts late still gets every event, then the end record", async () => {
    const n = 60_000;
    // The program ends long before the reader starts: the tracer must wait for it rather than give up on the rest.
    const lines = await readAfterStall(['--entry', 'loop_heavy', '--args', String(n), '--max-events', '100000000', '--timeout', '60', program], 3000);
    const end = JSON.parse(lines.at(-1)!) as { t: string; events?: number; end: { kind: string } };
    assert.equal(end.t, 'end');
    assert.equal(end.end.kind, 'returned');
    assert.equal(end.events, eventsOf(n));
    assert.equal(countEvents(lines), eventsOf(n));
    assert.equal(lines.at(-2), String(total(n)));
  });

  test('the time limit ends a run whose reader has stalled: what was written is counted, the end record last', async () => {
    const spin = join(dir, 'spin.py');
    writeFileSync(spin, 'def spin():\n    i = 0\n    while True:\n        i += 1\n');
    // The program is held up by the full pipe when the time limit passes; the watchdog must still end the run.
    const lines = await readAfterStall(['--entry', 'spin', '--max-events', '100000000', '--timeout', '1', spin], 2500);
    const end = JSON.parse(lines.at(-1)!) as { t: string; events?: number; end: { kind: string; limit?: string } };
    assert.deepEqual([end.t, end.end.kind, end.end.limit], ['end', 'limit', 'time']);
    assert.equal(end.events, countEvents(lines));
    assert.ok(end.events! > 1000, String(end.events));
  });

  test('a runner whose consumer stalls again and again keeps every frame, in order, and the end record last', async () => {
    const n = 60_000;
    let seen = 0;
    const result = await recordTrace({
      python,
      file: program,
      entry: 'loop_heavy',
      args: String(n),
      limits: { maxEvents: 10_000_000, timeoutMs: 120_000 },
      // Stalls hold up the event loop, so the pipe is not read: the tracer's buffer fills many times over.
      onFrame: (frame) => {
        assert.equal(frame.index, seen++);
        if (seen === 1) sleepSync(2500);
        else if (seen % 25_000 === 0) sleepSync(150);
      },
    });
    assert.deepEqual(result.end, { kind: 'returned' });
    assert.equal(result.frames.length, eventsOf(n));
    assert.deepEqual(result.notes, []);
    const last = result.frames.at(-1)!;
    assert.deepEqual([last.event, last.line, last.value], ['return', 9, String(total(n))]);
  });

  test('the runner says so, first in the notes, when fewer events arrive than the tracer wrote', async () => {
    // A stand-in tracer whose end record claims two more events than it sent.
    const fake = join(dir, 'cwm_fake_tracer.py');
    writeFileSync(fake, [
      'import json, os, sys',
      "print(json.dumps({'t': 'start', 'python': sys.version, 'pid': os.getpid(), 'file': sys.argv[-1]}))",
      "print(json.dumps({'t': 'begin', 'entry': {'kind': 'script'}}))",
      "print('c1,0,<module>')",
      "print('2')",
      "print('-2'); print('None')",
      "print(json.dumps({'t': 'end', 'events': 5, 'end': {'kind': 'returned'}}))",
    ].join('\n'));
    chmodSync(fake, 0o755);
    const result = await recordTrace({ python, file: program, script: true, tracerPath: fake });
    assert.equal(result.frames.length, 3);
    assert.match(result.notes[0] ?? '', /^EVENTS LOST: the tracer wrote 5 events but 3 arrived, so this trace is missing 2 steps/);
  });

  test('5,000,000 events read by a deliberately slow reader (CWM_TRACER_5M=1)', { skip: process.env.CWM_TRACER_5M ? false : 'set CWM_TRACER_5M=1 to run it' }, async () => {
    const n = 1_249_999;
    const { events, end, beforeEnd } = await countWhileStalling(['--entry', 'loop_heavy', '--args', String(n), '--max-events', '100000000', '--timeout', '900', program]);
    assert.equal(events, eventsOf(n));
    assert.equal(events, 5_000_001);
    assert.deepEqual(JSON.parse(end), { t: 'end', events: 5_000_001, end: { kind: 'returned' } });
    assert.equal(beforeEnd, '-9');
  });
});

function total(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (i * i) % 3 === 0 ? i * i : -1;
  return sum;
}
