// The CWM debug adapter end to end: DebugClient over stdio against dist/adapter.js, real Python programs traced by the
// bundled tracer, and the loopback CWM endpoint whose model replays the real run (with injected corruptions).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import type { Trace } from '../../server/trace/model';
import { ADAPTER, childrenOf, Debuggee, withoutConfidence, type LaunchOptions } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const LOOP = join(fixturesDir, 'adapter', 'loop.py');
const RAISES = join(fixturesDir, 'adapter', 'raises.py');
const VALUES = join(fixturesDir, 'adapter', 'values.py');
const SLOW = join(fixturesDir, 'adapter', 'slow.py');

/** Line numbers of the fixtures (asserted against the files below, so an edit of a fixture fails loudly). */
const L = { squareDef: 4, squareBody: 5, squareReturn: 6, mainDef: 9, total0: 10, loop: 11, callSquare: 12, addSq: 13, ifLine: 14, print: 15, returnTotal: 16 };
const R = { parseBody: 5, divide: 15 };
const V = { returnLine: 9 };

interface FrameJson {
  index: number;
  event: string;
  line: number;
  function: string;
  depth: number;
  locals: Record<string, string>;
  value?: string;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitUntil(predicate: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

function posts(server: ProtocolServer): number {
  return server.requests.filter((r) => r.method === 'POST').length;
}

before(() => {
  assert.ok(existsSync(ADAPTER), `${ADAPTER} is missing: run node scripts/build.mjs first`);
  const loop = readFileSync(LOOP, 'utf8').split('\n');
  assert.match(loop[L.squareDef - 1]!, /^def square/);
  assert.match(loop[L.mainDef - 1]!, /^def main/);
  assert.match(loop[L.callSquare - 1]!, /sq = square\(i\)/);
  assert.match(loop[L.print - 1]!, /print/);
  const raises = readFileSync(RAISES, 'utf8').split('\n');
  assert.match(raises[R.parseBody - 1]!, /return int\(text\)/);
  assert.match(raises[R.divide - 1]!, /100 \/\/ total/);
});

// ---------------------------------------------------------------------------------------------------- configuration

describe('launch configuration errors name the field', { timeout: 120_000 }, () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a bad mode', { program: LOOP, mode: 'replay' }, /^"mode" must be predict, actual or compare/],
    ['no program', { mode: 'actual' }, /^"program" is required/],
    ['a missing program file', { program: join(fixturesDir, 'adapter', 'nope.py'), mode: 'actual' }, /^"program" must name an existing Python file/],
    ['a negative event limit', { program: LOOP, mode: 'actual', tracerLimits: { maxEvents: -5 } }, /^"tracerLimits\.maxEvents" must be a positive whole number/],
    ['endpoints that are not a list', { program: LOOP, mode: 'predict', endpoints: 'http://x', tokenizer: 'x' }, /^"endpoints" must be a list/],
    ['predict mode without endpoints', { program: LOOP, mode: 'predict', tokenizer: 'x', endpoints: [] }, /^"endpoints" is required in predict mode/],
    ['a temperature out of range', { program: LOOP, mode: 'actual', temperature: 7 }, /^"temperature" must be a number from 0 to 2/],
    ['args without entry', { program: LOOP, mode: 'actual', args: '3' }, /^"args" needs "entry"/],
  ];
  for (const [what, config, expected] of cases) {
    test(`${what} is refused`, async () => {
      const session = await Debuggee.open();
      try {
        assert.match(await session.launchError(config), expected);
      } finally {
        await session.close();
      }
    });
  }

  test('a Python that does not exist is reported as such', async () => {
    const session = await Debuggee.open();
    try {
      const message = await session.launchError({ program: LOOP, mode: 'actual', entry: 'main', args: '3', python: '/nonexistent/python3' });
      assert.match(message, /python/i);
      assert.match(message, /\/nonexistent\/python3/);
    } finally {
      await session.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------- actual mode

describe('actual mode: the real run of a program', { timeout: 300_000 }, () => {
  let session: Debuggee;
  const config = { program: LOOP, mode: 'actual', entry: 'main', args: '8' };

  before(async () => {
    session = await Debuggee.open();
  });
  after(async () => {
    await session.close();
  });

  test('initialize advertises what the adapter implements', async () => {
    const capabilities = (await session.initialize()).body!;
    for (const flag of [
      'supportsConfigurationDoneRequest', 'supportsConditionalBreakpoints', 'supportsHitConditionalBreakpoints', 'supportsLogPoints',
      'supportsEvaluateForHovers', 'supportsStepBack', 'supportsSetVariable', 'supportsRestartRequest', 'supportsGotoTargetsRequest',
      'supportsExceptionInfoRequest', 'supportsDataBreakpoints', 'supportsCancelRequest', 'supportsClipboardContext', 'supportsTerminateRequest',
    ] as const) {
      assert.equal(capabilities[flag], true, flag);
    }
    assert.deepEqual(capabilities.exceptionBreakpointFilters?.map((f) => f.filter), ['raised', 'uncaught', 'uncertain']);
  });

  test('launch stops on entry at the call of main with its argument', async () => {
    const stop = await launchFresh(config);
    assert.equal(stop.body.reason, 'entry');
    const threads = (await session.dc.threadsRequest()).body.threads;
    assert.deepEqual(threads.map((t) => t.name), ['Python (real)']);
    const [top, ...rest] = await session.stack();
    assert.equal(rest.length, 0);
    assert.equal(top!.name, 'main');
    assert.equal(top!.line, L.mainDef);
    assert.equal(top!.source?.path, LOOP);
    assert.deepEqual(await session.values(), { n: '8' });
    assert.deepEqual((await session.scopes()).map((s) => s.name), ['Locals']);
  });

  test('stepIn enters square; the stack holds square over the calling line of main', async () => {
    await launchFresh(config);
    for (let i = 0; i < 4; i++) await session.move('stepIn'); // line 10, line 11, line 12, call square
    const stack = await session.stack();
    assert.deepEqual(stack.map((f) => [f.name, f.line]), [['square', L.squareDef], ['main', L.callSquare]]);
    assert.deepEqual(await session.values(), { v: '0' });
    const callerScopes = await session.scopes(stack[1]!.id);
    const caller = (await session.dc.variablesRequest({ variablesReference: callerScopes[0]!.variablesReference })).body.variables;
    assert.deepEqual(caller.map((v) => [v.name, v.value]), [['n', '8'], ['total', '0'], ['i', '0']]);
  });

  test('next steps over square, stepOut returns to main, (return) shows the value', async () => {
    await launchFresh(config);
    for (let i = 0; i < 3; i++) await session.move('next'); // line 10, 11, 12
    assert.equal((await session.stack())[0]!.line, L.callSquare);
    const stop = await session.move('next');
    assert.equal(stop.body.reason, 'step');
    const [top, ...rest] = await session.stack();
    assert.equal(rest.length, 0, 'next went into square');
    assert.equal(top!.line, L.addSq);
    assert.equal((await session.values()).sq, '0');
    await session.move('stepIn'); // if
    await session.move('stepIn'); // print
    await session.move('stepIn'); // for
    await session.move('stepIn'); // sq = square(1)
    await session.move('stepIn'); // call square
    await session.move('stepIn'); // result = v * v
    const out = await session.move('stepOut');
    assert.equal(out.body.reason, 'step');
    // The caller's next step after the return: the line after the call.
    const stack = await session.stack();
    assert.equal(stack.length, 1);
    assert.equal(stack[0]!.line, L.addSq);
    assert.equal((await session.values()).sq, '1');
  });

  test('a return step shows (return) with the returned value', async () => {
    await launchFresh(config, { breakpoints: [{ line: L.squareReturn, condition: 'v == 3' }] });
    await session.move('continue');
    await session.move('stepIn');
    const state = await session.state();
    assert.equal(state.frame?.event, 'return');
    const locals = await session.locals();
    assert.equal(locals.get('(return)')?.value, '9');
  });

  test('breakpoints are verified against executable lines', async () => {
    await launchFresh(config);
    const result = await session.setBreakpoints(LOOP, [{ line: L.addSq }, { line: 2 }, { line: 1 }, { line: 400 }, { line: L.ifLine, hitCondition: 'often' }]);
    assert.deepEqual(result.map((bp) => bp.verified), [true, false, false, false, false]);
    assert.match(result[1]!.message!, /blank or a comment/);
    assert.match(result[3]!.message!, /past the end/);
    assert.match(result[4]!.message!, /Hit condition "often"/);
    // The run is recorded: a module next to the program that it never ran, and a file elsewhere, are never hit.
    const nextToIt = await session.setBreakpoints(RAISES, [{ line: R.parseBody }]);
    assert.equal(nextToIt[0]!.verified, false);
    assert.match(nextToIt[0]!.message!, /Only loop\.py is traced, with the Python files in its folder it runs code from; breakpoints in raises\.py are never hit/);
    const elsewhere = await session.setBreakpoints(join(fixturesDir, 'programs', 'args.py'), [{ line: 1 }]);
    assert.equal(elsewhere[0]!.verified, false);
  });

  test('continue stops at a breakpoint, its condition and hit condition are honoured', async () => {
    await launchFresh(config, { breakpoints: [{ line: L.addSq, condition: 'i >= 2' }, { line: L.squareBody, hitCondition: '>=3' }] });
    let stop = await session.move('continue');
    assert.equal(stop.body.reason, 'breakpoint');
    assert.equal((await session.stack())[0]!.line, L.squareBody);
    assert.equal((await session.values()).v, '2', 'hit condition >=3 should skip v = 0 and v = 1');
    stop = await session.move('continue');
    assert.equal(stop.body.reason, 'breakpoint');
    assert.equal((await session.stack())[0]!.line, L.addSq);
    assert.equal((await session.values()).i, '2');
    stop = await session.move('continue');
    assert.equal((await session.stack())[0]!.line, L.squareBody);
    assert.equal((await session.values()).v, '3');
    assert.ok(stop.body.hitBreakpointIds?.length === 1);
  });

  test('a modulo hit condition stops every second time', async () => {
    await launchFresh(config, { breakpoints: [{ line: L.squareBody, hitCondition: '%2' }] });
    const seen: string[] = [];
    for (let k = 0; k < 3; k++) {
      await session.move('continue');
      seen.push((await session.values()).v!);
    }
    assert.deepEqual(seen, ['1', '3', '5']);
  });

  test('log points print their message with values and do not stop', async () => {
    await launchFresh(config, { breakpoints: [{ line: L.addSq, logMessage: 'i={i} sq={sq}' }, { line: L.returnTotal }] });
    const stop = await session.move('continue');
    assert.equal(stop.body.reason, 'breakpoint');
    assert.equal((await session.stack())[0]!.line, L.returnTotal);
    const logged = session.console().split('\n').filter((line) => line.startsWith('i='));
    assert.deepEqual(logged, Array.from({ length: 8 }, (_, i) => `i=${i} sq=${i * i}`));
  });

  test('the program prints as output events at the step that printed', async () => {
    await launchFresh(config);
    await session.move('next'); // total = 0
    await session.move('next'); // for
    for (let i = 0; i < 4; i++) await session.move('next'); // sq =, total +=, if, print
    assert.equal((await session.stack())[0]!.line, L.print);
    assert.equal(session.stdout(), '', 'output shown before the print ran');
    await session.move('next');
    assert.equal(session.stdout(), 'i = 0 total = 0\n');
  });

  test('50 steps forward then reverseContinue lands on the latest earlier breakpoint frame', async () => {
    await launchFresh(config);
    for (let i = 0; i < 50; i++) await session.move('stepIn');
    const here = await session.state();
    assert.equal(here.position, 50);
    await session.setBreakpoints(LOOP, [{ line: L.squareBody }]);
    const frames = (await session.traces()).actual as FrameJson[];
    const expected = frames.slice(0, 50).map((f, i) => ({ ...f, i })).filter((f) => f.line === L.squareBody && f.event === 'line').pop()!;
    const stop = await session.move('reverseContinue');
    assert.equal(stop.body.reason, 'breakpoint');
    const there = await session.state();
    assert.equal(there.position, expected.i);
    assert.deepEqual(there.frame?.locals, expected.locals);
    const back = await session.move('stepBack');
    assert.equal(back.body.reason, 'step');
    assert.equal((await session.state()).position, expected.i - 1);
  });

  test('a data breakpoint on the loop variable stops at each change, forwards and backwards', async () => {
    await launchFresh(config);
    await session.move('next'); // total = 0
    await session.move('next'); // for: i not bound yet
    const info = (await session.dc.dataBreakpointInfoRequest({ name: 'n', variablesReference: (await session.scopes())[0]!.variablesReference })).body;
    assert.ok(info.dataId);
    await session.move('next'); // i = 0 now bound
    const scope = (await session.scopes())[0]!;
    const iInfo = (await session.dc.dataBreakpointInfoRequest({ name: 'i', variablesReference: scope.variablesReference })).body;
    assert.ok(iInfo.dataId, 'i cannot be watched');
    assert.match(iInfo.description, /i in main/);
    const set = await session.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: iInfo.dataId!, accessType: 'write' }] });
    assert.equal(set.body.breakpoints[0]!.verified, true);
    const forwards: string[] = [];
    for (let k = 0; k < 7; k++) {
      const stop = await session.move('continue');
      assert.equal(stop.body.reason, 'data breakpoint');
      assert.match(stop.body.description ?? '', /^i changed from \d to \d$/);
      forwards.push((await session.values()).i!);
    }
    assert.deepEqual(forwards, ['1', '2', '3', '4', '5', '6', '7']);
    const backwards: string[] = [];
    for (let k = 0; k < 3; k++) {
      const stop = await session.move('reverseContinue');
      assert.equal(stop.body.reason, 'data breakpoint');
      backwards.push((await session.values()).i!);
    }
    assert.deepEqual(backwards, ['6', '5', '4']);
    // At each stop the previous frame of main still had the old value.
    const state = await session.state();
    const frames = (await session.traces()).actual as FrameJson[];
    const previous = frames.slice(0, state.position).filter((f) => f.function === 'main' && f.event === 'line').pop()!;
    assert.equal(previous.locals.i, '3');
    await session.dc.setDataBreakpointsRequest({ breakpoints: [] });
  });

  test('evaluate: hover, watch, repl on the frame locals; clipboard gives the full value', async () => {
    await launchFresh(config, { breakpoints: [{ line: L.ifLine, condition: 'i == 4' }] });
    await session.move('continue');
    const frameId = (await session.stack())[0]!.id;
    const hover = await session.dc.evaluateRequest({ expression: 'total', frameId, context: 'hover' });
    assert.equal(hover.body.result, '30');
    const watch = await session.dc.evaluateRequest({ expression: 'total + sq * 2', frameId, context: 'watch' });
    assert.equal(watch.body.result, '62');
    const repl = await session.dc.evaluateRequest({ expression: '[i] * 3', frameId, context: 'repl' });
    assert.equal(repl.body.result, '[4, 4, 4]');
    assert.ok(repl.body.variablesReference > 0, 'a list result is not expandable');
    await assert.rejects(session.dc.evaluateRequest({ expression: 'undefined_name + 1', frameId, context: 'watch' }), /undefined_name/);
  });

  test('setVariable is refused in actual mode with a reason', async () => {
    await launchFresh(config);
    const scope = (await session.scopes())[0]!;
    await assert.rejects(
      session.dc.setVariableRequest({ variablesReference: scope.variablesReference, name: 'n', value: '3' }),
      /real run is a recording/,
    );
  });

  test('gotoTargets and goto jump to the next time a line runs; run to cursor works with a temporary breakpoint', async () => {
    await launchFresh(config);
    const targets = (await session.dc.gotoTargetsRequest({ source: { path: LOOP }, line: L.print })).body.targets;
    // First "run to line"; then one target per time the recording ran the line (print runs for i = 0, 3, 6).
    assert.match(targets[0]!.label, /^Run the real run to line/);
    assert.equal(targets.length, 1 + 3);
    assert.match(targets[1]!.label, /^Run 1 of 3 · step \d+/);
    assert.deepEqual((await session.dc.gotoTargetsRequest({ source: { path: LOOP }, line: 2 })).body.targets, []);
    const stop = await session.move('goto', { threadId: 1, targetId: targets[0]!.id });
    assert.equal(stop.body.reason, 'goto');
    assert.equal((await session.stack())[0]!.line, L.print);
    assert.equal((await session.values()).i, '0');
    // Run to cursor as VS Code does it: a temporary breakpoint, continue, then the breakpoint is removed.
    await session.setBreakpoints(LOOP, [{ line: L.squareReturn }]);
    const reached = await session.move('continue');
    assert.equal(reached.body.reason, 'breakpoint');
    await session.setBreakpoints(LOOP, []);
    assert.equal((await session.stack())[0]!.line, L.squareReturn);
    assert.equal((await session.values()).v, '1');
  });

  test('custom requests: cwm/traces gives the frames, cwm/goToStep moves and stops', async () => {
    await launchFresh(config);
    const traces = await session.traces();
    assert.equal(traces.mode, 'actual');
    const frames = traces.actual as FrameJson[];
    assert.equal(frames[0]!.event, 'call');
    assert.equal(frames[frames.length - 1]!.event, 'return');
    assert.equal(frames[frames.length - 1]!.value, '140');
    // VS Code did not ask to resume: `continued` comes before the stop, so it does not keep the old stop's label.
    const continued = session.dc.waitForEvent('continued');
    const stop = await session.move('cwm/goToStep', { step: 20 });
    assert.equal(stop.body.reason, 'goto');
    assert.equal((await continued).body.allThreadsContinued, true);
    const state = await session.state();
    assert.equal(state.position, 20);
    assert.deepEqual(state.frame?.locals, frames[20]!.locals);
    // A step that does not exist moves nothing: neither `continued` nor a stop.
    let announced = false;
    const listener = (): void => void (announced = true);
    session.dc.on('continued', listener);
    await assert.rejects(session.dc.customRequest('cwm/goToStep', { step: 100_000 }), /does not exist/);
    session.dc.off('continued', listener);
    assert.equal(announced, false);
  });

  test('continue past the last breakpoint stops at the end, then terminates', async () => {
    await launchFresh(config);
    const end = await session.move('continue');
    assert.equal(end.body.reason, 'end');
    assert.match(end.body.description ?? '', /the entry returned/);
    assert.equal((await session.state()).frame?.value, '140');
    assert.match(session.stdout(), /i = 6 total = 91\n$/);
    const terminated = session.dc.waitForEvent('terminated');
    await session.dc.continueRequest({ threadId: 1 });
    await terminated;
  });

  test('restart records the run again and stops on entry', async () => {
    await launchFresh(config);
    for (let i = 0; i < 5; i++) await session.move('stepIn');
    const stop = await session.move('restart', {});
    assert.equal(stop.body.reason, 'entry');
    assert.equal((await session.state()).position, 0);
  });

  async function launchFresh(launchConfig: Record<string, unknown>, options: LaunchOptions = {}): Promise<DebugProtocol.StoppedEvent> {
    await session.close();
    session = await Debuggee.open();
    return session.launch(launchConfig, options);
  }
});

describe('actual mode: exceptions, values and processes', { timeout: 300_000 }, () => {
  test('exception filters stop where raised (caught) and where uncaught, with exceptionInfo', async () => {
    const session = await Debuggee.open();
    try {
      const config = { program: RAISES, mode: 'actual', entry: 'main', args: "['1', 'x', '0']" };
      await session.launch(config, { exceptionFilters: ['raised', 'uncaught'] });
      let stop = await session.move('continue');
      assert.equal(stop.body.reason, 'exception');
      assert.equal((await session.stack())[0]!.line, R.parseBody);
      let info = (await session.dc.exceptionInfoRequest({ threadId: 1 })).body;
      assert.equal(info.exceptionId, 'ValueError');
      assert.match(info.description ?? '', /invalid literal for int/);
      assert.equal(info.breakMode, 'always');
      // The same exception passing into main is not a second stop; the next is the division by zero.
      stop = await session.move('continue');
      assert.equal(stop.body.reason, 'exception');
      assert.equal((await session.stack())[0]!.line, R.divide);
      info = (await session.dc.exceptionInfoRequest({ threadId: 1 })).body;
      assert.equal(info.exceptionId, 'ZeroDivisionError');
      // Only the uncaught one with the default filter.
      await session.close();
      const second = await Debuggee.open();
      await second.launch(config, { exceptionFilters: ['uncaught'] });
      stop = await second.move('continue');
      assert.equal(stop.body.reason, 'exception');
      assert.match(stop.body.description ?? '', /^Uncaught ZeroDivisionError/);
      info = (await second.dc.exceptionInfoRequest({ threadId: 1 })).body;
      assert.equal(info.breakMode, 'unhandled');
      await second.close();
    } finally {
      await session.close();
    }
  });

  test('a run cut by the event limit says so at launch and at its end; a raised program says how it ended', async () => {
    const session = await Debuggee.open();
    try {
      await session.launch({ program: LOOP, mode: 'actual', entry: 'main', args: '8', tracerLimits: { maxEvents: 20 } });
      assert.match(session.console(), /limit of 20 events/);
      const end = await session.move('continue');
      assert.equal(end.body.reason, 'end');
      assert.match(end.body.description ?? '', /stopped early, .*20 events/);
      assert.equal((await session.state()).length, 20);
    } finally {
      await session.close();
    }
    const raising = await Debuggee.open();
    try {
      await raising.launch({ program: RAISES, mode: 'actual', entry: 'main', args: "['0']" }, { exceptionFilters: [] });
      assert.match(raising.console(), /the program raised ZeroDivisionError/);
      const end = await raising.move('continue');
      assert.equal(end.body.reason, 'end');
      assert.match(end.body.description ?? '', /raised ZeroDivisionError/);
    } finally {
      await raising.close();
    }
  });

  test('long values are cut with the full text below; a 3000-element list expands lazily with paging', async () => {
    const session = await Debuggee.open();
    try {
      await session.launch(
        { program: VALUES, mode: 'actual', entry: 'build', args: '3000', tracerLimits: { maxReprLength: 100000 } },
        { breakpoints: [{ line: V.returnLine }] },
      );
      await session.move('continue');
      const locals = await session.locals();
      const numbers = locals.get('numbers')!;
      assert.equal(numbers.value.length, 200);
      assert.ok(numbers.value.endsWith('…'));
      assert.equal(numbers.indexedVariables, 3000);
      assert.equal(numbers.evaluateName, 'numbers');
      const page = (await session.dc.variablesRequest({ variablesReference: numbers.variablesReference, filter: 'indexed', start: 2500, count: 3 })).body.variables;
      assert.deepEqual(page.map((v) => [v.name, v.value, v.evaluateName]), [['2500', '2500', 'numbers[2500]'], ['2501', '2501', 'numbers[2501]'], ['2502', '2502', 'numbers[2502]']]);
      const named = (await session.dc.variablesRequest({ variablesReference: numbers.variablesReference, filter: 'named' })).body.variables;
      assert.equal(named[0]!.name, '(full value)');
      assert.equal(named[0]!.value, `[${Array.from({ length: 3000 }, (_, i) => i).join(', ')}]`);
      const text = locals.get('text')!;
      assert.ok(text.variablesReference > 0);
      const full = (await session.dc.variablesRequest({ variablesReference: text.variablesReference })).body.variables;
      assert.equal(full[0]!.value, `'${'x'.repeat(500)}'`);
      // A watch shows the whole value (VS Code cuts the row to its width and shows all of it on hover); a hover the short form.
      const frameId = (await session.stack())[0]!.id;
      const watched = await session.dc.evaluateRequest({ expression: 'text', frameId, context: 'watch' });
      assert.equal(watched.body.result, `'${'x'.repeat(500)}'`);
      const hovered = await session.dc.evaluateRequest({ expression: 'text', frameId, context: 'hover' });
      assert.equal(hovered.body.result.length, 200);
      const table = locals.get('table')!;
      const entries = (await session.dc.variablesRequest({ variablesReference: table.variablesReference })).body.variables;
      assert.deepEqual(entries.map((v) => [v.name, v.value, v.evaluateName]).slice(0, 2), [["'k0'", '0', "table['k0']"], ["'k1'", '1', "table['k1']"]]);
      const nested = locals.get('nested')!;
      const [inner, mapping] = (await session.dc.variablesRequest({ variablesReference: nested.variablesReference, filter: 'indexed', start: 0, count: 2 })).body.variables;
      assert.equal(inner!.value, '[1, 2]');
      const tuple = (await session.dc.variablesRequest({ variablesReference: mapping!.variablesReference })).body.variables[0]!;
      assert.equal(tuple.evaluateName, "nested[1]['a']");
      const evaluated = await session.dc.evaluateRequest({ expression: tuple.evaluateName!, frameId: (await session.stack())[0]!.id, context: 'watch' });
      assert.equal(evaluated.body.result, '(3, 4)');
      const clip = await session.dc.evaluateRequest({ expression: 'numbers', frameId: (await session.stack())[0]!.id, context: 'clipboard' });
      assert.equal(clip.body.result, named[0]!.value);
    } finally {
      await session.close();
    }
  });

  test('disconnect leaves no process; a breakpoint condition starts none', async () => {
    const session = await Debuggee.open();
    const pid = session.process.pid!;
    await session.launch({ program: LOOP, mode: 'actual', entry: 'main', args: '3' }, { breakpoints: [{ line: L.addSq, condition: "str(i) == '1'" }] });
    await session.move('continue');
    assert.equal((await session.values()).i, '1');
    // Conditions are evaluated in the adapter itself (server/values/py-interpret.ts), without a helper process.
    const helpers = childrenOf(pid);
    assert.deepEqual(helpers.map((child) => child.cmdline), []);
    await session.close();
    assert.ok(await waitUntil(() => !alive(pid)), 'the adapter is still running');
    assert.ok(await waitUntil(() => helpers.every((child) => !alive(child.pid))), `left running: ${helpers.map((c) => c.cmdline).join('; ')}`);
  });

  test('disconnect while the tracer runs stops the tracer', async () => {
    const session = await Debuggee.open();
    const pid = session.process.pid!;
    await session.initialize();
    const launched = session.dc.launchRequest({ program: SLOW, mode: 'actual', entry: 'main', tracerLimits: { timeoutMs: 120_000 } } as DebugProtocol.LaunchRequestArguments);
    launched.catch(() => undefined);
    let tracer: { pid: number; cmdline: string } | undefined;
    assert.ok(await waitUntil(() => (tracer = childrenOf(pid).find((c) => c.cmdline.includes('cwm_tracer'))) !== undefined), 'the tracer never started');
    await session.close();
    assert.ok(await waitUntil(() => !alive(tracer!.pid)), `the tracer ${tracer!.pid} outlived the session`);
  });

  test('a saved JSON trace replays in actual mode', async () => {
    const recorder = await Debuggee.open();
    let frames: FrameJson[];
    try {
      await recorder.launch({ program: LOOP, mode: 'actual', entry: 'main', args: '2' });
      frames = (await recorder.traces()).actual as FrameJson[];
    } finally {
      await recorder.close();
    }
    const file = join(mkdtempSync(join(tmpdir(), 'cwm-saved-')), 'loop.json');
    writeFileSync(file, JSON.stringify({ origin: 'actual', entry: { kind: 'function', name: 'main', line: L.mainDef }, end: { kind: 'returned' }, frames }));
    const session = await Debuggee.open();
    try {
      await session.launch({ program: LOOP, mode: 'actual', entry: 'main', trace: file }, { breakpoints: [{ line: L.squareBody }] });
      await session.move('continue');
      assert.equal((await session.values()).v, '0');
      const end = await session.move('stepOut');
      assert.equal(end.body.reason, 'step');
      assert.equal((await session.state()).length, frames.length);
    } finally {
      await session.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------- model modes

let codec: CwmTokenizer;
let tokenizerPath: string;
let replay: ReplayModel;
let server: ProtocolServer;
let realLoop: Trace;

before(async () => {
  tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-adapter-tok-')));
  codec = await loadTokenizer(tokenizerPath);
  replay = createReplayModel({ codec });
  realLoop = await replay.prepare({ file: LOOP, entry: 'main', args: '8' });
  await replay.prepare({ file: RAISES, entry: 'main', args: "['1', 'x', '0']" });
  server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
});

after(async () => {
  await server?.close();
  codec?.dispose();
});

function modelConfig(mode: 'predict' | 'compare', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { program: LOOP, mode, entry: 'main', args: '8', endpoints: [server.url], tokenizer: tokenizerPath, ...extra };
}

describe('predict mode: stepping through frames the model predicts', { timeout: 300_000 }, () => {
  let session: Debuggee;

  before(async () => {
    session = await Debuggee.open();
  });
  after(async () => {
    replay.setCorruptions([]);
    server.faults = {};
    await session.close();
  });

  async function launchFresh(config: Record<string, unknown>, options: LaunchOptions = {}): Promise<DebugProtocol.StoppedEvent> {
    await session.close();
    session = await Debuggee.open();
    return session.launch(config, options);
  }

  test('launch starts from the call frame built from args; stepIn predicts the real frames one by one', async () => {
    const stop = await launchFresh(modelConfig('predict'));
    assert.equal(stop.body.reason, 'entry');
    assert.deepEqual((await session.dc.threadsRequest()).body.threads.map((t) => t.name), ['Python (predicted)']);
    assert.deepEqual(await session.values(), { n: '8' });
    for (let i = 1; i <= 13; i++) {
      await session.move('stepIn');
      const state = await session.state();
      assert.equal(state.position, i);
      assert.equal(state.frame?.line, realLoop.frames[i]!.line);
      assert.deepEqual(state.frame?.locals, Object.fromEntries(realLoop.frames[i]!.locals));
    }
    const stack = await session.stack();
    assert.deepEqual(stack.map((f) => f.name), ['square', 'main']);
  });

  test('continue to a breakpoint is one streamed request, cancelled at the breakpoint', async () => {
    await launchFresh(modelConfig('predict'), { breakpoints: [{ line: L.print, condition: 'i == 3' }] });
    const before = posts(server);
    // Tokens come at a steady pace, so the whole rollout would take seconds: a cancellation is visible as such.
    server.faults = { tokenLatencyMs: 2 };
    const stop = await session.move('continue').finally(() => {
      server.faults = {};
    });
    assert.equal(stop.body.reason, 'breakpoint');
    assert.equal(posts(server) - before, 1, 'continue took more than one request');
    assert.equal((await session.values()).i, '3');
    assert.deepEqual(session.progress, [], 'progress events were sent to a client that does not show them');
    const last = server.requests[server.requests.length - 1]!;
    assert.ok(await server.waitFor(() => last.clientClosed || last.finished, 5000));
    assert.equal(last.clientClosed, true, 'the rollout was not cancelled at the breakpoint');
  });

  test('next without breakpoints steps over a call by forcing its return', async () => {
    await launchFresh(modelConfig('predict'));
    for (let i = 0; i < 3; i++) await session.move('next');
    assert.equal((await session.stack())[0]!.line, L.callSquare);
    await session.move('next');
    const state = await session.state();
    assert.equal(state.frame?.line, L.addSq);
    assert.equal(state.frame?.locals.sq, '0');
    const predicted = (await session.traces()).predicted as FrameJson[];
    assert.deepEqual(predicted.map((f) => `${f.event}@${f.depth}`).slice(4), ['call@1', 'return@1', 'line@0'], 'the body of square was predicted');
  });

  test('stepping back keeps the predictions: forward again asks the model nothing', async () => {
    await launchFresh(modelConfig('predict'));
    for (let i = 0; i < 6; i++) await session.move('stepIn');
    const before = posts(server);
    for (let i = 0; i < 4; i++) assert.equal((await session.move('stepBack')).body.reason, 'step');
    assert.equal((await session.state()).position, 2);
    for (let i = 0; i < 4; i++) await session.move('stepIn');
    assert.equal((await session.state()).position, 6);
    assert.equal(posts(server), before, 'moving inside the recording sent requests');
    const start = await session.move('reverseContinue');
    assert.equal(start.body.reason, 'entry');
    assert.equal((await session.state()).position, 0);
  });

  test('setVariable is a what-if: the next predicted frames continue from the edited value', async () => {
    await launchFresh(modelConfig('predict'));
    await session.move('stepIn'); // total = 0
    await session.move('stepIn'); // for i in range(n): total is 0
    await session.move('stepIn'); // sq = square(i), i = 0
    await session.move('stepBack'); // back at the for line, with a recorded frame after it
    assert.equal((await session.values()).total, '0');
    const scope = (await session.scopes())[0]!;
    const result = await session.dc.setVariableRequest({ variablesReference: scope.variablesReference, name: 'total', value: '1000 + 1' });
    assert.equal(result.body.value, '1001');
    assert.equal((await session.state()).length, 3, 'the frames after the edited one were not dropped');
    assert.equal((await session.values()).total, '1001');
    await session.move('stepIn'); // predicted again from the edited state
    const state = await session.state();
    assert.equal(state.frame?.line, L.callSquare);
    assert.deepEqual(state.frame?.locals, { n: '8', total: '1001', i: '0' });
    assert.match(session.console(), /What-if: total = 1001/);
  });

  test('data breakpoints work across a streamed rollout, forwards and backwards', async () => {
    await launchFresh(modelConfig('predict'));
    await session.move('stepIn');
    await session.move('stepIn');
    await session.move('stepIn'); // i = 0
    const scope = (await session.scopes())[0]!;
    const info = (await session.dc.dataBreakpointInfoRequest({ name: 'total', variablesReference: scope.variablesReference })).body;
    await session.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId! }] });
    const totals: string[] = [];
    for (let k = 0; k < 4; k++) {
      assert.equal((await session.move('continue')).body.reason, 'data breakpoint');
      totals.push((await session.values()).total!);
    }
    assert.deepEqual(totals, ['1', '5', '14', '30']);
    assert.equal((await session.move('reverseContinue')).body.reason, 'data breakpoint');
    assert.equal((await session.values()).total, '14');
  });

  test('gotoTargets/goto reach a line ahead in one streamed request', async () => {
    await launchFresh(modelConfig('predict'));
    const before = posts(server);
    const stop = await session.move('goto', { threadId: 1, targetId: L.returnTotal });
    assert.equal(stop.body.reason, 'goto');
    assert.equal((await session.stack())[0]!.line, L.returnTotal);
    assert.equal((await session.values()).total, '140');
    assert.equal(posts(server) - before, 1);
  });

  test('progress is reported while predicting, and cancel aborts the HTTP request', async () => {
    await launchFresh(modelConfig('predict'), { progress: true });
    server.faults = { tokenLatencyMs: 15 };
    try {
      const position = (await session.state()).position;
      const started = session.dc.waitForEvent('progressStart');
      const continued = session.dc.continueRequest({ threadId: 1 });
      const progress = (await started) as DebugProtocol.ProgressStartEvent;
      assert.equal(progress.body.cancellable, true);
      assert.ok(await server.waitFor(() => server.requests[server.requests.length - 1]!.promptIds !== undefined, 5000));
      const request = server.requests[server.requests.length - 1]!;
      await session.dc.customRequest('cancel', { progressId: progress.body.progressId });
      await assert.rejects(continued, /cancelled/);
      assert.ok(await server.waitFor(() => request.clientClosed, 5000), 'the HTTP request was not aborted');
      assert.ok(session.progress.some((e) => e.event === 'progressEnd' && (e.body as { progressId: string }).progressId === progress.body.progressId));
      assert.equal((await session.state()).position, position);
    } finally {
      server.faults = {};
    }
    const again = await session.move('stepIn');
    assert.equal(again.body.reason, 'step');
  });

  test('evaluate and exceptions work on predicted frames', async () => {
    await launchFresh({ ...modelConfig('predict'), program: RAISES, args: "['1', 'x', '0']" }, { exceptionFilters: ['raised'] });
    const stop = await session.move('continue');
    assert.equal(stop.body.reason, 'exception');
    assert.equal((await session.dc.exceptionInfoRequest({ threadId: 1 })).body.exceptionId, 'ValueError');
    const frameId = (await session.stack())[0]!.id;
    assert.equal((await session.dc.evaluateRequest({ expression: 'text * 2', frameId, context: 'hover' })).body.result, "'xx'");
  });

  test('restart draws a fresh sample from the entry', async () => {
    await launchFresh(modelConfig('predict', { seed: 4 }));
    for (let i = 0; i < 3; i++) await session.move('stepIn');
    const stop = await session.move('restart', {});
    assert.equal(stop.body.reason, 'entry');
    const state = await session.state();
    assert.equal(state.position, 0);
    assert.equal(state.length, 1, 'the old prediction was kept');
    await session.move('stepIn');
    const body = server.requests[server.requests.length - 1]!.body as { seed?: number };
    assert.equal(body.seed, 5);
  });

  test('cwm/sample reports how several rollouts from the current step agree', async () => {
    replay.setCorruptions([]);
    await launchFresh(modelConfig('predict', { samples: 2 }));
    const result = (await session.dc.customRequest('cwm/sample', {})).body as { rollouts: FrameJson[][]; agreement: { index: number; actionCount: number }[] };
    assert.equal(result.rollouts.length, 2);
    assert.equal(result.rollouts[0]!.length, realLoop.frames.length - 1);
    assert.ok(result.agreement.every((entry) => entry.actionCount === 2));
  });

  test('an endpoint failing in the middle of a session answers the step with its error; the session goes on', async () => {
    await launchFresh(modelConfig('predict'));
    server.faults = { http500: 'CUDA error: out of memory' };
    try {
      await assert.rejects(session.dc.stepInRequest({ threadId: 1 }), /500|CUDA error: out of memory/);
    } finally {
      server.faults = {};
    }
    assert.equal((await session.state()).position, 0);
    assert.equal((await session.move('stepIn')).body.reason, 'step');
    assert.equal((await session.state()).position, 1);
  });

  test('an endpoint that is down fails the launch with the endpoint message', async () => {
    const down = await Debuggee.open();
    try {
      const message = await down.launchError(modelConfig('predict', { endpoints: ['http://127.0.0.1:9'] }));
      assert.match(message, /Cannot reach the CWM endpoint at http:\/\/127\.0\.0\.1:9/);
    } finally {
      await down.close();
    }
  });

  test('without args the model predicts the entry call itself', async () => {
    const stop = await launchFresh({ program: LOOP, mode: 'predict', entry: 'main', endpoints: [server.url], tokenizer: tokenizerPath });
    assert.equal(stop.body.reason, 'entry');
    const state = await session.state();
    assert.equal(state.frame?.event, 'call');
    assert.equal(state.frame?.function, 'main');
  });
});

describe('compare mode: the prediction next to the real run', { timeout: 300_000 }, () => {
  let session: Debuggee;

  before(async () => {
    session = await Debuggee.open();
  });
  after(async () => {
    replay.setCorruptions([]);
    await session.close();
  });

  async function launchFresh(config: Record<string, unknown>, options: LaunchOptions = {}): Promise<DebugProtocol.StoppedEvent> {
    await session.close();
    session = await Debuggee.open();
    return session.launch(config, options);
  }

  test('a wrong value at step 8 stops with reason divergence at step 8, both values shown and marked', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 8, variable: 'total', value: '99' }]);
    const entry = await launchFresh(modelConfig('compare'));
    assert.equal(entry.body.reason, 'entry');
    assert.deepEqual((await session.scopes()).map((s) => s.name), ['Predicted', 'Actual']);
    const stop = await session.move('continue');
    assert.equal(stop.body.reason, 'divergence');
    assert.match(stop.body.description ?? '', /^step 8: total is 99 in the prediction but 0 in the real run/);
    // VS Code cuts the description to the CALL STACK's width and shows `text` whole on hover: it holds all of it.
    assert.ok((stop.body.text ?? '').startsWith(stop.body.description!), `text: ${stop.body.text}`);
    const traces = await session.traces();
    const rows = traces.rows as { actual?: number; predicted?: number; verdict: string }[];
    const position = (await session.state()).position;
    assert.equal(rows[position]!.actual, 8);
    assert.equal(rows[position]!.verdict, 'state-differs');
    const real = realLoop.frames[8]!.locals.get('total')!;
    const predicted = await session.locals('Predicted');
    const actual = await session.locals('Actual');
    // The predicted row carries the real value in its text, so VS Code shows the difference at a glance.
    assert.equal(withoutConfidence(predicted.get('total')!.value), `99 ≠ ${real}`);
    assert.equal(actual.get('total')!.value, real);
    assert.ok(predicted.get('total')!.presentationHint?.attributes?.includes('cwm.differs'));
    assert.ok(actual.get('total')!.presentationHint?.attributes?.includes('cwm.differs'));
    assert.ok(!predicted.get('n')!.presentationHint?.attributes?.includes('cwm.differs'));
    assert.equal((traces.firstDivergence as { actualStep: number }).actualStep, 8);
    assert.equal(rows.filter((row) => row.verdict !== 'match').length, 1);
    // Past the only divergence, continue runs to the end.
    const end = await session.move('continue');
    assert.equal(end.body.reason, 'end');
  });

  test('stepping goes row by row; stepping onto the divergence says so; hover shows both values', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 3, variable: 'i', value: '5' }]);
    await launchFresh(modelConfig('compare'));
    const reasons: string[] = [];
    for (let k = 0; k < 3; k++) reasons.push((await session.move('stepIn')).body.reason);
    assert.deepEqual(reasons, ['step', 'step', 'divergence']);
    const frameId = (await session.stack())[0]!.id;
    const hover = await session.dc.evaluateRequest({ expression: 'i', frameId, context: 'hover' });
    assert.equal(hover.body.result, '5   (real: 0)');
    await session.move('stepIn');
    await session.move('stepIn');
    const back = await session.move('reverseContinue');
    assert.equal(back.body.reason, 'divergence');
    assert.deepEqual((await session.dc.threadsRequest()).body.threads.map((t) => t.name), ['Python (predicted vs real)']);
  });

  test('the real output arrives at its step; next, stepOut and breakpoints work on rows; setVariable is refused', async () => {
    replay.setCorruptions([]);
    await launchFresh(modelConfig('compare'), { breakpoints: [{ line: L.squareBody, condition: 'v == 4' }] });
    const stop = await session.move('continue');
    assert.equal(stop.body.reason, 'breakpoint');
    assert.equal((await session.values('Actual')).v, '4');
    assert.equal((await session.values('Predicted')).v, '4');
    assert.equal(session.stdout(), 'i = 0 total = 0\ni = 3 total = 14\n');
    const stack = await session.stack();
    assert.deepEqual(stack.map((f) => [f.name, f.line]), [['square', L.squareBody], ['main', L.callSquare]]);
    await session.move('stepOut');
    assert.deepEqual((await session.stack()).map((f) => f.line), [L.addSq]);
    await session.move('next');
    assert.equal((await session.stack())[0]!.line, L.ifLine);
    const scope = (await session.scopes())[0]!;
    await assert.rejects(session.dc.setVariableRequest({ variablesReference: scope.variablesReference, name: 'i', value: '2' }), /predict mode only/);
    const traces = await session.traces();
    assert.equal((traces.scores as { action: { rate: number } }).action.rate, 1);
    const goTo = await session.move('cwm/goToStep', { step: 3, side: 'actual' });
    assert.equal(goTo.body.reason, 'goto');
    assert.equal((await session.state()).frame?.index, 3);
  });

  test('with stopOnDivergence false the divergence does not stop a continue', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 8, variable: 'total', value: '99' }]);
    await launchFresh(modelConfig('compare', { stopOnDivergence: false }));
    const stop = await session.move('continue');
    assert.equal(stop.body.reason, 'end');
  });
});

// ---------------------------------------------------------------------------------------------------- every request, every mode

for (const mode of ['actual', 'predict', 'compare'] as const) {
  describe(`every request in ${mode} mode`, { timeout: 300_000 }, () => {
    after(() => replay.setCorruptions([]));

    test(`one session uses every request the adapter advertises (${mode})`, async () => {
      replay.setCorruptions([]);
      const session = await Debuggee.open();
      try {
        const config = mode === 'actual' ? { program: LOOP, mode, entry: 'main', args: '8' } : modelConfig(mode);
        const entry = await session.launch(config, {
          progress: true,
          exceptionFilters: ['raised', 'uncaught'],
          breakpoints: [{ line: L.squareBody, hitCondition: '2' }, { line: L.addSq, logMessage: 'sq={sq}' }],
        });
        assert.equal(entry.body.reason, 'entry');
        const threads = (await session.dc.threadsRequest()).body.threads;
        assert.equal(threads.length, 1);
        assert.equal(threads[0]!.name, { actual: 'Python (real)', predict: 'Python (predicted)', compare: 'Python (predicted vs real)' }[mode]);
        const scopeNames = (await session.scopes()).map((s) => s.name);
        assert.deepEqual(scopeNames, mode === 'compare' ? ['Predicted', 'Actual'] : ['Locals']);
        for (const name of scopeNames) assert.deepEqual(await session.values(name), { n: '8' });

        assert.equal((await session.move('stepIn')).body.reason, 'step');
        assert.equal((await session.move('next')).body.reason, 'step');
        assert.equal((await session.stack())[0]!.line, L.loop);

        // Hit condition 2: the second time square's body runs, v is 1; the log point printed on the way.
        const hit = await session.move('continue');
        assert.equal(hit.body.reason, 'breakpoint');
        assert.deepEqual((await session.stack()).map((f) => [f.name, f.line]), [['square', L.squareBody], ['main', L.callSquare]]);
        for (const name of scopeNames) assert.equal((await session.values(name)).v, '1');
        assert.deepEqual(session.console().split('\n').filter((line) => line.startsWith('sq=')), ['sq=0']);
        if (mode !== 'predict') assert.equal(session.stdout(), 'i = 0 total = 0\n');

        assert.equal((await session.move('stepOut')).body.reason, 'step');
        assert.equal((await session.stack())[0]!.line, L.addSq);
        for (const name of scopeNames) assert.equal((await session.values(name)).sq, '1');
        assert.equal((await session.move('stepBack')).body.reason, 'step');
        for (const name of scopeNames) assert.equal((await session.values(name))['(return)'], '1');
        await session.move('stepIn');

        const frameId = (await session.stack())[0]!.id;
        assert.equal((await session.dc.evaluateRequest({ expression: 'sq * 10 + i', frameId, context: 'watch' })).body.result, '11');
        assert.equal((await session.dc.evaluateRequest({ expression: 'total', frameId, context: 'clipboard' })).body.result, '0');

        const scope = (await session.scopes())[0]!;
        const info = (await session.dc.dataBreakpointInfoRequest({ name: 'total', variablesReference: scope.variablesReference })).body;
        assert.ok(info.dataId);
        await session.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId! }] });
        const changed = await session.move('continue');
        assert.equal(changed.body.reason, 'data breakpoint');
        assert.equal(changed.body.description, 'total changed from 0 to 1');
        const back = await session.move('reverseContinue');
        assert.equal(back.body.reason, 'breakpoint');
        assert.equal((await session.values()).v, '1');
        await session.dc.setDataBreakpointsRequest({ breakpoints: [] });
        await session.setBreakpoints(LOOP, []);

        const targets = (await session.dc.gotoTargetsRequest({ source: { path: LOOP }, line: L.print })).body.targets;
        assert.equal((await session.move('goto', { threadId: 1, targetId: targets[0]!.id })).body.reason, 'goto');
        assert.equal((await session.values()).i, '3');
        await assert.rejects(session.dc.exceptionInfoRequest({ threadId: 1 }), /not an exception/);

        const edit = (await session.scopes())[0]!;
        const setting = session.dc.setVariableRequest({ variablesReference: edit.variablesReference, name: 'total', value: '7' });
        if (mode === 'predict') assert.equal((await setting).body.value, '7');
        else await assert.rejects(setting, mode === 'actual' ? /recording/ : /predict mode only/);

        const traces = await session.traces();
        assert.equal(traces.mode, mode === 'predict' ? 'predicted' : mode);
        assert.equal((await session.move('cwm/goToStep', { step: 5 })).body.reason, 'goto');
        assert.equal((await session.state()).position, 5);

        assert.equal((await session.move('restart', {})).body.reason, 'entry');
        assert.equal((await session.state()).position, 0);
        const end = await session.move('continue');
        assert.equal(end.body.reason, 'end');
        assert.equal((await session.state()).frame?.value, '140');
        assert.ok(session.progress.length > 0 || mode === 'actual', 'no progress was reported while predicting');

        const terminated = session.dc.waitForEvent('terminated');
        await session.dc.terminateRequest({});
        await terminated;
      } finally {
        await session.close();
      }
    });
  });
}

describe('cancel and pause', { timeout: 300_000 }, () => {
  test('actual mode: cancelling the launch progress stops the tracer and fails the launch as cancelled', async () => {
    const session = await Debuggee.open();
    const pid = session.process.pid!;
    try {
      await session.initialize(true);
      const started = session.dc.waitForEvent('progressStart');
      const launched = session.dc.launchRequest({ program: SLOW, mode: 'actual', entry: 'main', tracerLimits: { timeoutMs: 120_000 } } as DebugProtocol.LaunchRequestArguments);
      launched.catch(() => undefined);
      const progress = (await started) as DebugProtocol.ProgressStartEvent;
      let tracer: { pid: number } | undefined;
      assert.ok(await waitUntil(() => (tracer = childrenOf(pid).find((c) => c.cmdline.includes('cwm_tracer'))) !== undefined));
      await session.dc.customRequest('cancel', { progressId: progress.body.progressId });
      await assert.rejects(launched, /cancelled/);
      assert.ok(await waitUntil(() => !alive(tracer!.pid)), 'the tracer kept running');
    } finally {
      await session.close();
    }
  });

  test('predict mode: pause cancels a long prediction and the session stays where it was', async () => {
    const session = await Debuggee.open();
    try {
      await session.launch(modelConfig('predict'));
      server.faults = { tokenLatencyMs: 15 };
      const continued = session.dc.continueRequest({ threadId: 1 });
      assert.ok(await server.waitFor(() => server.requests[server.requests.length - 1]!.promptIds !== undefined && !server.requests[server.requests.length - 1]!.finished, 5000));
      const request = server.requests[server.requests.length - 1]!;
      await session.dc.pauseRequest({ threadId: 1 });
      await assert.rejects(continued, /cancelled/);
      assert.ok(await server.waitFor(() => request.clientClosed, 5000), 'the HTTP request was not aborted');
      assert.equal((await session.state()).position, 0);
    } finally {
      server.faults = {};
      await session.close();
    }
  });

  test('compare mode: cancelling the background prediction compares what was predicted so far', async () => {
    const session = await Debuggee.open();
    try {
      server.faults = { tokenLatencyMs: 10 };
      await session.initialize(true);
      const started = session.dc.waitForEvent('progressStart');
      const initialized = session.dc.waitForEvent('initialized');
      const launched = session.dc.launchRequest(modelConfig('compare') as DebugProtocol.LaunchRequestArguments);
      await initialized;
      await session.dc.configurationDoneRequest();
      await started;
      await launched;
      await session.nextStop();
      const background = session.progress.find((e) => e.event === 'progressStart' && (e.body as { title: string }).title === 'CWM: predicting the trace');
      assert.ok(background, 'no progress for the background prediction');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await session.dc.customRequest('cancel', { progressId: (background.body as { progressId: string }).progressId });
      const traces = await session.traces();
      const predicted = traces.predicted as FrameJson[];
      const actual = traces.actual as FrameJson[];
      assert.ok(predicted.length >= 1 && predicted.length < actual.length, `predicted ${predicted.length} of ${actual.length} steps`);
      const rows = traces.rows as { verdict: string }[];
      assert.equal(rows.filter((row) => row.verdict === 'missing').length, actual.length - predicted.length);
      assert.match(session.console(), /The prediction stopped after \d+ steps: it was cancelled/);
      server.faults = {};
      assert.equal((await session.move('next')).body.reason, 'step');
    } finally {
      server.faults = {};
      await session.close();
    }
  });
});
