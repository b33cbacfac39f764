// The results file of an evaluation run: JSON Lines, a header (what was evaluated, with which model and settings) then
// one line per finished program, appended and flushed as each finishes, so a killed run loses nothing it finished.

import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, ftruncateSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { appendAll } from '../trace/arrays';

export const RESULTS_FILE = 'results.jsonl';
export const RESULTS_FORMAT = 1;

/** [matched, total]. */
const Tally = z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]);
export type Tally = z.infer<typeof Tally>;
const Tallies = z.record(z.string(), Tally);
export type Tallies = z.infer<typeof Tallies>;

export const RunHeaderSchema = z.object({
  type: z.literal('header'),
  format: z.literal(RESULTS_FORMAT),
  tool: z.literal('cwm-debug'),
  toolVersion: z.string(),
  createdAt: z.string(),
  corpus: z.object({
    path: z.string(),
    kind: z.enum(['jsonl', 'folder']),
    hash: z.string(),
    /** Programs in the whole corpus. */
    items: z.number().int(),
    /** Programs this run evaluates (the --limit subset, or all). */
    selected: z.number().int(),
  }),
  limit: z.number().int().nullable(),
  model: z.string().nullable(),
  backends: z.array(z.string()),
  endpoints: z.array(z.string()),
  temperature: z.number(),
  seed: z.number().int(),
  samples: z.number().int(),
  teacherForcing: z.boolean(),
  python: z.string(),
  tracerLimits: z.record(z.string(), z.number()),
});
export type RunHeader = z.infer<typeof RunHeaderSchema>;

/** Written when a run is continued with other endpoints (same model and settings). */
const ResumeSchema = z.object({ type: z.literal('resume'), at: z.string(), endpoints: z.array(z.string()) });

const RolloutSchema = z.object({
  seed: z.number().int(),
  /** Predicted frames after the given prefix. */
  steps: z.number().int(),
  ended: z.boolean(),
  action: Tally,
  stateByFrame: Tally,
  stateByVariable: Tally,
  wellFormed: Tally,
  output: z.object({ predicted: z.string().nullable(), match: z.boolean().nullable() }),
  /** Real step where the prediction first differs; null when the whole trace matches. */
  firstDivergence: z.object({ step: z.number().int(), description: z.string() }).nullable(),
  verdicts: z.record(z.string(), z.number().int()),
  promptTokens: z.number().int(),
  completionTokens: z.number().int(),
  requests: z.number().int(),
  ms: z.number(),
  /** What the symbolic checks did in this rollout (absent in results written before them). */
  checks: z.object({
    checked: z.number().int(), impossible: z.number().int(), resamples: z.number().int(), fixed: z.number().int(), marked: z.number().int(),
  }).optional(),
});
export type RolloutRecord = z.infer<typeof RolloutSchema>;

const ForcedSchema = z.object({
  /** Real frames predicted one at a time from the real prefix. */
  positions: z.number().int(),
  action: Tally,
  /** Same action and the same state (every local, and the return or exception value). */
  exact: Tally,
  wellFormed: Tally,
  /**
   * Predicted frames the symbolic checks found impossible after the real prefix (a line that cannot follow, a local
   * that cannot exist), of those judged; absent in results written before, or when the program could not be parsed.
   */
  impossible: Tally.optional(),
  /** After the whole real trace: did the model end it? null when the real run did not end normally. */
  end: z.boolean().nullable(),
  promptTokens: z.number().int(),
  completionTokens: z.number().int(),
  requests: z.number().int(),
  ms: z.number(),
});
export type ForcedRecord = z.infer<typeof ForcedSchema>;

const BreakdownSchema = z.object({
  /** Per value type of the real value: variables (and return values) equal in rollouts, over those compared. */
  rolloutValueTypes: Tallies,
  forcedValueTypes: Tallies,
  /** Per real event kind: frames matched exactly. */
  rolloutEvents: Tallies,
  forcedEvents: Tallies,
  /** Per confidence bucket (server/eval/calibration.ts): [right, counted, sum of confidences]; absent without confidence. */
  calibration: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0), z.number().min(0)])).optional(),
});
export type Breakdown = z.infer<typeof BreakdownSchema>;

export const ItemOkSchema = z.object({
  type: z.literal('item'),
  status: z.literal('ok'),
  id: z.string(),
  index: z.number().int(),
  realSteps: z.number().int(),
  /** Frames given to the model (the entry's call frame with its arguments); scores count the frames after them. */
  givenSteps: z.number().int(),
  realEnd: z.string(),
  realOutput: z.string().nullable(),
  expectedOutput: z.string().nullable(),
  rollouts: z.array(RolloutSchema),
  forced: ForcedSchema.nullable(),
  breakdown: BreakdownSchema,
  tracerMs: z.number(),
  ms: z.number(),
  finishedAt: z.string(),
});
export type ItemOk = z.infer<typeof ItemOkSchema>;

/** A program that could not be evaluated for reasons of its own (it could not be traced); endpoint failures are not recorded. */
export const ItemErrorSchema = z.object({
  type: z.literal('item'),
  status: z.literal('error'),
  id: z.string(),
  index: z.number().int(),
  error: z.object({ kind: z.string(), message: z.string() }),
  finishedAt: z.string(),
});
export type ItemError = z.infer<typeof ItemErrorSchema>;

export type ItemRecord = ItemOk | ItemError;

const LineSchema = z.union([RunHeaderSchema, ResumeSchema, ItemOkSchema, ItemErrorSchema]);

export interface LoadedResults {
  readonly header: RunHeader;
  /** Finished programs by id (a later line for the same id wins). */
  readonly items: ReadonlyMap<string, ItemRecord>;
  /** Every endpoint the run used, over its resumptions. */
  readonly endpoints: readonly string[];
  /** A last line cut off mid-write (killed run) was ignored. */
  readonly truncatedTail: boolean;
}

/** The results file is unusable; the message says why. */
export class ResultsError extends Error {}

/** Reads a results file. A last line cut off mid-write is ignored; any other unreadable line is an error. */
export function loadResults(path: string): LoadedResults {
  if (!existsSync(path)) throw new ResultsError(`No results file at ${path}.`);
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  // A complete file ends with '\n', so its last element is empty; anything else there was cut off.
  const tail = lines.pop() ?? '';
  let header: RunHeader | undefined;
  const items = new Map<string, ItemRecord>();
  const endpoints: string[] = [];
  lines.forEach((line, k) => {
    if (line.trim() === '') return;
    let record: z.infer<typeof LineSchema>;
    try {
      record = LineSchema.parse(JSON.parse(line));
    } catch {
      throw new ResultsError(`Line ${k + 1} of ${path} is not a result record; the file was edited or written by another tool.`);
    }
    if (record.type === 'header') {
      if (header !== undefined) throw new ResultsError(`${path} holds two run headers.`);
      header = record;
      appendAll(endpoints, record.endpoints);
    } else if (record.type === 'resume') {
      for (const url of record.endpoints) if (!endpoints.includes(url)) endpoints.push(url);
    } else {
      items.set(record.id, record);
    }
  });
  if (header === undefined) throw new ResultsError(`${path} has no run header; it is not a cwm-debug results file.`);
  return { header, items, endpoints, truncatedTail: tail.trim() !== '' };
}

/** Appends records to a results file, one write per line, so each finished program is on disk before the next one. */
export class ResultsWriter {
  private fd: number | undefined;

  /** Opens `path` for appending; a last line cut off mid-write is cut away first, so new lines start clean. */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a+');
    const size = fstatSync(this.fd).size;
    if (size > 0) {
      const keep = lastNewlineEnd(this.fd, size);
      if (keep < size) ftruncateSync(this.fd, keep);
    }
  }

  append(record: RunHeader | ItemRecord | z.infer<typeof ResumeSchema>): void {
    if (this.fd === undefined) throw new Error('The results file is closed.');
    writeSync(this.fd, JSON.stringify(record) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Offset just after the file's last '\n' (0 when it has none), read backwards in blocks. */
function lastNewlineEnd(fd: number, size: number): number {
  const block = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - block.length);
    const length = end - start;
    readSync(fd, block, 0, length, start);
    const at = block.subarray(0, length).lastIndexOf(10);
    if (at >= 0) return start + at + 1;
    end = start;
  }
  return 0;
}

/** Settings of a header that must agree for a rerun to continue the same run, with their names for messages. */
export function headerMismatches(existing: RunHeader, wanted: RunHeader): string[] {
  const differences: string[] = [];
  const check = (name: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) differences.push(`${name} ${JSON.stringify(a)} there, ${JSON.stringify(b)} now`);
  };
  check('corpus hash', existing.corpus.hash, wanted.corpus.hash);
  check('limit', existing.limit, wanted.limit);
  check('model', existing.model, wanted.model);
  check('temperature', existing.temperature, wanted.temperature);
  check('seed', existing.seed, wanted.seed);
  check('samples', existing.samples, wanted.samples);
  check('teacher forcing', existing.teacherForcing, wanted.teacherForcing);
  check('tool version', existing.toolVersion, wanted.toolVersion);
  check('python', existing.python, wanted.python);
  check('tracer limits', existing.tracerLimits, wanted.tracerLimits);
  return differences;
}

export function resumeRecord(endpoints: readonly string[]): z.infer<typeof ResumeSchema> {
  return { type: 'resume', at: new Date().toISOString(), endpoints: [...endpoints] };
}
