// "Find Inputs That Reach This Line": inverse execution from the editor (a code action, the editor and gutter context
// menus). The model proposes the enclosing function's arguments, real runs verify them (never in an untrusted workspace),
// the results come in a quick pick, and picking one starts a compare session with those arguments stopped at the line.

import * as vscode from 'vscode';
import type { InverseProposal, InverseResult } from '../server/engine/inverse';
import { heavy } from './lazy';
import { resolvePython } from './python';
import type { ApiKeyStore } from './secrets';
import { readSettings } from './settings';
import { canExecute } from './trust';

export const FIND_INPUTS_COMMAND = 'cwmDebug.findInputs';

/** The module-level function whose body holds `line` (1-based), read from the text: its name and def line. */
export function enclosingFunction(text: string, line: number): { name: string; line: number } | undefined {
  const lines = text.split(/\r?\n/);
  for (let k = line; k >= 1; k--) {
    const match = /^(?:async\s+)?def\s+([A-Za-z_]\w*)\s*[([]/.exec(lines[k - 1] ?? '');
    if (match) return k === line ? undefined : { name: match[1]!, line: k };
    const other = lines[k - 1] ?? '';
    // Another module-level statement between the def and the line: the line is not in a function.
    if (k < line && /^\S/.test(other) && !other.startsWith('#') && !/^[)\]}]/.test(other) && !other.startsWith('@')) return undefined;
  }
  return undefined;
}

class FindInputsActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.Empty];

  provideCodeActions(document: vscode.TextDocument, range: vscode.Range): vscode.CodeAction[] {
    const line = range.start.line + 1;
    const text = document.lineAt(range.start.line).text.trim();
    if (text === '' || text.startsWith('#') || enclosingFunction(document.getText(), line) === undefined) return [];
    const action = new vscode.CodeAction('CWM: Find inputs that reach this line', vscode.CodeActionKind.Empty);
    action.command = { command: FIND_INPUTS_COMMAND, title: action.title, arguments: [document.uri, line] };
    return [action];
  }
}

type ResultItem = vscode.QuickPickItem & { readonly proposal?: InverseProposal };

function resultItems(result: InverseResult): ResultItem[] {
  const items: ResultItem[] = [];
  const times = (p: InverseProposal) => (p.count > 1 ? ` · proposed ${p.count} times` : '');
  if (!result.verifiedRuns) {
    items.push({ label: 'Unverified: nothing was run (the workspace is not trusted)', kind: vscode.QuickPickItemKind.Separator });
    for (const p of result.unverified) {
      items.push({ label: `$(question) ${p.args}`, description: `unverified: the model predicts it reaches the line at step ${p.predictedStep}${times(p)}`, proposal: p });
    }
    return items;
  }
  if (result.verified.length > 0) items.push({ label: 'Verified by a real run', kind: vscode.QuickPickItemKind.Separator });
  for (const p of result.verified) {
    items.push({ label: `$(pass) ${p.args}`, description: `reached at step ${p.realStep} of the real run${p.predictedStep === undefined ? ' (not predicted)' : ''}${times(p)}`, proposal: p });
  }
  if (result.refuted.length > 0) items.push({ label: 'Refuted: the model claimed it, the real run did not', kind: vscode.QuickPickItemKind.Separator });
  for (const p of result.refuted) items.push({ label: `$(error) ${p.args}`, description: p.realOutcome ?? '', proposal: p });
  return items;
}

async function findInputs(apiKeys: ApiKeyStore, uriArgument?: unknown, lineArgument?: unknown): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const uri = uriArgument instanceof vscode.Uri ? uriArgument : editor?.document.uri;
  // The gutter menu passes { lineNumber, uri }; the code action passes (uri, line); the palette uses the cursor.
  const gutter = typeof uriArgument === 'object' && uriArgument !== null && 'lineNumber' in uriArgument ? (uriArgument as { lineNumber: unknown }).lineNumber : undefined;
  const line = typeof lineArgument === 'number' ? lineArgument : typeof gutter === 'number' ? gutter : (editor?.selection.active.line ?? -1) + 1;
  if (uri === undefined || uri.scheme !== 'file' || line < 1) {
    void vscode.window.showInformationMessage('CWM: open a saved Python file and put the cursor on the line to reach.');
    return;
  }
  const document = await vscode.workspace.openTextDocument(uri);
  if (document.isDirty) await document.save();
  const source = document.getText();
  const entry = enclosingFunction(source, line);
  if (entry === undefined) {
    void vscode.window.showInformationMessage(`CWM: line ${line} is not inside a module-level function; inputs are searched for a function's arguments.`);
    return;
  }
  const settings = readSettings(uri);
  if (settings.endpoints.length === 0) {
    const choice = await vscode.window.showErrorMessage('CWM: finding inputs needs a model endpoint. Set cwmDebug.endpoints (and cwmDebug.tokenizerPath unless the server is vLLM).', 'Open Settings');
    if (choice) await vscode.commands.executeCommand('workbench.action.openSettings', 'cwmDebug');
    return;
  }
  const where = await vscode.window.showInputBox({
    title: `Find inputs of ${entry.name}() that reach line ${line}`,
    prompt: 'Optionally, a condition on the locals at that line (a Python expression, e.g. total > 100). Leave empty for any visit.',
    placeHolder: 'total > 100',
    ignoreFocusOut: true,
  });
  if (where === undefined) return;
  const trusted = canExecute();
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  let result: InverseResult;
  try {
    result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `CWM: finding inputs of ${entry.name}() that reach line ${line}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        progress.report({ message: 'connecting to the model…' });
        const { connectModel, searchInputs } = heavy();
        const model = await connectModel({
          endpoints: settings.endpoints, backend: settings.backend, tokenizerPath: settings.tokenizerPath, apiKey: await apiKeys.get(),
          model: settings.model, samples: 1, temperature: settings.temperature, seed: settings.seed, contextTokens: settings.contextTokens,
          requestTimeoutMs: settings.requestTimeoutMs,
        }, { terms: 'vscode' });
        try {
          return await searchInputs({
            source, path: uri.fsPath, entry: { kind: 'function', name: entry.name, line: entry.line }, backend: model.pool, codec: model.codec,
            target: { kind: 'line', line, ...(where.trim() !== '' ? { where: where.trim() } : {}) },
            samples: Math.max(8, settings.samples), rounds: 3, concurrency: Math.max(4, 2 * model.clients.length),
            temperature: settings.sampleTemperature, ...(settings.seed !== undefined ? { seed: settings.seed } : {}),
            ...(settings.contextTokens !== undefined ? { contextTokens: settings.contextTokens } : {}),
            // An untrusted workspace runs nothing: the proposals come back unverified.
            verify: trusted ? {
              python: (await resolvePython(uri)).path,
              limits: { ...settings.tracerLimits, timeoutMs: Math.min(settings.tracerLimits.timeoutMs, 10_000), maxEvents: Math.min(settings.tracerLimits.maxEvents, 20_000) },
              ...(folder !== undefined ? { cwd: folder.uri.fsPath } : {}),
            } : false,
            signal: abort.signal,
            onProgress: (p) => progress.report({ message: `round ${p.round}: ${p.samples} samples, ${p.hits} predicted hits${trusted ? `, ${p.verified} verified, ${p.refuted} refuted` : ''}` }),
          });
        } finally {
          await model.close();
        }
      },
    );
  } catch (error) {
    void vscode.window.showErrorMessage(`CWM: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  if (result.stoppedBy === 'cancelled') return;
  const { summarizeSearch } = heavy();
  const items = resultItems(result);
  if (items.every((item) => item.proposal === undefined)) {
    void vscode.window.showInformationMessage(`CWM: no input found. ${summarizeSearch(result)}${result.notes.map((note) => ` ${note}`).join('')}`);
    return;
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: summarizeSearch(result),
    placeHolder: trusted ? 'Pick an input to debug a comparison of its run, stopped at the line' : 'Pick a proposal to step through its prediction (nothing is run)',
    matchOnDescription: true,
  });
  if (picked?.proposal === undefined) return;
  await debugAtLine(uri, line, where.trim(), entry.name, picked.proposal.args, trusted);
}

/** A compare session (a predicted one when untrusted) with these arguments, stopped at the line by a breakpoint there. */
async function debugAtLine(uri: vscode.Uri, line: number, where: string, entry: string, args: string, trusted: boolean): Promise<void> {
  const location = new vscode.Location(uri, new vscode.Position(line - 1, 0));
  const existing = vscode.debug.breakpoints.some((b) => b instanceof vscode.SourceBreakpoint && b.location.uri.toString() === uri.toString() && b.location.range.start.line === line - 1);
  const added = existing ? undefined : new vscode.SourceBreakpoint(location, true, where === '' ? undefined : where);
  if (added) vscode.debug.addBreakpoints([added]);
  const started = await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(uri), {
    type: 'cwm', request: 'launch', name: `CWM: ${trusted ? 'compare' : 'predict'} ${entry}(${args})`, program: uri.fsPath,
    mode: trusted ? 'compare' : 'predict', entry, args, stopOnEntry: false, stopOnDivergence: false,
  });
  if (!added) return;
  if (!started) {
    vscode.debug.removeBreakpoints([added]);
    return;
  }
  // The breakpoint was only the way to the line: it goes when that session ends.
  const ended = vscode.debug.onDidTerminateDebugSession((session) => {
    if (session.type !== 'cwm') return;
    ended.dispose();
    vscode.debug.removeBreakpoints([added]);
  });
}

export function registerFindInputs(context: vscode.ExtensionContext, apiKeys: ApiKeyStore): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(FIND_INPUTS_COMMAND, (uri?: unknown, line?: unknown) => findInputs(apiKeys, uri, line)),
    vscode.languages.registerCodeActionsProvider({ language: 'python', scheme: 'file' }, new FindInputsActions(), { providedCodeActionKinds: FindInputsActions.kinds }),
  );
}
