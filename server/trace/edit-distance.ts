// Levenshtein distance between two short strings: the CLI's "did you mean" and the inverse search's closeness of a
// returned value to the one asked for both measure with it.

/** Edits (insert, delete, replace one character) that turn `a` into `b`; quadratic, so callers keep the strings short. */
export function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}
