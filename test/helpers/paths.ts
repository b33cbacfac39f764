// Locates the repository root and its shipped files from compiled tests (out/test/...).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRepoRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package.json not found above ${start}`);
    dir = parent;
  }
  return dir;
}

export const repoRoot = findRepoRoot(__dirname);
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
export const examplesDir = join(repoRoot, 'examples');
export const tracerScript = join(repoRoot, 'server', 'tracer', 'cwm_tracer.py');
