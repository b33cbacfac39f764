// Value equality for comparing predicted and real reprs: folds known Python-version-only repr differences, memory
// addresses and set element order, and lets a value cut by the tracer's truncation marker match its prefix.

import { TRUNCATION_MARKER } from '../trace/model';

/**
 * Rewrites that make reprs from different CPython versions comparable (spec, "Open points").
 * Since 3.11 an iterator over an ASCII-only string is a `str_ascii_iterator`; 3.10 and earlier say `str_iterator`, and
 * the model has seen both.
 */
const VERSION_SYNONYMS: readonly (readonly [RegExp, string])[] = [[/<str_ascii_iterator object\b/g, '<str_iterator object']];

/** The tracer strips ` at 0x7f…` from reprs; the model may still write one, and Windows pads them with zeros. */
const ADDRESS = / at 0x[0-9a-fA-F]+/g;

/** A repr with addresses removed and version-only spellings folded to one form (cheap: two regexes, often none). */
export function normalizeSpelling(value: string): string {
  // Both rewrites apply inside `<…>` reprs only; one scan for `<` clears most values, long containers included.
  if (!value.includes('<') || (!value.includes(' at 0x') && !value.includes('_iterator'))) return value;
  let result = value.replace(ADDRESS, '');
  for (const [pattern, replacement] of VERSION_SYNONYMS) result = result.replace(pattern, replacement);
  return result;
}

/** The canonical form values are compared in: `normalizeSpelling`, then set elements sorted. */
export function normalizeRepr(value: string): string {
  const spelled = normalizeSpelling(value);
  return spelled.includes('{') ? sortSetElements(spelled) : spelled;
}

const CLOSERS: Readonly<Record<string, string>> = { '(': ')', '[': ']', '{': '}' };

/**
 * Sorts the elements of every set display (`{…}` with no `key: value` at its top level) in a repr, quotes respected.
 * The order of a set of strings or bytes depends on the per-process hash seed (PYTHONHASHSEED), so neither the model
 * nor a second run can be expected to reproduce it. Dicts keep their (insertion) order. Unbalanced text (a truncated
 * repr) is kept as it is.
 */
export function sortSetElements(repr: string): string {
  if (!containsSetDisplay(repr)) return repr;
  let position = 0;

  const readQuoted = (): string => {
    const quote = repr[position]!;
    let end = position + 1;
    while (end < repr.length && repr[end] !== quote) end += repr[end] === '\\' ? 2 : 1;
    const text = repr.slice(position, end + 1);
    position = end + 1;
    return text;
  };

  /** Reads up to `closer` (not consumed); returns the canonical text, its top-level items, and whether a top-level `:` occurred. */
  const readGroup = (closer: string | undefined): { text: string; items: string[]; mapping: boolean } => {
    let text = '';
    let item = '';
    const items: string[] = [];
    let mapping = false;
    while (position < repr.length) {
      const char = repr[position]!;
      if (char === closer) break;
      if (char === "'" || char === '"') {
        const quoted = readQuoted();
        text += quoted;
        item += quoted;
        continue;
      }
      const nestedCloser = CLOSERS[char];
      if (nestedCloser !== undefined) {
        position++;
        const inner = readGroup(nestedCloser);
        const closed = repr[position] === nestedCloser;
        if (closed) position++;
        const body = char === '{' && closed && !inner.mapping && inner.items.length > 1 ? [...inner.items].sort().join(', ') : inner.text;
        const nested = `${char}${body}${closed ? nestedCloser : ''}`;
        text += nested;
        item += nested;
        continue;
      }
      position++;
      text += char;
      if (char === ',') {
        items.push(item.trim());
        item = '';
      } else {
        if (char === ':') mapping = true;
        item += char;
      }
    }
    if (item.trim() !== '') items.push(item.trim());
    return { text, items, mapping };
  };

  let result = '';
  while (position < repr.length) {
    result += readGroup(undefined).text;
    // A stray closer at the top level: keep it and go on.
    if (position < repr.length) result += repr[position++];
  }
  return result;
}

const QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_PAREN = 0x28;
const OPEN_BRACKET = 0x5b;

/** A quick scan (no strings built) for a closed `{…}` with several items and no top-level `:`, so dict-heavy reprs stay cheap. */
function containsSetDisplay(repr: string): boolean {
  const closers: number[] = [];
  const sawColon: boolean[] = [];
  const sawComma: boolean[] = [];
  for (let i = 0; i < repr.length; i++) {
    const code = repr.charCodeAt(i);
    if (code === QUOTE || code === DOUBLE_QUOTE) {
      i++;
      while (i < repr.length && repr.charCodeAt(i) !== code) i += repr.charCodeAt(i) === BACKSLASH ? 2 : 1;
      continue;
    }
    if (code === OPEN_PAREN || code === OPEN_BRACKET || code === OPEN_BRACE) {
      // `)` is `(` + 1; `]` and `}` are `[` and `{` + 2.
      closers.push(code === OPEN_PAREN ? code + 1 : code + 2);
      sawColon.push(false);
      sawComma.push(false);
      continue;
    }
    const depth = closers.length - 1;
    if (depth < 0) continue;
    if (code === closers[depth]) {
      closers.pop();
      const colon = sawColon.pop();
      const comma = sawComma.pop();
      if (code === CLOSE_BRACE && comma && !colon) return true;
    } else if (code === COLON) {
      sawColon[depth] = true;
    } else if (code === COMMA) {
      sawComma[depth] = true;
    }
  }
  return false;
}

/** True when the tracer cut this value at its repr length limit. */
export function isTruncated(value: string): boolean {
  return value.endsWith(TRUNCATION_MARKER);
}

/** The part of a truncated value that was kept; the whole value otherwise. */
function keptText(value: string): string {
  return isTruncated(value) ? value.slice(0, value.length - TRUNCATION_MARKER.length) : value;
}

/** Whether `full` starts with the kept `prefix`, as written or with spellings normalised (a cut set cannot be sorted). */
function extendsPrefix(full: string, prefix: string): boolean {
  return full.startsWith(prefix) || normalizeSpelling(full).startsWith(normalizeSpelling(prefix));
}

/** Equality of canonical forms, sorting sets only when it can matter: sorting keeps the length, so equal lengths are needed. */
function sameCanonicalRepr(actual: string, predicted: string): boolean {
  const actualSpelled = normalizeSpelling(actual);
  const predictedSpelled = normalizeSpelling(predicted);
  if (actualSpelled === predictedSpelled) return true;
  if (actualSpelled.length !== predictedSpelled.length || !actualSpelled.includes('{')) return false;
  return sortSetElements(actualSpelled) === sortSetElements(predictedSpelled);
}

/**
 * Whether a predicted repr stands for the same value as a real one: equal after normalisation, or, when either side
 * carries the truncation marker, when the other side starts with the kept prefix (both truncated: one prefix extends
 * the other).
 */
export function valuesEqual(actual: string, predicted: string): boolean {
  if (actual === predicted) return true;
  const actualCut = isTruncated(actual);
  const predictedCut = isTruncated(predicted);
  if (!actualCut && !predictedCut) return sameCanonicalRepr(actual, predicted);
  const actualText = keptText(actual);
  const predictedText = keptText(predicted);
  if (actualCut && predictedCut) return extendsPrefix(actualText, predictedText) || extendsPrefix(predictedText, actualText);
  return actualCut ? extendsPrefix(predictedText, actualText) : extendsPrefix(actualText, predictedText);
}
