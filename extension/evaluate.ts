// "CWM: Evaluate Folder": scores the configured model on a folder of marked .py programs or a CRUXEval-style .jsonl,
// in-process through server/eval, with a cancellable progress notification; writes the report and opens it.

import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { z } from 'zod';
import { formatDuration, type EvaluationProgress } from '../server/eval/progress';
import { heavy } from './lazy';
import { resolvePython } from './python';
import type { ApiKeyStore } from './secrets';
import { readSettings } from './settings';
import { canExecute, explainRestricted } from './trust';

export const EVALUATE_FOLDER_COMMAND = 'cwmDebug.evaluateFolder';

const Concurrency = z.number().int().min(1).max(256);

/** What to evaluate: the command's argument (explorer), else a pick, defaulting to the workspace folder. */
async function pickCorpus(argument: unknown): Promise<vscode.Uri | undefined> {
  if (argument instanceof vscode.Uri) return argument;
  const workspace = vscode.workspace.workspaceFolders?.[0];
  type Choice = vscode.QuickPickItem & { readonly pick: () => Promise<vscode.Uri | undefined> };
  const choices: Choice[] = [];
  if (workspace) {
    choices.push({ label: `$(folder) ${workspace.name}`, description: 'the workspace folder: its .py files with a marked entry', pick: async () => workspace.uri });
  }
  choices.push(
    { label: '$(folder-opened) Choose a folder…', description: '.py files whose entry def carries # << START_OF_TRACE', pick: async () => openDialog(true) },
    { label: '$(file) Choose a .jsonl corpus…', description: 'CRUXEval format: code, input, output, id', pick: async () => openDialog(false) },
  );
  const chosen = choices.length === 1 ? choices[0] : await vscode.window.showQuickPick(choices, { title: 'CWM: Evaluate', placeHolder: 'What to evaluate' });
  return chosen?.pick();
}

async function openDialog(folder: boolean): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: folder,
    canSelectFiles: !folder,
    canSelectMany: false,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    openLabel: 'Evaluate',
    ...(folder ? {} : { filters: { 'Corpus (JSON Lines)': ['jsonl'] } }),
  });
  return picked?.[0];
}

/** `2026-11-24T00-17-51`: sortable, and valid as a folder name everywhere. */
function timestamp(): string {
  return new Date().toISOString().replace(/\..*$/, '').replace(/:/g, '-');
}

function progressMessage(progress: EvaluationProgress): string {
  const rate = progress.rate === null ? '' : ` · ${progress.rate.toFixed(2)} programs/s · ${formatDuration(progress.etaSeconds)} left`;
  const earlier = progress.skipped > 0 ? ` (${progress.skipped} done earlier)` : '';
  return `${progress.done}/${progress.total}${earlier}${rate}`;
}

async function evaluate(target: vscode.Uri, apiKeys: ApiKeyStore): Promise<void> {
  const isFolder = (await vscode.workspace.fs.stat(target)).type & vscode.FileType.Directory;
  const settings = readSettings(target);
  if (settings.endpoints.length === 0) {
    const choice = await vscode.window.showErrorMessage(
      'CWM: evaluating needs a model endpoint. Set cwmDebug.endpoints (and cwmDebug.tokenizerPath unless the server is vLLM).',
      'Open Settings',
    );
    if (choice) await vscode.commands.executeCommand('workbench.action.openSettings', 'cwmDebug');
    return;
  }
  const concurrencySetting = Concurrency.safeParse(vscode.workspace.getConfiguration('cwmDebug', target).get('eval.concurrency'));
  const concurrency = concurrencySetting.success ? concurrencySetting.data : Math.max(1, settings.endpoints.length);
  const python = (await resolvePython(target)).path;
  const outDir = join(isFolder ? target.fsPath : dirname(target.fsPath), '.cwm-eval', timestamp());

  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `CWM: evaluating ${vscode.workspace.asRelativePath(target)}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      progress.report({ message: 'connecting to the model…' });
      const { connectModel, evaluationModelOf, runEvaluation } = heavy();
      const model = await connectModel({
        endpoints: settings.endpoints,
        backend: settings.backend,
        tokenizerPath: settings.tokenizerPath,
        apiKey: await apiKeys.get(),
        model: settings.model,
        samples: settings.samples,
        temperature: settings.temperature,
        seed: settings.seed,
        contextTokens: settings.contextTokens,
        requestTimeoutMs: settings.requestTimeoutMs,
      }, { terms: 'vscode' });
      try {
        const evaluationModel = evaluationModelOf(model);
        let shown = 0;
        return await runEvaluation({
          corpus: target.fsPath,
          outDir,
          model: evaluationModel,
          // Several samples of a program must differ: they are drawn at cwmDebug.sampleTemperature.
          temperature: settings.samples > 1 ? settings.sampleTemperature : settings.temperature,
          seed: settings.seed,
          samples: settings.samples,
          concurrency,
          python,
          tracerLimits: settings.tracerLimits,
          contextTokens: settings.contextTokens,
          signal: abort.signal,
          onProgress: (p) => {
            const share = p.total === 0 ? 100 : (p.done / p.total) * 100;
            progress.report({ message: progressMessage(p), increment: share - shown });
            shown = share;
          },
          onNotice: (message) => void vscode.window.showInformationMessage(`CWM: ${message}`),
        });
      } finally {
        await model.close();
      }
    },
  );

  // The summary gets a whole editor: with the side-by-side view (or any split) open, the active group may be a narrow
  // half, so the first group takes it and the other groups are joined into it first.
  await vscode.commands.executeCommand('workbench.action.joinAllGroups');
  await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(outcome.summaryPath));
  const choice = await vscode.window.showInformationMessage(evaluationMessage(outcome, vscode.workspace.asRelativePath(outDir)), 'Open HTML report');
  if (choice) await vscode.env.openExternal(vscode.Uri.file(outcome.htmlPath));
}

/** One short sentence for the notification (VS Code cuts long ones): how many programs, the headline score, where. */
export function evaluationMessage(
  outcome: { readonly stopped: boolean; readonly remaining: number; readonly totals: { readonly programs: { readonly done: number }; readonly rollout: { readonly output: { readonly rate: number | null; readonly matched: number; readonly total: number } } } },
  where: string,
): string {
  const plural = (n: number) => `${n} program${n === 1 ? '' : 's'}`;
  const output = outcome.totals.rollout.output;
  const headline = output.rate === null ? '' : `, output right for ${output.matched} of ${output.total} (${(output.rate * 100).toFixed(1)}%)`;
  const stopped = outcome.stopped ? ` Stopped with ${plural(outcome.remaining)} left.` : '';
  return `CWM: evaluated ${plural(outcome.totals.programs.done)}${headline}. Report in ${where}.${stopped}`;
}

export function registerEvaluateCommand(context: vscode.ExtensionContext, apiKeys: ApiKeyStore): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(EVALUATE_FOLDER_COMMAND, async (argument?: unknown) => {
      if (!canExecute()) {
        explainRestricted('Evaluating a corpus');
        return;
      }
      const target = await pickCorpus(argument);
      if (target === undefined) return;
      try {
        await evaluate(target, apiKeys);
      } catch (error) {
        void vscode.window.showErrorMessage(`CWM: the evaluation failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }),
  );
}
