// Longest-common-subsequence matching of integer key sequences, fast when similar and bounded always: common ends,
// Myers O((N+M)·D) with D capped, an exact table when N·M is small, then unique-key anchors, then a greedy walk.

/** How much exact search a matching may spend before a range falls back to heuristics. */
export interface DiffLimits {
  /** Largest edit distance Myers' algorithm explores; its memory grows with the square of this. */
  readonly maxEditDistance: number;
  /** Largest N·M for which the exact quadratic table is used (one byte per cell). */
  readonly maxDpCells: number;
  /** Work units (compared cells, snake steps) one matching may spend, or several sharing one `WorkBudget`. */
  readonly maxWork: number;
}

export const DEFAULT_DIFF_LIMITS: DiffLimits = {
  maxEditDistance: 2000,
  maxDpCells: 25_000_000,
  maxWork: 40_000_000,
};

/** Pairs of matched positions, both strictly increasing. */
export interface MatchedPairs {
  readonly a: number[];
  readonly b: number[];
  /** True when a limit made some range fall back to a heuristic (unique-key anchors, greedy walk): maybe not a longest match. */
  approximate: boolean;
}

/** Anchor splitting recurses at most this deep; each level only looks at keys unique inside its range. */
const MAX_ANCHOR_DEPTH = 6;

/** Work units left to a matching; one budget can be shared by several calls so that many gaps cost no more than one. */
export class WorkBudget {
  constructor(private remaining: number) {}

  spend(units: number): boolean {
    if (units > this.remaining) {
      this.remaining = 0;
      return false;
    }
    this.remaining -= units;
    return true;
  }

  canAfford(units: number): boolean {
    return units <= this.remaining;
  }
}

/**
 * Matches `a[aLo..aHi)` against `b[bLo..bHi)`: returns positions with equal keys, in order, as many as the limits allow
 * (a longest common subsequence when `approximate` is false).
 */
export function matchSequences(
  a: Int32Array,
  b: Int32Array,
  aLo = 0,
  aHi = a.length,
  bLo = 0,
  bHi = b.length,
  limits: DiffLimits = DEFAULT_DIFF_LIMITS,
  confirmAnchor: (i: number, j: number) => boolean = () => true,
  budget: WorkBudget = new WorkBudget(limits.maxWork),
): MatchedPairs {
  const out: MatchedPairs = { a: [], b: [], approximate: false };
  const search: Search = { a, b, limits, budget, out, confirmAnchor };
  matchRange(search, aLo, aHi, bLo, bHi, 0);
  return out;
}

/** What every step of one matching shares. */
interface Search {
  readonly a: Int32Array;
  readonly b: Int32Array;
  readonly limits: DiffLimits;
  readonly budget: WorkBudget;
  readonly out: MatchedPairs;
  /** Anchors are taken on one key each, far from any other evidence: keys that are hashes get checked here first. */
  readonly confirmAnchor: (i: number, j: number) => boolean;
}

function matchRange(search: Search, aLo: number, aHi: number, bLo: number, bHi: number, anchorDepth: number): void {
  const { a, b, budget, out } = search;
  let prefix = 0;
  while (aLo + prefix < aHi && bLo + prefix < bHi && a[aLo + prefix] === b[bLo + prefix]) {
    out.a.push(aLo + prefix);
    out.b.push(bLo + prefix);
    prefix++;
  }
  aLo += prefix;
  bLo += prefix;
  let suffix = 0;
  while (aHi - suffix > aLo && bHi - suffix > bLo && a[aHi - suffix - 1] === b[bHi - suffix - 1]) suffix++;
  const innerAHi = aHi - suffix;
  const innerBHi = bHi - suffix;
  budget.spend(prefix + suffix);

  matchInner(search, aLo, innerAHi, bLo, innerBHi, anchorDepth);

  for (let i = 0; i < suffix; i++) {
    out.a.push(innerAHi + i);
    out.b.push(innerBHi + i);
  }
}

/** The middle of a range whose first and last keys differ on both sides. */
function matchInner(search: Search, aLo: number, aHi: number, bLo: number, bHi: number, anchorDepth: number): void {
  const { a, b, limits, budget, out } = search;
  const n = aHi - aLo;
  const m = bHi - bLo;
  if (n === 0 || m === 0) return;

  // D is at least |n - m|, so Myers cannot succeed under the cap when the sizes are that far apart.
  if (Math.abs(n - m) <= limits.maxEditDistance) {
    const maxD = Math.min(n + m, limits.maxEditDistance);
    if (myers(a, b, aLo, n, bLo, m, maxD, budget, out)) return;
  }
  if (n * m <= limits.maxDpCells && budget.canAfford(n * m)) {
    budget.spend(n * m);
    tableLcs(a, b, aLo, n, bLo, m, out);
    return;
  }
  if (budget.spend(n + m)) {
    const { anchors, sharesAnyKey } = uniqueAnchors(a, b, aLo, aHi, bLo, bHi, search.confirmAnchor);
    // Nothing in common: matching nothing is the exact answer.
    if (!sharesAnyKey) return;
    if (anchors.length > 0 && anchorDepth < MAX_ANCHOR_DEPTH) {
      out.approximate = true;
      let previousA = aLo;
      let previousB = bLo;
      for (const [anchorA, anchorB] of anchors) {
        matchRange(search, previousA, anchorA, previousB, anchorB, anchorDepth + 1);
        out.a.push(anchorA);
        out.b.push(anchorB);
        previousA = anchorA + 1;
        previousB = anchorB + 1;
      }
      matchRange(search, previousA, aHi, previousB, bHi, anchorDepth + 1);
      return;
    }
  }
  greedyMatch(a, b, aLo, aHi, bLo, bHi, out);
  out.approximate = true;
}

/** How far ahead (on both sides together) the greedy fallback looks for the next equal pair. */
const GREEDY_WINDOW = 10;

/**
 * Linear fallback when the exact searches are out of reach: walks both ranges together, pairing equal keys and, at a
 * mismatch, jumping to the nearest equal pair within a small window (fewest skipped items first). Items it steps over
 * stay unmatched. Cost O((n + m) · window²), independent of the budget.
 */
function greedyMatch(a: Int32Array, b: Int32Array, aLo: number, aHi: number, bLo: number, bHi: number, out: MatchedPairs): void {
  let i = aLo;
  let j = bLo;
  while (i < aHi && j < bHi) {
    if (a[i] === b[j]) {
      out.a.push(i++);
      out.b.push(j++);
      continue;
    }
    let found = false;
    for (let skipped = 1; skipped <= GREEDY_WINDOW && !found; skipped++) {
      for (let skipA = 0; skipA <= skipped; skipA++) {
        const x = i + skipA;
        const y = j + skipped - skipA;
        if (x < aHi && y < bHi && a[x] === b[y]) {
          i = x;
          j = y;
          found = true;
          break;
        }
      }
    }
    if (!found) {
      i++;
      j++;
    }
  }
}

/**
 * Myers' greedy shortest-edit-script search, keeping each round's furthest-reaching x per diagonal so the path can be
 * walked back; memory is (D+1)² integers. Returns false (and adds nothing) when D would exceed `maxD` or the budget.
 */
function myers(
  a: Int32Array,
  b: Int32Array,
  aLo: number,
  n: number,
  bLo: number,
  m: number,
  maxD: number,
  budget: WorkBudget,
  out: MatchedPairs,
): boolean {
  const offset = maxD + 1;
  const v = new Int32Array(2 * maxD + 3);
  const rounds: Int32Array[] = [];
  for (let d = 0; d <= maxD; d++) {
    let work = d + 1;
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      let y = x - k;
      const startX = x;
      while (x < n && y < m && a[aLo + x] === b[bLo + y]) {
        x++;
        y++;
      }
      work += x - startX;
      v[offset + k] = x;
      if (x >= n && y >= m) {
        budget.spend(work);
        walkBack(rounds, d, n, m, aLo, bLo, out);
        return true;
      }
    }
    if (!budget.spend(work)) return false;
    rounds.push(v.slice(offset - d, offset + d + 1));
  }
  return false;
}

/** Replays the choices of each Myers round backwards from (n, m) and appends the diagonal (matched) steps in order. */
function walkBack(rounds: readonly Int32Array[], finalD: number, n: number, m: number, aLo: number, bLo: number, out: MatchedPairs): void {
  // Matches come out last first.
  const matchedA = new Int32Array(Math.min(n, m));
  const matchedB = new Int32Array(Math.min(n, m));
  let count = 0;
  let x = n;
  let y = m;
  for (let d = finalD; d > 0; d--) {
    const previous = rounds[d - 1]!;
    // previous[k + (d - 1)] is the furthest x on diagonal k after round d - 1.
    const k = x - y;
    const down = k === -d || (k !== d && previous[k - 1 + d - 1]! < previous[k + 1 + d - 1]!);
    const previousK = down ? k + 1 : k - 1;
    const previousX = previous[previousK + d - 1]!;
    const snakeStartX = down ? previousX : previousX + 1;
    while (x > snakeStartX) {
      x--;
      y--;
      matchedA[count] = aLo + x;
      matchedB[count++] = bLo + y;
    }
    x = previousX;
    y = previousX - previousK;
  }
  while (x > 0 && y > 0) {
    x--;
    y--;
    matchedA[count] = aLo + x;
    matchedB[count++] = bLo + y;
  }
  for (let i = count - 1; i >= 0; i--) {
    out.a.push(matchedA[i]!);
    out.b.push(matchedB[i]!);
  }
}

/**
 * Exact LCS by the quadratic table over suffixes, so the forward walk can take a match as soon as it sees one and,
 * between equally long choices, skips the `a` item: matches land as early as possible in `b`.
 */
function tableLcs(a: Int32Array, b: Int32Array, aLo: number, n: number, bLo: number, m: number, out: MatchedPairs): void {
  const SKIP_A = 1;
  const SKIP_B = 2;
  const choice = new Uint8Array(n * m);
  let below = new Int32Array(m + 1);
  let current = new Int32Array(m + 1);
  for (let i = n - 1; i >= 0; i--) {
    current[m] = 0;
    const key = a[aLo + i];
    const row = i * m;
    for (let j = m - 1; j >= 0; j--) {
      if (key === b[bLo + j]) {
        current[j] = below[j + 1]! + 1;
      } else if (below[j]! >= current[j + 1]!) {
        current[j] = below[j]!;
        choice[row + j] = SKIP_A;
      } else {
        current[j] = current[j + 1]!;
        choice[row + j] = SKIP_B;
      }
    }
    const swap = below;
    below = current;
    current = swap;
  }
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const step = choice[i * m + j];
    if (step === SKIP_A) i++;
    else if (step === SKIP_B) j++;
    else {
      out.a.push(aLo + i);
      out.b.push(bLo + j);
      i++;
      j++;
    }
  }
}

/**
 * Keys that occur exactly once on each side, reduced to the longest run whose positions increase on both (patience
 * diff); also says whether the two ranges share any key at all.
 */
function uniqueAnchors(
  a: Int32Array,
  b: Int32Array,
  aLo: number,
  aHi: number,
  bLo: number,
  bHi: number,
  confirm: (i: number, j: number) => boolean,
): { anchors: [number, number][]; sharesAnyKey: boolean } {
  // Position of a key seen once, or -1 once seen twice.
  const inA = new Map<number, number>();
  for (let i = aLo; i < aHi; i++) {
    const key = a[i]!;
    inA.set(key, inA.has(key) ? -1 : i);
  }
  const inB = new Map<number, number>();
  for (let j = bLo; j < bHi; j++) {
    const key = b[j]!;
    if (inA.has(key)) inB.set(key, inB.has(key) ? -1 : j);
  }
  const candidates: [number, number][] = [];
  for (let j = bLo; j < bHi; j++) {
    const key = b[j]!;
    const positionB = inB.get(key);
    const positionA = inA.get(key);
    if (positionB === j && positionA !== undefined && positionA >= 0 && confirm(positionA, j)) candidates.push([positionA, j]);
  }
  return { anchors: longestIncreasingByA(candidates), sharesAnyKey: inB.size > 0 };
}

/** Longest subsequence of pairs (already increasing in their second item) whose first items increase too. */
function longestIncreasingByA(pairs: readonly [number, number][]): [number, number][] {
  const tailIndex: number[] = [];
  const parent = new Int32Array(pairs.length).fill(-1);
  for (let p = 0; p < pairs.length; p++) {
    const value = pairs[p]![0];
    let lo = 0;
    let hi = tailIndex.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pairs[tailIndex[mid]!]![0] < value) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) parent[p] = tailIndex[lo - 1]!;
    tailIndex[lo] = p;
  }
  const result: [number, number][] = [];
  let p = tailIndex.length > 0 ? tailIndex[tailIndex.length - 1]! : -1;
  while (p >= 0) {
    result.push(pairs[p]!);
    p = parent[p]!;
  }
  return result.reverse();
}
