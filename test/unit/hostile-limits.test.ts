// Hostile programs against the limits of a trace (issue 11): nothing they start outlives the trace (setsid daemons,
// forks, SIGTERM-ignorers), memory is bounded, forged records on the tracer's channel are refused and reported,
// and the program runs in the caller's folder (or the one asked for).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { recordTrace } from '../../server/tracer/runner';
import { fixturesDir } from '../helpers/paths';
import { pidsIn, running } from '../helpers/processes';

const hostile = join(fixturesDir, 'hostile');
const python = process.env.CWM_DEBUG_PYTHON ?? 'python3';
const dir = mkdtempSync(join(tmpdir(), 'cwm-hostile-limits-'));
const linux = process.platform === 'linux';

async function assertAllGone(pids: number[]): Promise<void> {
  // recordTrace resolves once the keeper has killed everything; allow the kernel a moment to reap.
  for (let i = 0; i < 20 && pids.some(running); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const left = pids.filter(running);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], 'processes of the program outlived the trace');
}

describe('escapes from the limits', { timeout: 120_000 }, () => {
  test('a setsid() daemon, a forked child and SIGTERM-ignorers die when the trace ends (program returns)', { skip: !linux }, async () => {
    const pidfile = join(dir, 'returns.pids');
    const trace = await recordTrace({ python, file: join(hostile, 'escapes.py'), args: JSON.stringify(pidfile), limits: { timeoutMs: 10_000 } });
    assert.equal(trace.end.kind, 'returned', JSON.stringify(trace.end));
    const pids = pidsIn(pidfile);
    assert.equal(pids.length, 3, `the program, its daemon and its child wrote their ids: ${pids.join(' ')}`);
    await assertAllGone(pids);
  });

  test('... and when the trace is stopped at its time limit', { skip: !linux }, async () => {
    const pidfile = join(dir, 'linger.pids');
    const trace = await recordTrace({ python, file: join(hostile, 'escapes.py'), args: `${JSON.stringify(pidfile)}, True`, limits: { timeoutMs: 1500 } });
    assert.equal(trace.end.kind, 'limit');
    await assertAllGone(pidsIn(pidfile));
  });

  test('... and when the trace is cancelled', { skip: !linux }, async () => {
    const pidfile = join(dir, 'cancel.pids');
    const abort = new AbortController();
    const timer = setInterval(() => {
      if (pidsIn(pidfile).length === 3) abort.abort();
    }, 50);
    try {
      await assert.rejects(
        recordTrace({ python, file: join(hostile, 'escapes.py'), args: `${JSON.stringify(pidfile)}, True`, limits: { timeoutMs: 20_000 }, signal: abort.signal }),
        /cancelled/,
      );
    } finally {
      clearInterval(timer);
    }
    await assertAllGone(pidsIn(pidfile));
  });

  test('a program allocating far past the memory limit ends with a memory limit, said in words', { skip: process.platform === 'win32' }, async () => {
    const trace = await recordTrace({ python, file: join(hostile, 'memory_hog.py'), limits: { maxMemoryMb: 300, timeoutMs: 20_000 } });
    assert.equal(trace.end.kind, 'limit', JSON.stringify(trace.end));
    assert.equal(trace.end.kind === 'limit' && trace.end.limit, 'memory');
    assert.match(trace.end.kind === 'limit' ? trace.end.message : '', /memory at the limit of 300 MB \(maxMemoryMb\)/);
    assert.ok(trace.frames.length > 0, 'the partial trace is kept');
  });

  test('forged records written to the tracer\'s descriptors are refused and reported', async () => {
    const trace = await recordTrace({ python, file: join(hostile, 'forge_channel.py') });
    assert.equal(trace.end.kind, 'raised', `the genuine end stands: ${JSON.stringify(trace.end)}`);
    assert.match(trace.end.kind === 'raised' ? trace.end.message : '', /ValueError: genuine/);
    assert.ok(!trace.frames.some((frame) => frame.functionName === 'forged'), 'no forged frame');
    assert.ok(!trace.notes.some((note) => note.includes('forged note')), 'no forged note');
    assert.ok(trace.notes.some((note) => /wrote to the tracer's private channel/.test(note) && /bytes were ignored/.test(note)), trace.notes.join('\n'));
    assert.ok(trace.frames.some((frame) => frame.locals.get('after') === "'genuine'"), 'the genuine frames after the forgery are all there');
  });

  test('before the tracer\'s first frame its own plain output still counts: Python 3.7 gets the tracer\'s message', async (t) => {
    const old = '/root/.pyenv/versions/3.7.16/bin/python3';
    if (!existsSync(old)) return t.skip('no Python 3.7 here');
    await assert.rejects(recordTrace({ python: old, file: join(hostile, 'where_am_i.py') }), /The tracer needs Python 3\.8 or newer; this is Python 3\.7/);
  });

  test('the program runs in the caller\'s folder, or in the one asked for, as `python prog.py` would', async () => {
    const here = mkdtempSync(join(dir, 'caller-'));
    writeFileSync(join(here, 'relative.txt'), 'found it\n');
    const previous = process.cwd();
    process.chdir(here);
    let trace;
    try {
      trace = await recordTrace({ python, file: join(hostile, 'where_am_i.py') });
    } finally {
      process.chdir(previous);
    }
    assert.equal(trace.end.kind, 'returned', JSON.stringify(trace.end));
    assert.equal(trace.frames.at(-1)?.value, `(${JSON.stringify(here).replace(/"/g, "'")}, 'found it')`);
    const asked = await recordTrace({ python, file: join(hostile, 'where_am_i.py'), cwd: here });
    assert.equal(asked.frames.at(-1)?.value, `(${JSON.stringify(here).replace(/"/g, "'")}, 'found it')`);
  });
});
