// Renders traces in CWM's wire format (prompt context, frames, `".."` diff encoding) byte for byte as the spec fixes it.
// Used for the tracer's CWM output and, incrementally, by the prediction engine to build prompts.
import type { Locals, Trace, TraceEventKind, TraceFrame } from '../trace/model';
import { Tok } from './tokens';
import { SourceLineIndex } from './lines';
import { traceContext } from './context';
import { CompactLocals, DeltaLocals } from '../trace/compact-locals';

export { markEntryLine } from './context';

/** What a value equal to its previous value in the same scope is written as. */
export const ELLIPSIS_VALUE = '..';

/**
 * Python's `json.dumps(s)` for a str with default settings (`ensure_ascii=True`), exactly:
 * `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, every other character outside printable ASCII (DEL included) as
 * lowercase `\uXXXX` per UTF-16 code unit, which gives surrogate pairs for astral characters and keeps lone surrogates.
 */
export function pythonJsonString(value: string): string {
  if (/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(value)) return `"${value}"`;
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue;
    out += value.slice(runStart, i) + escapeCodeUnit(code);
    runStart = i + 1;
  }
  return out + value.slice(runStart) + '"';
}

function escapeCodeUnit(code: number): string {
  switch (code) {
    case 0x22: return '\\"';
    case 0x5c: return '\\\\';
    case 0x0a: return '\\n';
    case 0x0d: return '\\r';
    case 0x09: return '\\t';
    case 0x08: return '\\b';
    case 0x0c: return '\\f';
    default: return '\\u' + code.toString(16).padStart(4, '0');
  }
}

/** `<|begin_of_text|><|trace_context_start|>{context}<|frame_sep|>`: the prompt before the first frame. */
export function renderPrompt(context: string): string {
  return `${Tok.beginOfText}${Tok.traceContextStart}${context}${Tok.frameSep}`;
}

/**
 * Renders frames one at a time, remembering what the diff encoding needs. The prediction engine keeps one per rollout
 * and appends `renderFrame(next)` to its prompt.
 *
 * `".."` rule: a call/line frame diffs against the previous locals-bearing frame of its scope only when, walking back,
 * that frame is reached through nothing but the same scope's exception frames; a call frame, or any other scope's frame
 * or a return in between, writes every value in full. This is exactly what a reader walking back and stopping at
 * call/return boundaries (the reference debugger) can resolve: after a callee returns, the caller's exception frame for
 * the propagating error does not revive the chain.
 */
export class CwmFrameEncoder {
  private readonly lines: SourceLineIndex;
  /** The scope whose `".."` chain is live: set by its call/line frames, kept by its own exception frames, else cleared. */
  private chainScope: number | undefined;
  private readonly lastLocals = new Map<number, Locals>();
  /** `"name": ` per local name seen (names repeat on every frame; JSON-quoting them once saves most of the work). */
  private readonly keyTexts = new Map<string, string>();
  /** LINE text (the context's line and `\n`) per main-file line number, built once. */
  private readonly lineTexts: (string | undefined)[] = [];

  /** @param context the prompt's context (as markEntryLine returns it); LINEs are taken from it */
  constructor(context: string, framesSoFar: readonly TraceFrame[] = []) {
    this.lines = new SourceLineIndex(context);
    for (const frame of framesSoFar) this.renderFrame(frame);
  }

  /** The text of one more frame, ending with `<|frame_sep|>`; updates the diff state. */
  renderFrame(frame: TraceFrame): string {
    // Built as one string without the pieces object: this runs once per event of a recording (millions).
    const line = this.lineText(frame);
    if (frame.event === 'call' || frame.event === 'line') {
      return `${EVENT_TOKENS[frame.event]}${this.localsText(frame)}${Tok.actionSep}${line}${Tok.frameSep}`;
    }
    this.endChain(frame);
    return `${EVENT_TOKENS[frame.event]}${Tok.actionSep}${line}${Tok.argSep}${pythonJsonString(frame.value ?? '')}${Tok.frameSep}`;
  }

  /** One more frame as its ordinary-text fields, for callers that put the special tokens in as ids; updates the diff state. */
  renderFramePieces(frame: TraceFrame): FramePieces {
    const line = this.lineText(frame);
    if (frame.event === 'call' || frame.event === 'line') return { event: frame.event, locals: this.localsText(frame), line };
    this.endChain(frame);
    return { event: frame.event, line, value: pythonJsonString(frame.value ?? '') };
  }

  /** LINE: another file's lines stand in the context exactly as in the file (only the main file gets a marker). */
  private lineText(frame: TraceFrame): string {
    if (frame.file !== undefined) return frame.sourceLine + '\n';
    const cached = this.lineTexts[frame.line];
    if (cached !== undefined) return cached;
    const contextLine = this.lines.contextLine(frame.line);
    if (contextLine === undefined) return frame.sourceLine + '\n';
    return (this.lineTexts[frame.line] = contextLine + '\n');
  }

  /** LOCALS of a call/line frame, `".."` applied; moves the chain to the frame's scope. */
  private localsText(frame: TraceFrame): string {
    const chainBroken = frame.event === 'call' || this.chainScope !== frame.scope;
    const base = chainBroken ? undefined : this.lastLocals.get(frame.scope);
    this.lastLocals.set(frame.scope, frame.locals);
    this.chainScope = frame.scope;
    let text = '{';
    let first = true;
    const locals = frame.locals;
    if (locals instanceof CompactLocals && (base === undefined || base instanceof CompactLocals)) {
      // A recording's locals: a delta over the base changed one position and nothing else; otherwise compare by
      // position where the layout is the base's.
      const names = locals.layout.names;
      const deltaOverBase = locals instanceof DeltaLocals && locals.base === base ? locals.at : -1;
      const sameLayout = base !== undefined && base.layout === locals.layout;
      for (let i = 0; i < names.length; i++) {
        let rendered: string;
        if (base === undefined) rendered = pythonJsonString(locals.slot(i));
        else if (deltaOverBase >= 0) rendered = i === deltaOverBase ? pythonJsonString(locals.slot(i)) : ELLIPSIS_JSON;
        else if (locals === base) rendered = ELLIPSIS_JSON;
        else {
          const value = locals.slot(i);
          rendered = (sameLayout ? base.slot(i) : base.get(names[i]!)) === value ? ELLIPSIS_JSON : pythonJsonString(value);
        }
        text += (first ? '' : ', ') + this.keyText(names[i]!) + rendered;
        first = false;
      }
      return text + '}';
    }
    for (const [name, value] of locals) {
      text += (first ? '' : ', ') + this.keyText(name) + (base !== undefined && base.get(name) === value ? ELLIPSIS_JSON : pythonJsonString(value));
      first = false;
    }
    return text + '}';
  }

  /** `"name": ` for a local name. */
  private keyText(name: string): string {
    let key = this.keyTexts.get(name);
    if (key === undefined) {
      key = `${pythonJsonString(name)}: `;
      // Names come from the program: a bounded cache, cleared rather than grown without end.
      if (this.keyTexts.size >= MAX_CACHED_KEYS) this.keyTexts.clear();
      this.keyTexts.set(name, key);
    }
    return key;
  }

  private endChain(frame: TraceFrame): void {
    if (frame.event === 'return') this.lastLocals.delete(frame.scope);
    if (frame.event === 'return' || this.chainScope !== frame.scope) this.chainScope = undefined;
  }
}

const ELLIPSIS_JSON = `"${ELLIPSIS_VALUE}"`;
const MAX_CACHED_KEYS = 4096;

/** A frame's fields, each ordinary text; the special tokens between them are implied by the event. */
export interface FramePieces {
  readonly event: TraceEventKind;
  /** LOCALS (`call`/`line` frames): the JSON object, `".."` applied. */
  readonly locals?: string;
  /** LINE: the context's physical line followed by `\n`. */
  readonly line: string;
  /** VALUE (`return`/`exception` frames): the JSON string. */
  readonly value?: string;
}

const EVENT_TOKENS: Readonly<Record<TraceEventKind, string>> = {
  call: Tok.callSep,
  line: Tok.lineSep,
  return: Tok.returnSep,
  exception: Tok.exceptionSep,
};

/** `EVENT{LOCALS}<|action_sep|>LINE[<|arg_sep|>VALUE]<|frame_sep|>`. */
export function framePiecesText(pieces: FramePieces): string {
  const value = pieces.value !== undefined ? `${Tok.argSep}${pieces.value}` : '';
  return `${EVENT_TOKENS[pieces.event]}${pieces.locals ?? ''}${Tok.actionSep}${pieces.line}${value}${Tok.frameSep}`;
}

/** LOCALS: `json.dumps` of the name → repr dict, a value equal to `base`'s written `".."`. */
export function renderLocals(locals: Locals, base?: Locals): string {
  const parts: string[] = [];
  for (const [name, value] of locals) {
    const same = base !== undefined && base.get(name) === value;
    parts.push(`${pythonJsonString(name)}: ${pythonJsonString(same ? ELLIPSIS_VALUE : value)}`);
  }
  return `{${parts.join(', ')}}`;
}

/** All frames, each ending with `<|frame_sep|>` (the text that follows the prompt). */
export function renderFrames(frames: readonly TraceFrame[], context: string): string {
  const encoder = new CwmFrameEncoder(context);
  let text = '';
  for (const frame of frames) text += encoder.renderFrame(frame);
  return text;
}

/** One frame following `framesSoFar`, without keeping an encoder (replays the earlier frames: linear in their number). */
export function renderFrame(frame: TraceFrame, framesSoFar: readonly TraceFrame[], context: string): string {
  return new CwmFrameEncoder(context, framesSoFar).renderFrame(frame);
}

/** A prompt that continues after `frames`: the model's next output is the next frame. */
export function renderContinuationPrompt(context: string, frames: readonly TraceFrame[]): string {
  return renderPrompt(context) + renderFrames(frames, context);
}

/** Whether a trace that stopped this way is followed by `<|end_of_text|>`. */
export function traceEndsWithEndOfText(trace: Pick<Trace, 'end'>): boolean {
  return trace.end.kind === 'returned' || trace.end.kind === 'raised';
}

/** The full training sequence of a trace: prompt (every traced file's source, see buildContext), frames, and `<|end_of_text|>` when the entry returned or raised. */
export function renderTrace(trace: Trace): string {
  const context = traceContext(trace);
  return renderPrompt(context) + renderFrames(trace.frames, context) + (traceEndsWithEndOfText(trace) ? Tok.endOfText : '');
}
