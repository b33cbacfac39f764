// Flow facts of a program for the symbolic checker: the bundled server/tracer/flow_facts.py parses (never runs) the
// program's files and says, per scope, which line can follow which and which names can be local.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/** What one function, lambda, comprehension or class body can do, as the helper worked it out from the AST. */
export interface UnitFacts {
  readonly kind: 'function' | 'lambda' | 'comprehension' | 'class';
  /** The `co_name`s its frames may carry. */
  readonly names: readonly string[];
  /** Lines a `call` event of it may report (its first line; every line of a generator, which resumes where it yielded). */
  readonly callLines: ReadonlySet<number>;
  /** Lines its own frames may report at all. */
  readonly owned: ReadonlySet<number>;
  readonly generator: boolean;
  /** Names its frame's locals can hold; absent: not known (the program may write into locals()), so not checked. */
  readonly locals?: ReadonlySet<string>;
  /** Functions only: the line relation (absent for lambdas, comprehensions and class bodies, which are not checked). */
  readonly flow?: FunctionFlowFacts;
}

export interface FunctionFlowFacts {
  /** Lines the first line event after the call may report. */
  readonly afterCall: ReadonlySet<number>;
  /** Per line: the lines a line event after it may report. */
  readonly next: ReadonlyMap<number, ReadonlySet<number>>;
  /** Per line: the lines after an exception event there (handlers, finally bodies, with exits, and what `next` allows). */
  readonly afterException: ReadonlyMap<number, ReadonlySet<number>>;
  /** Lines inside a try or with statement: a return or unwinding from them may report any line of the function. */
  readonly guarded: ReadonlySet<number>;
  /** Lines of the function's last statement: an implicit return may report them (3.8 and 3.9 do). */
  readonly tail: ReadonlySet<number>;
}

export interface FileFlowFacts {
  readonly units: readonly UnitFacts[];
  /** The file's physical lines, to find the lines a predicted line's text could equally be. */
  readonly lines: readonly string[];
}

export interface FlowFacts {
  /** Main file facts; absent when its facts could not be worked out. */
  readonly main?: FileFlowFacts;
  /** Other traced files by absolute path. */
  readonly files: ReadonlyMap<string, FileFlowFacts>;
  /** `major.minor` of the interpreter that parsed them. */
  readonly python: string;
}

/** Why there are no facts (no Python, a program it cannot parse...), in words. */
export type FlowFactsResult = { readonly facts: FlowFacts } | { readonly problem: string };

const LineList = z.array(z.number().int());
const LineMap = z.record(z.string(), LineList);
const RawUnit = z.object({
  kind: z.enum(['function', 'lambda', 'comprehension', 'class']),
  names: z.array(z.string()),
  callLines: LineList,
  owned: LineList,
  generator: z.boolean(),
  locals: z.array(z.string()).nullable().optional(),
  afterCall: LineList.optional(),
  next: LineMap.optional(),
  afterException: LineMap.optional(),
  guarded: LineList.optional(),
  tail: LineList.optional(),
});
const RawResult = z.union([
  z.object({ python: z.string(), units: z.array(RawUnit) }),
  z.object({ error: z.string() }),
]);
const RawOutput = z.object({ results: z.array(RawResult) });

/** How long the helper may take before the checks are left out. */
export const FLOW_FACTS_TIMEOUT_MS = 15_000;
/** Most output read from the helper; more means a program too large to check. */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export function locateFlowHelper(): string | undefined {
  const candidates = [
    join(__dirname, 'tracer', 'flow_facts.py'),
    join(__dirname, 'flow_facts.py'),
    resolve(__dirname, '..', 'tracer', 'flow_facts.py'),
    resolve(__dirname, '..', '..', 'server', 'tracer', 'flow_facts.py'),
    resolve(__dirname, '..', '..', '..', 'server', 'tracer', 'flow_facts.py'),
  ];
  return candidates.find((path) => existsSync(path));
}

export interface FlowFactsRequest {
  readonly source: string;
  readonly files?: readonly { readonly path: string; readonly source: string }[];
  /** The interpreter that parses: the configured one where it may run (a trusted workspace), else python3. */
  readonly python?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Parses the program and its other files with the helper (one process for all); never throws: a missing Python, a
 * timeout or unreadable output gives a problem and no checks. The helper gets no environment beyond PATH (no secrets).
 */
export async function loadFlowFacts(request: FlowFactsRequest): Promise<FlowFactsResult> {
  const files = request.files ?? [];
  const batch = await loadFileFlowFacts([request.source, ...files.map((file) => file.source)], request);
  if ('problem' in batch) return batch;
  const [main, ...rest] = batch.results;
  if (main === undefined) return { problem: 'no flow facts came back' };
  if ('problem' in main) return main;
  const others = new Map<string, FileFlowFacts>();
  files.forEach((file, k) => {
    const result = rest[k];
    if (result !== undefined && 'facts' in result) others.set(file.path, result.facts);
  });
  return { facts: { main: main.facts, files: others, python: batch.python } };
}

/** Facts of several independent sources in one helper process (a corpus), each with its own problem if it has one. */
export async function loadFileFlowFacts(
  sources: readonly string[],
  options: { readonly python?: string; readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<{ readonly python: string; readonly results: ({ readonly facts: FileFlowFacts } | { readonly problem: string })[] } | { readonly problem: string }> {
  const helper = locateFlowHelper();
  if (helper === undefined) return { problem: 'the bundled flow_facts.py is missing' };
  const python = options.python ?? defaultPython();
  const output = await runHelper(python, helper, JSON.stringify({ sources }), options.timeoutMs ?? FLOW_FACTS_TIMEOUT_MS, options.signal);
  if ('problem' in output) return output;
  let parsed: z.infer<typeof RawOutput>;
  try {
    parsed = RawOutput.parse(JSON.parse(output.text));
  } catch {
    return { problem: `${python} gave unreadable flow facts` };
  }
  const version = parsed.results.find((raw): raw is { python: string; units: z.infer<typeof RawUnit>[] } => 'python' in raw)?.python ?? '?';
  return {
    python: version,
    results: sources.map((source, k) => {
      const raw = parsed.results[k];
      if (raw === undefined) return { problem: 'no flow facts came back' };
      return 'error' in raw ? { problem: raw.error } : { facts: toFileFacts(raw.units, source) };
    }),
  };
}

export function defaultPython(): string {
  return process.platform === 'win32' ? 'python' : 'python3';
}

function toFileFacts(units: readonly z.infer<typeof RawUnit>[], source: string): FileFlowFacts {
  return { units: units.map(toUnit), lines: splitLines(source) };
}

function toUnit(raw: z.infer<typeof RawUnit>): UnitFacts {
  const lineMap = (map: Record<string, number[]>) => new Map(Object.entries(map).map(([line, lines]) => [Number(line), new Set(lines)] as const));
  const flow = raw.kind === 'function' && raw.afterCall && raw.next && raw.afterException && raw.guarded && raw.tail
    ? { afterCall: new Set(raw.afterCall), next: lineMap(raw.next), afterException: lineMap(raw.afterException), guarded: new Set(raw.guarded), tail: new Set(raw.tail) }
    : undefined;
  return {
    kind: raw.kind,
    names: raw.names,
    callLines: new Set(raw.callLines),
    owned: new Set(raw.owned),
    generator: raw.generator,
    ...(raw.locals ? { locals: new Set(raw.locals) } : {}),
    ...(flow ? { flow } : {}),
  };
}

function splitLines(text: string): string[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return body.split(/\r\n|\r|\n/);
}

function runHelper(python: string, helper: string, input: string, timeoutMs: number, signal?: AbortSignal): Promise<{ text: string } | { problem: string }> {
  return new Promise((settle) => {
    let done = false;
    const finish = (result: { text: string } | { problem: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle(result);
    };
    let child: ReturnType<typeof spawn>;
    try {
      // -I: no user site, no PYTHON* variables, no current directory on sys.path; -S: no site module. Nothing of the
      // workspace is imported, and the program is only parsed.
      child = spawn(python, ['-I', '-S', helper], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' }, windowsHide: true });
    } catch (error) {
      settle({ problem: `${python} could not start (${error instanceof Error ? error.message : String(error)})` });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ problem: `${python} took more than ${Math.round(timeoutMs / 1000)} s to work out the flow facts` });
    }, timeoutMs);
    const onAbort = () => {
      child.kill('SIGKILL');
      finish({ problem: 'cancelled' });
    };
    signal?.addEventListener('abort', onAbort);
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) {
        child.kill('SIGKILL');
        finish({ problem: 'the program is too large to check' });
      } else chunks.push(chunk);
    });
    child.stderr!.on('data', () => undefined);
    child.on('error', (error) => finish({ problem: `${python} could not start (${error.message})` }));
    child.on('close', (code) => {
      if (code === 0) finish({ text: Buffer.concat(chunks).toString('utf8') });
      else finish({ problem: `${python} could not work out the flow facts (exit status ${code ?? 'killed'})` });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(input);
  });
}
