// Runs the bundled tracer on a user's program in its own process group and builds the real Trace from its stream.
// Whatever happens (limit, crash, cancel), the partial trace is kept and nothing is left running afterwards.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { splitSourceLines } from '../cwm/lines';
import { orderContextFiles } from '../cwm/context';
import type { EntryPoint, OutputChunk, Trace, TraceEnd, TraceFrame, TraceSourceFile } from '../trace/model';
import { childEnvironment } from '../endpoint/redact';
import { appendOutput, ChannelReader, TracerStreamParser, type TracerEnd } from './protocol';
import { appendAll } from '../trace/arrays';
import type { LiveLocals } from '../trace/compact-locals';

export interface TracerLimits {
  maxEvents: number;
  timeoutMs: number;
  maxReprLength: number;
  maxOutputBytes: number;
  /** The program's data memory, in MB (each of its processes on its own); 0 for no limit. */
  maxMemoryMb: number;
}

/** Half the machine's memory: a program can use a lot, but not take the editor and the system down with it. */
export const DEFAULT_MAX_MEMORY_MB = Math.max(256, Math.floor(totalmem() / (2 * 1024 * 1024)));

export const DEFAULT_TRACER_LIMITS: TracerLimits = {
  maxEvents: 100_000,
  timeoutMs: 30_000,
  maxReprLength: 2000,
  maxOutputBytes: 1_000_000,
  maxMemoryMb: DEFAULT_MAX_MEMORY_MB,
};

export interface TraceRequest {
  file: string;
  /** Interpreter; default `python3`. */
  python?: string;
  entry?: string;
  args?: string;
  script?: boolean;
  includePaths?: string[];
  limits?: Partial<TracerLimits>;
  /** The folder the program runs in, as `python prog.py` run from there; default: this process's working directory. */
  cwd?: string;
  /** Path of cwm_tracer.py; default: next to the bundle, else in the sources. */
  tracerPath?: string;
  signal?: AbortSignal;
  /** How the tracer hooks into Python: sys.monitoring where there is one (3.12+), else sys.settrace (`auto`, the
   * default); both give the same trace. */
  hook?: 'auto' | 'settrace' | 'monitoring';
  /** Called for each frame, in order, as the trace streams in. */
  onFrame?: (frame: TraceFrame) => void;
  /**
   * Instead of onFrame, for a consumer that encodes each frame at once and keeps nothing: frames come without
   * snapshots of their locals (see TracerStreamHandlers.onLiveFrame; the frame object is reused); no frame is kept.
   */
  onLiveFrame?: (frame: TraceFrame, locals: LiveLocals | undefined) => void;
  /** Called when the tracer says which entry it calls (before the first frame). */
  onBegin?: (entry: EntryPoint) => void;
  /** Called for each note as it arrives (it is kept in `Trace.notes` as well). */
  onNote?: (text: string) => void;
  /** false: frames only go to onFrame and the returned trace holds none (a long trace streamed to its destination). */
  keepFrames?: boolean;
  /** Where onFrame writes: while it needs draining, the tracer's output is not read (so the program waits). */
  output?: NodeJS.WritableStream & { writableNeedDrain?: boolean };
  /** The program's own arguments: its sys.argv[1:]. */
  programArgs?: readonly string[];
  /**
   * Also record the attributes of the program's objects held by locals (`TraceFrame.objects`), outside the CWM text;
   * default false (the frames' locals, and so the CWM text, are the same either way).
   */
  objects?: boolean;
}

export type TracerErrorKind =
  | 'python-not-found'
  | 'file-not-found'
  | 'syntax-error'
  | 'no-entry'
  | 'bad-args'
  | 'bad-include'
  | 'program-import-failed'
  | 'tracer-failed'
  | 'cancelled';

/** The program could not be traced at all; the message says what happened and what to do. */
export class TracerError extends Error {
  override readonly name = 'TracerError';
  constructor(readonly kind: TracerErrorKind, message: string) {
    super(message);
  }
}

const ERROR_KINDS: ReadonlySet<string> = new Set(['file-not-found', 'syntax-error', 'no-entry', 'bad-args', 'bad-include', 'program-import-failed', 'tracer-failed']);

/** The kill backstop fires this long after the tracer's own time limit should have ended it. */
const KILL_GRACE_MS = 500;
/** Extra time allowed before the tracer reports its start (slow interpreter start-up, e.g. through pyenv shims). */
const STARTUP_GRACE_MS = 10_000;
/** After the tracer exits, how long its pipes may stay open (held by something that escaped the process group). */
const CLOSE_GRACE_MS = 1000;

/**
 * Starts the tracer as a module imported from a bytecode cache instead of as a script: compiling its ~1,000 lines
 * would otherwise cost every run some 15 ms. The cache lives in the user's cache folder (never next to the
 * extension or in /tmp), and the user's own bytecode settings are restored before the program runs.
 */
const BOOTSTRAP = [
  // The tracer's folder comes first, before any import: the working directory may hold a json.py of the user's.
  'import sys',
  'sys.path[0] = sys.argv[1]',
  'import json, threading, opcode, re, io, types, collections',
  // Before 3.8 there is no pycache_prefix: leave bytecode alone rather than write next to the tracer.
  "cache = hasattr(sys, 'pycache_prefix')",
  "d, p = sys.dont_write_bytecode, getattr(sys, 'pycache_prefix', None)",
  'if cache: sys.dont_write_bytecode, sys.pycache_prefix = False, sys.argv[2]',
  'import cwm_tracer',
  'if cache: sys.dont_write_bytecode, sys.pycache_prefix = d, p',
  'cwm_tracer.cli(sys.argv[3:])',
].join('\n');

function bytecodeCacheDir(): string | undefined {
  const base = process.env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : '');
  return base ? join(base, 'cwm-debug', 'pycache') : undefined;
}

/** Interpreter arguments that run the tracer at `tracerPath` (through the cached bootstrap when possible). */
function tracerLaunch(tracerPath: string): string[] {
  const cache = bytecodeCacheDir();
  if (basename(tracerPath) === 'cwm_tracer.py' && cache) return ['-c', BOOTSTRAP, dirname(tracerPath), cache];
  return [tracerPath];
}

export function locateTracer(explicit?: string): string {
  const candidates = explicit ? [explicit] : [
    join(__dirname, 'tracer', 'cwm_tracer.py'),
    join(__dirname, 'cwm_tracer.py'),
    resolve(__dirname, '..', '..', 'server', 'tracer', 'cwm_tracer.py'),
    resolve(__dirname, '..', '..', '..', 'server', 'tracer', 'cwm_tracer.py'),
  ];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new TracerError('tracer-failed', `The bundled tracer is missing (looked for ${candidates.join(', ')}). Reinstall the extension or rebuild with npm run build.`);
  return found;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** On Linux the tracer leaves a keeper process behind it (a child subreaper) that kills every descendant at the end. */
const CONTAINED = process.platform === 'linux';
/** How long the keeper may take to kill what the program left before its whole group is killed outright. */
const KEEPER_GRACE_MS = 2000;

/** Keepers of the traces running now: should this process exit, each is told to take its program down. */
const liveKeepers = new Set<number>();
let exitHookInstalled = false;

function trackKeeper(pid: number | undefined): void {
  if (pid === undefined) return;
  liveKeepers.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const keeper of liveKeepers) stopKeeper(keeper);
  });
}

/** Asks a keeper to kill everything below it (it does so on SIGTERM); without one, kills the process group. */
function stopKeeper(pid: number | undefined): void {
  if (pid === undefined) return;
  if (!CONTAINED) return killGroup(pid);
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
}

function toTraceEnd(end: TracerEnd): TraceEnd {
  switch (end.kind) {
    case 'returned': return { kind: 'returned' };
    case 'raised': return { kind: 'raised', message: end.message };
    case 'exited': return { kind: 'exited', code: end.code, message: end.message };
    case 'limit': return { kind: 'limit', limit: end.limit, message: end.message };
    case 'error': return { kind: 'crashed', message: end.message };
  }
}

/** Records the real execution of a program. Rejects with TracerError only when nothing could be traced. */
const forgeryNote = "The program wrote to the tracer's private channel (forged trace records); what it wrote was not accepted into the trace";

export async function recordTrace(request: TraceRequest): Promise<Trace> {
  const file = resolve(request.file);
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new TracerError('file-not-found', `File not found: "${request.file}". Check the path of the program to trace.`);
  }
  const limits = { ...DEFAULT_TRACER_LIMITS, ...request.limits };
  const python = request.python || 'python3';
  const source = readFileSync(file, 'utf8');
  const args = [
    '-X', 'utf8',
    ...tracerLaunch(locateTracer(request.tracerPath)),
    '--max-events', String(limits.maxEvents),
    '--timeout', String(limits.timeoutMs / 1000),
    '--max-repr', String(limits.maxReprLength),
    '--max-output', String(limits.maxOutputBytes),
    // Read by the tracer's startup hardening: the channel key on stdin, the keeper, the memory limit.
    '--channel-key-stdin',
    ...(CONTAINED ? ['--contain'] : []),
    ...(limits.maxMemoryMb > 0 ? ['--max-memory', String(Math.floor(limits.maxMemoryMb * 1024 * 1024))] : []),
  ];
  if (request.entry !== undefined) args.push('--entry', request.entry);
  if (request.args !== undefined) args.push('--args', request.args);
  if (request.script) args.push('--script');
  if (request.objects) args.push('--objects');
  if (request.hook && request.hook !== 'auto') args.push('--hook', request.hook);
  for (const include of request.includePaths ?? []) {
    if (!existsSync(resolve(include))) {
      throw new TracerError('bad-include', `Nothing to include at "${include}": no such file or folder. Check the --include path.`);
    }
    args.push('--include', resolve(include));
  }
  args.push(file);
  if (request.programArgs?.length) {
    args.push('--');
    appendAll(args, request.programArgs);
  }
  if (request.signal?.aborted) throw new TracerError('cancelled', 'Tracing was cancelled.');

  const frames: TraceFrame[] = [];
  const notes: string[] = [];
  const outsideOutput: OutputChunk[] = [];
  const files: TraceSourceFile[] = [];
  let entry: EntryPoint = request.entry !== undefined
    ? { kind: 'function', name: request.entry, line: 0, ...(request.args !== undefined ? { args: request.args } : {}) }
    : { kind: 'script' };
  let pythonVersion: string | undefined;
  let started = false;
  let rearmBackstop = (): void => {};
  let end: TracerEnd | undefined;
  let writtenEvents: number | undefined;
  let eventsAtEnd = 0;
  const protocolErrors: string[] = [];
  const parser = new TracerStreamParser({
    onFrame: (frame) => {
      if (request.keepFrames !== false) frames.push(frame);
      request.onFrame?.(frame);
    },
    ...(request.onLiveFrame ? { onLiveFrame: request.onLiveFrame } : {}),
    onOutsideOutput: (chunk) => appendOutput(outsideOutput, chunk),
    onNote: (text) => {
      notes.push(text);
      request.onNote?.(text);
    },
    onFile: (traced) => files.push(traced),
    onStart: (version) => {
      pythonVersion = version;
      started = true;
      rearmBackstop();
    },
    onBegin: (begun) => {
      entry = begun.kind === 'function' && request.args !== undefined ? { ...begun, args: request.args } : begun;
      request.onBegin?.(entry);
    },
    onEnd: (ended, events) => {
      end = ended;
      writtenEvents = events;
      eventsAtEnd = parser.frameCount;
    },
    onProtocolError: (message) => {
      if (protocolErrors.length < 5) protocolErrors.push(message);
    },
  }, splitSourceLines(source));

  const cwd = resolve(request.cwd ?? process.cwd());
  if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
    throw new TracerError('file-not-found', `The working folder "${request.cwd ?? cwd}" does not exist. Fix the working folder (--cwd, or "cwd" in the launch configuration).`);
  }
  const key = ChannelReader.newKey();
  let forgedNoted = false;
  const channel = new ChannelReader(key, (text) => parser.push(text));
  const child = spawn(python, args, {
    // As `python prog.py` run from the caller's folder (or the launch configuration's cwd).
    cwd,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    // A fixed hash seed (unless the user set one) makes set and dict-of-str orders, and so traces, reproducible.
    // The API key never reaches the program.
    env: { PYTHONHASHSEED: '0', ...childEnvironment(), PYTHONIOENCODING: 'utf-8', PYTHONUNBUFFERED: '1' },
  });
  trackKeeper(child.pid);
  child.stdin.on('error', () => undefined);
  child.stdin.end(`${key.toString('hex')}\n`);
  const stderrTail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrTail.push(chunk);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  let waitingForDrain = false;
  child.stdout.on('data', (chunk: Buffer) => {
    channel.push(chunk);
    if (!forgedNoted && channel.forgery) {
      forgedNoted = true;
      notes.push(forgeryNote);
    }
    // Backpressure: a destination that cannot keep up pauses the reading, and with it (through the pipe) the tracer.
    const output = request.output;
    if (output?.writableNeedDrain && !waitingForDrain) {
      waitingForDrain = true;
      child.stdout.pause();
      output.once('drain', () => {
        waitingForDrain = false;
        child.stdout.resume();
      });
    }
  });

  let killedForTime = false;
  let cancelled = false;
  // The tracer's own time limit counts from its start; the backstop does too once the start record is in.
  let groupTimer: NodeJS.Timeout | undefined;
  /** Stops the run: the keeper kills every descendant; should it not manage, the whole group is killed. */
  const stopRun = (): void => {
    stopKeeper(child.pid);
    groupTimer ??= setTimeout(() => killGroup(child.pid), KEEPER_GRACE_MS);
  };
  const fireBackstop = (): void => {
    killedForTime = true;
    stopRun();
  };
  // setTimeout fires at once past 2^31 - 1 ms (about 24.8 days): a longer limit waits that long at most.
  const timerMs = (ms: number): number => Math.min(ms, 2 ** 31 - 1);
  let backstop = setTimeout(fireBackstop, timerMs(limits.timeoutMs + KILL_GRACE_MS + STARTUP_GRACE_MS));
  rearmBackstop = () => {
    clearTimeout(backstop);
    backstop = setTimeout(fireBackstop, timerMs(limits.timeoutMs + KILL_GRACE_MS));
  };
  const onAbort = (): void => {
    cancelled = true;
    stopRun();
  };
  request.signal?.addEventListener('abort', onAbort, { once: true });

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; spawnError?: NodeJS.ErrnoException }>((resolveExit) => {
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    child.once('error', (error: NodeJS.ErrnoException) => resolveExit({ code: null, signal: null, spawnError: error }));
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      // The tracer is gone: its program's children go too, which closes the pipes they inherited. Should something
      // outside the group still hold them, stop waiting after a grace period.
      killGroup(child.pid);
      closeTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolveExit(exited!);
      }, CLOSE_GRACE_MS);
    });
    child.once('close', (code, signal) => {
      if (closeTimer) clearTimeout(closeTimer);
      resolveExit(exited ?? { code, signal });
    });
  });
  clearTimeout(backstop);
  if (groupTimer) clearTimeout(groupTimer);
  request.signal?.removeEventListener('abort', onAbort);
  // The program may have started processes of its own: the whole group goes, whatever happened.
  killGroup(child.pid);
  if (child.pid !== undefined) liveKeepers.delete(child.pid);
  channel.finish();
  parser.finish();
  const forgery = channel.forgery;
  if (forgery) {
    const missing = forgery.missingFrames > 0 ? ` and ${forgery.missingFrames} of the tracer's own frames went missing` : '';
    const note = `${forgeryNote} (${forgery.bytes} bytes were ignored${missing}).`;
    const at = notes.indexOf(forgeryNote);
    if (at >= 0) notes[at] = note;
    else notes.push(note);
  }

  if (exit.spawnError) {
    if (exit.spawnError.code === 'ENOENT') {
      throw new TracerError('python-not-found', `Python not found: "${python}". Set the Python path (--python or the cwmDebug.pythonPath setting).`);
    }
    throw new TracerError('tracer-failed', `Could not start ${python}: ${exit.spawnError.message}.`);
  }
  if (cancelled) throw new TracerError('cancelled', 'Tracing was cancelled.');
  const finalEnd = end as TracerEnd | undefined;
  if (finalEnd?.kind === 'error' && ERROR_KINDS.has(finalEnd.reason) && frames.length === 0) {
    throw new TracerError(finalEnd.reason as TracerErrorKind, finalEnd.message);
  }
  const said = stderrTail.join('').trim().split('\n').slice(-3).join(' ').trim();
  if (!finalEnd && !started && !killedForTime) {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    throw new TracerError('tracer-failed', `The tracer could not start under ${python} (it ${how}${said ? `: ${said}` : ''}). Check that it is Python 3.8 or newer.`);
  }
  let traceEnd: TraceEnd;
  if (finalEnd) traceEnd = toTraceEnd(finalEnd);
  else if (killedForTime) {
    traceEnd = { kind: 'limit', limit: 'time', message: `The program ran past the time limit of ${limits.timeoutMs / 1000} s (timeout) and was stopped.` };
  } else {
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    traceEnd = { kind: 'crashed', message: `The traced process ${how} before the trace ended${said ? `: ${said}` : ''}.` };
  }
  if (writtenEvents !== undefined && writtenEvents !== eventsAtEnd) {
    // Must not happen (the tracer blocks rather than drop): say so first and loudly, the trace is not the run.
    notes.unshift(`EVENTS LOST: the tracer wrote ${writtenEvents} events but ${eventsAtEnd} arrived, so this trace is missing ${Math.abs(writtenEvents - eventsAtEnd)} steps and does not show the whole run. Please report this as a bug.`);
  }
  if (protocolErrors.length > 0) notes.push(`Some tracer output could not be read (${protocolErrors.join('; ')}); the trace may be incomplete.`);
  return {
    origin: 'actual',
    path: file,
    source,
    ...(files.length > 0 ? { files: orderContextFiles(file, files) } : {}),
    entry,
    frames,
    malformed: [],
    end: traceEnd,
    notes,
    outsideOutput,
    ...(pythonVersion !== undefined ? { pythonVersion } : {}),
  };
}
