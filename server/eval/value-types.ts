// Sorts Python reprs into coarse value types (str, int, list, dict, ...) so the evaluation can say which kinds of
// values a model gets wrong. Works on the repr text alone: nothing is evaluated.

export const VALUE_TYPES = ['str', 'int', 'float', 'bool', 'None', 'list', 'tuple', 'dict', 'set', 'bytes', 'object', 'other'] as const;

export type ValueType = (typeof VALUE_TYPES)[number];

const INT = /^-?\d+$/;
const FLOAT = /^-?(?:\d+\.\d*(?:e[+-]?\d+)?|\d+e[+-]?\d+|inf|nan)$/;

/** The value type a repr stands for; `object` for `<...>` reprs (functions, iterators), `other` for everything else. */
export function valueTypeOf(repr: string): ValueType {
  const text = repr.trim();
  const first = text[0];
  if (first === "'" || first === '"') return 'str';
  if (INT.test(text)) return 'int';
  if (FLOAT.test(text)) return 'float';
  if (text === 'True' || text === 'False') return 'bool';
  if (text === 'None') return 'None';
  if (first === '[') return 'list';
  if (first === '(') return 'tuple';
  if (first === '{') return isDictDisplay(text) ? 'dict' : 'set';
  if (text === 'set()' || text.startsWith('frozenset(')) return 'set';
  if (/^b['"]/.test(text) || text.startsWith('bytearray(')) return 'bytes';
  if (first === '<') return 'object';
  return 'other';
}

/** `{}` and `{k: v, ...}` are dicts; `{a, b}` is a set: a `:` at the top level of the braces decides. */
function isDictDisplay(text: string): boolean {
  if (text === '{}') return true;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === "'" || char === '"') {
      i++;
      while (i < text.length && text[i] !== char) i += text[i] === '\\' ? 2 : 1;
      continue;
    }
    if (char === '{' || char === '[' || char === '(') depth++;
    else if (char === '}' || char === ']' || char === ')') depth--;
    else if (char === ':' && depth === 1) return true;
  }
  return false;
}
