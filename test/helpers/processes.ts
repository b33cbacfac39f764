// Process checks the suites that hunt for left-over processes share (Linux /proc; elsewhere only kill(pid, 0)).

import { existsSync, readFileSync } from 'node:fs';

/** Whether a process still runs (a zombie, dead but not yet reaped by its adopter, does not). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The process ids a test program wrote to a file (whitespace-separated); none when it wrote nothing. */
export function pidsIn(file: string): number[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) : [];
}
