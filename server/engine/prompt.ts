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
export function frameIds(pieces: FramePieces, codec: TokenCodec, ids: SpecialIds): number[] {
  const out = [ids.events[pieces.event]];
  if (pieces.locals !== undefined) appendAll(out, codec.encodeOrdinary(pieces.locals));
  out.push(ids.actionSep);
  appendAll(out, codec.encodeOrdinary(pieces.line));
  if (pieces.value !== undefined) appendAll(out, [ids.argSep, ...codec.encodeOrdinary(pieces.value)]);
  out.push(ids.frameSep);
  return out;
}

/**
 * The growing prompt of one rollout: the context's ids once, then each frame's ids as it is appended.
 * Frames are never re-tokenized, so a prompt grows in time proportional to the new frame only.
 */
export class PromptBuilder {
  private readonly contextIds: number[];
  private readonly frameTokenIds: number[][] = [];
  private encoder: CwmFrameEncoder;
  readonly ids: SpecialIds;

  constructor(private readonly context: string, private readonly codec: TokenCodec) {
    this.ids = specialIds(codec);
    this.contextIds = [this.ids.beginOfText, this.ids.traceContextStart, ...codec.encodeOrdinary(context), this.ids.frameSep];
    this.encoder = new CwmFrameEncoder(context);
  }

  get frameCount(): number {
    return this.frameTokenIds.length;
  }

  get contextTokenCount(): number {
    return this.contextIds.length;
  }

  /** Tokens of context plus all frames. */
  get tokenCount(): number {
    let total = this.contextIds.length;
    for (const frame of this.frameTokenIds) total += frame.length;
    return total;
  }

  append(frame: TraceFrame): void {
    this.frameTokenIds.push(frameIds(this.encoder.renderFramePieces(frame), this.codec, this.ids));
  }

  /** Keeps the first `count` frames (used when the user edits the past); the encoder replays them. */
  truncate(frames: readonly TraceFrame[], count: number): void {
    this.frameTokenIds.length = Math.min(count, this.frameTokenIds.length);
    this.encoder = new CwmFrameEncoder(this.context, frames.slice(0, this.frameTokenIds.length));
  }

  /**
   * The prompt ids, optionally ending with a forced event token, within `budget` tokens.
   * When the frames do not fit, the oldest frames are left out and the rest re-rendered from scratch so that the
   * first kept frames carry full values (a `".."` must never point at a frame the model cannot see).
   */
  build(frames: readonly TraceFrame[], budget: number, forced?: TraceEventKind): { ids: number[]; droppedFrames: number } {
    const forcedIds = forced ? [this.ids.events[forced]] : [];
    const total = this.tokenCount + forcedIds.length;
    if (total <= budget) {
      const ids = this.contextIds.slice();
      for (const frame of this.frameTokenIds) for (const id of frame) ids.push(id);
      appendAll(ids, forcedIds);
      return { ids, droppedFrames: 0 };
    }
    const room = budget - this.contextIds.length - forcedIds.length;
    if (room <= 0) {
      throw new PromptTooLongError(this.contextIds.length, budget);
    }
    // Walk back from the newest frame while the estimate fits; re-render that window with a fresh encoder.
    let start = this.frameTokenIds.length;
    let used = 0;
    while (start > 0 && used + this.frameTokenIds[start - 1]!.length <= room) used += this.frameTokenIds[--start]!.length;
    for (;;) {
      const encoder = new CwmFrameEncoder(this.context);
      const windowIds: number[] = [];
      for (const frame of frames.slice(start)) appendAll(windowIds, frameIds(encoder.renderFramePieces(frame), this.codec, this.ids));
      // Full values take more tokens than `".."`, so the window may need to shrink further.
      if (windowIds.length <= room || start >= frames.length) {
        return { ids: [...this.contextIds, ...windowIds, ...forcedIds], droppedFrames: start };
      }
      start += Math.max(1, Math.ceil((frames.length - start) / 10));
    }
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
