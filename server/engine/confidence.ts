// Confidence of predicted frames: token log-probabilities mapped onto the frame text the reader consumed (the action,
// each value the frame writes, the return value), or, over several sampled rollouts, how many of them agree.
import { Tok } from '../cwm/tokens';
import { maxOf } from '../trace/arrays';
import type { TokenLogprob } from '../endpoint/types';
import type { FrameConfidence, TraceFrame, ValueConfidence } from '../trace/model';

/** Alternatives kept per value (the endpoint may list up to its --max-logprobs). */
const MAX_ALTERNATIVES = 5;

/** One generated token's place in the text of the frame being read. */
interface TokenSpan {
  start: number;
  end: number;
  score?: TokenLogprob;
}

const EVENT_TEXTS = [Tok.callSep, Tok.lineSep, Tok.returnSep, Tok.exceptionSep];

/**
 * The text of one choice since its last frame, with the scored tokens that made it. The rollout feeds it every decoded
 * piece; when the reader completes a frame, `takeFrame` scores that frame's text and keeps the rest for the next one.
 */
export class FrameTokenScores {
  private text = '';
  private tokens: TokenSpan[] = [];
  private scored = false;

  /** Text that no generated token produced (a forced event token that ends the prompt). */
  addUnscored(text: string): void {
    this.text += text;
  }

  /** One token's (or, without per-token log-probabilities, one chunk's) decoded text. */
  add(text: string, score: TokenLogprob | undefined): void {
    if (score !== undefined) this.scored = true;
    this.tokens.push({ start: this.text.length, end: this.text.length + text.length, ...(score !== undefined ? { score } : {}) });
    this.text += text;
  }

  /** The confidence of the frame just completed (undefined when nothing was scored), and the text it used dropped. */
  takeFrame(): FrameConfidence | undefined {
    const start = firstEventAt(this.text, 0);
    if (start < 0) return undefined;
    const sep = this.text.indexOf(Tok.frameSep, start);
    const next = firstEventAt(this.text, start + 1);
    let end = sep >= 0 ? sep + Tok.frameSep.length : this.text.length;
    if (next >= 0 && next < end) end = next;
    const confidence = this.scored ? scoreFrameText(this.text.slice(start, end), this.tokens.map((t) => ({ ...t, start: t.start - start, end: t.end - start }))) : undefined;
    this.text = this.text.slice(end);
    this.tokens = this.tokens.filter((t) => t.end > end).map((t) => ({ ...t, start: Math.max(0, t.start - end), end: t.end - end }));
    this.scored = this.tokens.some((t) => t.score !== undefined);
    return confidence;
  }
}

function firstEventAt(text: string, from: number): number {
  let best = -1;
  for (const event of EVENT_TEXTS) {
    const at = text.indexOf(event, from);
    if (at >= 0 && (best < 0 || at < best)) best = at;
  }
  return best;
}

/** Scores one frame's text (event token first, frame separator last) from the tokens overlapping each part. */
export function scoreFrameText(text: string, tokens: readonly TokenSpan[]): FrameConfidence | undefined {
  const event = EVENT_TEXTS.find((e) => text.startsWith(e));
  if (event === undefined) return undefined;
  const action = text.indexOf(Tok.actionSep, event.length);
  const locals = new Map<string, ValueConfidence>();
  if (action >= 0) {
    for (const entry of stringEntries(text, event.length, action)) {
      if (entry.raw === '..') continue;
      const confidence = spanConfidence(text, tokens, entry.start, entry.end, true);
      if (confidence !== undefined) locals.set(entry.name, confidence);
    }
  }
  const lineStart = action >= 0 ? action + Tok.actionSep.length : event.length;
  const arg = text.indexOf(Tok.argSep, lineStart);
  const sep = text.indexOf(Tok.frameSep, lineStart);
  const lineEnd = arg >= 0 ? arg : sep >= 0 ? sep : text.length;
  // The event token counts with the line when the model generated it (a forced one has no score and is skipped).
  const eventConfidence = spanConfidence(text, tokens, 0, event.length, false);
  const lineConfidence = spanConfidence(text, tokens, lineStart, lineEnd, false);
  const actionConfidence = eventConfidence === undefined || (lineConfidence !== undefined && lineConfidence.p <= eventConfidence.p)
    ? lineConfidence : { p: eventConfidence.p };
  let value: ValueConfidence | undefined;
  if (arg >= 0) {
    const from = arg + Tok.argSep.length;
    const to = sep >= 0 ? sep : text.length;
    // The value is a JSON string: its text inside the quotes.
    const quoted = text[from] === '"' && to - 1 > from && text[to - 1] === '"';
    value = spanConfidence(text, tokens, quoted ? from + 1 : from, quoted ? to - 1 : to, quoted);
  }
  if (actionConfidence === undefined && locals.size === 0 && value === undefined) return undefined;
  return { source: 'logprobs', ...(actionConfidence !== undefined ? { action: actionConfidence } : {}), locals, ...(value !== undefined ? { value } : {}) };
}

/**
 * The least likely scored token overlapping [start, end), and what the model weighed instead there. `jsonString`: the
 * span is the inside of a JSON string, so alternatives are cut at a closing quote and unescaped.
 */
function spanConfidence(
  text: string,
  tokens: readonly TokenSpan[],
  start: number,
  end: number,
  jsonString: boolean,
): ValueConfidence | undefined {
  let lowest: TokenSpan | undefined;
  let last: TokenSpan | undefined;
  // An empty value ("") still has the token that closed it.
  const to = Math.max(end, start + 1);
  for (const token of tokens) {
    if (token.end <= start || token.start >= to) continue;
    last = token;
    if (token.score !== undefined && (lowest?.score === undefined || token.score.logprob < lowest.score.logprob)) lowest = token;
  }
  if (lowest?.score === undefined) return undefined;
  const sampled = text.slice(lowest.start, lowest.end);
  const prefix = text.slice(start, Math.max(start, lowest.start));
  const alternatives: { value: string; p: number }[] = [];
  for (const alt of lowest.score.top ?? []) {
    if (alt.text === sampled || alternatives.length >= MAX_ALTERNATIVES) continue;
    // The part of the alternative token that falls inside the value.
    let piece = lowest.start < start ? alt.text.slice(start - lowest.start) : alt.text;
    let closed = false;
    if (jsonString) {
      const quote = unescapedQuote(prefix + piece, prefix.length);
      if (quote >= 0) {
        piece = (prefix + piece).slice(prefix.length, quote);
        closed = true;
      }
    }
    let value = prefix + piece;
    if (jsonString) value = jsonUnescape(value);
    if (!closed && lowest !== last) value += '…';
    if (value === '' && !closed) continue;
    if (!alternatives.some((a) => a.value === value)) alternatives.push({ value, p: Math.exp(alt.logprob) });
  }
  alternatives.sort((a, b) => b.p - a.p);
  return { p: Math.exp(lowest.score.logprob), ...(alternatives.length > 0 ? { alternatives } : {}) };
}

/** Index of the first `"` at or after `from` that no backslash escapes, or -1. */
function unescapedQuote(text: string, from: number): number {
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\') {
      i++;
      continue;
    }
    if (text[i] === '"' && i >= from) return i;
  }
  return -1;
}

function jsonUnescape(raw: string): string {
  try {
    const value: unknown = JSON.parse(`"${raw}"`);
    return typeof value === 'string' ? value : raw;
  } catch {
    // A cut escape (`\u00`) or a stray control character: shown as the model wrote it.
    return raw;
  }
}

interface StringEntry {
  readonly name: string;
  /** The value's raw JSON text inside its quotes. */
  readonly raw: string;
  /** The value's text inside its quotes, in the frame text. */
  readonly start: number;
  readonly end: number;
}

/** The `"name": "value"` pairs of the locals object in text[from, to), with where each value's text is. */
function stringEntries(text: string, from: number, to: number): StringEntry[] {
  const entries: StringEntry[] = [];
  let i = text.indexOf('{', from);
  if (i < 0 || i >= to) return entries;
  i++;
  const skipSpace = (): void => {
    while (i < to && /\s/.test(text[i]!)) i++;
  };
  const readString = (): { start: number; end: number } | undefined => {
    if (text[i] !== '"') return undefined;
    const start = i + 1;
    for (i = start; i < to; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === '"') return { start, end: i++ };
    }
    return undefined;
  };
  while (i < to) {
    skipSpace();
    const key = readString();
    if (key === undefined) break;
    skipSpace();
    if (text[i] !== ':') break;
    i++;
    skipSpace();
    const value = readString();
    if (value === undefined) {
      // A number or other non-string value: skipped (the reader marks it), up to the next pair.
      while (i < to && text[i] !== ',' && text[i] !== '}') i++;
    } else {
      entries.push({ name: jsonUnescape(text.slice(key.start, key.end)), raw: text.slice(value.start, value.end), start: value.start, end: value.end });
    }
    skipSpace();
    if (text[i] !== ',') break;
    i++;
  }
  return entries;
}

/**
 * Several rollouts from the same frame: each frame's confidence is how many of the rollouts that reached its index
 * agree with it (its action among all of them, each value among those with the same action).
 */
export function withAgreement(rollouts: readonly (readonly TraceFrame[])[]): TraceFrame[][] {
  if (rollouts.length < 2) return rollouts.map((frames) => [...frames]);
  const longest = maxOf(rollouts.map((frames) => frames.length), 0);
  const out = rollouts.map(() => [] as TraceFrame[]);
  for (let k = 0; k < longest; k++) {
    const present = rollouts.map((frames) => frames[k]);
    const reached = present.filter((f) => f !== undefined).length;
    present.forEach((frame, r) => {
      if (frame === undefined) return;
      const action = `${frame.event}:${frame.line}`;
      const same = present.filter((f): f is TraceFrame => f !== undefined && `${f.event}:${f.line}` === action);
      const locals = new Map<string, ValueConfidence>();
      for (const [name, value] of frame.locals) locals.set(name, { p: same.filter((f) => f.locals.get(name) === value).length / same.length });
      const value = frame.value === undefined ? undefined : { p: same.filter((f) => f.value === frame.value).length / same.length };
      out[r]!.push({ ...frame, confidence: { source: 'agreement', action: { p: same.length / reached }, locals, ...(value !== undefined ? { value } : {}) } });
    });
  }
  return out;
}
