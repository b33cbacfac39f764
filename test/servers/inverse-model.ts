// The inverse-execution test endpoint's "model" (tests and benchmark only, never shipped): asked for a trace from the bare
// entry, it invents the call frame from a scripted mix (truthful proposals replayed from their real trace, false claims
// that "reach" the target in the prediction only, malformed call frames), in order, one per request.

import { readFileSync } from 'node:fs';
import type { TokenCodec } from '../../server/cwm/codec';
import { buildContext, type ContextLayout } from '../../server/cwm/context';
import { readCwmTrace } from '../../server/cwm/reader';
import { Tok } from '../../server/cwm/tokens';
import { CwmFrameEncoder } from '../../server/cwm/writer';
import { findEntryPoint } from '../../server/trace/entry';
import type { EntryPoint, Trace, TraceEventKind, TraceFrame } from '../../server/trace/model';
import { entryCallFrame } from '../../server/tracer/entry-frame';
import { recordTrace } from '../../server/tracer/runner';
import type { TestModel } from './protocol-server';

/** One scripted proposal: the call frame the model invents, and what it then predicts. */
export type ScriptedProposal =
  /** The real trace of a call with these arguments (a truthful prediction: reaching, or a near miss). */
  | { readonly kind: 'real'; readonly args: string }
  /** The call frame, then a made-up step at `line` (the target), then a return: a claim the real run need not bear out. */
  | { readonly kind: 'claim'; readonly args: string; readonly line: number; readonly returns?: string }
  /** A call frame whose values cannot be read (its JSON is cut), then the end. */
  | { readonly kind: 'malformed' }
  /** A call frame that lacks a parameter, then the end. */
  | { readonly kind: 'missing-parameter'; readonly args: string; readonly drop: string };

export interface InverseProgram {
  readonly file: string;
  /** Entry function; default: the def marked `# << START_OF_TRACE`. */
  readonly entry?: string;
  /** Answered in order, one per request from the bare entry, round and round. */
  readonly script: readonly ScriptedProposal[];
  /** Arguments whose real trace is also known, so a steered prompt (call frame given) with them is answered truthfully. */
  readonly known?: readonly string[];
  readonly python?: string;
}

interface Prepared {
  readonly source: string;
  readonly entry: Extract<EntryPoint, { kind: 'function' }>;
  readonly context: string;
  readonly layout: ContextLayout;
  readonly script: readonly ScriptedProposal[];
  /** Real traces by argument list. */
  readonly traces: Map<string, Trace>;
  /** The call frame the client's reader sees for each argument list, keyed by its locals. */
  readonly byLocals: Map<string, Trace>;
  next: number;
}

export interface InverseModel {
  readonly model: TestModel;
  /** Whether a prompt is about a program this model was prepared for (a shared endpoint sends the rest elsewhere). */
  knows(promptIds: readonly number[]): boolean;
  /** Records the real traces the script needs; call before serving requests about the program. */
  prepare(program: InverseProgram): Promise<void>;
  /** Requests answered from the bare entry and from a given call frame. */
  readonly answered: { bare: number; steered: number };
}

const EVENT_TOKENS: ReadonlyMap<string, TraceEventKind> = new Map([
  [Tok.callSep, 'call'], [Tok.lineSep, 'line'], [Tok.returnSep, 'return'], [Tok.exceptionSep, 'exception'],
]);

function localsKey(frame: TraceFrame): string {
  return JSON.stringify([...frame.locals]);
}

export function createInverseModel(codec: TokenCodec): InverseModel {
  const byContext = new Map<string, Prepared>();
  const answered = { bare: 0, steered: 0 };
  const contextStart = codec.specialTokenId(Tok.traceContextStart)!;
  const frameSep = codec.specialTokenId(Tok.frameSep)!;
  const endOfText = codec.specialTokenId(Tok.endOfText)!;
  const eventIds = new Map<number, TraceEventKind>();
  for (const [text, event] of EVENT_TOKENS) eventIds.set(codec.specialTokenId(text)!, event);

  function callFrame(prepared: Prepared, args: string): TraceFrame {
    return entryCallFrame({ source: prepared.source, functionName: prepared.entry.name, args });
  }

  function* emit(prepared: Prepared, promptFrames: readonly TraceFrame[], frames: readonly TraceFrame[], forced: TraceEventKind | undefined, end: boolean): Generator<number> {
    const encoder = new CwmFrameEncoder(prepared.context, promptFrames);
    let first = true;
    for (const frame of frames) {
      let text = encoder.renderFrame(frame);
      if (first && forced !== undefined) text = text.slice(eventText(forced).length);
      first = false;
      yield* codec.encodeWithSpecialTokens(text);
    }
    if (end) yield endOfText;
  }

  function* bare(prepared: Prepared, forced: TraceEventKind | undefined): Generator<number> {
    answered.bare++;
    const proposal = prepared.script[prepared.next++ % prepared.script.length]!;
    switch (proposal.kind) {
      case 'real': {
        const trace = prepared.traces.get(proposal.args)!;
        yield* emit(prepared, [], trace.frames, forced, trace.end.kind === 'returned' || trace.end.kind === 'raised');
        return;
      }
      case 'claim': {
        const call = callFrame(prepared, proposal.args);
        const lines = prepared.source.split('\n');
        // The claim: the target line right after the call, with the call's values, then a return (of None unless told).
        const step: TraceFrame = { ...call, index: 1, event: 'line', line: proposal.line, sourceLine: lines[proposal.line - 1] ?? '' };
        const ret: TraceFrame = { ...call, index: 2, event: 'return', line: proposal.line, sourceLine: lines[proposal.line - 1] ?? '', locals: new Map(), value: proposal.returns ?? 'None' };
        yield* emit(prepared, [], [call, step, ret], forced, true);
        return;
      }
      case 'malformed': {
        const line = prepared.source.split('\n')[prepared.entry.line - 1] ?? '';
        const text = `${Tok.callSep}{"${'x'}": "1"${Tok.actionSep}${line}${Tok.frameSep}`;
        yield* codec.encodeWithSpecialTokens(forced !== undefined ? text.slice(eventText(forced).length) : text);
        yield endOfText;
        return;
      }
      case 'missing-parameter': {
        const call = callFrame(prepared, proposal.args);
        const locals = new Map(call.locals);
        locals.delete(proposal.drop);
        yield* emit(prepared, [], [{ ...call, locals }], forced, true);
        return;
      }
    }
  }

  function* generate(promptIds: number[]): Generator<number> {
    const start = promptIds.indexOf(contextStart);
    const sep = start < 0 ? -1 : promptIds.indexOf(frameSep, start + 1);
    const prepared = sep < 0 ? undefined : byContext.get(codec.decode(promptIds.slice(start + 1, sep)));
    if (prepared === undefined) {
      yield* codec.encodeOrdinary('I do not know this program.');
      yield endOfText;
      return;
    }
    let rest = promptIds.slice(sep + 1);
    const forced = eventIds.get(rest[rest.length - 1] ?? -1);
    if (forced !== undefined) rest = rest.slice(0, -1);
    const promptFrames = readCwmTrace(codec.decode(rest), { context: prepared.context, layout: prepared.layout, entry: prepared.entry, source: prepared.source }).frames;
    if (promptFrames.length === 0) {
      yield* bare(prepared, forced);
      return;
    }
    // A steered prompt (the call frame given) or a debug session's: a known argument list continues its real trace
    // after the prompt's frames; an unknown one gets the end at once (this model only knows what it was told).
    answered.steered++;
    const trace = prepared.byLocals.get(localsKey(promptFrames[0]!));
    if (trace === undefined || promptFrames.length >= trace.frames.length) {
      yield endOfText;
      return;
    }
    yield* emit(prepared, promptFrames, trace.frames.slice(promptFrames.length), forced, trace.end.kind === 'returned' || trace.end.kind === 'raised');
  }

  function contextOf(promptIds: readonly number[]): string | undefined {
    const start = promptIds.indexOf(contextStart);
    const sep = start < 0 ? -1 : promptIds.indexOf(frameSep, start + 1);
    return sep < 0 ? undefined : codec.decode(promptIds.slice(start + 1, sep));
  }

  return {
    model: (promptIds) => generate(promptIds),
    knows: (promptIds) => {
      const context = contextOf(promptIds);
      return context !== undefined && byContext.has(context);
    },
    answered,
    async prepare(program) {
      const source = readFileSync(program.file, 'utf8');
      const found = findEntryPoint(source, program.entry === undefined ? {} : { entry: program.entry });
      if (found.kind !== 'function') throw new Error(`${program.file} marks no entry function`);
      const entry = { kind: 'function' as const, name: found.name, line: found.line };
      const layout = buildContext({ source, path: program.file, entry });
      const prepared: Prepared = { source, entry, context: layout.text, layout, script: program.script, traces: new Map(), byLocals: new Map(), next: 0 };
      const toRecord = new Set([...program.script.flatMap((p) => (p.kind === 'real' ? [p.args] : [])), ...(program.known ?? [])]);
      for (const args of toRecord) {
        const trace = await recordTrace({ file: program.file, entry: entry.name, args, python: program.python, limits: { timeoutMs: 10_000, maxEvents: 20_000 } });
        prepared.traces.set(args, trace);
        if (trace.frames[0] !== undefined) prepared.byLocals.set(localsKey(trace.frames[0]), trace);
      }
      byContext.set(layout.text, prepared);
    },
  };
}

function eventText(event: TraceEventKind): string {
  for (const [text, kind] of EVENT_TOKENS) if (kind === event) return text;
  return '';
}
