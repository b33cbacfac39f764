// The engine's prompts against the reference debugger's (facebookresearch/cwm demos/cwmdbg.py): for the same frames and
// the same commands (step, next, back, restart), from an empty trace and from a call frame, token for token.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TokenCodec } from '../../server/cwm/codec';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { Tok } from '../../server/cwm/tokens';
import { markEntryLine } from '../../server/cwm/writer';
import { connectEndpoint } from '../../server/endpoint/connect';
import type { EndpointClient } from '../../server/endpoint/types';
import { PredictionSession } from '../../server/engine/session';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, tokenIdOf, type ProtocolServer, type TestModel } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

// A call on a line of its own (stepped over and into) and a call inside an expression.
const PROGRAM = `def double(x):
    y = x * 2
    return y


def f(a):
    b = double(a)
    c = double(b) + 1
    return c
`;

type RefEvent = 'call' | 'line' | 'return' | 'exception';

/** One frame as cwmdbg.py keeps it: the model's fields, parsed and ready to be dumped back. */
interface RefFrame {
  readonly event: RefEvent;
  readonly localVars: Record<string, unknown>;
  readonly sourceLine: string;
  readonly arg: unknown;
  final: boolean;
  tokens?: number[];
}

/** Python's json.dumps with default settings (ensure_ascii, ", " and ": " separators), for the values cwmdbg dumps. */
function pyDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(pyDumps).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyDumps(k)}: ${pyDumps(v)}`).join(', ')}}`;
}

function jsonLoads(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * cwmdbg.py's CWMDebugger, command for command: `_step` builds the prompt as context + cached frame tokens + an
 * optional forced event token, asks the model for one frame (stop at `<|frame_sep|>`), and parses the reply.
 */
class ReferenceDebugger {
  frames: RefFrame[] = [];
  /** Every prompt `_step` sent, in order. */
  readonly prompts: number[][] = [];
  private readonly id: (text: string) => number;

  constructor(private readonly source: string, private readonly codec: TokenCodec, private readonly model: TestModel) {
    this.id = (text) => codec.specialTokenId(text)!;
  }

  get current(): RefFrame {
    return this.frames[this.frames.length - 1]!;
  }

  get done(): boolean {
    return this.current.final;
  }

  reset(): void {
    this.frames = [];
    this.stepOnce('call');
  }

  next(): void {
    if (this.done) return;
    this.stepOnce();
    if (this.current.event === 'call') {
      this.stepOnce('return');
      this.stepOnce();
    }
  }

  step(): void {
    if (this.done) return;
    if (this.current.event === 'call') this.stepOnce('line');
    else this.stepOnce();
  }

  back(): void {
    if (this.frames.length > 1) this.frames.pop();
    if (this.frames.length === 0) this.reset();
  }

  private eventId(event: RefEvent): number {
    return this.id({ call: Tok.callSep, line: Tok.lineSep, return: Tok.returnSep, exception: Tok.exceptionSep }[event]);
  }

  private stepOnce(event?: RefEvent): void {
    const { codec } = this;
    const tokens = [this.id(Tok.beginOfText), this.id(Tok.traceContextStart), ...codec.encodeOrdinary(this.source), this.id(Tok.frameSep)];
    for (const frame of this.frames) {
      if (frame.tokens === undefined) {
        frame.tokens = [this.eventId(frame.event)];
        if (frame.event === 'call' || frame.event === 'line') frame.tokens.push(...codec.encodeOrdinary(pyDumps(frame.localVars)));
        frame.tokens.push(this.id(Tok.actionSep), ...codec.encodeOrdinary(frame.sourceLine));
        if (frame.event === 'return' || frame.event === 'exception') {
          frame.tokens.push(this.id(Tok.argSep), ...codec.encodeOrdinary(pyDumps(frame.arg)));
        }
      }
      tokens.push(...frame.tokens, this.id(Tok.frameSep));
    }
    if (event !== undefined) tokens.push(this.eventId(event));
    this.prompts.push(tokens);

    const frameSep = this.id(Tok.frameSep);
    const eos = this.id(Tok.endOfText);
    const reply: number[] = [];
    for (const token of this.model(tokens, { maxTokens: 2048, temperature: 0.6, stopIds: [frameSep, eos], sampleIndex: 0 })) {
      const id = tokenIdOf(token);
      reply.push(id);
      if (id === frameSep || id === eos || reply.length >= 2048) break;
    }
    let at = 0;
    if (event === undefined) {
      const first = reply[at++];
      const found = (['call', 'line', 'return', 'exception'] as const).find((e) => this.eventId(e) === first);
      if (found === undefined) {
        assert.equal(first, eos, 'the reference debugger got neither an event nor the end');
        this.current.final = true;
        return;
      }
      event = found;
    }
    const take = (stops: number[]): [number[], number | undefined] => {
      const out: number[] = [];
      while (at < reply.length && !stops.includes(reply[at]!)) out.push(reply[at++]!);
      return [out, reply[at++]];
    };
    const [localTokens] = take([this.id(Tok.actionSep)]);
    const [lineTokens, ended] = take([frameSep, this.id(Tok.argSep)]);
    const [argTokens] = ended === this.id(Tok.argSep) ? take([frameSep]) : [[]];
    const localText = codec.decode(localTokens);
    const localVars = localTokens.length > 0 ? (jsonLoads(localText) as Record<string, unknown> | undefined) ?? { _DECODING_ERROR_: localText } : {};
    const argText = codec.decode(argTokens);
    const arg = argTokens.length > 0 ? (jsonLoads(argText) ?? argText) : null;
    this.frames.push({ event, localVars, sourceLine: codec.decode(lineTokens), arg, final: false });
  }
}

type Command = 'step' | 'next' | 'back' | 'restart';

let codec: CwmTokenizer;
let replay: ReplayModel;
let real: Trace;
let context: string;
let server: ProtocolServer;
let client: EndpointClient;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-prompts-'));
  codec = await loadTokenizer(await writeTestTokenizer(dir));
  const file = join(dir, 'calls.py');
  writeFileSync(file, PROGRAM);
  replay = createReplayModel({ codec });
  real = await replay.prepare({ file, entry: 'f', args: '3' });
  context = markEntryLine(real.source, real.entry);
  server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  client = await connectEndpoint({ url: server.url, backend: 'vllm', timeouts: { totalMs: 20_000, firstTokenMs: 10_000 } }, codec);
});

after(async () => {
  await client?.close();
  await server?.close();
  codec?.dispose();
});

function enginePrompts(): number[][] {
  return server.requests
    .filter((r) => r.method === 'POST' && r.path === '/v1/completions')
    .map((r) => (r.body as { prompt: number[] }).prompt);
}

/** The frame as cwmdbg.py would hold it had the model predicted it. */
function asReferenceFrame(frame: TraceFrame): RefFrame {
  const lines = context.split('\n');
  return {
    event: frame.event,
    localVars: Object.fromEntries(frame.locals),
    sourceLine: `${lines[frame.line - 1]}\n`,
    arg: frame.value === undefined ? null : frame.value,
    final: false,
  };
}

/**
 * Runs the same commands on the engine and on the reference and checks, command by command, that the engine sent
 * exactly the prompts the reference sent, except those the reference re-sends for frames the engine has recorded
 * (cwmdbg's step back forgets the frame; the engine's recording keeps it and moving forward again asks nothing).
 */
async function compareScript(initial: readonly TraceFrame[], commands: readonly Command[]): Promise<void> {
  const session = new PredictionSession({ source: real.source, entry: real.entry, backend: client, codec, initialFrames: initial });
  const reference = new ReferenceDebugger(context, codec, replay.model);
  const restartReference = (): void => {
    if (initial.length === 0) reference.reset();
    else reference.frames = initial.map(asReferenceFrame);
  };
  let sent = new Set<string>();
  const run = async (label: string, onEngine: () => Promise<unknown>, onReference: () => void): Promise<void> => {
    const engineBefore = enginePrompts().length;
    const referenceBefore = reference.prompts.length;
    await onEngine();
    onReference();
    const expected = reference.prompts.slice(referenceBefore).filter((p) => !sent.has(p.join(',')));
    for (const prompt of reference.prompts.slice(referenceBefore)) sent.add(prompt.join(','));
    assert.deepEqual(enginePrompts().slice(engineBefore), expected, `prompts of "${label}"`);
    const here = session.current;
    assert.ok(here !== undefined, `the engine has a current frame after "${label}"`);
    assert.equal(here.event, reference.current.event, `event after "${label}"`);
    assert.equal(`${context.split('\n')[here.line - 1]}\n`, reference.current.sourceLine, `line after "${label}"`);
    assert.equal(session.ended && session.cursor === session.trace.length - 1, reference.done, `end after "${label}"`);
  };

  await run('start', () => session.start(), restartReference);
  for (const command of commands) {
    if (command === 'restart') sent = new Set();
    await run(
      command,
      () => {
        switch (command) {
          case 'step': return session.stepIn();
          case 'next': return session.stepOver();
          case 'back': return Promise.resolve(session.stepBack());
          case 'restart': return session.restart();
        }
      },
      () => {
        switch (command) {
          case 'step': return reference.step();
          case 'next': return reference.next();
          case 'back': return reference.back();
          case 'restart': return restartReference();
        }
      },
    );
  }
}

describe('prompts equal cwmdbg.py token for token', { timeout: 120_000 }, () => {
  test('the real trace has the calls the scripts step over and into', () => {
    assert.deepEqual(real.frames.map((f) => `${f.event}:${f.line}`).slice(0, 4), ['call:6', 'line:7', 'call:1', 'line:2']);
  });

  test('from an empty trace: the first frame is forced with <|call_sep|>, stepping in from a call with <|line_sep|>', async () => {
    const callSep = codec.specialTokenId(Tok.callSep)!;
    const lineSep = codec.specialTokenId(Tok.lineSep)!;
    const before = enginePrompts().length;
    await compareScript([], [
      'step', 'next', 'back', 'back', 'step', 'next', 'next', 'step', 'step', 'next', 'back', 'next',
      'next', 'next', 'next', 'next', 'next', 'restart', 'step', 'step', 'step',
    ]);
    const sent = enginePrompts().slice(before);
    assert.equal(sent[0]!.at(-1), callSep, 'the first prompt ends with <|call_sep|>');
    assert.equal(sent[1]!.at(-1), lineSep, 'stepping in from the entry call ends with <|line_sep|>');
  });

  test('from a call frame (the entry with its arguments): step, next over a call, back into its skipped body, restart', async () => {
    const lineSep = codec.specialTokenId(Tok.lineSep)!;
    const returnSep = codec.specialTokenId(Tok.returnSep)!;
    const before = enginePrompts().length;
    await compareScript([real.frames[0]!], [
      'step', 'next', 'back', 'back', 'step', 'step', 'step', 'step', 'step', 'next', 'next', 'back', 'back',
      'restart', 'next', 'step', 'next', 'next', 'next', 'next',
    ]);
    const endings = enginePrompts().slice(before).map((p) => p.at(-1));
    assert.ok(endings.includes(lineSep) && endings.includes(returnSep), 'both forced tokens were used');
  });
});
