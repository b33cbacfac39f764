// What the CLI's text needs before it reaches a terminal: control characters shown escaped (so a program's output, a
// predicted value or a server's error cannot clear the screen, set the title or overwrite a line), display widths of
// wide characters, and the width to fit.

/**
 * C0 controls (tab and newline included), DEL, C1 controls, and the invisible format characters that reorder or hide
 * text (bidirectional overrides and isolates, line/paragraph separators), shown as `\xNN` / `\uNNNN` escapes.
 */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

export function visible(text: string): string {
  return text.replace(CONTROL, (char) => {
    switch (char) {
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      case '\x1b': return '\\e';
    }
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A source line for a table cell: tabs become spaces (as an editor shows them), other controls are escaped. */
export function visibleSource(line: string): string {
  return visible(line.replace(/\t/g, '    '));
}

/** Whether a code point takes two columns (East Asian Wide/Fullwidth, emoji presentation). */
function isWide(code: number): boolean {
  return (code >= 0x1100 && code <= 0x115f) || code === 0x2329 || code === 0x232a ||
    (code >= 0x231a && code <= 0x231b) || (code >= 0x23e9 && code <= 0x23ec) || code === 0x23f0 || code === 0x23f3 ||
    (code >= 0x25fd && code <= 0x25fe) || (code >= 0x2614 && code <= 0x2615) || (code >= 0x2648 && code <= 0x2653) ||
    code === 0x267f || code === 0x2693 || code === 0x26a1 || (code >= 0x26aa && code <= 0x26ab) ||
    (code >= 0x26bd && code <= 0x26be) || (code >= 0x26c4 && code <= 0x26c5) || code === 0x26ce || code === 0x26d4 ||
    code === 0x26ea || (code >= 0x26f2 && code <= 0x26f3) || code === 0x26f5 || code === 0x26fa || code === 0x26fd ||
    code === 0x2705 || (code >= 0x270a && code <= 0x270b) || code === 0x2728 || code === 0x274c || code === 0x274e ||
    (code >= 0x2753 && code <= 0x2755) || code === 0x2757 || (code >= 0x2795 && code <= 0x2797) || code === 0x27b0 ||
    code === 0x27bf || (code >= 0x2b1b && code <= 0x2b1c) || code === 0x2b50 || code === 0x2b55 ||
    (code >= 0x2e80 && code <= 0x303e) || (code >= 0x3041 && code <= 0x33ff) || (code >= 0x3400 && code <= 0x4dbf) ||
    (code >= 0x4e00 && code <= 0x9fff) || (code >= 0xa000 && code <= 0xa4cf) || (code >= 0xa960 && code <= 0xa97f) ||
    (code >= 0xac00 && code <= 0xd7a3) || (code >= 0xf900 && code <= 0xfaff) || (code >= 0xfe10 && code <= 0xfe19) ||
    (code >= 0xfe30 && code <= 0xfe6f) || (code >= 0xff00 && code <= 0xff60) || (code >= 0xffe0 && code <= 0xffe6) ||
    (code >= 0x16fe0 && code <= 0x18aff) || (code >= 0x1b000 && code <= 0x1b2ff) || code === 0x1f004 || code === 0x1f0cf ||
    code === 0x1f18e || (code >= 0x1f191 && code <= 0x1f19a) || (code >= 0x1f200 && code <= 0x1f251) ||
    (code >= 0x1f300 && code <= 0x1f64f && !(code >= 0x1f321 && code <= 0x1f32c) && !(code >= 0x1f336 && code <= 0x1f336) &&
      !(code >= 0x1f37d && code <= 0x1f37d) && !(code >= 0x1f394 && code <= 0x1f39f) && !(code >= 0x1f3cb && code <= 0x1f3ce) &&
      !(code >= 0x1f3d4 && code <= 0x1f3df) && !(code >= 0x1f3f1 && code <= 0x1f3f3) && !(code >= 0x1f3f5 && code <= 0x1f3f7) &&
      !(code >= 0x1f43f && code <= 0x1f43f) && !(code >= 0x1f441 && code <= 0x1f441) && !(code >= 0x1f4fd && code <= 0x1f4fe) &&
      !(code >= 0x1f53e && code <= 0x1f54a) && !(code >= 0x1f54f && code <= 0x1f54f) && !(code >= 0x1f568 && code <= 0x1f579) &&
      !(code >= 0x1f57b && code <= 0x1f594) && !(code >= 0x1f597 && code <= 0x1f5a3) && !(code >= 0x1f5a5 && code <= 0x1f5fa)) ||
    (code >= 0x1f680 && code <= 0x1f6c5) || code === 0x1f6cc || (code >= 0x1f6d0 && code <= 0x1f6d2) ||
    (code >= 0x1f6d5 && code <= 0x1f6d7) || (code >= 0x1f6eb && code <= 0x1f6ec) || (code >= 0x1f6f4 && code <= 0x1f6fc) ||
    (code >= 0x1f7e0 && code <= 0x1f7eb) || (code >= 0x1f90c && code <= 0x1f93a) || (code >= 0x1f93c && code <= 0x1f945) ||
    (code >= 0x1f947 && code <= 0x1f9ff) || (code >= 0x1fa70 && code <= 0x1faff) || (code >= 0x20000 && code <= 0x3fffd);
}

/** Combining marks, variation selectors, zero-width joiners: no column of their own. */
function isZeroWidth(code: number): boolean {
  return (code >= 0x0300 && code <= 0x036f) || (code >= 0x1ab0 && code <= 0x1aff) || (code >= 0x1dc0 && code <= 0x1dff) ||
    (code >= 0x20d0 && code <= 0x20ff) || (code >= 0xfe00 && code <= 0xfe0f) || (code >= 0xfe20 && code <= 0xfe2f) ||
    code === 0x200b || code === 0x200c || code === 0x200d || code === 0x2060 || (code >= 0xe0100 && code <= 0xe01ef) ||
    (code >= 0x1f3fb && code <= 0x1f3ff);
}

function charWidth(code: number): number {
  if (isZeroWidth(code)) return 0;
  return isWide(code) ? 2 : 1;
}

/** The colour codes the CLI itself adds (content has its ESC characters escaped by visible(), so these are ours). */
const SGR = /\x1b\[[0-9;]*m/g;

/** Columns the text takes on a terminal (text already made visible; the CLI's own colour codes take none). */
export function displayWidth(text: string): number {
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let width = 0;
  for (const char of text.replace(SGR, '')) width += charWidth(char.codePointAt(0)!);
  return width;
}

/** Cuts text to at most `width` columns, marking the cut with an ellipsis. */
export function fitWidth(text: string, width: number): string {
  if (width <= 0) return '';
  if (displayWidth(text) <= width) return text;
  let out = '';
  let used = 0;
  for (const char of text) {
    const w = charWidth(char.codePointAt(0)!);
    if (used + w > width - 1) break;
    out += char;
    used += w;
  }
  return `${out}…`;
}

export function padEndWidth(text: string, width: number): string {
  const missing = width - displayWidth(text);
  return missing > 0 ? text + ' '.repeat(missing) : text;
}

export function padStartWidth(text: string, width: number): string {
  const missing = width - displayWidth(text);
  return missing > 0 ? ' '.repeat(missing) + text : text;
}

/** Width when the output is not a terminal and COLUMNS is not set. */
export const PIPED_WIDTH = 120;

/** The width to fit: COLUMNS when set (as shells export it), else the terminal's, else PIPED_WIDTH; at least 40. */
export function terminalWidth(stream: { columns?: number; isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.COLUMNS);
  const width = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : stream.isTTY && stream.columns ? stream.columns : PIPED_WIDTH;
  return Math.max(40, width);
}
