// End to end in a real VS Code: the packaged extension installed into code-server 4.100.3 (VS Code 1.100.3), driven in
// headless Debian Chromium, debugging a fixture program in compare mode against the loopback replay endpoint.
//
// Run: npm run setup:e2e (once), then `node scripts/build.mjs && node --test out/test/e2e/vscode.e2e.test.js`.
// It installs cwm-debug.vsix from the repo root when that is newer than dist/extension.js, else runs `npm run package`
// first (so after a build the package is always remade). Screenshots go to test-artifacts/e2e/; on a failure also the
// failing window, code-server's and VS Code's logs and the browser console.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { TraceFrame } from '../../server/trace/model';
import { withoutConfidence } from '../helpers/debuggee';
import { repoRoot } from '../helpers/paths';
import { CHROMIUM_PATH, type VsCodePage } from './harness/browser';
import { CODE_SERVER_BINARY } from './harness/code-server';
import { startReplayEndpoint, type ReplayEndpoint } from './harness/endpoint';
import { descendantsOf, isAlive, waitFor, type ProcessInfo } from './harness/processes';
import { startVsCodeSession, type VsCodeSession } from './harness/session';
import { ensureVsix } from './harness/vsix';
import { createWorkspace, type Workspace } from './harness/workspace';

const PROGRAM = 'squares.py';
/** The workspace's one program with a marked entry: what "CWM: Evaluate Folder" evaluates. */
const EVAL_PROGRAM = 'mean.py';
const ENTRY = 'sum_of_squares';
const ARGS = '4';
/** Lines of the fixture program (checked against the file in `before`). */
const LINES = { entryDef: 9, loopBody: 12 };
/** The trace step whose `total` the endpoint gets wrong, and the wrong value. */
const DIVERGENCE_STEP = 8;
const WRONG_TOTAL = '99';
/** A watch expression (a generator expression) the adapter's TypeScript evaluator computes from the frame's values. */
const WATCH = 'sum(k * k for k in range(i + 1))';

/** "Find Inputs That Reach This Line": a gate whose inner branch few inputs reach (no marker: the command needs none). */
const CIRCLE_PROGRAM = 'circle.py';
const CIRCLE_LINES = { def: 14, grow: 16 };
const GATE_PROGRAM = 'gate.py';
const GATE_SOURCE = readFileSync(join(repoRoot, 'test', 'fixtures', 'inverse', 'gate.py'), 'utf8').replace('  # << START_OF_TRACE', '');
const GATE_TARGET = GATE_SOURCE.split('\n').findIndex((line) => line.includes('return total')) + 1;

const Manifest = z.object({ name: z.string(), publisher: z.string(), displayName: z.string() });
const manifest = Manifest.parse(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')));
const EXTENSION_ID = `${manifest.publisher}.${manifest.name}`;

function missingTools(): string | false {
  const missing = [
    ...(existsSync(CODE_SERVER_BINARY) ? [] : [`code-server (${CODE_SERVER_BINARY})`]),
    ...(existsSync(CHROMIUM_PATH) ? [] : [`Chromium (${CHROMIUM_PATH})`]),
  ];
  return missing.length === 0 ? false : `${missing.join(' and ')} missing: run npm run setup:e2e to install them`;
}

const skip = missingTools();
if (skip) console.log(`VS Code end-to-end suite skipped: ${skip}`);

describe('the extension in a real VS Code (code-server + Chromium)', { skip, timeout: 360_000 }, () => {
  let endpoint: ReplayEndpoint | undefined;
  let workspace: Workspace | undefined;
  let session: VsCodeSession | undefined;
  let vscode: VsCodePage;
  let realFrames: readonly TraceFrame[] = [];
  /** Python processes seen under code-server while the session ran (tracer, evaluator). */
  const pythonsSeen = new Map<number, ProcessInfo>();
  let failed: string | undefined;

  /** Runs one step of the scenario; on failure saves the window and the logs, and later steps refuse to run. */
  async function step(name: string, body: () => Promise<void>): Promise<void> {
    if (failed !== undefined) assert.fail(`not run: the earlier step "${failed}" failed`);
    try {
      await body();
    } catch (error) {
      failed = name;
      await session?.saveFailure(name);
      throw error;
    }
  }

  function ourPythons(): ProcessInfo[] {
    return session ? descendantsOf(session.server.pid).filter((info) => /python/i.test(info.cmdline)) : [];
  }

  before(async () => {
    const source = readFileSync(join(repoRoot, 'test', 'fixtures', 'e2e-workspace', PROGRAM), 'utf8').split('\n');
    assert.match(source[LINES.entryDef - 1]!, new RegExp(`^def ${ENTRY}\\(`));
    assert.match(source[LINES.loopBody - 1]!, /total \+= square\(i\)/);

    const started = Date.now();
    const vsix = ensureVsix((line) => console.log(line));
    const packaged = Date.now();
    workspace = createWorkspace();
    writeFileSync(workspace.path(GATE_PROGRAM), GATE_SOURCE);
    endpoint = await startReplayEndpoint({
      programs: [{ file: workspace.path(PROGRAM), entry: ENTRY, args: ARGS }, { file: workspace.path(EVAL_PROGRAM) }],
      corruptions: [{ kind: 'wrong-value', step: DIVERGENCE_STEP, variable: 'total', value: WRONG_TOTAL }],
      // The inverse model's scripted mix: one truly reaching input, a false claim, a near miss, a malformed call frame.
      inverse: [{
        file: workspace.path(GATE_PROGRAM), entry: 'gate',
        script: [{ kind: 'real', args: "12, 'abc'" }, { kind: 'claim', args: "5, 'abc'", line: GATE_TARGET }, { kind: 'real', args: "3, 'ab'" }, { kind: 'malformed' }],
      }],
    });
    realFrames = endpoint.traces[0]!.frames;
    workspace.writeLaunch([{
      type: 'cwm',
      request: 'launch',
      name: 'CWM: compare',
      program: '${workspaceFolder}/' + PROGRAM,
      entry: ENTRY,
      args: ARGS,
      mode: 'compare',
      // No endpoint or tokenizer here: the extension's configuration provider fills them from the settings below.
      // Straight to the first divergence: the entry stop is covered by the adapter suite.
      stopOnEntry: false,
    }]);
    workspace.writeSettings({
      'cwmDebug.tracer.timeoutSeconds': 20,
      'cwmDebug.endpoints': [endpoint.url],
      'cwmDebug.tokenizerPath': endpoint.tokenizerPath,
    });
    const endpointUp = Date.now();
    session = await startVsCodeSession({ vsix, workspace });
    vscode = session.vscode;
    console.log(`setup: package ${packaged - started} ms, endpoint ${endpointUp - packaged} ms, code-server and Chromium ${Date.now() - endpointUp} ms`);
  });

  after(async () => {
    await session?.close();
    await endpoint?.close();
    workspace?.remove();
  });

  test('1. the packaged extension activates in the opened workspace', async () => {
    await step('activation', async () => {
      const started = Date.now();
      await vscode.open(session!.server.urlForFolder(workspace!.folder));
      const opened = Date.now();
      // Activation event onLanguage:python: opening the program activates the extension.
      await vscode.quickOpen(PROGRAM);
      const proof = await vscode.waitForExtensionActivated(EXTENSION_ID, { statusBarItemId: 'cwmDebug.status', displayName: manifest.displayName });
      console.log(`workbench and explorer ${opened - started} ms; activated (seen in ${proof}) ${Date.now() - opened} ms later`);
      // The status bar item checks the configured endpoint: the replay server answers as a vLLM server with its model.
      const status = await vscode.poll('the CWM status bar item to show the endpoint as ready',
        () => vscode.statusBarText(EXTENSION_ID, 'cwmDebug.status'), (text) => /^CWM: /.test(text) && !/no endpoint|down|tokenizer|partly/.test(text));
      // The protocol server's default model name, as vLLM would list it.
      assert.match(status, new RegExp(`CWM: ${escapeRegExp('facebook/cwm')}`));
      await vscode.screenshot('01-activated');
    });
  });

  test('2. F5 in compare mode stops on the divergence; Predicted and Actual show both values; F10 moves on', async () => {
    await step('divergence', async () => {
      const diverged = realFrames[DIVERGENCE_STEP]!;
      const realTotal = diverged.locals.get('total')!;
      assert.notEqual(realTotal, WRONG_TOTAL, 'the injected value must differ from the real one');

      await vscode.quickOpen(PROGRAM);
      await vscode.goToLine(LINES.loopBody);
      await vscode.screenshot('02-program-open');
      await vscode.startDebugging();
      const stack = await vscode.waitForStopped(30_000);
      for (const info of ourPythons()) pythonsSeen.set(info.pid, info);

      const state = await vscode.callStackState();
      assert.match(state, new RegExp(`^step ${DIVERGENCE_STEP}: total is ${WRONG_TOTAL} in the prediction but ${realTotal} in the real run`),
        `CALL STACK header: ${state}`);
      assert.equal(stack[0]!.name, ENTRY);
      assert.equal(stack[0]!.file, PROGRAM);
      assert.equal(stack[0]!.line, diverged.line);

      const expectedActual = Object.fromEntries(diverged.locals);
      // The predicted row says the real value in its own text, so the difference shows at a glance.
      const expectedPredicted = { ...expectedActual, total: `${WRONG_TOTAL} ≠ ${realTotal}` };
      const predicted = await vscode.waitForScope('Predicted', (values) => sameValues(values, expectedPredicted), `to hold ${JSON.stringify(expectedPredicted)}`);
      const actual = await vscode.waitForScope('Actual', (values) => sameValues(values, expectedActual), `to hold ${JSON.stringify(expectedActual)}`);
      // The injected value is the one the model was unsure of: marked with its confidence; the others say theirs.
      assert.equal(predicted.get('total'), `${WRONG_TOTAL} ≠ ${realTotal}  ⚠ 30%`);
      for (const [name, value] of predicted) if (name !== 'total') assert.doesNotMatch(value, /⚠/, `${name} = ${value}`);
      assert.equal(actual.get('total'), realTotal);
      assert.deepEqual((await vscode.variables()).filter((row) => row.kind === 'scope').map((row) => row.name), ['Predicted', 'Actual']);
      // A generator expression, evaluated by the adapter itself over the frame's values (no Python process).
      await vscode.addWatch(WATCH);
      const watched = await vscode.poll(`the watch ${WATCH} to show a value`, () => vscode.watches(), (rows) => rows.some((row) => row.name === WATCH && row.value !== ''));
      assert.equal(watched.find((row) => row.name === WATCH)!.value, String(sumOfSquaresThrough(Number(diverged.locals.get('i')))));
      await vscode.screenshot('03-stopped-on-divergence');

      // Step over the call of square: the next frame of the same function, where the real run and the prediction agree again.
      const next = realFrames.find((frame) => frame.index > diverged.index && frame.depth === diverged.depth && frame.event === 'line')!;
      const nextValues = Object.fromEntries(next.locals);
      await vscode.stepOver();
      const after = await vscode.waitForStopped();
      assert.equal(after[0]!.name, ENTRY);
      assert.equal(after[0]!.line, next.line);
      assert.doesNotMatch(await vscode.callStackState(), /in the prediction but/);
      await vscode.waitForScope('Actual', (values) => sameValues(values, nextValues), `to hold ${JSON.stringify(nextValues)} after F10`);
      const predictedAfter = await vscode.waitForScope('Predicted', (values) => sameValues(values, nextValues), `to hold ${JSON.stringify(nextValues)} after F10`);
      assert.doesNotMatch(predictedAfter.get('total') ?? '', new RegExp(`^${WRONG_TOTAL}\\b`));
      for (const info of ourPythons()) pythonsSeen.set(info.pid, info);
      console.log(`Python processes under code-server while paused: ${JSON.stringify([...pythonsSeen.values()].map((info) => info.cmdline))}`);
      await vscode.screenshot('04-after-step-over');
    });
  });

  test('3. the side-by-side view marks the first divergence; clicking its row moves the debugger there', async () => {
    await step('side-by-side', async () => {
      const diverged = realFrames[DIVERGENCE_STEP]!;
      await vscode.runCommand('CWM: Show Side-by-Side View');
      const view = await vscode.findFrame(async (frame) => (await frame.locator('#canvas div.row').count().catch(() => 0)) > 0, 'the side-by-side rows');
      const marked = view.locator('#canvas div.row.first-divergence');
      await marked.waitFor({ state: 'visible', timeout: 30_000 });
      assert.equal(await marked.count(), 1);
      assert.equal(await marked.getAttribute('data-step'), String(DIVERGENCE_STEP));
      assert.equal(await marked.getAttribute('data-verdict'), 'state-differs');
      assert.match(await marked.innerText(), new RegExp(`total\\s*=\\s*${WRONG_TOTAL}(?!\\d)`));
      // Shaded and marked by the model's confidence: the injected value and nothing else.
      const unsure = view.locator('#canvas .changes.side-predicted .unsure');
      assert.equal(await unsure.count(), 1);
      assert.match(await unsure.innerText(), new RegExp(`^⚠ 30% total=${WRONG_TOTAL}$`));
      assert.equal(await marked.locator('.changes.side-predicted .unsure').count(), 1, 'the unsure value is on the divergence row');
      assert.notEqual((await view.locator('#scores').innerText()).trim(), '');
      // The debugger stepped past the divergence in test 2: the view follows it, so the selection is on a later row.
      const selected = view.locator('#canvas div.row.selected');
      await selected.waitFor({ state: 'visible', timeout: 15_000 });
      assert.ok(Number(await selected.getAttribute('data-step')) > DIVERGENCE_STEP, 'the selection follows the debugger');
      await vscode.screenshot('05-side-by-side');

      await marked.click();
      const stack = await vscode.poll('the debugger to move back to the divergence', () => vscode.callStack(),
        (frames) => frames[0]?.line === diverged.line);
      assert.equal(stack[0]!.name, ENTRY);
      await vscode.waitForScope('Predicted', (values) => (values.get('total') ?? '').startsWith(`${WRONG_TOTAL} ≠ `), `to show total = ${WRONG_TOTAL} again`);
      await vscode.screenshot('06-side-by-side-row-clicked');
    });
  });

  test('4. stopping the session leaves no Python process of ours running', async () => {
    await step('stop-session', async () => {
      await vscode.stopDebugging();
      // A stopped session leaves no stale values behind: its scopes leave the VARIABLES view.
      await vscode.poll('the VARIABLES view to drop the stopped session\'s scopes', () => vscode.variables(),
        (rows) => !rows.some((row) => row.kind === 'scope'), 15_000);
      await vscode.screenshot('07-session-stopped');
      const left = await waitFor('the Python processes under code-server to exit after the session stopped', () => {
        const running = [...ourPythons(), ...[...pythonsSeen.values()].filter((info) => isAlive(info.pid))];
        return running.length === 0 ? [] : false;
      }, 10_000).catch(() => [...ourPythons(), ...[...pythonsSeen.values()].filter((info) => isAlive(info.pid))]);
      assert.deepEqual(left.map((info) => info.cmdline), []);
    });
  });

  test('5. the "Predict trace" code lens shows predicted values as inlay hints', async () => {
    await step('code-lens', async () => {
      await vscode.quickOpen(PROGRAM);
      // The second function's lens: square() comes first in the file.
      await vscode.clickCodeLens('Predict trace', 1);
      // `total = 0` on line 10 produces total = 0; the loop body's hint carries the running total.
      const first = await vscode.waitForInlayHint((hint) => /^\s*total = 0\s*total = 0\s*$/.test(hint.lineText), 'with total = 0 after `total = 0`');
      assert.equal(first.text, 'total = 0');
      const body = await vscode.waitForInlayHint((hint) => /total \+= square\(i\)/.test(hint.lineText) && /\btotal = \d+/.test(hint.text), 'with the running total after the loop body');
      assert.match(body.text, /\btotal = \d+/);
      await vscode.screenshot('08-predict-code-lens-inlay-hints');
    });
  });

  test('6. F5 without a launch.json offers compare / predict / real run for the function under the cursor', async () => {
    await step('f5-without-launch-json', async () => {
      rmSync(workspace!.path('.vscode/launch.json'));
      await vscode.quickOpen(PROGRAM);
      await vscode.goToLine(LINES.loopBody);
      await vscode.focusWorkbench();
      await vscode.page.keyboard.press('F5');
      // With no Python extension installed, ours is the only debugger for Python, so VS Code goes straight to it.
      await vscode.pickQuickInputRow(`Compare prediction with the real run of ${ENTRY}()`);
      await vscode.answerInputBox(`Arguments for ${ENTRY}`, ARGS);
      await vscode.waitForDebugToolbar();
      // The endpoint and tokenizer come from the settings; stopOnEntry is the default, so it stops on the call.
      const stack = await vscode.waitForStopped(30_000);
      assert.equal(stack[0]!.name, ENTRY);
      assert.equal(stack[0]!.line, LINES.entryDef);
      const predicted = await vscode.waitForScope('Predicted', (values) => values.get('n') === ARGS, `to hold n = ${ARGS}`);
      assert.equal(predicted.get('n'), ARGS);
      await vscode.waitForScope('Actual', (values) => values.get('n') === ARGS, `to hold n = ${ARGS}`);
      // The code lens's predicted values from test 5 describe another run: the new session cleared them.
      await vscode.poll('the earlier prediction\'s inlay hints to be cleared', () => vscode.inlayHints(),
        (hints) => !hints.some((hint) => /\btotal = \d+/.test(hint.text)));
      await vscode.screenshot('09-f5-without-launch-json');
      await vscode.stopDebugging();
    });
  });

  test('7. "CWM: Evaluate Folder" scores the workspace\'s marked programs and opens the summary', async () => {
    await step('evaluate-folder', async () => {
      await vscode.runCommand('CWM: Evaluate Folder');
      await vscode.pickQuickInputRow('the workspace folder');
      const preview = await vscode.findFrame(/CWM evaluation summary/, 'the evaluation summary in the Markdown preview');
      const text = await preview.locator('body').innerText();
      assert.match(text, /Output \(CRUXEval-O\)/);
      assert.match(text, /\(folder, 1 program,/);
      assert.doesNotMatch(text, /\b1 programs\b/);
      // The summary has the whole window's width, not a half next to another group.
      const widths = await preview.evaluate(() => window.innerWidth);
      const viewport = vscode.page.viewportSize()?.width ?? 0;
      assert.ok(widths > viewport * 0.6, `the summary is ${widths} px wide in a ${viewport} px window`);
      const written = await vscode.poll('the "evaluated" notification', () => vscode.notifications(),
        (shown) => shown.some((message) => /evaluated 1 program, output right for 1 of 1 \(100\.0%\)\. Report in .*\.cwm-eval/.test(message)));
      assert.ok(written.length > 0, `notifications: ${JSON.stringify(written)}`);
      await vscode.screenshot('10-evaluate-folder');
    });
  });

  test('8. "Find Inputs That Reach This Line" lists the verified input first and debugs it stopped on the line', async () => {
    await step('find-inputs', async () => {
      await vscode.quickOpen(GATE_PROGRAM);
      await vscode.goToLine(GATE_TARGET);
      const condition = /Find inputs of gate\(\) that reach line/;
      await vscode.runCommandWithInput('CWM: Find Inputs That Reach This Line', condition);
      await vscode.answerInputBox(condition, '');
      // The quick pick: the verified input, then the refuted claim with where its real run went.
      await vscode.waitVisible(vscode.page.locator('.quick-input-list .monaco-list-row', { hasText: /returned 0 at step \d+ without reaching line/ }).first(),
        'the refuted claim with where the real run went');
      await vscode.screenshot('11-find-inputs-results');
      await vscode.pickQuickInputRow("12, 'abc'");
      const stack = await vscode.waitForStopped(30_000);
      assert.equal(stack[0]!.name, 'gate');
      assert.equal(stack[0]!.file, GATE_PROGRAM);
      assert.equal(stack[0]!.line, GATE_TARGET);
      await vscode.waitForScope('Actual', (values) => values.get('n') === '12' && values.get('total') === '24', 'to hold n = 12, total = 24 at the line');
      await vscode.screenshot('12-find-inputs-compare-at-line');
      await vscode.stopDebugging();
    });
  });

  test('9. time travel on a real run: every run of a line, value history, where a value came from, call history, lenses, timeline', async () => {
    await step('time-travel', async () => {
      rmSync(workspace!.path('.vscode/launch.json'), { force: true });
      await vscode.quickOpen(PROGRAM);
      await vscode.goToLine(LINES.loopBody);
      await vscode.focusWorkbench();
      await vscode.page.keyboard.press('F5');
      await vscode.pickQuickInputRow(`Record the real run of ${ENTRY}()`);
      await vscode.answerInputBox(`Arguments for ${ENTRY}`, ARGS);
      await vscode.waitForDebugToolbar();
      const entry = await vscode.waitForStopped(30_000);
      assert.equal(entry[0]!.line, LINES.entryDef);

      // Every run of the loop body: four, each with the i it ran with; picking the third moves the debugger there.
      await vscode.goToLine(LINES.loopBody);
      await vscode.runCommandWithInput('CWM: Every Run of This Line', /every run of line 12/);
      await vscode.waitVisible(vscode.page.locator('.quick-input-list .monaco-list-row', { hasText: /Run 4 of 4/ }).first(), 'the fourth run of line 12');
      await vscode.screenshot('13-every-run-of-a-line');
      await vscode.pickQuickInputRow(/Run 3 of 4/);
      // A move asked by a custom request sends no "continued" first: wait for the new stop's position, not any stop.
      const onLine = (line: number, what: string) => vscode.poll(what, () => vscode.callStack(), (stack) => stack[0]?.line === line);
      await onLine(LINES.loopBody, 'the debugger on the third run of line 12');
      await vscode.waitForScope('Locals', (values) => values.get('i') === '2' && values.get('total') === '1', 'to hold i = 2, total = 1 on the third run');

      // Value history of total (cursor on the name): 0, 0, 1, 5, 14 in this call.
      await vscode.goToLine(LINES.loopBody);
      await vscode.page.keyboard.press('End');
      await vscode.page.keyboard.press('Home');
      await vscode.runCommandWithInput('CWM: Value History', /values of total in this call of sum_of_squares/);
      await vscode.waitVisible(vscode.page.locator('.quick-input-list .monaco-list-row', { hasText: /total = 14/ }).first(), 'total = 14 in the history');
      await vscode.screenshot('14-value-history');
      await vscode.page.keyboard.press('Escape');

      // Where did total come from: the loop body of the run before (total = 1 was set there, when i was 1).
      await vscode.runCommand('CWM: Where Did This Value Come From?');
      await onLine(LINES.loopBody, 'the debugger on the line that set total');
      await vscode.waitForScope('Locals', (values) => values.get('i') === '1' && values.get('total') === '0', 'to hold i = 1, total = 0 where total = 1 was set');

      // The call history view and the lenses: square ran 4 times, none raised.
      await vscode.waitForCodeLens(/^4 calls$/);
      // Views added to Run and Debug start collapsed under the built-in ones: open ours.
      const expand = async (title: string): Promise<void> => {
        const header = vscode.page.locator('.pane-header', { hasText: new RegExp(title, 'i') }).first();
        await vscode.waitVisible(header, `the ${title} view's header`);
        if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
      };
      await expand('CWM Call History');
      const calls = vscode.page.locator('.pane', { has: vscode.page.locator('.pane-header', { hasText: /CWM Call History/i }) });
      await vscode.waitVisible(calls.locator('.monaco-list-row', { hasText: /sum_of_squares\(n=4\)/ }).first(), 'sum_of_squares(n=4) in the call history');
      await vscode.screenshot('15-call-history-and-lenses');

      // The timeline: a click in the middle moves the debugger about halfway through the trace.
      await expand('CWM Timeline');
      const timeline = await vscode.findFrame(/Step \d+ of \d+/, 'the CWM Timeline');
      const bar = timeline.locator('#bar');
      const box = await bar.boundingBox();
      assert.ok(box, 'the timeline bar is laid out');
      await bar.click({ position: { x: box!.width / 2, y: box!.height / 2 } });
      await vscode.poll('the timeline to show the new step', async () => timeline.locator('#info').innerText(), (text) => /^Step (\d+) of (\d+)/.test(text) && !/^Step 1 of/.test(text));
      await vscode.screenshot('16-timeline');
      await vscode.stopDebugging();
    });
  });

  test('10. a real run records the attributes of an object without a __repr__: VARIABLES expands it', async () => {
    await step('object-state', async () => {
      rmSync(workspace!.path('.vscode/launch.json'), { force: true });
      await vscode.quickOpen(CIRCLE_PROGRAM);
      await vscode.goToLine(CIRCLE_LINES.grow);
      await vscode.focusWorkbench();
      await vscode.page.keyboard.press('F5');
      await vscode.pickQuickInputRow('Record the real run of make_and_grow()');
      await vscode.answerInputBox('Arguments for make_and_grow', '3');
      await vscode.waitForDebugToolbar();
      assert.equal((await vscode.waitForStopped(30_000))[0]!.line, CIRCLE_LINES.def);
      await vscode.stepOver();
      await vscode.waitForStopped();
      await vscode.stepOver();
      assert.equal((await vscode.waitForStopped())[0]!.line, CIRCLE_LINES.grow);
      await vscode.expandVariable('Locals', 'scope');
      await vscode.expandVariable('c', 'variable');
      const rows = await vscode.poll('the attributes of c in VARIABLES', () => vscode.variables(),
        (found) => found.some((row) => row.name === 'radius' && row.value === '3'));
      assert.ok(rows.some((row) => row.name === 'c' && row.expanded === true));
      await vscode.screenshot('17-expanded-object');
      await vscode.stopDebugging();
    });
  });

  test('11. code-server stops with its whole process group', async () => {
    await step('stop-server', async () => {
      const server = session!.server;
      const members = server.members();
      assert.ok(members.length > 0, 'code-server had no live process before stop');
      const extensionHost = members.filter((info) => /--type=extensionHost/.test(info.cmdline));
      assert.ok(extensionHost.length > 0, `no extension host among ${JSON.stringify(members.map((m) => m.cmdline))}`);
      await session!.close();
      assert.deepEqual(server.members(), []);
      assert.deepEqual(members.filter((info) => isAlive(info.pid)).map((info) => info.cmdline), []);
    });
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function sumOfSquaresThrough(i: number): number {
  let sum = 0;
  for (let k = 0; k <= i; k++) sum += k * k;
  return sum;
}

/** The scope shows exactly these names with these values. */
/** The values shown, the model's confidence after a predicted value (`  · 99%`, `  ⚠ 30%`) left aside. */
function sameValues(shown: ReadonlyMap<string, string>, expected: Readonly<Record<string, string>>): boolean {
  const names = Object.keys(expected);
  return shown.size === names.length && names.every((name) => withoutConfidence(shown.get(name) ?? '') === expected[name]);
}
