// Tests for the frame evaluator against real Python: the fast path must agree with Python on every expression it
// answers, the helper evaluates what it cannot, and errors, timeouts and disposal behave as the debugger needs.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { FrameEvaluator, type EvaluationResult } from '../../server/values/evaluator';
import { localsOf, TRUNCATION_MARKER } from '../../server/trace/model';

const PYTHON = 'python3';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ok(result: EvaluationResult): { repr: string; kind: string; source: string } {
  if (!result.ok) assert.fail(`expected a value, got error: ${result.error}`);
  return result;
}

function error(result: EvaluationResult): string {
  if (result.ok) assert.fail(`expected an error, got ${result.repr}`);
  return result.error;
}

/** Scalars and containers whose reprs Python can rebuild, so Python itself can give the expected answers. */
const gridLocals = localsOf([
  ['i', '3'],
  ['n', '-7'],
  ['big', '123456789012345678901234567890'],
  ['f', '2.5'],
  ['z', '0.0'],
  ['nn', 'nan'],
  ['pinf', 'inf'],
  ['t', 'True'],
  ['fa', 'False'],
  ['none', 'None'],
  ['s', "'abc'"],
  ['e', "''"],
  ['q', '"it\'s"'],
  ['u', "'😀'"],
  ['u2', "'\\uffff'"],
  ['x', '[1, 2, 3]'],
  ['empty', '[]'],
  ['d', "{'a': 1, 2: 'b', 1.5: [4], 'k': {'n': (5, 6)}}"],
  ['tup', "(1, 'two', None)"],
  ['dq', 'deque([7, 8, 9])'],
  ['cnt', "Counter({'a': 2, 'b': 1})"],
  ['od', "OrderedDict([('a', 1), ('b', 2)])"],
]);

const gridExpressions = [
  'i', 'big', 'f', 'nn', 'u', 'd', 'x', 'none', 'q',
  'i == 3', 'i != 3', 'i < f', 'big > f', 'big == 123456789012345678901234567890', 'big == 1.2345678901234568e+29',
  'f == 2.5', 'z == 0', 'nn == nn', 'nn != nn', 'nn < 1', 'nn >= nn', 'pinf > big', 'n < -6.5', '-7 == n', 'i == 3.0',
  't == 1', 'fa == 0', 't is True', 'fa is False', 't is 1', 'none is None', 'none is not None', 'i is None', 'None is none',
  's == "abc"', "s < 'abd'", "s > 'ab'", 'u > u2', "q == \"it's\"", 's == 3', 'none == 0', 'e == ""',
  'e or s', 'e and s', 'not e', 'not s', 'i and x', 'x and empty', 'empty or i', 'z or none', 'none or fa', "s == 'abc' or i",
  'x[0] == 1', 'x[-1]', 'x[i - 1]', "d['a']", 'd[2]', 'd[1.5]', 'd[1.5][0]', "d['k']['n'][1]", 'tup[1]', 'tup[2] is None', 'tup[-3]',
  'dq[0]', 'dq[-1] > 8', "cnt['a']", "od['b']", 'x[t]',
  '0 < i < 10', '0 < i < 2', 'x[0] < x[1] <= x[2]', 'not (i > 2 and s != "a")', 'i > 2 and s != "a"', '(i == 3) == t',
  'len(x) > 2', 'sum(x) * i', 'x[1:]', 'i + f', '[v * 2 for v in x if v > 1]', "{k: v for k, v in od.items()}", "sorted(d, key=str)",
];

/** What Python says each expression evaluates to, from the same locals. */
function pythonTruth(expressions: readonly string[]): { repr: string; kind: string; truthy: boolean }[] {
  const script = String.raw`
import collections, json, math, sys
request = json.load(sys.stdin)
scope = {'inf': math.inf, 'nan': math.nan, 'deque': collections.deque, 'Counter': collections.Counter, 'OrderedDict': collections.OrderedDict}
values = {name: eval(text, dict(scope)) for name, text in request['locals'].items()}
out = []
for expression in request['expressions']:
    value = eval(expression, dict(values))
    out.append({'repr': repr(value), 'kind': 'None' if value is None else type(value).__name__, 'truthy': bool(value)})
print(json.dumps(out))
`;
  const input = JSON.stringify({ locals: Object.fromEntries(gridLocals), expressions });
  return JSON.parse(execFileSync(PYTHON, ['-W', 'ignore', '-c', script], { input, encoding: 'utf8' })) as { repr: string; kind: string; truthy: boolean }[];
}

describe('FrameEvaluator', () => {
  const evaluator = new FrameEvaluator({ python: PYTHON });
  after(() => evaluator.dispose());

  test('every answer, fast or Python, equals what Python computes', async () => {
    const expected = pythonTruth(gridExpressions);
    let fast = 0;
    for (const [index, expression] of gridExpressions.entries()) {
      const want = expected[index];
      assert.ok(want);
      const got = ok(await evaluator.evaluate(expression, gridLocals));
      assert.equal(got.repr, want.repr, `value of ${expression}`);
      assert.equal(got.kind, want.kind, `kind of ${expression}`);
      assert.equal(await evaluator.evaluateCondition(expression, gridLocals), want.truthy, `truth of ${expression}`);
      if (got.source === 'fast') fast++;
    }
    // Most of the grid is the fast path's business; the rest went to Python.
    assert.ok(fast >= 50, `only ${fast} fast answers`);
    assert.ok(fast < gridExpressions.length);
  });

  test('names, indexing and fields are answered from the repr tree without Python', async () => {
    const locals = localsOf([
      ['p', "Point(x=1, y=[2, 'a'])"],
      ['g', '<function f.<locals>.g>'],
      ['long', `[0, 1, 2, 3${TRUNCATION_MARKER}`],
    ]);
    assert.deepEqual(ok(await evaluator.evaluate('p.y[1]', locals)), { ok: true, repr: "'a'", kind: 'str', source: 'fast' });
    assert.deepEqual(ok(await evaluator.evaluate('p', locals)), { ok: true, repr: "Point(x=1, y=[2, 'a'])", kind: 'Point', source: 'fast' });
    assert.deepEqual(ok(await evaluator.evaluate('g', locals)), { ok: true, repr: '<function f.<locals>.g>', kind: 'function', source: 'fast' });
    assert.equal(await evaluator.evaluateCondition('p.x == 1', locals), true);
    assert.equal(ok(await evaluator.evaluate('long[1]', locals)).repr, '1');
  });

  test('arithmetic, calls and comprehensions run in Python on the rebuilt values', async () => {
    const locals = localsOf([
      ['a', '6'],
      ['b', '7'],
      ['words', "['x', 'yy', 'zzz']"],
      ['dd', "defaultdict(<class 'int'>, {'k': 2})"],
      ['fs', 'frozenset({3, 1, 2})'],
      ['emptyset', 'set()'],
      ['dq', 'deque([1, 2], maxlen=5)'],
      ['c', '(1+2j)'],
      ['weird', '-inf'],
    ]);
    const cases: [string, string, string][] = [
      ['a * b + 1', '43', 'int'],
      ['[len(w) for w in words if len(w) > 1]', '[2, 3]', 'list'],
      ["dd['missing']", '0', 'int'],
      ['dd.default_factory()', '0', 'int'],
      ['sorted(fs)', '[1, 2, 3]', 'list'],
      ['emptyset | {a}', '{6}', 'set'],
      ['dq.maxlen', '5', 'int'],
      ['c.imag * 2', '4.0', 'float'],
      ['weird * 2', '-inf', 'float'],
      ['{w: i for i, w in enumerate(words)}', "{'x': 0, 'yy': 1, 'zzz': 2}", 'dict'],
    ];
    for (const [expression, repr, kind] of cases) {
      assert.deepEqual(ok(await evaluator.evaluate(expression, locals)), { ok: true, repr, kind, source: 'python' }, expression);
    }
  });

  test('a value known only as text gives a clear error', async () => {
    const locals = localsOf([
      ['fn', '<function f>'],
      ['cut', `[1, 2${TRUNCATION_MARKER}`],
      ['p', 'Point(x=1, y=2)'],
      ['rec', '[1, [...]]'],
    ]);
    assert.equal(error(await evaluator.evaluate('fn(1)', locals)), 'fn exists only as text in this trace: <function f>');
    assert.match(error(await evaluator.evaluate('sum(cut)', locals)), /^cut exists only as text in this trace \(its repr was truncated\)/);
    assert.equal(error(await evaluator.evaluate('p.x + p.y', locals)), 'p exists only as text in this trace: Point(x=1, y=2)');
    assert.equal(error(await evaluator.evaluate('len(rec)', locals)), 'rec exists only as text in this trace: [1, [...]]');
    // A comprehension variable that shadows a text-only local is fine.
    assert.equal(ok(await evaluator.evaluate('[fn for fn in range(2)]', locals)).repr, '[0, 1]');
  });

  test('errors: unknown name, syntax, dunder access', async () => {
    const locals = localsOf([['x', '1']]);
    assert.equal(error(await evaluator.evaluate('y + 1', locals)), "NameError: name 'y' is not defined");
    assert.match(error(await evaluator.evaluate('x +', locals)), /^SyntaxError: /);
    assert.match(error(await evaluator.evaluate('x.__class__', locals)), /"__"/);
    assert.match(error(await evaluator.evaluate("().__class__.__base__.__subclasses__()", locals)), /dunder/);
    assert.match(error(await evaluator.evaluate('1 / 0', locals)), /^ZeroDivisionError: /);
    assert.match(error(await evaluator.evaluate("__import__('os')", locals)), /dunder/);
    assert.match(error(await evaluator.evaluate("open('/etc/passwd')", locals)), /^NameError: name 'open' is not defined/);
    assert.deepEqual(await evaluator.evaluateCondition('y > 1', locals), { error: "NameError: name 'y' is not defined" });
  });

  test('log messages interpolate {expr} parts and keep {{ }} escapes', async () => {
    const locals = localsOf([
      ['i', '3'],
      ['s', "'abc'"],
      ['x', '[1, 2, 3]'],
    ]);
    assert.equal(
      await evaluator.interpolateLogMessage('i={i}, s={s}, {{literal}}, sum={sum(x)}, pick={ {"k": i}["k"] }, bad={nope}!', locals),
      "i=3, s=abc, {literal}, sum=6, pick=3, bad=<error: NameError: name 'nope' is not defined>!",
    );
    assert.equal(await evaluator.interpolateLogMessage('no braces at all', locals), 'no braces at all');
    assert.equal(await evaluator.interpolateLogMessage('open {i', locals), 'open {i');
  });

  test('repeated evaluations are answered from the cache, by locals identity and by content', async () => {
    const own = new FrameEvaluator({ python: PYTHON });
    try {
      const locals = localsOf([['x', '[5, 6]']]);
      const first = await own.evaluate('sum(x) * 2', locals);
      assert.equal(ok(first).repr, '22');
      assert.equal(await own.evaluate('sum(x) * 2', locals), first);
      // With the helper gone, equal values in a new Locals map are still answered, and no helper is started.
      const pid = own.helperPid;
      assert.ok(pid !== undefined);
      process.kill(pid, 'SIGKILL');
      while (own.helperPid !== undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(ok(await own.evaluate('sum(x) * 2', localsOf([['x', '[5, 6]']]))).repr, '22');
      assert.equal(own.helperPid, undefined);
      // Different values need Python again.
      assert.equal(ok(await own.evaluate('sum(x) * 2', localsOf([['x', '[5, 7]']]))).repr, '24');
      assert.notEqual(own.helperPid, undefined);
    } finally {
      await own.dispose();
    }
  });

  test('concurrent evaluations each get their own answer', async () => {
    const locals = localsOf([['k', '10']]);
    const results = await Promise.all(Array.from({ length: 25 }, (_, n) => evaluator.evaluate(`k * ${n} + len(str(${n}))`, locals)));
    assert.deepEqual(
      results.map((result) => ok(result).repr),
      Array.from({ length: 25 }, (_, n) => String(10 * n + String(n).length)),
    );
  });
});

describe('FrameEvaluator process handling', () => {
  test('a runaway evaluation times out, the helper is replaced, the next evaluation works', async (t) => {
    const evaluator = new FrameEvaluator({ python: PYTHON, timeoutMs: 1000 });
    try {
      const locals = localsOf([['x', '[1, 2]']]);
      assert.equal(ok(await evaluator.evaluate('sum(x)', locals)).repr, '3');
      const firstPid = evaluator.helperPid;
      assert.ok(firstPid !== undefined && isAlive(firstPid));
      const started = Date.now();
      const result = await evaluator.evaluate('sum(range(10**12))', locals);
      t.diagnostic(`timeout answered after ${Date.now() - started} ms`);
      assert.match(error(result), /timed out after 1 s/);
      assert.equal(ok(await evaluator.evaluate('max(x)', locals)).repr, '2');
      assert.notEqual(evaluator.helperPid, firstPid);
      assert.equal(isAlive(firstPid), false);
    } finally {
      await evaluator.dispose();
    }
  });

  test('dispose leaves no helper process behind', async () => {
    const evaluator = new FrameEvaluator({ python: PYTHON });
    assert.equal(ok(await evaluator.evaluate('1 + 1', localsOf([]))).source, 'python');
    const pid = evaluator.helperPid;
    assert.ok(pid !== undefined && isAlive(pid));
    await evaluator.dispose();
    assert.equal(isAlive(pid), false);
    assert.equal(evaluator.helperPid, undefined);
    assert.match(error(await evaluator.evaluate('2 + 2', localsOf([]))), /disposed/);
  });

  test('a missing interpreter is an error result, not a throw', async () => {
    const evaluator = new FrameEvaluator({ python: '/nonexistent/python3' });
    try {
      const message = error(await evaluator.evaluate('1 + 1', localsOf([])));
      assert.match(message, /^Python not found: "\/nonexistent\/python3"\. Set the Python path/);
      // Names still resolve on the fast path.
      assert.equal(ok(await evaluator.evaluate('v', localsOf([['v', '5']]))).repr, '5');
    } finally {
      await evaluator.dispose();
    }
  });

  test('an interpreter older than 3.8 is reported', async (t) => {
    const old = '/root/.pyenv/versions/3.7.16/bin/python';
    if (!existsSync(old)) return t.skip('no Python 3.7 here');
    const evaluator = new FrameEvaluator({ python: old });
    try {
      assert.match(error(await evaluator.evaluate('1 + 1', localsOf([]))), /needs Python 3\.8 or newer/);
    } finally {
      await evaluator.dispose();
    }
  });

  for (const version of ['3.8.18', '3.12.1', '3.13.0']) {
    test(`the helper works on Python ${version}`, async (t) => {
      const python = `/root/.pyenv/versions/${version}/bin/python`;
      if (!existsSync(python)) return t.skip(`no Python ${version} here`);
      const evaluator = new FrameEvaluator({ python });
      try {
        const locals = localsOf([
          ['od', "OrderedDict([('a', 1)])"],
          ['x', '[3, 1, 2]'],
          ['fn', '<function f>'],
        ]);
        assert.equal(ok(await evaluator.evaluate('sorted(x) + [od["a"]]', locals)).repr, '[1, 2, 3, 1]');
        assert.equal(ok(await evaluator.evaluate('[y for y in x if y > 1]', locals)).repr, '[3, 2]');
        assert.equal(error(await evaluator.evaluate('fn()', locals)), 'fn exists only as text in this trace: <function f>');
      } finally {
        await evaluator.dispose();
      }
    });
  }
});
