// Text from hostile sources rendered as Markdown or HTML (issue 11): a predicted value in a hover or inlay hint, and a
// hand-edited results.jsonl in summary.md and report.html. Nothing in the text becomes a link, an image, a tag or a
// refresh; it shows as the text it is.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { loadTokenizer } from '../../server/cwm/tokenizer';
import { connectEndpoint } from '../../server/endpoint/connect';
import { loadCorpus } from '../../server/eval/corpus';
import { writeReport } from '../../server/eval/report';
import { compareRuns } from '../../server/eval/compare-runs';
import { RESULTS_FILE } from '../../server/eval/results';
import { evaluationModelOf, runEvaluation } from '../../server/eval/run';
import { hintLabel, hintTooltip, historySection, lineExecutions, variableHistory } from '../../server/lsp/line-values';
import type { TraceFrame } from '../../server/trace/model';
import { repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer } from '../servers/protocol-server';
import { createReplayModel, prepareCorpusItems } from '../servers/replay-model';

const requireHere = createRequire(join(repoRoot, 'package.json'));
/** A CommonMark renderer (markdown-it, installed with @vscode/vsce), as hovers are rendered; absent: text checks only. */
function markdownRenderer(): ((text: string) => string) | undefined {
  try {
    const MarkdownIt = requireHere('markdown-it') as new (options: { html: boolean; linkify: boolean }) => { render(text: string): string };
    const md = new MarkdownIt({ html: true, linkify: true });
    return (text) => md.render(text);
  } catch {
    return undefined;
  }
}

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const loadPlaywright = (): typeof import('playwright-core') => requireHere('playwright-core');

const HOSTILE_VALUE = "'ok'\r\r[click me](https://evil.example/steal) ![pixel](https://evil.example/pixel.png) <img src=https://evil.example/a.png> `x`";

function frame(index: number, event: TraceFrame['event'], line: number, sourceLine: string, locals: Record<string, string>, value?: string): TraceFrame {
  return { index, event, line, sourceLine, scope: 1, functionName: 'f', depth: 0, locals: new Map(Object.entries(locals)), ...(value !== undefined ? { value } : {}) };
}

describe('a predicted value in hovers and inlay hints', () => {
  const frames = [
    frame(0, 'call', 1, 'def f():', {}),
    frame(1, 'line', 2, '    s = g()', {}),
    frame(2, 'line', 3, '    return s', { s: HOSTILE_VALUE }),
    frame(3, 'return', 3, '    return s', {}, HOSTILE_VALUE),
  ];
  const executions = lineExecutions(frames);

  test('cannot break out of its code span: no live link, no remote image, no HTML', (t) => {
    const hover = [...historySection('CWM prediction', variableHistory(executions.get(2)!, 's'), true, 2)].join('\n');
    const tooltip = hintTooltip(2, executions.get(2)!, 'CWM prediction');
    for (const markdown of [hover, tooltip]) {
      assert.doesNotMatch(markdown, /[\r\u2028\u2029]/, 'a raw line break is in the Markdown');
      assert.match(markdown, /\\r\\r\[click me\]/, 'the value shows its carriage returns as escapes');
      const render = markdownRenderer();
      if (!render) {
        t.diagnostic('markdown-it is not installed: the Markdown was checked as text only');
        continue;
      }
      const html = render(markdown);
      assert.doesNotMatch(html, /<a |<img/i, `the value rendered as live Markdown: ${html}`);
      assert.match(html, /<code>[^<]*\[click me\]\(https:\/\/evil\.example\/steal\)[^<]*&lt;img src=https:\/\/evil\.example\/a\.png&gt;[^<]*<\/code>/, html);
    }
  });

  test('the inlay label, plain text, shows control characters as escapes', () => {
    const label = hintLabel(executions.get(2)!);
    assert.ok(label !== undefined);
    assert.doesNotMatch(label, /[\u0000-\u001f]/);
    assert.match(label, /\\r\\r/);
  });
});

describe('a hand-edited results.jsonl in summary.md and report.html', { timeout: 120_000 }, () => {
  const INJECTED = '<meta http-equiv="refresh" content="0;url=https://evil.example/">|x';
  const MODEL = '<img src=https://evil.example/m.png> [m](https://evil.example/) **bold**';

  test('reaches neither as markup: escaped in the HTML (headless Chromium when installed) and in the Markdown', async (t) => {
    const work = mkdtempSync(join(tmpdir(), 'cwm-hostile-report-'));
    const corpusDir = join(work, 'corpus');
    mkdirSync(corpusDir);
    writeFileSync(join(corpusDir, 'a.py'), 'def main():  # << START_OF_TRACE\n    x = 1\n    return x + 1\n');
    const tokenizerPath = await writeTestTokenizer(work);
    const codec = await loadTokenizer(tokenizerPath);
    const replay = createReplayModel({ codec });
    await prepareCorpusItems(replay, loadCorpus(corpusDir).items);
    const server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
    const out = join(work, 'run');
    try {
      const client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 60_000 } }, codec);
      try {
        await runEvaluation({ corpus: corpusDir, outDir: out, model: evaluationModelOf({ pool: client, codec, clients: [client] }) });
      } finally {
        await client.close();
      }
    } finally {
      await server.close();
      codec.dispose();
    }

    // The hand edit: a value-type key and the event kinds hold HTML, the header's model and Python Markdown and HTML.
    const resultsPath = join(out, RESULTS_FILE);
    const original = readFileSync(resultsPath, 'utf8');
    assert.match(original, /"int":/, 'the run has int values to rename');
    const edited = original.split('\n').map((line) => {
      if (line.startsWith('{"type":"header"')) {
        const header = JSON.parse(line) as Record<string, unknown>;
        return JSON.stringify({ ...header, model: MODEL, python: '3.11 `` <script>alert(1)</script>' });
      }
      return line.replaceAll('"int":', `${JSON.stringify(INJECTED)}:`).replaceAll('"line":', `${JSON.stringify('<b>line</b>|x')}:`);
    }).join('\n');
    writeFileSync(resultsPath, edited);
    const { summaryPath, htmlPath } = writeReport(out);

    const html = readFileSync(htmlPath, 'utf8');
    assert.doesNotMatch(html, /<meta http-equiv="refresh"|<img|<script|<b>line/i, 'markup from results.jsonl reached report.html');
    assert.ok(html.includes('&lt;meta http-equiv=&quot;refresh&quot;'), 'the injected text shows as text');

    const summary = readFileSync(summaryPath, 'utf8');
    // Outside code spans (whose text Markdown shows as is), no '<' may stand unescaped.
    const outsideCode = summary.replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, '');
    assert.doesNotMatch(outsideCode, /(?<!\\)</, `raw HTML from results.jsonl reached summary.md: ${outsideCode}`);
    const render = markdownRenderer();
    if (render) {
      const rendered = render(summary);
      assert.doesNotMatch(rendered, /<meta|<img|<script|<a |<strong>bold/i, `summary.md renders markup from results.jsonl: ${rendered}`);
      // Every table row keeps its three cells: a pipe in a value type does not split a cell.
      const rows = summary.split('\n').filter((line) => line.includes('meta http-equiv'));
      assert.ok(rows.length > 0, 'the edited value type has its table row');
      for (const row of rows) assert.equal(row.replace(/\\\|/g, '').split('|').length, 5, row);
    } else t.diagnostic('markdown-it is not installed: summary.md was checked as text only');

    // `eval --compare-runs` writes the same hostile fields (model, endpoints, value types, program ids) in both forms.
    const comparison = compareRuns(out, out);
    assert.doesNotMatch(comparison.html, /<meta http-equiv="refresh"|<img|<script|<b>line/i, 'markup from results.jsonl reached comparison.html');
    assert.ok(comparison.html.includes('&lt;img src=https://evil.example/m.png&gt;'), 'the model name shows as text');
    const comparedOutsideCode = comparison.markdown.replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, '');
    assert.doesNotMatch(comparedOutsideCode, /(?<!\\)<|\]\(https/, `raw markup from results.jsonl reached comparison.md: ${comparedOutsideCode}`);
    if (render) {
      assert.doesNotMatch(render(comparison.markdown), /<meta|<img|<script|<a |<strong>bold/i, 'comparison.md renders markup from results.jsonl');
      const rows = comparison.markdown.split('\n').filter((line) => line.includes('meta http-equiv'));
      assert.ok(rows.length > 0, 'the edited value type has its comparison row');
      for (const row of rows) assert.equal(row.replace(/\\\|/g, '').split('|').length, 6, row);
    }

    if (!existsSync(CHROMIUM)) {
      t.diagnostic(`${CHROMIUM} is not installed: report.html was checked as text only`);
      return;
    }
    const { chromium } = loadPlaywright();
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      const url = pathToFileURL(htmlPath).href;
      await page.goto(url);
      await page.waitForTimeout(1500); // a refresh of 0 s would have navigated by now
      assert.equal(page.url(), url, 'the page navigated away');
      assert.deepEqual(requests, [url], 'the page requested something beyond itself');
      const counts = await page.evaluate(() => ({
        refresh: document.querySelectorAll('meta[http-equiv="refresh" i]').length,
        images: document.querySelectorAll('img, script, b').length,
      }));
      assert.deepEqual(counts, { refresh: 0, images: 0 });
      assert.match((await page.textContent('body')) ?? '', /<meta http-equiv="refresh"/, 'the injected text is shown as text');
    } finally {
      await browser.close();
    }
  });
});
