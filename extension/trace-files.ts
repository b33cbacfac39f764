// .cwmtrace files in the editor: save the trace of the running CWM debug session, step through a saved trace in the
// debugger, and offer that once when a trace file is opened.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import * as vscode from 'vscode';
import { z } from 'zod';

type Side = 'actual' | 'predicted';

/** The adapter's `cwm/exportTrace` response body (server/adapter/session.ts, ExportedTrace). */
const ExportedTrace = z.object({
  text: z.string(),
  suggestedName: z.string().min(1),
  side: z.enum(['actual', 'predicted']),
  frames: z.number().int().nonnegative(),
  note: z.string().optional(),
});

const SessionState = z.object({ mode: z.enum(['predict', 'actual', 'compare']).optional() }).passthrough();

const SIDE_LABELS: Readonly<Record<Side, string>> = { predicted: 'prediction', actual: 'real run' };

export function registerTraceFiles(context: vscode.ExtensionContext): void {
  /** Trace files already offered for replay in this window (or saved from the debugger), by URI. */
  const offered = new Set<string>();
  context.subscriptions.push(
    vscode.commands.registerCommand('cwmDebug.saveTrace', () => saveTrace(offered)),
    vscode.commands.registerCommand('cwmDebug.replayTrace', (uri?: vscode.Uri) => replayTrace(uri instanceof vscode.Uri ? uri : undefined)),
    vscode.workspace.onDidOpenTextDocument((document) => void offerReplay(document, offered)),
  );
  // The documents whose opening activated the extension were opened before the listener existed.
  for (const document of vscode.workspace.textDocuments) void offerReplay(document, offered);
}

/** CWM: Save Trace — the active cwm session's trace (in compare mode, the side the user picks) to a .cwmtrace file. */
async function saveTrace(offered: Set<string>): Promise<void> {
  const session = vscode.debug.activeDebugSession;
  if (!session || session.type !== 'cwm') {
    void vscode.window.showInformationMessage('CWM: start a CWM debug session first; its trace is what gets saved.');
    return;
  }
  try {
    const state = SessionState.parse(await session.customRequest('cwm/state'));
    let side: Side | undefined;
    if (state.mode === 'compare') {
      const picked = await vscode.window.showQuickPick(
        [
          { label: 'Predicted', description: 'the trace CWM predicted', side: 'predicted' as const },
          { label: 'Real run', description: 'the trace recorded by running the program', side: 'actual' as const },
        ],
        { title: 'CWM: Save Trace', placeHolder: 'Which trace to save?' },
      );
      if (!picked) return;
      side = picked.side;
    }
    const exported = ExportedTrace.parse(await session.customRequest('cwm/exportTrace', { ...(side ? { side } : {}), format: 'cwm' }));
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(join(defaultFolder(session), exported.suggestedName)),
      filters: { 'CWM traces': ['cwmtrace'] },
      saveLabel: 'Save Trace',
      title: `CWM: Save the ${SIDE_LABELS[exported.side]}`,
    });
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, Buffer.from(exported.text, 'utf8'));
    // The user comes from the debugger: opening the file just saved needs no offer to replay it.
    offered.add(target.toString());
    const saved = `CWM: saved ${exported.frames} steps of the ${SIDE_LABELS[exported.side]} to ${basename(target.fsPath)}.`;
    const choice = await vscode.window.showInformationMessage(exported.note ? `${saved} ${exported.note}` : saved, 'Open');
    if (choice === 'Open') await vscode.window.showTextDocument(target);
  } catch (error) {
    void vscode.window.showErrorMessage(`CWM: could not save the trace: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The folder a saved trace goes to by default: the program's, else the replayed trace's, else the workspace's. */
function defaultFolder(session: vscode.DebugSession): string {
  const configuration = session.configuration;
  const base = typeof configuration.cwd === 'string' ? configuration.cwd : session.workspaceFolder?.uri.fsPath ?? process.cwd();
  for (const key of ['program', 'trace']) {
    const value: unknown = configuration[key];
    if (typeof value === 'string' && value !== '') return dirname(isAbsolute(value) ? value : resolve(base, value));
  }
  return base;
}

/** CWM: Step Through Trace File — replays a saved trace (the given one, the active editor's, or one picked) in actual mode. */
async function replayTrace(given?: vscode.Uri): Promise<void> {
  const uri = given ?? activeTraceFile() ?? (await pickTraceFile());
  if (!uri) return;
  if (uri.scheme !== 'file') {
    void vscode.window.showInformationMessage('CWM: save the trace to a file first; the debugger replays a file on disk.');
    return;
  }
  const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (document?.isDirty) void vscode.window.showWarningMessage(`CWM: ${basename(uri.fsPath)} has unsaved changes; the replay reads the file as saved.`);
  const program = siblingProgram(uri.fsPath);
  await vscode.debug.startDebugging(vscode.workspace.getWorkspaceFolder(uri), {
    type: 'cwm',
    request: 'launch',
    name: `CWM: replay ${basename(uri.fsPath)}`,
    mode: 'actual',
    trace: uri.fsPath,
    ...(program ? { program } : {}),
  });
}

function activeTraceFile(): vscode.Uri | undefined {
  const document = vscode.window.activeTextEditor?.document;
  if (!document) return undefined;
  return document.languageId === 'cwmtrace' || document.uri.path.endsWith('.cwmtrace') ? document.uri : undefined;
}

async function pickTraceFile(): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    filters: { 'CWM traces': ['cwmtrace', 'json'] },
    openLabel: 'Step Through',
    title: 'CWM: Step Through Trace File',
  });
  return picked?.[0];
}

/**
 * The program a trace file was saved from, by name: `loop-predicted.cwmtrace` → `loop.py` (else `loop-predicted.py`)
 * in the same folder. The adapter shows the real file only when it is still the program the trace ran.
 */
function siblingProgram(tracePath: string): string | undefined {
  const folder = dirname(tracePath);
  const stem = basename(tracePath, extname(tracePath));
  const names = [...new Set([`${stem.replace(/-(?:predicted|actual)$/, '')}.py`, `${stem}.py`])];
  return names.map((name) => join(folder, name)).find((path) => existsSync(path));
}

/** Once per trace file and window: offer to step through a .cwmtrace file just opened. */
async function offerReplay(document: vscode.TextDocument, offered: Set<string>): Promise<void> {
  if (document.languageId !== 'cwmtrace' || document.uri.scheme !== 'file') return;
  const key = document.uri.toString();
  if (offered.has(key)) return;
  offered.add(key);
  const running = vscode.debug.activeDebugSession;
  if (running?.type === 'cwm' && running.configuration.trace === document.uri.fsPath) return;
  const choice = await vscode.window.showInformationMessage('Step through this trace in the debugger?', 'Replay', 'Not now');
  if (choice === 'Replay') await vscode.commands.executeCommand('cwmDebug.replayTrace', document.uri);
}
