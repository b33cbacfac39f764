// Benchmark of read-ahead in predict mode: a user pressing F10 every 1.5 s in a DebugClient session (dist/adapter.js)
// against the loopback vLLM endpoint at a real model's pace; time from request to stop with read-ahead off and on.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CwmTokenizer } from '../../server/cwm/tokenizer';
import { PromptBuilder } from '../../server/engine/prompt';
import { buildContext } from '../../server/cwm/context';
import { fixturesDir, repoRoot } from '../helpers/paths';
import { startProtocolServer } from '../servers/protocol-server';
import { createReplayModel } from '../servers/replay-model';
import { median } from './stats';

const ADAPTER = join(repoRoot, 'dist', 'adapter.js');
const PROGRAM = join(fixturesDir, 'read-ahead', 'steady.py');
/** A real CWM on one H100 (issue 14): about 30 ms a token, 200 ms before the first one. */
const TOKEN_MS = 30;
const PREFILL_MS = 200;
/** The user looks at each stop this long before pressing F10 again. */
const THINK_MS = 1500;
const STEPS = 10;


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Times from sending `next` to its stopped event, for STEPS presses after the first stop. */
async function stepTimes(endpoint: string, tokenizer: string, readAhead: boolean): Promise<number[]> {
  const dc = new DebugClient('node', ADAPTER, 'cwm');
  dc.defaultTimeout = 120_000;
  const stops: DebugProtocol.StoppedEvent[] = [];
  const waiters: ((event: DebugProtocol.StoppedEvent) => void)[] = [];
  dc.on('stopped', (event: DebugProtocol.StoppedEvent) => {
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else stops.push(event);
  });
  const nextStop = (): Promise<DebugProtocol.StoppedEvent> =>
    stops.length > 0 ? Promise.resolve(stops.shift()!) : new Promise((resolve) => waiters.push(resolve));
  await dc.start();
  try {
    await dc.initializeRequest({ adapterID: 'cwm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const initialized = dc.waitForEvent('initialized');
    const launched = dc.launchRequest({
      program: PROGRAM, mode: 'predict', entry: 'main', args: '40', endpoints: [endpoint], tokenizer,
      readAhead: { enabled: readAhead },
    } as DebugProtocol.LaunchRequestArguments);
    await initialized;
    await dc.configurationDoneRequest();
    await launched;
    await nextStop();
    const times: number[] = [];
    for (let i = 0; i < STEPS; i++) {
      await sleep(THINK_MS);
      const start = performance.now();
      await dc.nextRequest({ threadId: 1 });
      await nextStop();
      times.push(performance.now() - start);
    }
    return times;
  } finally {
    await dc.disconnectRequest({}).catch(() => undefined);
    await dc.stop().catch(() => undefined);
  }
}

export async function benchReadAhead(codec: CwmTokenizer, tokenizerPath: string, python: string): Promise<string[]> {
  if (!existsSync(ADAPTER)) return [`read-ahead: skipped, ${ADAPTER} is missing (run node scripts/build.mjs)`];
  const replay = createReplayModel({ codec });
  const real = await replay.prepare({ file: PROGRAM, python, entry: 'main', args: '40' });
  const builder = new PromptBuilder(buildContext(real).text, codec);
  const empty = (await builder.build([], Number.MAX_SAFE_INTEGER)).ids.length;
  for (const frame of real.frames) builder.append(frame);
  const tokensPerFrame = ((await builder.build(real.frames, Number.MAX_SAFE_INTEGER)).ids.length - empty) / real.frames.length;
  const server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model, faults: { tokenLatencyMs: TOKEN_MS, prefillMs: PREFILL_MS } });
  const lines = [
    '## Read-ahead: F10 every 1.5 s in a predict session, time from request to stop after the first stop',
    `test endpoint (vLLM protocol) at a real model's pace: ${TOKEN_MS} ms a token, ${PREFILL_MS} ms before the first; ` +
      `${tokensPerFrame.toFixed(1)} tokens a frame with the test tokenizer (real CWM: about 28), so a frame takes ` +
      `${((tokensPerFrame * TOKEN_MS) / 1000).toFixed(2)} s; ${STEPS} presses, no time scaling`,
  ];
  try {
    const off = await stepTimes(server.url, tokenizerPath, false);
    const offRequests = server.requests.filter((r) => r.path === '/v1/completions').length;
    const on = await stepTimes(server.url, tokenizerPath, true);
    const onRequests = server.requests.filter((r) => r.path === '/v1/completions').length - offRequests;
    const offMedian = median(off);
    const onMedian = median(on);
    const fmt = (times: number[]) => times.map((t) => t.toFixed(0)).join(' ');
    lines.push(`read-ahead off: median ${offMedian.toFixed(1)} ms (${fmt(off)} ms), ${offRequests} completion requests`);
    lines.push(`read-ahead on:  median ${onMedian.toFixed(1)} ms (${fmt(on)} ms), ${onRequests} completion requests`);
    lines.push(`→ ${(offMedian / onMedian).toFixed(0)}x faster steps with read-ahead (target: median ≤ 30 ms: ${onMedian <= 30 ? 'met' : 'NOT met'})`);
  } finally {
    await server.close();
  }
  return lines;
}
