// Array helpers that never spread an array into a call: a spread passes every element as an argument, and a long
// array (the tokens of a huge value, the lines of a huge file) overflows the call stack ("Maximum call stack size").

/** Appends every item to `target` (in place of `target.push(...items)`); returns `target`. */
export function appendAll<T>(target: T[], items: Iterable<T>): T[] {
  for (const item of items) target.push(item);
  return target;
}

/** The smallest value, or `ceiling` when every value is larger or there is none (in place of `Math.min(...values)`). */
export function minOf(values: Iterable<number>, ceiling = Infinity): number {
  let min = ceiling;
  for (const value of values) if (value < min) min = value;
  return min;
}

/** The largest value, or `floor` when every value is smaller or there is none (in place of `Math.max(floor, ...values)`). */
export function maxOf(values: Iterable<number>, floor = -Infinity): number {
  let max = floor;
  for (const value of values) if (value > max) max = value;
  return max;
}
