// Workspace Trust: in an untrusted workspace nothing of the user's is executed (no tracer; predict's arguments are read in TypeScript);
// predictions, which run nothing, still work. The restriction is explained once per window.

import * as vscode from 'vscode';

let explained = false;

export function canExecute(): boolean {
  return vscode.workspace.isTrusted;
}

/** Says once why `what` is refused here, with a way to trust the workspace. */
export function explainRestricted(what: string): void {
  const message = `CWM: ${what} is off because this workspace is not trusted: recording a real run executes its code. `
    + 'Predictions still work (nothing is run). Trust the workspace to record real runs.';
  if (explained) {
    void vscode.window.setStatusBarMessage(`CWM: ${what} is off in an untrusted workspace.`, 5000);
    return;
  }
  explained = true;
  void vscode.window.showWarningMessage(message, 'Manage Workspace Trust').then((choice) => {
    if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
  });
}
