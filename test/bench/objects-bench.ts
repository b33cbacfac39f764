// `npm run bench -- objects`: what recording object state (--objects, issue 16) costs the tracer on the benchmark's
// workloads, against the same tracer without it in the same rounds (target ≤ 1.5×), on every installed Python.

import { join } from 'node:path';
import { repoRoot } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';
import { timeProcess, type Took } from './tracer-bench';
import { median } from './stats';

const tracerScript = join(repoRoot, 'server', 'tracer', 'cwm_tracer.py');
const workloads = join(repoRoot, 'test', 'bench', 'workloads.py');
const ROUNDS = 5;
const onlyVersions = process.env.CWM_BENCH_PYTHONS?.split(',').map((v) => v.trim());

const WORKLOADS = [
  { name: 'loop', entry: 'loop_heavy', size: 30_000 },
  { name: 'call', entry: 'call_heavy', size: 20_000 },
  { name: 'container', entry: 'container_heavy', size: 20_000 },
  { name: 'text', entry: 'text_heavy', size: 15_000 },
  // Methods on objects with a few attributes each, a list of objects as an attribute: object state's worst case here.
  { name: 'object', entry: 'object_heavy', size: 8_000 },
] as const;

function tracerRun(python: string, entry: string, size: number, objects: boolean): [string, string[]] {
  return [python, [tracerScript, '--entry', entry, '--args', String(size), '--max-events', '100000000', '--timeout', '600', ...(objects ? ['--objects'] : []), workloads]];
}

export async function benchObjects(print: (line?: string) => void): Promise<void> {
  print('## Object state: the tracer with --objects against the tracer without it, in the same rounds');
  print(`median of ${ROUNDS} rounds of each; time = run at the size − run at size 0 (start-up cancels out); CPU time where GNU time is installed, else wall`);
  const pythons = availablePythons().filter((p) => !onlyVersions || onlyVersions.includes(p.version));
  for (const { version, path: python } of pythons) {
    print(`### Python ${version}`);
    const cost = (took: Took): number => (Number.isNaN(took.cpu) ? took.wall : took.cpu);
    const empty = { off: [] as number[], on: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      empty.off.push(cost(await timeProcess(...tracerRun(python, 'loop_heavy', 0, false))));
      empty.on.push(cost(await timeProcess(...tracerRun(python, 'loop_heavy', 0, true))));
    }
    for (const w of WORKLOADS) {
      const off: number[] = [];
      const on: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        off.push(cost(await timeProcess(...tracerRun(python, w.entry, w.size, false))));
        on.push(cost(await timeProcess(...tracerRun(python, w.entry, w.size, true))));
      }
      const without = median(off) - median(empty.off);
      const withObjects = median(on) - median(empty.on);
      const ratio = withObjects / without;
      print(`${w.name.padEnd(9)} without ${without.toFixed(0)} ms · with object state ${withObjects.toFixed(0)} ms · ${ratio.toFixed(2)}× (target ≤ 1.5)`);
    }
  }
}
