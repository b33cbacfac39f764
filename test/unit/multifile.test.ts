// Programs of several files (issue 13): a program calling into a helper module next to it, traced with no flag. Frames
// know their file end to end: tracer and runner, JSON, the CWM context and frames, the reader, the comparison, the
// side-by-side view's cells and the debug adapter's stack frames and breakpoints.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { alignTraces } from '../../server/compare/align';
import { cellsOf } from '../../server/compare/view-model';
import { buildContext, contextLineOf, locateContextLine } from '../../server/cwm/context';
import { readCwmTrace } from '../../server/cwm/reader';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { renderTrace } from '../../server/cwm/writer';
import { frameToJson, traceToJson } from '../../server/trace/json';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { importedProjectFiles } from '../../server/trace/project-files';
import { recordTrace, TracerError } from '../../server/tracer/runner';
import { Debuggee } from '../helpers/debuggee';
import { fixturesDir, repoRoot, tracerScript } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const dir = join(fixturesDir, 'multifile');
const APP = join(dir, 'app.py');
const HELPER = join(dir, 'helper.py');

/**
 * The whole CWM text of `trace app.py`, written by hand: app.py's source with the entry marker, then helper.py under its
 * `# << FILE: helper.py` header; frames inside double and scale show helper.py's lines.
 */
const EXPECTED_CWM = [
  '<|begin_of_text|><|trace_context_start|>',
  '# Test program: calls a helper module next to it, traced without any flag (issue 13).\n',
  'from helper import double, scale\n',
  '\n',
  '\n',
  'def main():  # << START_OF_TRACE\n',
  '    value = double(21)\n',
  '    total = scale(value, 2)\n',
  '    return total\n',
  '\n',
  '# << FILE: helper.py\n',
  "# Helper module of app.py: its frames must show these lines, not app.py's.\n",
  'def double(x):\n',
  '    result = x * 2\n',
  '    return result\n',
  '\n',
  '\n',
  'def scale(x, factor):\n',
  '    return double(x) * factor\n',
  '<|frame_sep|>',
  '<|call_sep|>{}<|action_sep|>def main():  # << START_OF_TRACE\n<|frame_sep|>',
  '<|line_sep|>{}<|action_sep|>    value = double(21)\n<|frame_sep|>',
  '<|call_sep|>{"x": "21"}<|action_sep|>def double(x):\n<|frame_sep|>',
  '<|line_sep|>{"x": ".."}<|action_sep|>    result = x * 2\n<|frame_sep|>',
  '<|line_sep|>{"x": "..", "result": "42"}<|action_sep|>    return result\n<|frame_sep|>',
  '<|return_sep|><|action_sep|>    return result\n<|arg_sep|>"42"<|frame_sep|>',
  '<|line_sep|>{"value": "42"}<|action_sep|>    total = scale(value, 2)\n<|frame_sep|>',
  '<|call_sep|>{"x": "42", "factor": "2"}<|action_sep|>def scale(x, factor):\n<|frame_sep|>',
  '<|line_sep|>{"x": "..", "factor": ".."}<|action_sep|>    return double(x) * factor\n<|frame_sep|>',
  '<|call_sep|>{"x": "42"}<|action_sep|>def double(x):\n<|frame_sep|>',
  '<|line_sep|>{"x": ".."}<|action_sep|>    result = x * 2\n<|frame_sep|>',
  '<|line_sep|>{"x": "..", "result": "84"}<|action_sep|>    return result\n<|frame_sep|>',
  '<|return_sep|><|action_sep|>    return result\n<|arg_sep|>"84"<|frame_sep|>',
  '<|return_sep|><|action_sep|>    return double(x) * factor\n<|arg_sep|>"168"<|frame_sep|>',
  '<|line_sep|>{"value": "42", "total": "168"}<|action_sep|>    return total\n<|frame_sep|>',
  '<|return_sep|><|action_sep|>    return total\n<|arg_sep|>"168"<|frame_sep|>',
  '<|end_of_text|>',
].join('');

/** Runs the built CLI as a user does. */
function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'cli.js'), ...args], {
      env: { ...process.env, NO_COLOR: '1', CWM_ENDPOINT: '', CWM_TOKENIZER: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** [event, file name or '', line, source line] per frame. */
function located(frames: readonly TraceFrame[]): [string, string, number, string][] {
  return frames.map((f) => [f.event, f.file === undefined ? '' : f.file.slice(dir.length + 1), f.line, f.sourceLine]);
}

describe('a program calling into a helper module next to it, traced with no flag', () => {
  let real: Trace;
  before(async () => {
    real = await recordTrace({ file: APP });
  });

  test("the helper's frames name its file and show its lines; the trace lists its source", () => {
    assert.deepEqual(located(real.frames), [
      ['call', '', 5, 'def main():  # << START_OF_TRACE'],
      ['line', '', 6, '    value = double(21)'],
      ['call', 'helper.py', 2, 'def double(x):'],
      ['line', 'helper.py', 3, '    result = x * 2'],
      ['line', 'helper.py', 4, '    return result'],
      ['return', 'helper.py', 4, '    return result'],
      ['line', '', 7, '    total = scale(value, 2)'],
      ['call', 'helper.py', 7, 'def scale(x, factor):'],
      ['line', 'helper.py', 8, '    return double(x) * factor'],
      ['call', 'helper.py', 2, 'def double(x):'],
      ['line', 'helper.py', 3, '    result = x * 2'],
      ['line', 'helper.py', 4, '    return result'],
      ['return', 'helper.py', 4, '    return result'],
      ['return', 'helper.py', 8, '    return double(x) * factor'],
      ['line', '', 8, '    return total'],
      ['return', '', 8, '    return total'],
    ]);
    assert.deepEqual(real.files?.map((f) => f.path), [HELPER]);
    assert.match(real.files![0]!.source, /^# Helper module of app\.py/);
  });

  test('JSON names the file of each frame in another file, and lists the other files', () => {
    const json = JSON.parse(JSON.stringify(traceToJson(real))) as { files: { path: string }[]; frames: { file?: string; source: string }[] };
    assert.deepEqual(json.files.map((f) => f.path), [HELPER]);
    assert.equal(json.frames[0]!.file, undefined);
    assert.equal(json.frames[2]!.file, HELPER);
    assert.equal(json.frames[2]!.source, 'def double(x):');
    assert.equal(frameToJson(real.frames[3]!).file, HELPER);
  });

  test('the CWM text holds both files and the helper frames show its lines, byte for byte', () => {
    assert.equal(renderTrace(real), EXPECTED_CWM);
  });

  test('`trace --format cwm` (frames encoded straight to bytes) writes the same text, helper lines included', async () => {
    const result = await runCli(['trace', APP, '--format', 'cwm']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${EXPECTED_CWM}\n`);
  });

  test('under every installed Python the CWM text is the same', async () => {
    for (const { version, path } of availablePythons()) {
      assert.equal(renderTrace(await recordTrace({ file: APP, python: path })), EXPECTED_CWM, `Python ${version}`);
    }
  });

  test("the context layout maps context lines to (file, line) and back; the header line is in no file", () => {
    const layout = buildContext(real);
    assert.deepEqual(layout.files.map((f) => [f.name, f.firstLine, f.lineCount]), [['helper.py', 11, 9]]);
    assert.deepEqual(locateContextLine(layout, 6), { line: 6 });
    assert.equal(locateContextLine(layout, 10), undefined);
    assert.deepEqual(locateContextLine(layout, 13), { file: HELPER, line: 3 });
    assert.equal(contextLineOf(layout, HELPER, 3), 13);
  });

  test('reading the CWM text back gives every frame its file and line; the comparison aligns both files', () => {
    const layout = buildContext(real);
    const read = readCwmTrace(EXPECTED_CWM, { context: layout.text, layout, entry: real.entry, source: real.source });
    assert.deepEqual(read.malformed, []);
    assert.deepEqual(located(read.frames), located(real.frames));
    const alignment = alignTraces(read.frames, real.frames);
    assert.equal(alignment.firstDivergence, undefined);
    assert.ok(alignment.rows.every((row) => row.verdict === 'match'));
  });

  test("the comparison's location is (file, line): the same line number in the other file is another action", () => {
    // The prediction runs app.py's line 3 where the real run runs helper.py's line 3.
    const predicted = real.frames.map((frame) => (frame.index === 3 ? { ...frame, file: undefined, sourceLine: '' } : frame));
    const alignment = alignTraces(predicted, real.frames);
    assert.equal(alignment.firstDivergence?.actualStep, 3);
    assert.match(alignment.firstDivergence!.description, /line 3 of helper\.py/);
  });

  test("the side-by-side view's cells name the file where the steps move to another file and back", () => {
    const cells = cellsOf(real.frames.map((f) => frameToJson(f) as never), APP);
    assert.deepEqual(cells.map((c) => c.fileChange ?? ''), ['', '', 'helper.py', '', '', '', 'app.py', 'helper.py', '', '', '', '', '', '', 'app.py', '']);
    assert.equal(cells[2]!.file, HELPER);
  });
});

describe('what is traced without --include, and a missing --include', () => {
  test("modules below the program's folder are traced; the standard library and site-packages folders never", async () => {
    const project = mkdtempSync(join(tmpdir(), 'cwm-multifile-'));
    mkdirSync(join(project, 'lib'));
    mkdirSync(join(project, 'site-packages'));
    writeFileSync(join(project, 'lib', 'tools.py'), 'def triple(x):\n    return x * 3\n');
    writeFileSync(join(project, 'site-packages', 'vendored.py'), 'def inc(x):\n    return x + 1\n');
    writeFileSync(join(project, 'main.py'), [
      'import os, sys, json',
      "sys.path.append(os.path.join(os.path.dirname(__file__), 'site-packages'))",
      'from lib.tools import triple',
      'from vendored import inc',
      '',
      'def main():  # << START_OF_TRACE',
      '    return json.dumps(inc(triple(2)))',
      '',
    ].join('\n'));
    const trace = await recordTrace({ file: join(project, 'main.py') });
    assert.deepEqual([...new Set(trace.frames.map((f) => `${f.functionName}@${f.file === undefined ? 'main.py' : f.file.slice(project.length + 1)}`))],
      ['main@main.py', 'triple@lib/tools.py']);
    assert.deepEqual(trace.frames.at(-1)!.value, "'7'");
    assert.deepEqual(buildContext(trace).files.map((f) => f.name), ['lib/tools.py']);
  });

  test('the context orders the other files by name, whatever order they ran in; generators and exceptions keep their file', async () => {
    const project = mkdtempSync(join(tmpdir(), 'cwm-multifile-order-'));
    mkdirSync(join(project, 'sub'));
    writeFileSync(join(project, 'zeta.py'), 'def count(n):\n    for i in range(n):\n        yield i\n');
    writeFileSync(join(project, 'sub', 'mid.py'), 'def fail():\n    raise ValueError("no")\n');
    writeFileSync(join(project, 'alpha.py'), 'def one():\n    return 1\n');
    writeFileSync(join(project, 'main.py'), [
      'from zeta import count',
      'from sub.mid import fail',
      'from alpha import one',
      '',
      'def main():  # << START_OF_TRACE',
      '    total = sum(count(2))',
      '    try:',
      '        fail()',
      '    except ValueError:',
      '        total += one()',
      '    return total',
      '',
    ].join('\n'));
    const trace = await recordTrace({ file: join(project, 'main.py') });
    const name = (file?: string): string => (file === undefined ? 'main.py' : file.slice(project.length + 1));
    // Run order: zeta, sub/mid, alpha; context order: by name.
    assert.deepEqual([...new Set(trace.frames.map((f) => name(f.file)))], ['main.py', 'zeta.py', 'sub/mid.py', 'alpha.py']);
    assert.deepEqual(trace.files?.map((f) => name(f.path)), ['alpha.py', 'sub/mid.py', 'zeta.py']);
    const context = buildContext(trace).text;
    assert.deepEqual(context.split('\n').filter((line) => line.startsWith('# << FILE: ')), ['# << FILE: alpha.py', '# << FILE: sub/mid.py', '# << FILE: zeta.py']);
    // Every frame of the generator (its resumes too) and of the raising function is in its own file, at its own lines.
    for (const frame of trace.frames.filter((f) => f.functionName === 'count' || f.functionName === 'fail')) {
      assert.equal(name(frame.file), frame.functionName === 'count' ? 'zeta.py' : 'sub/mid.py', `step ${frame.index}`);
    }
    assert.ok(trace.frames.filter((f) => f.functionName === 'count' && f.event === 'call').length >= 3, 'the generator resumes');
    assert.ok(trace.frames.some((f) => f.functionName === 'fail' && f.event === 'exception' && f.line === 2));
    assert.equal(trace.frames.at(-1)!.value, '2');
    // The CWM text reads back to the same files and lines.
    const layout = buildContext(trace);
    const read = readCwmTrace(renderTrace(trace), { context: layout.text, layout, entry: trace.entry, source: trace.source });
    assert.deepEqual(read.frames.map((f) => [name(f.file), f.line]), trace.frames.map((f) => [name(f.file), f.line]));
  });

  test('a module over 1 MB is not traced, and a note says so', async () => {
    const project = mkdtempSync(join(tmpdir(), 'cwm-multifile-big-'));
    writeFileSync(join(project, 'big.py'), `def one():\n    return 1\n${'# padding\n'.repeat(110_000)}`);
    writeFileSync(join(project, 'main.py'), 'from big import one\n\ndef main():  # << START_OF_TRACE\n    return one()\n');
    const trace = await recordTrace({ file: join(project, 'main.py') });
    assert.deepEqual([...new Set(trace.frames.map((f) => f.functionName))], ['main']);
    assert.equal(trace.files, undefined);
    assert.ok(trace.notes.some((note) => /big\.py is larger than 1000000 bytes; its code was not traced/.test(note)), trace.notes.join('\n'));
  });

  test('--include of a path that does not exist is refused, naming the path and the flag', async () => {
    await assert.rejects(recordTrace({ file: APP, includePaths: [join(dir, 'nothere.py')] }), (error: unknown) => {
      assert.ok(error instanceof TracerError);
      assert.equal(error.kind, 'bad-include');
      assert.match(error.message, /nothere\.py.*no such file or folder.*--include/);
      return true;
    });
    // The tracer itself refuses it too, when run directly.
    const out = execFileSync('python3', [tracerScript, '--include', join(dir, 'nothere.py'), APP], { encoding: 'utf8' });
    assert.match(out, /"reason": "bad-include".*nothere\.py/);
  });
});

describe('predictions with nothing run: the project modules the program imports', () => {
  test('are found from its import statements, through packages and relative imports, never outside its folder', () => {
    const project = mkdtempSync(join(tmpdir(), 'cwm-multifile-imports-'));
    mkdirSync(join(project, 'lib'));
    writeFileSync(join(project, 'lib', '__init__.py'), '');
    writeFileSync(join(project, 'lib', 'tools.py'), 'from . import util\n');
    writeFileSync(join(project, 'lib', 'util.py'), 'X = 1\n');
    writeFileSync(join(project, 'helper.py'), 'def f():\n    return 1\n');
    writeFileSync(join(project, 'unused.py'), 'Y = 2\n');
    const source = 'import json, lib.tools as t\nfrom helper import f\nfrom os import path\n';
    const files = importedProjectFiles(join(project, 'main.py'), source);
    assert.deepEqual(files.map((f) => f.path.slice(project.length + 1)).sort(), ['helper.py', join('lib', '__init__.py'), join('lib', 'tools.py'), join('lib', 'util.py')].sort());
    assert.deepEqual(importedProjectFiles(APP, readFileSync(APP, 'utf8')).map((f) => f.path), [HELPER]);
  });
});

describe('compare of a two-file program against the test endpoint', { timeout: 120_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let replay: ReplayModel;
  let server: ProtocolServer;
  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-multifile-tok-')));
    codec = await loadTokenizer(tokenizerPath);
    replay = createReplayModel({ codec });
    await replay.prepare({ file: APP });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  });
  after(async () => {
    await server.close();
    codec.dispose();
  });

  test("the prompt holds both files, the prediction's helper frames name the helper, and every row matches", async () => {
    const result = await runCli(['compare', APP, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--format', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const body = JSON.parse(result.stdout) as {
      predicted: { frames: { file?: string; line: number }[]; files?: { path: string }[] };
      rows: { verdict: string }[];
      firstDivergence: unknown;
    };
    assert.equal(body.firstDivergence, null);
    assert.deepEqual(body.predicted.files?.map((f) => f.path), [HELPER]);
    assert.equal(body.rows.length, 16);
    assert.ok(body.rows.every((row) => row.verdict === 'match'), JSON.stringify(body.rows));
    assert.deepEqual(body.predicted.frames.map((f) => [f.file === undefined ? '' : 'helper.py', f.line]).slice(1, 5), [['', 6], ['helper.py', 2], ['helper.py', 3], ['helper.py', 4]]);
  });

  test('predict alone (nothing run) shows the model the helper it imports, and its helper frames name the helper', async () => {
    const result = await runCli(['predict', APP, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--format', 'cwm']);
    assert.equal(result.code, 0, result.stderr);
    // The replay endpoint answers only a prompt whose context is the real run's: both files, in order.
    // The final newline is for the terminal, not part of the CWM text (as for trace --format cwm).
    assert.equal(result.stdout, `${EXPECTED_CWM}\n`);
    const json = await runCli(['predict', APP, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--format', 'json']);
    const trace = JSON.parse(json.stdout) as { frames: { file?: string }[]; files: { path: string }[] };
    assert.equal(trace.frames[2]!.file, HELPER);
    assert.deepEqual(trace.files.map((f) => f.path), [HELPER]);
  });
});

describe('the debug adapter on a two-file program', { timeout: 60_000 }, () => {
  test('a saved trace of it (CWM text and JSON) replays with the helper frames in the helper file', async () => {
    const real = await recordTrace({ file: APP });
    const folder = mkdtempSync(join(tmpdir(), 'cwm-multifile-saved-'));
    const cwmFile = join(folder, 'app.cwmtrace');
    const jsonFile = join(folder, 'app.json');
    writeFileSync(cwmFile, renderTrace(real));
    writeFileSync(jsonFile, JSON.stringify({ ...traceToJson(real), source: real.source }));
    for (const trace of [cwmFile, jsonFile]) {
      const session = await Debuggee.open();
      try {
        await session.launch({ program: APP, trace });
        await session.move('next');
        await session.move('stepIn');
        const stack = await session.stack();
        assert.deepEqual([stack[0]!.name, stack[0]!.line, stack[0]!.source?.path], ['double', 2, HELPER], trace);
        assert.deepEqual([stack[1]!.line, stack[1]!.source?.path], [6, APP], trace);
      } finally {
        await session.close();
      }
    }
  });

  test('stepping into the helper opens the helper file; a breakpoint in the helper stops there', async () => {
    const session = await Debuggee.open();
    try {
      const first = await session.launch({ program: APP, mode: 'actual' }, { breakpoints: [] });
      assert.equal(first.body.reason, 'entry');
      const set = await session.setBreakpoints(HELPER, [{ line: 8 }, { line: 1 }]);
      assert.deepEqual(set.map((bp) => [bp.verified, bp.source?.path]), [[true, HELPER], [false, HELPER]]);
      let stack = await session.stack();
      assert.equal(stack[0]!.source?.path, APP);
      await session.move('next');
      await session.move('stepIn');
      stack = await session.stack();
      assert.deepEqual([stack[0]!.name, stack[0]!.line, stack[0]!.source?.path, stack[0]!.source?.name], ['double', 2, HELPER, 'helper.py']);
      assert.deepEqual([stack[1]!.name, stack[1]!.line, stack[1]!.source?.path], ['main', 6, APP]);
      const hit = await session.move('continue');
      assert.equal(hit.body.reason, 'breakpoint');
      stack = await session.stack();
      assert.deepEqual([stack[0]!.name, stack[0]!.line, stack[0]!.source?.path], ['scale', 8, HELPER]);
    } finally {
      await session.close();
    }
  });
});
