// Building blocks of the self-contained HTML reports: the page (inline CSS for light and dark), escaping, and grouped
// bar charts drawn as inline SVG. No scripts and no external requests, so a report opens anywhere, offline.

import { maxOf } from '../trace/arrays';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// Markdown for summary.md: text from results.jsonl (model names, paths, value types, messages) may have been edited by
// anyone, so it is escaped for Markdown the way escapeHtml escapes it for HTML.

/** Control characters (line breaks included) as visible escapes, so that no text can end a line, a span or a table row. */
export function visibleControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Plain text in Markdown: every character Markdown or its inline HTML could read as syntax is backslash-escaped, and
 * URLs are broken up (`:\/\/`, `www\.`) so that no renderer turns them into links of its own accord.
 */
export function markdownText(text: string): string {
  return visibleControls(text)
    .replace(/[\\`*_{}[\]()<>#+!|~&]/g, (c) => `\\${c}`)
    .replace(/:\/\//g, ':\\/\\/')
    .replace(/\bwww\./gi, (www) => `${www.slice(0, 3)}\\.`);
}

/** Text as one Markdown code span, whatever backticks it holds; in a table cell its pipes are escaped too. */
export function markdownCode(text: string, inTable = false): string {
  const shown = visibleControls(text);
  const longest = (shown.match(/`+/g) ?? []).reduce((most, run) => Math.max(most, run.length), 0);
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(shown) ? ' ' : '';
  const span = `${fence}${pad}${shown}${pad}${fence}`;
  return inTable ? span.replace(/\|/g, '\\|') : span;
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --s0: #0969da; --s1: #1a7f37; --s2: #bf8700; --s3: #8250df; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #161b22; --line: #3d444d;
    --s0: #4493f8; --s1: #3fb950; --s2: #d29922; --s3: #ab7df8; }
}
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); background: var(--bg);
  max-width: 980px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 8px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
ul.run { color: var(--muted); padding-left: 18px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--panel); padding: 1px 4px; border-radius: 4px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 16px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; } .card .value { font-size: 24px; font-weight: 600; }
.card .counts { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; margin: 8px 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: right; } th:first-child, td:first-child { text-align: left; }
th { background: var(--panel); }
svg.chart { display: block; max-width: 100%; height: auto; margin: 8px 0; }
svg.chart text { fill: var(--fg); font: 11px -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
svg.chart text.title { font-size: 13px; font-weight: 600; } svg.chart .muted { fill: var(--muted); }
svg.chart line.grid { stroke: var(--line); stroke-width: 1; } svg.chart line.axis { stroke: var(--muted); stroke-width: 1; }
svg.chart .s0 { fill: var(--s0); } svg.chart .s1 { fill: var(--s1); } svg.chart .s2 { fill: var(--s2); } svg.chart .s3 { fill: var(--s3); }
.better { color: var(--s1); } .worse { color: #cf222e; }
@media (prefers-color-scheme: dark) { .worse { color: #f85149; } }
`;

export function htmlPage(title: string, body: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Nothing may be fetched: the page is complete as it is.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

export interface ChartSeries {
  readonly name: string;
  /** One value per category; null draws no bar. Rates in 0..1 when the chart is a percent chart. */
  readonly values: readonly (number | null)[];
}

export interface BarChart {
  readonly title: string;
  readonly categories: readonly string[];
  readonly series: readonly ChartSeries[];
  /** true: values are rates drawn on a 0–100% axis; false: counts on a 0–max axis. */
  readonly percent: boolean;
}

/** A grouped vertical bar chart as inline SVG, with a legend, gridlines and value labels. */
export function barChart(chart: BarChart): string {
  const width = 860;
  const height = 300;
  const left = 48;
  const right = 12;
  const top = 48;
  const bottom = 48;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const all = chart.series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const max = chart.percent ? 1 : niceMax(maxOf(all, 1));
  const y = (value: number) => top + plotHeight - (value / max) * plotHeight;
  const parts: string[] = [];
  parts.push(`<svg class="chart" role="img" aria-label="${escapeHtml(chart.title)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">`);
  parts.push(`<text class="title" x="${left}" y="18">${escapeHtml(chart.title)}</text>`);
  // Legend, right-aligned on the title row.
  let legendX = width - right;
  for (let s = chart.series.length - 1; s >= 0; s--) {
    const name = chart.series[s]!.name;
    legendX -= name.length * 6.5 + 26;
    parts.push(`<rect class="s${s % 4}" x="${legendX}" y="9" width="12" height="12" rx="2"/><text x="${legendX + 16}" y="19">${escapeHtml(name)}</text>`);
  }
  for (let k = 0; k <= 4; k++) {
    const value = (max * k) / 4;
    const at = y(value).toFixed(1);
    parts.push(`<line class="${k === 0 ? 'axis' : 'grid'}" x1="${left}" x2="${width - right}" y1="${at}" y2="${at}"/>`);
    const label = chart.percent ? `${Math.round(value * 100)}%` : formatCount(value);
    parts.push(`<text class="muted" x="${left - 6}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end">${label}</text>`);
  }
  const groups = Math.max(1, chart.categories.length);
  const groupWidth = plotWidth / groups;
  const barWidth = Math.min(36, (groupWidth * 0.8) / Math.max(1, chart.series.length));
  chart.categories.forEach((category, c) => {
    const groupStart = left + c * groupWidth + (groupWidth - barWidth * chart.series.length) / 2;
    chart.series.forEach((series, s) => {
      const value = series.values[c];
      const x = groupStart + s * barWidth;
      if (value === null || value === undefined) {
        parts.push(`<text class="muted" x="${(x + barWidth / 2).toFixed(1)}" y="${(top + plotHeight - 4).toFixed(1)}" text-anchor="middle">–</text>`);
        return;
      }
      const barTop = y(value);
      const label = chart.percent ? `${(value * 100).toFixed(value === 1 || value === 0 ? 0 : 1)}%` : formatCount(value);
      parts.push(
        `<rect class="s${s % 4}" x="${(x + 1).toFixed(1)}" y="${barTop.toFixed(1)}" width="${Math.max(1, barWidth - 2).toFixed(1)}" ` +
          `height="${Math.max(0, top + plotHeight - barTop).toFixed(1)}"><title>${escapeHtml(`${series.name}, ${category}: ${label}`)}</title></rect>`,
      );
      if (barWidth >= 18) {
        parts.push(`<text x="${(x + barWidth / 2).toFixed(1)}" y="${(barTop - 3).toFixed(1)}" text-anchor="middle" font-size="9">${label}</text>`);
      }
    });
    parts.push(`<text x="${(left + c * groupWidth + groupWidth / 2).toFixed(1)}" y="${height - bottom + 16}" text-anchor="middle">${escapeHtml(category)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

function niceMax(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function formatCount(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
