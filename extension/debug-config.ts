// Launch configurations for the `cwm` debugger: F5 without a launch.json offers predict / real run / compare for the
// function under the cursor, and every configuration is completed from the settings, the interpreter and the API key.

import { join } from 'node:path';
import * as vscode from 'vscode';
import { endpointTransportProblem } from '../server/endpoint/policy';
import { entryAt, findFunctions } from '../server/trace/functions';
import { resolvePython } from './python';
import type { ApiKeyStore } from './secrets';
import { readSettings } from './settings';
import { canExecute, explainRestricted } from './trust';

type Mode = 'predict' | 'actual' | 'compare';

/**
 * Runs the debug adapter (dist/adapter.js, the bundle other DAP clients use too) in a process of its own, under the
 * editor's own Node runtime, instead of inline in the extension host: whatever the adapter meets (a model's huge or
 * endless answer, a slow tokenizer load, a crash, memory it must not keep) can then stall or kill only its own
 * session, never the extension host that every other extension and the editor's language features share.
 */
export class CwmAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    // dist/extension.js sits next to dist/adapter.js. ELECTRON_RUN_AS_NODE makes the editor's Electron binary a plain
    // Node (in a remote or web extension host the runtime already is Node, and the variable changes nothing).
    return new vscode.DebugAdapterExecutable(process.execPath, [join(__dirname, 'adapter.js')], { env: { ELECTRON_RUN_AS_NODE: '1' } });
  }
}

interface ModeItem extends vscode.QuickPickItem {
  readonly mode: Mode;
}

export const INITIAL_CONFIGURATIONS: vscode.DebugConfiguration[] = [
  { type: 'cwm', request: 'launch', name: 'CWM: compare prediction with real run', program: '${file}', mode: 'compare' },
  { type: 'cwm', request: 'launch', name: 'CWM: predicted run', program: '${file}', mode: 'predict' },
  { type: 'cwm', request: 'launch', name: 'CWM: real run (recorded)', program: '${file}', mode: 'actual' },
];

function modeOf(config: vscode.DebugConfiguration): Mode {
  return config.mode === 'predict' || config.mode === 'actual' ? config.mode : 'compare';
}

export class CwmConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(private readonly keys: ApiKeyStore) {}

  provideDebugConfigurations(): vscode.ProviderResult<vscode.DebugConfiguration[]> {
    return INITIAL_CONFIGURATIONS;
  }

  async resolveDebugConfiguration(_folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined> {
    if (config.type || config.request || config.name) return config;
    return this.configurationForCursor();
  }

  /** F5 with no launch.json: ask what to do with the function under the cursor (or the whole file). */
  private async configurationForCursor(): Promise<vscode.DebugConfiguration | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== 'python') {
      void vscode.window.showInformationMessage('CWM: open a Python file and put the cursor in the function to debug, then press F5.');
      return undefined;
    }
    const document = editor.document;
    const target = entryAt(findFunctions(document.getText()), editor.selection.active.line);
    if (target?.unsupported) {
      void vscode.window.showWarningMessage(`CWM: ${target.name} cannot be traced on its own: ${target.unsupported}. Put the cursor in another function, or outside functions to trace the whole file.`);
      return undefined;
    }
    const subject = target ? `${target.name}()` : vscode.workspace.asRelativePath(document.uri);
    const items: ModeItem[] = [
      { mode: 'compare', label: `$(split-horizontal) Compare prediction with the real run of ${subject}`, detail: 'Runs the program under the tracer and asks the model; stops where they first differ.' },
      { mode: 'predict', label: `$(sparkle) Predict ${subject}`, detail: 'Asks the model only: nothing is run.' },
      { mode: 'actual', label: `$(record) Record the real run of ${subject}`, detail: 'Runs the program under the bundled tracer; step forwards and backwards through the recording.' },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: 'CWM: debug with the Code World Model', placeHolder: 'What should F5 do?' });
    if (!picked) return undefined;
    let args: string | undefined;
    if (target) {
      const entered = await vscode.window.showInputBox({
        title: `Arguments for ${target.name}`,
        prompt: picked.mode === 'predict'
          ? 'A Python argument list, e.g. [3, 1, 2], key="a". Leave empty to let the model choose the inputs.'
          : 'A Python argument list, e.g. [3, 1, 2], key="a". Leave empty to run the file and record the first call.',
        placeHolder: '[3, 1, 2], key="a"',
        ignoreFocusOut: true,
      });
      if (entered === undefined) return undefined;
      if (entered.trim() !== '') args = entered.trim();
    }
    return {
      type: 'cwm',
      request: 'launch',
      name: `CWM: ${picked.mode} ${subject}`,
      program: document.uri.fsPath,
      mode: picked.mode,
      ...(target ? { entry: target.name } : {}),
      ...(args !== undefined ? { args } : {}),
    };
  }

  /** Fills what the launch configuration leaves out from the settings, and refuses what must not run here. */
  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const mode = modeOf(config);
    const resource = typeof config.program === 'string' && config.program !== '' ? vscode.Uri.file(config.program) : folder?.uri;
    const settings = readSettings(resource);
    const replay = typeof config.trace === 'string';
    if (!canExecute()) {
      if (mode !== 'predict' && !replay) {
        explainRestricted(mode === 'actual' ? 'Recording the real run' : 'Comparing with the real run');
        return undefined;
      }
    }
    const resolved: vscode.DebugConfiguration = { ...config, mode };
    if (mode !== 'actual') {
      if (resolved.endpoints === undefined && settings.endpoints.length > 0) resolved.endpoints = [...settings.endpoints];
      if (resolved.backend === undefined) resolved.backend = settings.backend;
      if (resolved.tokenizer === undefined && settings.tokenizerPath) resolved.tokenizer = settings.tokenizerPath;
      if (resolved.model === undefined && settings.model) resolved.model = settings.model;
      if (resolved.temperature === undefined) resolved.temperature = settings.temperature;
      if (resolved.sampleTemperature === undefined) resolved.sampleTemperature = settings.sampleTemperature;
      if (resolved.seed === undefined && settings.seed !== undefined) resolved.seed = settings.seed;
      if (resolved.samples === undefined) resolved.samples = settings.samples;
      if (resolved.contextTokens === undefined && settings.contextTokens !== undefined) resolved.contextTokens = settings.contextTokens;
      if (resolved.requestTimeoutMs === undefined) resolved.requestTimeoutMs = settings.requestTimeoutMs;
      if (resolved.readAhead === undefined && mode === 'predict') resolved.readAhead = { ...settings.readAhead };
      const endpoints: unknown[] = Array.isArray(resolved.endpoints) ? resolved.endpoints : (process.env.CWM_ENDPOINT ?? '').split(',').filter(Boolean);
      if (endpoints.length === 0) {
        const choice = await vscode.window.showErrorMessage(
          `CWM: ${mode === 'predict' ? 'predicting' : 'comparing'} needs a model endpoint, and none is configured. Set cwmDebug.endpoints (and cwmDebug.tokenizerPath), or record the real run only.`,
          'Open Settings', 'Record Real Run Instead',
        );
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'cwmDebug');
        if (choice === 'Record Real Run Instead') return this.resolveDebugConfigurationWithSubstitutedVariables(folder, { ...config, mode: 'actual' });
        return undefined;
      }
      for (const url of endpoints) {
        const problem = typeof url === 'string' ? endpointTransportProblem(url, settings.allowInsecureHttp) : undefined;
        if (problem !== undefined) {
          void vscode.window.showErrorMessage(`CWM: ${problem}`, 'Open Settings').then((choice) => {
            if (choice) void vscode.commands.executeCommand('workbench.action.openSettings', 'cwmDebug.allowInsecureHttp');
          });
          return undefined;
        }
      }
      if (resolved.apiKey === undefined) {
        const key = await this.keys.get();
        if (key !== undefined) resolved.apiKey = key;
      }
    }
    if (mode !== 'predict' || resolved.args !== undefined) {
      if (resolved.python === undefined) resolved.python = (await resolvePython(resource)).path;
      const limits = (typeof resolved.tracerLimits === 'object' && resolved.tracerLimits !== null ? resolved.tracerLimits : {}) as Record<string, unknown>;
      resolved.tracerLimits = { ...settings.tracerLimits, ...limits };
      // The program runs where `python prog.py` would in the workspace's terminal: the workspace folder, unless "cwd" says otherwise.
      if (resolved.cwd === undefined && folder !== undefined) resolved.cwd = folder.uri.fsPath;
    }
    return resolved;
  }
}
