// End to end in a real VS Code: the packaged extension installed into code-server 4.100.3 (VS Code 1.100.3), driven in
// headless Debian Chromium, debugging a fixture program in compare mode against the loopback replay endpoint.
//
// Run: npm run setup:e2e (once), then `node scripts/build.mjs && node --test out/test/e2e/vscode.e2e.test.js`.
// It installs cwm-debug.vsix from the repo root when that is newer than dist/extension.js, else runs `npm run package`
// first (so after a build the package is always remade). Screenshots go to test-artifacts/e2e/; on a failure also the
// failing window, code-server's and VS Code's logs and the browser console.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
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
    endpoint = await startReplayEndpoint({
      programs: [{ file: workspace.path(PROGRAM), entry: ENTRY, args: ARGS }, { file: workspace.path(EVAL_PROGRAM) }],
      corruptions: [{ kind: 'wrong-value', step: DIVERGENCE_STEP, variable: 'total', value: WRONG_TOTAL }],
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

  test('8. code-server stops with its whole process group', async () => {
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
