// Which function a cursor is in, read from the program text alone (nothing is run): used to offer "debug the function
// under the cursor" when there is no launch.json.

import { definitionOn, indentWidth, splitSourceLines } from '../cwm/lines';

export interface EnclosingFunction {
  /** Entry name as the tracer takes it: `name`, or `Class.name` for a method. */
  readonly entry: string;
  /** 1-based line of the `def`. */
  readonly line: number;
  readonly isAsync: boolean;
}

function indentOf(line: string): number {
  return indentWidth(/^[ \t\f]*/.exec(line)![0]);
}

/**
 * The innermost `def` whose body holds the 1-based `line` (or whose header is on it). Nested functions inside a function
 * are skipped in favour of the outermost function, because the tracer's entry must be reachable by name from the module.
 */
export function enclosingFunction(source: string, line: number): EnclosingFunction | undefined {
  const lines = splitSourceLines(source);
  if (line < 1 || line > lines.length) return undefined;
  // Walk up collecting the chain of enclosing definitions: each must be less indented than everything found so far.
  let limit = Number.POSITIVE_INFINITY;
  const chain: { kind: 'def' | 'class'; name: string; line: number; isAsync: boolean }[] = [];
  for (let index = line - 1; index >= 0; index--) {
    const text = lines[index]!;
    if (text.trim() === '' || text.trimStart().startsWith('#')) continue;
    const indent = indentOf(text);
    if (indent >= limit) continue;
    const definition = definitionOn(text);
    if (definition) {
      chain.unshift({ kind: definition.kind, name: definition.name, line: index + 1, isAsync: /^\s*async\b/.test(text) });
      limit = indent;
    } else {
      limit = Math.min(limit, indent);
    }
    if (indent === 0) break;
  }
  // Module-level def, or Class.def: anything deeper is not reachable by name.
  const first = chain[0];
  if (!first) return undefined;
  if (first.kind === 'def') return { entry: first.name, line: first.line, isAsync: first.isAsync };
  const method = chain[1];
  if (first.kind === 'class' && method?.kind === 'def') return { entry: `${first.name}.${method.name}`, line: method.line, isAsync: method.isAsync };
  return undefined;
}
