// Starts code-server (VS Code 1.100 in a browser, installed by `npm run setup:e2e` into .e2e/) on a free loopback port,
// isolated in a temp home with its own user-data and extensions dirs, and stops it with its whole process group.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from '../../helpers/paths';
import { isAlive, processGroupMembers, waitFor, type ProcessInfo } from './processes';

export const CODE_SERVER_BINARY = join(repoRoot, '.e2e', 'node_modules', '.bin', 'code-server');

/** Settings that keep a fresh profile quiet and deterministic: no welcome page, tips, update checks or git scans. */
export const QUIET_SETTINGS: Readonly<Record<string, unknown>> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'git.autoRepositoryDetection': false,
  'chat.commandCenter.enabled': false,
  'window.commandCenter': false,
  'editor.minimap.enabled': false,
  'files.hotExit': 'off',
  'debug.openDebug': 'openOnDebugBreak',
  'debug.internalConsoleOptions': 'neverOpen',
};

export interface CodeServerOptions {
  /** Default: .e2e/node_modules/.bin/code-server. */
  readonly binary?: string;
  /** .vsix files installed (--install-extension) before the server starts. */
  readonly extensions?: readonly string[];
  /** User settings, merged over QUIET_SETTINGS and written before start. */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** Keep VS Code's workspace trust on (no --disable-workspace-trust): for testing restricted mode. Default false. */
  readonly workspaceTrust?: boolean;
  /** Extra environment for the server and so for the extension host. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for /healthz. Default 30 s. */
  readonly startTimeoutMs?: number;
}

export interface CodeServer {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly url: string;
  readonly pid: number;
  /** The server runs as its own process group (pgid = pid); stop() kills the group. */
  readonly processGroup: number;
  /** Temp folder holding home, user-data, extensions and the config; removed by stop(). */
  readonly root: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  /** code-server's own stdout and stderr. */
  readonly logPath: string;
  /** The page that opens a folder. */
  urlForFolder(folder: string): string;
  /** code-server's output so far, followed by VS Code's logs (extension host, server, remote agent). */
  logs(): string;
  /** Live processes of the server's group (extension host, pty host, tracers the extension spawned...). */
  members(): ProcessInfo[];
  /** SIGTERM to the group, SIGKILL to what is left after a grace period; resolves once no process of the group is left. */
  stop(): Promise<void>;
}

function isolatedEnv(home: string, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  // code-server writes under ~/.config and ~/.local/share whatever the flags: everything points into the temp home.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    ...extra,
  };
  // A VS Code terminal running this suite would otherwise make code-server talk to that VS Code instead.
  delete env.VSCODE_IPC_HOOK_CLI;
  delete env.VSCODE_IPC_HOOK;
  return env;
}

export function codeServerAvailable(binary = CODE_SERVER_BINARY): boolean {
  return existsSync(binary);
}

/** Installs a .vsix into the given dirs (a separate code-server process that exits when done). */
export function installExtension(binary: string, vsix: string, dirs: { userDataDir: string; extensionsDir: string; home: string }): void {
  const result = spawnSync(
    binary,
    ['--user-data-dir', dirs.userDataDir, '--extensions-dir', dirs.extensionsDir, '--install-extension', vsix, '--force'],
    { env: isolatedEnv(dirs.home), encoding: 'utf8', timeout: 120_000 },
  );
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0 || !/successfully installed/i.test(output)) {
    throw new Error(`code-server --install-extension ${vsix} failed (status ${result.status}, ${result.error?.message ?? 'no spawn error'}):\n${output}`);
  }
}

export async function startCodeServer(options: CodeServerOptions = {}): Promise<CodeServer> {
  const binary = options.binary ?? CODE_SERVER_BINARY;
  if (!existsSync(binary)) throw new Error(`code-server is not installed at ${binary}: run npm run setup:e2e`);
  const root = mkdtempSync(join(tmpdir(), 'cwm-e2e-code-server-'));
  const home = join(root, 'home');
  const userDataDir = join(root, 'user-data');
  const extensionsDir = join(root, 'extensions');
  const configDir = join(root, 'config');
  for (const dir of [home, userDataDir, extensionsDir, configDir, join(userDataDir, 'User')]) mkdirSync(dir, { recursive: true });
  const settings = { ...QUIET_SETTINGS, ...(options.workspaceTrust ? {} : { 'security.workspace.trust.enabled': false }), ...options.settings };
  writeFileSync(join(userDataDir, 'User', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  const configPath = join(configDir, 'config.yaml');
  writeFileSync(configPath, 'auth: none\ncert: false\n');

  for (const vsix of options.extensions ?? []) installExtension(binary, vsix, { userDataDir, extensionsDir, home });

  const logPath = join(root, 'code-server.log');
  const log = createWriteStream(logPath);
  const args = [
    // Port 0: the kernel picks a free port, read back from the "listening on" line (no race with other servers).
    '--bind-addr', '127.0.0.1:0',
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--config', configPath,
  ];
  // detached: its own process group, so stop() reaches the extension host and whatever the extension spawned.
  const child: ChildProcess = spawn(binary, args, { env: isolatedEnv(home, options.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`code-server did not start: ${binary}`);
  let output = '';
  let exited: string | undefined;
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    log.write(chunk);
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
    log.write(chunk);
  });
  child.once('exit', (code, signal) => {
    exited = `code-server exited (code ${code}, signal ${signal})`;
  });

  const stop = async (): Promise<void> => {
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-pid, signal);
      } catch {
        // The group is already gone.
      }
    };
    signalGroup('SIGTERM');
    try {
      await waitFor('the code-server process group to exit after SIGTERM', () => processGroupMembers(pid).length === 0 && !isAlive(pid), 5_000);
    } catch {
      signalGroup('SIGKILL');
      await waitFor(`the code-server process group to exit after SIGKILL (left: ${JSON.stringify(processGroupMembers(pid))})`,
        () => processGroupMembers(pid).length === 0 && !isAlive(pid), 5_000);
    }
    log.end();
  };

  let url: string;
  try {
    const timeout = options.startTimeoutMs ?? 30_000;
    const port = await waitFor('code-server to print "HTTP server listening on"', () => {
      if (exited) throw new Error(`${exited} before listening:\n${output}`);
      return /HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1];
    }, timeout);
    url = `http://127.0.0.1:${port}`;
    await waitFor(`${url}/healthz to answer 200`, async () => {
      if (exited) throw new Error(`${exited} before /healthz answered:\n${output}`);
      try {
        return (await fetch(`${url}/healthz`)).status === 200;
      } catch {
        return false;
      }
    }, timeout, 100);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    pid,
    processGroup: pid,
    root,
    userDataDir,
    extensionsDir,
    logPath,
    urlForFolder: (folder) => `${url}/?folder=${encodeURIComponent(folder)}`,
    logs: () => [`==== code-server output ====\n${output}`, ...vscodeLogs(userDataDir)].join('\n'),
    members: () => processGroupMembers(pid),
    stop: async () => {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** VS Code's own log files under user-data/logs (newest session), each headed by its path. */
function vscodeLogs(userDataDir: string): string[] {
  const logsDir = join(userDataDir, 'logs');
  if (!existsSync(logsDir)) return [];
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.log')) out.push(`==== ${relative(logsDir, path)} ====\n${readFileSync(path, 'utf8')}`);
    }
  };
  walk(logsDir);
  return out;
}
