// A throwaway copy of the e2e fixture workspace, with .vscode/launch.json and .vscode/settings.json written for this run
// (endpoint URL and tokenizer path are only known once the replay endpoint is up).

import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturesDir } from '../../helpers/paths';

export const E2E_WORKSPACE_FIXTURE = join(fixturesDir, 'e2e-workspace');

/** One launch.json configuration; `type`, `request` and `name` are what VS Code needs, the rest goes to the adapter. */
export interface LaunchConfiguration {
  readonly type: string;
  readonly request: 'launch' | 'attach';
  readonly name: string;
  readonly [key: string]: unknown;
}

export interface WorkspaceOptions {
  /** Default: test/fixtures/e2e-workspace. */
  readonly fixture?: string;
  /** launch.json's configurations; the first is the one F5 starts. */
  readonly launch?: readonly LaunchConfiguration[];
  /** .vscode/settings.json (workspace settings). */
  readonly settings?: Readonly<Record<string, unknown>>;
}

export interface Workspace {
  /** Absolute path of the copy. */
  readonly folder: string;
  /** Absolute path of a file in the copy. */
  path(relativePath: string): string;
  /** Rewrites .vscode/launch.json (VS Code picks the change up by itself). */
  writeLaunch(configurations: readonly LaunchConfiguration[]): void;
  writeSettings(settings: Readonly<Record<string, unknown>>): void;
  remove(): void;
}

export function createWorkspace(options: WorkspaceOptions = {}): Workspace {
  const folder = join(mkdtempSync(join(tmpdir(), 'cwm-e2e-workspace-')), 'workspace');
  cpSync(options.fixture ?? E2E_WORKSPACE_FIXTURE, folder, { recursive: true });
  mkdirSync(join(folder, '.vscode'), { recursive: true });
  const workspace: Workspace = {
    folder,
    path: (relativePath) => join(folder, relativePath),
    writeLaunch: (configurations) => {
      writeFileSync(join(folder, '.vscode', 'launch.json'), `${JSON.stringify({ version: '0.2.0', configurations }, null, 2)}\n`);
    },
    writeSettings: (settings) => {
      writeFileSync(join(folder, '.vscode', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
    },
    remove: () => rmSync(join(folder, '..'), { recursive: true, force: true }),
  };
  if (options.launch) workspace.writeLaunch(options.launch);
  if (options.settings) workspace.writeSettings(options.settings);
  return workspace;
}
