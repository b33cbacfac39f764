// Hostile programs against the tracer and runner: each run ends within its limit plus one second, keeps a partial
// trace, says why it ended, and leaves no process behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { TRUNCATION_MARKER, type Trace } from '../../server/trace/model';
import { recordTrace, type TraceRequest } from '../../server/tracer/runner';
import { fixturesDir } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';
import { running } from '../helpers/processes';

const hostile = join(fixturesDir, 'hostile');
const pythons = availablePythons();
const python = pythons.find((p) => p.version === '3.11')?.path ?? pythons.at(-1)?.path ?? 'python3';
const limits = { timeoutMs: 2000, maxEvents: 5000 };
const dir = mkdtempSync(join(tmpdir(), 'cwm-hostile-'));
let pidCounter = 0;

async function assertGone(pids: number[]): Promise<void> {
  assert.ok(pids.length > 0);
  // The group was killed before recordTrace resolved; give the kernel a moment to finish the job.
  for (let i = 0; i < 40 && pids.some(running); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(pids.filter(running), [], 'processes left behind');
}

/** How long starting a trivial trace takes here, so the limit checks measure the limit and not the interpreter start. */
let startup = 0;

async function run(file: string, entry: string, request: Partial<TraceRequest> = {}): Promise<{ trace: Trace; ms: number; pids: number[] }> {
  const pidfile = join(dir, `pids-${++pidCounter}.txt`);
  // Programs that report their process ids get the file to write them to as their argument.
  const pidArgs = needsPidfile(file) ? { args: JSON.stringify(pidfile) } : {};
  const started = performance.now();
  const trace = await recordTrace({ python, file: join(hostile, file), entry, limits, ...pidArgs, ...request });
  const ms = performance.now() - started;
  const pids = existsSync(pidfile) ? readFileSync(pidfile, 'utf8').trim().split(/\s+/).map(Number) : [];
  return { trace, ms, pids };
}

function needsPidfile(file: string): boolean {
  return ['infinite_loop.py', 'busy_loop.py', 'gil_hog.py', 'spawns_child.py'].includes(file);
}

describe('hostile programs', { timeout: 120_000 }, () => {
  before(async () => {
    const started = performance.now();
    await recordTrace({ python, file: join(hostile, 'deep_recursion.py'), entry: 'down', args: '1' });
    startup = performance.now() - started;
  });

  test('an infinite loop stops at the event limit with exactly that many frames', async () => {
    const { trace, pids } = await run('infinite_loop.py', 'main');
    assert.equal(trace.end.kind, 'limit');
    assert.deepEqual(trace.end, { kind: 'limit', limit: 'events', message: 'The trace reached the limit of 5000 events (maxEvents); the program was stopped there.' });
    assert.equal(trace.frames.length, 5000);
    assert.equal(trace.frames.at(-1)!.functionName, 'main');
    await assertGone(pids);
  });

  test('a loop with few events stops at the time limit, within the limit plus one second', async () => {
    const { trace, ms, pids } = await run('busy_loop.py', 'main', { limits: { ...limits, maxEvents: 1_000_000 } });
    assert.equal(trace.end.kind, 'limit');
    assert.equal(trace.end.kind === 'limit' && trace.end.limit, 'time');
    assert.match(trace.end.kind === 'limit' ? trace.end.message : '', /time limit of 2 s/);
    assert.ok(trace.frames.length > 3, 'partial frames kept');
    assert.ok(ms < limits.timeoutMs + 1000 + startup, `took ${Math.round(ms)} ms`);
    await assertGone(pids);
  });

  test('a C call that never yields the interpreter is killed by the runner at the time limit', async () => {
    const { trace, ms, pids } = await run('gil_hog.py', 'main');
    assert.deepEqual(trace.end.kind === 'limit' && [trace.end.limit, /time limit/.test(trace.end.message)], ['time', true]);
    assert.ok(ms < limits.timeoutMs + 1000 + startup, `took ${Math.round(ms)} ms`);
    await assertGone(pids);
  });

  test('huge containers and strings are shown cut at the limit, in bounded time', async () => {
    const { trace } = await run('huge_containers.py', 'main', { limits: { ...limits, timeoutMs: 20_000, maxReprLength: 100 } });
    assert.deepEqual(trace.end, { kind: 'returned' });
    const last = trace.frames.at(-2)!;
    const numbers = Array.from({ length: 40 }, (_, i) => i).join(', ');
    assert.equal(last.locals.get('numbers'), `[${numbers}`.slice(0, 100) + TRUNCATION_MARKER);
    assert.equal(last.locals.get('text'), `'${'ab'.repeat(50)}`.slice(0, 100) + TRUNCATION_MARKER);
    assert.equal(last.locals.get('blob'), `b'${'\\x00'.repeat(25)}`.slice(0, 100) + TRUNCATION_MARKER);
    assert.match(last.locals.get('table')!, new RegExp(`^\\{0: 'v', 1: 'v', .*${TRUNCATION_MARKER}$`));
    assert.equal(last.locals.get('table')!.length, 100 + TRUNCATION_MARKER.length);
    assert.equal(trace.frames.at(-1)!.value, '31000000');
  });

  test("a __repr__ that raises, prints or recurses forever is shown as such, and its output is dropped", async () => {
    const { trace } = await run('repr_hostile.py', 'main');
    assert.deepEqual(trace.end, { kind: 'returned' });
    const last = trace.frames.at(-2)!;
    assert.equal(last.locals.get('bad'), '<repr raised ValueError: boom>');
    assert.equal(last.locals.get('loud'), 'Prints()');
    assert.equal(last.locals.get('deep'), '<repr raised RecursionError: maximum recursion depth exceeded>');
    assert.equal(last.locals.get('done'), '<repr raised ValueError: boom>');
    const printed = trace.frames.flatMap((f) => f.output ?? []).map((chunk) => chunk.text).join('');
    assert.equal(printed, 'the program speaks\n');
    assert.ok(trace.notes.some((note) => /repr\(\) of a Raises value raised ValueError/.test(note)), trace.notes.join(' | '));
  });

  test('a __repr__, __qualname__ or namespace key that is a str subclass: shown as text, none of its methods run, every event counted', async () => {
    for (const request of [{}, { script: true }] as const) {
      const { trace } = await run('repr_str_subclass.py', request.script ? '' : 'main', request);
      assert.deepEqual(trace.end, { kind: 'returned' });
      // The tracer counts events by token type: a str subclass taken for an event would read as events lost.
      assert.ok(!trace.notes.some((note) => /EVENTS LOST|Internal tracer error/.test(note)), trace.notes.join(' | '));
      const inMain = trace.frames.filter((f) => f.functionName === 'main');
      assert.deepEqual([inMain.at(-1)!.event, inMain.at(-1)!.value], ['return', 'Shown()']);
      const last = inMain.at(-2)!;
      assert.equal(last.locals.get('first'), 'Shown()');
      assert.equal(last.locals.get('again'), 'Shown()');
      assert.equal(last.locals.get('fn'), '<function helper>');
      assert.equal(last.locals.get('plain'), 'Plain()');
      const call = trace.frames.find((f) => f.event === 'call' && f.functionName === 'helper')!;
      assert.equal(call.locals.get('x'), 'Shown()');
      if (request.script) assert.equal(trace.frames.filter((f) => f.functionName === '<module>').at(-2)!.locals.get('odd_key'), '1');
    }
  });

  test('a __repr__ that sleeps is stopped by the time limit', async () => {
    const { trace, ms } = await run('repr_hostile.py', 'sleepy');
    assert.equal(trace.end.kind === 'limit' && trace.end.limit, 'time');
    assert.ok(trace.frames.length >= 2);
    assert.ok(ms < limits.timeoutMs + 1000 + startup, `took ${Math.round(ms)} ms`);
  });

  test('recursion 5,000 levels deep is traced in full, or cut at the event limit', async () => {
    const full = await run('deep_recursion.py', 'main', { limits: { ...limits, maxEvents: 100_000 } });
    assert.deepEqual(full.trace.end, { kind: 'returned' });
    assert.equal(Math.max(...full.trace.frames.map((f) => f.depth)), 5001);
    assert.equal(full.trace.frames.filter((f) => f.event === 'call').length, 5002);
    assert.equal(full.trace.frames.at(-1)!.value, '5000');
    const cut = await run('deep_recursion.py', 'main');
    assert.equal(cut.trace.end.kind === 'limit' && cut.trace.end.limit, 'events');
    assert.equal(cut.trace.frames.length, 5000);
  });

  test('reading stdin gets end of file', async () => {
    const { trace } = await run('exits.py', 'reads_stdin');
    assert.deepEqual(trace.end, { kind: 'raised', message: 'EOFError: EOF when reading a line (line 7)' });
    assert.deepEqual(trace.frames.flatMap((f) => f.output ?? []), [{ stream: 'stdout', text: 'name? ' }]);
  });

  test('sys.exit(3) ends the trace as exited with code 3', async () => {
    const { trace } = await run('exits.py', 'calls_sys_exit');
    assert.deepEqual(trace.end, { kind: 'exited', code: 3, message: 'The program called sys.exit(3) (line 13).' });
    assert.deepEqual(trace.frames.at(-1)!.event, 'return');
  });

  test('os._exit(4) flushes the trace first and ends it as exited with code 4', async () => {
    const { trace } = await run('exits.py', 'calls_os_exit');
    assert.deepEqual(trace.end, { kind: 'exited', code: 4, message: 'The program called os._exit(4).' });
    assert.deepEqual(trace.frames.map((f) => [f.line, f.output]).slice(-2), [[18, [{ stream: 'stdout', text: 'before os._exit\n' }]], [19, undefined]]);
  });

  test('KeyboardInterrupt ends the trace as raised', async () => {
    const { trace } = await run('exits.py', 'interrupted');
    assert.deepEqual(trace.end, { kind: 'raised', message: 'KeyboardInterrupt (line 24)' });
    assert.equal(trace.frames.filter((f) => f.event === 'exception').length, 1);
  });

  test('threads and sys.settrace in the program: notes, and the main thread is still traced', async () => {
    const { trace } = await run('threads_and_settrace.py', 'main');
    assert.deepEqual(trace.end, { kind: 'returned' });
    assert.deepEqual(trace.notes, [
      'The program started a thread; only the main thread is traced.',
      'The program called sys.settrace(); the call was ignored while tracing.',
    ]);
    assert.ok(trace.frames.every((f) => f.functionName === 'main'), 'the thread is not traced');
    assert.equal(trace.frames.at(-1)!.value, "'still traced'");
  });

  test('a child process the program started is killed with it', async () => {
    const { trace, ms, pids } = await run('spawns_child.py', 'main');
    assert.deepEqual(trace.end, { kind: 'returned' });
    assert.equal(pids.length, 2);
    assert.ok(ms < limits.timeoutMs, `took ${Math.round(ms)} ms: the child's pipes must not hold the run`);
    await assertGone(pids);
  });

  test('endless output stops at the output limit', async () => {
    const { trace } = await run('output_flood.py', 'main', { limits: { ...limits, maxEvents: 1_000_000, maxOutputBytes: 10_000 } });
    assert.deepEqual(trace.end, { kind: 'limit', limit: 'output', message: 'The program printed more than 10000 bytes (maxOutputBytes); it was stopped there.' });
    const printed = trace.frames.flatMap((f) => f.output ?? []).map((chunk) => chunk.text).join('');
    assert.ok(printed.length > 9000 && printed.length <= 10_000, `${printed.length} bytes kept`);
    assert.ok(printed.startsWith('line 0\nline 1\n'));
  });
});
