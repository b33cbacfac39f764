// Renders an alignment of a predicted and a real trace as a terminal table: one row per aligned step, the real and
// predicted changes side by side, a verdict mark, the first divergence pointed out, and the scores underneath.

import type { Alignment, AlignmentRow } from '../compare/align';
import type { AlignmentScores, Ratio } from '../compare/scores';
import type { TraceFrame } from '../trace/model';
import { ChangeTracker, fit, padLeft, padRight, painter, type Paint, type TableStyle } from './table';

const MARK: Record<AlignmentRow['verdict'], string> = {
  match: '✓',
  'state-differs': '✗ state',
  'action-differs': '✗ action',
  missing: '✗ missing',
  extra: '✗ extra',
};

export function renderSideBySide(
  alignment: Alignment,
  predicted: readonly TraceFrame[],
  actual: readonly TraceFrame[],
  style: TableStyle,
): string[] {
  const paint = painter(style.color);
  const realChanges = new ChangeTracker();
  const predictedChanges = new ChangeTracker();
  const fixed = 6 + 6 + 10 + 5;
  const rest = Math.max(60, style.width - fixed);
  const sourceWidth = Math.floor(rest * 0.3);
  const valueWidth = Math.floor((rest - sourceWidth) / 2);
  const out = [
    paint('bold', `${padLeft('step', 6)}${padLeft('line', 6)}  ${padRight('source', sourceWidth)} ${padRight('real run', valueWidth)} ${padRight('prediction', valueWidth)} verdict`),
  ];
  alignment.rows.forEach((row, rowIndex) => {
    const real = row.actual !== undefined ? actual[row.actual] : undefined;
    const guess = row.predicted !== undefined ? predicted[row.predicted] : undefined;
    const shown = real ?? guess!;
    const step = real ? String(real.index) : `(${guess!.index})`;
    const line = shown.line ? String(shown.line) : '?';
    const indent = '  '.repeat(Math.min(shown.depth, 8));
    const source = fit(indent + shown.sourceLine.trimEnd(), sourceWidth);
    const realText = real ? realChanges.describe(real) : '—';
    let guessText = guess ? predictedChanges.describe(guess) : '—';
    if (row.verdict === 'action-differs' && guess) guessText = `line ${guess.line || '?'} ${guess.event}: ${guessText}`;
    if (row.verdict === 'match' && guessText === realText) guessText = '=';
    const isFirst = alignment.firstDivergence?.row === rowIndex;
    const mark = row.verdict === 'match' ? paint('green', MARK.match) : paint('red', MARK[row.verdict]);
    const detail = row.variables?.length ? ` (${row.variables.map((v) => v.name).join(', ')})` : '';
    const text =
      `${padLeft(step, 6)}${padLeft(line, 6)}  ${padRight(source, sourceWidth)} ${padRight(fit(realText, valueWidth), valueWidth)} ` +
      `${padRight(fit(guessText, valueWidth), valueWidth)} ${mark}${detail}`;
    out.push(isFirst ? `${text}  ${paint('yellow', '◀ first divergence')}` : text);
  });
  return out;
}

function percent(ratio: Ratio): string {
  return ratio.rate === null ? 'n/a' : `${(ratio.rate * 100).toFixed(1)}% (${ratio.matched}/${ratio.total})`;
}

export function renderScores(alignment: Alignment, scores: AlignmentScores, paint: Paint): string[] {
  const lines = [
    `action match ${percent(scores.action)} · state match ${percent(scores.stateByVariable)} per variable, ` +
      `${percent(scores.stateByFrame)} per step · well-formed frames ${percent(scores.wellFormed)}`,
  ];
  const ret = scores.returnValue;
  if (ret.match === null) lines.push('return value: the real run has no final return to compare with');
  else lines.push(`return value: ${ret.match ? paint('green', 'match') : paint('red', 'differs')} (real ${ret.actual ?? '—'}, predicted ${ret.predicted ?? '—'})`);
  const divergence = alignment.firstDivergence;
  lines.push(divergence ? paint('yellow', `First divergence: ${divergence.description}`) : paint('green', 'No divergence: the prediction matches the real run.'));
  if (alignment.approximate) lines.push('note: the traces differ so much that the alignment is approximate');
  return lines;
}
