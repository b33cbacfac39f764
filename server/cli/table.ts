// Renders trace frames as a terminal table: step, event, line, source (indented by call depth), changed locals.
// Rows are produced one at a time so a trace can be printed while it streams in.

import type { TraceFrame } from '../trace/model';

export interface TableStyle {
  /** Total width to fit, in columns. */
  width: number;
  color: boolean;
}

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

/** Cuts text to at most `width` visible characters, marking the cut with an ellipsis. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

export function padRight(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

export function padLeft(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

/**
 * What a frame shows in the "changed" column: for call frames every argument, for line frames the names whose value differs
 * from the previous locals-bearing frame of the same scope, for return/exception frames the value.
 */
export class ChangeTracker {
  private readonly lastLocalsByScope = new Map<number, ReadonlyMap<string, string>>();

  describe(frame: TraceFrame): string {
    if (frame.event === 'return') return `→ ${frame.value ?? ''}`;
    if (frame.event === 'exception') return `! ${frame.value ?? ''}`;
    const previous = frame.event === 'call' ? undefined : this.lastLocalsByScope.get(frame.scope);
    this.lastLocalsByScope.set(frame.scope, frame.locals);
    const parts: string[] = [];
    for (const [name, value] of frame.locals) {
      if (previous?.get(name) !== value) parts.push(`${name}=${value}`);
    }
    if (previous) {
      for (const name of previous.keys()) if (!frame.locals.has(name)) parts.push(`del ${name}`);
    }
    return parts.join('  ');
  }
}

/** Column layout for a single-trace table. */
export class TraceTable {
  private readonly changes = new ChangeTracker();
  private readonly paint: Paint;
  private readonly sourceWidth: number;
  private readonly changedWidth: number;

  constructor(private readonly style: TableStyle, longestSourceLine: number) {
    this.paint = painter(style.color);
    // step(6) event(11) line(6) + 4 separators; the rest is split between source and changed values.
    const fixed = 6 + 11 + 6 + 4;
    const rest = Math.max(40, style.width - fixed);
    this.sourceWidth = Math.min(Math.max(20, longestSourceLine + 4), Math.floor(rest * 0.55));
    this.changedWidth = Math.max(10, rest - this.sourceWidth);
  }

  header(): string {
    const text = `${padLeft('step', 6)} ${padRight('event', 11)}${padLeft('line', 6)}  ${padRight('source', this.sourceWidth)} changed`;
    return this.paint('bold', text);
  }

  row(frame: TraceFrame): string {
    const indent = '  '.repeat(Math.min(frame.depth, 12));
    // The code keeps its own indentation; calls nest two more columns per depth.
    const source = fit(indent + frame.sourceLine.trimEnd(), this.sourceWidth);
    const changed = fit(this.changes.describe(frame), this.changedWidth);
    const event = frame.event === 'exception' ? this.paint('red', padRight(frame.event, 11)) : padRight(frame.event, 11);
    const issues = frame.issues?.length ? this.paint('yellow', `  [${frame.issues.map((i) => i.kind).join(', ')}]`) : '';
    return `${padLeft(String(frame.index), 6)} ${event}${padLeft(frame.line ? String(frame.line) : '?', 6)}  ${padRight(source, this.sourceWidth)} ${this.paint('cyan', changed)}${issues}`;
  }

  output(text: string, stream: 'stdout' | 'stderr'): string {
    const lines = text.replace(/\n$/, '').split('\n');
    const label = stream === 'stderr' ? 'stderr' : 'stdout';
    return lines.map((line) => this.paint('dim', `${' '.repeat(24)}${label}│ ${fit(line, this.style.width - 32)}`)).join('\n');
  }
}
