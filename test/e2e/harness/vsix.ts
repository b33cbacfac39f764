// The extension package the end-to-end suite installs: cwm-debug.vsix in the repo root, rebuilt with `npm run package`
// when it is missing or older than dist/extension.js (so a suite run never tests a stale package).

import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths';

export const VSIX_PATH = join(repoRoot, 'cwm-debug.vsix');
const EXTENSION_BUNDLE = join(repoRoot, 'dist', 'extension.js');

/** Why the .vsix must be rebuilt, or undefined when the one in the repo root is current. */
export function vsixStaleness(): string | undefined {
  if (!existsSync(VSIX_PATH)) return `${VSIX_PATH} does not exist`;
  if (!existsSync(EXTENSION_BUNDLE)) return `${EXTENSION_BUNDLE} does not exist`;
  if (statSync(VSIX_PATH).mtimeMs <= statSync(EXTENSION_BUNDLE).mtimeMs) return `${VSIX_PATH} is older than ${EXTENSION_BUNDLE}`;
  return undefined;
}

/** Returns the path of a current .vsix, running `npm run package` first when needed (throws with its output on failure). */
export function ensureVsix(log: (line: string) => void = () => undefined): string {
  const reason = vsixStaleness();
  if (reason === undefined) return VSIX_PATH;
  log(`Packaging the extension (npm run package): ${reason}`);
  const result = spawnSync('npm', ['run', 'package'], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 });
  if (result.status !== 0 || !existsSync(VSIX_PATH)) {
    throw new Error(`npm run package failed (status ${result.status}, ${result.error?.message ?? 'no spawn error'}):\n${result.stdout ?? ''}${result.stderr ?? ''}`);
  }
  return VSIX_PATH;
}
