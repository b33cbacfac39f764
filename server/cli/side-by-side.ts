// Renders an alignment of a predicted and a real trace as a terminal table: one row per aligned step, the real and
// predicted changes side by side, a verdict mark, the first divergence pointed out, and the scores underneath.
// Every line fits the given width (80 columns included): the first divergence is told in full on its own lines.

import type { Alignment, AlignmentRow } from '../compare/align';
import type { AlignmentScores, Ratio } from '../compare/scores';
import type { TraceFrame } from '../trace/model';
import { ChangeTracker, fit, padLeft, padRight, painter, sourceCell, wrap, type Paint, type TableStyle } from './table';
import { visible } from './terminal';
import { appendAll } from '../trace/arrays';
import { isImpossibleIssue } from '../engine/flow-check';

const MARK: Record<AlignmentRow['verdict'], string> = {
  match: '✓',
  'state-differs': '✗ state',
  'action-differs': '✗ action',
  missing: '✗ missing',
  extra: '✗ extra',
};

const STEP_WIDTH = 7;
const LINE_WIDTH = 5;

export function renderSideBySide(
  alignment: Alignment,
  predicted: readonly TraceFrame[],
  actual: readonly TraceFrame[],
  style: TableStyle,
): string[] {
  const paint = painter(style.color);
  const realChanges = new ChangeTracker();
  const predictedChanges = new ChangeTracker();
  // step, line, two spaces, source, space, real, space, prediction, space, verdict, space, the divergence pointer.
  const verdictWidth = style.width >= 120 ? 24 : 16;
  const fixed = STEP_WIDTH + LINE_WIDTH + 2 + 1 + 1 + 1 + verdictWidth + 2;
  const rest = Math.max(30, style.width - fixed);
  const sourceWidth = Math.floor(rest * 0.34);
  const valueWidth = Math.floor((rest - sourceWidth) / 2);
  const out = [
    paint('bold', `${padLeft('step', STEP_WIDTH)}${padLeft('line', LINE_WIDTH)}  ${padRight('source', sourceWidth)} ${padRight('real run', valueWidth)} ${padRight('prediction', valueWidth)} verdict`),
  ];
  alignment.rows.forEach((row, rowIndex) => {
    const real = row.actual !== undefined ? actual[row.actual] : undefined;
    const guess = row.predicted !== undefined ? predicted[row.predicted] : undefined;
    const shown = real ?? guess!;
    const step = real ? String(real.index) : `(${guess!.index})`;
    const line = shown.line ? String(shown.line) : '?';
    const source = sourceCell(shown.sourceLine, shown.depth, sourceWidth);
    const realText = real ? visible(realChanges.describe(real)) : '—';
    let guessText = guess ? visible(predictedChanges.describe(guess)) : '—';
    if (row.verdict === 'action-differs' && guess) guessText = `line ${guess.line || '?'} ${guess.event}: ${guessText}`;
    if (row.verdict === 'match' && guessText === realText) guessText = '=';
    // A predicted step the symbolic checks found impossible: marked in its cell, its reason told under the row.
    const impossible = guess?.issues?.filter(isImpossibleIssue) ?? [];
    if (impossible.length > 0) guessText = `⊘ ${guessText}`;
    const isFirst = alignment.firstDivergence?.row === rowIndex;
    const detail = row.variables?.length ? ` (${row.variables.map((v) => visible(v.name)).join(', ')})` : '';
    const verdict = fit(MARK[row.verdict] + detail, verdictWidth);
    const mark = row.verdict === 'match' ? paint('green', verdict) : paint('red', verdict);
    const pointer = isFirst ? ` ${paint('yellow', '◀')}` : '';
    const text =
      `${padLeft(step, STEP_WIDTH)}${padLeft(line, LINE_WIDTH)}  ${padRight(source, sourceWidth)} ${padRight(fit(realText, valueWidth), valueWidth)} ` +
      `${padRight(fit(guessText, valueWidth), valueWidth)} ${isFirst ? padRight(mark, verdictWidth) : mark}${pointer}`;
    out.push(text);
    if (isFirst && alignment.firstDivergence) {
      // The row is cut to its columns; the divergence itself is told in full under it.
      const indentText = ' '.repeat(STEP_WIDTH + 1);
      for (const told of wrap(`◀ first divergence: ${alignment.firstDivergence.description}`, style.width - indentText.length, '  ')) {
        out.push(paint('yellow', indentText + told));
      }
    }
    if (impossible.length > 0) {
      const indentText = ' '.repeat(STEP_WIDTH + 1);
      const reasons = visible(impossible.map((issue) => issue.message).join('; '));
      for (const told of wrap(`⊘ impossible predicted step ${guess!.index}: ${reasons}`, style.width - indentText.length, '  ')) {
        out.push(paint('yellow', indentText + told));
      }
    }
  });
  return out;
}

function percent(ratio: Ratio): string {
  return ratio.rate === null ? 'n/a' : `${(ratio.rate * 100).toFixed(1)}% (${ratio.matched}/${ratio.total})`;
}

export function renderScores(alignment: Alignment, scores: AlignmentScores, paint: Paint, width = 120): string[] {
  const lines = [
    ...wrap(`action match ${percent(scores.action)} · state match ${percent(scores.stateByVariable)} per variable, ` +
      `${percent(scores.stateByFrame)} per step · well-formed frames ${percent(scores.wellFormed)}`, width, '  '),
  ];
  const ret = scores.returnValue;
  if (ret.match === null) appendAll(lines, wrap('return value: the real run has no final return to compare with', width, '  '));
  else {
    const said = wrap(`return value: ${ret.match ? 'match' : 'differs'} (real ${ret.actual ?? '—'}, predicted ${ret.predicted ?? '—'})`, width, '  ');
    appendAll(lines, said.map((line, i) => (i === 0 ? line.replace(/^return value: (match|differs)/, (_all, word: string) => `return value: ${paint(word === 'match' ? 'green' : 'red', word)}`) : line)));
  }
  const divergence = alignment.firstDivergence;
  appendAll(lines, (divergence
    ? wrap(`First divergence: ${divergence.description}`, width, '  ').map((line) => paint('yellow', line))
    : wrap('No divergence: the prediction matches the real run.', width, '  ').map((line) => paint('green', line))));
  if (alignment.approximate) appendAll(lines, wrap('note: the traces differ so much that the alignment is approximate.', width, '  '));
  return lines;
}
