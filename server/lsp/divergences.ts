// Diagnostics of a comparison: where the real run disagrees with the prediction, one Information diagnostic per line,
// worded by the comparison module's own row descriptions.

import { type Diagnostic, DiagnosticSeverity } from 'vscode-languageserver';
import { describeRow, type Alignment } from '../compare/align';
import type { TraceFrame } from '../trace/model';

export const DIAGNOSTIC_SOURCE = 'cwm';
export const FIRST_DIVERGENCE_PREFIX = 'First divergence: ';

/** The 1-based line a row is about: the real step's, else the predicted step's; 0 when neither maps to the file (or is in another file). */
export function rowLine(row: Alignment['rows'][number], predicted: readonly TraceFrame[], actual: readonly TraceFrame[]): number {
  const real = row.actual === undefined ? undefined : actual[row.actual];
  if (real !== undefined && real.line > 0 && real.file === undefined) return real.line;
  const guess = row.predicted === undefined ? undefined : predicted[row.predicted];
  return guess !== undefined && guess.line > 0 && guess.file === undefined ? guess.line : 0;
}

/**
 * One diagnostic per line where an aligned row is not a match, in row order; the first divergence's says so; the others
 * on the same line are counted in it. `lineText(n)` gives the 0-based line's text (its range is the line's content).
 */
export function divergenceDiagnostics(
  alignment: Alignment,
  predicted: readonly TraceFrame[],
  actual: readonly TraceFrame[],
  lineCount: number,
  lineText: (line: number) => string,
): Diagnostic[] {
  const byLine = new Map<number, { message: string; others: number }>();
  alignment.rows.forEach((row, r) => {
    if (row.verdict === 'match') return;
    const line = rowLine(row, predicted, actual);
    if (line <= 0 || line > lineCount) return;
    const seen = byLine.get(line);
    if (seen) {
      seen.others++;
      return;
    }
    const description = describeRow(row, predicted, actual);
    const first = alignment.firstDivergence?.row === r;
    byLine.set(line, { message: first ? `${FIRST_DIVERGENCE_PREFIX}${description}` : capitalize(description), others: 0 });
  });
  const diagnostics: Diagnostic[] = [];
  for (const [line, { message, others }] of byLine) {
    const text = lineText(line - 1);
    const start = text.length - text.trimStart().length;
    const more = others === 0 ? '' : ` (and ${others} more difference${others === 1 ? '' : 's'} on this line)`;
    diagnostics.push({
      range: { start: { line: line - 1, character: start }, end: { line: line - 1, character: Math.max(start, text.trimEnd().length) } },
      severity: DiagnosticSeverity.Information,
      source: DIAGNOSTIC_SOURCE,
      message: `${message}${more}`,
    });
  }
  return diagnostics;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
