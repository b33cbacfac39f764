// Extension entry point: activation and registration of the CWM debugger's VS Code pieces.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('cwmDebug.traceCurrentFile', () => {
      void vscode.window.showInformationMessage('CWM: recording real traces from VS Code arrives with the debugger.');
    }),
  );
}

export function deactivate(): void {}
