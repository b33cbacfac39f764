// Object state in real runs (issue 16): the tracer records the attributes of the program's objects outside the CWM
// text, the same on every Python 3.8–3.13 and on both hooks, bounded, without running property getters; through DAP,
// VARIABLES expands `self`, data breakpoints watch `self.radius` both ways, and "where did this come from" finds the line
// that set an attribute.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { renderTrace } from '../../server/cwm/writer';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { TraceIndex } from '../../server/trace/queries';
import { TracerStreamParser } from '../../server/tracer/protocol';
import { recordTrace } from '../../server/tracer/runner';
import { runCli } from '../helpers/cli-run';
import { Debuggee } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';

const PROGRAM = join(fixturesDir, 'objects', 'shapes.py');
const L = { setRadius: 15, growRadius: 20, growCenter: 21, growReturn: 22, setBig: 54 };
const LIMIT_NOTE = /^Object state cut at 100 attributes per step/;

/** Per frame: its step, line and attributes, for comparing recordings. */
function objectsOf(trace: Trace): [number, number, Record<string, string>][] {
  return trace.frames.filter((f) => f.objects !== undefined).map((f) => [f.index, f.line, Object.fromEntries(f.objects!)]);
}

function framesAt(trace: Trace, functionName: string, line: number): TraceFrame[] {
  return trace.frames.filter((f) => f.functionName === functionName && f.line === line && f.event === 'line');
}

describe('the tracer records object state', { timeout: 600_000 }, () => {
  let reference: [number, number, Record<string, string>][] | undefined;
  for (const { version, path: python } of availablePythons()) {
    test(`Python ${version}: attributes by path, bounded, no property run, CWM text unchanged, both hooks alike`, async () => {
      const hooks = Number(version.split('.')[1]) >= 12 ? (['settrace', 'monitoring'] as const) : (['settrace'] as const);
      const plain = await recordTrace({ file: PROGRAM, python, entry: 'main' });
      assert.equal(plain.frames.some((f) => f.objects !== undefined), false, 'object state is off unless asked for');
      for (const hook of hooks) {
        const trace = await recordTrace({ file: PROGRAM, python, entry: 'main', hook, objects: true });
        assert.equal(trace.end.kind, 'returned', JSON.stringify(trace.end));
        assert.equal(renderTrace(trace), renderTrace(plain), `${hook}: the CWM text is the same with object state`);
        // Nothing ran the property getter or __getattr__: main returns len(CALLED).
        assert.equal(trace.frames[trace.frames.length - 1]!.value, '0');
        const [firstGrow, secondGrow] = framesAt(trace, 'grow', L.growReturn);
        assert.deepEqual(Object.fromEntries(firstGrow!.objects!), {
          'self.radius': '6', 'self.center': '<shapes.Point object>', 'self.center.x': '1', 'self.center.y': '0', 'self.tags': '[]',
        });
        assert.equal(secondGrow!.objects!.get('self.radius'), '12');
        assert.equal(secondGrow!.objects!.get('self.center.x'), '2');
        // In __init__, radius appears once the line that sets it ran; the slotted object's unset slot is not there.
        const [afterSet] = framesAt(trace, '__init__', L.setRadius + 1);
        assert.deepEqual(Object.fromEntries(afterSet!.objects!), { 'self.radius': '2' });
        const [atBig] = framesAt(trace, 'main', L.setBig);
        assert.equal(atBig!.objects!.get('g.value'), '5');
        assert.equal(atBig!.objects!.has('g.spare'), false);
        // The huge object costs its limit: 100 attributes a step at most, said once, and the trace goes on to the end.
        assert.ok(trace.frames.every((f) => (f.objects?.size ?? 0) <= 100));
        assert.equal(atBig!.objects!.size, 100);
        assert.equal(trace.notes.filter((n) => LIMIT_NOTE.test(n)).length, 1, trace.notes.join('\n'));
        const last = trace.frames.filter((f) => f.functionName === 'main' && f.event === 'line').pop()!;
        assert.equal(last.line, 55);
        const recorded = objectsOf(trace);
        reference ??= recorded;
        assert.deepEqual(recorded, reference, `Python ${version} ${hook} records the same object state as the first Python`);
      }
    });
  }

  test('hostile objects: a raising repr, a name with a newline, a cycle, a non-string key, __getattribute__ never called, nothing kept alive', async () => {
    const request = { file: PROGRAM, entry: 'hostile' };
    const [plain, trace] = [await recordTrace(request), await recordTrace({ ...request, objects: true })];
    assert.equal(renderTrace(trace), renderTrace(plain));
    assert.equal(trace.end.kind, 'returned');
    const last = trace.frames[trace.frames.length - 1]!;
    assert.equal(last.value, '0', 'nothing called __getattribute__');
    const objects = Object.fromEntries(trace.frames.filter((f) => f.functionName === 'hostile' && f.event === 'line').pop()!.objects!);
    assert.match(objects['w.bad']!, /^<repr raised ValueError: boom>$/);
    assert.equal(objects['w.two\nlines'], '1');
    assert.equal(objects['w.me'], '<shapes.Weird object>');
    assert.equal(objects['w.me.me'], '<shapes.Weird object>');
    assert.equal(objects['w.me.me.bad'], undefined, 'two levels deep at most');
    assert.equal(objects['s.x'], '1');
    assert.equal(objects['w.leaf'], 'None');
    // A list of objects changes as its items' classes do (appended to, an item replaced), with no item held.
    const leaves = trace.frames.filter((f) => f.functionName === 'hostile' && f.objects?.has('w.leaves')).map((f) => f.objects!.get('w.leaves'));
    assert.deepEqual([...new Set(leaves)], ['[<shapes.Leaf object>]', '[<shapes.Leaf object>, <shapes.Leaf object>]', '[<shapes.Sneaky object>, <shapes.Leaf object>]']);
    assert.equal(trace.frames.filter((f) => f.functionName === 'hostile' && f.event === 'line').pop()!.locals.get('alive'), 'False',
      'object state holds no object of the program: the leaf was freed at once');
    assert.ok(Object.keys(objects).every((path) => !path.endsWith('.5')), 'a non-string key is left out');
  });

  test('CRUXEval sample: the CWM text is byte-identical with object state on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cwm-objects-'));
    const corpus = readFileSync(join(fixturesDir, 'corpus', 'cruxeval.jsonl'), 'utf8').split('\n').filter((line) => line.trim())
      .map((line) => JSON.parse(line) as { code: string; input: string; id: string }).filter((_, i) => i % 80 === 11);
    for (const item of corpus) {
      const file = join(dir, `${item.id.replace(/\W/g, '_')}.py`);
      writeFileSync(file, `${item.code}\n`);
      const request = { file, entry: 'f', args: item.input };
      const [plain, withObjects] = [await recordTrace(request), await recordTrace({ ...request, objects: true })];
      assert.equal(renderTrace(withObjects), renderTrace(plain), item.id);
    }
  });

  test('the index answers "where did this attribute come from" and its history', async () => {
    const trace = await recordTrace({ file: PROGRAM, entry: 'main', objects: true });
    const index = new TraceIndex(trace.frames);
    const at = framesAt(trace, 'grow', L.growReturn)[0]!.index;
    const change = index.lastChange(at, 'self.radius')!;
    assert.equal(trace.frames[change.setBy]!.line, L.growRadius);
    assert.deepEqual([change.before, change.value], ['2', '6']);
    const center = index.lastChange(at, 'self.center.x')!;
    assert.equal(trace.frames[center.setBy]!.line, L.growCenter);
    const inMain = framesAt(trace, 'main', L.setBig)[0]!.index;
    assert.deepEqual(index.valueHistory(inMain, 'c.radius').map((e) => [trace.frames[e.setBy]!.line, e.value]), [[48, '2'], [49, '6'], [50, '12']]);
  });

  test('cwm-debug trace --format json carries "objects"; --no-objects and the CWM format leave it out', async () => {
    const json = await runCli(['trace', PROGRAM, '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const frames = (JSON.parse(json.stdout) as { frames: { line: number; function: string; objects?: Record<string, string> }[] }).frames;
    assert.equal(frames.find((f) => f.function === 'grow' && f.line === L.growReturn)?.objects?.['self.radius'], '6');
    const without = await runCli(['trace', PROGRAM, '--format', 'json', '--no-objects']);
    assert.equal(without.code, 0, without.stderr);
    assert.doesNotMatch(without.stdout, /"objects"/);
  });
});

describe('object state in the stream reader', () => {
  test('attributes follow their scope and frame, disappear with !, and stray ones are dropped without an error', () => {
    const source = 'def f(c):\n    c.r = 2\n    del c.r\n    return c\n';
    const stream = [
      '.stray', 'no frame yet', '!nothing',
      'c1,0,f', ':c', '<C object>', '2', '3', '.c.r', '2', '.c.s', '[1]', '4', '!c.r', '!c.unknown', '-4', '<C object>', '.c.r', 'on a return',
      '{"t": "end", "events": 4, "end": {"kind": "returned"}}', '',
    ].join('\n');
    const frames: TraceFrame[] = [];
    const errors: string[] = [];
    const parser = new TracerStreamParser({
      onFrame: (frame) => frames.push(frame), onOutsideOutput: () => undefined, onNote: () => undefined, onStart: () => undefined,
      onBegin: () => undefined, onEnd: () => undefined, onProtocolError: (message) => errors.push(message),
    }, source.split('\n'));
    parser.push(stream);
    parser.finish();
    assert.deepEqual(errors, []);
    assert.deepEqual(frames.map((f) => [f.event, f.line, f.objects === undefined ? null : Object.fromEntries(f.objects)]), [
      ['call', 1, null], ['line', 2, null], ['line', 3, { 'c.r': '2', 'c.s': '[1]' }], ['line', 4, { 'c.s': '[1]' }], ['return', 4, null],
    ]);
    assert.equal(frames[4]!.value, '<C object>');
  });
});

describe('object state through DAP (real run)', { timeout: 300_000 }, () => {
  let session: Debuggee | undefined;
  after(async () => session?.close());

  async function launchAt(line: number, config: Record<string, unknown> = {}): Promise<Debuggee> {
    await session?.close();
    session = await Debuggee.open();
    await session.launch({ program: PROGRAM, entry: 'main', mode: 'actual', ...config });
    await session.setBreakpoints(PROGRAM, [{ line }]);
    await session.move('continue');
    return session;
  }

  async function children(debuggee: Debuggee, reference: number): Promise<Map<string, DebugProtocol.Variable>> {
    const { variables } = (await debuggee.dc.variablesRequest({ variablesReference: reference })).body;
    return new Map(variables.map((v) => [v.name, v]));
  }

  test('VARIABLES expands self into its attributes, and a nested object into its own', async () => {
    const s = await launchAt(L.growReturn);
    const self = (await s.locals()).get('self')!;
    assert.equal(self.value, '<shapes.Circle object>');
    assert.ok(self.variablesReference > 0, 'self is expandable');
    const attributes = await children(s, self.variablesReference);
    assert.deepEqual([...attributes.keys()], ['radius', 'center', 'tags']);
    assert.equal(attributes.get('radius')!.value, '6');
    assert.equal(attributes.get('radius')!.evaluateName, 'self.radius');
    const center = await children(s, attributes.get('center')!.variablesReference);
    assert.deepEqual([...center].map(([name, v]) => [name, v.value]), [['x', '1'], ['y', '0']]);
    const hover = (await s.dc.evaluateRequest({ expression: 'self.center.x', context: 'hover' })).body;
    assert.equal(hover.result, '1', 'hover and watch read a recorded attribute');

    const off = await launchAt(L.growReturn, { recordObjects: false });
    assert.equal((await off.locals()).get('self')!.variablesReference, 0, 'without object state self does not expand');
  });

  test('a data breakpoint on self.radius stops where it changes, forwards and backwards', async () => {
    const s = await launchAt(L.growRadius);
    const self = (await s.locals()).get('self')!;
    const info = (await s.dc.dataBreakpointInfoRequest({ name: 'radius', variablesReference: self.variablesReference })).body;
    assert.ok(info.dataId, info.description);
    assert.equal(info.description, 'self.radius in grow()');
    await s.setBreakpoints(PROGRAM, []);
    const set = await s.dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.dataId!, accessType: 'write' }] });
    assert.equal(set.body.breakpoints[0]!.verified, true);
    const first = await s.move('continue');
    assert.equal(first.body.reason, 'data breakpoint');
    assert.equal(first.body.description, 'self.radius changed from 2 to 6');
    assert.equal((await s.stack())[0]!.line, L.growCenter);
    const firstPosition = (await s.state()).position;
    const second = await s.move('continue');
    assert.equal(second.body.description, 'self.radius changed from 6 to 12');
    const back = await s.move('reverseContinue');
    assert.equal(back.body.reason, 'data breakpoint');
    assert.equal(back.body.description, 'self.radius changed from 2 to 6');
    assert.equal((await s.state()).position, firstPosition);
  });

  test('cwm/lastChange on self.radius moves to the line that assigned it', async () => {
    const s = await launchAt(L.growReturn);
    const stopped = s.nextStop();
    const answer = (await s.dc.customRequest('cwm/lastChange', { name: 'self.radius' })).body as { change: { value: string; before: string; line: number } };
    await stopped;
    assert.deepEqual([answer.change.value, answer.change.before, answer.change.line], ['6', '2', L.growRadius]);
    assert.equal((await s.stack())[0]!.line, L.growRadius);
    const self = (await s.locals()).get('self')!;
    assert.equal((await children(s, self.variablesReference)).get('radius')!.value, '2', 'there radius still holds the value before');
  });
});
