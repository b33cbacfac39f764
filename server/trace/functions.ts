// Finds the functions of a Python document that can be traced as an entry: module-level defs and methods of (nested)
// module-level classes, named the way the tracer's --entry accepts them (`f`, `Class.method`). Text only, nothing is run.

import { definitionOn, indentWidth, splitSourceLines } from '../cwm/lines';

export interface PythonFunction {
  /** Entry name: `f`, `Class.method`, `Outer.Inner.method`. */
  readonly name: string;
  /** The function's own name (`co_name`), what a trace calls its frames. */
  readonly bareName: string;
  /** 0-based line of the `def`. */
  readonly line: number;
  /** 0-based column of `def` (or `async`). */
  readonly column: number;
  /** 0-based last line of the body (comments and blank lines after it excluded). */
  readonly endLine: number;
  /** Why the tracer cannot take it as an entry; undefined when it can. */
  readonly unsupported?: string;
}

/** Decorators that still leave `Class.method` a plain callable for the tracer (and its frames in this file). */
const METHOD_DECORATORS: ReadonlySet<string> = new Set(['staticmethod', 'classmethod']);

interface Block {
  readonly kind: 'def' | 'class';
  readonly name: string;
  readonly indent: number;
  readonly line: number;
  readonly column: number;
  readonly isAsync: boolean;
  readonly decorators: readonly string[];
  /** Entry name, when every enclosing block is a class. */
  readonly entryName?: string;
}

/** Lexer state carried across physical lines: an open triple-quoted string, open brackets, a backslash continuation. */
interface LexState {
  tripleQuote?: string;
  brackets: number;
  continued: boolean;
}

/** Every def of the document in document order; those the tracer cannot enter (nested, async, decorated) have `unsupported` set. */
export function findFunctions(text: string): PythonFunction[] {
  const lines = splitSourceLines(text);
  const state: LexState = { brackets: 0, continued: false };
  const stack: Block[] = [];
  const found: PythonFunction[] = [];
  let decorators: string[] = [];
  let lastContent = -1;

  const close = (block: Block, endLine: number): void => {
    if (block.kind !== 'def') return;
    found.push({
      name: block.entryName ?? block.name,
      bareName: block.name,
      line: block.line,
      column: block.column,
      endLine: Math.max(block.line, endLine),
      ...(unsupportedReason(block) !== undefined ? { unsupported: unsupportedReason(block) } : {}),
    });
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const logicalStart = state.tripleQuote === undefined && state.brackets === 0 && !state.continued;
    const content = line.trim();
    if (logicalStart && content !== '' && !content.startsWith('#')) {
      const indent = indentWidth(/^[ \t\f]*/.exec(line)![0]);
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) close(stack.pop()!, lastContent);
      if (content.startsWith('@')) {
        decorators.push(/^@\s*([\w.]+)/u.exec(content)?.[1] ?? content.slice(1));
      } else {
        const definition = definitionOn(line);
        if (definition) {
          const parent = stack[stack.length - 1];
          const entryName = parent === undefined ? definition.name : parent.kind === 'class' && parent.entryName !== undefined ? `${parent.entryName}.${definition.name}` : undefined;
          stack.push({
            kind: definition.kind,
            name: definition.name,
            indent,
            line: i,
            column: line.length - line.trimStart().length,
            isAsync: /^\s*async\b/.test(line),
            decorators,
            ...(entryName !== undefined ? { entryName } : {}),
          });
        }
        decorators = [];
      }
    }
    if (content !== '' && !(logicalStart && content.startsWith('#'))) lastContent = i;
    scanLine(line, state);
  }
  while (stack.length > 0) close(stack.pop()!, lastContent);
  return found.sort((a, b) => a.line - b.line);
}

function unsupportedReason(block: Block): string | undefined {
  if (block.entryName === undefined) return 'a function defined inside another function cannot be called from outside it';
  if (block.isAsync) return 'async functions are not supported as an entry';
  const inClass = block.entryName.includes('.');
  const foreign = block.decorators.filter((name) => !(inClass && METHOD_DECORATORS.has(name)));
  if (foreign.length > 0) return `decorated functions (@${foreign[0]}) are not supported as an entry`;
  return undefined;
}

/** Advances the lexer over one physical line: strings, comments, brackets and a trailing backslash. */
function scanLine(line: string, state: LexState): void {
  let i = 0;
  state.continued = false;
  while (i < line.length) {
    if (state.tripleQuote !== undefined) {
      const end = line.indexOf(state.tripleQuote, i);
      if (end < 0) return;
      // A backslash before the closing quotes escapes the first of them.
      if (isEscaped(line, end)) {
        i = end + 1;
        continue;
      }
      i = end + 3;
      state.tripleQuote = undefined;
      continue;
    }
    const ch = line[i]!;
    if (ch === '#') return;
    if (ch === '"' || ch === "'") {
      const triple = ch.repeat(3);
      if (line.startsWith(triple, i)) {
        state.tripleQuote = triple;
        i += 3;
        continue;
      }
      i++;
      while (i < line.length && line[i] !== ch) i += line[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') state.brackets++;
    else if (ch === ')' || ch === ']' || ch === '}') state.brackets = Math.max(0, state.brackets - 1);
    else if (ch === '\\' && i === line.length - 1) state.continued = true;
    i++;
  }
}

function isEscaped(line: string, at: number): boolean {
  let backslashes = 0;
  for (let k = at - 1; k >= 0 && line[k] === '\\'; k--) backslashes++;
  return backslashes % 2 === 1;
}

/** The innermost function whose lines contain `line` (0-based). */
export function functionAt(functions: readonly PythonFunction[], line: number): PythonFunction | undefined {
  let best: PythonFunction | undefined;
  for (const fn of functions) if (fn.line <= line && line <= fn.endLine && (best === undefined || fn.line >= best.line)) best = fn;
  return best;
}

/**
 * The function to trace for a cursor on `line` (0-based): the innermost enclosing one the tracer can enter (so a line
 * in a nested helper picks the function that holds it), else the innermost enclosing one, whose `unsupported` says why.
 */
export function entryAt(functions: readonly PythonFunction[], line: number): PythonFunction | undefined {
  const containing = functions.filter((fn) => fn.line <= line && line <= fn.endLine);
  const traceable = containing.filter((fn) => fn.unsupported === undefined);
  const innermost = (candidates: readonly PythonFunction[]) => candidates.reduce<PythonFunction | undefined>((best, fn) => (best === undefined || fn.line >= best.line ? fn : best), undefined);
  return innermost(traceable) ?? innermost(containing);
}
