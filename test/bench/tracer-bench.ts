// `npm run bench -- tracer`: the tracer's cost per event against its peers in the same rounds (plain CPython, a naive
// settrace recorder, python -m trace --trace, coverage.py where installed, a sys.monitoring floor recorder on 3.12+),
// on every installed Python 3.8–3.13, the CLI end to end against the tracer alone, and the memory a held trace costs.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Trace } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { repoRoot } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';
import { median } from './stats';

const benchDir = join(repoRoot, 'test', 'bench');
const tracerScript = join(repoRoot, 'server', 'tracer', 'cwm_tracer.py');
const workloads = join(benchDir, 'workloads.py');
const runWorkload = join(benchDir, 'run_workload.py');
const cli = join(repoRoot, 'dist', 'cli.js');
const ROUNDS = 5;
/** CWM_BENCH_PYTHONS=3.12,3.13 limits the run to those versions. */
const onlyVersions = process.env.CWM_BENCH_PYTHONS?.split(',').map((v) => v.trim());

interface Workload {
  name: string;
  entry: string;
  /** Size for the fast peers; the slow ones (naive, python -m trace) run a fraction of it. */
  size: number;
  kind: 'loop/call' | 'container/realistic';
}

// Loop and call code, whose targets are tight, run 200,000 events or more between the two sizes of a slope: a run's
// fixed costs vary by ±15 ms from run to run (the CLI's start-up and JIT), which is ±0.15 µs per event over 100,000
// events (7% of the CLI's cost) and half that over 200,000.
const WORKLOADS: Workload[] = [
  { name: 'loop', entry: 'loop_heavy', size: 120_000, kind: 'loop/call' },
  { name: 'call', entry: 'call_heavy', size: 80_000, kind: 'loop/call' },
  { name: 'container', entry: 'container_heavy', size: 20_000, kind: 'container/realistic' },
  { name: 'text', entry: 'text_heavy', size: 15_000, kind: 'container/realistic' },
];

interface Peer {
  name: string;
  /** Fraction of the workload's size this peer runs (slow peers run less so a round stays short). */
  scale: number;
  command(python: string, w: Workload, size: number): [string, string[]];
}

const PEERS: Peer[] = [
  { name: 'plain', scale: 1, command: (py, w, n) => [py, [runWorkload, workloads, w.entry, String(n)]] },
  { name: 'naive', scale: 0.5, command: (py, w, n) => [py, [join(benchDir, 'naive_recorder.py'), workloads, w.entry, String(n)]] },
  { name: 'trace', scale: 0.1, command: (py, w, n) => [py, ['-m', 'trace', '--trace', runWorkload, workloads, w.entry, String(n)]] },
  { name: 'coverage', scale: 1, command: (py, w, n) => [py, ['-m', 'coverage', 'run', '--data-file', '/dev/null', runWorkload, workloads, w.entry, String(n)]] },
  { name: 'floor', scale: 1, command: (py, w, n) => [py, [join(benchDir, 'monitoring_floor.py'), workloads, w.entry, String(n)]] },
  { name: 'tracer', scale: 1, command: (py, w, n) => [py, ['-X', 'utf8', tracerScript, '--entry', w.entry, '--args', String(n), '--max-events', '100000000', '--timeout', '600', workloads]] },
  { name: 'cli', scale: 1, command: (py, w, n) => [process.execPath, [cli, 'trace', workloads, '--entry', w.entry, '--args', String(n), '--format', 'cwm', '--python', py, '--max-events', '100000000', '--timeout', '600']] },
];


/**
 * CPU time (user + system, the command and its children) stays meaningful on a loaded machine, where wall time mostly
 * measures the other processes. Read from getrusage(RUSAGE_CHILDREN) in a small python3 wrapper, to the microsecond
 * (GNU time prints hundredths of a second: 0.1 µs per event over 100,000 events); GNU time where
 * there is no python3.
 */
const RUSAGE_WRAPPER = [
  'import resource, subprocess, sys',
  // What the wrapper's own start-up's children cost (a pyenv shim runs a few) is not the command's.
  'before = resource.getrusage(resource.RUSAGE_CHILDREN)',
  'code = subprocess.run(sys.argv[2:]).returncode',
  'after = resource.getrusage(resource.RUSAGE_CHILDREN)',
  "open(sys.argv[1], 'w').write('%.6f %.6f' % (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))",
  'sys.exit(code)',
].join('\n');
const cpuTimer: ((out: string, command: string, args: string[]) => [string, string[]]) | undefined =
  spawnSync('python3', ['-c', 'import resource'], { stdio: 'ignore' }).status === 0
    ? (out, command, args) => ['python3', ['-c', RUSAGE_WRAPPER, out, command, ...args]]
    : existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-f', '%U', 'true'], { stdio: 'ignore' }).status === 0
      ? (out, command, args) => ['/usr/bin/time', ['-o', out, '-f', '%U %S', command, ...args]]
      : undefined;
const timesFile = join(mkdtempSync(join(tmpdir(), 'cwm-bench-')), 'time.txt');

export interface Took {
  wall: number;
  /** User + system milliseconds of the command and its children; NaN without a CPU timer. */
  cpu: number;
}

/** How long a command took; its stdout is drained and dropped. */
export function timeProcess(command: string, args: string[]): Promise<Took> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const [cmd, argv] = cpuTimer ? cpuTimer(timesFile, command, args) : [command, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONHASHSEED: '0' } });
    child.stdout.resume();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-400)));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0 && code !== 3) return reject(new Error(`${command} ${args.slice(0, 3).join(' ')} exited ${code}: ${stderr}`));
      const wall = performance.now() - started;
      if (!cpuTimer) return resolve({ wall, cpu: NaN });
      const [user, system] = readFileSync(timesFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
      resolve({ wall, cpu: ((user ?? NaN) + (system ?? NaN)) * 1000 });
    });
  });
}

/** Events of a workload at a size, from the tracer's own count in its end record. */
function eventsAt(python: string, w: Workload, size: number): number {
  const run = spawnSync(python, [tracerScript, '--entry', w.entry, '--args', String(size), '--max-events', '100000000', '--timeout', '600', workloads], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const end = run.stdout.trimEnd().split('\n').at(-1) ?? '';
  return (JSON.parse(end) as { events: number }).events;
}

function has(python: string, module: string): boolean {
  return spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Cost per event of each peer: the slope between two sizes of the same workload, half and all of it:
 * (time at n − time at n/2 − plain CPython's own difference) / (events at n − events at n/2). So interpreter start-up,
 * imports, the tracer's set-up and the CLI's start-up and JIT warm-up (fixed costs, reported apart) cancel out: the
 * CLI's Node side reaches its steady speed after about 100,000 events (the first 50,000 cost ~2 µs each while V8
 * compiles), and half of each workload is past that. Each round runs every peer at both sizes, so all peers see the
 * same machine load.
 */
async function benchPython(python: string, version: string, print: (line?: string) => void, ratios: string[]): Promise<void> {
  const minor = Number(version.split('.')[1]);
  const peers = PEERS.filter((p) => (p.name !== 'floor' || minor >= 12) && (p.name !== 'coverage' || has(python, 'coverage')));
  const absent = PEERS.filter((p) => !peers.includes(p)).map((p) => (p.name === 'floor' ? 'floor (needs 3.12+)' : `${p.name} (not installed)`));
  print(`### Python ${version}${absent.length ? ` — without ${absent.join(', ')}` : ''}`);
  // Start-up (size 0) once per peer, in rounds of its own; it is the same for every workload.
  const empty = new Map<string, Took[]>(peers.map((p) => [p.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const peer of peers) empty.get(peer.name)!.push(await timeProcess(...peer.command(python, WORKLOADS[0]!, 0)));
  }
  for (const w of WORKLOADS) {
    const sizes = new Map(peers.map((p) => [p.name, Math.max(5, Math.round(w.size * p.scale))]));
    const baseSize = (size: number): number => Math.round(size / 2);
    const events = new Map<number, number>();
    for (const size of new Set([0, ...sizes.values(), ...[...sizes.values()].map(baseSize)])) events.set(size, eventsAt(python, w, size));
    const full = new Map<string, Took[]>(peers.map((p) => [p.name, []]));
    const base = new Map<string, Took[]>(peers.map((p) => [p.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const peer of peers) {
        const size = sizes.get(peer.name)!;
        base.get(peer.name)!.push(await timeProcess(...peer.command(python, w, baseSize(size))));
        full.get(peer.name)!.push(await timeProcess(...peer.command(python, w, size)));
      }
    }
    const clocks: ('cpu' | 'wall')[] = cpuTimer ? ['cpu', 'wall'] : ['wall'];
    print(`${w.name.padEnd(9)} ${events.get(w.size)} events`);
    for (const clock of clocks) {
      const at = (name: string, runs: Map<string, Took[]>) => median(runs.get(name)!.map((took) => took[clock]));
      const plainSize = sizes.get('plain')!;
      const plainPerUnit = (at('plain', full) - at('plain', base)) / (plainSize - baseSize(plainSize));
      const perEvent = new Map<string, number>();
      const fixed = new Map<string, number>();
      for (const peer of peers) {
        if (peer.name === 'plain') continue;
        const size = sizes.get(peer.name)!;
        const small = baseSize(size);
        const traced = at(peer.name, full) - at(peer.name, base) - plainPerUnit * (size - small);
        const slope = (traced * 1000) / (events.get(size)! - events.get(small)!);
        perEvent.set(peer.name, slope);
        // What the run costs above its start-up beyond its events: the JIT's warm-up for the CLI, ~0 for Python.
        fixed.set(peer.name, at(peer.name, base) - plainPerUnit * small - (slope * (events.get(small)! - events.get(0)!)) / 1000 - at(peer.name, empty));
      }
      const us = (name: string) => (perEvent.has(name) ? `${name} ${perEvent.get(name)!.toFixed(2)}` : '');
      print(`  ${clock.padEnd(4)} µs/event: ${['tracer', 'cli', 'floor', 'naive', 'trace', 'coverage'].map(us).filter(Boolean).join(' · ')}`);
      print(`       fixed ms: start-up cli ${at('cli', empty).toFixed(0)}, tracer ${at('tracer', empty).toFixed(0)}; warm-up above it cli ${fixed.get('cli')!.toFixed(0)}, tracer ${fixed.get('tracer')!.toFixed(0)}`);
      const tracer = perEvent.get('tracer')!;
      const naive = perEvent.get('naive')!;
      const naiveTarget = w.kind === 'loop/call' ? 0.25 : 0.6;
      const parts = [`tracer/naive ${(tracer / naive).toFixed(2)} (target ≤ ${naiveTarget})`];
      if (w.kind === 'loop/call') parts.push(`cli/naive ${(perEvent.get('cli')! / naive).toFixed(2)} (target ≤ 0.4)`);
      if (perEvent.has('floor') && w.kind === 'loop/call') parts.push(`tracer/floor ${(tracer / perEvent.get('floor')!).toFixed(2)} (target ≤ 1.3)`);
      parts.push(`cli/tracer ${(perEvent.get('cli')! / tracer).toFixed(2)}`);
      print(`       ${parts.join(' · ')}`);
      ratios.push(`${version} ${w.name.padEnd(9)} ${clock.padEnd(4)} ${parts.join(' · ')}`);
    }
  }
}

/** Heap bytes per frame that a recorded 1,000,000-step trace keeps alive (what the debug adapter holds). */
async function bytesPerEvent(python: string, print: (line?: string) => void): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const settle = (): number => {
    for (let i = 0; i < 3; i++) gc();
    return process.memoryUsage().heapUsed;
  };
  const before = settle();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const watch = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
  let trace: Trace | undefined = await recordTrace({ python, file: workloads, entry: 'loop_heavy', args: '249999', limits: { maxEvents: 100_000_000, timeoutMs: 600_000 } });
  clearInterval(watch);
  const held = settle() - before;
  const frames = trace.frames.length;
  print(`A ${frames}-step trace (loop_heavy) held in memory: ${(held / frames).toFixed(0)} bytes/event of heap (goal < 200), ` +
    `${((peakRss - rssBefore) / 2 ** 20).toFixed(0)} MB RSS growth at peak`);
  trace = undefined;
  settle();
}

export async function benchTracer(print: (line?: string) => void): Promise<void> {
  print('## Tracer: cost per event against its peers, in the same rounds');
  print(`median of ${ROUNDS} rounds; cost per event = slope between sizes n/2 and n: (time at n − time at n/2 − plain CPython's own difference) / (events at n − events at n/2),`);
  print('so start-up and the CLI\'s JIT warm-up (fixed costs, printed apart) are not spread over the events;');
  print(`in wall time${cpuTimer ? ' and in CPU time (user + system, children included: it counts the tracer\'s writer thread and the CLI\'s Node side, which wall time on an idle multi-core machine partly hides, and it stays meaningful on a loaded machine)' : ''};`);
  print('naive = settrace recorder with repr of every local on every line; trace = python -m trace --trace (lines only, no values);');
  print('floor = sys.monitoring call/line/return with locals diffed by identity (3.12+); cli = cwm-debug trace --format cwm, end to end');
  const ratios: string[] = [];
  const pythons = availablePythons().filter((p) => !onlyVersions || onlyVersions.includes(p.version));
  for (const { version, path } of pythons) await benchPython(path, version, print, ratios);
  print();
  print('### Ratios against the issue\'s targets');
  for (const line of ratios) print(line);
  print();
  const newest = pythons.at(-1)?.path ?? 'python3';
  await bytesPerEvent(newest, print);
}
