// Links between the frames of one trace that the debugger needs at every stop: each frame's caller (for the call
// stack) and the previous frame of the same scope that carries locals (for data breakpoints). Built once per trace.

import type { TraceFrame } from '../trace/model';

/** Per-frame links, computed in one forward pass and extended as a predicted trace grows. */
export class FrameLinks {
  /** Index of the caller's current frame (the latest frame one level shallower), -1 at depth 0. */
  private parent = new Int32Array(0);
  /** Index of the previous call/line frame of the same scope, -1 when there is none. */
  private previous = new Int32Array(0);
  private built = 0;
  private readonly latestAtDepth: number[] = [];
  private readonly latestOfScope = new Map<number, number>();

  constructor(private readonly frames: readonly TraceFrame[]) {}

  /** The caller's current frame, or -1. */
  parentOf(index: number): number {
    this.buildThrough(index);
    return this.parent[index]!;
  }

  /** The previous frame of the same scope that carries locals (call or line), or -1. */
  previousInScope(index: number): number {
    this.buildThrough(index);
    return this.previous[index]!;
  }

  /** The latest call/line frame of `scope` among all frames linked so far (the whole trace after `buildAll`). */
  latestInScope(scope: number): number {
    this.buildThrough(this.frames.length - 1);
    return this.latestOfScope.get(scope) ?? -1;
  }

  private buildThrough(index: number): void {
    if (index < this.built) return;
    const end = this.frames.length;
    if (this.parent.length < end) {
      const capacity = Math.max(end, this.parent.length * 2, 64);
      const parent = new Int32Array(capacity);
      parent.set(this.parent.subarray(0, this.built));
      const previous = new Int32Array(capacity);
      previous.set(this.previous.subarray(0, this.built));
      this.parent = parent;
      this.previous = previous;
    }
    for (let i = this.built; i < end; i++) {
      const frame = this.frames[i]!;
      const depth = Math.max(0, frame.depth);
      this.parent[i] = depth === 0 ? -1 : (this.latestAtDepth[depth - 1] ?? -1);
      this.latestAtDepth[depth] = i;
      // Deeper levels belong to calls that are over once a shallower frame runs.
      this.latestAtDepth.length = depth + 1;
      this.previous[i] = this.latestOfScope.get(frame.scope) ?? -1;
      if (frame.event === 'call' || frame.event === 'line') this.latestOfScope.set(frame.scope, i);
    }
    this.built = end;
  }
}

const linksByTrace = new WeakMap<readonly TraceFrame[], FrameLinks>();

/** The links of a frames array; a new array (a what-if, a restart) gets new links. */
export function linksOf(frames: readonly TraceFrame[]): FrameLinks {
  let links = linksByTrace.get(frames);
  if (links === undefined) {
    links = new FrameLinks(frames);
    linksByTrace.set(frames, links);
  }
  return links;
}

/** Indices of the frames of the scope chain at `index`, innermost first: the frame itself, its caller's current frame... */
export function scopeChain(frames: readonly TraceFrame[], index: number): number[] {
  const links = linksOf(frames);
  const chain: number[] = [];
  for (let i = index; i >= 0 && chain.length < 10_000; i = links.parentOf(i)) chain.push(i);
  return chain;
}
