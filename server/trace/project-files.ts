// The modules of a program's own project that it imports, found from its import statements without running anything,
// so a prediction alone (predict mode) shows the model their source too, as a real run's trace would.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import type { TraceSourceFile } from './model';

/** At most this many files are added; a project importing more is cut there (the rest is left out of the context). */
const MAX_FILES = 32;
/** The tracer's limit too: a bigger module is not traced, so it is not shown either. */
const MAX_FILE_BYTES = 1_000_000;

const FROM_IMPORT = /^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\(?([^#)]*)/;
const PLAIN_IMPORT = /^[ \t]*import[ \t]+([^#]*)/;

/**
 * The Python files in the program's folder or below it that the program imports, directly or through them, in the
 * order found (the context orders them itself). Follows `import a.b`, `from a import b` (module or submodule),
 * relative imports and package `__init__.py` files; never leaves the program's folder nor enters a `site-packages`
 * or `dist-packages` folder, as the tracer does. Unreadable files are skipped; never throws.
 */
export function importedProjectFiles(programPath: string, programSource: string): TraceSourceFile[] {
  const program = resolve(programPath);
  const root = dirname(program);
  const found: TraceSourceFile[] = [];
  const seen = new Set<string>([program]);
  const queue: { path: string; source: string }[] = [{ path: program, source: programSource }];
  while (queue.length > 0 && found.length < MAX_FILES) {
    const { path, source } = queue.shift()!;
    for (const candidate of importedCandidates(path, source, root)) {
      if (seen.has(candidate) || found.length >= MAX_FILES) continue;
      seen.add(candidate);
      const text = readProjectFile(candidate, root);
      if (text === undefined) continue;
      found.push({ path: candidate, source: text });
      queue.push({ path: candidate, source: text });
    }
  }
  return found;
}

/** Files an import statement of `path` may load: each module's `name.py` or `name/__init__.py`, packages' inits first. */
function importedCandidates(path: string, source: string, root: string): string[] {
  const candidates: string[] = [];
  const addModule = (base: string, dotted: string): void => {
    const parts = dotted.split('.').filter((part) => part !== '');
    for (let k = 1; k <= parts.length; k++) {
      const stem = parts.slice(0, k).reduce((path, part) => join(path, part), base);
      if (k < parts.length) candidates.push(join(stem, '__init__.py'));
      else candidates.push(`${stem}.py`, join(stem, '__init__.py'));
    }
  };
  for (const line of source.split(/\r\n|\r|\n/)) {
    const from = FROM_IMPORT.exec(line);
    if (from) {
      const [, dots = '', module = '', names = ''] = from;
      let base = root;
      if (dots.length > 0) {
        base = dirname(path);
        for (let up = 1; up < dots.length; up++) base = dirname(base);
      }
      if (module !== '') addModule(base, module);
      // `from pkg import sub` may load the submodule pkg/sub.py.
      for (const name of names.split(',').map((n) => n.trim().split(/\s+/)[0] ?? '').filter((n) => /^\w+$/.test(n))) {
        addModule(base, module === '' ? name : `${module}.${name}`);
      }
      continue;
    }
    const plain = PLAIN_IMPORT.exec(line);
    if (plain) {
      for (const item of plain[1]!.split(',')) {
        const dotted = item.trim().split(/\s+/)[0] ?? '';
        if (/^[\w.]+$/.test(dotted)) addModule(root, dotted);
      }
    }
  }
  return candidates;
}

function readProjectFile(path: string, root: string): string | undefined {
  const inside = relative(root, path);
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return undefined;
  if (inside.split(sep).some((part) => part === 'site-packages' || part === 'dist-packages')) return undefined;
  try {
    const stat = statSync(path);
    if (!stat.isFile() || stat.size > MAX_FILE_BYTES) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
