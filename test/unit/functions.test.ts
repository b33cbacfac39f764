// Tests for finding the function under the cursor from the program text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { enclosingFunction } from '../../server/trace/functions';
import { examplesDir } from '../helpers/paths';

const source = [
  'import math',            // 1
  '',                       // 2
  'def outer(x):',          // 3
  '    def inner(y):',      // 4
  '        return y + 1',   // 5
  '    total = inner(x)',   // 6
  '',                       // 7
  '    return total',       // 8
  '',                       // 9
  'class Box:',             // 10
  '    size = 3',           // 11
  '    def grow(self, n):', // 12
  '        # comment',      // 13
  '        self.size += n', // 14
  '',                       // 15
  'async def later():',     // 16
  '    pass',               // 17
  'print(outer(2))',        // 18
].join('\n');

test('a line in a function body gives that function', () => {
  assert.deepEqual(enclosingFunction(source, 6), { entry: 'outer', line: 3, isAsync: false });
  assert.deepEqual(enclosingFunction(source, 8), { entry: 'outer', line: 3, isAsync: false });
  assert.deepEqual(enclosingFunction(source, 3), { entry: 'outer', line: 3, isAsync: false });
});

test('a nested function resolves to the module-level function that holds it', () => {
  assert.equal(enclosingFunction(source, 5)?.entry, 'outer');
});

test('a method is named Class.method; a class body line outside a method is no function', () => {
  assert.deepEqual(enclosingFunction(source, 14), { entry: 'Box.grow', line: 12, isAsync: false });
  assert.equal(enclosingFunction(source, 13)?.entry, 'Box.grow');
  assert.equal(enclosingFunction(source, 11), undefined);
});

test('module-level code and out-of-range lines are no function; async defs say so', () => {
  assert.equal(enclosingFunction(source, 1), undefined);
  assert.equal(enclosingFunction(source, 18), undefined);
  assert.equal(enclosingFunction(source, 99), undefined);
  assert.deepEqual(enclosingFunction(source, 17), { entry: 'later', line: 16, isAsync: true });
});

test('the bundled example: every line of its marked function resolves to it', () => {
  const text = readFileSync(join(examplesDir, 'inventory.py'), 'utf8');
  const lines = text.split('\n');
  const defLine = lines.findIndex((line) => line.includes('START_OF_TRACE')) + 1;
  assert.ok(defLine > 0);
  const name = /def\s+(\w+)/.exec(lines[defLine - 1]!)![1];
  assert.equal(enclosingFunction(text, defLine + 1)?.entry, name);
});
