// The side-by-side view in VS Code: a webview panel beside the editor showing the active CWM debug session's predicted
// and real trace (server/compare/view-model.ts builds the rows), following the debugger and moving it when a row is chosen.

import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { z } from 'zod';
import { buildSideBySideModel, sideBySideHtml, type GoToStepArgs, type SideBySideModel } from '../server/compare/view-model';

const COMMAND = 'cwmDebug.showSideBySide';
const VIEW_TYPE = 'cwmDebug.sideBySide';
/** Setting: open the view by itself when a compare session stops at a divergence. */
const OPEN_ON_DIVERGENCE = 'sideBySide.openOnDivergence';

/** What the webview may post (checked: it is another context). */
const WebviewMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({
    type: z.literal('goToStep'),
    position: z.number().int().nonnegative(),
    step: z.number().int().nonnegative(),
    side: z.enum(['actual', 'predicted']).optional(),
  }),
]);

/** The part of `cwm/state` the view needs. */
const StateBody = z.object({
  position: z.number().int(),
  length: z.number().int().nonnegative(),
  complete: z.boolean().optional(),
  ended: z.boolean().optional(),
});

/** A DAP event as the tracker sees it. */
const AdapterEvent = z.object({ type: z.literal('event'), event: z.string(), body: z.object({ reason: z.string().optional() }).optional() });
const AdapterRequest = z.object({ type: z.literal('request'), command: z.string() });

export function registerSideBySideView(context: vscode.ExtensionContext): void {
  const view = new SideBySideView(context.extensionUri);
  context.subscriptions.push(
    view,
    vscode.commands.registerCommand(COMMAND, () => view.show()),
    vscode.debug.registerDebugAdapterTrackerFactory('cwm', {
      createDebugAdapterTracker: (session) => view.trackerFor(session),
    }),
    vscode.debug.onDidTerminateDebugSession((session) => view.sessionEnded(session)),
    vscode.debug.onDidChangeActiveDebugSession((session) => view.activeSessionChanged(session)),
  );
}

/** The user asked for the view to open by itself when a compare session stops at a divergence (off by default). */
function opensOnDivergence(): boolean {
  return vscode.workspace.getConfiguration('cwmDebug').get<boolean>(OPEN_ON_DIVERGENCE, false);
}

class SideBySideView implements vscode.Disposable {
  private panel?: vscode.WebviewPanel;
  private panelDisposables: vscode.Disposable[] = [];
  /** The session the panel shows. */
  private session?: vscode.DebugSession;
  /** Every live cwm session, most recently started last. */
  private readonly live = new Map<string, vscode.DebugSession>();
  private model?: SideBySideModel;
  private position = -1;
  private loading = false;
  /** What the page shows while there is no data (repeated when the page loads again). */
  private status = '';
  private reloadWanted = false;
  /** Sessions restarted since their traces were read: their rows are all new. */
  private readonly restarted = new Set<string>();
  /** Bumped when the shown session changes, so answers about an older one are dropped. */
  private generation = 0;

  constructor(private readonly extensionUri: vscode.Uri) {}

  async show(session = this.pickSession()): Promise<void> {
    if (!session) {
      const action = 'Debug Current File';
      const choice = await vscode.window.showInformationMessage(
        'CWM: no CWM debug session is running. Start one from Run and Debug with a "cwm" launch configuration '
          + '("mode": "compare" shows the prediction next to the real run), then run "CWM: Show Side-by-Side View" again.',
        action,
      );
      if (choice === action) await vscode.commands.executeCommand('cwmDebug.traceCurrentFile');
      return;
    }
    this.ensurePanel();
    this.panel!.reveal(undefined, true);
    if (session !== this.session) this.attach(session);
    else if (!this.model && !this.loading) void this.load();
  }

  trackerFor(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    this.live.set(session.id, session);
    return {
      onDidSendMessage: (message: unknown) => this.adapterMessage(session, message),
      onWillReceiveMessage: (message: unknown) => {
        const request = AdapterRequest.safeParse(message);
        if (request.success && request.data.command === 'restart') this.restarted.add(session.id);
      },
      onExit: () => this.sessionEnded(session),
    };
  }

  sessionEnded(session: vscode.DebugSession): void {
    this.live.delete(session.id);
    this.restarted.delete(session.id);
    if (this.session?.id !== session.id) return;
    this.session = undefined;
    this.model = undefined;
    this.position = -1;
    this.generation++;
    this.post({ type: 'clear', text: 'The debug session ended. Start another CWM debug session to see its traces here.' });
  }

  activeSessionChanged(session: vscode.DebugSession | undefined): void {
    if (!this.panel || !session || session.type !== 'cwm' || session.id === this.session?.id) return;
    this.attach(session);
  }

  dispose(): void {
    this.panel?.dispose();
  }

  // ------------------------------------------------------------------------------------------------ the panel

  private ensurePanel(): void {
    if (this.panel) return;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      VIEW_TYPE,
      'CWM: Side by Side',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      // Not kept alive while hidden: the script asks for the data again ('ready') when the panel comes back.
      { enableScripts: true, localResourceRoots: [media], retainContextWhenHidden: false },
    );
    const webview = panel.webview;
    webview.html = sideBySideHtml({
      cspSource: webview.cspSource,
      nonce: randomBytes(18).toString('base64url'),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'side-by-side.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'side-by-side.css')).toString(),
    });
    this.panel = panel;
    this.panelDisposables = [
      webview.onDidReceiveMessage((message: unknown) => void this.webviewMessage(message)),
      panel.onDidDispose(() => {
        this.panel = undefined;
        for (const disposable of this.panelDisposables) disposable.dispose();
        this.panelDisposables = [];
        // Nothing to keep in sync without a panel; reopening reads the traces again.
        this.session = undefined;
        this.model = undefined;
        this.generation++;
      }),
    ];
  }

  private post(message: Record<string, unknown>): void {
    void this.panel?.webview.postMessage(message);
  }

  private pickSession(): vscode.DebugSession | undefined {
    const active = vscode.debug.activeDebugSession;
    if (active?.type === 'cwm') return active;
    return [...this.live.values()].pop();
  }

  private attach(session: vscode.DebugSession): void {
    this.session = session;
    this.model = undefined;
    this.position = -1;
    this.generation++;
    this.loading = false;
    this.reloadWanted = false;
    const program = typeof session.configuration.program === 'string' ? basename(session.configuration.program) : session.name;
    if (this.panel) this.panel.title = `CWM: ${program}`;
    void this.load();
  }

  // ------------------------------------------------------------------------------------------------ data

  /** Reads the traces of the shown session; one read at a time, another one after it if asked for meanwhile. */
  private async load(): Promise<void> {
    const session = this.session;
    if (!session || !this.panel) return;
    if (this.loading) {
      this.reloadWanted = true;
      return;
    }
    this.loading = true;
    const generation = this.generation;
    const mode = session.configuration.mode;
    this.status = mode === 'compare' || mode === undefined ? 'Waiting for the prediction to finish…' : 'Loading the trace…';
    this.post({ type: 'status', text: this.status });
    try {
      // In compare mode this answers once the whole prediction is in (the adapter shows its progress meanwhile).
      const body: unknown = await session.customRequest('cwm/traces');
      if (generation !== this.generation) return;
      const model = buildSideBySideModel(body);
      const state = await this.state(session);
      if (generation !== this.generation) return;
      this.model = model;
      this.position = state?.position ?? model.position;
      this.post({ type: 'model', model, position: this.position });
    } catch (error) {
      if (generation === this.generation) {
        this.status = `Could not read the traces: ${messageOf(error)}`;
        this.post({ type: 'status', text: this.status });
      }
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        if (this.reloadWanted) {
          this.reloadWanted = false;
          void this.load();
        }
      }
    }
  }

  private async state(session: vscode.DebugSession): Promise<z.infer<typeof StateBody> | undefined> {
    const parsed = StateBody.safeParse(await session.customRequest('cwm/state'));
    return parsed.success ? parsed.data : undefined;
  }

  /** After a stop: select the debugger's row, or read the traces again when they changed (new predictions, a restart). */
  private async followStop(session: vscode.DebugSession): Promise<void> {
    if (session.id !== this.session?.id || !this.panel) return;
    if (this.loading) {
      // The load in flight reads the state when it is done; after a restart its data may predate it.
      if (this.restarted.delete(session.id)) this.reloadWanted = true;
      return;
    }
    const generation = this.generation;
    const state = await this.state(session).catch(() => undefined);
    if (!state || generation !== this.generation) return;
    this.position = state.position;
    const stale = this.restarted.delete(session.id) || !this.model || state.length !== this.model.rows.length;
    if (stale) void this.load();
    else this.post({ type: 'select', position: state.position });
  }

  private adapterMessage(session: vscode.DebugSession, message: unknown): void {
    const parsed = AdapterEvent.safeParse(message);
    if (!parsed.success) return;
    const { event, body } = parsed.data;
    if (event === 'stopped') {
      if (!this.panel && body?.reason === 'divergence' && opensOnDivergence()) {
        void this.show(session);
        return;
      }
      // A panel left without a session takes the next CWM session that stops.
      if (this.panel && !this.session) {
        this.attach(session);
        return;
      }
      void this.followStop(session);
    } else if (event === 'invalidated' && session.id === this.session?.id) {
      // A what-if changed a step: the steps after it are predicted again.
      void this.load();
    } else if (event === 'terminated') {
      this.sessionEnded(session);
    }
  }

  // ------------------------------------------------------------------------------------------------ the webview's requests

  private async webviewMessage(raw: unknown): Promise<void> {
    const parsed = WebviewMessage.safeParse(raw);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === 'ready') {
      // Also after the panel was hidden and shown again: the page starts from nothing each time.
      if (this.model) this.post({ type: 'model', model: this.model, position: this.position });
      else if (!this.session) this.post({ type: 'clear', text: 'No CWM debug session. Start one, then run "CWM: Show Side-by-Side View".' });
      else if (this.loading) this.post({ type: 'status', text: this.status });
      else void this.load();
      return;
    }
    const session = this.session;
    if (!session) {
      void vscode.window.showInformationMessage('CWM: the debug session has ended; start a new one to move through its steps.');
      return;
    }
    const args: GoToStepArgs = message.side === undefined ? { step: message.step } : { step: message.step, side: message.side };
    try {
      await session.customRequest('cwm/goToStep', args);
    } catch (error) {
      void vscode.window.showWarningMessage(`CWM: ${messageOf(error)}`);
      return;
    }
    const row = this.model?.rows[message.position];
    const cell = row?.actual ?? row?.predicted;
    const line = cell?.line ?? 0;
    // A step in another file of the program shows that file.
    const program = cell?.file ?? session.configuration.program;
    if (line > 0 && typeof program === 'string') await revealLine(program, line).catch(() => undefined);
  }
}

/** Shows the line in the program's editor without taking the focus from the view (the keyboard stays on the table). */
async function revealLine(program: string, line: number): Promise<void> {
  const uri = vscode.Uri.file(program);
  const visible = vscode.window.visibleTextEditors.find((editor) => editor.document.uri.fsPath === uri.fsPath);
  const range = new vscode.Range(line - 1, 0, line - 1, 0);
  const editor = await vscode.window.showTextDocument(uri, {
    viewColumn: visible?.viewColumn ?? vscode.ViewColumn.One,
    preserveFocus: true,
    preview: true,
    selection: range,
  });
  editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
