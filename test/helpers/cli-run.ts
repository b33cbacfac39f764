// Runs the built cwm-debug CLI (dist/cli.js, or the one CWM_DEBUG_CLI names, to check a test against an older build)
// in a child process, as a user would, and collects what it printed.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths';

export const cliPath = process.env.CWM_DEBUG_CLI ?? join(repoRoot, 'dist', 'cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, cliPath, ...args], {
      env: { ...process.env, NO_COLOR: '1', CWM_ENDPOINT: '', CWM_TOKENIZER: '', COLUMNS: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}
