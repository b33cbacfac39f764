// The questions a recording answers directly (issue 16), asked through DAP as a client would: where a value was set,
// every value a variable held, every run of a line (and goto targets per run), the calls with their outcomes, the
// timeline; on a real recording (loop, recursion, generator, exceptions), on a prediction and on both compare sides.
// Every answer is checked against a brute-force walk of the same frames, written here independently of the index.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { TraceIndex } from '../../server/trace/queries';
import { runCli } from '../helpers/cli-run';
import { Debuggee } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const PROGRAM = join(fixturesDir, 'time-travel', 'program.py');
const P = { parseDef: 17, loopBody: 31, total0: 29, addCalls: 35, lastLine: 36 };

function lastIndexOf(frames: readonly TraceFrame[], holds: (frame: TraceFrame) => boolean): number {
  for (let i = frames.length - 1; i >= 0; i--) if (holds(frames[i]!)) return i;
  return -1;
}
const ARGS = '4';

/** Brute force: the first step of the same call, going back from `step`, whose `name` already held its value there. */
function shownAtByWalking(frames: readonly TraceFrame[], step: number, name: string): number | undefined {
  const scope = frames[step]!.scope;
  const value = frames[step]!.locals.get(name);
  let shownAt: number | undefined;
  for (let i = step; i >= 0; i--) {
    const f = frames[i]!;
    if (f.scope !== scope || (f.event !== 'call' && f.event !== 'line')) continue;
    if (f.locals.get(name) !== value) break;
    shownAt = i;
    if (f.event === 'call') break;
  }
  return shownAt;
}

/** Brute force: the values `name` took in the call of `step`, as (step shown at, value). */
function historyByWalking(frames: readonly TraceFrame[], step: number, name: string): [number, string][] {
  const scope = frames[step]!.scope;
  const out: [number, string][] = [];
  let last: string | undefined;
  let started = false;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (f.scope !== scope || (f.event !== 'call' && f.event !== 'line')) continue;
    if (f.event === 'call') {
      last = undefined;
      started = true;
    }
    if (!started) continue;
    const value = f.locals.get(name);
    if (value !== undefined && value !== last) out.push([i, value]);
    last = value;
  }
  return out;
}

let real: Trace;

before(async () => {
  real = await recordTrace({ file: PROGRAM, entry: 'main', args: ARGS });
  assert.equal(real.end.kind, 'returned');
});

describe('the trace index answers as a walk of the frames does', () => {
  test('last change and history of every variable at every step equal the brute-force walk', () => {
    const index = new TraceIndex(real.frames);
    let checked = 0;
    for (const [step, frame] of real.frames.entries()) {
      for (const name of frame.locals.keys()) {
        const change = index.lastChange(step, name);
        assert.equal(change?.shownAt, shownAtByWalking(real.frames, step, name), `step ${step} ${name}`);
        assert.equal(change?.value, frame.locals.get(name));
        checked++;
      }
    }
    assert.ok(checked > 50);
    const totalStep = lastIndexOf(real.frames, (f) => f.functionName === 'main' && f.event === 'line');
    assert.deepEqual(index.valueHistory(totalStep, 'total').map((e) => [e.shownAt, e.value]), historyByWalking(real.frames, totalStep, 'total'));
  });

  test('calls: recursion nests, the generator resumes, the escaping exception counts as raised, the handled one does not', () => {
    const index = new TraceIndex(real.frames);
    const factorials = index.callsOf('factorial');
    assert.deepEqual(factorials.map((c) => [c.depth, c.args.get('n'), c.outcome, c.value]), [[1, '4', 'returned', '24'], [2, '3', 'returned', '6'], [3, '2', 'returned', '2'], [4, '1', 'returned', '1']]);
    assert.equal(index.calls[factorials[1]!.parent], factorials[0]);
    const parses = index.callsOf('parse');
    assert.deepEqual(parses.map((c) => c.outcome), ['returned', 'raised']);
    assert.match(parses[1]!.value ?? '', /ValueError/);
    assert.deepEqual(index.callsOf('safe_parse').map((c) => [c.outcome, c.value]), [['returned', '7'], ['returned', '-1']]);
    // evens(5) yields 0, 2, 4 and then ends: four calls of the generator (the first call and three resumes).
    assert.equal(index.callsOf('evens').length, 4);
    const summary = index.functionSummaries().find((s) => s.functionName === 'parse')!;
    assert.deepEqual([summary.calls, summary.raised, summary.line], [2, 1, P.parseDef]);
    assert.deepEqual(index.exceptions().map((s) => real.frames[s]!.functionName), ['parse', 'safe_parse']);
  });
});

describe('time-travel questions through DAP', { timeout: 300_000 }, () => {
  let session: Debuggee;
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let replay: ReplayModel;
  let server: ProtocolServer;

  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-time-travel-tok-')));
    codec = await loadTokenizer(tokenizerPath);
    replay = createReplayModel({ codec });
    await replay.prepare({ file: PROGRAM, entry: 'main', args: ARGS });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  });
  after(async () => {
    await session?.close();
    await server?.close();
    codec?.dispose();
  });

  async function launch(config: Record<string, unknown>): Promise<void> {
    await session?.close();
    session = await Debuggee.open();
    await session.launch({ program: PROGRAM, entry: 'main', args: ARGS, ...config });
  }

  async function ask(command: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    return (await session.dc.customRequest(command, args)).body as Record<string, unknown>;
  }

  test('real run: "where did this come from" goes to the line that set the value, again to the change before, forward to the next', async () => {
    await launch({ mode: 'actual' });
    await session.setBreakpoints(PROGRAM, [{ line: P.lastLine }]);
    await session.move('continue');
    const here = (await session.state()).position;
    assert.equal(real.frames[here]?.line, P.lastLine);
    const values = await session.values();
    const stopped = session.nextStop();
    // The client did not ask to resume: `continued` tells it the thread moves (else VS Code keeps the old stop's label).
    const continued = session.dc.waitForEvent('continued');
    const answer = await ask('cwm/lastChange', { name: 'total' });
    assert.equal((await continued).body.allThreadsContinued, true);
    await stopped;
    const change = answer.change as { setBy: number; shownAt: number; value: string; before: string; line: number; position: number };
    assert.equal(change.value, values.total);
    assert.equal(change.shownAt, shownAtByWalking(real.frames, here, 'total'));
    assert.equal(change.line, real.frames[change.setBy]!.line);
    assert.equal((await session.state()).position, change.setBy, 'the debugger moved to the line that set total');
    assert.equal((await session.stack())[0]!.line, P.addCalls);
    assert.equal((await session.values()).total, change.before, 'there, total still holds the value before the change');
    // Again: the change before that one.
    const again = ((await Promise.all([ask('cwm/lastChange', { name: 'total' }), session.nextStop()]))[0].change as { setBy: number; shownAt: number; value: string });
    assert.equal(again.value, change.before);
    assert.equal(again.shownAt, change.setBy);
    assert.ok(again.setBy < change.setBy);
    // Forward: from the line that set a value, the next change is the one that line makes; from there, the next one.
    const forward = (await ask('cwm/lastChange', { name: 'total', direction: 'forward', move: false })).change as { shownAt: number };
    assert.equal(forward.shownAt, again.shownAt);
    const next = (await ask('cwm/lastChange', { name: 'total', direction: 'forward', move: false, step: again.shownAt })).change as { shownAt: number };
    assert.equal(next.shownAt, change.shownAt);
    // A variable the call does not have is said in words.
    await assert.rejects(ask('cwm/lastChange', { name: 'nope' }), /main has no variable nope/);
    await assert.rejects(ask('cwm/lastChange', { nam: 'x' }), /cwm\/lastChange takes/);
  });

  test('real run: value history, every run of a line (and a goto target per run), calls, function counts, timeline', async () => {
    await launch({ mode: 'actual' });
    await session.setBreakpoints(PROGRAM, [{ line: P.lastLine }]);
    await session.move('continue');
    const here = (await session.state()).position;
    const history = (await ask('cwm/valueHistory', { name: 'total' })).entries as { shownAt: number; value: string; line: number }[];
    assert.deepEqual(history.map((e) => [e.shownAt, e.value]), historyByWalking(real.frames, here, 'total'));
    assert.ok(history.every((e) => e.line >= P.total0 && e.line <= P.lastLine));

    const runs = await ask('cwm/lineRuns', { line: P.loopBody });
    const expected = real.frames.filter((f) => f.event === 'line' && f.line === P.loopBody).map((f) => f.index);
    assert.deepEqual((runs.runs as { step: number }[]).map((r) => r.step), expected);
    assert.deepEqual((runs.runs as { changed: { name: string; value: string }[] }[])[2]!.changed, [{ name: 'i', value: '2', before: '1' }]);
    const targets = (await session.dc.gotoTargetsRequest({ source: { path: PROGRAM }, line: P.loopBody })).body.targets;
    assert.equal(targets.length, 1 + expected.length);
    assert.match(targets[3]!.label, /^Run 3 of 4 · step \d+ · i = 2$/);
    const stop = session.nextStop();
    await session.dc.gotoRequest({ threadId: 1, targetId: targets[3]!.id });
    assert.equal((await stop).body.reason, 'goto');
    assert.equal((await session.state()).position, expected[2]);
    assert.equal((await session.values()).i, '2');

    const calls = await ask('cwm/calls', { function: 'factorial' });
    assert.deepEqual((calls.calls as { args: Record<string, string>; outcome: string; value: string }[]).map((c) => [c.args.n, c.outcome, c.value]),
      [['4', 'returned', '24'], ['3', 'returned', '6'], ['2', 'returned', '2'], ['1', 'returned', '1']]);
    const functions = (await ask('cwm/functionCalls', {})).functions as { functionName: string; calls: number; raised: number; line: number }[];
    assert.deepEqual(functions.find((f) => f.functionName === 'parse'), { functionName: 'parse', line: P.parseDef, calls: 2, raised: 1 });
    const timeline = await ask('cwm/timeline', {});
    assert.equal(timeline.length, real.frames.length);
    // The breakpoint set at the start (the last line) ran once: one mark, where that line ran.
    assert.deepEqual(timeline.breakpoints, real.frames.filter((f) => f.event === 'line' && f.line === P.lastLine).map((f) => f.index));
    assert.deepEqual((timeline.exceptions as number[]).map((p) => real.frames[p]!.functionName), ['parse', 'safe_parse']);
  });

  test('prediction and both sides of a comparison answer the same questions', async () => {
    await launch({ mode: 'predict', endpoints: [server.url], tokenizer: tokenizerPath });
    await session.setBreakpoints(PROGRAM, [{ line: P.lastLine }]);
    await session.move('continue');
    const predicted = (await ask('cwm/valueHistory', { name: 'total' })).entries as { value: string }[];
    assert.deepEqual(predicted.map((e) => e.value), historyByWalking(real.frames, lastIndexOf(real.frames, (f) => f.line === P.lastLine), 'total').map(([, v]) => v));
    await assert.rejects(ask('cwm/calls', { side: 'actual' }), /no real run/);

    await launch({ mode: 'compare', endpoints: [server.url], tokenizer: tokenizerPath });
    await session.setBreakpoints(PROGRAM, [{ line: P.lastLine }]);
    await session.move('continue');
    for (const side of ['actual', 'predicted']) {
      const runs = await ask('cwm/lineRuns', { line: P.loopBody, side });
      assert.equal(runs.total, 4, side);
      const change = (await ask('cwm/lastChange', { name: 'total', side, move: false })).change as { value: string; line: number };
      assert.equal(change.line, P.addCalls, side);
      const calls = await ask('cwm/calls', { function: 'parse', side });
      assert.deepEqual((calls.calls as { outcome: string }[]).map((c) => c.outcome), ['returned', 'raised'], side);
    }
  });
});

describe('cwm-debug query', { timeout: 120_000 }, () => {
  test('answers over a fresh real run: last change, history, runs of a line, calls with outcomes', async () => {
    const result = await runCli(['query', PROGRAM, '--entry', 'main', '--args', ARGS, '--last', 'total@end', '--runs', String(P.loopBody), '--calls', 'parse']);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /^--last total@end: total = 42 was set at step \d+, line 35: total \+= safe_parse\("7"\) \+ safe_parse\("x"\) \(before: 36\)$/);
    assert.ok(lines.includes(`--runs ${P.loopBody}: line ${P.loopBody} ran 4 times`));
    assert.ok(lines.includes('--calls parse: 2 calls · 1 raised'));
    assert.ok(lines.some((l) => /parse\(text='x'\) raised .*ValueError/.test(l)));
  });

  test('answers over a saved trace as JSON; a saved trace without program text asks for --program', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cwm-query-'));
    const saved = join(dir, 'run.json');
    const traced = await runCli(['trace', PROGRAM, '--entry', 'main', '--args', ARGS, '--format', 'json']);
    writeFileSync(saved, traced.stdout);
    const missing = await runCli(['query', saved, '--calls', '*']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /pass --program FILE\.py/);
    const result = await runCli(['query', saved, '--program', PROGRAM, '--history', 'total@end', '--format', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const answer = JSON.parse(result.stdout) as { steps: number; answers: { entries: { value: string }[] }[] };
    assert.equal(answer.steps, real.frames.length);
    assert.deepEqual(answer.answers[0]!.entries.map((e) => e.value), ['0', '1', '3', '6', '8', '12', '36', '42']);
    const bad = await runCli(['query', saved, '--program', PROGRAM, '--last', 'total@999']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /the step must be a number from 0 to \d+/);
  });
});
