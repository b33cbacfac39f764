// The test endpoint's "model" (tests and benchmark only, never shipped): it replays the REAL trace of the program in
// the prompt, recorded by the bundled tracer, continuing from the frames already in the prompt, with injectable corruption.
// Its tokens carry log-probabilities (for servers that return them): sure of real values, unsure of injected wrong ones.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenCodec } from '../../server/cwm/codec';
import { readCwmTrace } from '../../server/cwm/reader';
import { Tok } from '../../server/cwm/tokens';
import { CwmFrameEncoder, pythonJsonString } from '../../server/cwm/writer';
import { buildContext, type ContextLayout } from '../../server/cwm/context';
import type { CorpusItem } from '../../server/eval/corpus';
import type { Trace, TraceEventKind, TraceFrame } from '../../server/trace/model';
import { recordTrace, type TraceRequest } from '../../server/tracer/runner';
import type { ScoredToken, TestModel, TestModelParams } from './protocol-server';

/** Probability of each token of a real (uncorrupted) frame. */
export const REPLAY_SURE = 0.99;
/** Probability of each token of an injected wrong value or line: the model "hesitated" there. */
export const REPLAY_UNSURE = 0.3;
/** Probability the model gave the real value's first token where it wrote a wrong one (listed as an alternative). */
export const REPLAY_REAL_ALTERNATIVE = 0.6;

/** A fault in the replayed output, at a step of the trace the client sees (prompt frames count too). */
export type Corruption =
  /** A wrong value for `variable` (default: the frame's first local); `value` default: an int + 1, else `'<wrong>'`. */
  | { readonly kind: 'wrong-value'; readonly step: number; readonly variable?: string; readonly value?: string }
  /** The frame points at another line (its locals kept). */
  | { readonly kind: 'wrong-line'; readonly step: number }
  /** The locals' JSON loses its closing brace. */
  | { readonly kind: 'malformed-json'; readonly step: number }
  /** Generation stops in the middle of the frame. */
  | { readonly kind: 'cut-frame'; readonly step: number }
  /** `<|end_of_text|>` comes instead of the frame. */
  | { readonly kind: 'early-end'; readonly step: number }
  /** Garbage text and tokens come before the frame. */
  | { readonly kind: 'garbage'; readonly step: number };

/**
 * Corruption at a seeded rate: every generated frame that qualifies is corrupted with probability `rate`. The draw
 * depends only on (seed, program, step), so every request about the same step of the same program decides alike: a
 * rollout and the teacher-forced prediction of that step see the same fault, and reruns see the same faults.
 */
export interface RateCorruption {
  readonly kind: 'wrong-value' | 'wrong-line' | 'malformed-json';
  readonly rate: number;
  readonly seed?: number;
  /** Only frames of these events qualify (default: call and line for wrong-value and malformed-json, every event for wrong-line). */
  readonly events?: readonly TraceEventKind[];
  /** wrong-value: the variable to corrupt is the first local this accepts (default: the first local); no such local, no fault. */
  readonly variable?: (name: string, repr: string) => boolean;
}

export interface ReplayModelOptions {
  readonly codec: TokenCodec;
  readonly corruptions?: readonly Corruption[];
  readonly rateCorruption?: RateCorruption;
  /**
   * Extra corruptions for one sample, to make rollouts disagree. A sample is numbered `sampleIndex + seed`: server-side n
   * numbers choices, while clients without n (mlx) send one request per sample with the seed raised by one each time.
   */
  readonly sampleCorruptions?: Readonly<Record<number, readonly Corruption[]>>;
}

export interface ReplayModel {
  /** The TestModel to give startProtocolServer. */
  readonly model: TestModel;
  /** Records the real trace of a program so prompts about it can be answered; returns it. */
  prepare(request: TraceRequest): Promise<Trace>;
  /** Changes the corruptions for later requests. */
  setCorruptions(corruptions: readonly Corruption[]): void;
  /** Changes (or with undefined, ends) the seeded-rate corruption for later requests. */
  setRateCorruption(corruption: RateCorruption | undefined): void;
  /** How many prompts were answered. */
  readonly answered: number;
}

interface Prepared {
  readonly trace: Trace;
  readonly context: string;
  /** Where each traced file is in the context (a program calling into its own modules). */
  readonly layout: ContextLayout;
  /** Hash of the context, so rate corruption draws differently per program. */
  readonly programHash: number;
}

const EVENT_TOKENS: ReadonlyMap<string, TraceEventKind> = new Map([
  [Tok.callSep, 'call'],
  [Tok.lineSep, 'line'],
  [Tok.returnSep, 'return'],
  [Tok.exceptionSep, 'exception'],
]);

export function createReplayModel(options: ReplayModelOptions): ReplayModel {
  const codec = options.codec;
  const byContext = new Map<string, Prepared>();
  let corruptions = [...(options.corruptions ?? [])];
  let rateCorruption = options.rateCorruption;
  let answered = 0;
  const contextStart = codec.specialTokenId(Tok.traceContextStart)!;
  const frameSep = codec.specialTokenId(Tok.frameSep)!;
  const endOfText = codec.specialTokenId(Tok.endOfText)!;
  const eventIds = new Map<number, TraceEventKind>();
  for (const [text, event] of EVENT_TOKENS) eventIds.set(codec.specialTokenId(text)!, event);

  function* generate(promptIds: number[], params: TestModelParams): Generator<number | ScoredToken> {
    answered++;
    const start = promptIds.indexOf(contextStart);
    const sep = start < 0 ? -1 : promptIds.indexOf(frameSep, start + 1);
    if (sep < 0) {
      yield* codec.encodeOrdinary('This is not a CWM trace prompt.');
      yield endOfText;
      return;
    }
    const context = codec.decode(promptIds.slice(start + 1, sep));
    const prepared = byContext.get(context);
    if (prepared === undefined) {
      yield* codec.encodeOrdinary('I do not know this program.');
      yield endOfText;
      return;
    }
    let rest = promptIds.slice(sep + 1);
    const last = rest[rest.length - 1];
    const forced = last === undefined ? undefined : eventIds.get(last);
    if (forced !== undefined) rest = rest.slice(0, -1);
    const { trace } = prepared;
    const promptFrames = readCwmTrace(codec.decode(rest), { context, layout: prepared.layout, entry: trace.entry, source: trace.source }).frames;
    const active = [...corruptions, ...(options.sampleCorruptions?.[params.sampleIndex + (params.seed ?? 0)] ?? [])];
    yield* continueTrace(prepared, promptFrames, forced, active);
  }

  function* continueTrace(
    prepared: Prepared,
    promptFrames: readonly TraceFrame[],
    forced: TraceEventKind | undefined,
    active: readonly Corruption[],
  ): Generator<number | ScoredToken> {
    const real = prepared.trace.frames;
    // Walk the prompt's frames along the real ones: equal action at the same depth; skipped bodies (forced returns) are jumped.
    const scopeMap = new Map<number, number>();
    let position = -1;
    for (const frame of promptFrames) {
      let found = -1;
      let sameState = -1;
      for (let j = position + 1; j < real.length && sameState < 0; j++) {
        const candidate = real[j]!;
        if (candidate.event === frame.event && candidate.line === frame.line && candidate.depth === frame.depth) {
          if (found < 0) found = j;
          // A prompt cut to fit the context skips steps: the same line with the same values is where it resumes.
          if (sameLocals(candidate, frame)) sameState = j;
        }
      }
      if (sameState >= 0 && promptFrames.length < real.length) found = sameState;
      position = found >= 0 ? found : Math.min(position + 1, real.length - 1);
      if (real[position]) scopeMap.set(real[position]!.scope, frame.scope);
    }
    let next = position + 1;
    if (forced === 'return' && position >= 0) {
      // The client forced a return: jump to the return of the scope the prompt is in.
      const scope = real[position]!.scope;
      while (next < real.length && !(real[next]!.event === 'return' && real[next]!.scope === scope)) next++;
    }
    const edits = editsOf(promptFrames, real, position);
    const encoder = new CwmFrameEncoder(prepared.context, promptFrames);
    let first = true;
    for (let j = next; j < real.length; j++) {
      const step = promptFrames.length + (j - next);
      const frame = withEdits(real[j]!, edits, scopeMap, step);
      const corruption = active.find((c) => c.step === step) ?? (rateCorruption && drawCorruption(rateCorruption, prepared, frame, step));
      if (corruption?.kind === 'early-end') {
        yield endOfText;
        return;
      }
      if (corruption?.kind === 'garbage') yield* codec.encodeWithSpecialTokens('@@ garbage ~~ <|reserved_special_token_42|> %%');
      const corrupted = applyCorruption(frame, corruption, prepared.trace.source, rateCorruption?.variable);
      let text = encoder.renderFrame(corrupted);
      if (corruption?.kind === 'malformed-json') text = text.replace(`}${Tok.actionSep}`, Tok.actionSep);
      if (first && forced !== undefined) text = text.slice(eventTokenText(forced).length);
      first = false;
      if (corruption?.kind === 'cut-frame') {
        yield* codec.encodeWithSpecialTokens(text.slice(0, Math.floor(text.length / 2)));
        return;
      }
      yield* scoreFrame(codec, text, unsureSpan(frame, corrupted, text));
    }
    if (prepared.trace.end.kind === 'returned' || prepared.trace.end.kind === 'raised') yield endOfText;
  }

  return {
    model: (promptIds, params) => generate(promptIds, params),
    async prepare(request) {
      const trace = await recordTrace(request);
      // The context the client builds: every traced file's source (server/cwm/context.ts).
      const layout = buildContext(trace);
      const context = layout.text;
      byContext.set(context, { trace, context, layout, programHash: hashText(context) });
      return trace;
    },
    setCorruptions(next) {
      corruptions = [...next];
    },
    setRateCorruption(next) {
      rateCorruption = next;
    },
    get answered() {
      return answered;
    },
  };
}

/** Where in a frame's text the model wrote something the real run did not, and the real text's start there. */
interface UnsureSpan {
  readonly start: number;
  readonly end: number;
  readonly real: string;
}

/** The injected wrong value's text (inside its JSON quotes) or the wrong line, in the frame's text. */
function unsureSpan(real: TraceFrame, written: TraceFrame, text: string): UnsureSpan | undefined {
  if (written.line !== real.line) {
    const start = text.indexOf(Tok.actionSep);
    if (start < 0) return undefined;
    const from = start + Tok.actionSep.length;
    return { start: from, end: from + written.sourceLine.length, real: real.sourceLine };
  }
  for (const [name, value] of written.locals) {
    const was = real.locals.get(name);
    if (was === undefined || was === value) continue;
    const key = `${pythonJsonString(name)}: `;
    const at = text.indexOf(`${key}${pythonJsonString(value)}`);
    if (at < 0) return undefined;
    const start = at + key.length + 1;
    return { start, end: start + pythonJsonString(value).length - 2, real: pythonJsonString(was).slice(1, -1) };
  }
  return undefined;
}

/**
 * The frame's tokens with log-probabilities: every token sure, except those overlapping the unsure span, of which the
 * first lists the real text's first token as the alternative the model found likelier.
 */
function scoreFrame(codec: TokenCodec, text: string, unsure: UnsureSpan | undefined): ScoredToken[] {
  const ids = codec.encodeWithSpecialTokens(text);
  const sure = Math.log(REPLAY_SURE);
  if (unsure === undefined) return ids.map((id) => ({ id, logprob: sure }));
  const realFirst = codec.encodeOrdinary(unsure.real)[0];
  const scored: ScoredToken[] = [];
  let at = 0;
  let marked = false;
  for (const id of ids) {
    const end = at + codec.decode([id]).length;
    const overlaps = end > unsure.start && at < Math.max(unsure.end, unsure.start + 1);
    if (!overlaps) {
      scored.push({ id, logprob: sure });
    } else {
      const top = !marked && realFirst !== undefined && realFirst !== id
        ? [{ id: realFirst, logprob: Math.log(REPLAY_REAL_ALTERNATIVE) }, { id, logprob: Math.log(REPLAY_UNSURE) }]
        : undefined;
      scored.push({ id, logprob: Math.log(REPLAY_UNSURE), ...(top !== undefined ? { top } : {}) });
      marked = true;
    }
    at = end;
  }
  return scored;
}

function sameLocals(a: TraceFrame, b: TraceFrame): boolean {
  if (a.value !== b.value || a.locals.size !== b.locals.size) return false;
  for (const [name, value] of a.locals) if (b.locals.get(name) !== value) return false;
  return true;
}

function eventTokenText(event: TraceEventKind): string {
  for (const [text, kind] of EVENT_TOKENS) if (kind === event) return text;
  return '';
}

interface Edit {
  readonly scope: number;
  readonly value: string;
  /** The real value at the edited step: the edit holds until the real program changes the variable. */
  readonly baseline: string | undefined;
}

/** Values the prompt's latest frame holds that differ from the real run there: a what-if to carry forward. */
function editsOf(promptFrames: readonly TraceFrame[], real: readonly TraceFrame[], position: number): Map<string, Edit> {
  const edits = new Map<string, Edit>();
  const promptLast = promptFrames[promptFrames.length - 1];
  const realLast = real[position];
  if (!promptLast || !realLast || (promptLast.event !== 'call' && promptLast.event !== 'line')) return edits;
  for (const [name, value] of promptLast.locals) {
    if (realLast.locals.get(name) !== value) edits.set(name, { scope: realLast.scope, value, baseline: realLast.locals.get(name) });
  }
  return edits;
}

function withEdits(frame: TraceFrame, edits: Map<string, Edit>, scopeMap: ReadonlyMap<number, number>, step: number): TraceFrame {
  let locals = frame.locals;
  if (edits.size > 0 && (frame.event === 'call' || frame.event === 'line')) {
    const changed = new Map(locals);
    for (const [name, edit] of edits) {
      if (edit.scope !== frame.scope) continue;
      if (changed.get(name) === edit.baseline) changed.set(name, edit.value);
      else edits.delete(name);
    }
    locals = changed;
  }
  // Scopes the prompt already numbered keep the prompt's ids, so the diff encoding continues the prompt's chains.
  const scope = scopeMap.get(frame.scope) ?? 1_000_000 + frame.scope;
  return { ...frame, index: step, scope, locals };
}

/** FNV-1a over UTF-16 code units. */
function hashText(text: string, seed = 0x811c9dc5): number {
  let hash = seed | 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** A uniform draw in [0, 1) fixed by (seed, program, step). */
function drawAt(seed: number, programHash: number, step: number): number {
  let hash = hashText(`${seed}:${step}`, programHash);
  // MurmurHash3's finaliser, so that neighbouring steps draw independently.
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return ((hash ^ (hash >>> 16)) >>> 0) / 2 ** 32;
}

function drawCorruption(rate: RateCorruption, prepared: Prepared, frame: TraceFrame, step: number): Corruption | undefined {
  const withLocals = frame.event === 'call' || frame.event === 'line';
  const events = rate.events ?? (rate.kind === 'wrong-line' ? ['call', 'line', 'return', 'exception'] : ['call', 'line']);
  if (!events.includes(frame.event)) return undefined;
  if (rate.kind !== 'wrong-line' && !withLocals) return undefined;
  if (rate.kind === 'wrong-value' && !firstCorruptible(frame, rate.variable)) return undefined;
  if (rate.kind === 'malformed-json' && frame.locals.size === 0) return undefined;
  if (drawAt(rate.seed ?? 0, prepared.programHash, step) >= rate.rate) return undefined;
  return { kind: rate.kind, step };
}

function firstCorruptible(frame: TraceFrame, accept?: (name: string, repr: string) => boolean): string | undefined {
  for (const [name, repr] of frame.locals) if (accept === undefined || accept(name, repr)) return name;
  return undefined;
}

function applyCorruption(
  frame: TraceFrame,
  corruption: Corruption | undefined,
  source: string,
  accept?: (name: string, repr: string) => boolean,
): TraceFrame {
  if (corruption === undefined) return frame;
  if (corruption.kind === 'wrong-value' && frame.locals.size > 0) {
    const name = corruption.variable ?? firstCorruptible(frame, accept) ?? [...frame.locals.keys()][0]!;
    const current = frame.locals.get(name) ?? '0';
    const value = corruption.value ?? (/^-?\d+$/.test(current) ? String(BigInt(current) + 1n) : "'<wrong>'");
    return { ...frame, locals: new Map([...frame.locals, [name, value]]) };
  }
  if (corruption.kind === 'wrong-line') {
    const lines = source.split('\n');
    const other = [frame.line + 1, frame.line - 1, 1].find((n) => n >= 1 && n <= lines.length && lines[n - 1] !== lines[frame.line - 1]) ?? 1;
    return { ...frame, line: other, sourceLine: lines[other - 1] ?? '' };
  }
  return frame;
}

/**
 * Traces every corpus item into the replay model, the way the evaluation traces it, `concurrency` at a time (tests, bench
 * and serve-replay). Returns the real traces by item id; programs that cannot be traced are left out.
 */
export async function prepareCorpusItems(
  replay: ReplayModel,
  items: readonly CorpusItem[],
  options: { python?: string; concurrency?: number } = {},
): Promise<Map<string, Trace>> {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-replay-corpus-'));
  let next = 0;
  const prepared = new Map<string, Trace>();
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      let file = item.file;
      if (file === undefined) {
        file = join(dir, `${item.index}.py`);
        writeFileSync(file, item.code.endsWith('\n') ? item.code : item.code + '\n');
      }
      try {
        prepared.set(item.id, await replay.prepare({ file, python: options.python, entry: item.entry, args: item.args }));
      } catch {
        // A program that cannot be traced is one the evaluation records as an error; the endpoint needs nothing for it.
      }
    }
  }));
  return prepared;
}
