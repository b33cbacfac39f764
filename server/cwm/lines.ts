// Physical-line helpers shared by the CWM writer and reader: splitting a program the way CPython numbers its lines,
// and mapping a LINE predicted by the model back to a line number of the prompt's context.
import { START_OF_TRACE_MARKER } from '../trace/model';

/** What markEntryLine appends to the entry `def` line: two spaces, then the marker. */
export const ENTRY_MARKER_SUFFIX = `  ${START_OF_TRACE_MARKER}`;

/**
 * Physical lines, without terminators. CPython (universal newlines) and VS Code both end a line at `\r\n`, `\r` or `\n`,
 * so line numbers agree with theirs; a leading UTF-8 BOM is not part of line 1 (CPython's tokenizer and linecache drop it).
 * A text ending with a terminator yields a last, empty element.
 */
export function splitSourceLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.split(/\r\n|\r|\n/);
}

/** The text the line matcher compares: trailing whitespace and a trailing START_OF_TRACE marker removed. */
export function stripLineForMatch(line: string): string {
  let text = line.trimEnd();
  if (text.endsWith(START_OF_TRACE_MARKER)) text = text.slice(0, text.length - START_OF_TRACE_MARKER.length).trimEnd();
  return text;
}

/** A context line as the program had it: only the suffix markEntryLine adds is removed (a marker the file wrote itself stays). */
export function unmarkLine(line: string): string {
  return line.endsWith(ENTRY_MARKER_SUFFIX) ? line.slice(0, line.length - ENTRY_MARKER_SUFFIX.length) : line;
}

const DEF_PATTERN = /^([ \t\f]*)(?:async[ \t]+)?def[ \t]+([\p{ID_Start}_][\p{ID_Continue}]*)/u;
const CLASS_PATTERN = /^([ \t\f]*)class[ \t]+([\p{ID_Start}_][\p{ID_Continue}]*)/u;
const DECORATOR_PATTERN = /^[ \t\f]*@/;
const LAMBDA_PATTERN = /(?:^|[^\p{ID_Continue}])lambda(?:[^\p{ID_Continue}]|$)/u;

export interface Definition {
  readonly kind: 'def' | 'class';
  readonly name: string;
  readonly indent: number;
}

/** The function or class a `def`/`class` line defines, if the line is one. */
export function definitionOn(line: string): Definition | undefined {
  const def = DEF_PATTERN.exec(line);
  if (def) return { kind: 'def', name: def[2], indent: indentWidth(def[1]) };
  const cls = CLASS_PATTERN.exec(line);
  if (cls) return { kind: 'class', name: cls[2], indent: indentWidth(cls[1]) };
  return undefined;
}

export function isDecoratorLine(line: string): boolean {
  return DECORATOR_PATTERN.test(line);
}

export function mentionsLambda(line: string): boolean {
  return LAMBDA_PATTERN.test(line);
}

/** Indentation width of a line's leading whitespace (a tab counts as reaching the next multiple of 8, as CPython does). */
export function indentWidth(prefix: string): number {
  let width = 0;
  for (const ch of prefix) {
    if (ch === ' ') width++;
    else if (ch === '\t') width = (Math.floor(width / 8) + 1) * 8;
    else if (ch === '\f') width = 0;
    else break;
  }
  return width;
}

function leadingWhitespace(line: string): string {
  const match = /^[ \t\f]*/.exec(line);
  return match ? match[0] : '';
}

function isBlankOrComment(line: string): boolean {
  const text = line.trim();
  return text === '' || text.startsWith('#');
}

export type ComprehensionName = '<listcomp>' | '<dictcomp>' | '<setcomp>' | '<genexpr>';

/**
 * Which comprehension starts in these lines: the bracket enclosing the first `for` keyword decides
 * (`[` list, `(` generator, `{` dict when a `:` precedes the `for` at that bracket's level, else set).
 * Strings are skipped; the scan stops once the bracket that was open at the start of the scan closes.
 */
export function comprehensionKind(lines: readonly string[]): ComprehensionName | undefined {
  const stack: { bracket: string; colon: boolean }[] = [];
  for (const line of lines) {
    let i = 0;
    while (i < line.length) {
      const ch = line[i];
      if (ch === '#') break;
      if (ch === '"' || ch === "'") {
        i = skipStringLiteral(line, i);
        continue;
      }
      if (ch === '[' || ch === '(' || ch === '{') stack.push({ bracket: ch, colon: false });
      else if (ch === ']' || ch === ')' || ch === '}') {
        stack.pop();
      } else if (ch === ':' && stack.length > 0) stack[stack.length - 1].colon = true;
      else if (ch === 'f' && stack.length > 0 && line.startsWith('for', i) && isWordBoundary(line, i, 3)) {
        const top = stack[stack.length - 1];
        if (top.bracket === '[') return '<listcomp>';
        if (top.bracket === '(') return '<genexpr>';
        return top.colon ? '<dictcomp>' : '<setcomp>';
      }
      i++;
    }
  }
  return undefined;
}

function isWordBoundary(line: string, start: number, length: number): boolean {
  const before = start > 0 ? line[start - 1] : ' ';
  const after = start + length < line.length ? line[start + length] : ' ';
  return !/[\p{ID_Continue}]/u.test(before) && !/[\p{ID_Continue}]/u.test(after);
}

/** Index just past the string literal starting at `start` (a quote), or the line's end when it is not closed there. */
function skipStringLiteral(line: string, start: number): number {
  const quote = line[start];
  const triple = line.startsWith(quote.repeat(3), start);
  const closing = triple ? quote.repeat(3) : quote;
  let i = start + closing.length;
  while (i < line.length) {
    if (line[i] === '\\') {
      i += 2;
      continue;
    }
    if (line.startsWith(closing, i)) return i + closing.length;
    i++;
  }
  return line.length;
}

/** Parameter names of the `def` starting on line index `defIndex` (may span lines), `*`/`**` stripped. */
function parameterNames(lines: readonly string[], defIndex: number): string[] {
  const names: string[] = [];
  let depth = 0;
  let current = '';
  let started = false;
  const flush = (): void => {
    const name = /^\s*\*{0,2}\s*([\p{ID_Start}_][\p{ID_Continue}]*)/u.exec(current);
    if (name) names.push(name[1]);
    current = '';
  };
  for (let n = defIndex; n < lines.length && n < defIndex + 50; n++) {
    const line = lines[n];
    let i = n === defIndex ? line.indexOf('(') : 0;
    if (i < 0) return names;
    for (; i < line.length; i++) {
      const ch = line[i];
      if (ch === '"' || ch === "'") {
        const end = skipStringLiteral(line, i);
        if (depth === 1) current += line.slice(i, end);
        i = end - 1;
        continue;
      }
      if (ch === '#') break;
      if (ch === '(' || ch === '[' || ch === '{') {
        depth++;
        if (depth === 1 && !started) {
          started = true;
          continue;
        }
      } else if (ch === ')' || ch === ']' || ch === '}') {
        depth--;
        if (depth === 0) {
          flush();
          return names;
        }
      } else if (ch === ',' && depth === 1) {
        flush();
        continue;
      }
      if (depth === 1) current += ch;
    }
  }
  flush();
  return names;
}

const MAX_JUDGED_CANDIDATES = 64;

export interface LineMatch {
  /** 1-based line number in the context, 0 when not found. */
  readonly line: number;
  /** `exact` on the stripped text, `loose` ignoring all whitespace, `none`. */
  readonly quality: 'exact' | 'loose' | 'none';
}

export interface LineHints {
  /** The previous frame's line in the same function: candidates at or after it are preferred, nearest first. */
  readonly after?: number;
  /** Inclusive line range of the function the frame runs in: candidates inside it are preferred. */
  readonly within?: readonly [number, number];
  /** For call frames: the names of the new frame's locals, matched against each candidate's parameters. */
  readonly parameters?: readonly string[];
  /** For call frames: a line number to take when it is a candidate (the entry's def line). */
  readonly preferLine?: number;
  /** For call frames: text (the caller's line, the first argument's repr) in which the right method's class is likely named. */
  readonly mentions?: string;
  /** For frames continuing a scope: its previous line; candidates that can plausibly run right after it are preferred. */
  readonly previous?: number;
}

/** The context's lines, indexed for the reader's tolerant line mapping and the writer's LINE lookup. */
export class SourceLineIndex {
  readonly lines: readonly string[];
  private readonly originalLines: readonly string[] | undefined;
  private exact: Map<string, number[]> | undefined;
  private loose: Map<string, number[]> | undefined;
  private readonly enclosingCache = new Map<number, number>();
  private readonly blockEndCache = new Map<number, number>();

  /**
   * @param context the prompt's source context (marker included)
   * @param source the program text without the marker; when given (and line-aligned), sourceLine comes from it exactly
   */
  constructor(context: string, source?: string) {
    this.lines = splitSourceLines(context);
    const original = source === undefined ? undefined : splitSourceLines(source);
    this.originalLines = original && original.length === this.lines.length ? original : undefined;
  }

  get lineCount(): number {
    return this.lines.length;
  }

  /** The context's physical line `n` (1-based), marker included; undefined out of range. */
  contextLine(n: number): string | undefined {
    return n >= 1 && n <= this.lines.length ? this.lines[n - 1] : undefined;
  }

  /** The program's physical line `n`: the original source's when known, else the context line without an added marker. */
  sourceLine(n: number): string | undefined {
    if (n < 1 || n > this.lines.length) return undefined;
    return this.originalLines ? this.originalLines[n - 1] : unmarkLine(this.lines[n - 1]);
  }

  /** Maps a LINE's text to a line number: exact on stripped text, then whitespace-insensitive, preferring candidates per `hints`. */
  find(lineText: string, hints: LineHints = {}): LineMatch {
    const stripped = stripLineForMatch(lineText);
    if (stripped === '') return { line: 0, quality: 'none' };
    if (lineText.includes(START_OF_TRACE_MARKER)) {
      // The marker singles out the entry's def line among lines that differ only by it.
      const marked = lineText.trimEnd();
      const hits = this.exactIndex().get(stripped)?.filter((n) => this.lines[n - 1].trimEnd() === marked);
      if (hits && hits.length > 0) return { line: this.choose(hits, hints), quality: 'exact' };
    }
    const exact = this.exactIndex().get(stripped);
    if (exact) return { line: this.choose(exact, hints), quality: 'exact' };
    const loose = this.looseIndex().get(removeWhitespace(stripped));
    if (loose) return { line: this.choose(loose, hints), quality: 'loose' };
    return { line: 0, quality: 'none' };
  }

  /** The `def`/`class` whose body holds line `n` (1-based line of that definition, 0 at module level). */
  enclosingDefinitionLine(n: number): number {
    const cached = this.enclosingCache.get(n);
    if (cached !== undefined) return cached;
    let result = 0;
    const line = this.contextLine(n);
    if (line !== undefined) {
      let indent = isBlankOrComment(line) ? Infinity : indentWidth(leadingWhitespace(line));
      for (let k = n - 1; k >= 1 && indent > 0; k--) {
        const candidate = this.lines[k - 1];
        if (isBlankOrComment(candidate)) continue;
        const width = indentWidth(leadingWhitespace(candidate));
        if (width >= indent) continue;
        if (definitionOn(candidate)) {
          result = k;
          break;
        }
        indent = width;
      }
    }
    this.enclosingCache.set(n, result);
    return result;
  }

  /** The definition a call event on line `n` enters: `n` itself when it defines, the next definition below decorators. */
  definitionForCall(n: number): number {
    const line = this.contextLine(n);
    if (line === undefined) return 0;
    if (definitionOn(line)) return n;
    if (isDecoratorLine(line)) {
      const indent = indentWidth(leadingWhitespace(line));
      for (let k = n + 1; k <= this.lines.length && k < n + 50; k++) {
        const next = this.lines[k - 1];
        if (definitionOn(next)) return k;
        if (!isBlankOrComment(next) && indentWidth(leadingWhitespace(next)) < indent) break;
      }
    }
    return 0;
  }

  /** Inclusive line range of the definition on line `defLine`: the def line through the last line of its body. */
  definitionRange(defLine: number): readonly [number, number] {
    let end = this.blockEndCache.get(defLine);
    if (end === undefined) {
      end = defLine;
      const header = this.contextLine(defLine);
      if (header !== undefined) {
        const indent = indentWidth(leadingWhitespace(header));
        for (let k = defLine + 1; k <= this.lines.length; k++) {
          const line = this.lines[k - 1];
          if (isBlankOrComment(line)) continue;
          if (indentWidth(leadingWhitespace(line)) <= indent && !/^[ \t\f]*[)\]}]/.test(line)) break;
          end = k;
        }
      }
      this.blockEndCache.set(defLine, end);
    }
    return [defLine, end];
  }

  /** The function name a line's code runs under: its enclosing def/class, `<module>` at top level. */
  enclosingName(n: number): string {
    const def = this.enclosingDefinitionLine(n);
    const line = def > 0 ? this.contextLine(def) : undefined;
    return (line !== undefined && definitionOn(line)?.name) || '<module>';
  }

  /** Comprehension kind of the comprehension starting on line `n` (scanning a few continuation lines). */
  comprehensionAt(n: number): ComprehensionName | undefined {
    if (n < 1 || n > this.lines.length) return undefined;
    return comprehensionKind(this.lines.slice(n - 1, Math.min(this.lines.length, n + 20)));
  }

  private choose(candidates: readonly number[], hints: LineHints): number {
    if (candidates.length === 1) return candidates[0];
    let pool = candidates;
    if (hints.preferLine !== undefined && pool.includes(hints.preferLine)) return hints.preferLine;
    // The finer preferences cost a scan per candidate: a line repeated very many times only gets the cheap ones.
    const fewEnough = pool.length <= MAX_JUDGED_CANDIDATES;
    if (hints.parameters && fewEnough) pool = this.bestByParameters(pool, hints.parameters);
    if (hints.mentions !== undefined && pool.length > 1 && fewEnough) pool = this.namedClassFirst(pool, hints.mentions);
    if (hints.within) {
      const [from, to] = hints.within;
      const inside = pool.filter((n) => n >= from && n <= to);
      if (inside.length > 0) pool = inside;
    }
    const previous = hints.previous ?? 0;
    if (previous > 0 && pool.length > 1 && pool.length <= MAX_JUDGED_CANDIDATES) {
      const plausible = pool.filter((n) => this.canFollow(previous, n));
      if (plausible.length > 0) pool = plausible;
    }
    if (pool.length === 1) return pool[0];
    const after = hints.after ?? 0;
    let best = 0;
    for (const n of pool) if (n >= after && (best === 0 || n < best)) best = n;
    if (best !== 0) return best;
    for (const n of pool) if (n > best) best = n;
    return best;
  }

  /** Candidates whose enclosing class is named as a word in `text` (e.g. `A(n)`, `<mod.A object>`), when there are any. */
  private namedClassFirst(pool: readonly number[], text: string): readonly number[] {
    const named = pool.filter((n) => {
      const def = this.definitionForCall(n) || n;
      const owner = this.enclosingDefinitionLine(def);
      const cls = owner > 0 ? definitionOn(this.lines[owner - 1]) : undefined;
      return cls !== undefined && cls.kind === 'class' && new RegExp(`(?:^|[^\\p{ID_Continue}])${cls.name}(?:[^\\p{ID_Continue}]|$)`, 'u').test(text);
    });
    return named.length > 0 ? named : pool;
  }

  /**
   * Whether line `next` can be the line event right after line `previous` in the same frame, judged from indentation
   * alone: the same line, the next statement, the first statement of a block or a branch header (`elif`, `except`...),
   * a loop header around `previous` (loop back), or the first statement after blocks that hold `previous`.
   */
  canFollow(previous: number, next: number): boolean {
    const target = this.contextLine(next);
    const from = this.contextLine(previous);
    if (target === undefined || from === undefined) return false;
    // A header whose body is on the lines below cannot fire twice in a row: its body runs in between.
    if (next === previous) return !stripComment(target).endsWith(':');
    const indent = indentWidth(leadingWhitespace(target));
    if (next < previous) {
      if (!/^[ \t\f]*(?:async[ \t]+)?(?:for|while)\b/.test(target)) return false;
      const [, end] = this.blockRange(next);
      return previous <= end;
    }
    if (/^[ \t\f]*(?:elif|else|except|finally)\b/.test(target)) return true;
    const before = this.previousCodeLine(next);
    if (before > 0) {
      const text = this.lines[before - 1];
      if (indentWidth(leadingWhitespace(text)) < indent && stripComment(text).endsWith(':')) return true;
    }
    const fromIndent = indentWidth(leadingWhitespace(from));
    if (indent > fromIndent) return false;
    for (let k = previous + 1; k < next; k++) {
      const line = this.lines[k - 1];
      if (isBlankOrComment(line)) continue;
      const width = indentWidth(leadingWhitespace(line));
      if (width > indent) continue;
      if (width === indent && /^[ \t\f]*(?:elif|else|except|finally)\b/.test(line)) continue;
      return false;
    }
    // Leaving a loop body goes through the loop header, unless by `break`.
    if (/^[ \t\f]*break\b/.test(from)) return true;
    let level = fromIndent;
    for (let k = previous - 1; k >= 1 && level > indent; k--) {
      const line = this.lines[k - 1];
      if (isBlankOrComment(line)) continue;
      const width = indentWidth(leadingWhitespace(line));
      if (width >= level) continue;
      if (width < indent) break;
      if (/^[ \t\f]*(?:async[ \t]+)?(?:for|while)\b/.test(line)) return false;
      level = width;
    }
    return true;
  }

  private previousCodeLine(n: number): number {
    for (let k = n - 1; k >= 1; k--) if (!isBlankOrComment(this.lines[k - 1])) return k;
    return 0;
  }

  /** Inclusive range of the compound statement whose header is on line `header`. */
  private blockRange(header: number): readonly [number, number] {
    return this.definitionRange(header);
  }

  private bestByParameters(pool: readonly number[], names: readonly string[]): readonly number[] {
    const keys = new Set(names);
    let bestScore = -Infinity;
    let best: number[] = [];
    for (const n of pool) {
      const def = this.definitionForCall(n);
      let score = -Infinity;
      if (def > 0) {
        const params = parameterNames(this.lines, def - 1);
        score = 0;
        for (const p of params) score += keys.has(p) ? 1 : -1;
      }
      if (score > bestScore) {
        bestScore = score;
        best = [n];
      } else if (score === bestScore) best.push(n);
    }
    return best.length > 0 ? best : pool;
  }

  private exactIndex(): Map<string, number[]> {
    if (!this.exact) this.exact = this.buildIndex((s) => s);
    return this.exact;
  }

  private looseIndex(): Map<string, number[]> {
    if (!this.loose) this.loose = this.buildIndex(removeWhitespace);
    return this.loose;
  }

  private buildIndex(key: (stripped: string) => string): Map<string, number[]> {
    const index = new Map<string, number[]>();
    this.lines.forEach((line, i) => {
      const stripped = stripLineForMatch(line);
      if (stripped === '') return;
      const k = key(stripped);
      const list = index.get(k);
      if (list) list.push(i + 1);
      else index.set(k, [i + 1]);
    });
    return index;
  }
}

/** A line without a trailing `#` comment (strings are not parsed: good enough for spotting a `:` at the end). */
function stripComment(line: string): string {
  const hash = line.indexOf('#');
  return (hash < 0 ? line : line.slice(0, hash)).trimEnd();
}

function removeWhitespace(text: string): string {
  return text.replace(/\s+/g, '');
}
