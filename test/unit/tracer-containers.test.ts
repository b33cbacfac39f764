// Long containers in the tracer: the prefix built by C gives exactly the item-by-item text, and a long container
// whose shown items did not change is not re-read, yet every change to what it shows is seen, under every Python.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TRUNCATION_MARKER } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { repoRoot } from '../helpers/paths';
import { availablePythons } from '../helpers/pythons';

const tracerDir = join(repoRoot, 'server', 'tracer');
const dir = mkdtempSync(join(tmpdir(), 'cwm-containers-'));

/** Random long containers of every builtin kind (atoms, strings with quotes and addresses, big ints, nested
 * containers, objects with a repr of their own, a repr that raises): the C-built text must equal the item-by-item one. */
const COMPARE = String.raw`
import random, sys
from collections import deque
sys.path.insert(0, sys.argv[1])
import cwm_tracer as T
def item_by_item(v):
    saved = T._c_prefix_repr
    T._c_prefix_repr = lambda v, t: None
    try:
        return T._srepr(v)
    finally:
        T._c_prefix_repr = saved
class Odd:
    def __repr__(self):
        return 'Odd at 0x%x' % id(self)
class Bad:
    def __repr__(self):
        raise ValueError('no')
rnd = random.Random(7)
def atom(depth=0):
    c = rnd.randrange(12 if depth < 2 else 6)
    if c == 0: return rnd.randrange(-10 ** 6, 10 ** 6)
    if c == 1: return rnd.random()
    if c == 2: return rnd.choice([True, False, None, 1j])
    if c == 3: return ''.join(rnd.choice('ab\'"\n\\\u00e9 at 0x1f') for _ in range(rnd.randrange(0, 40)))
    if c == 4: return bytes(rnd.randrange(256) for _ in range(rnd.randrange(5)))
    if c == 5: return 10 ** rnd.randrange(1, 80)
    if c == 6: return tuple(atom(depth + 1) for _ in range(rnd.randrange(3)))
    if c == 7: return [atom(depth + 1) for _ in range(rnd.randrange(3))]
    if c == 8: return {rnd.randrange(10): atom(depth + 1) for _ in range(rnd.randrange(3))}
    if c == 9: return 'x' * rnd.randrange(0, 300)
    if c == 10: return Odd() if rnd.random() < 0.9 else Bad()
    return list(range(rnd.randrange(0, 400)))
checked = 0
for limit in (1, 2, 5, 17, 50, 200, 2000):
    T._LIM = limit
    T._BIGI = 10 ** (max(1, min(limit, 4000)) - 1)
    T._NBIGI = -T._BIGI
    for trial in range(150):
        size = rnd.randrange(limit // 3 + 1, limit + 60)
        kind = rnd.randrange(6)
        plain = rnd.random() < 0.5
        items = [rnd.randrange(-10 ** 9, 10 ** 9) if plain else atom() for _ in range(size)]
        hashable = [x for x in items if isinstance(x, (int, float, str, bytes, bool, type(None), complex))]
        v = [items, tuple(items), set(hashable), frozenset(hashable), deque(items),
             {rnd.randrange(10 ** 6): x for x in items}][kind]
        fast, slow = T._srepr(v), item_by_item(v)
        if fast != slow:
            print('differ (limit %d, %s): %r / %r' % (limit, type(v).__name__, fast[:300], slow[:300]))
            sys.exit(1)
        checked += 1
print(checked)
`;

const GROWING = [
  'def grow(n):',
  '    items = []',
  '    table = {}',
  '    for i in range(n):',
  '        items.append(i)',
  '        table[i] = i',
  '    items[3] = -3',
  '    table[2] = "two"',
  '    items.insert(0, "first")',
  '    del table[0]',
  '    items.clear()',
  '    return len(table)',
  '',
].join('\n');

const pythons = availablePythons();

for (const { version, path: python } of pythons) {
  describe(`long containers under Python ${version}`, () => {
    test('the text built by C from a prefix equals the item-by-item text for random long containers', () => {
      const checked = execFileSync(python, ['-c', COMPARE, tracerDir], { encoding: 'utf8', timeout: 120_000 }).trim();
      assert.equal(checked, String(7 * 150));
    });

    test('a long list and dict: unchanged prefixes are kept, every change to the shown items appears', async () => {
      const file = join(dir, 'grow.py');
      writeFileSync(file, GROWING);
      const limit = 40;
      const trace = await recordTrace({ python, file, entry: 'grow', args: '30', limits: { maxReprLength: limit } });
      const byLine = (line: number, name: string): string | undefined => trace.frames.filter((f) => f.event === 'line' && f.line === line).at(-1)?.locals.get(name);
      const cut = (text: string): string => (text.length > limit ? text.slice(0, limit) + TRUNCATION_MARKER : text);
      const list = Array.from({ length: 30 }, (_, i) => i);
      // Line 7 runs after the loop; line 8 after items[3] = -3, and so on.
      assert.equal(byLine(7, 'items'), cut(`[${list.join(', ')}]`));
      assert.equal(byLine(8, 'items'), cut(`[${list.map((i) => (i === 3 ? -3 : i)).join(', ')}]`));
      assert.equal(byLine(9, 'table'), cut(`{${list.map((i) => `${i}: ${i === 2 ? "'two'" : i}`).join(', ')}}`));
      assert.equal(byLine(10, 'items'), cut(`['first', ${list.map((i) => (i === 3 ? -3 : i)).join(', ')}]`));
      assert.equal(byLine(11, 'table'), cut(`{${list.slice(1).map((i) => `${i}: ${i === 2 ? "'two'" : i}`).join(', ')}}`));
      assert.equal(byLine(12, 'items'), '[]');
      // Every line of the loop shows the list as it then was.
      const loopFrames = trace.frames.filter((f) => f.event === 'line' && f.line === 6);
      loopFrames.forEach((frame, i) => assert.equal(frame.locals.get('items'), cut(`[${list.slice(0, i + 1).join(', ')}]`), `iteration ${i}`));
    });
  });
}
