// Evaluation corpora: a JSON Lines file in CRUXEval's format (code, input, output, id; the entry is always `f`) or a
// folder of .py files whose entry def carries the START_OF_TRACE marker. Loaded, hashed and subset deterministically.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { findEntryPoint } from '../trace/entry';
import { appendAll } from '../trace/arrays';

export interface CorpusItem {
  /** Stable name: the JSON Lines `id`, or the file's path relative to the folder (with `/`). */
  readonly id: string;
  /** Position in the whole corpus, 0-based. */
  readonly index: number;
  readonly code: string;
  /** Entry function to call (`f` for CRUXEval); absent: the def marked `# << START_OF_TRACE`. */
  readonly entry?: string;
  /** Python argument list for the entry, e.g. `[1, 2], 'a'`. */
  readonly args?: string;
  /** The corpus's expected return value (a Python literal), when it gives one. */
  readonly expectedOutput?: string;
  /** Folder corpora: the program's own file, traced in place so that its imports resolve. */
  readonly file?: string;
}

export interface Corpus {
  /** Absolute path of the file or folder. */
  readonly path: string;
  readonly kind: 'jsonl' | 'folder';
  /** sha256 of the corpus content (for a folder: of every file's relative path and text, in path order). */
  readonly hash: string;
  readonly items: readonly CorpusItem[];
  /** Folder corpora: .py files left out because no def carries the marker. */
  readonly skipped: readonly string[];
}

/** The corpus cannot be used; the message says why and what to do. */
export class CorpusError extends Error {}

const JsonlItem = z.object({ code: z.string(), input: z.string(), output: z.string().optional(), id: z.union([z.string(), z.number()]) });

/** Folders never searched for programs: tool output, caches, environments. */
const IGNORED_FOLDERS = new Set(['__pycache__', 'node_modules', 'site-packages', 'venv', 'env']);

export function loadCorpus(path: string): Corpus {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new CorpusError(`Corpus not found: ${path}. Give a .jsonl file (CRUXEval format) or a folder of .py files.`);
  return statSync(absolute).isDirectory() ? loadFolder(absolute) : loadJsonl(absolute);
}

function loadJsonl(path: string): Corpus {
  const text = readFileSync(path, 'utf8');
  const items: CorpusItem[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((line, lineIndex) => {
    if (line.trim() === '') return;
    let parsed: z.infer<typeof JsonlItem>;
    try {
      parsed = JsonlItem.parse(JSON.parse(line));
    } catch (error) {
      const why = error instanceof z.ZodError ? 'it needs string fields code and input, and an id' : 'it is not valid JSON';
      throw new CorpusError(`Line ${lineIndex + 1} of ${basename(path)} is not a corpus item: ${why}.`);
    }
    const id = String(parsed.id);
    if (seen.has(id)) throw new CorpusError(`The id "${id}" occurs twice in ${basename(path)}; ids must be unique so that runs can resume.`);
    seen.add(id);
    items.push({ id, index: items.length, code: parsed.code, entry: 'f', args: parsed.input, expectedOutput: parsed.output });
  });
  if (items.length === 0) throw new CorpusError(`${basename(path)} holds no corpus items.`);
  return { path, kind: 'jsonl', hash: sha256(text), items, skipped: [] };
}

function listPythonFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stats = statSync(path);
    if (stats.isDirectory()) {
      if (!name.startsWith('.') && !IGNORED_FOLDERS.has(name)) appendAll(found, listPythonFiles(path));
    } else if (name.endsWith('.py')) {
      found.push(path);
    }
  }
  return found;
}

function loadFolder(dir: string): Corpus {
  const hash = createHash('sha256');
  const items: CorpusItem[] = [];
  const skipped: string[] = [];
  for (const file of listPythonFiles(dir)) {
    const id = relative(dir, file).split(sep).join('/');
    const code = readFileSync(file, 'utf8');
    hash.update(`${id}\0${code}\0`);
    if (findEntryPoint(code).kind === 'function') items.push({ id, index: items.length, code, file });
    else skipped.push(id);
  }
  if (items.length === 0) {
    throw new CorpusError(`No program in ${dir} marks its entry: add "# << START_OF_TRACE" to the def line of the function to evaluate.`);
  }
  return { path: dir, kind: 'folder', hash: hash.digest('hex'), items, skipped };
}

/** `limit` items spread evenly over the corpus (every k-th), the same ones on every run; all of them without a limit. */
export function selectItems(items: readonly CorpusItem[], limit?: number): CorpusItem[] {
  if (limit === undefined || limit >= items.length) return [...items];
  const picked: CorpusItem[] = [];
  for (let k = 0; k < limit; k++) picked.push(items[Math.floor((k * items.length) / limit)]!);
  return picked;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
