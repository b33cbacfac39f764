// Extension entry point: registers the CWM debugger, whose adapter runs inline in the extension host.
import * as vscode from 'vscode';
import { CwmDebugSession } from '../server/adapter/session';

class InlineAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    // Same adapter as dist/adapter.js, without a process of its own: DAP messages stay inside the extension host.
    return new vscode.DebugAdapterInlineImplementation(new CwmDebugSession());
  }
}

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('cwm', new InlineAdapterFactory()),
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
}

export function deactivate(): void {}
