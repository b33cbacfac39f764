// Starts the CWM language server (code lenses, inlay hints, hovers, diagnostics over predicted traces) and the client
// side of its code-lens commands: a cancellable progress notification around the `cwm/runFunction` request.

import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { CLEAR_PREDICTIONS_METHOD, RUN_FUNCTION_METHOD, type RunFunctionErrorKind, type RunFunctionParams, type RunFunctionResult } from '../server/lsp/protocol';
import { resolvePython } from './python';
import type { ApiKeyStore } from './secrets';
import { canExecute, explainRestricted } from './trust';

interface LensArgument {
  readonly uri: string;
  readonly functionName: string;
  readonly line: number;
}

function errorKind(error: unknown): RunFunctionErrorKind | undefined {
  const data = (error as { data?: { kind?: unknown } } | undefined)?.data;
  return typeof data?.kind === 'string' ? (data.kind as RunFunctionErrorKind) : undefined;
}

function isLensArgument(value: unknown): value is LensArgument {
  const candidate = value as Partial<LensArgument> | undefined;
  return typeof candidate?.uri === 'string' && typeof candidate.functionName === 'string' && typeof candidate.line === 'number';
}

export class PredictionClient implements vscode.Disposable {
  private readonly client: LanguageClient;
  private readonly output = vscode.window.createOutputChannel('CWM Predictions', { log: true });
  /** The status bar message about the last prediction, and the document it describes: cleared with its values. */
  private predictionMessage: { readonly uri: string; readonly message: vscode.Disposable } | undefined;

  constructor(context: vscode.ExtensionContext, private readonly keys: ApiKeyStore) {
    const module = context.asAbsolutePath('dist/languageServer.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }, { scheme: 'untitled', language: 'python' }],
      synchronize: { configurationSection: 'cwmDebug' },
      outputChannel: this.output,
    };
    this.client = new LanguageClient('cwmDebug', 'CWM Predictions', serverOptions, clientOptions);
    context.subscriptions.push(
      vscode.commands.registerCommand('cwmDebug.predictFunction', (argument: unknown) => this.runFunction('predict', argument)),
      vscode.commands.registerCommand('cwmDebug.compareFunction', (argument: unknown) => this.runFunction('compare', argument)),
      // Values from an earlier prediction must not sit next to a new debug session's: clear them when one starts.
      vscode.debug.onDidStartDebugSession(() => {
        this.clearPredictionMessage();
        if (this.client.isRunning()) void this.client.sendNotification(CLEAR_PREDICTIONS_METHOD).catch(() => undefined);
      }),
      // An edit clears the document's predicted values (the server does that); the message about them goes too.
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length > 0 && event.document.uri.toString() === this.predictionMessage?.uri) this.clearPredictionMessage();
      }),
    );
  }

  start(): Promise<void> {
    return this.client.start();
  }

  private async runFunction(mode: 'predict' | 'compare', argument: unknown, args?: string): Promise<void> {
    if (!isLensArgument(argument)) {
      void vscode.window.showInformationMessage('CWM: use the "Predict trace" or "Compare with real run" lens above a function.');
      return;
    }
    if (mode === 'compare' && !canExecute()) {
      explainRestricted('Comparing with the real run');
      return;
    }
    const uri = vscode.Uri.parse(argument.uri);
    const params: RunFunctionParams = {
      uri: argument.uri,
      functionName: argument.functionName,
      mode,
      allowExecution: canExecute(),
      ...(args !== undefined ? { args } : {}),
      ...(mode === 'compare' || args !== undefined ? { python: (await resolvePython(uri)).path } : {}),
      ...(await this.apiKey()),
    };
    const title = mode === 'predict' ? `CWM: predicting ${argument.functionName}()` : `CWM: comparing ${argument.functionName}() with its real run`;
    let result: RunFunctionResult;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title, cancellable: true },
        (_progress, token) => this.client.sendRequest<RunFunctionResult>(RUN_FUNCTION_METHOD, params, token),
      );
    } catch (error) {
      const kind = errorKind(error);
      if (error instanceof vscode.CancellationError || kind === 'cancelled' || (error as { code?: number }).code === -32800) return;
      const message = `CWM: ${error instanceof Error ? error.message : String(error)}`;
      if (kind === 'needs-arguments' || kind === 'bad-arguments') {
        const entered = await vscode.window.showInputBox({
          title: `Arguments for ${argument.functionName}`,
          prompt: `${kind === 'bad-arguments' ? message + ' ' : ''}A Python argument list to call it with, e.g. [3, 1, 2], key="a".`,
          placeHolder: '[3, 1, 2], key="a"',
          ...(args !== undefined ? { value: args } : {}),
          ignoreFocusOut: true,
        });
        if (entered !== undefined && entered.trim() !== '') await this.runFunction(mode, argument, entered.trim());
        return;
      }
      const fix = kind === 'no-endpoint' || kind === 'insecure-endpoint' || kind === 'settings' || kind === 'tokenizer' || kind === 'python'
        ? 'Open Settings'
        : kind === 'endpoint' ? 'Check Endpoint' : undefined;
      void vscode.window.showErrorMessage(message, ...(fix ? [fix] : [])).then((choice) => {
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'cwmDebug');
        if (choice === 'Check Endpoint') void vscode.commands.executeCommand('cwmDebug.checkEndpoint');
      });
      return;
    }
    for (const note of result.notes) this.output.info(note);
    if (mode === 'predict') {
      this.clearPredictionMessage();
      const steps = `${result.steps} step${result.steps === 1 ? '' : 's'}`;
      this.predictionMessage = {
        uri: argument.uri,
        message: vscode.window.setStatusBarMessage(`CWM: predicted ${steps} of ${argument.functionName}(); values are shown at the end of the lines it ran.`, 8000),
      };
      return;
    }
    if (!result.firstDivergence) {
      void vscode.window.showInformationMessage(`CWM: the prediction of ${argument.functionName}() matches the real run (${result.steps} steps).`);
      return;
    }
    const divergence = result.firstDivergence;
    const choice = await vscode.window.showInformationMessage(
      `CWM: the prediction first differs from the real run at line ${divergence.line}: ${divergence.message}`,
      'Debug the Comparison',
    );
    if (choice) {
      await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(uri), {
        type: 'cwm', request: 'launch', name: `CWM: compare ${argument.functionName}()`, program: uri.fsPath, mode: 'compare', entry: argument.functionName,
        ...(args !== undefined ? { args } : {}),
      });
    }
  }

  private clearPredictionMessage(): void {
    this.predictionMessage?.message.dispose();
    this.predictionMessage = undefined;
  }

  private async apiKey(): Promise<{ apiKey?: string }> {
    const key = await this.keys.get();
    return key === undefined ? {} : { apiKey: key };
  }

  dispose(): void {
    void this.client.stop();
    this.output.dispose();
  }
}
