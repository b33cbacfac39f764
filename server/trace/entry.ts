// Finds a program's entry point from its text, the way the tracer does: --entry NAME, else the def marked
// `# << START_OF_TRACE`, else the whole script. Used where nothing is run (predictions).

import { definitionOn, splitSourceLines } from '../cwm/lines';
import { START_OF_TRACE_MARKER, type EntryPoint } from './model';

/** The named or marked function is not in the program; the message says what to do. */
export class EntryNotFoundError extends Error {}

export function findEntryPoint(source: string, options: { entry?: string; script?: boolean; args?: string } = {}): EntryPoint {
  if (options.script) return { kind: 'script' };
  const lines = splitSourceLines(source);
  if (options.entry !== undefined) {
    const name = options.entry.split('.').pop()!;
    const index = lines.findIndex((line) => {
      const definition = definitionOn(line);
      return definition?.kind === 'def' && definition.name === name;
    });
    if (index < 0) throw new EntryNotFoundError(`No function named ${options.entry} in the program. Check --entry.`);
    return { kind: 'function', name: options.entry, line: index + 1, ...(options.args !== undefined ? { args: options.args } : {}) };
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes(START_OF_TRACE_MARKER)) continue;
    const definition = definitionOn(line);
    if (definition?.kind === 'def') return { kind: 'function', name: definition.name, line: i + 1 };
  }
  return { kind: 'script' };
}
