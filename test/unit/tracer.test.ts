// The bundled tracer and its runner under every installed Python 3.8–3.13: the spec's example frame by frame, scopes,
// generators, comprehensions, exceptions, output, entry points, include paths, repr rules, streaming and setup errors.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { TRUNCATION_MARKER, type Trace, type TraceFrame } from '../../server/trace/model';
import { recordTrace, TracerError, type TraceRequest } from '../../server/tracer/runner';
import { examplesDir, fixturesDir } from '../helpers/paths';
import { availablePythons, missingPythons } from '../helpers/pythons';

const programs = join(fixturesDir, 'programs');
const pythons = availablePythons();
const missing = missingPythons();

function locals(frame: TraceFrame): Record<string, string> {
  return Object.fromEntries(frame.locals);
}

/** One frame as [event, line, function, depth, locals or value], for comparing whole traces at a glance. */
function brief(frame: TraceFrame): [string, number, string, number, Record<string, string> | string | undefined] {
  return [frame.event, frame.line, frame.functionName, frame.depth, frame.event === 'call' || frame.event === 'line' ? locals(frame) : frame.value];
}

/** Every frame of a trace has a consistent index and the source line its line number names, in its own file. */
function assertWellFormed(trace: Trace): void {
  const lines = trace.source.split(/\r\n|\r|\n/);
  const fileLines = new Map((trace.files ?? []).map((file) => [file.path, file.source.split(/\r\n|\r|\n/)]));
  trace.frames.forEach((frame, index) => {
    assert.equal(frame.index, index);
    const own = frame.file === undefined ? lines : fileLines.get(frame.file);
    assert.ok(own, `frame ${index}: its file ${frame.file} is not in the trace's files`);
    assert.equal(frame.sourceLine, own[frame.line - 1] ?? '', `frame ${index}`);
    if (frame.event === 'return' || frame.event === 'exception') assert.equal(frame.locals.size, 0);
  });
}

if (missing.length > 0) {
  test(`Python ${missing.join(', ')}`, { skip: `not installed here: ${missing.join(', ')}` }, () => {});
}

for (const { version, path: python } of pythons) {
  const minor = Number(version.split('.')[1]);
  const trace = async (request: Omit<TraceRequest, 'python'>): Promise<Trace> => {
    const result = await recordTrace({ python, ...request });
    assertWellFormed(result);
    return result;
  };

  describe(`tracer under Python ${version}`, () => {
    test("the spec's example gives exactly the spec's events, lines, locals and values", async () => {
      const result = await trace({ file: join(examplesDir, 'spec_example.py') });
      assert.deepEqual(result.entry, { kind: 'function', name: 'main', line: 7 });
      assert.deepEqual(result.end, { kind: 'returned' });
      assert.match(result.pythonVersion ?? '', new RegExp(`^${version.replace('.', '\\.')}\\.`));
      assert.deepEqual(result.frames.map(brief), [
        ['call', 7, 'main', 0, {}],
        ['line', 8, 'main', 0, {}],
        ['call', 1, 'f', 1, { a: '1', b: '3' }],
        ['line', 2, 'f', 1, { a: '1', b: '3' }],
        ['line', 3, 'f', 1, { a: '1', b: '3', y: '1' }],
        ['line', 4, 'f', 1, { a: '1', b: '3', y: '1', i: '0' }],
        ['line', 3, 'f', 1, { a: '1', b: '3', y: '1', i: '0' }],
        ['line', 4, 'f', 1, { a: '1', b: '3', y: '1', i: '1' }],
        ['line', 3, 'f', 1, { a: '1', b: '3', y: '2', i: '1' }],
        ['line', 4, 'f', 1, { a: '1', b: '3', y: '2', i: '2' }],
        ['line', 3, 'f', 1, { a: '1', b: '3', y: '6', i: '2' }],
        ['line', 5, 'f', 1, { a: '1', b: '3', y: '6', i: '2' }],
        ['return', 5, 'f', 1, '6'],
        ['return', 8, 'main', 0, '6'],
      ]);
      // Insertion order, as CPython's f_locals has it (a Map keeps it whatever the names).
      assert.deepEqual([...result.frames[10]!.locals.keys()], ['a', 'b', 'y', 'i']);
      assert.equal(result.frames[0]!.sourceLine, 'def main(): # << START_OF_TRACE');
      assert.equal(result.frames[12]!.sourceLine, '    return y');
      assert.deepEqual(new Set(result.frames.map((f) => f.scope)).size, 2);
    });

    test('each level of a recursion is a scope of its own', async () => {
      const result = await trace({ file: join(programs, 'recursion.py') });
      const calls = result.frames.filter((f) => f.event === 'call' && f.functionName === 'fact');
      assert.deepEqual(calls.map((f) => [f.depth, f.locals.get('n')]), [[1, '3'], [2, '2'], [3, '1']]);
      assert.equal(new Set(calls.map((f) => f.scope)).size, 3);
      const returns = result.frames.filter((f) => f.event === 'return' && f.functionName === 'fact');
      assert.deepEqual(returns.map((f) => [f.scope, f.value]), [[calls[2]!.scope, '1'], [calls[1]!.scope, '2'], [calls[0]!.scope, '6']]);
      assert.equal(result.frames.at(-1)!.value, '6');
    });

    test('a resumed generator keeps its scope; a yield is a return, a resume a call', async () => {
      const result = await trace({ file: join(programs, 'generators.py') });
      const gen = result.frames.filter((f) => f.functionName === 'countdown');
      assert.equal(new Set(gen.map((f) => f.scope)).size, 1);
      assert.deepEqual(gen.map(brief), [
        ['call', 2, 'countdown', 1, { n: '2' }],
        ['line', 3, 'countdown', 1, { n: '2' }],
        ['line', 4, 'countdown', 1, { n: '2' }],
        ['return', 4, 'countdown', 1, '2'],
        ['call', 4, 'countdown', 1, { n: '2' }],
        ['line', 5, 'countdown', 1, { n: '2' }],
        ['line', 3, 'countdown', 1, { n: '1' }],
        ['line', 4, 'countdown', 1, { n: '1' }],
        ['return', 4, 'countdown', 1, '1'],
      ]);
      assert.equal(result.frames.at(-1)!.value, '3');
    });

    test(`a comprehension ${minor <= 11 ? 'has frames of its own' : 'is inlined (PEP 709)'}`, async () => {
      const result = await trace({ file: join(programs, 'comprehension.py') });
      const own = result.frames.filter((f) => f.functionName === '<listcomp>');
      if (minor <= 11) {
        assert.ok(own.length >= 5, `expected <listcomp> frames, got ${own.length}`);
        assert.equal(own[0]!.event, 'call');
        assert.equal(own[0]!.depth, 1);
        assert.equal(own[0]!.locals.get('.0'), '<range_iterator object>');
        assert.equal(own.at(-1)!.value, '[0, 1, 4]');
      } else {
        assert.equal(own.length, 0);
        assert.ok(result.frames.every((f) => f.functionName === 'main'));
      }
      assert.equal(result.frames.at(-1)!.value, '[0, 1, 4]');
    });

    test('an exception gives exception and return events, and an escaping one ends the trace as raised', async () => {
      const caught = await trace({ file: join(programs, 'exceptions.py') });
      const zero = "(<class 'ZeroDivisionError'>, ZeroDivisionError('division by zero'), <traceback object>)";
      assert.deepEqual(caught.frames.slice(3, 9).map(brief), [
        ['call', 2, 'divide', 1, { a: '1', b: '0' }],
        ['line', 3, 'divide', 1, { a: '1', b: '0' }],
        ['exception', 3, 'divide', 1, zero],
        ['return', 3, 'divide', 1, 'None'],
        ['exception', 8, 'safe', 0, zero],
        ['line', 9, 'safe', 0, {}],
      ]);
      assert.deepEqual(caught.end, { kind: 'returned' });
      assert.equal(caught.frames.at(-1)!.value, '2.0');

      const escaped = await trace({ file: join(programs, 'exceptions.py'), entry: 'fails' });
      assert.deepEqual(escaped.end, { kind: 'raised', message: 'ZeroDivisionError: division by zero (line 3)' });
      assert.deepEqual(escaped.frames.slice(-2).map(brief), [['exception', 15, 'fails', 0, zero], ['return', 15, 'fails', 0, 'None']]);
    });

    test('output belongs to the step that printed it; import-time output is outside', async () => {
      const result = await trace({ file: join(programs, 'output.py') });
      const printed = result.frames.filter((f) => f.output);
      assert.deepEqual(printed.map((f) => [f.line, f.output]), [
        [9, [{ stream: 'stdout', text: 'hello 1\n' }]],
        [10, [{ stream: 'stderr', text: 'warn\n' }]],
      ]);
      assert.deepEqual(result.outsideOutput, [{ stream: 'stdout', text: 'loading\n' }]);
    });

    test('--entry and --args call the named function with the given arguments', async () => {
      const result = await trace({ file: join(programs, 'args.py'), entry: 'combine', args: "['a', 'b'], sep='+', upper=True" });
      assert.deepEqual(result.entry, { kind: 'function', name: 'combine', line: 2, args: "['a', 'b'], sep='+', upper=True" });
      assert.deepEqual(locals(result.frames[0]!), { items: "['a', 'b']", sep: "'+'", upper: 'True' });
      assert.equal(result.frames.at(-1)!.value, "'A+B'");
      const spec = await trace({ file: join(examplesDir, 'spec_example.py'), entry: 'f', args: '2, 2' });
      assert.deepEqual(locals(spec.frames[0]!), { a: '2', b: '2' });
      assert.equal(spec.frames.at(-1)!.value, '4');
    });

    test('script mode traces the module body as <module>, from line 1, without dunder names', async () => {
      const result = await trace({ file: join(programs, 'script.py') });
      assert.deepEqual(result.entry, { kind: 'script' });
      assert.deepEqual(brief(result.frames[0]!), ['call', 1, '<module>', 0, {}]);
      assert.ok(result.frames.every((f) => f.functionName === '<module>' && f.depth === 0));
      const last = result.frames.at(-2)!;
      assert.deepEqual([...last.locals.keys()], ['math', 'radius', 'area']);
      assert.equal(last.locals.get('area'), '12.566370614359172');
      // __name__ == '__main__' held: the guarded block ran and printed.
      assert.deepEqual(last.output, [{ stream: 'stdout', text: 'area 12.57\n' }]);
      assert.equal(result.frames.at(-1)!.event, 'return');
    });

    test("the program's own modules are traced without --include; --include adds files from elsewhere", async () => {
      const own = await trace({ file: join(programs, 'include_main.py') });
      const helperPath = join(programs, 'include_helper.py');
      const helper = own.frames.filter((f) => f.functionName === 'double');
      assert.deepEqual(helper.map((f) => [f.event, f.line, f.depth, f.file]), [
        ['call', 2, 1, helperPath], ['line', 3, 1, helperPath], ['line', 4, 1, helperPath], ['return', 4, 1, helperPath],
      ]);
      assert.equal(helper.at(-1)!.value, '42');
      // A module outside the program's folder is traced only when included (as a file or through its folder).
      const root = mkdtempSync(join(tmpdir(), 'cwm-include-'));
      mkdirSync(join(root, 'app'));
      mkdirSync(join(root, 'shared'));
      writeFileSync(join(root, 'shared', 'util.py'), 'def double(x):\n    result = x * 2\n    return result\n');
      writeFileSync(join(root, 'app', 'main.py'), "import os, sys\nsys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'shared'))\nfrom util import double\n\n\ndef main():  # << START_OF_TRACE\n    return double(21)\n");
      const without = await trace({ file: join(root, 'app', 'main.py') });
      assert.deepEqual([...new Set(without.frames.map((f) => f.functionName))], ['main']);
      for (const include of [join(root, 'shared', 'util.py'), join(root, 'shared')]) {
        const withHelper = await trace({ file: join(root, 'app', 'main.py'), includePaths: [include] });
        const included = withHelper.frames.filter((f) => f.functionName === 'double');
        assert.deepEqual(included.map((f) => [f.event, f.line, f.depth]), [['call', 1, 1], ['line', 2, 1], ['line', 3, 1], ['return', 3, 1]]);
        assert.ok(included.every((f) => f.file !== undefined && f.file.endsWith(join('shared', 'util.py'))));
      }
    });

    test('the standard library is never traced, even included, but its calls back into the program are', async () => {
      const stdlib = dirname(execFileSync(python, ['-c', 'import json; print(json.__file__)'], { encoding: 'utf8' }).trim());
      const result = await trace({ file: join(programs, 'stdlib.py'), includePaths: [stdlib, dirname(stdlib)] });
      assert.deepEqual([...new Set(result.frames.map((f) => f.functionName))], ['main', 'key']);
      const keyCalls = result.frames.filter((f) => f.event === 'call' && f.functionName === 'key');
      assert.deepEqual(keyCalls.map((f) => [f.depth, f.locals.get('word')]), [[1, "'ccc'"], [1, "'a'"], [1, "'bb'"]]);
      assert.equal(result.frames.at(-1)!.value, `'["a", "bb", "ccc"]'`);
    });

    test('memory addresses are stripped from every repr', async () => {
      const result = await trace({ file: join(programs, 'addresses.py') });
      const last = result.frames.at(-2)!;
      assert.equal(last.locals.get('inner'), '<function main.<locals>.inner>');
      assert.equal(last.locals.get('box'), '<addresses.Box object>');
      assert.equal(result.frames.at(-1)!.value, '<function main.<locals>.inner>');
      for (const frame of result.frames) {
        assert.doesNotMatch([...frame.locals.values(), frame.value ?? ''].join(' '), / at 0x/);
      }
    });

    test('a repr past the limit keeps that many characters and the truncation marker', async () => {
      const result = await trace({ file: join(programs, 'long_values.py'), limits: { maxReprLength: 50 } });
      const last = result.frames.at(-2)!;
      assert.equal(last.locals.get('text'), `'${'x'.repeat(49)}${TRUNCATION_MARKER}`);
      assert.equal(last.locals.get('items'), `${String(Array.from({ length: 100 }, (_, i) => i).join(', ')).replace(/^/, '[').slice(0, 50)}${TRUNCATION_MARKER}`);
      assert.equal(result.frames.at(-1)!.value, `'${'x'.repeat(49)}${TRUNCATION_MARKER}`);
    });

    test('onFrame streams every frame, in order, before the trace resolves', async () => {
      const streamed: TraceFrame[] = [];
      const result = await trace({ file: join(programs, 'recursion.py'), onFrame: (frame) => streamed.push(frame) });
      assert.ok(streamed.length > 10);
      assert.deepEqual(streamed.map((f) => f.index), result.frames.map((_, i) => i));
      assert.deepEqual(streamed, [...result.frames]);
    });
  });
}

describe('setup errors reject with a TracerError of the right kind and one clear sentence', () => {
  const python = pythons.find((p) => p.version === '3.11')?.path ?? pythons.at(-1)?.path ?? 'python3';
  const dir = mkdtempSync(join(tmpdir(), 'cwm-tracer-errors-'));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const fine = file('fine.py', 'def add(a, b):\n    return a + b\n');

  async function rejects(request: TraceRequest, kind: TracerError['kind'], message: RegExp): Promise<void> {
    await assert.rejects(recordTrace({ python, ...request }), (error: unknown) => {
      assert.ok(error instanceof TracerError, String(error));
      assert.equal(error.kind, kind, error.message);
      assert.match(error.message, message);
      return true;
    });
  }

  test('python-not-found', () =>
    rejects({ file: fine, entry: 'add', args: '1, 2', python: 'python3.99' }, 'python-not-found',
      /^Python not found: "python3\.99"\. Set the Python path \(--python or the cwmDebug\.pythonPath setting\)\.$/));
  test('file-not-found', () => rejects({ file: join(dir, 'missing.py') }, 'file-not-found', /^File not found: .*missing\.py"\. Check the path/));
  test('syntax-error, with its line', () =>
    rejects({ file: file('broken.py', 'x = 1\n\ndef f(:\n    pass\n') }, 'syntax-error', /^Syntax error in broken\.py at line 3: .*\. Fix the program/));
  test('no-entry', () => rejects({ file: fine, entry: 'nope' }, 'no-entry', /^No function named "nope" in fine\.py: /));
  test('no-entry for a marker that is not on a module-level def', () =>
    rejects({ file: file('method.py', 'class A:\n    def m(self):  # << START_OF_TRACE\n        return 1\n') }, 'no-entry', /"m" \(line 2\).*not a module-level function/));
  test('bad-args: an entry that needs arguments and got none', () =>
    rejects({ file: fine, entry: 'add' }, 'bad-args', /^The entry "add" needs arguments \(a, b\): pass them with --args/));
  test('bad-args: an expression that is not an argument list', () =>
    rejects({ file: fine, entry: 'add', args: '1, (' }, 'bad-args', /^The arguments "1, \(" are not a valid Python argument list/));
  test('bad-args: arguments that do not fit the function', () =>
    rejects({ file: fine, entry: 'add', args: '1, 2, 3' }, 'bad-args', /^Calling "add" with the arguments "1, 2, 3" failed: TypeError: /));
  test('program-import-failed', () =>
    rejects({ file: file('imports.py', 'import no_such_module_here\n\ndef main():  # << START_OF_TRACE\n    return 1\n') }, 'program-import-failed',
      /^Importing imports\.py raised ModuleNotFoundError: No module named 'no_such_module_here' \(line 1\)\./));
  test('tracer-failed: something that is not the tracer', () =>
    rejects({ file: fine, entry: 'add', args: '1, 2', tracerPath: file('not_a_tracer.py', 'print("hello")\n') }, 'tracer-failed', /^The tracer could not start under /));
  test('cancelled: the abort signal kills the run', async () => {
    const controller = new AbortController();
    const loop = file('loop.py', 'def main():  # << START_OF_TRACE\n    while True:\n        total = sum(range(1000))\n');
    const run = recordTrace({ python, file: loop, signal: controller.signal, onFrame: (frame) => frame.index === 50 && controller.abort() });
    await assert.rejects(run, (error: unknown) => error instanceof TracerError && error.kind === 'cancelled' && /cancelled/.test(error.message));
  });
});
