// The client's own max_tokens, enforced on every backend whatever the server does: per choice in all, and per frame
// (the tokens between two <|frame_sep|>), so an endless or huge value is cut here instead of streaming until a timeout.

/** Most tokens one frame may take in a rollout when the request names no limit (one frame of 4096 tokens). */
export const DEFAULT_MAX_TOKENS_PER_FRAME = 4096;

import type { TokenCut } from './types';

/** Which limit cut a choice. */
export type TokenLimit = TokenCut['limit'];

export interface BudgetLimits {
  /** The request's max_tokens, per choice. */
  readonly maxTokens: number;
  /** Most tokens of one frame, its closing `<|frame_sep|>` not counted. */
  readonly maxTokensPerFrame: number;
  readonly frameSep: number;
  /** Ids that end a choice (the stop tokens the request asked for). */
  readonly stopIds: readonly number[];
  /** Number of choices (n). */
  readonly choices: number;
}

export class TokenBudget {
  private readonly total: number[] = [];
  private readonly inFrame: number[] = [];
  private readonly cutBy: (TokenLimit | undefined)[] = [];
  private readonly stopped: boolean[] = [];

  constructor(readonly limits: BudgetLimits) {}

  /**
   * The ids of a chunk that fit the limits. Once a choice passes a limit it is cut: the ids past the limit and every
   * later one are dropped. Ids after a stop id are dropped too (a server must not send any).
   */
  admit(choice: number, ids: readonly number[]): number[] {
    if (this.cutBy[choice] !== undefined || this.stopped[choice] === true) return [];
    const { maxTokens, maxTokensPerFrame, frameSep, stopIds } = this.limits;
    let total = this.total[choice] ?? 0;
    let frame = this.inFrame[choice] ?? 0;
    let k = 0;
    for (; k < ids.length; k++) {
      const id = ids[k]!;
      if (total >= maxTokens) {
        this.cutBy[choice] = 'request';
        break;
      }
      // The separator closing a frame is not counted, so a frame of exactly the limit still ends normally.
      if (id !== frameSep && frame >= maxTokensPerFrame) {
        this.cutBy[choice] = 'frame';
        break;
      }
      total++;
      frame = id === frameSep ? 0 : frame + 1;
      if (stopIds.includes(id)) {
        this.stopped[choice] = true;
        k++;
        break;
      }
    }
    this.total[choice] = total;
    this.inFrame[choice] = frame;
    return k === ids.length ? (ids as number[]) : ids.slice(0, k);
  }

  /** The limit that cut this choice, if one did. */
  cut(choice: number): TokenLimit | undefined {
    return this.cutBy[choice];
  }

  /** The cut of a choice with the size of the limit, for results and messages. */
  cutOf(choice: number): TokenCut | undefined {
    const limit = this.cutBy[choice];
    if (limit === undefined) return undefined;
    return { limit, tokens: limit === 'frame' ? this.limits.maxTokensPerFrame : this.limits.maxTokens };
  }

  /** True when some choice was cut and every choice is cut or stopped: nothing more of this answer is wanted. */
  get exhausted(): boolean {
    let anyCut = false;
    for (let c = 0; c < this.limits.choices; c++) {
      if (this.cutBy[c] !== undefined) anyCut = true;
      else if (this.stopped[c] !== true) return false;
    }
    return anyCut;
  }

  /** Tokens admitted for a choice. */
  tokens(choice: number): number {
    return this.total[choice] ?? 0;
  }
}

/** The limits of a request: its own max_tokens, and per frame the request's limit or the default. */
export function budgetLimits(
  request: { maxTokens: number; maxTokensPerFrame?: number; stopAtFrameEnd: boolean; n?: number },
  ids: { frameSep: number; stops: readonly number[] },
): BudgetLimits {
  // One frame asked for: max_tokens is that frame's limit already.
  const perFrame = request.maxTokensPerFrame ?? (request.stopAtFrameEnd ? request.maxTokens : DEFAULT_MAX_TOKENS_PER_FRAME);
  return {
    maxTokens: request.maxTokens,
    maxTokensPerFrame: perFrame,
    frameSep: ids.frameSep,
    stopIds: request.stopAtFrameEnd ? [ids.frameSep, ...ids.stops] : [...ids.stops],
    choices: request.n ?? 1,
  };
}
