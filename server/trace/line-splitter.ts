// Splits a text stream into '\n'-terminated lines in linear time: each character is scanned once, however the lines
// are cut across chunks (appending to a buffer and searching it from its start again is quadratic in a long line).

export class LineSplitter {
  /** The unterminated line so far, in the pieces it arrived in (joined once, when its end comes). */
  private parts: string[] = [];

  /** The lines this text completes, without their '\n', in order. */
  push(text: string): string[] {
    const lines: string[] = [];
    this.each(text, (line) => lines.push(line));
    return lines;
  }

  /** Calls `onLine` with each line this text completes, in order, without gathering them (the tracer's hot path). */
  each(text: string, onLine: (line: string) => void): void {
    let start = 0;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n', start)) {
      const tail = text.slice(start, newline);
      if (this.parts.length === 0) onLine(tail);
      else {
        const line = this.parts.join('') + tail;
        this.parts.length = 0;
        onLine(line);
      }
      start = newline + 1;
    }
    if (start < text.length) this.parts.push(start === 0 ? text : text.slice(start));
  }

  /** Characters received since the last line end. */
  get pendingLength(): number {
    let length = 0;
    for (const part of this.parts) length += part.length;
    return length;
  }

  /** The unterminated rest ('' when the text ended with a line end); the splitter starts over. */
  end(): string {
    const rest = this.parts.join('');
    this.parts.length = 0;
    return rest;
  }
}
