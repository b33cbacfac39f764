// Which Python interpreter records real runs: the Python extension's selected interpreter when that extension is
// installed, else the cwmDebug.pythonPath setting, else python3.

import * as vscode from 'vscode';
import { z } from 'zod';
import { readSettings } from './settings';

export interface ResolvedPython {
  readonly path: string;
  readonly source: 'python-extension' | 'setting' | 'default';
}

// The slice of ms-python.python's public API used here (its `environments` API, stable since 2023); validated because
// another extension's exports are outside data.
const EnvironmentPath = z.object({ id: z.string().optional(), path: z.string() });
const ResolvedEnvironment = z.object({ executable: z.object({ uri: z.object({ fsPath: z.string() }).optional() }) });

interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): unknown;
  resolveEnvironment(environment: unknown): Promise<unknown>;
}

function environmentsApi(exports: unknown): PythonEnvironmentsApi | undefined {
  if (typeof exports !== 'object' || exports === null) return undefined;
  const environments = (exports as { environments?: unknown }).environments;
  if (typeof environments !== 'object' || environments === null) return undefined;
  const api = environments as Partial<PythonEnvironmentsApi>;
  return typeof api.getActiveEnvironmentPath === 'function' && typeof api.resolveEnvironment === 'function' ? (api as PythonEnvironmentsApi) : undefined;
}

async function fromPythonExtension(resource?: vscode.Uri): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension('ms-python.python');
  if (!extension) return undefined;
  try {
    const api = environmentsApi(extension.isActive ? extension.exports : await extension.activate());
    if (!api) return undefined;
    const active = EnvironmentPath.safeParse(api.getActiveEnvironmentPath(resource));
    if (!active.success) return undefined;
    const resolved = ResolvedEnvironment.safeParse(await api.resolveEnvironment(active.data));
    return resolved.success ? resolved.data.executable.uri?.fsPath ?? active.data.path : active.data.path;
  } catch {
    // A broken or still-loading Python extension must not stop the debugger: fall back to the setting.
    return undefined;
  }
}

export async function resolvePython(resource?: vscode.Uri): Promise<ResolvedPython> {
  const fromExtension = await fromPythonExtension(resource);
  if (fromExtension) return { path: fromExtension, source: 'python-extension' };
  const setting = readSettings(resource).pythonPath;
  if (setting) return { path: setting, source: 'setting' };
  return { path: 'python3', source: 'default' };
}
