// The tracer's two hooks write the same trace: under Python 3.12 and 3.13, sys.settrace and sys.monitoring give
// byte-identical CWM text for CRUXEval programs and the hostile programs. npm test runs a sample;
// CWM_TRACER_HOOKS_FULL=1 runs all 800 corpus programs and every hostile case.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { renderTrace } from '../../server/cwm/writer';
import type { Trace } from '../../server/trace/model';
import { recordTrace, TracerError, type TraceRequest } from '../../server/tracer/runner';
import { fixturesDir } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';

const full = Boolean(process.env.CWM_TRACER_HOOKS_FULL);
const CorpusItem = z.object({ code: z.string(), input: z.string(), output: z.string(), id: z.string() });
const corpus = readFileSync(join(fixturesDir, 'corpus', 'cruxeval.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => CorpusItem.parse(JSON.parse(line)));
// The sample: every 80th program (10), spread over the corpus.
const programs = full ? corpus : corpus.filter((_, i) => i % 80 === 7);
const dir = mkdtempSync(join(tmpdir(), 'cwm-hooks-'));
const hostile = join(fixturesDir, 'hostile');
const hostileLimits = { timeoutMs: 2000, maxEvents: 5000 };

/** Hostile cases; `cut` ones end at the time limit, so only the frames both runs reached can be compared. */
const HOSTILE: { file: string; entry: string; limits?: TraceRequest['limits']; cut?: true; sample?: true }[] = [
  { file: 'infinite_loop.py', entry: 'main', sample: true },
  { file: 'huge_containers.py', entry: 'main', limits: { timeoutMs: 20_000, maxReprLength: 100 }, sample: true },
  { file: 'repr_hostile.py', entry: 'main', sample: true },
  { file: 'deep_recursion.py', entry: 'main', limits: { maxEvents: 100_000 }, sample: true },
  { file: 'exits.py', entry: 'reads_stdin' },
  { file: 'exits.py', entry: 'calls_sys_exit', sample: true },
  { file: 'exits.py', entry: 'calls_os_exit' },
  { file: 'exits.py', entry: 'interrupted', sample: true },
  { file: 'threads_and_settrace.py', entry: 'main', sample: true },
  { file: 'output_flood.py', entry: 'main', limits: { maxEvents: 1_000_000, maxOutputBytes: 10_000 } },
  { file: 'busy_loop.py', entry: 'main', limits: { maxEvents: 1_000_000, timeoutMs: 1000 }, cut: true },
  { file: 'gil_hog.py', entry: 'main', limits: { timeoutMs: 1000 }, cut: true },
  { file: 'repr_hostile.py', entry: 'sleepy', limits: { timeoutMs: 1000 }, cut: true },
  { file: 'spawns_child.py', entry: 'main', cut: true },
];

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  }));
  return results;
}

/** The CWM text of a trace, and what the text does not hold (notes, how it ended). */
function written(trace: Trace): string {
  // A thread's repr holds its native id, which differs from run to run.
  const text = `${renderTrace(trace)}\n--- ${JSON.stringify(trace.end)} ${JSON.stringify(trace.notes)}`;
  return text.replace(/(<Thread\(.*?, started(?: daemon)?) \d+\)/g, '$1 N)');
}

const newer = availablePythons().filter((p) => Number(p.version.split('.')[1]) >= 12);
if (newer.length === 0) test('sys.monitoring hook', { skip: 'no Python 3.12 or newer installed here' }, () => {});

for (const { version, path: python } of newer) {
  const both = async (request: Omit<TraceRequest, 'python' | 'hook'>): Promise<[Trace, Trace]> => [
    await recordTrace({ python, ...request, hook: 'settrace' }),
    await recordTrace({ python, ...request, hook: 'monitoring' }),
  ];

  describe(`sys.settrace and sys.monitoring under Python ${version}`, { timeout: 1_800_000 }, () => {
    test(`${programs.length} CRUXEval programs: byte-identical CWM text`, async () => {
      const differing = (await mapLimit(programs, 2, async (item) => {
        const file = join(dir, `${item.id}.py`);
        writeFileSync(file, item.code + '\n');
        const [settrace, monitoring] = await both({ file, entry: 'f', args: item.input, limits: { timeoutMs: 20_000, maxReprLength: 1_000_000 } });
        assert.equal(settrace.end.kind, 'returned', item.id);
        return written(settrace) === written(monitoring) ? undefined : item.id;
      })).filter((id) => id !== undefined);
      assert.deepEqual(differing, []);
    });

    for (const { file, entry, limits, cut, sample } of HOSTILE) {
      if (!full && !sample) continue;
      test(`hostile ${file} ${entry}: ${cut ? 'the frames both reached are' : 'byte-identical CWM text'}${cut ? ' identical' : ''}`, async () => {
        const pidArgs = ['infinite_loop.py', 'busy_loop.py', 'gil_hog.py', 'spawns_child.py'].includes(file) ? { args: JSON.stringify(join(dir, `${file}.pids`)) } : {};
        const [settrace, monitoring] = await both({ file: join(hostile, file), entry, limits: { ...hostileLimits, ...limits }, ...pidArgs });
        if (!cut) return assert.equal(written(monitoring), written(settrace));
        const common = Math.min(settrace.frames.length, monitoring.frames.length);
        // The last common frame may have been cut mid-way (its locals); the ones before are complete.
        const shown = (trace: Trace): Trace => ({ ...trace, frames: trace.frames.slice(0, Math.max(0, common - 1)), end: { kind: 'returned' } });
        assert.equal(renderTrace(shown(monitoring)), renderTrace(shown(settrace)));
      });
    }
  });
}

describe('choosing the hook', () => {
  const monitored = newer.at(-1);
  test('a program that turns off the tracer\'s sys.monitoring tool is still traced, and told its calls were ignored', { skip: monitored ? false : 'no Python 3.12 or newer here' }, async () => {
    const file = join(dir, 'monitoring_user.py');
    writeFileSync(file, [
      'import sys',
      'def main():',
      '    m = sys.monitoring',
      '    m.set_events(4, 0)',
      '    m.register_callback(4, m.events.LINE, None)',
      '    m.use_tool_id(3, "its own")',
      '    m.free_tool_id(3)',
      '    after = "still traced"',
      '    return after',
      '',
    ].join('\n'));
    const trace = await recordTrace({ python: monitored!.path, file, entry: 'main', hook: 'monitoring' });
    assert.deepEqual(trace.end, { kind: 'returned' });
    assert.deepEqual(trace.frames.map((f) => f.line), [2, 3, 4, 5, 6, 7, 8, 9, 9]);
    assert.equal(trace.frames.at(-1)!.value, "'still traced'");
    assert.deepEqual(trace.notes, ['The program used sys.monitoring tool id 4, which the tracer uses; the call was ignored while tracing.']);
  });

  const older = availablePythons().find((p) => Number(p.version.split('.')[1]) < 12);
  test('asking for sys.monitoring where there is none says so', { skip: older ? false : 'no Python before 3.12 here' }, async () => {
    const file = join(dir, 'tiny.py');
    writeFileSync(file, 'def f():\n    return 1\n');
    await assert.rejects(recordTrace({ python: older!.path, file, entry: 'f', hook: 'monitoring' }),
      (error: unknown) => error instanceof TracerError && error.kind === 'tracer-failed' && /sys\.monitoring is not available here/.test(error.message));
  });
});
