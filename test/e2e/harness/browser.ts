// Drives VS Code's workbench in headless Debian Chromium through playwright-core: launching the browser, and the page
// helpers the scenarios use (command palette, quick open, editor cursor, debugging views, webviews, screenshots).

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Frame, Locator, Page } from 'playwright-core';
import { repoRoot } from '../../helpers/paths';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(repoRoot, 'test-artifacts', 'e2e');

// playwright-core is loaded at run time, not bundled: esbuild would inline its lazy requires and data files wrongly.
const loadPlaywright = (): typeof import('playwright-core') => createRequire(join(repoRoot, 'package.json'))('playwright-core');

export interface BrowserOptions {
  readonly executablePath?: string;
  readonly viewport?: { readonly width: number; readonly height: number };
}

export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(options: BrowserOptions = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'cwm-e2e-chromium-'));
  const { chromium } = loadPlaywright();
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: options.executablePath ?? CHROMIUM_PATH,
    headless: true,
    viewport: options.viewport ?? { width: 1600, height: 1000 },
    // Without the background-networking flags Chromium keeps calling out to a network these machines cannot reach.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A row of the CALL STACK view. */
export interface StackFrameRow {
  /** Function name as shown (or a session/thread label when several are shown). */
  readonly name: string;
  readonly file: string;
  /** From the `line:column` badge; undefined for rows without one (sessions, threads). */
  readonly line?: number;
  readonly column?: number;
  /** The row's accessible label, e.g. `Stack Frame main, line 12, loop.py`. */
  readonly ariaLabel: string;
}

/** An inlay hint as rendered, with the text of its line. */
export interface InlayHintText {
  readonly text: string;
  readonly lineText: string;
}

/** A row of the VARIABLES view, in display order. */
export interface VariableRow {
  readonly kind: 'scope' | 'variable';
  /** 1 for scopes, 2 for their variables, deeper for children. */
  readonly level: number;
  readonly name: string;
  /** Empty for scopes. */
  readonly value: string;
  /** undefined when the row cannot expand. */
  readonly expanded?: boolean;
}

export type DebugAction = 'continue' | 'pause' | 'step-over' | 'step-into' | 'step-out' | 'step-back' | 'reverse-continue' | 'restart' | 'stop' | 'disconnect';

const DEBUG_KEYS: Partial<Record<DebugAction, string>> = {
  continue: 'F5',
  'step-over': 'F10',
  'step-into': 'F11',
  'step-out': 'Shift+F11',
  stop: 'Shift+F5',
};

export interface VsCodePageOptions {
  /** Default timeout of every wait, in ms. Default 30 s (2-core CI machines under load are slow). */
  readonly timeoutMs?: number;
  /** Where screenshots go. Default test-artifacts/e2e. */
  readonly artifactsDir?: string;
}

/** Selectors found reliable in VS Code 1.100 (code-server 4.100.3). */
export const SELECTORS = {
  workbench: '.monaco-workbench',
  explorerRow: '.explorer-folders-view .monaco-list-row',
  quickInput: '.quick-input-widget',
  quickInputBox: '.quick-input-widget .quick-input-box input',
  quickInputRow: '.quick-input-widget .quick-input-list .monaco-list-row',
  activeTab: '.tabs-container .tab.active',
  editorTextArea: '.editor-group-container.active .monaco-editor textarea',
  activeEditor: '.editor-group-container.active .monaco-editor',
  debugToolbar: '.debug-toolbar',
  debugToolbarAction: (action: DebugAction) => `.debug-toolbar .action-label.codicon-debug-${action}`,
  callStackRow: '.pane-body.debug-call-stack .monaco-list-row',
  callStackState: '.debug-pane .call-stack-state-message .label',
  variablesRow: '.pane-body.debug-variables .monaco-list-row',
  codeLens: '.monaco-editor .codelens-decoration a',
  inlayHintPart: '.monaco-editor .view-line span[class*="dyn-rule-"]',
  debugInlineValue: '.monaco-editor .view-line .debug-inline-value',
  statusBarItem: (extensionId: string, itemId: string) => `.statusbar-item[id="${extensionId.toLowerCase()}.${itemId}"]`,
  notification: '.notifications-toasts .notification-list-item-message',
  webview: 'iframe.webview',
} as const;

/** Page helpers for VS Code's workbench. Every wait has a timeout whose message says what was awaited. */
export class VsCodePage {
  readonly timeoutMs: number;
  readonly artifactsDir: string;

  constructor(readonly page: Page, options: VsCodePageOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.artifactsDir = options.artifactsDir ?? ARTIFACTS_DIR;
  }

  /** Waits until `locator` is visible, with a message naming `what`. */
  async waitVisible(locator: Locator, what: string, timeoutMs = this.timeoutMs): Promise<Locator> {
    try {
      await locator.first().waitFor({ state: 'visible', timeout: timeoutMs });
    } catch {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    return locator.first();
  }

  async waitHidden(locator: Locator, what: string, timeoutMs = this.timeoutMs): Promise<void> {
    try {
      await locator.first().waitFor({ state: 'hidden', timeout: timeoutMs });
    } catch {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
  }

  /** Polls `read` until `accept` holds; the timeout message includes the last value read. */
  async poll<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = this.timeoutMs): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    let lastError: unknown;
    for (;;) {
      try {
        last = await read();
        if (accept(last)) return last;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() > deadline) {
        const seen = last === undefined ? `nothing (${lastError instanceof Error ? lastError.message : String(lastError)})` : JSON.stringify(last);
        throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${seen}`);
      }
      await this.page.waitForTimeout(100);
    }
  }

  // -------------------------------------------------------------------------------------------- workbench

  /** Opens the workbench at `url` (code-server's `?folder=` URL) and waits for it and the explorer. */
  async open(url: string, timeoutMs = 90_000): Promise<void> {
    // Not "load": the workbench keeps fetching for a while, and on a loaded machine "load" can take longer than the rest.
    await this.page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs }).catch((error: unknown) => {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${url} to load: ${error instanceof Error ? error.message : String(error)}`);
    });
    await this.waitForWorkbench();
    await this.waitForExplorer();
  }

  async waitForWorkbench(timeoutMs = 60_000): Promise<void> {
    await this.waitVisible(this.page.locator(SELECTORS.workbench), 'the VS Code workbench (.monaco-workbench)', timeoutMs);
  }

  async waitForExplorer(timeoutMs = 60_000): Promise<void> {
    await this.waitVisible(this.page.locator(SELECTORS.explorerRow), 'a row in the explorer', timeoutMs);
  }

  /**
   * Keyboard shortcuts only reach VS Code when focus is inside the workbench (after goto it is on <body>): focuses the
   * active editor if any, else the explorer's list.
   */
  async focusWorkbench(): Promise<void> {
    // The active text editor, else whatever the side bar shows (the explorer, or Run and Debug after a session), else
    // the activity bar: any of them takes the workbench's shortcuts.
    for (const selector of [SELECTORS.editorTextArea, '.explorer-folders-view .monaco-list', '.part.sidebar .monaco-list', '.part.sidebar .pane-header', '.part.activitybar .action-label']) {
      const candidate = this.page.locator(selector);
      if (await candidate.count() > 0 && await candidate.first().isVisible().catch(() => false)) {
        await candidate.first().focus();
        return;
      }
    }
    await this.page.locator('.explorer-folders-view .monaco-list').first().focus();
  }

  /**
   * Waits until the extension has activated. With `statusBarItemId`, its status bar item appearing within
   * `statusBarGraceMs` (default 15 s) is proof enough; otherwise (or with no item id) the Running Extensions editor must
   * list it with an activation time; that editor is closed again. Returns which proof was seen.
   */
  async waitForExtensionActivated(
    extensionId: string,
    options: { statusBarItemId?: string; statusBarGraceMs?: number; displayName?: string; timeoutMs?: number } = {},
  ): Promise<'status-bar' | 'running-extensions'> {
    // Opening and filling Running Extensions takes 20 s and more on a loaded 2-core machine.
    const timeoutMs = options.timeoutMs ?? Math.max(this.timeoutMs, 60_000);
    if (options.statusBarItemId !== undefined) {
      const item = this.page.locator(SELECTORS.statusBarItem(extensionId, options.statusBarItemId)).first();
      const shown = await item.waitFor({ state: 'visible', timeout: options.statusBarGraceMs ?? 15_000 }).then(() => true, () => false);
      if (shown) return 'status-bar';
    }
    await this.runCommand('Developer: Show Running Extensions');
    const row = this.page.locator('.runtime-extensions-editor .monaco-list-row', { hasText: options.displayName ?? extensionId });
    await this.poll(`${extensionId} to be listed with an activation time in Running Extensions`, async () => {
      const target = row.first();
      if (!(await target.isVisible())) return '';
      return (await target.locator('.activation-time').first().textContent().catch(() => null)) ?? '';
    }, (time) => time.trim() !== '', timeoutMs);
    await this.closeActiveEditor();
    return 'running-extensions';
  }

  /** Runs a command by its palette label (e.g. `CWM: Debug Current File…`) through F1. */
  async runCommand(label: string): Promise<void> {
    await this.openQuickInput('F1');
    await this.page.locator(SELECTORS.quickInputBox).fill(`>${label}`);
    const row = this.page.locator(SELECTORS.quickInputRow, { has: this.page.locator('.label-name', { hasText: exactText(label) }) });
    await this.waitVisible(row, `the command "${label}" in the command palette`);
    await row.first().click();
    const palette = this.page.locator(SELECTORS.quickInput);
    try {
      await palette.first().waitFor({ state: 'hidden', timeout: 3_000 });
    } catch {
      // A click that landed while the list re-rendered is lost: if the palette still shows this command, Enter runs it.
      const box = this.page.locator(SELECTORS.quickInputBox);
      if ((await box.isVisible().catch(() => false)) && (await box.inputValue().catch(() => '')) === `>${label}`) await this.page.keyboard.press('Enter');
      await this.waitHidden(palette, 'the command palette to close');
    }
  }

  /** Runs a command by its palette label when the command opens an input of its own (it replaces the palette). */
  async runCommandWithInput(label: string, inputTitle: string | RegExp): Promise<void> {
    await this.openQuickInput('F1');
    await this.page.locator(SELECTORS.quickInputBox).fill(`>${label}`);
    const row = this.page.locator(SELECTORS.quickInputRow, { has: this.page.locator('.label-name', { hasText: exactText(label) }) });
    await this.waitVisible(row, `the command "${label}" in the command palette`);
    await row.first().click();
    await this.waitVisible(this.page.locator(SELECTORS.quickInput, { hasText: inputTitle }), `the input "${String(inputTitle)}" of "${label}"`);
  }

  /** Opens a workspace file by name through quick open. */
  async quickOpen(fileName: string): Promise<void> {
    await this.openQuickInput('F1');
    await this.page.locator(SELECTORS.quickInputBox).fill(fileName);
    const row = this.page.locator(SELECTORS.quickInputRow, { has: this.page.locator('.label-name', { hasText: exactText(fileName) }) });
    await this.waitVisible(row, `${fileName} in quick open`);
    await row.first().click();
    await this.waitForActiveEditor(fileName);
  }

  /** Opens a file from the explorer (top-level entries; open folders first by name). */
  async openFromExplorer(name: string): Promise<void> {
    const row = this.page.locator(SELECTORS.explorerRow, { has: this.page.locator('.label-name', { hasText: exactText(name) }) });
    await (await this.waitVisible(row, `${name} in the explorer`)).click();
    await this.waitForActiveEditor(name);
  }

  async waitForActiveEditor(fileName: string): Promise<void> {
    await this.waitVisible(this.page.locator(SELECTORS.activeTab, { hasText: fileName }), `the editor tab of ${fileName} to be active`);
    await this.waitVisible(this.page.locator(`${SELECTORS.activeEditor} .view-lines`), `the editor text of ${fileName}`);
  }

  /** Waits for a quick pick (or input box) whose rows or prompt show `text`, and picks the row holding `text`. */
  async pickQuickInputRow(text: string | RegExp): Promise<void> {
    const row = this.page.locator(SELECTORS.quickInputRow, { hasText: text });
    await this.waitVisible(row.first(), `a quick pick row "${String(text)}"`);
    await row.first().click();
  }

  /** Types into the open input box (whose prompt or title shows `title`) and accepts it with Enter. */
  async answerInputBox(title: string | RegExp, answer: string): Promise<void> {
    await this.waitVisible(this.page.locator(SELECTORS.quickInput, { hasText: title }), `an input box "${String(title)}"`);
    await this.page.locator(SELECTORS.quickInputBox).fill(answer);
    await this.page.keyboard.press('Enter');
    await this.waitHidden(this.page.locator(SELECTORS.quickInput), 'the input box to close');
  }

  /** Moves the cursor of the active editor to the start of a line (Go to Line) and checks the status bar says so. */
  async goToLine(line: number): Promise<void> {
    await this.openQuickInput('F1');
    await this.page.locator(SELECTORS.quickInputBox).fill(`:${line}`);
    await this.page.keyboard.press('Enter');
    await this.waitHidden(this.page.locator(SELECTORS.quickInput), 'Go to Line to close');
    await this.poll(`the cursor on line ${line}`, () => this.cursorPosition(), (position) => position?.line === line);
  }

  /** The active editor's cursor from the status bar (`Ln 12, Col 1`). */
  async cursorPosition(): Promise<{ line: number; column: number } | undefined> {
    const text = (await this.page.locator('.statusbar-item[id="status.editor.selection"]').first().textContent().catch(() => null)) ?? '';
    const match = /Ln (\d+), Col (\d+)/.exec(text);
    return match ? { line: Number(match[1]), column: Number(match[2]) } : undefined;
  }

  async closeActiveEditor(): Promise<void> {
    await this.runCommand('View: Close Editor');
  }

  /** Texts of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    return this.page.locator(SELECTORS.notification).allInnerTexts();
  }

  private async openQuickInput(key: string): Promise<void> {
    const box = this.page.locator(SELECTORS.quickInputBox);
    if (await box.isVisible().catch(() => false)) await this.page.keyboard.press('Escape');
    await this.focusWorkbench();
    await this.page.keyboard.press(key);
    await this.waitVisible(box, `the quick input after ${key}`);
  }

  // -------------------------------------------------------------------------------------------- editor decorations

  /** Texts of the code lenses in the active editor (`.codelens-decoration a`). */
  async codeLenses(): Promise<string[]> {
    return this.page.locator(`${SELECTORS.activeEditor} .codelens-decoration a`).allInnerTexts();
  }

  async waitForCodeLens(text: string | RegExp): Promise<Locator> {
    return this.waitVisible(this.page.locator(`${SELECTORS.activeEditor} .codelens-decoration a`, { hasText: text }), `a code lens "${String(text)}"`);
  }

  /** Clicks the `index`-th code lens (0: the topmost) whose text matches. */
  async clickCodeLens(text: string | RegExp, index = 0): Promise<void> {
    await this.waitForCodeLens(text);
    await this.page.locator(`${SELECTORS.activeEditor} .codelens-decoration a`, { hasText: text }).nth(index).click();
  }

  /**
   * The inlay hints in the active editor's rendered lines. VS Code 1.100 renders a hint as injected spans whose class has
   * `dyn-rule-` (label parts and padding are separate spans): consecutive such spans are one hint. `lineText` is the
   * whole rendered line, hints included, to tell which line a hint is on (view zones such as code lenses make pixel
   * offsets useless for that).
   */
  async inlayHints(): Promise<InlayHintText[]> {
    return this.page.locator(`${SELECTORS.activeEditor} .view-lines .view-line`).evaluateAll((lines) => {
      const hints: { text: string; lineText: string }[] = [];
      for (const line of lines) {
        const lineText = (line.textContent ?? '').replace(/\u00a0/g, ' ');
        let current: string | undefined;
        for (const span of Array.from(line.querySelectorAll(':scope > span > span'))) {
          if (/(^|\s)dyn-rule-/.test(span.className)) current = (current ?? '') + (span.textContent ?? '');
          else if (current !== undefined) {
            hints.push({ text: current.replace(/\u00a0/g, ' ').trim(), lineText });
            current = undefined;
          }
        }
        if (current !== undefined) hints.push({ text: current.replace(/\u00a0/g, ' ').trim(), lineText });
      }
      return hints.filter((hint) => hint.text !== '');
    });
  }

  /** Polls until an inlay hint satisfies `accept`; returns it. */
  async waitForInlayHint(accept: (hint: InlayHintText) => boolean, what: string): Promise<InlayHintText> {
    const hints = await this.poll(`an inlay hint ${what}`, () => this.inlayHints(), (found) => found.some(accept));
    return hints.find(accept)!;
  }

  /** The debugger's inline values in the active editor (`total = 99, i = 1` after a line): not inlay hints. */
  async debugInlineValues(): Promise<string[]> {
    return (await this.page.locator(`${SELECTORS.activeEditor} .view-line .debug-inline-value`).allTextContents()).map((text) => text.replace(/\u00a0/g, ' '));
  }

  // -------------------------------------------------------------------------------------------- debugging

  /** F5: starts the selected launch configuration and waits for the debug toolbar. */
  async startDebugging(): Promise<void> {
    await this.focusWorkbench();
    await this.page.keyboard.press('F5');
    await this.waitForDebugToolbar();
  }

  async waitForDebugToolbar(timeoutMs = this.timeoutMs): Promise<void> {
    await this.waitVisible(this.page.locator(SELECTORS.debugToolbar), 'the debug toolbar', timeoutMs);
  }

  /** Waits until the session is paused: Continue (not Pause) in the toolbar and a frame in CALL STACK. */
  async waitForStopped(timeoutMs = this.timeoutMs): Promise<StackFrameRow[]> {
    await this.waitVisible(this.page.locator(SELECTORS.debugToolbarAction('continue')), 'the debug toolbar to show Continue (the session paused)', timeoutMs);
    return this.poll('a stack frame in CALL STACK', () => this.callStack(), (rows) => rows.some((row) => row.line !== undefined), timeoutMs);
  }

  /**
   * Runs a debug action by its key (F5, F10, F11, Shift+F11, Shift+F5) or, with `via: 'toolbar'` or for actions without
   * a key, by the toolbar button. For movements, waits until the session paused somewhere else than before.
   */
  async debugAction(action: DebugAction, options: { via?: 'key' | 'toolbar'; timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const before = action === 'stop' || action === 'disconnect' ? undefined : await this.stopSignature();
    const key = DEBUG_KEYS[action];
    if (key !== undefined && options.via !== 'toolbar') {
      await this.focusWorkbench();
      await this.page.keyboard.press(key);
    } else {
      const button = await this.waitVisible(this.page.locator(SELECTORS.debugToolbarAction(action)), `the ${action} button in the debug toolbar`);
      await button.click();
    }
    if (before === undefined) return;
    await this.poll(`the session to pause again after ${action}`, async () => {
      await this.waitVisible(this.page.locator(SELECTORS.debugToolbarAction('continue')), `the session to pause after ${action}`, timeoutMs);
      return this.stopSignature();
    }, (signature) => signature !== before && signature !== '', timeoutMs);
  }

  async stepOver(): Promise<void> {
    await this.debugAction('step-over');
  }

  async stepInto(): Promise<void> {
    await this.debugAction('step-into');
  }

  /** Shift+F5, then waits for the toolbar to go away. */
  async stopDebugging(timeoutMs = this.timeoutMs): Promise<void> {
    await this.debugAction('stop');
    await this.waitForDebugEnded(timeoutMs);
  }

  async waitForDebugEnded(timeoutMs = this.timeoutMs): Promise<void> {
    await this.waitHidden(this.page.locator(SELECTORS.debugToolbar), 'the debug toolbar to disappear (the session ended)', timeoutMs);
  }

  /** Rows of the CALL STACK view. */
  async callStack(): Promise<StackFrameRow[]> {
    return this.page.locator(SELECTORS.callStackRow).evaluateAll((nodes) => {
      const rows = nodes.map((node) => {
        const text = (selector: string): string => node.querySelector(selector)?.textContent?.trim() ?? '';
        const badge = /^(\d+):(\d+)$/.exec(text('.line-number'));
        return {
          index: Number(node.getAttribute('data-index')),
          name: text('.label') || text('.monaco-tl-contents'),
          file: text('.file-name'),
          ...(badge ? { line: Number(badge[1]), column: Number(badge[2]) } : {}),
          ariaLabel: node.getAttribute('aria-label') ?? '',
        };
      });
      rows.sort((a, b) => a.index - b.index);
      return rows.map(({ index: _index, ...row }) => row);
    });
  }

  /** The CALL STACK header's state: the stop description the adapter sent, or `Paused on <reason>`. */
  async callStackState(): Promise<string> {
    return ((await this.page.locator(SELECTORS.callStackState).first().textContent().catch(() => null)) ?? '').trim();
  }

  /** Rows of the VARIABLES view, in display order (only rows the virtualized tree rendered: keep the view small). */
  async variables(): Promise<VariableRow[]> {
    return this.page.locator(SELECTORS.variablesRow).evaluateAll((nodes) => {
      const rows = nodes.map((node) => {
        const expandedAttr = node.getAttribute('aria-expanded');
        const scope = node.querySelector('.scope');
        const nameText = (scope ?? node.querySelector('.expression .name'))?.textContent?.trim() ?? '';
        return {
          index: Number(node.getAttribute('data-index')),
          kind: scope ? ('scope' as const) : ('variable' as const),
          level: Number(node.getAttribute('aria-level') ?? '0'),
          // The view renders `name =`: the separator is VS Code's, not part of the name.
          name: nameText.replace(/\s*=$/, ''),
          value: node.querySelector('.expression .value')?.textContent?.trim() ?? '',
          ...(expandedAttr === null ? {} : { expanded: expandedAttr === 'true' }),
        };
      });
      rows.sort((a, b) => a.index - b.index);
      return rows.map(({ index: _index, ...row }) => row);
    });
  }

  /** Expands a scope (or a variable, by name at `level`) of the VARIABLES view if it is collapsed. */
  async expandVariable(name: string, kind: 'scope' | 'variable' = 'scope'): Promise<void> {
    const label = kind === 'scope' ? `Scope ${name}` : undefined;
    const row = label !== undefined
      ? this.page.locator(`${SELECTORS.variablesRow}[aria-label="${label}"]`)
      : this.page.locator(SELECTORS.variablesRow, { has: this.page.locator('.expression .name', { hasText: exactText(`${name} =`) }) });
    const target = await this.waitVisible(row, `the ${kind} ${name} in VARIABLES`);
    if ((await target.getAttribute('aria-expanded')) === 'false') await target.locator('.monaco-tl-twistie').click();
    await this.poll(`the ${kind} ${name} to expand`, () => target.getAttribute('aria-expanded'), (state) => state === 'true');
  }

  /** The variables of one scope (expanded first), name to value as displayed. */
  async scopeVariables(scope: string): Promise<Map<string, string>> {
    await this.expandVariable(scope, 'scope');
    const rows = await this.variables();
    const start = rows.findIndex((row) => row.kind === 'scope' && row.name === scope);
    const out = new Map<string, string>();
    for (const row of rows.slice(start + 1)) {
      if (row.kind === 'scope') break;
      if (row.level === 2) out.set(row.name, row.value);
    }
    return out;
  }

  /** Polls a scope until `accept` holds (the view refreshes a moment after each stop). */
  async waitForScope(scope: string, accept: (values: ReadonlyMap<string, string>) => boolean, what: string): Promise<Map<string, string>> {
    return this.poll(`scope ${scope} ${what}`, async () => Object.fromEntries(await this.scopeVariables(scope)), (values) => accept(new Map(Object.entries(values))))
      .then((values) => new Map(Object.entries(values)));
  }

  /** Adds a WATCH expression through the view's Add Expression action (the header shows its actions on hover). */
  async addWatch(expression: string): Promise<void> {
    const header = this.page.locator('.pane-header[aria-label^="Watch"]');
    await (await this.waitVisible(header, 'the WATCH view header')).hover();
    await this.page.locator('.pane-header[aria-label^="Watch"] .action-label[aria-label="Add Expression"]').click();
    const input = await this.waitVisible(this.page.locator('.pane-body.debug-watch input'), 'the WATCH input box');
    await input.fill(expression);
    await input.press('Enter');
    // The pointer stays over the header and its tooltip would hide the watch's value in screenshots.
    await this.page.mouse.move(0, 0);
    await this.poll(`the watch ${expression} to be listed`, () => this.watches(), (rows) => rows.some((row) => row.name === expression));
  }

  /** Rows of the WATCH view: expression and displayed value. */
  async watches(): Promise<{ name: string; value: string }[]> {
    return this.page.locator('.pane-body.debug-watch .monaco-list-row').evaluateAll((nodes) => nodes
      .map((node) => ({
        index: Number(node.getAttribute('data-index')),
        name: (node.querySelector('.expression .name')?.textContent ?? '').trim().replace(/\s*[:=]$/, ''),
        value: (node.querySelector('.expression .value')?.textContent ?? '').trim(),
      }))
      .sort((a, b) => a.index - b.index)
      .map(({ name, value }) => ({ name, value })));
  }

  /** What changes from one stop to the next: the call stack and its state line. */
  private async stopSignature(): Promise<string> {
    const frames = await this.callStack();
    return JSON.stringify([await this.callStackState(), frames.map((frame) => frame.ariaLabel)]);
  }

  // -------------------------------------------------------------------------------------------- webviews, status bar

  /**
   * The frame (webviews are nested iframes) whose body text satisfies `match`: `page.frames()` polled until one does.
   */
  async findFrame(match: string | RegExp | ((frame: Frame) => Promise<boolean>), what = String(match)): Promise<Frame> {
    const test = typeof match === 'function'
      ? match
      : async (frame: Frame): Promise<boolean> => {
        const text = await frame.locator('body').innerText({ timeout: 1_000 }).catch(() => '');
        return typeof match === 'string' ? text.includes(match) : match.test(text);
      };
    const found = await this.poll(`a frame (webview) showing ${what}`, async () => {
      for (const frame of this.page.frames()) if (frame !== this.page.mainFrame() && await test(frame)) return frame;
      return undefined;
    }, (frame) => frame !== undefined);
    return found!;
  }

  /** The text of one of our status bar items, once it is shown. */
  async statusBarText(extensionId: string, itemId: string): Promise<string> {
    const item = await this.waitVisible(this.page.locator(SELECTORS.statusBarItem(extensionId, itemId)), `the status bar item ${itemId}`);
    return ((await item.textContent()) ?? '').trim();
  }

  // -------------------------------------------------------------------------------------------- artifacts

  /** Saves a full-window screenshot as `<artifactsDir>/<step>.png`; returns its path. */
  async screenshot(step: string): Promise<string> {
    mkdirSync(this.artifactsDir, { recursive: true });
    const path = join(this.artifactsDir, `${step.replace(/[^\w.-]+/g, '-')}.png`);
    await this.page.screenshot({ path });
    return path;
  }
}

/** A regex matching exactly `text` (Playwright's hasText with a string matches substrings). */
function exactText(text: string): RegExp {
  return new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
}
