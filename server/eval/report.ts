// The report of an evaluation run, written from its results file: summary.md (Markdown) and report.html (one
// self-contained page: inline CSS and SVG charts, no scripts, no external requests, light and dark).

import { calibrationHtml, calibrationMarkdown } from './calibration';
import { appendAll } from '../trace/arrays';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, escapeHtml, htmlPage, markdownCode, markdownText, type ChartSeries } from './html';
import { computeTotals, percent, score, weakest, type RunTotals, type Score } from './metrics';
import { RESULTS_FILE, loadResults, type RunHeader } from './results';

export const SUMMARY_FILE = 'summary.md';
export const HTML_FILE = 'report.html';

export function writeReport(outDir: string): { summaryPath: string; htmlPath: string; totals: RunTotals; header: RunHeader } {
  const loaded = loadResults(join(outDir, RESULTS_FILE));
  const header = { ...loaded.header, endpoints: [...loaded.endpoints] };
  const totals = computeTotals(header, loaded.items.values());
  const summaryPath = join(outDir, SUMMARY_FILE);
  const htmlPath = join(outDir, HTML_FILE);
  writeFileSync(summaryPath, renderSummary(header, totals));
  writeFileSync(htmlPath, renderHtmlReport(header, totals));
  return { summaryPath, htmlPath, totals, header };
}

function count(s: Score): string {
  return `${s.matched}/${s.total}`;
}

function cell(s: Score): string {
  return s.total === 0 ? '–' : `${percent(s)} (${count(s)})`;
}

function ms(value: number | null): string {
  return value === null ? '–' : value < 10 ? `${value.toFixed(2)} ms` : `${Math.round(value)} ms`;
}

/** Headline metrics as [label, score, what it counts]. */
export function headlineRows(totals: RunTotals): [string, Score, string][] {
  const rows: [string, Score, string][] = [
    ['Output (CRUXEval-O)', totals.rollout.output, 'rollouts whose predicted return value equals the real one'],
    ['Action exact match', totals.rollout.action, 'real steps whose aligned predicted step has the same event and line'],
    ['State exact match', totals.rollout.state, 'same-action call/line steps with every local equal'],
    ['State by variable', totals.rollout.stateByVariable, 'locals equal, over all (step, variable) pairs compared'],
    ['Whole trace right', totals.rollout.fullMatch, 'rollouts with no divergence from the real run at all'],
    ['Well-formed frames', totals.rollout.wellFormed, 'predicted frames read without issues, malformed ones counted'],
    ['Trace ended', totals.rollout.ended, 'rollouts where the model emitted the end of the trace'],
    ['Impossible steps', score(totals.checks.impossible, totals.checks.checked),
      'predicted frames the symbolic checks found impossible (a line that cannot follow, a local that cannot exist)'],
    ['Fixed by re-sampling', score(totals.checks.fixed, totals.checks.impossible),
      `impossible frames a re-sample replaced with a possible one (${totals.checks.resamples} re-samples; the rest kept with their mark)`],
  ];
  if (totals.forced) {
    rows.push(
      ['Next frame: action', totals.forced.action, 'teacher forcing: each real step predicted from the real steps before it'],
      ['Next frame: exact', totals.forced.exact, 'teacher forcing: same action and the same state'],
      ['Next frame: well-formed', totals.forced.wellFormed, 'teacher forcing: frames read without issues'],
      ['Next frame: end', totals.forced.end, 'teacher forcing: the model ends the trace after the last real step'],
      ['Next frame: impossible', totals.forced.impossible, 'teacher forcing: predicted frames the symbolic checks found impossible after the real steps'],
    );
  }
  return rows;
}

/** How text from the results file is written: for summary.md or for report.html (and the comparison of two runs). */
export interface TextFormat {
  /** Plain text. */
  text(text: string): string;
  /** Text in a code span. */
  code(text: string): string;
}

/** Markdown; everything that comes from results.jsonl is escaped (a hand-edited file may hold anything). */
export const MARKDOWN: TextFormat = { text: markdownText, code: (text) => markdownCode(text) };
export const HTML: TextFormat = { text: escapeHtml, code: (text) => `<code>${escapeHtml(text)}</code>` };

/** One sentence per breakdown that has a clear weakest row: where the model goes wrong most. */
export function whereItFails(totals: RunTotals, format: TextFormat = MARKDOWN): string[] {
  const lines: string[] = [];
  const type = weakest(totals.byValueType, (row) => (row.forced.total > 0 ? row.forced : row.rollout));
  if (type) {
    const s = type.forced.total > 0 ? type.forced : type.rollout;
    lines.push(`Value type: ${format.code(type.type)} values are the weakest, ${percent(s)} right (${count(s)}).`);
  }
  const event = weakest(totals.byEvent, (row) => (row.forced.total > 0 ? row.forced : row.rollout));
  if (event) {
    const s = event.forced.total > 0 ? event.forced : event.rollout;
    lines.push(`Event kind: ${format.code(event.event)} steps are the weakest, ${percent(s)} exact (${count(s)}).`);
  }
  const length = weakest(totals.byLength, (row) => row.state, 1);
  if (length) lines.push(`Trace length: ${length.label} steps is the weakest bucket, state ${percent(length.state)} (${count(length.state)}).`);
  return lines;
}

function runLines(header: RunHeader, totals: RunTotals, format: TextFormat = MARKDOWN): string[] {
  const f = format;
  return [
    `- Corpus: ${f.code(header.corpus.path)} (${f.text(header.corpus.kind)}, ${header.corpus.items} program${header.corpus.items === 1 ? '' : 's'}, sha256 ${f.code(`${header.corpus.hash.slice(0, 16)}…`)})` +
      (header.limit !== null ? `; a subset of ${header.corpus.selected}` : ''),
    `- Model: ${header.model !== null ? f.code(header.model) : 'unnamed'} (${[...new Set(header.backends)].map((backend) => f.text(backend)).join(', ') || '–'}) at ${header.endpoints.map((url) => f.code(url)).join(', ') || '–'}`,
    `- Sampling: temperature ${header.temperature}, seed ${header.seed}, ${header.samples} rollout${header.samples === 1 ? '' : 's'} per program; ` +
      `teacher forcing ${header.teacherForcing ? 'on' : 'off'}`,
    `- Programs: ${totals.programs.done} evaluated, ${totals.programs.failed} could not be evaluated, ` +
      `${Math.max(0, totals.programs.selected - totals.programs.done - totals.programs.failed)} not done yet, of ${totals.programs.selected}`,
    `- Tool: cwm-debug ${f.text(String(header.toolVersion))}; Python ${f.code(header.python)}; run started ${f.text(header.createdAt)}`,
  ];
}

export function renderSummary(header: RunHeader, totals: RunTotals): string {
  const out: string[] = ['# CWM evaluation summary', '', ...runLines(header, totals), '', '## Scores', '', '| Metric | Score | Counts |', '|---|---:|---|'];
  for (const [label, s, what] of headlineRows(totals)) out.push(`| ${label} | ${cell(s)} | ${what} |`);
  const diverging = totals.firstDivergence.slice(0, -1).reduce((sum, bin) => sum + bin.count, 0);
  out.push(
    '',
    `First divergence: ${diverging} rollouts diverge` +
      (totals.medianDivergenceStep !== null ? `, at real step ${totals.medianDivergenceStep} in the median` : '') +
      `; ${totals.firstDivergence.at(-1)!.count} follow the real run to the end.`,
    '',
    `Tokens: ${totals.tokens.prompt.toLocaleString('en-US')} prompt, ${totals.tokens.completion.toLocaleString('en-US')} generated, in ${totals.tokens.requests.toLocaleString('en-US')} requests. ` +
      `Latency (median): ${ms(totals.latency.programMs)} per program, ${ms(totals.latency.rolloutMs)} per rollout, ` +
      `${ms(totals.latency.forcedFrameMs)} per teacher-forced frame, ${ms(totals.latency.tracerMs)} to trace.`,
  );
  const fails = whereItFails(totals);
  out.push('', '## Where it fails', '');
  if (fails.length === 0) out.push('No breakdown has a weak spot: every value type, event kind and length bucket scores 100%.');
  else for (const line of fails) out.push(`- ${line}`);
  out.push('', '## By value type', '', '| Type | Rollout | Next frame |', '|---|---:|---:|');
  for (const row of totals.byValueType) out.push(`| ${markdownCode(row.type, true)} | ${cell(row.rollout)} | ${cell(row.forced)} |`);
  out.push('', '## By event kind (frames matched exactly)', '', '| Event | Rollout | Next frame |', '|---|---:|---:|');
  for (const row of totals.byEvent) out.push(`| ${markdownCode(row.event, true)} | ${cell(row.rollout)} | ${cell(row.forced)} |`);
  out.push('', '## By trace length (real steps)', '', '| Steps | Programs | Action | State | Output | Next frame exact |', '|---|---:|---:|---:|---:|---:|');
  for (const row of totals.byLength) {
    if (row.programs === 0) continue;
    out.push(`| ${row.label} | ${row.programs} | ${percent(row.action)} | ${percent(row.state)} | ${percent(row.output)} | ${percent(row.forcedExact)} |`);
  }
  out.push('', '## First divergence (share of the real trace)', '', '| Position | Rollouts |', '|---|---:|');
  for (const bin of totals.firstDivergence) out.push(`| ${bin.label} | ${bin.count} |`);
  const calibration = calibrationMarkdown(totals.calibration);
  if (calibration.length > 0) appendAll(out, ['', ...calibration]);
  if (totals.failures.length > 0) {
    out.push('', '## Programs that could not be evaluated', '');
    for (const failure of totals.failures.slice(0, 50)) out.push(`- ${markdownCode(failure.id)} (${markdownText(failure.kind)}): ${markdownText(failure.message.replace(/\s+/g, ' '))}`);
    if (totals.failures.length > 50) out.push(`- … and ${totals.failures.length - 50} more`);
  }
  out.push('', 'Report: report.html next to this file. Results: results.jsonl (one line per program).', '');
  return out.join('\n');
}

function rate(s: Score): number | null {
  return s.rate;
}

export function renderHtmlReport(header: RunHeader, totals: RunTotals): string {
  const body: string[] = [];
  body.push('<h1>CWM evaluation report</h1>', '<ul class="run">');
  for (const line of runLines(header, totals, HTML)) body.push(`<li>${line.replace(/^- /, '')}</li>`);
  body.push('</ul>');
  body.push('<section class="cards">');
  for (const [label, s, what] of headlineRows(totals)) {
    body.push(
      `<div class="card" title="${escapeHtml(what)}"><div class="label">${escapeHtml(label)}</div>` +
        `<div class="value">${percent(s)}</div><div class="counts">${escapeHtml(count(s))}</div></div>`,
    );
  }
  body.push('</section>');
  const fails = whereItFails(totals, HTML);
  body.push('<h2>Where it fails</h2>');
  body.push(fails.length === 0 ? '<p>No breakdown has a weak spot: every value type, event kind and length bucket scores 100%.</p>'
    : `<ul>${fails.map((line) => `<li>${line}</li>`).join('')}</ul>`);

  const lengthRows = totals.byLength.filter((row) => row.programs > 0);
  const lengthSeries: ChartSeries[] = [
    { name: 'Action', values: lengthRows.map((row) => rate(row.action)) },
    { name: 'State', values: lengthRows.map((row) => rate(row.state)) },
    { name: 'Output', values: lengthRows.map((row) => rate(row.output)) },
  ];
  if (totals.forced) lengthSeries.push({ name: 'Next frame exact', values: lengthRows.map((row) => rate(row.forcedExact)) });
  body.push('<h2>Accuracy by trace length</h2>');
  body.push(barChart({
    title: 'Accuracy by trace length (real steps)', categories: lengthRows.map((row) => `${row.label} (${row.programs})`), series: lengthSeries, percent: true,
  }));
  body.push('<h2>Accuracy by value type</h2>');
  const typeSeries: ChartSeries[] = [{ name: 'Rollout', values: totals.byValueType.map((row) => rate(row.rollout)) }];
  if (totals.forced) typeSeries.push({ name: 'Next frame', values: totals.byValueType.map((row) => rate(row.forced)) });
  body.push(barChart({ title: 'Values equal to the real run, by value type', categories: totals.byValueType.map((row) => row.type), series: typeSeries, percent: true }));
  body.push('<h2>First divergence</h2>');
  body.push(barChart({
    title: 'Rollouts by first-divergence position (share of the real trace)',
    categories: totals.firstDivergence.map((bin) => bin.label),
    series: [{ name: 'Rollouts', values: totals.firstDivergence.map((bin) => bin.count) }],
    percent: false,
  }));

  appendAll(body, calibrationHtml(totals.calibration));

  body.push('<h2>By event kind</h2>', '<table><thead><tr><th>Event</th><th>Rollout exact</th><th>Next frame exact</th></tr></thead><tbody>');
  for (const row of totals.byEvent) body.push(`<tr><td>${escapeHtml(row.event)}</td><td>${cell(row.rollout)}</td><td>${cell(row.forced)}</td></tr>`);
  body.push('</tbody></table>');
  body.push('<h2>By value type</h2>', '<table><thead><tr><th>Type</th><th>Rollout</th><th>Next frame</th></tr></thead><tbody>');
  for (const row of totals.byValueType) body.push(`<tr><td>${escapeHtml(row.type)}</td><td>${cell(row.rollout)}</td><td>${cell(row.forced)}</td></tr>`);
  body.push('</tbody></table>');
  body.push('<h2>Cost</h2>', '<table><tbody>');
  body.push(`<tr><td>Prompt tokens</td><td>${totals.tokens.prompt.toLocaleString('en-US')}</td></tr>`);
  body.push(`<tr><td>Generated tokens</td><td>${totals.tokens.completion.toLocaleString('en-US')}</td></tr>`);
  body.push(`<tr><td>Requests</td><td>${totals.tokens.requests.toLocaleString('en-US')}</td></tr>`);
  body.push(`<tr><td>Median time per program</td><td>${ms(totals.latency.programMs)}</td></tr>`);
  body.push(`<tr><td>Median time per rollout</td><td>${ms(totals.latency.rolloutMs)}</td></tr>`);
  body.push(`<tr><td>Median time per teacher-forced frame</td><td>${ms(totals.latency.forcedFrameMs)}</td></tr>`);
  body.push(`<tr><td>Median time to trace</td><td>${ms(totals.latency.tracerMs)}</td></tr>`);
  body.push('</tbody></table>');
  if (totals.failures.length > 0) {
    body.push('<h2>Programs that could not be evaluated</h2><ul>');
    for (const failure of totals.failures.slice(0, 50)) body.push(`<li><code>${escapeHtml(failure.id)}</code> (${escapeHtml(failure.kind)}): ${escapeHtml(failure.message)}</li>`);
    body.push('</ul>');
  }
  return htmlPage('CWM evaluation report', body.join('\n'));
}

/** The little Markdown the summary lines use (`code`), as HTML. */
export function markdownInline(text: string): string {
  return escapeHtml(text).replace(/`([^`]*)`/g, '<code>$1</code>');
}
