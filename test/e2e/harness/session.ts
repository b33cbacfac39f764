// One VS Code for a scenario: code-server with the .vsix installed, headless Chromium on the workspace, the page helpers,
// and what to save when a step fails (the window, code-server's and VS Code's logs, the browser console's errors).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS_DIR, launchBrowser, VsCodePage, type Browser, type BrowserOptions } from './browser';
import { startCodeServer, type CodeServer, type CodeServerOptions } from './code-server';
import type { Workspace } from './workspace';

export interface VsCodeSessionOptions {
  /** The extension package to install. */
  readonly vsix: string;
  readonly workspace: Workspace;
  readonly codeServer?: Omit<CodeServerOptions, 'extensions'>;
  readonly browser?: BrowserOptions;
  /** Default timeout of the page helpers' waits. */
  readonly timeoutMs?: number;
  readonly artifactsDir?: string;
}

export interface VsCodeSession {
  readonly server: CodeServer;
  readonly browser: Browser;
  readonly vscode: VsCodePage;
  /** Errors the page logged to the browser console. */
  readonly consoleErrors: readonly string[];
  /** Saves `failure-<step>.png`, code-server.log (with VS Code's logs) and browser-console.log into the artifacts dir. */
  saveFailure(step: string): Promise<void>;
  /** Closes the browser, then stops code-server with its process group (idempotent). */
  close(): Promise<void>;
}

/** Starts code-server and the browser; the workbench is not opened yet (call `vscode.open(server.urlForFolder(...))`). */
export async function startVsCodeSession(options: VsCodeSessionOptions): Promise<VsCodeSession> {
  const artifactsDir = options.artifactsDir ?? ARTIFACTS_DIR;
  const server = await startCodeServer({ ...options.codeServer, extensions: [options.vsix] });
  let browser: Browser;
  try {
    browser = await launchBrowser(options.browser);
  } catch (error) {
    await server.stop();
    throw error;
  }
  const consoleErrors: string[] = [];
  browser.page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  const vscode = new VsCodePage(browser.page, { timeoutMs: options.timeoutMs, artifactsDir });
  let closed = false;
  return {
    server,
    browser,
    vscode,
    consoleErrors,
    saveFailure: async (step) => {
      mkdirSync(artifactsDir, { recursive: true });
      if (!closed) await vscode.screenshot(`failure-${step}`).catch(() => undefined);
      writeFileSync(join(artifactsDir, 'code-server.log'), server.logs());
      writeFileSync(join(artifactsDir, 'browser-console.log'), `${consoleErrors.join('\n')}\n`);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await browser.close().catch(() => undefined);
      await server.stop();
    },
  };
}
