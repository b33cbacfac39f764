// Finds the Python interpreters 3.8–3.13 on this machine (pyenv versions, then pythonX.Y on PATH), so suites can run
// under each and skip, with a message, the ones that are absent.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const SUPPORTED_PYTHONS = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13'] as const;

export interface PythonInterpreter {
  readonly version: string;
  readonly path: string;
}

let cached: PythonInterpreter[] | undefined;

function versionOf(path: string): string | undefined {
  try {
    return execFileSync(path, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

export function availablePythons(): PythonInterpreter[] {
  if (cached) return cached;
  const found = new Map<string, string>();
  const pyenvRoot = process.env.PYENV_ROOT ?? '/root/.pyenv';
  const versionsDir = join(pyenvRoot, 'versions');
  if (existsSync(versionsDir)) {
    for (const name of readdirSync(versionsDir).sort()) {
      const minor = /^(3\.\d+)\.\d+$/.exec(name)?.[1];
      const path = join(versionsDir, name, 'bin', 'python');
      if (minor && (SUPPORTED_PYTHONS as readonly string[]).includes(minor) && !found.has(minor) && existsSync(path)) found.set(minor, path);
    }
  }
  for (const minor of SUPPORTED_PYTHONS) {
    if (found.has(minor)) continue;
    const version = versionOf(`python${minor}`);
    if (version === minor) found.set(minor, `python${minor}`);
  }
  cached = SUPPORTED_PYTHONS.filter((v) => found.has(v)).map((version) => ({ version, path: found.get(version)! }));
  return cached;
}

/** The supported versions that are not installed, for skip messages. */
export function missingPythons(): string[] {
  const present = new Set(availablePythons().map((p) => p.version));
  return SUPPORTED_PYTHONS.filter((v) => !present.has(v));
}
