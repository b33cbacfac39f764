// `npm run bench -- queries`: the time-travel questions (server/trace/queries.ts) on a 200,000-step recording, each
// against a linear scan of the trace measured in the same run; the cost of building the index against loading the trace.

import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { indexOf, recordIndexedTrace } from '../../server/adapter/queries';
import { TraceIndex } from '../../server/trace/queries';
import { recordTrace } from '../../server/tracer/runner';
import { repoRoot } from '../helpers/paths';
import { median } from './stats';

const workloads = join(repoRoot, 'test', 'bench', 'workloads.py');
const QUESTIONS = 41;


async function timedAsync(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

function timed(run: () => unknown): number {
  const started = performance.now();
  run();
  return performance.now() - started;
}

/** The scans a debugger without an index does: walk the frames for each question. */
const scans = {
  lastChange(frames: readonly TraceFrame[], step: number, name: string): number | undefined {
    const frame = frames[step]!;
    const value = frame.locals.get(name);
    let shownAt: number | undefined;
    for (let i = step; i >= 0; i--) {
      const f = frames[i]!;
      if (f.scope !== frame.scope || (f.event !== 'call' && f.event !== 'line')) continue;
      if (f.locals.get(name) !== value) break;
      shownAt = i;
    }
    return shownAt;
  },
  history(frames: readonly TraceFrame[], step: number, name: string): number {
    const scope = frames[step]!.scope;
    let last: string | undefined;
    let count = 0;
    for (const f of frames) {
      if (f.scope !== scope || (f.event !== 'call' && f.event !== 'line')) continue;
      const value = f.locals.get(name);
      if (value !== last) count++;
      last = value;
    }
    return count;
  },
  runs(frames: readonly TraceFrame[], line: number): number {
    let count = 0;
    for (const f of frames) if (f.event === 'line' && f.line === line && f.file === undefined) count++;
    return count;
  },
  calls(frames: readonly TraceFrame[], name: string): number {
    let count = 0;
    for (const f of frames) if (f.event === 'call' && f.functionName === name) count++;
    return count;
  },
};

export async function benchQueries(print: (line?: string) => void): Promise<void> {
  print('## Time-travel questions on a 200,000-step recording (median of 41 questions at spread-out steps; lists as the');
  print('debugger answers them: the first 1,000 entries and the total)');
  const request = { file: workloads, entry: 'call_heavy', args: '40000', limits: { maxEvents: 10_000_000, timeoutMs: 600_000 } };
  // Loading as the debugger does it (the index built while the frames arrive) against loading alone, alternated.
  const plain: number[] = [];
  const indexedLoads: number[] = [];
  let trace: Trace | undefined;
  for (let round = 0; round < 3; round++) {
    plain.push(await timedAsync(() => recordTrace(request)));
    indexedLoads.push(await timedAsync(async () => (trace = await recordIndexedTrace(request))));
  }
  const frames = trace!.frames;
  const loadMs = median(plain);
  const withIndexMs = median(indexedLoads);
  print(`${frames.length} steps · loading ${loadMs.toFixed(0)} ms · loading with the index built as frames arrive ${withIndexMs.toFixed(0)} ms: ` +
    `+${(((withIndexMs - loadMs) / loadMs) * 100).toFixed(1)}% (target ≤ 25%)`);
  const buildMs = median([0, 1, 2].map(() => timed(() => new TraceIndex(frames))));
  print(`  (building the index afterwards, from the whole trace: ${buildMs.toFixed(0)} ms = ${((buildMs / loadMs) * 100).toFixed(1)}% of loading)`);
  const index = indexOf(frames);
  const steps = Array.from({ length: QUESTIONS }, (_, k) => {
    // Line frames of call_heavy's loop (scope 1), spread over the whole trace.
    let step = Math.floor(((k + 0.5) / QUESTIONS) * (frames.length - 1));
    while (frames[step]!.functionName !== 'call_heavy' || frames[step]!.event !== 'line') step--;
    return step;
  });
  for (const [label, withIndex, byScan] of [
    ['where did acc come from', (s: number) => index.lastChange(s, 'acc'), (s: number) => scans.lastChange(frames, s, 'acc')],
    ['where did n come from', (s: number) => index.lastChange(s, 'n'), (s: number) => scans.lastChange(frames, s, 'n')],
    ['value history of acc', (s: number) => index.valueHistoryPage(s, 'acc', false, 1000), (s: number) => scans.history(frames, s, 'acc')],
    ['every run of line 22', () => index.runsOfLine(22, undefined, 1000), () => scans.runs(frames, 22)],
    ['every call of add', () => index.callsOf('add'), () => scans.calls(frames, 'add')],
  ] as const) {
    const indexed = median(steps.map((s) => timed(() => withIndex(s))));
    const scanned = median(steps.map((s) => timed(() => byScan(s))));
    print(`  ${label.padEnd(26)} index ${indexed.toFixed(2).padStart(7)} ms · linear scan ${scanned.toFixed(2).padStart(7)} ms · ${(scanned / Math.max(indexed, 0.001)).toFixed(0)}x (target ≤ 20 ms)`);
  }
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) gc();
  const heap = process.memoryUsage();
  print(`heap with the trace and its index: ${(heap.heapUsed / 2 ** 20).toFixed(0)} MB used, RSS ${(heap.rss / 2 ** 20).toFixed(0)} MB (target: adapter under 300 MB)`);
}
