// Benchmark of the debug adapter on a large real trace: a 200,000-event run with a 100,000-element list local, loaded
// in actual mode in the standalone adapter (dist/adapter.js over stdio); reports memory and request latencies.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { fixturesDir, repoRoot } from '../helpers/paths';
import { median } from './stats';

const ADAPTER = join(repoRoot, 'dist', 'adapter.js');
const PROGRAM = join(fixturesDir, 'adapter', 'big.py');
const LOOP_LINE = 12; // `total += i`
const MAX_EVENTS = 200_000;
const RSS_LIMIT_MB = 300;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}


function ms(value: number): string {
  return `${value.toFixed(2)} ms`;
}

export async function benchAdapter(): Promise<string[]> {
  if (!existsSync(ADAPTER)) return [`adapter: skipped, ${ADAPTER} is missing (run node scripts/build.mjs)`];
  const dc = new DebugClient('node', ADAPTER, 'cwm');
  dc.defaultTimeout = 300_000;
  const stops: DebugProtocol.StoppedEvent[] = [];
  const waiters: ((event: DebugProtocol.StoppedEvent) => void)[] = [];
  dc.on('stopped', (event: DebugProtocol.StoppedEvent) => {
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else stops.push(event);
  });
  const nextStop = (): Promise<DebugProtocol.StoppedEvent> =>
    stops.length > 0 ? Promise.resolve(stops.shift()!) : new Promise((resolve) => waiters.push(resolve));
  const timed = async (send: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    await send();
    await nextStop();
    return performance.now() - start;
  };

  await dc.start();
  const pid = (dc as unknown as { _adapterProcess: ChildProcess })._adapterProcess.pid!;
  const lines: string[] = [];
  try {
    await dc.initializeRequest({ adapterID: 'cwm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const loadStart = performance.now();
    const initialized = dc.waitForEvent('initialized');
    const launched = dc.launchRequest({
      program: PROGRAM, mode: 'actual', entry: 'main',
      tracerLimits: { maxEvents: MAX_EVENTS, maxReprLength: 1_000_000, timeoutMs: 240_000 },
    } as DebugProtocol.LaunchRequestArguments);
    await initialized;
    await dc.configurationDoneRequest();
    await launched;
    await nextStop();
    const loadMs = performance.now() - loadStart;
    const state = (await dc.customRequest('cwm/state')).body as { length: number };
    lines.push(`adapter: ${state.length} real steps recorded and loaded in ${(loadMs / 1000).toFixed(1)} s (maxEvents ${MAX_EVENTS})`);
    const rssLoaded = rssMb(pid);

    // Into main: over make() (its frames carry the 100,000-element list) to the line where `data` is bound.
    const overMake: number[] = [];
    overMake.push(await timed(() => dc.nextRequest({ threadId: 1 })));
    overMake.push(await timed(() => dc.nextRequest({ threadId: 1 })));
    const stack = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
    const scopes = (await dc.scopesRequest({ frameId: stack[0]!.id })).body.scopes;
    const locals = (await dc.variablesRequest({ variablesReference: scopes[0]!.variablesReference })).body.variables;
    const data = locals.find((v) => v.name === 'data');
    if (!data) throw new Error(`no list local at line ${stack[0]!.line}: ${locals.map((v) => v.name).join(', ')}`);

    const pageTimes: number[] = [];
    let checked = 0;
    for (let page = 0; page < 50; page++) {
      const start = Math.floor(((page * 7919) % 1000) * 100);
      const t0 = performance.now();
      const children = (await dc.variablesRequest({ variablesReference: data.variablesReference, filter: 'indexed', start, count: 100 })).body.variables;
      pageTimes.push(performance.now() - t0);
      if (children.length !== 100 || children[0]!.value !== String(start)) throw new Error(`page at ${start} is wrong: ${children[0]?.value}`);
      checked += children.length;
    }
    const rssExpanded = rssMb(pid);

    // Inside the loop: stop at `total += i`, then step.
    await dc.setBreakpointsRequest({ source: { path: PROGRAM }, breakpoints: [{ line: LOOP_LINE }] });
    const toLoop = await timed(() => dc.continueRequest({ threadId: 1 }));
    await dc.setBreakpointsRequest({ source: { path: PROGRAM }, breakpoints: [] });
    const nextTimes: number[] = [];
    for (let k = 0; k < 200; k++) nextTimes.push(await timed(() => dc.nextRequest({ threadId: 1 })));
    const scopeTimes: number[] = [];
    for (let k = 0; k < 50; k++) {
      const t0 = performance.now();
      const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      const frameScopes = (await dc.scopesRequest({ frameId: frames[0]!.id })).body.scopes;
      await dc.variablesRequest({ variablesReference: frameScopes[0]!.variablesReference });
      scopeTimes.push(performance.now() - t0);
    }
    // Out of the loop's function: a forward scan over the rest of the recording (the trace is cut inside the loop).
    const out = await timed(() => dc.stepOutRequest({ threadId: 1 }));
    const atEnd = (await dc.customRequest('cwm/state')).body as { position: number };
    // Back to the start in one reverse continue (no breakpoints): a scan over the whole recording.
    const reverse = await timed(() => dc.reverseContinueRequest({ threadId: 1 }));
    // The time-travel questions (answered from the index built while recording), at the step reverse continue reached
    // and in the loop: median of 9 each.
    const askTimes = async (command: string, args: Record<string, unknown>): Promise<number> => {
      const times: number[] = [];
      for (let k = 0; k < 9; k++) {
        const start = performance.now();
        await dc.customRequest(command, args);
        times.push(performance.now() - start);
      }
      return median(times);
    };
    const questions: [string, string, Record<string, unknown>][] = [
      ['where did total come from', 'cwm/lastChange', { name: 'total', step: 190_000, move: false }],
      ['value history of total (first 200 and the count)', 'cwm/valueHistory', { name: 'total', step: 190_000 }],
      ['every run of the loop line', 'cwm/lineRuns', { line: LOOP_LINE }],
      ['every call', 'cwm/calls', {}],
      ['timeline', 'cwm/timeline', {}],
    ];
    const answered: string[] = [];
    for (const [label, command, args] of questions) answered.push(`${label} ${ms(await askTimes(command, args))}`);
    const rssEnd = rssMb(pid);
    lines.push(`adapter: time-travel questions over DAP, median of 9: ${answered.join(' · ')} (target ≤ 20 ms each)`);

    lines.push(`adapter: data = ${data.value.slice(0, 40)}… (${data.indexedVariables} indexed children)`);
    lines.push(`adapter: next over make(): ${overMake.map(ms).join(', ')}`);
    lines.push(`adapter: variables page of 100 children of the 100,000-element list: median ${ms(median(pageTimes))} (N=${pageTimes.length}, ${checked} children checked)`);
    lines.push(`adapter: continue to the loop breakpoint: ${ms(toLoop)}`);
    lines.push(`adapter: next inside the loop: median ${ms(median(nextTimes))} (N=${nextTimes.length}, max ${ms(Math.max(...nextTimes))})`);
    lines.push(`adapter: stackTrace + scopes + variables at a stop: median ${ms(median(scopeTimes))} (N=${scopeTimes.length})`);
    lines.push(`adapter: stepOut of the loop's function, scanning to step ${atEnd.position}: ${ms(out)}`);
    lines.push(`adapter: reverseContinue from there back to the first step: ${ms(reverse)}`);
    const verdict = Math.max(rssLoaded, rssExpanded, rssEnd) < RSS_LIMIT_MB ? 'under' : 'OVER';
    lines.push(`adapter: resident memory (VmRSS of the adapter process): ${rssLoaded.toFixed(0)} MB loaded, ${rssExpanded.toFixed(0)} MB after expanding, ${rssEnd.toFixed(0)} MB at the end: ${verdict} the ${RSS_LIMIT_MB} MB limit`);
  } finally {
    await dc.disconnectRequest({}).catch(() => undefined);
    (dc as unknown as { _adapterProcess: ChildProcess | null })._adapterProcess?.kill();
  }
  return lines;
}
