// A test endpoint's "model" that injects steps the program cannot take (tests only, never shipped): it answers as the
// replay model does (the real trace, test/servers/replay-model.ts) and puts in, at given steps, a frame on a line that
// cannot follow, or a local the scope cannot have: in every rollout that passes the step, and in the first `times`
// requests asked for exactly that step (a single step, a client's re-samples), after which the real frame comes.

import type { TokenCodec } from '../../server/cwm/codec';
import { Tok } from '../../server/cwm/tokens';
import type { TraceRequest } from '../../server/tracer/runner';
import type { Trace } from '../../server/trace/model';
import { tokenIdOf, type TestModel, type TestModelParams } from './protocol-server';
import { createReplayModel, type ReplayModel } from './replay-model';

export type Injection =
  /** An extra frame before the real step `step`: the real frame's event and locals, on `line` (which cannot follow). */
  | { readonly kind: 'impossible-line'; readonly step: number; readonly line: number; readonly times?: number }
  /** The real frame at `step` (a call or line frame) with one more local, `name`, which its scope cannot have. */
  | { readonly kind: 'impossible-local'; readonly step: number; readonly name: string; readonly value?: string; readonly times?: number };

export interface ImpossibleModel {
  readonly model: TestModel;
  /** The replay model underneath (prepare programs through it). */
  readonly replay: ReplayModel;
  prepare(request: TraceRequest): Promise<Trace>;
  setInjections(injections: readonly Injection[]): void;
  /** Requests asked for exactly the injected step (their prompt ends right before it: re-samples), by step. */
  readonly asked: ReadonlyMap<number, number>;
}

export function createImpossibleModel(options: { readonly codec: TokenCodec; readonly injections?: readonly Injection[] }): ImpossibleModel {
  const codec = options.codec;
  const replay = createReplayModel({ codec });
  let injections = [...(options.injections ?? [])];
  const asked = new Map<number, number>();
  let sourceLines: string[] = [];
  const id = (text: string) => codec.specialTokenId(text)!;
  const contextStart = id(Tok.traceContextStart);
  const frameSep = id(Tok.frameSep);
  const actionSep = id(Tok.actionSep);
  const eventIds = new Set([Tok.callSep, Tok.lineSep, Tok.returnSep, Tok.exceptionSep].map(id));

  /** Frames of `ids` (after the context), each ending with its `<|frame_sep|>`; a trailing open part is its own group. */
  function groups(ids: readonly number[]): number[][] {
    const out: number[][] = [[]];
    for (const token of ids) {
      out[out.length - 1]!.push(token);
      if (token === frameSep) out.push([]);
    }
    if (out[out.length - 1]!.length === 0) out.pop();
    return out;
  }

  /** A frame's ids with its LINE replaced by `line`'s text (everything between `<|action_sep|>` and the next special). */
  function onLine(frame: readonly number[], line: number): number[] {
    const at = frame.indexOf(actionSep);
    if (at < 0) return [...frame];
    let end = at + 1;
    while (end < frame.length && !eventIds.has(frame[end]!) && frame[end] !== frameSep && frame[end] !== id(Tok.argSep)) end++;
    return [...frame.slice(0, at + 1), ...codec.encodeOrdinary(`${sourceLines[line - 1] ?? ''}\n`), ...frame.slice(end)];
  }

  /** A frame's ids with `"name": "value"` first in its LOCALS. */
  function withLocal(frame: readonly number[], name: string, value: string): number[] {
    const text = codec.decode([...frame]);
    const open = text.indexOf('{');
    const close = text.indexOf(Tok.actionSep);
    if (open < 0 || close < open) return [...frame];
    const empty = text.slice(open + 1, close).trim() === '}';
    const entry = `${JSON.stringify(name)}: ${JSON.stringify(value)}${empty ? '' : ', '}`;
    return codec.encodeWithSpecialTokens(text.slice(0, open + 1) + entry + text.slice(open + 1));
  }

  /** A kept frame's ids without the injected local, so the replay does not carry it on as a what-if edit. */
  function withoutLocal(frame: number[], injection: Extract<Injection, { kind: 'impossible-local' }> | undefined): number[] {
    if (injection === undefined) return frame;
    const text = codec.decode(frame);
    const entry = `${JSON.stringify(injection.name)}: ${JSON.stringify(injection.value ?? '42')}`;
    const stripped = text.replace(`${entry}, `, '').replace(entry, '');
    return stripped === text ? frame : codec.encodeWithSpecialTokens(stripped);
  }

  function localInjectionAt(step: number): Extract<Injection, { kind: 'impossible-local' }> | undefined {
    for (const injection of injections) if (injection.kind === 'impossible-local' && injection.step === step) return injection;
    return undefined;
  }

  function lineInjectionAt(step: number): Extract<Injection, { kind: 'impossible-line' }> | undefined {
    for (const injection of injections) if (injection.kind === 'impossible-line' && injection.step === step) return injection;
    return undefined;
  }

  /** Whether the injection of `kind` at `step` is in this answer, whose first frame is step `first`. */
  function carries(step: number, kind: Injection['kind'], first: number): boolean {
    const injection = injections.find((candidate) => candidate.step === step && candidate.kind === kind);
    if (injection === undefined) return false;
    // What a server generates past the frame a client reads is not counted: it may never be read.
    return step > first || (asked.get(step) ?? 0) <= (injection.times ?? Infinity);
  }

  function* generate(promptIds: number[], params: TestModelParams): Generator<number> {
    const start = promptIds.indexOf(contextStart);
    const sep = start < 0 ? -1 : promptIds.indexOf(frameSep, start + 1);
    if (sep < 0) {
      for (const token of replay.model(promptIds, params)) yield tokenIdOf(token);
      return;
    }
    // The client's prompt frames; an injected line frame it kept is taken out before the replay model reads the prompt,
    // so the replay goes on with the real step it was put before.
    const promptGroups = groups(promptIds.slice(sep + 1));
    const forced = promptGroups.length > 0 && promptGroups[promptGroups.length - 1]!.length === 1 && eventIds.has(promptGroups[promptGroups.length - 1]![0]!);
    const frameCount = promptGroups.length - (forced ? 1 : 0);
    const kept = promptGroups.map((group, k) => {
      const injection = lineInjectionAt(k);
      if (injection !== undefined && sameIds(group, onLine(group, injection.line))) return [];
      return withoutLocal(group, localInjectionAt(k));
    });
    const replayPrompt = [...promptIds.slice(0, sep + 1), ...kept.flat()];
    const output = groups([...replay.model(replayPrompt, params)].map(tokenIdOf));
    if (injections.some((injection) => injection.step === frameCount)) asked.set(frameCount, (asked.get(frameCount) ?? 0) + 1);
    let step = frameCount;
    for (const [k, frame] of output.entries()) {
      const complete = frame[frame.length - 1] === frameSep;
      const line = complete && carries(step, 'impossible-line', frameCount) ? lineInjectionAt(step) : undefined;
      if (line !== undefined) {
        yield* onLine(frame, line.line);
        step++;
        // A forced first frame's event token is in the prompt and went with the injected frame: the real one repeats it.
        if (k === 0 && forced) yield promptGroups[promptGroups.length - 1]![0]!;
      }
      const local = complete && carries(step, 'impossible-local', frameCount) ? localInjectionAt(step) : undefined;
      yield* local?.kind === 'impossible-local' ? withLocal(frame, local.name, local.value ?? '42') : frame;
      step++;
    }
  }

  return {
    model: (promptIds, params) => generate(promptIds, params),
    replay,
    async prepare(request) {
      const trace = await replay.prepare(request);
      sourceLines = trace.source.split('\n');
      return trace;
    },
    setInjections(next) {
      injections = [...next];
      asked.clear();
    },
    get asked() {
      return asked;
    },
  };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, k) => value === b[k]);
}
