// Builds CWM prompts as token ids, structurally: special tokens as ids, source and values as ordinary text, so a
// program or a value that contains the characters `<|frame_sep|>` never turns into the special token.

import type { TokenCodec } from '../cwm/codec';
import { Tok } from '../cwm/tokens';
import { CwmFrameEncoder, type FramePieces } from '../cwm/writer';
import type { TraceEventKind, TraceFrame } from '../trace/model';
import { appendAll } from '../trace/arrays';

const EVENT_TOKEN: Record<TraceEventKind, string> = {
  call: Tok.callSep,
  line: Tok.lineSep,
  return: Tok.returnSep,
  exception: Tok.exceptionSep,
};

export function eventToken(event: TraceEventKind): string {
  return EVENT_TOKEN[event];
}

/** Special-token ids the engine needs, looked up once in the codec (a test tokenizer has other ids than the real one). */
export interface SpecialIds {
  readonly beginOfText: number;
  readonly traceContextStart: number;
  readonly frameSep: number;
  readonly actionSep: number;
  readonly argSep: number;
  readonly endOfText: number;
  readonly events: Readonly<Record<TraceEventKind, number>>;
}

export function specialIds(codec: TokenCodec): SpecialIds {
  const id = (text: string): number => {
    const found = codec.specialTokenId(text);
    if (found === undefined) throw new Error(`The tokenizer has no ${text} token; it is not CWM's tokenizer.`);
    return found;
  };
  return {
    beginOfText: id(Tok.beginOfText),
    traceContextStart: id(Tok.traceContextStart),
    frameSep: id(Tok.frameSep),
    actionSep: id(Tok.actionSep),
    argSep: id(Tok.argSep),
    endOfText: id(Tok.endOfText),
    events: { call: id(Tok.callSep), line: id(Tok.lineSep), return: id(Tok.returnSep), exception: id(Tok.exceptionSep) },
  };
}

/** Token ids of one rendered frame, ending with `<|frame_sep|>`. */
export function frameIds(pieces: FramePieces, codec: TokenCodec | ((text: string) => readonly number[]), ids: SpecialIds): number[] {
  const encode = typeof codec === 'function' ? codec : (text: string) => codec.encodeOrdinary(text);
  const out = [ids.events[pieces.event]];
  if (pieces.locals !== undefined) appendAll(out, encode(pieces.locals));
  out.push(ids.actionSep);
  appendAll(out, encode(pieces.line));
  if (pieces.value !== undefined) {
    out.push(ids.argSep);
    appendAll(out, encode(pieces.value));
  }
  out.push(ids.frameSep);
  return out;
}

/** Ordinary texts of one frame, in prompt order. */
function pieceTexts(pieces: FramePieces): string[] {
  return [pieces.locals, pieces.line, pieces.value].filter((text): text is string => text !== undefined);
}

interface PromptFrame {
  readonly pieces: FramePieces;
  /** Filled when the frame is appended (local tokenizer) or before the next build (a server's tokenizer). */
  ids?: number[];
}

/**
 * The growing prompt of one rollout: the context's ids once, then each frame's ids as it is appended.
 * Frames are never re-tokenized, so a prompt grows in time proportional to the new frame only. With a server's tokenizer
 * (codec.remote) the texts are tokenized in one batch when the prompt is built, since that needs the network.
 */
export class PromptBuilder {
  private contextIds: number[] | undefined;
  private readonly promptFrames: PromptFrame[] = [];
  private encoder: CwmFrameEncoder;
  readonly ids: SpecialIds;

  constructor(private readonly context: string, private readonly codec: TokenCodec) {
    this.ids = specialIds(codec);
    if (codec.remote === undefined) this.contextIds = this.encodeContext();
    this.encoder = new CwmFrameEncoder(context);
  }

  get frameCount(): number {
    return this.promptFrames.length;
  }

  append(frame: TraceFrame): void {
    const pieces = this.encoder.renderFramePieces(frame);
    this.promptFrames.push(this.codec.remote === undefined ? { pieces, ids: frameIds(pieces, this.codec, this.ids) } : { pieces });
  }

  /** Keeps the first `count` frames (used when the user edits the past); the encoder replays them. */
  truncate(frames: readonly TraceFrame[], count: number): void {
    this.promptFrames.length = Math.min(count, this.promptFrames.length);
    this.encoder = new CwmFrameEncoder(this.context, frames.slice(0, this.promptFrames.length));
  }

  /**
   * The prompt ids, optionally ending with a forced event token, within `budget` tokens.
   * When the frames do not fit, the oldest frames are left out and the rest re-rendered from scratch so that the
   * first kept frames carry full values (a `".."` must never point at a frame the model cannot see).
   */
  async build(frames: readonly TraceFrame[], budget: number, forced?: TraceEventKind): Promise<{ ids: number[]; droppedFrames: number }> {
    const contextIds = await this.encodePending();
    const frameTokenIds = this.promptFrames.map((frame) => frame.ids!);
    const forcedIds = forced ? [this.ids.events[forced]] : [];
    let total = contextIds.length + forcedIds.length;
    for (const frame of frameTokenIds) total += frame.length;
    if (total <= budget) {
      const ids = contextIds.slice();
      for (const frame of frameTokenIds) for (const id of frame) ids.push(id);
      appendAll(ids, forcedIds);
      return { ids, droppedFrames: 0 };
    }
    const room = budget - contextIds.length - forcedIds.length;
    if (room <= 0) {
      throw new PromptTooLongError(contextIds.length, budget);
    }
    // Walk back from the newest frame while the estimate fits; re-render that window with a fresh encoder.
    let start = frameTokenIds.length;
    let used = 0;
    while (start > 0 && used + frameTokenIds[start - 1]!.length <= room) used += frameTokenIds[--start]!.length;
    for (;;) {
      const encoder = new CwmFrameEncoder(this.context);
      const window = frames.slice(start).map((frame) => encoder.renderFramePieces(frame));
      const encode = await this.encoderFor(window.flatMap(pieceTexts));
      const windowIds: number[] = [];
      for (const pieces of window) appendAll(windowIds, frameIds(pieces, encode, this.ids));
      // Full values take more tokens than `".."`, so the window may need to shrink further.
      if (windowIds.length <= room || start >= frames.length) {
        return { ids: [...contextIds, ...windowIds, ...forcedIds], droppedFrames: start };
      }
      start += Math.max(1, Math.ceil((frames.length - start) / 10));
    }
  }

  private encodeContext(encode: (text: string) => readonly number[] = (text) => this.codec.encodeOrdinary(text)): number[] {
    return [this.ids.beginOfText, this.ids.traceContextStart, ...encode(this.context), this.ids.frameSep];
  }

  /** Encodes ordinary text; with a server's tokenizer, these texts are tokenized first, in one batch. */
  private async encoderFor(texts: readonly string[]): Promise<(text: string) => readonly number[]> {
    const known = await this.codec.remote?.prepareOrdinary(texts);
    return (text) => known?.get(text) ?? this.codec.encodeOrdinary(text);
  }

  /** Tokenizes, in one batch, the context and the frames not tokenized yet (only a server's tokenizer leaves any). */
  private async encodePending(): Promise<number[]> {
    // A loop: frames appended while the server answered are tokenized in the next round.
    for (let pending = this.promptFrames.filter((f) => f.ids === undefined); this.contextIds === undefined || pending.length > 0;
      pending = this.promptFrames.filter((f) => f.ids === undefined)) {
      const texts = pending.flatMap((frame) => pieceTexts(frame.pieces));
      if (this.contextIds === undefined) texts.unshift(this.context);
      const encode = await this.encoderFor(texts);
      this.contextIds ??= this.encodeContext(encode);
      for (const frame of pending) frame.ids ??= frameIds(frame.pieces, encode, this.ids);
    }
    return this.contextIds;
  }
}

/** The program alone does not fit in the endpoint's context. */
export class PromptTooLongError extends Error {
  constructor(readonly contextTokens: number, readonly budget: number) {
    super(
      `The program is ${contextTokens} tokens long, more than the ${budget} tokens left for a prompt in the endpoint's context. ` +
        'Trace a smaller file, or raise the context size (--context-tokens) if the server allows more.',
    );
  }
}
