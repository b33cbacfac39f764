// Trace files in the debug adapter (DebugClient over dist/adapter.js): cwm/exportTrace in actual and compare mode, and
// replaying a saved .cwmtrace or JSON trace with the program, without it, and against a program that changed since.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { parseRenderedTrace } from '../../server/cwm/reader';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import type { TraceFrame } from '../../server/trace/model';
import { ADAPTER, childrenOf, Debuggee } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const LOOP = join(fixturesDir, 'adapter', 'loop.py');
const LOOP_SOURCE = readFileSync(LOOP, 'utf8');
const MARKER_SUFFIX = '  # << START_OF_TRACE';
/** Line numbers in loop.py (checked in `before`). */
const L = { squareBody: 5, mainDef: 9, total0: 10, callSquare: 12 };
/** Steps at which the recorded run and its replays are compared: calls, lines, returns, the loop's later turns. */
const STEPS = [0, 1, 2, 4, 5, 7, 9, 13, 20, 30, 41];

interface FrameJson {
  event: string;
  line: number;
  source: string;
  function: string;
  depth: number;
  locals: Record<string, string>;
  value?: string;
}

interface Exported {
  text: string;
  suggestedName: string;
  side: string;
  format: string;
  frames: number;
  note?: string;
}

/** What a user sees at one stop: the call stack and the top frame's variables. */
interface Snapshot {
  stack: { name: string; line: number; sourceName?: string }[];
  variables: Record<string, string>;
}

/** The shared adapter session, launched as a replay is (no exception filters), with what these tests read at a stop. */
class TraceFileDebuggee extends Debuggee {
  override launch(config: Record<string, unknown>): Promise<DebugProtocol.StoppedEvent> {
    return super.launch(config, { exceptionFilters: [] });
  }

  async snapshot(): Promise<Snapshot> {
    const stack = await this.stack();
    const scopes = (await this.dc.scopesRequest({ frameId: stack[0]!.id })).body.scopes;
    const variables = (await this.dc.variablesRequest({ variablesReference: scopes[0]!.variablesReference })).body.variables;
    return {
      stack: stack.map((frame) => ({ name: frame.name, line: frame.line, sourceName: frame.source?.name })),
      variables: Object.fromEntries(variables.map((v) => [v.name, v.value])),
    };
  }

  /** Snapshots at each of `steps` (ascending), stepping in from the entry. */
  async snapshotsAt(steps: readonly number[]): Promise<Map<number, Snapshot>> {
    const found = new Map<number, Snapshot>();
    let position = 0;
    for (const step of steps) {
      while (position < step) {
        await this.move('stepIn');
        position++;
      }
      assert.equal((await this.state()).position, step);
      found.set(step, await this.snapshot());
    }
    return found;
  }

  async exportTrace(args: Record<string, unknown> = {}): Promise<Exported> {
    return (await this.dc.customRequest('cwm/exportTrace', args)).body as Exported;
  }
}

/** The frame fields a rendered trace carries (no scope ids, no output). */
function comparable(frame: TraceFrame | FrameJson): Omit<FrameJson, 'source'> & { source: string } {
  const json = 'functionName' in frame
    ? { event: frame.event, line: frame.line, source: frame.sourceLine, function: frame.functionName, depth: frame.depth, locals: Object.fromEntries(frame.locals), value: frame.value }
    : frame;
  return {
    event: json.event, line: json.line, source: json.source, function: json.function, depth: json.depth, locals: json.locals,
    ...(json.value !== undefined ? { value: json.value } : {}),
  };
}

function assertSameFrames(actual: readonly TraceFrame[], expected: readonly FrameJson[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} frames read back, ${expected.length} expected`);
  assert.deepEqual(actual.map(comparable), expected.map(comparable), what);
}

/** loop.py as the CWM context shows it: main's def line marked. */
const LOOP_CONTEXT = LOOP_SOURCE.split('\n').map((line, i) => (i === L.mainDef - 1 ? line + MARKER_SUFFIX : line)).join('\n');

let workDir: string;
/** The recorded run of loop.py (main(8)): its frames, the snapshots at STEPS, and its exports. */
let recordedFrames: FrameJson[];
let recordedSnapshots: Map<number, Snapshot>;
let cwmFile: string;
let jsonFile: string;

before(async () => {
  assert.ok(existsSync(ADAPTER), `${ADAPTER} is missing: run node scripts/build.mjs first`);
  const lines = LOOP_SOURCE.split('\n');
  assert.match(lines[L.squareBody - 1]!, /result = v \* v/);
  assert.match(lines[L.mainDef - 1]!, /^def main\(n\):$/);
  assert.match(lines[L.total0 - 1]!, /total = 0/);
  assert.match(lines[L.callSquare - 1]!, /sq = square\(i\)/);
  workDir = mkdtempSync(join(tmpdir(), 'cwm-trace-files-'));
});

describe('cwm/exportTrace in actual mode', { timeout: 120_000 }, () => {
  let session: TraceFileDebuggee;

  before(async () => {
    session = await TraceFileDebuggee.open();
    await session.launch({ program: LOOP, mode: 'actual', entry: 'main', args: '8' });
    recordedFrames = (await session.traces()).actual as FrameJson[];
  });
  after(async () => {
    await session.close();
  });

  test('the default export is the real run as CWM text that reads back to the same frames', async () => {
    const exported = await session.exportTrace();
    assert.equal(exported.side, 'actual');
    assert.equal(exported.format, 'cwm');
    assert.equal(exported.suggestedName, 'loop-actual.cwmtrace');
    assert.equal(exported.frames, recordedFrames.length);
    assert.equal(exported.note, undefined);
    assert.ok(exported.text.startsWith(`<|begin_of_text|><|trace_context_start|>${LOOP_CONTEXT}<|frame_sep|><|call_sep|>{"n": "8"}`));
    assert.ok(exported.text.endsWith('<|end_of_text|>'));
    const read = parseRenderedTrace(exported.text);
    assert.equal(read.context, LOOP_CONTEXT);
    assert.ok(read.ended);
    assert.deepEqual(read.malformed, []);
    assertSameFrames(read.frames, recordedFrames, 'actual export');
    cwmFile = join(workDir, exported.suggestedName);
    writeFileSync(cwmFile, exported.text);
  });

  test('the JSON export holds the same frames and the program text', async () => {
    const exported = await session.exportTrace({ format: 'json' });
    assert.equal(exported.suggestedName, 'loop-actual.json');
    const json = JSON.parse(exported.text) as { origin: string; source: string; frames: FrameJson[]; entry: { name: string } };
    assert.equal(json.origin, 'actual');
    assert.equal(json.source, LOOP_SOURCE);
    assert.equal(json.entry.name, 'main');
    assert.deepEqual(json.frames.map(comparable), recordedFrames.map(comparable));
    jsonFile = join(workDir, 'saved-loop.json');
    writeFileSync(jsonFile, exported.text);
  });

  test('asking for a prediction in actual mode, or for a bad format, is refused with a reason', async () => {
    await assert.rejects(session.exportTrace({ side: 'predicted' }), /no prediction to export/);
    await assert.rejects(session.exportTrace({ format: 'xml' }), /cwm\/exportTrace takes/);
  });

  test('the recorded run at several steps (the reference for the replays)', async () => {
    recordedSnapshots = await session.snapshotsAt(STEPS);
    const first = recordedSnapshots.get(0)!;
    assert.deepEqual(first.variables, { n: '8' });
    assert.deepEqual(first.stack, [{ name: 'main', line: L.mainDef, sourceName: 'loop.py' }]);
    const inSquare = recordedSnapshots.get(5)!;
    assert.deepEqual(inSquare.stack.map((f) => f.name), ['square', 'main']);
  });
});

describe('replaying a saved trace', { timeout: 180_000 }, () => {
  test('with the program: the real file, the same stacks and variables at every compared step', async () => {
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch({ program: LOOP, trace: cwmFile });
      const state = await session.state();
      assert.equal(state.mode, 'actual');
      assert.equal(state.length, recordedFrames.length);
      assert.equal(state.threadName, 'Python (saved trace)');
      const top = (await session.stack())[0]!;
      assert.equal(top.source?.path, LOOP);
      assert.ok(!top.source?.sourceReference, 'the real file is shown, not a copy');
      assert.deepEqual(await session.snapshotsAt(STEPS), recordedSnapshots);
      assert.equal(session.output('important'), '');
    } finally {
      await session.close();
    }
  });

  test('without a program: the source comes from the trace by reference; breakpoints go there; nothing runs', async () => {
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch({ trace: cwmFile });
      assert.match(session.output('console'), /Replaying loop-actual\.cwmtrace: the program text comes from the trace \(read-only\)/);
      const stack = await session.stack();
      const source = stack[0]!.source!;
      assert.equal(source.name, 'loop.py');
      assert.equal(source.path, undefined);
      assert.ok(source.sourceReference !== undefined && source.sourceReference > 0, 'a sourceReference');
      const content = await session.dc.sourceRequest({ source, sourceReference: source.sourceReference });
      assert.equal(content.body.content, LOOP_CONTEXT);
      assert.deepEqual(await session.snapshotsAt(STEPS), recordedSnapshots);
      // A breakpoint in the served source is verified and hit; one in the file on disk is not this session's program.
      const set = await session.dc.setBreakpointsRequest({ source, breakpoints: [{ line: L.squareBody }] });
      assert.equal(set.body.breakpoints[0]!.verified, true);
      const elsewhere = await session.dc.setBreakpointsRequest({ source: { path: LOOP }, breakpoints: [{ line: L.squareBody }] });
      assert.equal(elsewhere.body.breakpoints[0]!.verified, false);
      assert.match(elsewhere.body.breakpoints[0]!.message ?? '', /program text it stores/);
      const hit = await session.move('continue');
      assert.equal(hit.body.reason, 'breakpoint');
      const at = (await session.stack())[0]!;
      assert.equal(at.line, L.squareBody);
      assert.equal(at.source?.sourceReference, source.sourceReference);
      assert.deepEqual(childrenOf(session.process.pid!), [], 'a replay starts no process');
    } finally {
      await session.close();
    }
  });

  test('against a program that changed since: replays from the trace\'s own source and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cwm-changed-'));
    const changed = join(dir, 'loop.py');
    writeFileSync(changed, LOOP_SOURCE.replace('    total = 0\n', '    total = 0  # changed after the trace was saved\n    total += 0\n'));
    const trace = join(dir, 'loop-actual.cwmtrace');
    copyFileSync(cwmFile, trace);
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch({ program: changed, trace });
      assert.match(session.output('important'), /The saved trace loop-actual\.cwmtrace was recorded from a different version of loop\.py: stepping through the program text stored in the trace \(read-only\)/);
      const source = (await session.stack())[0]!.source!;
      assert.equal(source.path, undefined);
      assert.ok(source.sourceReference! > 0);
      assert.equal((await session.dc.sourceRequest({ source, sourceReference: source.sourceReference! })).body.content, LOOP_CONTEXT);
      assert.deepEqual(await session.snapshotsAt(STEPS), recordedSnapshots);
      const onChangedFile = await session.dc.setBreakpointsRequest({ source: { path: changed }, breakpoints: [{ line: L.squareBody }] });
      assert.equal(onChangedFile.body.breakpoints[0]!.verified, false);
    } finally {
      await session.close();
    }
  });

  test('a JSON export replays without the program, from the program text it holds', async () => {
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch({ trace: jsonFile });
      assert.equal((await session.state()).length, recordedFrames.length);
      const source = (await session.stack())[0]!.source!;
      assert.ok(source.sourceReference! > 0);
      assert.equal((await session.dc.sourceRequest({ source, sourceReference: source.sourceReference! })).body.content, LOOP_SOURCE);
      assert.deepEqual(await session.snapshotsAt(STEPS), recordedSnapshots);
    } finally {
      await session.close();
    }
  });

  test('a replay exports what it replays: the same text again', async () => {
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch({ trace: cwmFile });
      const exported = await session.exportTrace();
      assert.equal(exported.suggestedName, 'loop-actual.cwmtrace');
      assert.equal(exported.text, readFileSync(cwmFile, 'utf8'));
    } finally {
      await session.close();
    }
  });

  const refused: [string, () => Record<string, unknown>, RegExp][] = [
    ['neither program nor trace', () => ({ mode: 'actual' }), /^"program" is required: the path of the Python file to debug \(or give "trace"/],
    ['a trace that does not exist', () => ({ trace: join(workDir, 'nope.cwmtrace') }), /^"trace" must name an existing trace file/],
    ['a trace in predict mode', () => ({ trace: cwmFile, mode: 'predict' }), /^"trace" replays a saved trace: use it with "mode": "actual"/],
    ['frames without their prompt and no program', () => {
      const file = join(workDir, 'frames-only.cwmtrace');
      const text = readFileSync(cwmFile, 'utf8');
      writeFileSync(file, text.slice(text.indexOf('<|frame_sep|><|call_sep|>')));
      return { trace: file };
    }, /holds no program text \(no <\|trace_context_start\|>\): give "program"/],
  ];
  for (const [what, config, expected] of refused) {
    test(`${what} is refused`, async () => {
      const session = await TraceFileDebuggee.open();
      try {
        assert.match(await session.launchError(config()), expected);
      } finally {
        await session.close();
      }
    });
  }

  test('frames without their prompt replay against the given program', async () => {
    const file = join(workDir, 'frames-only.cwmtrace');
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch({ program: LOOP, entry: 'main', trace: file });
      assert.equal((await session.stack())[0]!.source?.path, LOOP);
      assert.deepEqual(await session.snapshotsAt(STEPS), recordedSnapshots);
    } finally {
      await session.close();
    }
  });
});

describe('cwm/exportTrace in compare mode', { timeout: 180_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let replay: ReplayModel;
  let server: ProtocolServer;

  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-trace-files-tok-')));
    codec = await loadTokenizer(tokenizerPath);
    replay = createReplayModel({ codec });
    await replay.prepare({ file: LOOP, entry: 'main', args: '8' });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  });
  after(async () => {
    await server?.close();
    codec?.dispose();
  });

  const compareConfig = () => ({ program: LOOP, mode: 'compare', entry: 'main', args: '8', endpoints: [server.url], tokenizer: tokenizerPath });

  test('both sides export as CWM text that reads back to the frames the session compares', async () => {
    const session = await TraceFileDebuggee.open();
    try {
      await session.launch(compareConfig());
      const traces = await session.traces();
      const predictedFrames = traces.predicted as FrameJson[];
      const actualFrames = traces.actual as FrameJson[];
      assert.ok(predictedFrames.length > 10);
      const predicted = await session.exportTrace();
      assert.equal(predicted.side, 'predicted');
      assert.equal(predicted.suggestedName, 'loop-predicted.cwmtrace');
      assert.equal(predicted.note, undefined);
      assert.equal(predicted.frames, predictedFrames.length);
      assert.ok(predicted.text.endsWith('<|end_of_text|>'));
      assertSameFrames(parseRenderedTrace(predicted.text).frames, predictedFrames, 'predicted export');
      const actual = await session.exportTrace({ side: 'actual' });
      assert.equal(actual.side, 'actual');
      assert.equal(actual.suggestedName, 'loop-actual.cwmtrace');
      assertSameFrames(parseRenderedTrace(actual.text).frames, actualFrames, 'actual export');
      assertSameFrames(parseRenderedTrace(actual.text).frames, recordedFrames, 'the same real run as in actual mode');
      const json = JSON.parse((await session.exportTrace({ side: 'predicted', format: 'json' })).text) as { origin: string; frames: FrameJson[]; end: { kind: string } };
      assert.equal(json.origin, 'predicted');
      assert.equal(json.end.kind, 'returned');
      assert.deepEqual(json.frames.map(comparable), predictedFrames.map(comparable));
    } finally {
      await session.close();
    }
  });

  test('a prediction still running exports the steps so far and says so', async () => {
    const session = await TraceFileDebuggee.open();
    // Well before the end of the trace: a stall set near its end could come after the last frame, and then nothing stalls.
    server.faults = { stallAfterTokens: 1200 };
    try {
      await session.launch(compareConfig());
      // The model streams a few frames, then stalls with the request open: the prediction never ends.
      let exported = await session.exportTrace();
      for (let tries = 0; exported.frames < 5 && tries < 200; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        exported = await session.exportTrace();
      }
      assert.equal(exported.side, 'predicted');
      assert.equal(exported.note, `The prediction is still running: the ${exported.frames} steps predicted so far are exported.`);
      assert.ok(exported.frames >= 5 && exported.frames < recordedFrames.length, `${exported.frames} frames`);
      assert.ok(!exported.text.includes('<|end_of_text|>'));
      const read = parseRenderedTrace(exported.text);
      assert.equal(read.ended, false);
      assertSameFrames(read.frames, recordedFrames.slice(0, exported.frames), 'the predicted prefix');
    } finally {
      server.faults = {};
      await session.close();
    }
  });
});
