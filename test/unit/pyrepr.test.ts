// Tests for the lazy repr parser: hundreds of reprs made by real Python (children checked against Python's own
// element reprs, text rebuilt from the parts), a 100,000-element list, truncated and garbage text that must not throw.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { decodePythonString, parseRepr, reprKind, type ReprChild, type ReprNode } from '../../server/values/pyrepr';
import { TRUNCATION_MARKER } from '../../server/trace/model';

const PYTHON = 'python3';

/** Generates values of every shape the tracer meets; for each: its repr, type name, and its children as Python sees them. */
const GENERATOR = String.raw`
import collections, dataclasses, enum, json, random, re, sys
rng = random.Random(20251)
ADDR = re.compile(r' at 0x[0-9a-fA-F]+')
def R(v):
    return ADDR.sub('', repr(v))
Point = collections.namedtuple('Point', 'x y')
@dataclasses.dataclass
class Box:
    label: str
    items: list
class Obj:
    pass
class Color(enum.Enum):
    RED = 1
def gen():
    yield 1
def f():
    pass
CHARS = ['a', 'Z', ' ', "'", '"', '\\', '\n', '\t', '\x00', '\x7f', 'é', '中', '😀', '\u200b', '{', '}', '[', ']', '(', ')', ',', ':', '<', '>', '=', '…']
def rstr():
    return ''.join(rng.choice(CHARS) for _ in range(rng.randint(0, 8)))
def scalar():
    k = rng.randint(0, 12)
    if k == 0: return rng.randint(-10**30, 10**30)
    if k == 1: return rng.randint(-5, 5)
    if k == 2: return rng.choice([0.1, -0.0, 1e-05, 1e16, 1.5e300, float('inf'), float('-inf'), float('nan'), 2.5, -3.25])
    if k == 3: return rng.choice([1j, complex(1, -2), complex(-0.0, -1), complex(float('nan'), float('inf'))])
    if k == 4: return rng.choice([None, True, False, Ellipsis])
    if k == 5: return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 6)))
    if k in (6, 7, 8): return rstr()
    if k == 9: return rng.choice([f, len, Obj(), Color.RED, int, gen(), ValueError('bad, "x"'), range(3, 9), bytearray(b'ab')])
    if k == 10: return rng.random() * 1000
    return rng.randint(0, 1000)
def hashable(depth):
    v = value(depth)
    try:
        hash(v)
        return v
    except TypeError:
        return rstr()
def value(depth):
    if depth <= 0: return scalar()
    k = rng.randint(0, 14)
    n = rng.randint(0, 4)
    if k == 0: return [value(depth - 1) for _ in range(n)]
    if k == 1: return tuple(value(depth - 1) for _ in range(n))
    if k == 2: return (value(depth - 1),)
    if k == 3: return {hashable(depth - 1): value(depth - 1) for _ in range(n)}
    if k == 4: return {hashable(depth - 1) for _ in range(n)}
    if k == 5: return frozenset(hashable(depth - 1) for _ in range(n))
    if k == 6: return collections.deque((value(depth - 1) for _ in range(n)), maxlen=rng.choice([None, 10]))
    if k == 7:
        d = collections.defaultdict(rng.choice([int, list]))
        for _ in range(n): d[hashable(depth - 1)] = value(depth - 1)
        return d
    if k == 8: return collections.OrderedDict((hashable(depth - 1), value(depth - 1)) for _ in range(n))
    if k == 9: return collections.Counter({rstr(): rng.randint(-3, 9) for _ in range(n)})
    if k == 10: return Point(value(depth - 1), value(depth - 1))
    if k == 11: return Box(rstr(), [value(depth - 1) for _ in range(n)])
    if k == 12: return rng.choice([set(), frozenset(), [], (), {}, collections.Counter(), collections.OrderedDict(), collections.deque()])
    return scalar()
def children(v):
    if isinstance(v, Point): return [[f, R(getattr(v, f))] for f in v._fields]
    if isinstance(v, Box): return [[fl.name, R(getattr(v, fl.name))] for fl in dataclasses.fields(v)]
    if isinstance(v, collections.Counter): return [[R(k), R(c)] for k, c in v.most_common()]
    if isinstance(v, dict): return [[R(k), R(x)] for k, x in v.items()]
    if isinstance(v, (list, tuple, collections.deque, set, frozenset)): return [[str(i), R(x)] for i, x in enumerate(v)]
    return None
def typename(v):
    return 'None' if v is None else type(v).__name__
out = []
for i in range(int(sys.argv[1])):
    v = value(rng.randint(0, 3))
    out.append({'repr': R(v), 'type': typename(v), 'children': children(v)})
print(json.dumps(out))
`;

interface Generated {
  readonly repr: string;
  readonly type: string;
  readonly children: [string, string][] | null;
}

function generate(count: number): Generated[] {
  // A fixed hash seed keeps set order, and so the generated data, the same from run to run.
  const env = { ...process.env, PYTHONHASHSEED: '0' };
  return JSON.parse(execFileSync(PYTHON, ['-c', GENERATOR, String(count)], { encoding: 'utf8', maxBuffer: 64 << 20, env })) as Generated[];
}

/** How one child appears in its parent's text, given how the parent names its children. */
function entryText(node: ReprNode, child: ReprChild): string {
  if (node.naming === 'key') return node.prefix.endsWith('([') ? `(${child.name}, ${child.value})` : `${child.name}: ${child.value}`;
  if (node.naming === 'field') return `${child.name}=${child.value}`;
  return child.value;
}

/** The node's text rebuilt from prefix, children and suffix (Python separates children with ", "). */
function rebuilt(node: ReprNode): string {
  return node.prefix + node.children().map((child) => entryText(node, child)).join(', ') + node.suffix;
}

/** Checks the round trip at every level of the tree; returns the number of nodes visited. */
function checkTree(node: ReprNode, depth = 0): number {
  assert.equal(rebuilt(node), node.text, `round trip of ${node.text}`);
  let visited = 1;
  if (depth > 20) return visited;
  for (const child of node.children()) {
    assert.equal(child.node.text, child.value.trim());
    visited += checkTree(child.node, depth + 1);
  }
  return visited;
}

/** Reads every child of every level, as a Variables view expanding everything would. */
function expandAll(node: ReprNode, depth = 0): void {
  if (depth > 30) return;
  assert.ok(node.childCount >= 0);
  for (const child of node.children(0, node.childCount)) {
    assert.equal(typeof child.name, 'string');
    assert.equal(typeof child.value, 'string');
    expandAll(child.node, depth + 1);
  }
}

describe('parseRepr on reprs made by Python', () => {
  const generated = generate(600);

  test('children are exactly the element reprs Python prints, names included', () => {
    let containers = 0;
    for (const item of generated) {
      const node = parseRepr(item.repr);
      assert.equal(node.typeName, item.type, `type of ${item.repr}`);
      assert.equal(node.truncated, false);
      if (item.children === null) {
        assert.equal(node.childCount, 0, `atom ${item.repr}`);
        continue;
      }
      containers++;
      assert.equal(node.childCount, item.children.length, `child count of ${item.repr}`);
      assert.equal(node.expandable, item.children.length > 0);
      const got = node.children().map((child) => [child.name, child.value]);
      assert.deepEqual(got, item.children, `children of ${item.repr}`);
    }
    assert.ok(containers > 200, `only ${containers} containers generated`);
  });

  test('prefix + children + suffix rebuild the text at every level', () => {
    let nodes = 0;
    for (const item of generated) nodes += checkTree(parseRepr(item.repr));
    assert.ok(nodes > 1500, `only ${nodes} nodes visited`);
  });

  test('a string repr decodes to the string Python had', () => {
    const strings = JSON.parse(
      execFileSync(
        PYTHON,
        [
          '-c',
          String.raw`
import json, random
rng = random.Random(7)
pool = ['a', "'", '"', '\\', '\n', '\r', '\t', '\x00', '\x1b', '\x7f', '\x85', 'é', 'ß', '中', '😀', '\u2028', '\ufeff', ' ']
values = [''.join(rng.choice(pool) for _ in range(rng.randint(0, 10))) for _ in range(300)] + ["it's", 'a"b', 'both \' and "']
print(json.dumps([[v, repr(v)] for v in values]))
`,
        ],
        { encoding: 'utf8' },
      ),
    ) as [string, string][];
    for (const [value, repr] of strings) {
      assert.equal(decodePythonString(repr), value, `decode ${repr}`);
      assert.equal(reprKind(repr), 'str');
    }
  });
});

describe('parseRepr on each form', () => {
  const cases: [string, string, string[], string[]][] = [
    // text, kind, child names, child values
    ['[1, [2, 3], "x"]', 'list', ['0', '1', '2'], ['1', '[2, 3]', '"x"']],
    ['(1,)', 'tuple', ['0'], ['1']],
    ['()', 'tuple', [], []],
    ["{'a': 1, 2: [3]}", 'dict', ["'a'", '2'], ['1', '[3]']],
    ['{}', 'dict', [], []],
    ['{1, 2}', 'set', ['0', '1'], ['1', '2']],
    ['set()', 'set', [], []],
    ['frozenset({1, 2})', 'frozenset', ['0', '1'], ['1', '2']],
    ['frozenset()', 'frozenset', [], []],
    ["deque(['a', 'b'])", 'deque', ['0', '1'], ["'a'", "'b'"]],
    ['deque([1], maxlen=3)', 'deque', ['0'], ['1']],
    ["defaultdict(<class 'int'>, {'a': 2})", 'defaultdict', ["'a'"], ['2']],
    ["defaultdict(<function f.<locals>.<lambda>>, {1: {2: 3}})", 'defaultdict', ['1'], ['{2: 3}']],
    ["OrderedDict([('a', 1), ('b', (2, 3))])", 'OrderedDict', ["'a'", "'b'"], ['1', '(2, 3)']],
    ["OrderedDict({'a': 1})", 'OrderedDict', ["'a'"], ['1']],
    ["Counter({'x': 3, 'y': 1})", 'Counter', ["'x'", "'y'"], ['3', '1']],
    ['Counter()', 'Counter', [], []],
    ["Point(x=1, y='a, b')", 'object', ['x', 'y'], ['1', "'a, b'"]],
    ['Box(label=<function f>, items=[])', 'object', ['label', 'items'], ['<function f>', '[]']],
    ["(<class 'ZeroDivisionError'>, ZeroDivisionError('division by zero'), <traceback object>)", 'tuple', ['0', '1', '2'], ["<class 'ZeroDivisionError'>", "ZeroDivisionError('division by zero')", '<traceback object>']],
  ];
  for (const [text, kind, names, values] of cases) {
    test(text, () => {
      const node = parseRepr(text);
      assert.equal(node.kind, kind);
      assert.equal(node.childCount, names.length);
      const children = node.children();
      assert.deepEqual(children.map((child) => child.name), names);
      assert.deepEqual(children.map((child) => child.value), values);
      assert.equal(rebuilt(node), text);
    });
  }

  test('atoms and their kinds', () => {
    const atoms: [string, string][] = [
      ["'it\\'s'", 'str'],
      ['"a\'b"', 'str'],
      ["b'\\x00\\xff'", 'bytes'],
      ['b"\'"', 'bytes'],
      ['-12345678901234567890', 'int'],
      ['1e-05', 'float'],
      ['-0.0', 'float'],
      ['inf', 'float'],
      ['-inf', 'float'],
      ['nan', 'float'],
      ['1.5e+300', 'float'],
      ['2j', 'complex'],
      ['(1-2j)', 'complex'],
      ['(nan+infj)', 'complex'],
      ['None', 'None'],
      ['True', 'bool'],
      ['False', 'bool'],
      ['Ellipsis', 'ellipsis'],
      ['<function f>', 'function'],
      ['<function f.<locals>.g>', 'function'],
      ['<built-in function len>', 'builtin_function_or_method'],
      ["<class 'int'>", 'type'],
      ['<__main__.Point object>', 'object'],
      ['<generator object f.<locals>.<genexpr>>', 'generator'],
      ["<module 'os' from '/usr/lib/python3.11/os.py'>", 'module'],
      ["ValueError('x')", 'object'],
      ['range(0, 10)', 'range'],
      ["bytearray(b'ab')", 'bytearray'],
    ];
    for (const [text, kind] of atoms) {
      const node = parseRepr(text);
      assert.equal(node.kind, kind, text);
      assert.equal(reprKind(text), kind, text);
      assert.equal(node.childCount, 0, text);
      assert.equal(node.text, text);
    }
    assert.equal(parseRepr('<__main__.Point object>').typeName, 'Point');
    assert.equal(parseRepr('f.<locals>.Point(x=1)').typeName, 'Point');
  });

  test('a recursive container shows its marker as text', () => {
    const node = parseRepr('[1, [...]]');
    assert.equal(node.kind, 'list');
    assert.deepEqual(node.children().map((child) => child.value), ['1', '[...]']);
  });
});

describe('truncated reprs', () => {
  test('a cut list keeps the children before the cut and marks the partial one', () => {
    const node = parseRepr(`[10, 'ab', [1, 2${TRUNCATION_MARKER}`);
    assert.equal(node.kind, 'list');
    assert.equal(node.truncated, true);
    const children = node.children();
    assert.deepEqual(children.map((child) => child.value), ['10', "'ab'", `[1, 2${TRUNCATION_MARKER}`]);
    const partial = children[2]?.node;
    assert.equal(partial?.truncated, true);
    assert.deepEqual(partial?.children().map((child) => child.value), ['1', `2${TRUNCATION_MARKER}`]);
  });

  test('a dict cut inside a key drops that key but keeps the flag', () => {
    const node = parseRepr(`{'a': 1, 'bc${TRUNCATION_MARKER}`);
    assert.equal(node.kind, 'dict');
    assert.equal(node.truncated, true);
    assert.deepEqual(node.children().map((child) => [child.name, child.value]), [["'a'", '1']]);
    assert.equal(rebuilt(node), node.text);
  });

  test('a cut string is a truncated str', () => {
    const node = parseRepr(`'abc${TRUNCATION_MARKER}`);
    assert.equal(node.kind, 'str');
    assert.equal(node.truncated, true);
  });

  test('every cut of real reprs keeps the complete children unchanged', () => {
    const generated = generate(150).filter((item) => item.repr.length > 3);
    let cuts = 0;
    for (const item of generated) {
      const whole = parseRepr(item.repr);
      const step = Math.max(1, Math.floor(item.repr.length / 25));
      for (let at = 1; at < item.repr.length; at += step) {
        const text = item.repr.slice(0, at) + TRUNCATION_MARKER;
        const node = parseRepr(text);
        cuts++;
        assert.equal(node.truncated, true, text);
        expandAll(node);
        if (node.kind !== whole.kind || node.childCount === 0) continue;
        const got = node.children();
        const expected = whole.children(0, got.length);
        // All but the last child are complete; the last is complete or the partial one, which starts the same way.
        for (let i = 0; i < got.length - 1; i++) assert.equal(got[i]?.value, expected[i]?.value, `${text} child ${i}`);
        const last = got[got.length - 1];
        const lastExpected = expected[got.length - 1];
        // (An OrderedDict pair cut before its value is shown whole under its index, so only same-named ones compare.)
        if (last && lastExpected && last.name === lastExpected.name && last.value.endsWith(TRUNCATION_MARKER)) {
          assert.ok(lastExpected.value.startsWith(last.value.slice(0, -TRUNCATION_MARKER.length)), `${text} partial child`);
        }
      }
    }
    assert.ok(cuts > 1000, `only ${cuts} cuts`);
  });
});

describe('large and hostile input', () => {
  test('a 100,000-element list: count from one scan, a window of children on demand', () => {
    const items = Array.from({ length: 100_000 }, (_, i) => (i % 3 === 0 ? `'s${i}, x'` : i % 3 === 1 ? `[${i}, (${i},)]` : String(i)));
    const text = `[${items.join(', ')}]`;
    const node = parseRepr(text);
    assert.equal(node.kind, 'list');
    assert.equal(node.childCount, 100_000);
    const window = node.children(99_990, 10);
    assert.deepEqual(window.map((child) => child.name), Array.from({ length: 10 }, (_, i) => String(99_990 + i)));
    assert.deepEqual(window.map((child) => child.value), items.slice(99_990));
    assert.equal(window[1]?.node.kind, 'list');
    assert.deepEqual(window[1]?.node.children().map((child) => child.value), ['99991', '(99991,)']);
    assert.deepEqual(node.children(99_995, 50).length, 5, 'ranges are clamped');
  });

  test('nested levels are not parsed until expanded', () => {
    // Balanced brackets around garbage: the top level is a fine list; only expanding a child finds the garbage.
    const node = parseRepr('[[1 2 3], [4, 5]]');
    assert.equal(node.kind, 'list');
    assert.equal(node.childCount, 2);
    const [bad, good] = node.children();
    assert.deepEqual(bad?.node.children().map((child) => child.value), ['1 2 3']);
    assert.equal(bad?.node.children()[0]?.node.kind, 'object');
    assert.equal(good?.node.childCount, 2);
  });

  test('malformed text is an opaque atom', () => {
    for (const text of ['[1, 2', '[1, 2)', '{1: 2, 3}', "['a]", '[,]', '[1,,2]', '(1, 2))', '<function f', 'Point(x=1', '']) {
      const node = parseRepr(text);
      assert.equal(node.kind, 'object', text);
      assert.equal(node.childCount, 0, text);
      assert.equal(node.text, text.trim());
    }
  });

  test('random text and cut-offs never throw', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const alphabet = ['[', ']', '(', ')', '{', '}', '<', '>', "'", '"', '\\', ',', ':', '=', ' ', 'a', 'b', '1', '-', '.', 'j', 'x=', 'None', TRUNCATION_MARKER, '…'];
    const reprs = generate(40).map((item) => item.repr);
    for (let n = 0; n < 3000; n++) {
      let text = '';
      if (n % 2 === 0) {
        const length = Math.floor(random() * 40);
        for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      } else {
        const repr = reprs[n % reprs.length] ?? '';
        text = repr.slice(Math.floor(random() * 3), Math.floor(random() * (repr.length + 1)));
      }
      const node = parseRepr(text);
      expandAll(node);
      assert.equal(typeof reprKind(text), 'string');
    }
  });
});
