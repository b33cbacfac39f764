// Omniscient time travel in VS Code: "where did this value come from" (and the next change), a variable's value
// history, every run of a line, the call history tree and "N calls · M raised" lenses, all asked of the CWM adapter
// (custom requests cwm/lastChange, valueHistory, lineRuns, calls, functionCalls; server/adapter/queries.ts).

import * as vscode from 'vscode';
import { z } from 'zod';
import { maxOf, minOf } from '../server/trace/arrays';

type Side = 'actual' | 'predicted';

const Change = z.object({ setBy: z.number(), shownAt: z.number(), value: z.string(), before: z.string().optional(), line: z.number(), function: z.string() });
const LastChange = z.object({ side: z.enum(['actual', 'predicted']), change: Change });
const History = z.object({
  name: z.string(), function: z.string(), total: z.number(), note: z.string().optional(),
  entries: z.array(Change.extend({ position: z.number().optional() })),
});
const LineRuns = z.object({
  total: z.number(), note: z.string().optional(),
  runs: z.array(z.object({ step: z.number(), position: z.number().optional(), changed: z.array(z.object({ name: z.string(), value: z.string(), before: z.string().optional() })) })),
});
const CallEntry = z.object({
  step: z.number(), function: z.string(), line: z.number(), depth: z.number(), args: z.record(z.string(), z.string()), outcome: z.enum(['returned', 'raised', 'running']),
  value: z.string().optional(), parent: z.number().optional(), children: z.number(), position: z.number().optional(), path: z.string().optional(),
});
const Calls = z.object({ total: z.number(), note: z.string().optional(), calls: z.array(CallEntry) });
const FunctionCalls = z.object({ functions: z.array(z.object({ functionName: z.string(), line: z.number(), calls: z.number(), raised: z.number(), file: z.string().optional() })) });
const State = z.object({ mode: z.enum(['predict', 'actual', 'compare']).optional() }).passthrough();

type CallEntry = z.infer<typeof CallEntry>;

/** The cwm session questions go to, or undefined with a message said. */
function cwmSession(): vscode.DebugSession | undefined {
  const session = vscode.debug.activeDebugSession;
  if (session?.type === 'cwm') return session;
  void vscode.window.showInformationMessage('CWM: start a CWM debug session first; the questions are asked of its recording.');
  return undefined;
}

/** Which side a VARIABLES entry belongs to (compare mode shows a scope per side), when the menu says. */
function sideOfContainer(argument: unknown): Side | undefined {
  const container = (argument as { container?: { name?: unknown } } | undefined)?.container;
  const name = typeof container?.name === 'string' ? container.name.toLowerCase() : '';
  if (name.includes('predict')) return 'predicted';
  if (name.includes('actual') || name.includes('real')) return 'actual';
  return undefined;
}

/** The variable a command is about: the VARIABLES entry it was invoked on, else the word under the cursor. */
function variableName(argument: unknown): string | undefined {
  const variable = (argument as { variable?: { name?: unknown; evaluateName?: unknown } } | undefined)?.variable;
  if (typeof variable?.name === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(variable.name)) return variable.name;
  const editor = vscode.window.activeTextEditor;
  if (!editor) return undefined;
  const range = editor.document.getWordRangeAtPosition(editor.selection.active, /[A-Za-z_][A-Za-z0-9_]*/);
  return range ? editor.document.getText(range) : undefined;
}

/** In compare mode, the side to ask: the menu's, else the user's pick. */
async function chooseSide(session: vscode.DebugSession, given: Side | undefined): Promise<Side | undefined | null> {
  if (given) return given;
  const state = State.safeParse(await session.customRequest('cwm/state'));
  if (!state.success || state.data.mode !== 'compare') return undefined;
  const picked = await vscode.window.showQuickPick(
    [{ label: 'Real run', side: 'actual' as const }, { label: 'Prediction', side: 'predicted' as const }],
    { title: 'CWM: ask which side?' },
  );
  return picked ? picked.side : null;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Sparkline of numeric values (▁ to █), when every value is a number and there are at least three. */
export function sparkline(values: readonly string[]): string | undefined {
  const numbers = values.map(Number);
  if (numbers.length < 3 || numbers.some((n) => !Number.isFinite(n))) return undefined;
  const blocks = '▁▂▃▄▅▆▇█';
  const low = minOf(numbers);
  const high = maxOf(numbers);
  // At most 60 marks: a long history is sampled evenly.
  const stride = Math.max(1, Math.ceil(numbers.length / 60));
  let line = '';
  for (let i = 0; i < numbers.length; i += stride) line += blocks[high === low ? 0 : Math.round(((numbers[i]! - low) / (high - low)) * 7)];
  return line;
}

async function whereFrom(argument: unknown, direction: 'back' | 'forward'): Promise<void> {
  const session = cwmSession();
  if (!session) return;
  const name = variableName(argument);
  if (!name) {
    void vscode.window.showInformationMessage('CWM: put the cursor on a variable name (or use the VARIABLES view\'s menu) to ask where its value came from.');
    return;
  }
  const side = await chooseSide(session, sideOfContainer(argument));
  if (side === null) return;
  try {
    const answer = LastChange.parse(await session.customRequest('cwm/lastChange', { name, direction, ...(side ? { side } : {}) }));
    const c = answer.change;
    const from = c.before !== undefined ? ` (was ${c.before})` : '';
    vscode.window.setStatusBarMessage(`CWM: ${name} = ${c.value}${from}, set at step ${c.setBy} on line ${c.line} of ${c.function}`, 8000);
  } catch (error) {
    void vscode.window.showInformationMessage(`CWM: ${messageOf(error)}`);
  }
}

async function valueHistory(argument: unknown): Promise<void> {
  const session = cwmSession();
  if (!session) return;
  const name = variableName(argument);
  if (!name) return void vscode.window.showInformationMessage('CWM: put the cursor on a variable name to see every value it held.');
  const side = await chooseSide(session, sideOfContainer(argument));
  if (side === null) return;
  try {
    const history = History.parse(await session.customRequest('cwm/valueHistory', { name, ...(side ? { side } : {}) }));
    const spark = sparkline(history.entries.map((e) => e.value));
    const picked = await vscode.window.showQuickPick(
      history.entries.map((e) => ({ label: `${name} = ${e.value}`, description: `step ${e.setBy} · line ${e.line}`, detail: e.before !== undefined ? `was ${e.before}` : undefined, position: e.position })),
      { title: `CWM: ${history.total} values of ${name} in this call of ${history.function}${spark ? `  ${spark}` : ''}${history.note ? ` (${history.note})` : ''}`, matchOnDescription: true },
    );
    if (picked?.position !== undefined) await session.customRequest('cwm/goToStep', { step: picked.position });
  } catch (error) {
    void vscode.window.showInformationMessage(`CWM: ${messageOf(error)}`);
  }
}

async function lineRuns(uri?: unknown, lineArgument?: unknown): Promise<void> {
  const session = cwmSession();
  if (!session) return;
  const editor = vscode.window.activeTextEditor;
  // From the gutter menu VS Code passes { lineNumber, uri }; from the editor, the cursor's line.
  const gutter = uri as { lineNumber?: unknown; uri?: unknown } | undefined;
  const line = typeof gutter?.lineNumber === 'number' ? gutter.lineNumber : typeof lineArgument === 'number' ? lineArgument : editor ? editor.selection.active.line + 1 : undefined;
  const path = gutter?.uri instanceof vscode.Uri ? gutter.uri.fsPath : editor?.document.uri.fsPath;
  if (line === undefined) return;
  const side = await chooseSide(session, undefined);
  if (side === null) return;
  try {
    const runs = LineRuns.parse(await session.customRequest('cwm/lineRuns', { line, ...(path ? { path } : {}), ...(side ? { side } : {}) }));
    if (runs.total === 0) return void vscode.window.showInformationMessage(`CWM: line ${line} never ran in this ${side === 'predicted' ? 'prediction' : 'recording'}.`);
    const picked = await vscode.window.showQuickPick(
      runs.runs.map((run, k) => ({
        label: `Run ${k + 1} of ${runs.total}`, description: `step ${run.step}`,
        detail: run.changed.map((c) => `${c.name} = ${c.value}`).join(', ') || 'nothing changed', position: run.position,
      })),
      { title: `CWM: every run of line ${line}${runs.note ? ` (${runs.note})` : ''}`, matchOnDetail: true },
    );
    if (picked?.position !== undefined) await session.customRequest('cwm/goToStep', { step: picked.position });
  } catch (error) {
    void vscode.window.showInformationMessage(`CWM: ${messageOf(error)}`);
  }
}

/** A call in the CALL HISTORY tree. */
class CallItem extends vscode.TreeItem {
  constructor(readonly call: CallEntry, hasChildren: boolean) {
    const args = Object.entries(call.args).map(([k, v]) => `${k}=${v}`).join(', ');
    super(`${call.function}(${args.length > 80 ? `${args.slice(0, 79)}…` : args})`, hasChildren ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    this.description = call.outcome === 'returned' ? `→ ${call.value ?? ''}` : call.outcome === 'raised' ? `raised ${call.value ?? ''}` : 'running';
    this.tooltip = `step ${call.step} · line ${call.line}${call.outcome === 'raised' ? ' · raised' : ''}`;
    this.iconPath = new vscode.ThemeIcon(call.outcome === 'raised' ? 'error' : 'symbol-method');
    if (call.position !== undefined) this.command = { command: 'cwmDebug.goToCall', title: 'Go to the call', arguments: [call.position] };
  }
}

/** Every call of the recording as a tree (callers above callees), refreshed when the debugger stops. */
class CallHistory implements vscode.TreeDataProvider<CallItem> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private children = new Map<number | undefined, CallEntry[]>();
  private loaded = false;

  refresh(): void {
    this.loaded = false;
    this.changed.fire();
  }

  private async load(): Promise<void> {
    this.loaded = true;
    this.children = new Map();
    const session = vscode.debug.activeDebugSession;
    if (session?.type !== 'cwm') return;
    try {
      const calls = Calls.parse(await session.customRequest('cwm/calls', { limit: 5000 }));
      for (const call of calls.calls) {
        const list = this.children.get(call.parent) ?? [];
        list.push(call);
        this.children.set(call.parent, list);
      }
    } catch {
      // No recording yet (the session is starting): an empty tree until the next stop.
    }
  }

  async getChildren(element?: CallItem): Promise<CallItem[]> {
    if (!this.loaded) await this.load();
    const calls = this.children.get(element?.call.step) ?? [];
    return calls.map((call) => new CallItem(call, (this.children.get(call.step)?.length ?? 0) > 0));
  }

  getTreeItem(element: CallItem): vscode.TreeItem {
    return element;
  }
}

/** "3 calls · 1 raised" above each def the recording called; clicking lists the calls. */
class CallLenses implements vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;

  refresh(): void {
    this.changed.fire();
  }

  async provideCodeLenses(document: vscode.TextDocument): Promise<vscode.CodeLens[]> {
    const session = vscode.debug.activeDebugSession;
    if (session?.type !== 'cwm') return [];
    try {
      const answer = FunctionCalls.parse(await session.customRequest('cwm/functionCalls', {}));
      return answer.functions
        .filter((f) => (f.file === undefined ? document.uri.fsPath === session.configuration.program : f.file === document.uri.fsPath) && f.line >= 1 && f.line <= document.lineCount)
        .map((f) => new vscode.CodeLens(document.lineAt(f.line - 1).range, {
          title: `${f.calls} call${f.calls === 1 ? '' : 's'}${f.raised ? ` · ${f.raised} raised` : ''}`,
          command: 'cwmDebug.listCalls',
          arguments: [f.functionName],
        }));
    } catch {
      return [];
    }
  }
}

async function listCalls(functionName: unknown): Promise<void> {
  const session = cwmSession();
  if (!session || typeof functionName !== 'string') return;
  try {
    const calls = Calls.parse(await session.customRequest('cwm/calls', { function: functionName }));
    const picked = await vscode.window.showQuickPick(
      calls.calls.map((c) => ({
        label: `${c.function}(${Object.entries(c.args).map(([k, v]) => `${k}=${v}`).join(', ')})`,
        description: c.outcome === 'returned' ? `→ ${c.value ?? ''}` : c.outcome === 'raised' ? `raised ${c.value ?? ''}` : 'running',
        detail: `step ${c.step}`, position: c.position,
      })),
      { title: `CWM: ${calls.total} calls of ${functionName}${calls.note ? ` (${calls.note})` : ''}` },
    );
    if (picked?.position !== undefined) await session.customRequest('cwm/goToStep', { step: picked.position });
  } catch (error) {
    void vscode.window.showInformationMessage(`CWM: ${messageOf(error)}`);
  }
}

export function registerTimeTravel(context: vscode.ExtensionContext): void {
  const history = new CallHistory();
  const lenses = new CallLenses();
  const refresh = (): void => {
    history.refresh();
    lenses.refresh();
  };
  context.subscriptions.push(
    vscode.commands.registerCommand('cwmDebug.whereFrom', (argument?: unknown) => whereFrom(argument, 'back')),
    vscode.commands.registerCommand('cwmDebug.nextChange', (argument?: unknown) => whereFrom(argument, 'forward')),
    vscode.commands.registerCommand('cwmDebug.valueHistory', (argument?: unknown) => valueHistory(argument)),
    vscode.commands.registerCommand('cwmDebug.lineRuns', (uri?: unknown, line?: unknown) => lineRuns(uri, line)),
    vscode.commands.registerCommand('cwmDebug.listCalls', (name?: unknown) => listCalls(name)),
    vscode.commands.registerCommand('cwmDebug.goToCall', async (position?: unknown) => {
      const session = cwmSession();
      if (session && typeof position === 'number') await session.customRequest('cwm/goToStep', { step: position });
    }),
    vscode.window.registerTreeDataProvider('cwmDebug.calls', history),
    vscode.languages.registerCodeLensProvider({ language: 'python' }, lenses),
    // A new stop (or a session starting or ending) may bring a longer recording: the tree and lenses ask again.
    vscode.debug.onDidChangeActiveStackItem(refresh),
    vscode.debug.onDidStartDebugSession(refresh),
    vscode.debug.onDidTerminateDebugSession(refresh),
  );
}
