// A DebugClient session with dist/adapter.js over stdio, as the adapter suites drive it: stops queued so none is missed,
// output and progress kept, and a close that waits until the adapter process has exited.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { repoRoot } from './paths';

export const ADAPTER = join(repoRoot, 'dist', 'adapter.js');
export const DEBUG_TIMEOUT = 30_000;
const TIMEOUT = DEBUG_TIMEOUT;

export interface CwmState {
  mode: string;
  pid: number;
  threadName: string;
  position: number;
  length: number;
  complete: boolean;
  ended: boolean;
  frame?: { index: number; event: string; line: number; function: string; depth: number; locals: Record<string, string>; value?: string };
}

export interface LaunchOptions {
  breakpoints?: DebugProtocol.SourceBreakpoint[];
  exceptionFilters?: string[];
  /** Exception filters with options (a condition), as setExceptionBreakpoints' filterOptions. */
  exceptionFilterOptions?: DebugProtocol.ExceptionFilterOptions[];
  progress?: boolean;
}

/** One adapter process and everything it sent, with stops queued so none is missed between a response and its event. */
export class Debuggee {
  readonly outputs: DebugProtocol.OutputEvent[] = [];
  readonly progress: DebugProtocol.Event[] = [];
  terminated = false;
  private readonly stops: DebugProtocol.StoppedEvent[] = [];
  private readonly waiters: ((event: DebugProtocol.StoppedEvent) => void)[] = [];

  constructor(readonly dc: DebugClient) {
    dc.on('stopped', (event: DebugProtocol.StoppedEvent) => {
      const waiter = this.waiters.shift();
      if (waiter) waiter(event);
      else this.stops.push(event);
    });
    dc.on('output', (event: DebugProtocol.OutputEvent) => this.outputs.push(event));
    dc.on('terminated', () => {
      this.terminated = true;
    });
    for (const name of ['progressStart', 'progressUpdate', 'progressEnd']) dc.on(name, (event: DebugProtocol.Event) => this.progress.push(event));
  }

  /** Starts an adapter process; a subclass's `open` gives an instance of that subclass. */
  static async open<T extends Debuggee>(this: new (dc: DebugClient) => T): Promise<T> {
    const dc = new DebugClient('node', ADAPTER, 'cwm');
    dc.defaultTimeout = TIMEOUT;
    await dc.start();
    return new this(dc);
  }

  get process(): ChildProcess {
    return (this.dc as unknown as { _adapterProcess: ChildProcess })._adapterProcess;
  }

  async initialize(progress = false): Promise<DebugProtocol.InitializeResponse> {
    return this.dc.initializeRequest({
      adapterID: 'cwm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path',
      supportsProgressReporting: progress, supportsInvalidatedEvent: true,
    });
  }

  /** initialize, launch, breakpoints, configurationDone; returns the first stop. */
  async launch(config: Record<string, unknown>, options: LaunchOptions = {}): Promise<DebugProtocol.StoppedEvent> {
    await this.initialize(options.progress);
    const initialized = this.dc.waitForEvent('initialized');
    const launched = this.dc.launchRequest(config as DebugProtocol.LaunchRequestArguments);
    launched.catch(() => undefined);
    await initialized;
    if (options.breakpoints) await this.setBreakpoints(String(config.program), options.breakpoints);
    await this.dc.setExceptionBreakpointsRequest({
      filters: options.exceptionFilters ?? ['uncaught'],
      ...(options.exceptionFilterOptions !== undefined ? { filterOptions: options.exceptionFilterOptions } : {}),
    });
    await this.dc.configurationDoneRequest();
    await launched;
    return this.nextStop();
  }

  async launchError(config: Record<string, unknown>): Promise<string> {
    await this.initialize();
    const configured = this.dc.waitForEvent('initialized', TIMEOUT).then(() => this.dc.configurationDoneRequest()).catch(() => undefined);
    try {
      await this.dc.launchRequest(config as DebugProtocol.LaunchRequestArguments);
    } catch (error) {
      void configured;
      return (error as Error).message;
    }
    throw new Error('the launch succeeded');
  }

  async setBreakpoints(path: string, breakpoints: DebugProtocol.SourceBreakpoint[]): Promise<DebugProtocol.Breakpoint[]> {
    return (await this.dc.setBreakpointsRequest({ source: { path }, breakpoints })).body.breakpoints;
  }

  nextStop(timeoutMs = TIMEOUT): Promise<DebugProtocol.StoppedEvent> {
    const queued = this.stops.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stopped event within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  }

  /** Sends a movement request and waits for the stop it causes. */
  async move(command: string, args: Record<string, unknown> = { threadId: 1 }): Promise<DebugProtocol.StoppedEvent> {
    await this.dc.customRequest(command, args);
    return this.nextStop();
  }

  async state(): Promise<CwmState> {
    return (await this.dc.customRequest('cwm/state')).body as CwmState;
  }

  async stack(): Promise<DebugProtocol.StackFrame[]> {
    return (await this.dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
  }

  async scopes(frameId?: number): Promise<DebugProtocol.Scope[]> {
    const id = frameId ?? (await this.stack())[0]!.id;
    return (await this.dc.scopesRequest({ frameId: id })).body.scopes;
  }

  /** Variables of the named scope (default: the first) of the top frame, by name. */
  async locals(scopeName?: string): Promise<Map<string, DebugProtocol.Variable>> {
    const scopes = await this.scopes();
    const scope = scopeName === undefined ? scopes[0]! : scopes.find((s) => s.name === scopeName)!;
    assert.ok(scope, `no scope ${scopeName}`);
    const variables = (await this.dc.variablesRequest({ variablesReference: scope.variablesReference })).body.variables;
    return new Map(variables.map((v) => [v.name, v]));
  }

  /** Values by name, without the model's confidence after a predicted one (`  · 99%`, `  ⚠ 30%`): locals() has them whole. */
  async values(scopeName?: string): Promise<Record<string, string>> {
    return Object.fromEntries([...(await this.locals(scopeName))].map(([name, v]) => [name, withoutConfidence(v.value)]));
  }

  async traces(): Promise<Record<string, unknown>> {
    return (await this.dc.customRequest('cwm/traces')).body as Record<string, unknown>;
  }

  stdout(): string {
    return this.outputs.filter((o) => o.body.category === 'stdout').map((o) => o.body.output).join('');
  }

  /** Everything the adapter printed under one output category. */
  output(category: string): string {
    return this.outputs.filter((o) => o.body.category === category).map((o) => o.body.output).join('');
  }

  console(): string {
    return this.outputs.filter((o) => o.body.category === 'console' || o.body.category === 'important').map((o) => o.body.output).join('');
  }

  /** Disconnects and waits until the adapter process has exited (once; later calls return at once). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const child = this.process;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await Promise.race([this.dc.disconnectRequest({}).catch(() => undefined), exited]);
    await exited;
    clearTimeout(timer);
  }

  private closed = false;
}

/** Child processes of a pid, from /proc (Linux). */
export function childrenOf(pid: number): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // The process ended while being read.
    }
  }
  return found;
}

/** The confidence the adapter puts after a predicted value (server/adapter/variables.ts), as the VARIABLES view shows it. */
export const CONFIDENCE_SUFFIX = /  [·⚠] (?:<1%|>99%|\d{1,3}%)$/;

export function withoutConfidence(value: string): string {
  return value.replace(CONFIDENCE_SUFFIX, '');
}
