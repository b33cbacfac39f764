// The CWM source context of a trace that runs code from several files: the main program first, then each other traced
// file under a `# << FILE: name` header line, in a stable order; and the mapping between context lines and (file, line).
import { basename, dirname, relative, resolve, sep } from 'node:path';
import { START_OF_TRACE_MARKER, type EntryPoint, type TraceSourceFile } from '../trace/model';
import { ENTRY_MARKER_SUFFIX, definitionOn, isDecoratorLine, splitSourceLines } from './lines';

/**
 * The prompt context: `source` with `  # << START_OF_TRACE` appended to the entry function's `def` line,
 * unless that line already carries the marker. Script entries get no marker.
 *
 * Line terminators are normalized to `\n` (and a leading BOM dropped) in every case: that is the text CPython hands a
 * Python program reading the file (universal newlines), so it is what the reference tooling and the training data show
 * the model. Line contents, trailing whitespace included, are kept exactly; line numbers do not change.
 *
 * The def line is `entry.line` when it defines `entry.name`; a decorator line there leads to the def below it;
 * otherwise the `def entry.name` nearest at or after `entry.line` (else the first one in the file). No such line: no marker.
 */
export function markEntryLine(source: string, entry: EntryPoint): string {
  const lines = splitSourceLines(source);
  if (entry.kind === 'function') {
    // A method entry (`Class.method`) is marked on its own `def method` line, as the tracer names its frames.
    const index = entryDefIndex(lines, entry.name.split('.').pop()!, entry.line);
    if (index >= 0 && !lines[index].includes(START_OF_TRACE_MARKER)) lines[index] += ENTRY_MARKER_SUFFIX;
  }
  return lines.join('\n');
}

function entryDefIndex(lines: readonly string[], name: string, line: number): number {
  const defines = (i: number): boolean => {
    const def = i >= 0 && i < lines.length ? definitionOn(lines[i]) : undefined;
    return def !== undefined && def.kind === 'def' && def.name === name;
  };
  const at = line - 1;
  if (defines(at)) return at;
  if (at >= 0 && at < lines.length && isDecoratorLine(lines[at])) {
    for (let i = at + 1; i < lines.length && i < at + 50; i++) {
      if (defines(i)) return i;
      if (definitionOn(lines[i])) break;
    }
  }
  let first = -1;
  for (let i = 0; i < lines.length; i++) {
    if (!defines(i)) continue;
    if (i >= at) return i;
    if (first < 0) first = i;
  }
  return first;
}

/** The header line that starts another file's text in the context: this prefix, then the file's name. */
export const CONTEXT_FILE_HEADER = '# << FILE: ';

/** Where one other file's text sits in the context. */
export interface ContextFileSpan {
  /** Absolute path, as in `TraceFrame.file`. */
  readonly path: string;
  /** The name its header line shows: the path relative to the main file's folder, with `/` separators. */
  readonly name: string;
  /** Context line number (1-based) of the file's line 1; its header is the line before. */
  readonly firstLine: number;
  /** Number of physical lines of the file (a text ending with a newline has a last, empty one). */
  readonly lineCount: number;
}

/** A prompt context and where each file's lines are in it. The main file's line n is context line n. */
export interface ContextLayout {
  readonly text: string;
  readonly mainLineCount: number;
  readonly files: readonly ContextFileSpan[];
}

/** What a context is built from: a Trace has all of it. */
export interface ContextSources {
  readonly source: string;
  readonly entry: EntryPoint;
  /** The main file's absolute path; names of the other files are relative to its folder. */
  readonly path?: string;
  readonly files?: readonly TraceSourceFile[];
}

/** The name a file gets in its context header: relative to the main file's folder, `/`-separated. */
export function contextFileName(mainPath: string | undefined, path: string): string {
  // Without the main file's place, the bare file name: a prompt never shows where the user's files are.
  const name = mainPath !== undefined ? relative(dirname(resolve(mainPath)), path) : basename(path);
  return (name === '' ? basename(path) : name).split(sep).join('/');
}

/**
 * The other files in the order the context holds them: by header name (code-unit order), then by path. The order
 * depends only on the set of files, never on which one the program happened to call first, so a context built before
 * a run equals the one built after it.
 */
export function orderContextFiles<T extends TraceSourceFile>(mainPath: string | undefined, files: readonly T[]): T[] {
  const seen = new Set<string>();
  const unique = files.filter((file) => file.path !== mainPath && !seen.has(file.path) && (seen.add(file.path), true));
  const key = (file: T): string => contextFileName(mainPath, file.path);
  return unique.sort((a, b) => compareText(key(a), key(b)) || compareText(a.path, b.path));
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The context: the main program as markEntryLine gives it (marker added, line numbers unchanged), then for each other
 * file, in orderContextFiles' order, a header line `# << FILE: name` and the file's lines (normalized like the main
 * file's: `\n` line ends, no BOM). Every line is joined by `\n`, so a file ending with a newline is followed by an
 * empty line before the next header. A single-file trace's context is exactly markEntryLine's.
 */
export function buildContext(sources: ContextSources): ContextLayout {
  const lines = splitSourceLines(markEntryLine(sources.source, sources.entry));
  const mainLineCount = lines.length;
  const spans: ContextFileSpan[] = [];
  for (const file of orderContextFiles(sources.path, sources.files ?? [])) {
    const name = contextFileName(sources.path, file.path);
    lines.push(CONTEXT_FILE_HEADER + name);
    const fileLines = splitSourceLines(file.source);
    spans.push({ path: file.path, name, firstLine: lines.length + 1, lineCount: fileLines.length });
    for (const line of fileLines) lines.push(line);
  }
  return { text: lines.join('\n'), mainLineCount, files: spans };
}

/** The context text alone (what the prompt holds). */
export function traceContext(sources: ContextSources): string {
  return buildContext(sources).text;
}

/** Context line number of line `line` of `file` (absent: the main file); 0 when the file is not in the context. */
export function contextLineOf(layout: ContextLayout, file: string | undefined, line: number): number {
  if (line <= 0) return 0;
  if (file === undefined) return line;
  const span = layout.files.find((f) => f.path === file);
  return span !== undefined && line <= span.lineCount ? span.firstLine + line - 1 : 0;
}

/** Which file and line a context line is: `file` absent for the main file; undefined for a header line or out of range. */
export function locateContextLine(layout: ContextLayout, n: number): { readonly file?: string; readonly line: number } | undefined {
  if (n <= 0) return undefined;
  if (n <= layout.mainLineCount || layout.files.length === 0) return { line: n };
  for (let k = layout.files.length - 1; k >= 0; k--) {
    const span = layout.files[k]!;
    if (n >= span.firstLine) return n < span.firstLine + span.lineCount ? { file: span.path, line: n - span.firstLine + 1 } : undefined;
  }
  return undefined;
}

/**
 * The layout of a context read back (a saved `.cwmtrace`): the header lines `# << FILE: name` split it into the main
 * file and the others, whose paths are `name` resolved against the main file's folder. Undefined without any header.
 * (A program whose own text holds such a line is split there too: the format has no escape for it.)
 */
export function parseContextLayout(context: string, mainPath: string): { layout: ContextLayout; mainText: string; files: TraceSourceFile[] } | undefined {
  const lines = splitSourceLines(context);
  const headers: number[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith(CONTEXT_FILE_HEADER) && line.length > CONTEXT_FILE_HEADER.length) headers.push(i);
  });
  if (headers.length === 0) return undefined;
  const folder = dirname(resolve(mainPath));
  const spans: ContextFileSpan[] = [];
  const files: TraceSourceFile[] = [];
  headers.forEach((header, k) => {
    const name = lines[header]!.slice(CONTEXT_FILE_HEADER.length);
    const end = k + 1 < headers.length ? headers[k + 1]! : lines.length;
    const path = resolve(folder, name);
    spans.push({ path, name, firstLine: header + 2, lineCount: end - header - 1 });
    files.push({ path, source: lines.slice(header + 1, end).join('\n') });
  });
  return { layout: { text: context, mainLineCount: headers[0]!, files: spans }, mainText: lines.slice(0, headers[0]).join('\n'), files };
}
