// Tests for the frame evaluator (TypeScript, no Python process): every answer it gives must equal what CPython computes
// from the same values; values known only as text, errors, limits and log messages behave as the debugger needs.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { FrameEvaluator, type EvaluationResult } from '../../server/values/evaluator';
import { localsOf, TRUNCATION_MARKER } from '../../server/trace/model';

const PYTHON = 'python3';

function ok(result: EvaluationResult): { repr: string; kind: string } {
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
  ['mixed', "'a😀b\\n\\t\\x00é'"],
  ['x', '[1, 2, 3]'],
  ['empty', '[]'],
  ['d', "{'a': 1, 2: 'b', 1.5: [4], 'k': {'n': (5, 6)}}"],
  ['tup', "(1, 'two', None)"],
  ['dq', 'deque([7, 8, 9])'],
  ['cnt', "Counter({'a': 2, 'b': 1})"],
  ['od', "OrderedDict([('a', 1), ('b', 2)])"],
  ['words', "['pear', 'Apple', 'fig', 'banana']"],
  ['st', '{3, 1, 2}'],
  ['fs', 'frozenset({4, 5})'],
  ['by', "b'ab\\x00\\xff'"],
  ['c', '(1+2j)'],
  ['r', 'range(2, 20, 3)'],
  ['line', "'  Hello, World  '"],
  ['mat', '[[1, 2], [3, 4]]'],
  ['fl', '[0.1, 0.2, 1e-07, 1e+16, 123456.789, -0.0]'],
]);

const gridExpressions = [
  // names and literals
  'i', 'big', 'f', 'nn', 'u', 'd', 'x', 'none', 'q', 'mixed', 'dq', 'cnt', 'od', 'st', 'fs', 'by', 'c', 'r', 'fl', '...', 'None', '1_000', '0x1f', '1e3', '2j', "b'x'", "r'\\n'",
  // comparisons and truth
  'i == 3', 'i != 3', 'i < f', 'big > f', 'big == 123456789012345678901234567890', 'big == 1.2345678901234568e+29',
  'f == 2.5', 'z == 0', 'nn == nn', 'nn != nn', 'nn < 1', 'nn >= nn', 'pinf > big', 'n < -6.5', '-7 == n', 'i == 3.0',
  't == 1', 'fa == 0', 't is True', 'fa is False', 'none is None', 'none is not None', 'i is None', 'None is none',
  's == "abc"', "s < 'abd'", "s > 'ab'", 'u > u2', "q == \"it's\"", 's == 3', 'none == 0', 'e == ""',
  'e or s', 'e and s', 'not e', 'not s', 'i and x', 'x and empty', 'empty or i', 'z or none', 'none or fa', "s == 'abc' or i",
  '0 < i < 10', '0 < i < 2', 'x[0] < x[1] <= x[2]', 'not (i > 2 and s != "a")', '(i == 3) == t', '[1, 2] < [1, 3]', '(1, 2) <= (1, 2)',
  'st == {1, 2, 3}', 'st <= {1, 2, 3, 4}', 'fs < st', 'd == d', 'x != [1, 2]', "od == {'a': 1, 'b': 2}", 'c == 1+2j', 'r == range(2, 20, 3)',
  '2 in x', "'a' in d", "'bc' in s", '4 not in x', 'cnt == cnt', 'b"a" in by', '5 in r', '6 in r', "'x' in cnt",
  // indexing and slicing
  'x[0] == 1', 'x[-1]', 'x[i - 1]', "d['a']", 'd[2]', 'd[1.5]', 'd[1.5][0]', "d['k']['n'][1]", 'tup[1]', 'tup[2] is None', 'tup[-3]',
  'dq[0]', 'dq[-1] > 8', "cnt['a']", "cnt['zz']", "od['b']", 'x[t]', 'x[1:]', 'x[::-1]', 'x[:-1]', 'x[5:]', 's[::2]', 'u[0]', 'mixed[1]', 'mixed[::-1]',
  'by[0]', 'by[1:]', 'r[1]', 'r[-1]', 'r[1:3]', 'mat[1][0]', 'tup[::2]', 'x[-10:10]', "s[1:100]",
  // arithmetic
  'i + f', 'i * 2 - n', 'i / 2', 'i // 2', 'n // 2', 'n % 3', '-7.5 % 2', '7 % -3', '2 ** 100', '2 ** -1', '(-8) ** (1/3)', 'big * big', 'big // 7',
  'big / 3', 'i << 70', '-9 >> 2', '5 & 3', '5 | 3', '5 ^ 3', '~i', '-i', '+f', 't + t', 't & fa', 'c * c', 'c + 1', 'abs(c)', 'c.real', 'c.imag',
  '1 / 3', '0.1 + 0.2', '1e300 * 1e10', '-0.0', '10 / 4', '3.0 // 2', 'divmod(-7, 2)', 'divmod(7.5, 2)', 'pow(3, 4, 5)', 'pow(2, 0.5)', 'round(2.5)',
  'round(3.5)', 'round(2.675, 2)', 'round(1234, -2)', 'round(-0.5)', 'round(f)', 'abs(n)', 'abs(-2.5)',
  // containers
  'x + [4]', 'x * 2', '[0] * 3', 'tup + (1,)', "'ab' * 3", 'st | {9}', 'st & {1, 9}', 'st - {1}', 'st ^ {4, 9}', 'st ^ {1, 9} == {2, 3, 9}', "d | {'z': 0}", "cnt + Counter('aab')",
  '[*x, *tup]', '(*x,)', '{*x, *st}', "{**od, 'c': 3}", 'dict(a=1, b=2)', "dict([('x', 1)])", 'list(d)', 'list(d.items())[:2]', 'list(od.values())',
  'd.keys()', 'od.items()', 'cnt.most_common(1)', "d.get('zz', 0)", "d.get('a')", 'len(d)', 'len(u)', 'len(mixed)', 'len(r)', 'len(by)', 'sorted(st)', 'sorted(words)',
  'sorted(words, key=len)', 'sorted(words, key=str.lower)' + '[0:0]', 'sorted(words, key=lambda w: w.lower())', 'sorted(words, reverse=True)', 'min(words)', 'max(x)',
  'max(words, key=len)', 'min([], default=0)', 'sum(x)', 'sum(fl)', 'sum([[1], [2]], [])', 'any(x)', 'all([1, 0])', 'list(reversed(x))', 'list(enumerate(words, 1))',
  'list(zip(x, words))', 'list(map(str, x))', 'list(filter(None, [0, 1, 2]))', 'list(range(5))', 'list(range(10, 0, -3))', 'set(words) == set(words)', 'tuple(s)',
  'frozenset(x)', 'bytes(3)', 'bytes([65, 66])', 'bytearray(b"ab")', 'list(by)', 'deque(x, maxlen=2)', 'Counter(s + s)', "defaultdict(int, {'a': 1})",
  // comprehensions, lambdas, walrus
  '[v * 2 for v in x if v > 1]', '{k: v for k, v in od.items()}', 'sorted(d, key=str)', '{v % 2 for v in x}', 'sum(k * k for k in range(i + 1))',
  '[(a, b) for a in x for b in x if a < b]', '[a + b for a, b in zip(x, x[1:])]', '[y for row in mat for y in row]', '[(lambda v: v + 1)(v) for v in x]',
  '(lambda a, b=2, *r, **kw: (a, b, r, kw))(1, 3, 4, k=5)', '(lambda *a: a)()', '[y := 5, y * 2]', '[w for v in x if (w := v * 10) > 10]', '(f := 3) + f',
  'next(v for v in x if v > 1)', 'next(iter([]), "none")', 'list(iter(x))', '[first, *rest] == [1, 2, 3]' + ' if False else 0', '[[a, b] for a, *b in [x, x]]',
  'any(v > 100 for v in range(10 ** 12))', 'iter(s)', 'iter(mixed)', 'iter(d)', 'iter(d.items())', 'iter(dq)', 'iter(r)', 'iter(st)', 'iter(x)', 'iter(by)', 'i if i > 2 else -i', 'x if empty else "no"',
  // strings
  's.upper()', "line.strip()", "line.split(',')", 'line.split()', "'a,b,,c'.split(',', 1)", "'a b  c'.rsplit(None, 1)", "'-'.join(words)", "s.replace('b', 'XY')",
  "s.startswith(('x', 'a'))", "line.find('World')", "line.rfind('l')", "'abcabc'.count('bc')", "'hello world'.title()", "'Hello'.swapcase()", 's.center(9, "*")',
  "s.ljust(6) + '|'", 's.rjust(6)', "'42'.zfill(5)", "'-42'.zfill(6)", "'a\\nb\\r\\nc'.splitlines()", "'k=v=w'.partition('=')", "'k=v=w'.rpartition('=')",
  "'abc'.removeprefix('a')", 's.encode()', "'é'.encode('utf-8')", "by.hex()", "b'abc'.decode()", "'Straße'.casefold()", "'12'.isdigit()", "'ab1'.isalnum()", "'  '.isspace()",
  "'x' < 'y' < 'z'", 'str(x)', 'str(s)', 'repr(s)', 'repr(q)', 'ascii(u)', 'str(1.0)', 'str(1e16)', 'repr(1e-5)', 'str(big)', "str(b'x')", 'int("  42 ")', 'int("ff", 16)',
  "int('0b101', 0)", 'float("1e3")', 'float("-inf")', 'int(2.9)', 'int(-2.9)', 'bool([])', 'chr(233)', "ord('é')", 'hex(255)', 'oct(8)', 'bin(-5)', 'type(x)', 'type(s) is str',
  'isinstance(t, int)', 'isinstance(x, (list, tuple))', 'isinstance(cnt, dict)', 'callable(len)', '(5).bit_length()', '2.5.is_integer()',
  // formatting
  "f'{i}'", "f'{s!r}'", "f'{f:.2f}'", "f'{i:>5}|'", "f'{i:<5}|'", "f'{i:^5}|'", "f'{big:,}'", "f'{i:08.3f}'", "f'{0.5:%}'", "f'{255:#x}'", "f'{255:b}'",
  "f'{i=}'", "f'{s=!s}'", "f'{f!r:>8}'", "f'{x}'", "f'{d}'", "f'{\"nested\"}'", "f'{i:{i}}|'", "f'{1e20:f}'", "f'{123.456:e}'", "f'{0.0001234:g}'", "f'{1234567.0:g}'",
  "f'{f:10.3}'", "f'{-f:+}'", "f'{i:+d}'", "f'{s:*^9}'", "f'{3.0}'", "f'{1/3:.3g}'", "f'{12345.678:_.1f}'", "'{} and {}'.format(i, s)", "'{0}{1}{0}'.format('a', 'b')",
  "'{name}:{n:>4}'.format(name='k', n=5)", "'{0[1]}'.format(x)", "'{:.3}'.format('abcdef')", "'{!r}'.format(s)", "format(f, '.1f')", "format(255, 'X')",
  "'%s is %d' % (s, i)", "'%5.2f|' % f", "'%r' % (s,)", "'%-4s|' % 'a'", "'%x' % 255", "'%(a)s' % {'a': 1}", "'%%d'", "'100%%' % ()",
];

/** What Python says each expression evaluates to, from the same locals. */
function pythonTruth(expressions: readonly string[]): ({ repr: string; kind: string; truthy: boolean; unordered: boolean } | { error: string })[] {
  const script = String.raw`
import collections, json, math, re, sys
from collections import deque, Counter, OrderedDict, defaultdict
request = json.load(sys.stdin)
scope = {'inf': math.inf, 'nan': math.nan, 'deque': deque, 'Counter': Counter, 'OrderedDict': OrderedDict, 'defaultdict': defaultdict}
values = {name: eval(text, dict(scope)) for name, text in request['locals'].items()}
out = []
for expression in request['expressions']:
    try:
        value = eval(expression, dict(scope, **values))
        text = re.sub(r' at 0x[0-9a-fA-F]+', '', repr(value))
        unordered = isinstance(value, (set, frozenset)) and any(not isinstance(v, int) for v in value)
        out.append({'repr': text, 'kind': 'None' if value is None else type(value).__name__, 'truthy': bool(value), 'unordered': unordered})
    except Exception as error:
        out.append({'error': '%s: %s' % (type(error).__name__, error)})
print(json.dumps(out))
`;
  const input = JSON.stringify({ locals: Object.fromEntries(gridLocals), expressions });
  type Answer = { repr: string; kind: string; truthy: boolean; unordered: boolean } | { error: string };
  // Twice, with different str hashes: an answer that changes depends on the order of a set of str, which is random.
  const run = (seed: string) => JSON.parse(execFileSync(PYTHON, ['-W', 'ignore', '-c', script], { input, encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, PYTHONHASHSEED: seed } })) as Answer[];
  const second = run('1');
  return run('2').map((answer, index) => ('repr' in answer && JSON.stringify(answer) !== JSON.stringify(second[index]) ? { ...answer, unordered: true } : answer));
}

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ordinary watch expressions from a small grammar over the grid's values: operators, calls, methods, comprehensions, formats. */
function generatedExpressions(count: number): string[] {
  const next = random(5);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const atoms = ['i', 'n', 'f', 'big', 's', 'e', 'x', 'empty', 'd', 'tup', 'words', 'line', 'mat', 'st', 'by', 'c', 'r', 'none', 't', 'cnt', 'od', 'dq',
    '0', '1', '-2', '2.0', '0.1', '1e20', "'a'", "'%s'", "'{}'", 'None', 'True', '[]', '()', 'len(x)', 'sorted(words)', 'list(d)', 's.split()', 'x[1:]', 'range(5)', 'set(x)', 'i / 2'];
  const ops = ['+', '-', '*', '/', '//', '%', '**', '==', '<', '>=', 'and', 'or', 'in', 'not in', '&', '|', '^', '<<', '>>', '!=', 'is'];
  const calls = ['len', 'str', 'repr', 'sorted', 'list', 'tuple', 'set', 'sum', 'min', 'max', 'abs', 'bool', 'int', 'float', 'round', 'hex', 'bin', 'any', 'all', 'type', 'enumerate', 'zip', 'reversed', 'frozenset', 'dict', 'divmod', 'chr', 'ord'];
  const methods = ['upper()', 'split()', "split('l')", 'strip()', "replace('l', 'L')", "count('l')", "find('o')", 'title()', 'isdigit()', 'join(words)', "startswith('H')",
    "center(15, '*')", 'zfill(14)', "partition(' ')", 'rjust(3)', "format(i, s)", 'casefold()', "rsplit(' ', 1)", "removesuffix('  ')", 'splitlines()'];
  const expr = (depth: number): string => {
    const roll = next();
    if (depth > 2 || roll < 0.22) return pick(atoms);
    if (roll < 0.45) return `(${expr(depth + 1)} ${pick(ops)} ${expr(depth + 1)})`;
    if (roll < 0.56) return `${pick(calls)}(${expr(depth + 1)})`;
    if (roll < 0.63) return `${pick(['line', 's', "'a-b-c'"])}.${pick(methods)}`;
    if (roll < 0.68) return `${pick(['d', 'od', 'cnt'])}.${pick(['keys()', 'values()', 'items()', "get('a', 0)", 'copy()', 'most_common(1)' + "[0:0] + [('a', 2)]"])}`;
    if (roll < 0.76) return `[v ${pick(ops)} ${pick(atoms)} for v in ${pick(['x', 'words', 's', 'range(4)', 'tup', 'd', 'mat'])}${next() < 0.3 ? ' if v' : ''}]`;
    if (roll < 0.8) return `sorted(${pick(['words', 'x', 'd', 'st'])}, key=${pick(['len', 'str', 'lambda v: -len(str(v))', 'repr'])}${next() < 0.5 ? ', reverse=True' : ''})`;
    if (roll < 0.86) return `f'{${expr(depth + 1)}${pick(['', '!r', '!s', ':>8', ':.3', ':08.2f', ':,', ':x', ':^7', ':+', ':e', ':g', ':%', ':<5', ':#o'])}}'`;
    if (roll < 0.9) return `'${pick(['%s', '%d', '%5.1f', '%r', '%x', '%-6s|', '%03d', '%.2e'])}' % (${expr(depth + 1)},)`;
    if (roll < 0.95) return `${expr(depth + 1)}[${pick(['0', '-1', '1:', '::2', '::-1', "'a'", '1:3', '2'])}]`;
    return `${expr(depth + 1)} if ${expr(depth + 1)} else ${expr(depth + 1)}`;
  };
  return Array.from({ length: count }, () => expr(0));
}

describe('FrameEvaluator', () => {
  const evaluator = new FrameEvaluator();

  /** Differences between our answers and CPython's for the expressions (error types compared, not their texts). */
  async function mismatchesWithPython(expressions: readonly string[]): Promise<string[]> {
    const expected = pythonTruth(expressions);
    const mismatches: string[] = [];
    for (const [index, expression] of expressions.entries()) {
      const want = expected[index]!;
      const got = await evaluator.evaluate(expression, gridLocals);
      if ('error' in want) {
        if (got.ok) mismatches.push(`${expression}: Python raised ${want.error}, we gave ${got.repr}`);
        // Where Python gives up (too many digits, memory), a stop at the evaluator's own bound is the same answer.
        else if (got.error.startsWith('The evaluation was stopped')) continue;
        else if (got.error.split(':')[0] !== want.error.split(':')[0]) mismatches.push(`${expression}: Python raised ${want.error}, we raised ${got.error}`);
        continue;
      }
      if (!got.ok) {
        mismatches.push(`${expression}: Python gave ${want.repr}, we raised ${got.error}`);
        continue;
      }
      // A set of str iterates in the order of str hashes, which Python randomises per process: same characters suffice.
      const sameRepr = want.unordered ? [...got.repr].sort().join('') === [...want.repr].sort().join('') : got.repr === want.repr;
      if (!sameRepr || got.kind !== want.kind) mismatches.push(`${expression}: Python gave ${want.repr} (${want.kind}), we gave ${got.repr} (${got.kind})`);
      const truth = await evaluator.evaluateCondition(expression, gridLocals);
      if (truth !== want.truthy) mismatches.push(`${expression}: Python's truth is ${want.truthy}, ours ${JSON.stringify(truth)}`);
    }
    return mismatches;
  }

  test('every answer equals what CPython computes from the same values', async () => {
    assert.deepEqual(await mismatchesWithPython(gridExpressions), []);
  });

  test('generated ordinary expressions give CPython\'s answers', async (t) => {
    const count = Number(process.env.CWM_EVALUATOR_GENERATED ?? 1500);
    const expressions = generatedExpressions(count);
    const mismatches = await mismatchesWithPython(expressions);
    t.diagnostic(`${count} generated expressions, ${mismatches.length} differ from CPython`);
    assert.deepEqual(mismatches, []);
  });

  test('names, indexing and fields are answered from the repr tree', async () => {
    const locals = localsOf([
      ['p', "Point(x=1, y=[2, 'a'])"],
      ['g', '<function f.<locals>.g>'],
      ['long', `[0, 1, 2, 3${TRUNCATION_MARKER}`],
      ['people', "[Person(name='ann', age=31), Person(name='bo', age=7)]"],
    ]);
    assert.deepEqual(ok(await evaluator.evaluate('p.y[1]', locals)), { ok: true, repr: "'a'", kind: 'str' });
    assert.deepEqual(ok(await evaluator.evaluate('p', locals)), { ok: true, repr: "Point(x=1, y=[2, 'a'])", kind: 'Point' });
    assert.deepEqual(ok(await evaluator.evaluate('g', locals)), { ok: true, repr: '<function f.<locals>.g>', kind: 'function' });
    assert.equal(await evaluator.evaluateCondition('p.x == 1', locals), true);
    assert.equal(ok(await evaluator.evaluate('long[1]', locals)).repr, '1');
    assert.equal(ok(await evaluator.evaluate('p.x + len(p.y)', locals)).repr, '3');
    assert.equal(ok(await evaluator.evaluate('[q.name for q in people if q.age > 18]', locals)).repr, "['ann']");
    assert.equal(ok(await evaluator.evaluate('sum(q.age for q in people)', locals)).repr, '38');
    assert.equal(ok(await evaluator.evaluate('len(people)', locals)).repr, '2');
    assert.equal(await evaluator.evaluateCondition('g is not None', locals), true);
    assert.equal(await evaluator.evaluateCondition('people', locals), true);
  });

  test('a value known only as text gives a clear error', async () => {
    const locals = localsOf([
      ['fn', '<function f>'],
      ['cut', `[1, 2${TRUNCATION_MARKER}`],
      ['p', 'Point(x=1, y=2)'],
      ['obj', '<Foo object>'],
    ]);
    assert.equal(error(await evaluator.evaluate('fn(1)', locals)), 'fn exists only as text in this trace: <function f>');
    assert.match(error(await evaluator.evaluate('sum(cut)', locals)), /^cut exists only as text in this trace \(its repr was truncated\)/);
    assert.match(error(await evaluator.evaluate('p.z', locals)), /^AttributeError: p shows no field 'z'/);
    assert.match(error(await evaluator.evaluate('p + 1', locals)), /^p exists only as text in this trace: Point\(x=1, y=2\)/);
    assert.deepEqual(await evaluator.evaluateCondition('obj', locals), { error: 'The value of obj cannot be used as a condition: it is known only as text (<Foo object>), so its truth value is unknown.' });
    // A comprehension variable that shadows a text-only local is fine.
    assert.equal(ok(await evaluator.evaluate('[fn for fn in range(2)]', locals)).repr, '[0, 1]');
  });

  test('errors: unknown name, syntax, attributes outside the allowed list, no modules or builtins that reach outside', async () => {
    const locals = localsOf([['x', '1'], ['g', '<generator object gen>'], ['s', "'abc'"]]);
    assert.equal(error(await evaluator.evaluate('y + 1', locals)), "NameError: name 'y' is not defined");
    assert.match(error(await evaluator.evaluate('x +', locals)), /^SyntaxError: /);
    assert.match(error(await evaluator.evaluate('x = 2', locals)), /^SyntaxError: assignment is not allowed/);
    assert.match(error(await evaluator.evaluate('x.__class__', locals)), /^AttributeError: 'int' object has no attribute '__class__' available here/);
    assert.match(error(await evaluator.evaluate('s.__class__.__base__.__subclasses__()', locals)), /^AttributeError: 'str' object has no attribute '__class__'/);
    assert.match(error(await evaluator.evaluate('(v for v in [0]).gi_frame', locals)), /^AttributeError: 'generator' object has no attribute 'gi_frame'/);
    assert.match(error(await evaluator.evaluate('g.gi_frame', locals)), /^g exists only as text/);
    assert.match(error(await evaluator.evaluate('(lambda: 0).__globals__', locals)), /^AttributeError: 'function' object has no attribute '__globals__'/);
    assert.match(error(await evaluator.evaluate('1 / 0', locals)), /^ZeroDivisionError: /);
    for (const name of ['__import__', 'open', 'eval', 'exec', 'compile', 'getattr', 'globals', 'vars', 'locals', 'input', 'print', 'breakpoint', 'help', '__builtins__', 'os', 'sys']) {
      assert.equal(error(await evaluator.evaluate(`${name}`, locals)), `NameError: name '${name}' is not defined`, name);
    }
    assert.match(error(await evaluator.evaluate("'{0.__class__}'.format(s)", locals)), /^AttributeError: 'str' object has no attribute '__class__'/);
    assert.match(error(await evaluator.evaluate("f'{s.__class__}'", locals)), /^AttributeError/);
    assert.deepEqual(await evaluator.evaluateCondition('y > 1', locals), { error: "NameError: name 'y' is not defined" });
  });

  test('work, time, size and depth are bounded, with a message that says so', async () => {
    const locals = localsOf([['x', '[1, 2]']]);
    const cases: [string, RegExp][] = [
      ['sum(range(10**12))', /^The evaluation was stopped: the expression (did more than 2,000,000 steps of work|ran longer than 0.5 s)/],
      ["'a' * 10**10", /^The evaluation was stopped: a string would be longer than 10,000,000 characters/],
      ['[0] * 10**9', /^The evaluation was stopped: a container would hold more than 1,000,000 items/],
      ['2 ** 10**9', /^The evaluation was stopped: an integer would have more than 200,000 bits/],
      ['(g := (next(g) for _ in [0])) and next(g)', /^ValueError: generator already executing/],
      ['1 << 10**9', /^The evaluation was stopped: an integer would have more than/],
      ['(f := lambda n: f(n + 1))(0)', /^RecursionError: maximum recursion depth exceeded/],
      ['(' .repeat(5000) + '1' + ')'.repeat(5000), /^SyntaxError: too many nested parentheses/],
      ['-'.repeat(100_000) + '1', /^SyntaxError: too many nested/],
      ['[x] * 1000 * 1000 * 1000', /^The evaluation was stopped: a container would hold more than/],
      // Nesting 100,000 deep, then showing it: stopped by depth (or by time on a slow machine), never a crash.
      ['[b := []] and [(b := [b]) for _ in range(10**5)] and len(str(b))', /^(RecursionError|The evaluation was stopped)/],
    ];
    for (const [expression, expected] of cases) {
      const started = Date.now();
      assert.match(error(await evaluator.evaluate(expression, locals)), expected, expression.slice(0, 40));
      assert.ok(Date.now() - started < 5000, `${expression.slice(0, 40)} took ${Date.now() - started} ms`);
    }
    // With time to spare, the memory bound is what stops many values that are each within bounds.
    const patient = new FrameEvaluator({ limits: { timeMs: 60_000, maxSteps: 1e9 } });
    assert.match(error(await patient.evaluate('[[0] * 10**6 for _ in range(100)]', locals)), /^The evaluation was stopped: the expression built more than 10,000,000 container items in all/);
    assert.match(error(await patient.evaluate("['x' * 10**7 for _ in range(100)]", locals)), /^The evaluation was stopped: the expression built more than 50,000,000 characters of text in all/);
    const long = ok(await evaluator.evaluate("'x' * 200000", locals)).repr;
    assert.equal(long.length, 100_000 + TRUNCATION_MARKER.length);
    assert.ok(long.endsWith(TRUNCATION_MARKER));
  });

  test('each evaluation starts from the frame values: mutations and := do not leak into the next one', async () => {
    const locals = localsOf([['x', '[1, 2]']]);
    assert.equal(ok(await evaluator.evaluate('(x.append(3), x)[1]', locals)).repr, '[1, 2, 3]');
    assert.equal(ok(await evaluator.evaluate('x', locals)).repr, '[1, 2]');
    assert.equal(ok(await evaluator.evaluate('len(x)', locals)).repr, '2');
    assert.equal(ok(await evaluator.evaluate('(y := 4) * 2', locals)).repr, '8');
    assert.equal(error(await evaluator.evaluate('y', locals)), "NameError: name 'y' is not defined");
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

  test('after dispose, evaluations answer with an error', async () => {
    const own = new FrameEvaluator();
    await own.dispose();
    assert.match(error(await own.evaluate('1 + 1', localsOf([]))), /disposed/);
  });
});

describe(':= in comprehensions', () => {
  // PEP 572's compile-time rules, as CPython's compile() applies them (the first six are refused, the rest allowed).
  const EXPRESSIONS = [
    '[x := 1 for x in range(3)]',
    '[y for x in range(3) if (x := 2)]',
    '[y for x in (y := [1, 2])]',
    '[[x := 1 for y in range(2)] for x in range(2)]',
    '{k: (k := 1) for k in range(2)}',
    '[j for i in range(2) for j in (k := [1])]',
    '[(y := x) for x in range(3)]',
    '[y for x in range(3) if (y := x)]',
    '[lambda: (x := 1) for x in range(2)]',
    '(n := 3) + [n for n in range(2)][0]',
  ];

  test('refuses what CPython refuses at compile time, and nothing else', async () => {
    const script = 'import json, sys\nfor text in json.load(sys.stdin):\n    try:\n        compile(text, "<e>", "eval")\n        print("ok")\n    except SyntaxError as e:\n        print(e.msg)\n';
    const python = execFileSync('python3', ['-c', script], { input: JSON.stringify(EXPRESSIONS), encoding: 'utf8' }).trim().split('\n');
    assert.equal(python.filter((line) => line !== 'ok').length, 6, python.join('\n'));
    const evaluator = new FrameEvaluator();
    for (const [i, text] of EXPRESSIONS.entries()) {
      const ours = await evaluator.evaluate(text, new Map());
      const refused = !ours.ok && /SyntaxError/.test(ours.error);
      assert.equal(refused, python[i] !== 'ok', `${text}: CPython says ${python[i]}, we say ${ours.ok ? ours.repr : ours.error}`);
      if (refused && !ours.ok) assert.ok(ours.error.includes(python[i]!), `${text}: ${ours.error} does not say ${python[i]}`);
    }
  });
});
