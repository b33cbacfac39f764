// The CWM Timeline view (Run and Debug): a scrubber over the whole trace of the active CWM session showing where the
// cursor is, the runs of breakpoint lines, exceptions and (compare mode) the first divergence; click or drag to move.

import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { z } from 'zod';

const Timeline = z.object({
  length: z.number().int().nonnegative(), position: z.number().int(), complete: z.boolean().optional(),
  exceptions: z.array(z.number().int()), breakpoints: z.array(z.number().int()).optional(), divergences: z.array(z.number().int()).optional(),
});
const FromView = z.discriminatedUnion('type', [z.object({ type: z.literal('ready') }), z.object({ type: z.literal('goTo'), position: z.number().int().nonnegative() })]);

export const TIMELINE_VIEW = 'cwmDebug.timeline';

class TimelineView implements vscode.WebviewViewProvider {
  private view: vscode.WebviewView | undefined;
  /** Moves asked for while one is under way collapse into the latest (dragging sends many). */
  private pending: number | undefined;
  private moving = false;

  constructor(private readonly extensionUri: vscode.Uri) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    view.webview.options = { enableScripts: true, localResourceRoots: [media] };
    const nonce = randomBytes(18).toString('base64url');
    const script = view.webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.js')).toString();
    const style = view.webview.asWebviewUri(vscode.Uri.joinPath(media, 'timeline.css')).toString();
    view.webview.html = `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${view.webview.cspSource}; script-src 'nonce-${nonce}';">
<link rel="stylesheet" href="${style}"><title>CWM Timeline</title></head>
<body><div id="bar" tabindex="0" role="slider" aria-label="Trace timeline: click or drag to move the debugger"></div><div id="info"></div>
<script nonce="${nonce}" src="${script}"></script></body></html>`;
    view.webview.onDidReceiveMessage((message: unknown) => {
      const parsed = FromView.safeParse(message);
      if (!parsed.success) return;
      if (parsed.data.type === 'ready') void this.refresh();
      else this.goTo(parsed.data.position);
    });
    view.onDidChangeVisibility(() => void this.refresh());
  }

  async refresh(): Promise<void> {
    const view = this.view;
    if (!view?.visible) return;
    const session = vscode.debug.activeDebugSession;
    let timeline: z.infer<typeof Timeline> = { length: 0, position: -1, exceptions: [], breakpoints: [], divergences: [] };
    if (session?.type === 'cwm') {
      try {
        timeline = Timeline.parse(await session.customRequest('cwm/timeline', {}));
      } catch {
        // The session is starting or ending: an empty bar until the next stop.
      }
    }
    void view.webview.postMessage({ type: 'timeline', timeline: { breakpoints: [], divergences: [], complete: true, ...timeline } });
  }

  private goTo(position: number): void {
    this.pending = position;
    if (this.moving) return;
    void this.drain();
  }

  private async drain(): Promise<void> {
    this.moving = true;
    try {
      while (this.pending !== undefined) {
        const position = this.pending;
        this.pending = undefined;
        const session = vscode.debug.activeDebugSession;
        if (session?.type !== 'cwm') return;
        try {
          await session.customRequest('cwm/goToStep', { step: position });
        } catch (error) {
          void vscode.window.setStatusBarMessage(`CWM: ${error instanceof Error ? error.message : String(error)}`, 5000);
        }
      }
    } finally {
      this.moving = false;
    }
  }
}

export function registerTimeline(context: vscode.ExtensionContext): void {
  const view = new TimelineView(context.extensionUri);
  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider(TIMELINE_VIEW, view),
    vscode.debug.onDidChangeActiveStackItem(() => void view.refresh()),
    vscode.debug.onDidStartDebugSession(() => void view.refresh()),
    vscode.debug.onDidTerminateDebugSession(() => void view.refresh()),
  );
}
