// Server-sent events reader (the WHATWG event-stream grammar) for vLLM, mlx_lm and OpenAI-style streams.
// Comment lines (mlx_lm's `: keepalive n/m`) are reported separately; they carry no data.

export interface SseEvent {
  /** The event's data lines joined with '\n'. */
  data: string;
  /** The `event:` field, when the server set one. */
  event?: string;
}

/**
 * Yields each complete event of a byte stream. An event still incomplete when the stream ends is discarded,
 * as the grammar says; callers detect truncation by the missing terminator (`[DONE]`).
 */
export async function* readSse(body: AsyncIterable<Uint8Array | string>, onComment?: (text: string) => void): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  let event: string | undefined;
  let first = true;

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

  for await (const chunk of body) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    let start = 0;
    for (;;) {
      const cr = buffer.indexOf('\r', start);
      const lf = buffer.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      let end: number;
      let next: number;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of CRLF: wait for the next chunk to know.
        if (cr === buffer.length - 1) break;
        end = cr;
        next = buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      const out = takeLine(buffer.slice(start, end));
      start = next;
      if (out !== undefined) yield out;
    }
    buffer = buffer.slice(start);
  }
  buffer += decoder.decode();
  // A final line ended by a lone CR still counts; anything after the last line end is an unterminated line.
  if (buffer.endsWith('\r')) {
    const out = takeLine(buffer.slice(0, -1));
    if (out !== undefined) yield out;
  }
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
