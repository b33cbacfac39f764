// Server-sent events reader (the WHATWG event-stream grammar) for vLLM, mlx_lm and OpenAI-style streams.
// Comment lines (mlx_lm's `: keepalive n/m`) are reported separately; they carry no data.

export interface SseEvent {
  /** The event's data lines joined with '\n'. */
  data: string;
  /** The `event:` field, when the server set one. */
  event?: string;
}

/** Longest line accepted: real servers send one short JSON object per line; beyond this the server misbehaves. */
export const MAX_SSE_LINE_CHARS = 4 * 1024 * 1024;

/** A stream line longer than the limit: reading on would hold an ever-growing line in memory. */
export class SseLineTooLongError extends Error {
  override readonly name = 'SseLineTooLongError';
  constructor(readonly limit: number) {
    super(`the server sent a stream line of more than ${limit} characters without a line end`);
  }
}

/**
 * Yields each complete event of a byte stream. An event still incomplete when the stream ends is discarded,
 * as the grammar says; callers detect truncation by the missing terminator (`[DONE]`). Every character is scanned
 * once, however the lines are split across chunks; a line longer than `maxLineChars` throws SseLineTooLongError.
 */
export async function* readSse(
  body: AsyncIterable<Uint8Array | string>,
  onComment?: (text: string) => void,
  maxLineChars: number = MAX_SSE_LINE_CHARS,
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  // The line being read, in the pieces it arrived in (joined once, when its end comes).
  let partial: string[] = [];
  let partialLength = 0;
  // The last chunk ended with CR: a LF starting the next one belongs to that line end.
  let skipLf = false;
  let data: string[] = [];
  let event: string | undefined;
  let first = true;
  const lineEnd = /[\r\n]/g;

  const takeLine = (line: string): SseEvent | undefined => {
    if (line === '') {
      if (data.length === 0) {
        event = undefined;
        return undefined;
      }
      const out: SseEvent = { data: data.join('\n'), ...(event !== undefined ? { event } : {}) };
      data = [];
      event = undefined;
      return out;
    }
    if (line.startsWith(':')) {
      onComment?.(line.slice(1).trimStart());
      return undefined;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    return undefined;
  };

  const lines = function* (text: string): Generator<SseEvent> {
    let pos = 0;
    if (skipLf && text.length > 0) {
      if (text.charCodeAt(0) === 0x0a) pos = 1;
      skipLf = false;
    }
    lineEnd.lastIndex = pos;
    for (let m = lineEnd.exec(text); m !== null; m = lineEnd.exec(text)) {
      const end = m.index;
      if (partialLength + (end - pos) > maxLineChars) throw new SseLineTooLongError(maxLineChars);
      const line = partial.length === 0 ? text.slice(pos, end) : partial.join('') + text.slice(pos, end);
      partial = [];
      partialLength = 0;
      pos = end + 1;
      if (text.charCodeAt(end) === 0x0d) {
        if (pos < text.length) {
          if (text.charCodeAt(pos) === 0x0a) pos++;
        } else skipLf = true;
      }
      lineEnd.lastIndex = pos;
      const out = takeLine(line);
      if (out !== undefined) yield out;
    }
    if (pos < text.length) {
      partialLength += text.length - pos;
      if (partialLength > maxLineChars) throw new SseLineTooLongError(maxLineChars);
      partial.push(pos === 0 ? text : text.slice(pos));
    }
  };

  for await (const chunk of body) {
    let text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    yield* lines(text);
  }
  // Anything after the last line end is an unterminated line: discarded with its event.
  yield* lines(decoder.decode());
}

/** How long a stream may linger after `data: [DONE]` before its body is dropped. */
const DRAIN_AFTER_DONE_MS = 1_000;

/**
 * Yields the events before `data: [DONE]` and sets `state.done` when it arrives. The rest of the body is still
 * read to its end (briefly), so the connection goes back to the pool instead of being torn down.
 */
export async function* readSseUntilDone(
  body: AsyncIterable<Uint8Array | string> & { destroy(): unknown },
  state: { done: boolean },
  onComment?: (text: string) => void,
): AsyncGenerator<SseEvent> {
  let timer: NodeJS.Timeout | undefined;
  try {
    for await (const event of readSse(body, onComment)) {
      if (state.done) continue;
      if (event.data === '[DONE]') {
        state.done = true;
        timer = setTimeout(() => body.destroy(), DRAIN_AFTER_DONE_MS);
        continue;
      }
      yield event;
    }
  } catch (err) {
    if (!state.done) throw err;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
