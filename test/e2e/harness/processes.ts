// Linux process bookkeeping for the end-to-end suite: process groups and descendants read from /proc, and a wait helper
// whose timeout message says what was awaited.

import { readFileSync, readdirSync } from 'node:fs';

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Process group id. */
  readonly pgid: number;
  readonly cmdline: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces: fields are counted from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // a zombie has exited; only its parent's wait is missing
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), cmdline };
  } catch {
    return undefined; // it ended while being read
  }
}

/** Every live (non-zombie) process on the machine. */
export function listProcesses(): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info) found.push(info);
  }
  return found;
}

/** The live processes below pid (children, grandchildren...), the process itself excluded. */
export function descendantsOf(pid: number): ProcessInfo[] {
  const all = listProcesses();
  const byParent = new Map<number, ProcessInfo[]>();
  for (const info of all) {
    const siblings = byParent.get(info.ppid) ?? [];
    siblings.push(info);
    byParent.set(info.ppid, siblings);
  }
  const out: ProcessInfo[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** The live processes of a process group. */
export function processGroupMembers(pgid: number): ProcessInfo[] {
  return listProcesses().filter((info) => info.pgid === pgid);
}

export function isAlive(pid: number): boolean {
  return readProcess(pid) !== undefined;
}

/** Polls until predicate holds; throws `Timed out after N ms waiting for <what>` otherwise. */
export async function waitFor<T>(what: string, predicate: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
