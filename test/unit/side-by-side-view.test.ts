// The side-by-side view: its view model built from real `cwm/traces` bodies (the adapter, dist/adapter.js, in compare,
// actual and predict mode against the loopback replay endpoint with corruptions), and its webview script driven in
// headless Chromium under the panel's Content Security Policy, including a 100,000-step real trace.

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { alignTraces } from '../../server/compare/align';
import { scoreAlignment } from '../../server/compare/scores';
import {
  TracesBodyError, buildSideBySideModel, cellsOf, parseTracesBody, sideBySideCsp, sideBySideHtml, type SideBySideModel, type ViewRow,
} from '../../server/compare/view-model';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { frameToJson } from '../../server/trace/json';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { Debuggee } from '../helpers/debuggee';
import { fixturesDir, repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type Corruption, type ReplayModel } from '../servers/replay-model';

const LOOP = join(fixturesDir, 'adapter', 'loop.py');
/** Corruptions of the replayed prediction of loop.py main(8): a wrong value, a wrong line, and an end that comes too early. */
const CORRUPTIONS: readonly Corruption[] = [
  { kind: 'wrong-value', step: 8, variable: 'total', value: '99' },
  { kind: 'wrong-line', step: 30 },
  { kind: 'early-end', step: 70 },
];

// ---------------------------------------------------------------------------------------------------- adapter sessions

/** The shared adapter session, launched and stopped on entry, with the moves the view asks for. */
class AdapterSession extends Debuggee {
  static async launched(config: Record<string, unknown>): Promise<AdapterSession> {
    const session = await AdapterSession.open();
    await session.launch(config, { exceptionFilters: [] });
    return session;
  }

  async position(): Promise<number> {
    return (await this.state()).position;
  }

  /** Moves the debugger as the view asks it to, and says where it stopped. */
  async goTo(row: ViewRow): Promise<number> {
    await this.move('cwm/goToStep', { ...row.goTo });
    return this.position();
  }
}

let codec: CwmTokenizer;
let replay: ReplayModel;
let server: ProtocolServer;
let tokenizerPath: string;
let realLoop: Trace;

before(async () => {
  tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-view-tok-')));
  codec = await loadTokenizer(tokenizerPath);
  replay = createReplayModel({ codec });
  realLoop = await replay.prepare({ file: LOOP, entry: 'main', args: '8' });
  server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  await openSessions();
}, { timeout: 120_000 });

after(async () => {
  if (sessions) await Promise.all(Object.values(sessions).map(({ session }) => session.close()));
  await server?.close();
  codec?.dispose();
});

function launchConfig(mode: 'compare' | 'predict' | 'actual'): Record<string, unknown> {
  const model = mode === 'actual' ? {} : { endpoints: [server.url], tokenizer: tokenizerPath };
  return { program: LOOP, mode, entry: 'main', args: '8', stopOnDivergence: false, ...model };
}

/** The three kinds of session the view shows, each with the body its `cwm/traces` gave. */
interface Sessions {
  compare: { session: AdapterSession; body: Record<string, unknown>; model: SideBySideModel };
  actual: { session: AdapterSession; body: Record<string, unknown>; model: SideBySideModel };
  predicted: { session: AdapterSession; body: Record<string, unknown>; model: SideBySideModel };
}
let sessions: Sessions;

/** Predicted steps of the predict-mode session (stepped into one by one before its traces are read). */
const PREDICTED_STEPS = 6;

async function openSessions(): Promise<void> {
  replay.setCorruptions(CORRUPTIONS);
  const compare = await AdapterSession.launched(launchConfig('compare'));
  // The prediction streams in the background: the corruptions stay until it is all in (cwm/traces waits for it).
  const compareBody = await compare.traces();
  replay.setCorruptions([]);
  const actual = await AdapterSession.launched(launchConfig('actual'));
  const predicted = await AdapterSession.launched(launchConfig('predict'));
  for (let i = 1; i < PREDICTED_STEPS; i++) {
    const stopped = predicted.dc.waitForEvent('stopped');
    await predicted.dc.stepInRequest({ threadId: 1 });
    await stopped;
  }
  const read = async (session: AdapterSession, known?: unknown) => {
    const body = (known ?? (await session.traces())) as Record<string, unknown>;
    return { session, body, model: buildSideBySideModel(body) };
  };
  sessions = { compare: await read(compare, compareBody), actual: await read(actual), predicted: await read(predicted) };
}

interface FrameBody {
  index: number;
  event: string;
  line: number;
  source: string;
  locals: Record<string, string>;
  value?: string;
}
interface RowBody {
  actual?: number;
  predicted?: number;
  verdict: string;
}

describe('view model from the adapter\'s cwm/traces', { timeout: 300_000 }, () => {
  test('compare mode: one row per alignment row, both sides\' steps, lines and source, the verdicts of the adapter', () => {
    const { body, model } = sessions.compare;
    const rows = body.rows as RowBody[];
    const actual = body.actual as FrameBody[];
    const predicted = body.predicted as FrameBody[];
    assert.equal(model.mode, 'compare');
    assert.deepEqual(model.columns, ['predicted', 'actual']);
    assert.equal(model.rows.length, rows.length);
    assert.equal(actual.length, realLoop.frames.length);
    model.rows.forEach((row, position) => {
      const source = rows[position]!;
      assert.equal(row.position, position);
      assert.equal(row.verdict, source.verdict);
      if (source.actual === undefined) assert.equal(row.actual, undefined);
      else {
        const frame = actual[source.actual]!;
        assert.deepEqual([row.actual?.step, row.actual?.line, row.actual?.source, row.actual?.event], [frame.index, frame.line, frame.source, frame.event]);
      }
      if (source.predicted === undefined) assert.equal(row.predicted, undefined);
      else assert.equal(row.predicted?.line, predicted[source.predicted]!.line);
    });
    // The corruptions of the replayed prediction, as the view shows them.
    const verdicts = new Set(model.rows.map((row) => row.verdict));
    for (const verdict of ['match', 'state-differs', 'action-differs', 'missing'] as const) assert.ok(verdicts.has(verdict), `no ${verdict} row`);
    const actionRow = model.rows.find((row) => row.verdict === 'action-differs')!;
    assert.equal(actionRow.actual?.step, 30);
    assert.notEqual(actionRow.predicted?.line, actionRow.actual?.line);
    // The early end: the real run's last steps have no predicted counterpart.
    const missing = model.rows.filter((row) => row.verdict === 'missing');
    assert.ok(missing.length > 0 && missing.every((row) => row.predicted === undefined && row.actual !== undefined && row.actual.step >= 70));
  });

  test('compare mode: the first divergence is the wrong value at step 8, with both values as the row\'s difference', () => {
    const { model } = sessions.compare;
    const first = model.firstDivergence!;
    assert.equal(first.actualStep, 8);
    assert.match(first.description, /^step 8: total is 99 in the prediction but 0 in the real run/);
    const row = model.rows[first.position]!;
    assert.equal(row.verdict, 'state-differs');
    assert.equal(row.actual?.step, 8);
    assert.deepEqual(row.differences, [{ name: 'total', actual: realLoop.frames[8]!.locals.get('total'), predicted: '99' }]);
    // Every row before it is a match.
    assert.ok(model.rows.slice(0, first.position).every((r) => r.verdict === 'match'));
  });

  test('changed values: arguments on a call, what each line changed in its scope, return values, on both sides', () => {
    const { model } = sessions.compare;
    const real = realLoop.frames;
    const byStep = new Map(model.rows.filter((row) => row.actual).map((row) => [row.actual!.step, row.actual!]));
    assert.deepEqual(byStep.get(0)!.changes, [{ name: 'n', value: '8', kind: 'new' }]);
    for (const frame of real) {
      const cell = byStep.get(frame.index)!;
      if (frame.event === 'return') {
        assert.equal(cell.value, frame.value);
        assert.deepEqual(cell.changes, []);
        continue;
      }
      // Recomputed the slow way: the previous call/line frame of the same scope.
      const previous = frame.event === 'call' ? undefined : [...real.slice(0, frame.index)].reverse().find((p) => p.scope === frame.scope && (p.event === 'line' || p.event === 'call'));
      const expected = [...frame.locals]
        .filter(([name, value]) => previous?.locals.get(name) !== value)
        .map(([name, value]) => ({ name, value, kind: previous?.locals.has(name) ? 'changed' : 'new' }));
      assert.deepEqual(cell.changes, expected, `step ${frame.index}`);
    }
    // The final return of main(8): the sum of the squares below 8.
    assert.equal(model.rows.find((row) => row.actual?.event === 'return' && row.actual.depth === 0)!.actual!.value, '140');
    // The predicted side's wrong value shows as a change there, and only there.
    const divergent = model.rows[model.firstDivergence!.position]!;
    assert.ok(divergent.predicted!.changes.some((change) => change.name === 'total' && change.value === '99'));
    assert.ok(!divergent.actual!.changes.some((change) => change.name === 'total'));
  });

  test('scores: the adapter\'s figures, as text and with the counts behind them', () => {
    const { body, model } = sessions.compare;
    const scores = body.scores as { action: { matched: number; total: number; rate: number }; returnValue: { match: boolean | null } };
    const action = model.scores.find((score) => score.id === 'action')!;
    assert.equal(action.text, `${(scores.action.rate * 100).toFixed(1)}%`);
    assert.match(action.title, new RegExp(`${scores.action.matched} of ${scores.action.total} `));
    assert.equal(action.good, false);
    assert.deepEqual(model.scores.map((score) => score.id), ['action', 'state-variables', 'state-frames', 'return-value', 'well-formed']);
    // The prediction ended early: no final return to compare.
    assert.equal(model.scores.find((score) => score.id === 'return-value')!.text, scores.returnValue.match === null ? 'n/a' : scores.returnValue.match ? 'match' : 'differs');
    const counts = model.verdictCounts!;
    assert.equal(counts.missing, model.rows.filter((row) => row.verdict === 'missing').length);
    assert.equal(counts.match + counts['state-differs'] + counts['action-differs'] + counts.missing + counts.extra, model.rows.length);
  });

  test('every row\'s goTo brings the adapter to that row\'s position (compare mode)', async () => {
    const { session, model } = sessions.compare;
    const first = model.firstDivergence!.position;
    const picks = [first, model.rows.findIndex((row) => row.verdict === 'action-differs'), model.rows.length - 1, 0, 37];
    for (const position of picks) assert.equal(await session.goTo(model.rows[position]!), position, `row ${position}`);
  });

  test('actual mode: one column, one row per recorded step, goTo moves to that step', async () => {
    const { session, body, model } = sessions.actual;
    assert.equal(model.mode, 'actual');
    assert.deepEqual(model.columns, ['actual']);
    assert.equal(model.rows.length, (body.actual as FrameBody[]).length);
    assert.equal(model.rows.length, realLoop.frames.length);
    assert.ok(model.rows.every((row) => row.predicted === undefined && row.verdict === undefined && row.actual!.step === row.position));
    assert.equal(model.firstDivergence, undefined);
    assert.deepEqual(model.scores.map((score) => [score.id, score.text]), [['steps', String(realLoop.frames.length)], ['end', 'returned']]);
    for (const position of [20, 3, model.rows.length - 1]) assert.equal(await session.goTo(model.rows[position]!), position);
  });

  test('predict mode: the steps predicted so far, in one column', async () => {
    const { session, model } = sessions.predicted;
    assert.equal(model.mode, 'predicted');
    assert.deepEqual(model.columns, ['predicted']);
    assert.equal(model.rows.length, PREDICTED_STEPS);
    // The replay model predicts the real run: same lines, same values.
    model.rows.forEach((row, i) => {
      assert.equal(row.predicted!.line, realLoop.frames[i]!.line);
      assert.equal(row.predicted!.source, realLoop.frames[i]!.sourceLine);
    });
    assert.equal(model.scores.find((score) => score.id === 'steps')!.text, String(PREDICTED_STEPS));
    assert.equal(await session.goTo(model.rows[2]!), 2);
  });

  test('a body that is not what the view understands is refused with a readable reason', () => {
    const good = sessions.compare.body;
    const rows = good.rows as RowBody[];
    assert.throws(() => buildSideBySideModel(undefined), TracesBodyError);
    assert.throws(() => buildSideBySideModel({ ...good, mode: 'replay' }), (error: Error) => error instanceof TracesBodyError && /mode/.test(error.message));
    assert.throws(
      () => buildSideBySideModel({ ...good, rows: [...rows, { actual: (good.actual as unknown[]).length, verdict: 'missing' }] }),
      /points at real step \d+, past the end of the real trace/,
    );
    assert.throws(() => buildSideBySideModel({ ...good, rows: [{ verdict: 'match' }] }), /neither side/);
    const frames = (good.actual as FrameBody[]).map((frame, i) => (i === 3 ? { ...frame, event: 'jump' } : frame));
    assert.throws(() => buildSideBySideModel({ ...good, actual: frames }), /at actual\.3\.event/);
    assert.throws(() => parseTracesBody({ ...good, rows: rows.map((row) => ({ ...row, verdict: 'maybe' })) }), TracesBodyError);
  });
});

// ---------------------------------------------------------------------------------------------------- a long real trace

/** A loop of 50,000 iterations: 100,000 and some real steps. */
const LONG_PROGRAM = `def bump(v):
    return v + 1


def f(n):
    total = 0
    for i in range(n):
        total += i
    total = bump(total)
    return total
`;

/** A `cwm/traces` body for a real 100,000-step trace against a copy with one of each kind of error, aligned as the adapter does. */
let longBody: Promise<{ body: Record<string, unknown>; real: Trace }> | undefined;
function longCompareBody(): Promise<{ body: Record<string, unknown>; real: Trace }> {
  longBody ??= makeLongCompareBody();
  return longBody;
}

async function makeLongCompareBody(): Promise<{ body: Record<string, unknown>; real: Trace }> {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-view-long-'));
  const file = join(dir, 'long.py');
  writeFileSync(file, LONG_PROGRAM);
  const real = await recordTrace({ file, entry: 'f', args: '50000', limits: { maxEvents: 200_000 } });
  assert.equal(real.end.kind, 'returned');
  const frames = real.frames;
  const bumpCall = frames.find((frame) => frame.event === 'call' && frame.functionName === 'bump')!;
  const edited: TraceFrame[] = [];
  for (const frame of frames) {
    if (frame.index === 3000) continue;
    if (frame.index === 1000) edited.push({ ...frame, locals: new Map([...frame.locals].map(([name, value]) => [name, name === 'total' ? '-1' : value])) });
    else if (frame.index === 2001) edited.push({ ...frame, line: frame.line === 7 ? 8 : 7, sourceLine: LONG_PROGRAM.split('\n')[frame.line === 7 ? 7 : 6]! });
    else edited.push(frame);
    if (frame.index === 4000) edited.push({ ...bumpCall, depth: 1, scope: 999_999 });
  }
  const predicted = edited.map((frame, index) => ({ ...frame, index }));
  const alignment = alignTraces(predicted, frames);
  const body = {
    mode: 'compare',
    position: 0,
    actual: frames.map(frameToJson),
    predicted: predicted.map(frameToJson),
    rows: alignment.rows,
    firstDivergence: alignment.firstDivergence ?? null,
    scores: scoreAlignment(alignment, predicted, frames),
    actualEnd: real.end,
    malformed: [],
  };
  // Through JSON, as DAP carries it.
  return { body: JSON.parse(JSON.stringify(body)) as Record<string, unknown>, real };
}

describe('view model of a 100,000-step trace', { timeout: 300_000 }, () => {
  test('every row, each verdict once where the copy was edited', async () => {
    const { body, real } = await longCompareBody();
    assert.ok(real.frames.length >= 100_000, `${real.frames.length} steps`);
    const model = buildSideBySideModel(body);
    assert.equal(model.rows.length, (body.rows as unknown[]).length);
    assert.ok(model.rows.length >= 100_000);
    const counts = model.verdictCounts!;
    for (const verdict of ['state-differs', 'action-differs', 'missing', 'extra'] as const) assert.ok(counts[verdict] >= 1, `${verdict}: ${counts[verdict]}`);
    assert.equal(model.firstDivergence?.actualStep, 1000);
    // The last row is the real run's final return.
    assert.equal(model.rows[model.rows.length - 1]!.actual!.value, String((50_000 * 49_999) / 2 + 1));
  });
});

describe('cellsOf', () => {
  test('a deleted local and a fresh call of the same function', () => {
    const frame = (index: number, event: 'call' | 'line' | 'return', scope: number, locals: Record<string, string>, value?: string) => ({
      index, event, line: index + 1, source: '', scope, function: 'g', depth: 0, locals, ...(value === undefined ? {} : { value }),
    });
    const cells = cellsOf([
      frame(0, 'call', 1, { a: '1' }),
      frame(1, 'line', 1, { a: '1', b: '2' }),
      frame(2, 'line', 1, { b: '3' }),
      frame(3, 'return', 1, {}, '3'),
      frame(4, 'call', 2, { a: '1' }),
    ]);
    assert.deepEqual(cells.map((cell) => cell.changes), [
      [{ name: 'a', value: '1', kind: 'new' }],
      [{ name: 'b', value: '2', kind: 'new' }],
      [{ name: 'b', value: '3', kind: 'changed' }, { name: 'a', value: '', kind: 'deleted' }],
      [],
      [{ name: 'a', value: '1', kind: 'new' }],
    ]);
    assert.equal(cells[3]!.value, '3');
  });
});

// ---------------------------------------------------------------------------------------------------- the webview in Chromium

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const MEDIA = join(repoRoot, 'media');

/** A few colours of VS Code's Dark Modern theme, as VS Code hands them to a webview. */
const THEME: Readonly<Record<string, string>> = {
  '--vscode-foreground': '#cccccc',
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-font-family': 'sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-editor-font-family': 'monospace',
  '--vscode-editor-font-size': '13px',
  '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-editorLineNumber-foreground': '#6e7681',
  '--vscode-list-activeSelectionBackground': '#04395e',
  '--vscode-list-activeSelectionForeground': '#ffffff',
  '--vscode-list-inactiveSelectionBackground': '#37373d',
  '--vscode-list-hoverBackground': '#2a2d2e',
  '--vscode-focusBorder': '#0078d4',
  '--vscode-testing-iconPassed': '#73c991',
  '--vscode-editorWarning-foreground': '#cca700',
  '--vscode-editorError-foreground': '#f14c4c',
  '--vscode-gitDecoration-deletedResourceForeground': '#c74e39',
  '--vscode-gitDecoration-addedResourceForeground': '#81b88b',
  '--vscode-diffEditor-insertedTextBackground': 'rgba(156, 204, 44, 0.2)',
  '--vscode-diffEditor-removedTextBackground': 'rgba(255, 0, 0, 0.2)',
  '--vscode-diffEditor-insertedLineBackground': 'rgba(155, 185, 85, 0.2)',
  '--vscode-diffEditor-removedLineBackground': 'rgba(255, 0, 0, 0.15)',
  '--vscode-badge-background': '#616161',
  '--vscode-badge-foreground': '#f8f8f8',
  '--vscode-editor-stackFrameHighlightBackground': 'rgba(255, 255, 0, 0.2)',
  '--vscode-button-background': '#0078d4',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-editorGroup-border': '#ffffff17',
};

/** The same colours from VS Code's Light Modern theme. */
const LIGHT_THEME: Readonly<Record<string, string>> = {
  '--vscode-foreground': '#3b3b3b',
  '--vscode-editor-background': '#ffffff',
  '--vscode-descriptionForeground': '#3b3b3b',
  '--vscode-editorLineNumber-foreground': '#6e7681',
  '--vscode-list-activeSelectionBackground': '#e8e8e8',
  '--vscode-list-activeSelectionForeground': '#000000',
  '--vscode-list-inactiveSelectionBackground': '#e4e6f1',
  '--vscode-list-hoverBackground': '#f2f2f2',
  '--vscode-testing-iconPassed': '#388a34',
  '--vscode-editorWarning-foreground': '#bf8803',
  '--vscode-editorError-foreground': '#e51400',
  '--vscode-gitDecoration-deletedResourceForeground': '#ad0707',
  '--vscode-gitDecoration-addedResourceForeground': '#587c0c',
  '--vscode-badge-background': '#cccccc',
  '--vscode-badge-foreground': '#3b3b3b',
  '--vscode-editorGroup-border': '#e5e5e5',
};

/** WCAG 2 contrast ratio of two CSS `rgb()`/`rgba()` colours (alpha ignored: the pill's colours are opaque). */
function contrastRatio(a: string, b: string): number {
  const luminance = (colour: string) => {
    const [r, g, bl] = (colour.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number).map((v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (light! + 0.05) / (dark! + 0.05);
}

/** Serves the harness page and the real media files from a temp folder, as the panel loads them from its resource root. */
async function startHarness(): Promise<{ url: string; origin: string; nonce: string; server: Server; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-view-harness-'));
  for (const name of ['side-by-side.js', 'side-by-side.css']) copyFileSync(join(MEDIA, name), join(dir, name));
  writeFileSync(join(dir, 'theme.css'), `html {\n${Object.entries(THEME).map(([name, value]) => `  ${name}: ${value};`).join('\n')}\n}\n`);
  const server = createServer((request, response) => {
    const name = (request.url ?? '/').slice(1).split('?')[0]!;
    if (name === 'favicon.ico') {
      // Chromium asks for one on its own; a webview has none.
      response.writeHead(204).end();
      return;
    }
    const path = join(dir, name);
    if (name.includes('/') || !existsSync(path)) {
      response.writeHead(404).end();
      return;
    }
    const type = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' }[extname(name)] ?? 'application/octet-stream';
    response.writeHead(200, { 'content-type': `${type}; charset=utf-8` }).end(readFileSync(path));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const nonce = 'cwmHarnessNonce0123456789';
  const page = sideBySideHtml({ cspSource: origin, nonce, scriptUri: `${origin}/side-by-side.js`, styleUri: `${origin}/side-by-side.css` });
  // What VS Code adds around a webview: the theme's variables and acquireVsCodeApi (a stub recording what is posted).
  const stub = `<script nonce="${nonce}">
window.__posted = [];
window.__violations = [];
document.addEventListener('securitypolicyviolation', (event) => window.__violations.push(event.violatedDirective + ' ' + event.blockedURI));
window.acquireVsCodeApi = () => ({ postMessage: (message) => window.__posted.push(message), getState: () => undefined, setState: () => undefined });
</script>
`;
  const html = page.replace('<script nonce', `${stub}<script nonce`).replace('<link rel="stylesheet"', `<link rel="stylesheet" href="${origin}/theme.css">\n<link rel="stylesheet"`);
  writeFileSync(join(dir, 'harness.html'), html);
  return { url: `${origin}/harness.html`, origin, nonce, server, dir };
}

interface Posted {
  type: string;
  position?: number;
  step?: number;
  side?: string;
}

declare global {
  interface Window {
    __posted: Posted[];
    __violations: string[];
  }
}

describe('the webview in headless Chromium', { timeout: 300_000, skip: existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM}: the webview is not tested` }, () => {
  let browser: Browser;
  let page: Page;
  let harness: Awaited<ReturnType<typeof startHarness>>;
  let modelFiles = 0;
  const pageErrors: string[] = [];

  before(async () => {
    harness = await startHarness();
    // Loaded at run time, not bundled: playwright-core finds its own files next to its package.
    const { chromium } = createRequire(join(repoRoot, 'package.json'))('playwright-core') as typeof import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(harness.url);
    await page.waitForFunction(() => window.__posted.some((message) => message.type === 'ready'));
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => harness?.server.close(resolve));
  });

  async function post(message: Record<string, unknown>): Promise<void> {
    await page.evaluate((data) => window.postMessage(data, '*'), message);
  }

  async function showModel(model: SideBySideModel, position = model.position): Promise<void> {
    // The data reaches the page as a script file carrying the page's nonce (handing 40 MB to page.evaluate keeps the
    // browser protocol busy for most of a minute); the page then posts it, as the extension would.
    const name = `model-${++modelFiles}.js`;
    // A JSON text in a string literal: V8 reads that many times faster than the same data as an object literal.
    writeFileSync(join(harness.dir, name), `window.__model = JSON.parse(${JSON.stringify(JSON.stringify(model))});\n`);
    await page.evaluate(({ src, nonce, at }) => new Promise<void>((resolve, reject) => {
      const script = document.createElement('script');
      script.nonce = nonce;
      script.src = src;
      script.addEventListener('load', () => {
        window.postMessage({ type: 'model', model: (window as unknown as { __model: unknown }).__model, position: at }, '*');
        resolve();
      });
      script.addEventListener('error', () => reject(new Error(`${src} did not load`)));
      document.head.append(script);
    }), { src: `${harness.origin}/${name}`, nonce: harness.nonce, at: position });
    await page.waitForFunction((count) => document.getElementById('table')!.getAttribute('aria-rowcount') === String(count), model.rows.length + 1);
  }

  async function lastPosted(): Promise<Posted | undefined> {
    return page.evaluate(() => window.__posted[window.__posted.length - 1]);
  }

  /** Row positions in the DOM, in order. */
  async function renderedPositions(): Promise<number[]> {
    return page.$$eval('#canvas .row', (rows) => rows.map((row) => Number((row as HTMLElement).dataset.position)).sort((a, b) => a - b));
  }

  /** The selected row: its position, whether it lies inside the scrolled table's visible area, and the grid's active descendant. */
  async function selection(): Promise<{ position: number; visible: boolean; active: string | null; count: number }> {
    return page.evaluate(() => {
      const table = document.getElementById('table')!;
      const rows = document.querySelectorAll<HTMLElement>('#canvas .row.selected');
      const row = rows[0];
      if (!row) return { position: -1, visible: false, active: table.getAttribute('aria-activedescendant'), count: 0 };
      const box = row.getBoundingClientRect();
      const view = table.getBoundingClientRect();
      const headerHeight = document.getElementById('header')!.getBoundingClientRect().height;
      const visible = box.top >= view.top + headerHeight - 1 && box.bottom <= view.top + table.clientHeight + 1;
      return { position: Number(row.dataset.position), visible, active: table.getAttribute('aria-activedescendant'), count: rows.length };
    });
  }

  test('the page carries the panel\'s CSP and the script asks for its data', async () => {
    const csp = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (meta) => (meta as HTMLMetaElement).content);
    assert.equal(csp, sideBySideCsp({ cspSource: harness.origin, nonce: harness.nonce }));
    assert.equal(csp, `default-src 'none'; style-src ${harness.origin}; script-src 'nonce-${harness.nonce}'; img-src ${harness.origin}`);
    assert.deepEqual((await page.evaluate(() => window.__posted)).map((message) => message.type), ['ready']);
  });

  test('compare mode: both columns, verdict classes, the first divergence and the scores', async () => {
    const { model } = sessions.compare;
    await showModel(model, 0);
    const headers = await page.$$eval('#header .cell', (cells) => cells.map((cell) => (cell as HTMLElement).innerText));
    assert.deepEqual(headers, ['', 'Verdict', 'Step', 'Line', 'Prediction', 'Changed', 'Step', 'Line', 'Real run', 'Changed']);
    const rows = await page.$$eval('#canvas .row', (elements) => elements.map((row) => ({
      position: Number((row as HTMLElement).dataset.position),
      step: (row as HTMLElement).dataset.step,
      verdict: (row as HTMLElement).dataset.verdict,
      classes: row.className,
      predicted: row.querySelector('.source.side-predicted .code')?.textContent ?? null,
      actual: row.querySelector('.source.side-actual .code')?.textContent ?? null,
      predictedEmpty: row.querySelector('.source.side-predicted')!.classList.contains('empty'),
    })));
    assert.ok(rows.length > 10);
    for (const row of rows) {
      const expected = model.rows[row.position]!;
      assert.equal(row.verdict, expected.verdict);
      assert.ok(row.classes.split(' ').includes(`verdict-${expected.verdict}`), row.classes);
      assert.equal(row.step, String(expected.actual!.step));
      assert.equal(row.actual?.trim(), expected.actual!.source.trim());
      if (expected.predicted) assert.equal(row.predicted?.trim(), expected.predicted.source.trim());
      else assert.ok(row.predictedEmpty);
    }
    // The first divergence: one row, marked with a class, a visible badge and in its accessible name.
    const first = model.firstDivergence!;
    const marked = await page.$$eval('#canvas .row.first-divergence', (elements) => elements.map((row) => ({
      step: (row as HTMLElement).dataset.step,
      label: row.getAttribute('aria-label'),
      predicted: row.querySelector('.changes.side-predicted .differs')?.textContent,
      actual: row.querySelector('.changes.side-actual .differs')?.textContent,
    })));
    assert.equal(marked.length, 1);
    assert.equal(marked[0]!.step, '8');
    assert.match(marked[0]!.label!, /first divergence/);
    assert.ok(marked[0]!.label!.includes(first.description));
    // The injected wrong value is the one the model was unsure of (the replay model's 30%).
    assert.equal(marked[0]!.predicted, '⚠ 30% total=99');
    assert.equal(marked[0]!.actual, `total=${realLoop.frames[8]!.locals.get('total')}`);
    assert.ok(await page.isVisible('#canvas .row.first-divergence .first-divergence-badge'));
    assert.ok((await page.textContent('#divergence'))!.includes(first.description));
    // The scores, as the view model wrote them.
    const scores = await page.$$eval('#scores .score', (items) => items.map((item) => ({ id: (item as HTMLElement).dataset.score, text: item.textContent, bad: item.classList.contains('bad') })));
    assert.deepEqual(scores.map((score) => score.id), model.scores.map((score) => score.id));
    const action = model.scores.find((score) => score.id === 'action')!;
    assert.deepEqual(scores.find((score) => score.id === 'action'), { id: 'action', text: `${action.label}${action.text}`, bad: true });
    assert.match((await page.textContent('#scores'))!, /1 state differs/);
    // The debugger's position at the time: row 0 is the current and the selected one.
    assert.deepEqual(await selection(), { position: 0, visible: true, active: 'row-0', count: 1 });
    assert.equal(await page.getAttribute('#row-0', 'aria-current'), 'step');
  });

  test('theme colours come from the --vscode-* variables', async () => {
    await page.focus('#table');
    const colours = await page.evaluate(() => {
      const background = (selector: string) => getComputedStyle(document.querySelector(selector)!).backgroundColor;
      return { selected: background('#canvas .row.selected'), badge: background('#canvas .first-divergence-badge') };
    });
    assert.equal(colours.selected, 'rgb(4, 57, 94)');
    // The pill keeps its own colours (white on #b3261e): the theme's error colour would not be readable under white text.
    assert.equal(colours.badge, 'rgb(179, 38, 30)');
    const missing = sessions.compare.model.rows.findIndex((row) => row.verdict === 'missing');
    await post({ type: 'select', position: missing - 1 });
    await page.waitForSelector(`#row-${missing}`);
    assert.equal(await page.$eval(`#row-${missing}`, (row) => getComputedStyle(row).backgroundColor), 'rgba(255, 0, 0, 0.15)');
  });

  test('a select message from the extension selects the debugger\'s row and scrolls it into view', async () => {
    const { model } = sessions.compare;
    await post({ type: 'select', position: 0 });
    const last = model.rows.length - 1;
    await post({ type: 'select', position: last });
    await page.waitForSelector(`#row-${last}.selected.current`);
    assert.deepEqual(await selection(), { position: last, visible: true, active: `row-${last}`, count: 1 });
    assert.ok((await page.$eval('#table', (table) => table.scrollTop)) > 0);
    assert.equal(await page.getAttribute(`#row-${last}`, 'aria-current'), 'step');
    assert.equal(await page.$$eval('#canvas .row.current', (rows) => rows.length), 1);
  });

  test('click and Enter post goToStep for the row\'s step, which brings the adapter to that row', async () => {
    const { model, session } = sessions.compare;
    const first = model.firstDivergence!.position;
    await post({ type: 'select', position: first });
    await page.click(`#row-${first} .source.side-actual`);
    const clicked = await lastPosted();
    assert.deepEqual(clicked, { type: 'goToStep', position: first, step: 8, side: 'actual' });
    assert.equal(await session.goTo({ ...model.rows[first]!, goTo: { step: clicked!.step!, side: clicked!.side as 'actual' } }), first);
    assert.equal((await selection()).position, first);
    // Keyboard: the table has the focus after the click; Down selects the next row without moving the debugger, Enter moves it.
    const before = (await page.evaluate(() => window.__posted.length));
    await page.keyboard.press('ArrowDown');
    assert.equal((await selection()).position, first + 1);
    assert.equal(await page.evaluate(() => window.__posted.length), before);
    await page.keyboard.press('Enter');
    const entered = await lastPosted();
    const next = model.rows[first + 1]!;
    assert.deepEqual(entered, { type: 'goToStep', position: first + 1, step: next.goTo.step, side: next.goTo.side });
    assert.equal(await session.goTo({ ...next, goTo: { step: entered!.step!, side: entered!.side as 'actual' } }), first + 1);
  });

  test('keyboard: Up, Down, PageUp, PageDown, Home and End move the selection and keep it in view', async () => {
    const { model } = sessions.compare;
    const last = model.rows.length - 1;
    await page.focus('#table');
    await page.keyboard.press('Home');
    assert.deepEqual(await selection(), { position: 0, visible: true, active: 'row-0', count: 1 });
    await page.keyboard.press('PageDown');
    const page1 = await selection();
    assert.ok(page1.position > 5 && page1.visible, JSON.stringify(page1));
    await page.keyboard.press('PageDown');
    const page2 = await selection();
    assert.equal(page2.position, Math.min(last, 2 * page1.position));
    assert.ok(page2.visible);
    await page.keyboard.press('PageUp');
    assert.equal((await selection()).position, page1.position);
    await page.keyboard.press('End');
    assert.deepEqual(await selection(), { position: last, visible: true, active: `row-${last}`, count: 1 });
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    assert.equal((await selection()).position, last - 2);
    await page.keyboard.press('ArrowDown');
    assert.equal((await selection()).position, last - 1);
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowUp');
    assert.equal((await selection()).position, 0);
    assert.equal(await page.$eval('#table', (table) => table.scrollTop), 0);
  });

  test('screenshot of the comparison at its first divergence', async () => {
    const { model } = sessions.compare;
    await showModel(model, model.firstDivergence!.position);
    await page.focus('#table');
    const dir = join(repoRoot, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'side-by-side.png');
    await page.screenshot({ path: file });
    assert.ok(readFileSync(file).length > 10_000);
  });

  test('at half width (540 px), dark and light: verdicts as symbols with tooltips, a readable pill, a legend, nothing cut without an ellipsis', async () => {
    const { model } = sessions.compare;
    const dir = join(repoRoot, 'test-artifacts');
    mkdirSync(dir, { recursive: true });
    await page.setViewportSize({ width: 540, height: 700 });
    try {
      for (const [name, theme] of [['dark', THEME], ['light', LIGHT_THEME]] as const) {
        await page.evaluate((variables) => {
          for (const [key, value] of Object.entries(variables)) document.documentElement.style.setProperty(key, value);
        }, theme);
        await showModel(model, model.firstDivergence!.position);
        const seen = await page.evaluate(() => {
          const shown = (element: Element | null) => element !== null && getComputedStyle(element).display !== 'none' && (element as HTMLElement).offsetWidth > 0;
          const verdicts = Array.from(document.querySelectorAll<HTMLElement>('#canvas .row .cell.verdict'));
          const cut = Array.from(document.querySelectorAll<HTMLElement>('#canvas .row .cell, #header .cell'))
            .filter((cell) => cell.scrollWidth > cell.clientWidth + 1 && getComputedStyle(cell).textOverflow !== 'ellipsis')
            .map((cell) => `${cell.className}: ${cell.textContent}`);
          const pill = document.querySelector('#divergence .first-divergence-badge')!;
          const style = getComputedStyle(pill);
          return {
            width: document.documentElement.clientWidth,
            tableWidth: document.getElementById('canvas')!.scrollWidth,
            symbolsShown: verdicts.every((cell) => shown(cell.querySelector('.verdict-symbol'))),
            wordsHidden: verdicts.every((cell) => !shown(cell.querySelector('.verdict-word'))),
            titled: verdicts.every((cell) => cell.title.length > 0),
            rowPillHidden: !shown(document.querySelector('#canvas .row.first-divergence .first-divergence-badge')),
            cut,
            pill: { color: style.color, background: style.backgroundColor },
            legend: Array.from(document.querySelectorAll<HTMLElement>('#legend .legend-entry')).map((entry) => entry.dataset.verdict),
          };
        });
        assert.equal(seen.width, 540);
        assert.ok(seen.tableWidth <= 540, `both sides fit: the rows are ${seen.tableWidth} px wide`);
        assert.ok(seen.symbolsShown && seen.wordsHidden && seen.titled, JSON.stringify(seen));
        assert.ok(seen.rowPillHidden, 'the pill does not crowd a narrow verdict cell');
        assert.deepEqual(seen.cut, [], 'cells cut without an ellipsis');
        assert.deepEqual(seen.legend, ['match', 'state-differs', 'action-differs', 'missing', 'extra']);
        const ratio = contrastRatio(seen.pill.color, seen.pill.background);
        assert.ok(ratio >= 4.5, `the first-divergence pill's contrast in the ${name} theme is ${ratio.toFixed(2)}:1`);
        const file = join(dir, `side-by-side-half-width-${name}.png`);
        await page.screenshot({ path: file });
        assert.ok(readFileSync(file).length > 5_000);
      }
    } finally {
      await page.evaluate((variables) => {
        for (const key of Object.keys(variables)) document.documentElement.style.removeProperty(key);
      }, LIGHT_THEME);
      await page.setViewportSize({ width: 1400, height: 700 });
    }
  });

  test('actual mode: one column of real steps', async () => {
    const { model } = sessions.actual;
    await showModel(model, 5);
    const headers = await page.$$eval('#header .cell', (cells) => cells.map((cell) => (cell as HTMLElement).innerText));
    assert.deepEqual(headers, ['', 'Step', 'Line', 'Real run', 'Changed']);
    assert.equal(await page.$$eval('#canvas .side-predicted', (cells) => cells.length), 0);
    assert.equal(await page.$$eval('#canvas .row[data-verdict]', (rows) => rows.length), 0);
    assert.deepEqual(await selection(), { position: 5, visible: true, active: 'row-5', count: 1 });
    assert.equal(await page.textContent('#row-0 .changes.side-actual'), 'n=8');
    assert.match((await page.getAttribute('#row-0', 'aria-label'))!, /^step 0, line 9, call, def main\(n\):, n = 8/);
    await page.click('#row-3');
    assert.deepEqual(await lastPosted(), { type: 'goToStep', position: 3, step: 3 });
  });

  test('100,000 rows: only a window of rows is in the DOM, and every part of the trace can be reached', async () => {
    const { body } = await longCompareBody();
    const model = buildSideBySideModel(body);
    const count = model.rows.length;
    await showModel(model, 0);
    const rowHeight = await page.$eval('#row-0', (row) => row.getBoundingClientRect().height);
    assert.ok(rowHeight > 0);
    assert.equal(await page.$eval('#canvas', (canvas) => canvas.getBoundingClientRect().height), count * rowHeight);
    const atTop = await renderedPositions();
    assert.ok(atTop.length > 10 && atTop.length < 150, `${atTop.length} rows in the DOM`);
    assert.equal(atTop[0], 0);
    // Scrolling to the middle draws the rows there (and no others).
    const middle = Math.floor(count / 2);
    await page.$eval('#table', (table, top) => {
      table.scrollTop = top;
    }, middle * rowHeight);
    await page.waitForSelector(`#row-${middle}`);
    const there = await renderedPositions();
    assert.ok(there.length < 150, `${there.length} rows in the DOM`);
    // The selected row 0 stays in the DOM (the grid's active descendant); every other row drawn is near the middle.
    assert.ok(there.filter((position) => position !== 0).every((position) => Math.abs(position - middle) < 100), JSON.stringify(there));
    // The debugger moving far away.
    await post({ type: 'select', position: 77_777 });
    await page.waitForSelector('#row-77777.selected.current');
    assert.deepEqual(await selection(), { position: 77_777, visible: true, active: 'row-77777', count: 1 });
    assert.equal(await page.getAttribute('#row-77777', 'aria-rowindex'), '77779');
    await page.focus('#table');
    await page.keyboard.press('End');
    assert.deepEqual(await selection(), { position: count - 1, visible: true, active: `row-${count - 1}`, count: 1 });
    assert.ok((await renderedPositions()).length < 150);
    // Each kind of verdict where the copy was edited, reached through the keyboard's neighbours of the first divergence.
    await page.click('button.go-divergence');
    const first = model.firstDivergence!.position;
    assert.deepEqual(await lastPosted(), { type: 'goToStep', position: first, step: 1000, side: 'actual' });
    assert.equal((await selection()).position, first);
    for (const verdict of ['state-differs', 'action-differs', 'missing', 'extra'] as const) {
      const position = model.rows.findIndex((row) => row.verdict === verdict);
      await post({ type: 'select', position });
      await page.waitForSelector(`#row-${position}.selected`);
      assert.equal(await page.getAttribute(`#row-${position}`, 'data-verdict'), verdict);
      assert.ok((await page.getAttribute(`#row-${position}`, 'class'))!.includes(`verdict-${verdict}`));
      assert.match((await page.getAttribute(`#row-${position}`, 'aria-label'))!, new RegExp(`^Row ${position + 1} of ${count}, `));
    }
    assert.equal(await page.getAttribute('#table', 'aria-rowcount'), String(count + 1));
  });

  test('a clear message (the session ended) empties the view and says why', async () => {
    await post({ type: 'clear', text: 'The debug session ended.' });
    await page.waitForFunction(() => document.querySelectorAll('#canvas .row').length === 0);
    assert.equal(await page.textContent('#status'), 'The debug session ended.');
    assert.equal(await page.textContent('#scores'), '');
  });

  test('no Content Security Policy violation and no script error happened (and a violation would have been seen)', async () => {
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assert.deepEqual(pageErrors, []);
    await page.evaluate(() => document.body.setAttribute('style', 'color: red'));
    await page.waitForFunction(() => window.__violations.length > 0);
    assert.match((await page.evaluate(() => window.__violations))[0]!, /^style-src/);
  });
});
