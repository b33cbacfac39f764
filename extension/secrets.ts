// The endpoint's API key lives in VS Code's SecretStorage (the OS keychain), never in settings, launch.json or logs.

import * as vscode from 'vscode';

const SECRET_KEY = 'cwmDebug.apiKey';

export class ApiKeyStore {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly secrets: vscode.SecretStorage) {
    secrets.onDidChange((event) => {
      if (event.key === SECRET_KEY) this.changed.fire();
    });
  }

  async get(): Promise<string | undefined> {
    return (await this.secrets.get(SECRET_KEY)) || undefined;
  }

  register(context: vscode.ExtensionContext): void {
    context.subscriptions.push(
      this.changed,
      vscode.commands.registerCommand('cwmDebug.setApiKey', async () => {
        const key = await vscode.window.showInputBox({
          title: 'CWM: API key for the model endpoint',
          prompt: 'Sent as "Authorization: Bearer <key>" to the configured endpoints. Stored in the OS keychain through VS Code.',
          password: true,
          ignoreFocusOut: true,
          validateInput: (value) => (/\s/.test(value.trim()) ? 'An API key has no spaces inside.' : undefined),
        });
        if (key === undefined) return;
        if (key.trim() === '') {
          await this.secrets.delete(SECRET_KEY);
          void vscode.window.showInformationMessage('CWM: API key removed.');
          return;
        }
        await this.secrets.store(SECRET_KEY, key.trim());
        void vscode.window.showInformationMessage('CWM: API key saved.');
      }),
      vscode.commands.registerCommand('cwmDebug.clearApiKey', async () => {
        await this.secrets.delete(SECRET_KEY);
        void vscode.window.showInformationMessage('CWM: API key removed.');
      }),
    );
  }
}
