// Tests for choosing the function to trace from the cursor (F5 without a launch.json), from the program text alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { entryAt, findFunctions } from '../../server/trace/functions';
import { examplesDir } from '../helpers/paths';

const source = [
  'import math',            // 0
  '',                       // 1
  'def outer(x):',          // 2
  '    def inner(y):',      // 3
  '        return y + 1',   // 4
  '    total = inner(x)',   // 5
  '',                       // 6
  '    return total',       // 7
  '',                       // 8
  'class Box:',             // 9
  '    size = 3',           // 10
  '    def grow(self, n):', // 11
  '        # comment',      // 12
  '        self.size += n', // 13
  '',                       // 14
  'async def later():',     // 15
  '    pass',               // 16
  'print(outer(2))',        // 17
].join('\n');
const functions = findFunctions(source);

test('a line in a function body, or its def line, gives that function', () => {
  for (const line of [2, 5, 7]) assert.equal(entryAt(functions, line)?.name, 'outer', `line ${line}`);
});

test('a line in a nested function gives the traceable function that holds it', () => {
  assert.equal(entryAt(functions, 4)?.name, 'outer');
  assert.equal(entryAt(functions, 4)?.unsupported, undefined);
});

test('a method is Class.method; a class body line outside methods and module code give none', () => {
  assert.equal(entryAt(functions, 13)?.name, 'Box.grow');
  assert.equal(entryAt(functions, 12)?.name, 'Box.grow');
  assert.equal(entryAt(functions, 10), undefined);
  assert.equal(entryAt(functions, 0), undefined);
  assert.equal(entryAt(functions, 17), undefined);
});

test('an async function is found but says why it cannot be traced', () => {
  const found = entryAt(functions, 16);
  assert.equal(found?.name, 'later');
  assert.match(found?.unsupported ?? '', /async/);
});

test('the bundled example: a line of its marked function resolves to it', () => {
  const text = readFileSync(join(examplesDir, 'inventory.py'), 'utf8');
  const lines = text.split('\n');
  const defLine = lines.findIndex((line) => line.includes('START_OF_TRACE'));
  assert.ok(defLine >= 0);
  const name = /def\s+(\w+)/.exec(lines[defLine]!)![1];
  assert.equal(entryAt(findFunctions(text), defLine + 1)?.name, name);
});
