// Steering for inverse execution: a near miss's call frame edited toward the target, one argument at a time, with the
// literals the program compares against (those in the target's guards first) and small moves around the current value.

import { splitSourceLines } from '../cwm/lines';
import type { Locals } from '../trace/model';
import { evaluateExpression } from '../values/py-interpret';
import { reprOf, strRepr, type PyValue } from '../values/py-values';

export interface ProgramLiterals {
  readonly ints: readonly bigint[];
  readonly strs: readonly string[];
}

const INT_LITERAL = /(?<![\w.'"])\d+(?![\w.])/g;
const STRING_LITERAL = /'([^'\\\n]{0,40})'|"([^"\\\n]{0,40})"/g;
const MAX_LITERALS = 24;

/** Literals of the program, those on `firstLines` (the target's guards) first, each once. */
export function programLiterals(source: string, firstLines: readonly number[]): ProgramLiterals {
  const lines = splitSourceLines(source);
  const order = [...firstLines.map((line) => lines[line - 1] ?? ''), ...lines];
  const ints = new Map<string, bigint>();
  const strs = new Set<string>();
  for (const raw of order) {
    const text = raw.replace(/#.*$/, '');
    for (const match of text.replace(STRING_LITERAL, '""').matchAll(INT_LITERAL)) {
      if (ints.size < MAX_LITERALS) ints.set(match[0], BigInt(match[0]));
    }
    for (const match of text.matchAll(STRING_LITERAL)) {
      if (strs.size < MAX_LITERALS) strs.add(match[1] ?? match[2] ?? '');
    }
  }
  return { ints: [...ints.values()], strs: [...strs] };
}

/** Reprs to try in place of one value: the literals first (and their neighbours), then small moves. */
function alternativesFor(value: PyValue, literals: ProgramLiterals): string[] {
  const out: string[] = [];
  switch (value.t) {
    case 'int': {
      // Small moves (a local search) interleaved with the literals the program compares against (boundaries), then
      // the literals' neighbours (off-by-one bounds).
      const v = value.v;
      const moves = [v + 1n, v - 1n, v * 2n, v / 2n, -v, 0n].map(String);
      const ks = literals.ints.map(String);
      for (let k = 0; k < Math.max(moves.length, ks.length); k++) {
        if (k < moves.length) out.push(moves[k]!);
        if (k < ks.length) out.push(ks[k]!);
      }
      for (const k of literals.ints) out.push(String(k + 1n), String(k - 1n), String(-k));
      break;
    }
    case 'bool':
      out.push(value.v ? 'False' : 'True');
      break;
    case 'float':
      for (const k of literals.ints) out.push(`${k}.0`, `${k}.5`);
      break;
    case 'str': {
      const v = value.v;
      for (const s of literals.strs) out.push(strRepr(s), strRepr(v + s), strRepr(s + v));
      out.push(strRepr(''), strRepr(v.toUpperCase()), strRepr([...v].reverse().join('')));
      break;
    }
    case 'list': {
      const items = value.items.map((item) => reprOf(item));
      for (const k of literals.ints.slice(0, 6)) out.push(`[${[...items, String(k)].join(', ')}]`);
      for (const s of literals.strs.slice(0, 6)) out.push(`[${[...items, strRepr(s)].join(', ')}]`);
      if (items.length > 0) out.push(`[${items.slice(0, -1).join(', ')}]`, `[${[...items, items[0]].join(', ')}]`);
      break;
    }
    default:
      break;
  }
  return out;
}

/**
 * Call frames one edit away from `locals`: each argument in turn replaced by an alternative. Frames whose argument list
 * is in `seen` are skipped; at most `limit` are returned, spread over the arguments.
 */
export function editedCallFrames(locals: Locals, literals: ProgramLiterals, limit: number, seen: (edited: Locals) => boolean): Locals[] {
  const perName: Locals[][] = [];
  for (const [name, repr] of locals) {
    const evaluation = evaluateExpression(repr, new Map());
    if (!evaluation.ok) continue;
    const edits: Locals[] = [];
    for (const alternative of new Set(alternativesFor(evaluation.value, literals))) {
      if (alternative === repr) continue;
      const edited = new Map(locals);
      edited.set(name, alternative);
      if (!seen(edited)) edits.push(edited);
    }
    perName.push(edits);
  }
  // Round-robin over the arguments, so one long literal list does not crowd out the others.
  const out: Locals[] = [];
  for (let k = 0; out.length < limit && perName.some((edits) => k < edits.length); k++) {
    for (const edits of perName) if (k < edits.length && out.length < limit) out.push(edits[k]!);
  }
  return out;
}
