// Two evaluation runs side by side (`cwm-debug eval --compare-runs A B`): headline scores with their difference,
// breakdowns, and the programs whose output one run gets right and the other wrong.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, escapeHtml, htmlPage, markdownCode } from './html';
import { computeTotals, percent, type RunTotals, type Score } from './metrics';
import { headlineRows, HTML, MARKDOWN, markdownInline, type TextFormat } from './report';
import { RESULTS_FILE, loadResults, type ItemRecord, type LoadedResults, type RunHeader } from './results';

export interface RunComparison {
  readonly markdown: string;
  readonly html: string;
  /** Programs both runs evaluated whose output only A (resp. only B) predicted right. */
  readonly onlyA: readonly string[];
  readonly onlyB: readonly string[];
}

/** A run folder or its results.jsonl. */
function resultsPathOf(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, RESULTS_FILE) : path;
}

function delta(a: Score, b: Score): string {
  if (a.rate === null || b.rate === null) return '–';
  const points = (b.rate - a.rate) * 100;
  return `${points > 0 ? '+' : ''}${points.toFixed(1)} pt`;
}

function outputRight(record: ItemRecord | undefined): boolean | undefined {
  if (record === undefined || record.status !== 'ok') return undefined;
  const matches = record.rollouts.map((rollout) => rollout.output.match).filter((m): m is boolean => m !== null);
  if (matches.length === 0) return undefined;
  // With several rollouts, "right" means most of them are.
  return matches.filter(Boolean).length * 2 > matches.length;
}

function describeRun(name: string, header: RunHeader, totals: RunTotals, f: TextFormat): string {
  return `${name}: ${header.model !== null ? f.code(header.model) : 'unnamed model'} at ${header.endpoints.map((url) => f.code(url)).join(', ') || '–'}; ` +
    `temperature ${header.temperature}, seed ${header.seed}, ${header.samples} rollout(s); ${totals.programs.done} programs; started ${f.text(header.createdAt)}`;
}

export function compareRuns(pathA: string, pathB: string): RunComparison {
  const a: LoadedResults = loadResults(resultsPathOf(pathA));
  const b: LoadedResults = loadResults(resultsPathOf(pathB));
  const totalsA = computeTotals(a.header, a.items.values());
  const totalsB = computeTotals(b.header, b.items.values());
  const onlyA: string[] = [];
  const onlyB: string[] = [];
  let both = 0;
  for (const [id, recordA] of a.items) {
    const rightA = outputRight(recordA);
    const rightB = outputRight(b.items.get(id));
    if (rightA === undefined || rightB === undefined) continue;
    both++;
    if (rightA && !rightB) onlyA.push(id);
    if (rightB && !rightA) onlyB.push(id);
  }
  const sameCorpus = a.header.corpus.hash === b.header.corpus.hash;
  const sameSelection = sameCorpus && a.header.limit === b.header.limit;
  const rowsA = headlineRows(totalsA);
  const rowsB = new Map(headlineRows(totalsB).map(([label, s]) => [label, s]));

  const md: string[] = ['# CWM evaluation: two runs compared', '', `- ${describeRun('A', a.header, totalsA, MARKDOWN)}`, `- ${describeRun('B', b.header, totalsB, MARKDOWN)}`];
  if (!sameCorpus) md.push('- Note: the runs used different corpora (hashes differ), so their scores are not directly comparable.');
  else if (!sameSelection) md.push('- Note: the runs evaluated different subsets of the corpus (--limit differs); "Programs that changed" counts the programs both evaluated.');
  md.push('', '| Metric | A | B | B − A |', '|---|---:|---:|---:|');
  for (const [label, sA] of rowsA) {
    const sB = rowsB.get(label);
    if (sB) md.push(`| ${label} | ${percent(sA)} | ${percent(sB)} | ${delta(sA, sB)} |`);
  }
  md.push('', '## By value type (next frame when teacher forcing ran, else rollout)', '', '| Type | A | B | B − A |', '|---|---:|---:|---:|');
  const types = [...new Set([...totalsA.byValueType, ...totalsB.byValueType].map((row) => row.type))];
  const pick = (totals: RunTotals, type: string): Score => {
    const row = totals.byValueType.find((r) => r.type === type);
    if (!row) return { matched: 0, total: 0, rate: null };
    return row.forced.total > 0 ? row.forced : row.rollout;
  };
  for (const type of types) md.push(`| ${markdownCode(type, true)} | ${percent(pick(totalsA, type))} | ${percent(pick(totalsB, type))} | ${delta(pick(totalsA, type), pick(totalsB, type))} |`);
  md.push('', '## By trace length (state exact match)', '', '| Steps | A | B | B − A |', '|---|---:|---:|---:|');
  totalsA.byLength.forEach((rowA, k) => {
    const rowB = totalsB.byLength[k]!;
    if (rowA.programs + rowB.programs > 0) md.push(`| ${rowA.label} | ${percent(rowA.state)} | ${percent(rowB.state)} | ${delta(rowA.state, rowB.state)} |`);
  });
  md.push('', '## Programs that changed', '', `Of ${both} programs both runs evaluated: ${onlyA.length} only A predicts the output of, ${onlyB.length} only B does.`);
  if (onlyA.length) md.push('', `Only A: ${onlyA.slice(0, 30).map((id) => MARKDOWN.code(id)).join(', ')}${onlyA.length > 30 ? ', …' : ''}`);
  if (onlyB.length) md.push('', `Only B: ${onlyB.slice(0, 30).map((id) => MARKDOWN.code(id)).join(', ')}${onlyB.length > 30 ? ', …' : ''}`);
  md.push('');

  const html: string[] = ['<h1>CWM evaluation: two runs compared</h1>', '<ul class="run">'];
  html.push(`<li>${describeRun('A', a.header, totalsA, HTML)}</li>`, `<li>${describeRun('B', b.header, totalsB, HTML)}</li>`);
  for (const line of md.filter((l) => l.startsWith('- Note: '))) html.push(`<li>${markdownInline(line.slice(2))}</li>`);
  html.push('</ul>', '<table><thead><tr><th>Metric</th><th>A</th><th>B</th><th>B − A</th></tr></thead><tbody>');
  for (const [label, sA] of rowsA) {
    const sB = rowsB.get(label);
    if (!sB) continue;
    const change = sA.rate !== null && sB.rate !== null ? Math.sign(sB.rate - sA.rate) : 0;
    html.push(`<tr><td>${escapeHtml(label)}</td><td>${percent(sA)}</td><td>${percent(sB)}</td><td class="${change > 0 ? 'better' : change < 0 ? 'worse' : ''}">${delta(sA, sB)}</td></tr>`);
  }
  html.push('</tbody></table>');
  html.push(barChart({
    title: 'Headline scores, A and B',
    categories: rowsA.filter(([label]) => rowsB.has(label)).map(([label]) => label.replace('Next frame: ', 'NF ')),
    series: [
      { name: 'A', values: rowsA.filter(([label]) => rowsB.has(label)).map(([, s]) => s.rate) },
      { name: 'B', values: rowsA.filter(([label]) => rowsB.has(label)).map(([label]) => rowsB.get(label)!.rate) },
    ],
    percent: true,
  }));
  html.push(barChart({
    title: 'Values right by value type, A and B',
    categories: types,
    series: [{ name: 'A', values: types.map((t) => pick(totalsA, t).rate) }, { name: 'B', values: types.map((t) => pick(totalsB, t).rate) }],
    percent: true,
  }));
  html.push('<h2>Programs that changed</h2>', `<p>${markdownInline(md.find((line) => line.startsWith('Of ')) ?? '')}</p>`);
  if (onlyA.length) html.push(`<p>Only A: ${onlyA.slice(0, 30).map((id) => `<code>${escapeHtml(id)}</code>`).join(', ')}</p>`);
  if (onlyB.length) html.push(`<p>Only B: ${onlyB.slice(0, 30).map((id) => `<code>${escapeHtml(id)}</code>`).join(', ')}</p>`);
  return { markdown: md.join('\n'), html: htmlPage('CWM evaluation: two runs compared', html.join('\n')), onlyA, onlyB };
}
