// The status bar item that shows whether the configured CWM endpoint answers and which model it serves, and the
// "CWM: Check Endpoint" command that explains what is wrong when it does not.

import * as vscode from 'vscode';
import type { HealthReport } from '../server/endpoint/health';
import { heavy } from './lazy';
import type { ApiKeyStore } from './secrets';
import { readSettings } from './settings';

const CHECK_TIMEOUT_MS = 8000;

export class EndpointStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('cwmDebug.status', vscode.StatusBarAlignment.Left, 10);
  private last: HealthReport | undefined;
  private running: AbortController | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly keys: ApiKeyStore) {
    this.item.name = 'CWM endpoint';
    this.item.command = 'cwmDebug.checkEndpoint';
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (event.affectsConfiguration('cwmDebug')) void this.refresh();
      }),
      keys.onDidChange(() => void this.refresh()),
      vscode.commands.registerCommand('cwmDebug.checkEndpoint', () => this.checkAndExplain()),
    );
  }

  get report(): HealthReport | undefined {
    return this.last;
  }

  /** Re-checks in the background and updates the item; a newer check cancels an older one. */
  async refresh(): Promise<HealthReport> {
    this.running?.abort();
    const controller = new AbortController();
    this.running = controller;
    const settings = readSettings();
    this.show('$(sync~spin) CWM', 'Checking the CWM endpoint…');
    const report = await heavy().checkEndpoints({
      endpoints: settings.endpoints,
      backend: settings.backend,
      tokenizerPath: settings.tokenizerPath,
      model: settings.model,
      apiKey: await this.keys.get(),
      allowInsecureHttp: settings.allowInsecureHttp,
      timeoutMs: CHECK_TIMEOUT_MS,
    }, controller.signal);
    if (controller.signal.aborted) return report;
    this.last = report;
    switch (report.state) {
      case 'ok': {
        const first = report.endpoints[0]!;
        this.show(`$(pulse) CWM: ${first.model ?? first.kind}`, report.summary);
        break;
      }
      case 'partial':
        this.show('$(warning) CWM: partly down', report.summary, 'statusBarItem.warningBackground');
        break;
      case 'not-configured':
        this.show('$(circle-slash) CWM: no endpoint', `${report.summary} Real runs work without one.`);
        break;
      case 'tokenizer':
        this.show('$(warning) CWM: tokenizer', report.summary, 'statusBarItem.warningBackground');
        break;
      case 'down':
        this.show('$(error) CWM: endpoint down', report.summary, 'statusBarItem.errorBackground');
        break;
    }
    return report;
  }

  private show(text: string, tooltip: string, background?: string): void {
    this.item.text = text;
    this.item.tooltip = new vscode.MarkdownString(`${tooltip}\n\nClick to check again and see details.`);
    this.item.backgroundColor = background ? new vscode.ThemeColor(background) : undefined;
    this.item.show();
  }

  private async checkAndExplain(): Promise<void> {
    const report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'CWM: checking the endpoint…' },
      () => this.refresh(),
    );
    const details = report.endpoints.map((endpoint) => endpoint.ok
      ? `${endpoint.url}: ${endpoint.kind}${endpoint.model ? `, model ${endpoint.model}` : ''}${endpoint.streams ? ', streams' : ''}${endpoint.warnings.length ? ` (${endpoint.warnings.join(' ')})` : ''}`
      : `${endpoint.url}: ${endpoint.problem}`);
    const actions = report.state === 'ok' ? [] : ['Open Settings', 'Set API Key'];
    const show = report.state === 'ok' ? vscode.window.showInformationMessage : vscode.window.showErrorMessage;
    const choice = await show(`CWM: ${report.summary}`, { detail: details.join('\n'), modal: false }, ...actions);
    if (choice === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'cwmDebug');
    if (choice === 'Set API Key') await vscode.commands.executeCommand('cwmDebug.setApiKey');
  }

  dispose(): void {
    this.running?.abort();
    this.item.dispose();
    for (const disposable of this.disposables) disposable.dispose();
  }
}
