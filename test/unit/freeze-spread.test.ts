// No array is spread into a call anywhere in server/ (a spread passes every element as an argument, and a long array
// overflows the call stack), checked on the syntax tree; and the places that met huge inputs handle them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { longestLine } from '../../server/cli/common';
import { collectCompletion } from '../../server/endpoint/stream';
import type { CompletionStream, TokenChunk } from '../../server/endpoint/types';
import { code } from '../../server/lsp/line-values';
import { repoRoot } from '../helpers/paths';

type TypeScript = typeof import('typescript');

function sourceFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) for (const inner of sourceFiles(path)) found.push(inner);
    else if (name.endsWith('.ts')) found.push(path);
  }
  return found;
}

test('no source file under server/ spreads an array into a call', () => {
  // Loaded at run time from the repository (a computed path), not bundled into the test.
  const ts = createRequire(join(repoRoot, 'package.json'))('typescript') as TypeScript;
  const spreads: string[] = [];
  for (const file of sourceFiles(join(repoRoot, 'server'))) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: import('typescript').Node): void => {
      if (ts.isSpreadElement(node) && (ts.isCallExpression(node.parent) || ts.isNewExpression(node.parent))) {
        const { line } = source.getLineAndCharacterOfPosition(node.getStart());
        spreads.push(`${relative(repoRoot, file)}:${line + 1}: ${node.parent.getText().slice(0, 80)}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.deepEqual(spreads, [], 'use appendAll / maxOf (server/trace/arrays.ts) instead');
});

test('huge inputs where spreads used to be: a 300,000-line program, a value of 300,000 backtick runs, a 500,000-id chunk', async () => {
  assert.equal(longestLine('x\n'.repeat(300_000)), 1);
  assert.ok(code('`a'.repeat(300_000)).startsWith('``'));
  const ids = Array.from({ length: 500_000 }, (_, i) => i % 1000);
  const stream: CompletionStream = {
    result: Promise.resolve({ finishReason: 'length' }),
    async *[Symbol.asyncIterator](): AsyncIterator<TokenChunk> {
      yield { choice: 0, ids };
    },
  };
  const { choices } = await collectCompletion(stream);
  assert.equal(choices[0]!.length, 500_000);
});
