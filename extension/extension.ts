// Extension entry point: the CWM debugger (its adapter runs in a process of its own), launch configurations,
// settings and API key, endpoint status, inline values, and the language server for predictions outside a debug session.

import * as vscode from 'vscode';
import { CwmAdapterFactory, CwmConfigurationProvider, INITIAL_CONFIGURATIONS } from './debug-config';
import { registerEvaluateCommand } from './evaluate';
import { registerFindInputs } from './find-inputs';
import { CwmInlineValuesProvider } from './inline-values';
import { PredictionClient } from './language-client';
import { ApiKeyStore } from './secrets';
import { EndpointStatus } from './status';
import { registerSideBySideView } from './side-by-side';
import { registerTimeline } from './timeline';
import { registerTimeTravel } from './time-travel';
import { registerTraceFiles } from './trace-files';

export function activate(context: vscode.ExtensionContext): void {
  const keys = new ApiKeyStore(context.secrets);
  keys.register(context);
  const provider = new CwmConfigurationProvider(keys);
  const status = new EndpointStatus(keys);
  const predictions = new PredictionClient(context, keys);
  registerTraceFiles(context);
  registerSideBySideView(context);
  registerEvaluateCommand(context, keys);
  registerFindInputs(context, keys);
  registerTimeTravel(context);
  registerTimeline(context);
  context.subscriptions.push(
    status,
    predictions,
    vscode.debug.registerDebugAdapterDescriptorFactory('cwm', new CwmAdapterFactory()),
    vscode.debug.registerDebugConfigurationProvider('cwm', provider),
    // A second provider only lists configurations in the Run and Debug dropdown; resolving stays with the first, so it runs once.
    vscode.debug.registerDebugConfigurationProvider('cwm', { provideDebugConfigurations: () => INITIAL_CONFIGURATIONS }, vscode.DebugConfigurationProviderTriggerKind.Dynamic),
    vscode.languages.registerInlineValuesProvider({ language: 'python' }, new CwmInlineValuesProvider()),
    vscode.commands.registerCommand('cwmDebug.traceCurrentFile', async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || editor.document.languageId !== 'python') {
        void vscode.window.showInformationMessage('CWM: open a Python file first.');
        return;
      }
      await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(editor.document.uri), {
        type: 'cwm',
        request: 'launch',
        name: 'CWM: real run (recorded)',
        program: editor.document.uri.fsPath,
        mode: 'actual',
      });
    }),
  );
  // Neither waits: activation stays fast, and a slow endpoint or server start only delays the status and the lenses.
  // The endpoint check loads the HTTP stack and the tokenizer, so it starts after activation has returned.
  setTimeout(() => void status.refresh(), 0);
  void predictions.start().catch((error: unknown) => {
    void vscode.window.showErrorMessage(`CWM: the prediction language server did not start: ${error instanceof Error ? error.message : String(error)}`);
  });
}

export function deactivate(): void {}
