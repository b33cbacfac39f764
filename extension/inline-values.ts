// Inline values during a `cwm` debug session: names used in the current function, from its `def` down to the stopped
// line, are looked up by VS Code in the stopped frame's scopes (the Predicted scope comes first in compare mode).

import * as vscode from 'vscode';
import { findFunctions, functionAt } from '../server/trace/functions';

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else',
  'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise',
  'return', 'try', 'while', 'with', 'yield', 'match', 'case', 'self',
]);

// Identifiers outside strings and comments; a name right after a dot is an attribute, not a variable.
const TOKEN = /(#.*$)|("""|'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')|(\d[\p{ID_Continue}.]*)|(\.\s*)?([\p{ID_Start}_][\p{ID_Continue}]*)/gu;

/** Variable names on one line of Python, with their columns (comments and string contents skipped). */
export function variableNamesOn(line: string): { name: string; start: number }[] {
  const names: { name: string; start: number }[] = [];
  for (const match of line.matchAll(TOKEN)) {
    if (match[1] !== undefined) break;
    if (match[2] !== undefined || match[3] !== undefined || match[4] !== undefined) continue;
    const name = match[5]!;
    if (KEYWORDS.has(name)) continue;
    // Keyword arguments (`f(key=1)`) name a parameter of the callee, not a local here.
    const after = line.slice(match.index! + match[0].length);
    if (/^\s*=(?!=)/.test(after) && /[(,]\s*$/.test(line.slice(0, match.index!))) continue;
    names.push({ name, start: match.index! });
  }
  return names;
}

export class CwmInlineValuesProvider implements vscode.InlineValuesProvider {
  provideInlineValues(document: vscode.TextDocument, viewPort: vscode.Range, context: vscode.InlineValueContext): vscode.InlineValue[] {
    if (vscode.debug.activeDebugSession?.type !== 'cwm') return [];
    const stoppedLine = context.stoppedLocation.end.line;
    const owner = functionAt(findFunctions(document.getText()), stoppedLine);
    const first = Math.max(viewPort.start.line, owner ? owner.line : viewPort.start.line);
    const last = Math.min(stoppedLine, viewPort.end.line, document.lineCount - 1);
    const values: vscode.InlineValue[] = [];
    for (let line = first; line <= last; line++) {
      const seen = new Set<string>();
      for (const { name, start } of variableNamesOn(document.lineAt(line).text)) {
        if (seen.has(name)) continue;
        seen.add(name);
        values.push(new vscode.InlineValueVariableLookup(new vscode.Range(line, start, line, start + name.length), name, true));
      }
    }
    return values;
  }
}
