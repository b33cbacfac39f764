// Renders trace frames as a terminal table: step, event, line, source (indented by call depth), changed locals.
// Rows are produced one at a time so a trace can be printed while it streams in; every row fits the given width,
// counted in terminal columns, and every piece of program or model text has its control characters escaped.

import { DEFAULT_UNSURE_THRESHOLD, frameMinConfidence, percent } from '../trace/confidence';
import type { TraceFrame } from '../trace/model';
import { isImpossibleIssue } from '../engine/flow-check';
import { displayWidth, fitWidth, padEndWidth, padStartWidth, visible, visibleSource } from './terminal';

export interface TableStyle {
  /** Total width to fit, in columns. */
  width: number;
  color: boolean;
  /** A `sure` column: each predicted frame's least confidence (its action or a value it writes), ⚠ under the threshold. */
  confidence?: boolean;
}

/** `⚠ 30%` is the widest confidence cell. */
const CONFIDENCE_WIDTH = 6;

const ansi = {
  dim: (s: string) => `\x1b[2m${s}\x1b[22m`,
  bold: (s: string) => `\x1b[1m${s}\x1b[22m`,
  red: (s: string) => `\x1b[31m${s}\x1b[39m`,
  green: (s: string) => `\x1b[32m${s}\x1b[39m`,
  yellow: (s: string) => `\x1b[33m${s}\x1b[39m`,
  cyan: (s: string) => `\x1b[36m${s}\x1b[39m`,
};

export type Paint = (kind: keyof typeof ansi, text: string) => string;

export function painter(color: boolean): Paint {
  return color ? (kind, text) => ansi[kind](text) : (_kind, text) => text;
}

/** Cuts text to at most `width` columns, marking the cut with an ellipsis. */
export const fit = fitWidth;
export const padRight = padEndWidth;
export const padLeft = padStartWidth;

/** `n step` / `n steps`. */
export function steps(count: number, noun = 'step'): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}

/** Splits a sentence into lines of at most `width` columns, breaking at spaces (a longer word is cut). */
export function wrap(text: string, width: number, indent = ''): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of visible(text).split(' ')) {
    const candidate = line ? `${line} ${word}` : word;
    if (displayWidth(candidate) <= width || !line) line = candidate;
    else {
      lines.push(line);
      line = indent + word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines.map((l) => fitWidth(l, width));
}

/** Names the compiler makes (a comprehension's `.0`, `__class__` of a method using super()): kept in the trace, not shown as changes. */
export function isCompilerMadeLocal(name: string): boolean {
  return name === '__class__' || name === '__classdictcell__' || name === '__classcell__' || !/^[\p{L}_][\p{L}\p{N}_]*$/u.test(name);
}

/** A Python string literal's text (the common escapes undone), or undefined when `literal` is not exactly one literal. */
function pythonStringText(literal: string): string | undefined {
  const match = /^(['"])((?:\\.|(?!\1)[^\\])*)\1$/s.exec(literal);
  if (!match) return undefined;
  return match[2]!.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)/gs, (_all, escape: string) => {
    switch (escape[0]) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'x': case 'u': case 'U': return String.fromCodePoint(parseInt(escape.slice(1), 16));
      default: return escape;
    }
  });
}

/**
 * An exception frame's value as Python prints it, `ValueError: bad input`, from the `(type, value, traceback)` repr
 * that the trace holds; anything else (a cut or unusual value) is shown as it is.
 */
export function describeException(value: string): string {
  const match = /^\(<class '([^']+)'>, (.*), <traceback object>\)$/s.exec(value);
  if (!match) return value;
  const type = match[1]!.replace(/^(builtins|__main__)\./, '');
  const call = /^[\w.]+\((.*)\)$/s.exec(match[2]!);
  if (!call) return `${type}: ${match[2]}`;
  const args = call[1]!;
  if (args === '') return type;
  const text = type === 'KeyError' ? undefined : pythonStringText(args);
  return `${type}: ${text ?? args}`;
}

/**
 * What a frame shows in the "changed" column: for call frames every argument, for line frames the names whose value differs
 * from the previous locals-bearing frame of the same scope, for return/exception frames the value.
 */
export class ChangeTracker {
  /** Only live scopes: a scope's entry goes when it returns, so a long trace does not grow this. */
  private readonly lastLocalsByScope = new Map<number, ReadonlyMap<string, string>>();

  describe(frame: TraceFrame): string {
    if (frame.event === 'return') {
      this.lastLocalsByScope.delete(frame.scope);
      return `→ ${frame.value ?? ''}`;
    }
    if (frame.event === 'exception') return `! ${describeException(frame.value ?? '')}`;
    const previous = frame.event === 'call' ? undefined : this.lastLocalsByScope.get(frame.scope);
    this.lastLocalsByScope.set(frame.scope, frame.locals);
    const parts: string[] = [];
    for (const [name, value] of frame.locals) {
      if (previous?.get(name) !== value && !isCompilerMadeLocal(name)) parts.push(`${name}=${value}`);
    }
    if (previous) {
      for (const name of previous.keys()) if (!frame.locals.has(name) && !isCompilerMadeLocal(name)) parts.push(`del ${name}`);
    }
    return parts.join('  ');
  }
}

/**
 * A source line in a column of `width`: indented by call depth on top of the code's own indentation. In a narrow
 * column both are halved (one column per depth, half the code's indentation), so the code itself stays visible.
 */
export function sourceCell(sourceLine: string, depth: number, width: number, narrow = width < 40): string {
  const code = visibleSource(sourceLine.trimEnd());
  const own = /^ */.exec(code)![0].length;
  const indent = narrow ? Math.min(depth, 12) + Math.floor(own / 2) : 2 * Math.min(depth, 12) + own;
  return fit(' '.repeat(indent) + code.slice(own), width);
}

/** Step numbers up to 9,999,999 keep the column. */
const STEP_WIDTH = 7;
/** 'exception' is the longest event name. */
const EVENT_WIDTH = 9;
const LINE_WIDTH = 5;
/** Columns before the source: step, a space, event, line, two spaces. */
const LEADING = STEP_WIDTH + 1 + EVENT_WIDTH + LINE_WIDTH + 2;

/** Column layout for a single-trace table. */
export class TraceTable {
  private readonly changes = new ChangeTracker();
  private readonly paint: Paint;
  private readonly sourceWidth: number;
  private readonly changedWidth: number;
  /** The table is too narrow for full indentation (see sourceCell). */
  private readonly narrow: boolean;

  /** Columns before the source: LEADING, and the confidence column with its two spaces. */
  private readonly leading: number;

  constructor(private readonly style: TableStyle, longestSourceLine: number) {
    this.paint = painter(style.color);
    this.leading = LEADING + (style.confidence === true ? CONFIDENCE_WIDTH + 2 : 0);
    const rest = Math.max(30, style.width - this.leading - 1);
    this.narrow = Math.floor(rest * 0.55) < 40;
    this.sourceWidth = Math.min(Math.max(16, longestSourceLine + 4), Math.floor(rest * 0.55));
    this.changedWidth = rest - this.sourceWidth;
  }

  /** Total columns of a row. */
  get width(): number {
    return this.leading + this.sourceWidth + 1 + this.changedWidth;
  }

  header(): string {
    const sure = this.style.confidence === true ? `${padLeft('sure', CONFIDENCE_WIDTH)}  ` : '';
    const text = `${padLeft('step', STEP_WIDTH)} ${padRight('event', EVENT_WIDTH)}${padLeft('line', LINE_WIDTH)}  ${sure}${padRight('source', this.sourceWidth)} ${padRight('changed', this.changedWidth)}`;
    return this.paint('bold', text.trimEnd());
  }

  /** One frame's row; `padded` keeps trailing spaces so that a column can follow. */
  row(frame: TraceFrame, padded = false): string {
    const source = sourceCell(frame.sourceLine, frame.depth, this.sourceWidth, this.narrow);
    // An impossible step (the symbolic checker's mark) shows its reason; other issues their kind.
    const issues = frame.issues?.length ? visible(`  [${frame.issues.map((i) => (isImpossibleIssue(i) ? `impossible: ${i.message}` : i.kind)).join(', ')}]`) : '';
    const changedText = visible(this.changes.describe(frame));
    const changed = fit(changedText + issues, this.changedWidth);
    const shownChanged = issues && changed.endsWith(issues) ? this.paint('cyan', changed.slice(0, -issues.length)) + this.paint('yellow', issues) : this.paint('cyan', changed);
    const event = frame.event === 'exception' ? this.paint('red', padRight(frame.event, EVENT_WIDTH)) : padRight(frame.event, EVENT_WIDTH);
    const fill = padded ? ' '.repeat(Math.max(0, this.changedWidth - displayWidth(changed))) : '';
    const text = `${padLeft(String(frame.index), STEP_WIDTH)} ${event}${padLeft(frame.line ? String(frame.line) : '?', LINE_WIDTH)}  ${this.confidenceCell(frame)}${padRight(source, this.sourceWidth)} ${shownChanged}${fill}`;
    return padded ? text : text.trimEnd();
  }

  /** The `sure` cell and its two spaces: blank for a frame without confidence (a real one, or one built from args). */
  private confidenceCell(frame: TraceFrame): string {
    if (this.style.confidence !== true) return '';
    const p = frameMinConfidence(frame);
    if (p === undefined) return ' '.repeat(CONFIDENCE_WIDTH + 2);
    const cell = padLeft(p < DEFAULT_UNSURE_THRESHOLD ? `⚠ ${percent(p)}` : percent(p), CONFIDENCE_WIDTH);
    return `${p < DEFAULT_UNSURE_THRESHOLD ? this.paint('yellow', cell) : this.paint('dim', cell)}  `;
  }

  /** What the program printed, one row per line, under the step that printed it. */
  output(text: string, stream: 'stdout' | 'stderr'): string {
    const lines = text.replace(/\n$/, '').split('\n');
    const label = `${' '.repeat(this.leading - 2)}${stream}│ `;
    return lines.map((line) => this.paint('dim', `${label}${fit(visible(line), this.style.width - displayWidth(label))}`)).join('\n');
  }

  /** A sentence under the table (a note, how the run ended), wrapped to the width. */
  message(text: string): string {
    return wrap(text, this.style.width, '  ').join('\n');
  }
}
