// `cwm-debug eval --inverse`: scores inverse execution. A reachability set (functions whose target lines are hard to hit
// by chance, with inputs known to reach them) and a CRUXEval-I slice (the model proposes an input for the expected
// output; correct when the real run returns it), each searched with every steering strategy; a Markdown report.

import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import type { TokenCodec } from '../cwm/codec';
import { searchInputs, type InverseResult, type SteeringStrategy } from '../engine/inverse';
import { TargetMatcher, describeTarget, type InverseTarget } from '../engine/inverse-target';
import type { CompletionBackend } from '../engine/rollout';
import { findEntryPoint } from '../trace/entry';
import { recordTrace, type TracerLimits } from '../tracer/runner';
import { CorpusError, loadCorpus, selectItems } from './corpus';
import { markdownCode, markdownText } from './html';

export interface ReachabilityCase {
  readonly id: string;
  readonly file: string;
  readonly entry?: string;
  readonly target: InverseTarget;
  /** Inputs known to reach the target (checked by a real run on every evaluation). */
  readonly reaches: readonly string[];
}

const CasesFile = z.object({
  cases: z.array(z.object({
    file: z.string(),
    entry: z.string().optional(),
    reach: z.number().int().positive(),
    where: z.string().optional(),
    reaches: z.array(z.string()),
  })),
});

/** The cases of a reachability set: a folder with cases.json and the programs it names. */
export function loadReachabilitySet(dir: string): ReachabilityCase[] {
  const path = join(resolve(dir), 'cases.json');
  if (!existsSync(path)) throw new CorpusError(`${dir} is not a reachability set: it has no cases.json (see test/fixtures/reachability).`);
  let parsed: z.infer<typeof CasesFile>;
  try {
    parsed = CasesFile.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    throw new CorpusError(`${path} is not a reachability set: it needs "cases", each with file, reach (a line) and reaches (inputs).`);
  }
  return parsed.cases.map((c) => {
    const file = join(dirname(path), c.file);
    if (!existsSync(file)) throw new CorpusError(`${path} names ${c.file}, which is not in ${dir}.`);
    return {
      id: c.file.replace(/\.py$/, ''), file, ...(c.entry !== undefined ? { entry: c.entry } : {}),
      target: { kind: 'line', line: c.reach, ...(c.where !== undefined ? { where: c.where } : {}) }, reaches: c.reaches,
    };
  });
}

export interface InverseEvalOptions {
  /** A reachability set folder (cases.json) and/or a CRUXEval .jsonl; at least one. */
  readonly reachability?: string;
  readonly cruxeval?: string;
  /** CRUXEval items, spread evenly over the corpus (default 20). */
  readonly cruxevalLimit?: number;
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  readonly modelName: string;
  readonly samples: number;
  readonly rounds: number;
  readonly strategies: readonly SteeringStrategy[];
  readonly concurrency: number;
  readonly temperature: number;
  readonly seed?: number;
  readonly contextTokens?: number;
  readonly python?: string;
  readonly tracerLimits?: Partial<TracerLimits>;
  readonly outDir: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number, label: string) => void;
}

export interface InverseEvalRow {
  readonly set: 'reachability' | 'cruxeval-i';
  readonly id: string;
  readonly strategy: SteeringStrategy;
  readonly target: string;
  readonly reached: boolean;
  /** The first verified input, when one was found. */
  readonly input?: string;
  readonly samples: number;
  readonly hits: number;
  readonly verifications: number;
  readonly refuted: number;
  readonly malformed: number;
  readonly completionTokens: number;
  /** Reachability only: whether every known input really reaches the target (a broken case otherwise). */
  readonly knownInputsReach?: boolean;
  readonly error?: string;
}

export interface InverseEvalOutcome {
  readonly rows: readonly InverseEvalRow[];
  readonly summaryPath: string;
  readonly resultsPath: string;
  readonly markdown: string;
  readonly stopped: boolean;
}

interface Job {
  readonly set: InverseEvalRow['set'];
  readonly id: string;
  readonly file: string;
  readonly source: string;
  readonly entryName?: string;
  readonly target: InverseTarget;
  readonly reaches?: readonly string[];
}

export async function runInverseEvaluation(options: InverseEvalOptions): Promise<InverseEvalOutcome> {
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  const jobs: Job[] = [];
  if (options.reachability !== undefined) {
    for (const c of loadReachabilitySet(options.reachability)) {
      jobs.push({ set: 'reachability', id: c.id, file: c.file, source: readFileSync(c.file, 'utf8'), target: c.target, reaches: c.reaches, ...(c.entry !== undefined ? { entryName: c.entry } : {}) });
    }
  }
  if (options.cruxeval !== undefined) {
    const corpus = loadCorpus(options.cruxeval);
    const programs = join(outDir, 'programs');
    mkdirSync(programs, { recursive: true });
    for (const item of selectItems(corpus.items.filter((i) => i.expectedOutput !== undefined), options.cruxevalLimit ?? 20)) {
      const file = item.file ?? join(programs, `${item.id.replace(/[^A-Za-z0-9_.-]+/g, '_')}.py`);
      if (item.file === undefined) writeFileSync(file, item.code.endsWith('\n') ? item.code : `${item.code}\n`);
      jobs.push({ set: 'cruxeval-i', id: item.id, file, source: readFileSync(file, 'utf8'), target: { kind: 'returns', value: item.expectedOutput! }, ...(item.entry !== undefined ? { entryName: item.entry } : {}) });
    }
  }
  const rows: InverseEvalRow[] = [];
  const total = jobs.length * options.strategies.length;
  let done = 0;
  for (const job of jobs) {
    const knownInputsReach = job.reaches === undefined ? undefined : await knownInputsReachTarget(job, options);
    for (const strategy of options.strategies) {
      if (options.signal?.aborted) break;
      options.onProgress?.(done, total, `${job.id} (${strategy})`);
      rows.push(await evaluateJob(job, strategy, options, knownInputsReach));
      done++;
    }
  }
  options.onProgress?.(done, total, 'done');
  const markdown = renderInverseSummary(rows, options);
  const summaryPath = join(outDir, 'inverse-summary.md');
  const resultsPath = join(outDir, 'inverse-results.json');
  writeFileSync(summaryPath, markdown);
  writeFileSync(resultsPath, JSON.stringify({ model: options.modelName, samples: options.samples, rounds: options.rounds, rows }, null, 2) + '\n');
  return { rows, summaryPath, resultsPath, markdown, stopped: options.signal?.aborted === true };
}

async function knownInputsReachTarget(job: Job, options: InverseEvalOptions): Promise<boolean> {
  const matcher = new TargetMatcher(job.target);
  for (const args of job.reaches ?? []) {
    try {
      const trace = await recordTrace({ file: job.file, python: options.python, entry: entryOf(job).name, args, limits: { maxEvents: 20_000, timeoutMs: 10_000, ...options.tracerLimits } });
      if (matcher.realMatch(trace) < 0) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function entryOf(job: Job): { kind: 'function'; name: string; line: number } {
  const entry = findEntryPoint(job.source, job.entryName === undefined ? {} : { entry: job.entryName });
  if (entry.kind !== 'function') throw new CorpusError(`${job.id} marks no entry function.`);
  return { kind: 'function', name: entry.name, line: entry.line };
}

async function evaluateJob(job: Job, strategy: SteeringStrategy, options: InverseEvalOptions, knownInputsReach: boolean | undefined): Promise<InverseEvalRow> {
  const base = { set: job.set, id: job.id, strategy, target: describeTarget(job.target), ...(knownInputsReach !== undefined ? { knownInputsReach } : {}) };
  let result: InverseResult;
  try {
    result = await searchInputs({
      source: job.source, path: job.file, entry: entryOf(job), backend: options.backend, codec: options.codec, target: job.target,
      samples: options.samples, rounds: options.rounds, steering: strategy, concurrency: options.concurrency, temperature: options.temperature,
      ...(options.seed !== undefined ? { seed: options.seed } : {}), ...(options.contextTokens !== undefined ? { contextTokens: options.contextTokens } : {}),
      verify: { python: options.python, ...(options.tracerLimits !== undefined ? { limits: options.tracerLimits } : {}) },
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
  } catch (error) {
    return { ...base, reached: false, samples: 0, hits: 0, verifications: 0, refuted: 0, malformed: 0, completionTokens: 0, error: error instanceof Error ? error.message : String(error) };
  }
  const c = result.counts;
  return {
    ...base, reached: result.verified.length > 0, ...(result.verified[0] !== undefined ? { input: result.verified[0].args } : {}),
    samples: c.samples, hits: c.hits, verifications: c.verifications, refuted: c.refuted, malformed: c.malformed, completionTokens: c.completionTokens,
  };
}

function samplesPerHit(rows: readonly InverseEvalRow[]): string {
  const reached = rows.filter((r) => r.reached);
  return reached.length === 0 ? '–' : (reached.reduce((sum, r) => sum + r.samples, 0) / reached.length).toFixed(1);
}

export function renderInverseSummary(rows: readonly InverseEvalRow[], options: Pick<InverseEvalOptions, 'modelName' | 'samples' | 'rounds' | 'strategies'>): string {
  const out = [
    '# Inverse execution: inputs that reach a target',
    '',
    `Model ${markdownCode(options.modelName)}; ${options.samples} samples per round, at most ${options.rounds} rounds. A target counts as reached only ` +
      'when a real run of a proposed input reached it; samples per hit is the mean number of rollouts spent on the targets reached.',
    '',
    '| set | strategy | reached | samples per hit | predicted hits | refuted claims | malformed | real runs |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const set of ['reachability', 'cruxeval-i'] as const) {
    for (const strategy of options.strategies) {
      const group = rows.filter((r) => r.set === set && r.strategy === strategy);
      if (group.length === 0) continue;
      const sum = (pick: (r: InverseEvalRow) => number) => group.reduce((total, r) => total + pick(r), 0);
      out.push(`| ${set === 'reachability' ? 'reachability' : 'CRUXEval-I'} | ${strategy === 'edit' ? 'sampling + edit steering' : 'sampling only'} | ` +
        `${group.filter((r) => r.reached).length}/${group.length} | ${samplesPerHit(group)} | ${sum((r) => r.hits)} | ${sum((r) => r.refuted)} | ` +
        `${sum((r) => r.malformed)} | ${sum((r) => r.verifications)} |`);
    }
  }
  const broken = rows.filter((r) => r.knownInputsReach === false);
  if (broken.length > 0) {
    out.push('', `**Broken cases**: the known inputs of ${[...new Set(broken.map((r) => markdownText(r.id)))].join(', ')} do not reach their target; fix the set.`);
  }
  for (const set of ['reachability', 'cruxeval-i'] as const) {
    const ids = [...new Set(rows.filter((r) => r.set === set).map((r) => r.id))];
    if (ids.length === 0) continue;
    out.push('', `## ${set === 'reachability' ? 'Reachability set' : 'CRUXEval-I slice'}`, '', `| case | target | ${options.strategies.map((s) => `${s}: input found (samples)`).join(' | ')} |`,
      `|---|---|${options.strategies.map(() => '---').join('|')}|`);
    for (const id of ids) {
      const cells = options.strategies.map((strategy) => {
        const row = rows.find((r) => r.set === set && r.id === id && r.strategy === strategy);
        if (row === undefined) return '';
        if (row.error !== undefined) return `error: ${markdownText(row.error.slice(0, 80))}`;
        return row.reached ? `${markdownCode(row.input ?? '', true)} (${row.samples})` : `not found (${row.samples})`;
      });
      const target = rows.find((r) => r.id === id && r.set === set)!.target;
      out.push(`| ${markdownText(id)} | ${markdownText(target.slice(0, 60))} | ${cells.join(' | ')} |`);
    }
  }
  return out.join('\n') + '\n';
}

/** Whether a path is a reachability set folder (else it is taken as a CRUXEval corpus). */
export function isReachabilitySet(path: string): boolean {
  const absolute = resolve(path);
  return existsSync(absolute) && statSync(absolute).isDirectory() && existsSync(join(absolute, 'cases.json'));
}
