// Reads CWM trace text (model output as it streams in, or a whole rendered trace) back into the shared trace model.
// Tolerant by design: it keeps every frame it can, marks the rest, never throws, and works in time linear in the input.
import type { EntryPoint, FrameIssue, Locals, MalformedFrame, TraceEventKind, TraceFrame } from '../trace/model';
import { Tok, specialTokenMap } from './tokens';
import { SourceLineIndex, comprehensionKind, definitionOn, isDecoratorLine, mentionsLambda, splitSourceLines, unmarkLine } from './lines';
import { contextLineOf, locateContextLine, type ContextLayout } from './context';
import { maxOf } from '../trace/arrays';

export interface CwmReaderOptions {
  /** The prompt's source context, marker included (what markEntryLine returned). */
  readonly context: string;
  /** The entry point: names the depth-0 scope (`<module>` for scripts) and picks its def line among equal candidates. */
  readonly entry?: EntryPoint;
  /** The program text without the added marker; when given, sourceLine is its line exactly. */
  readonly source?: string;
  /**
   * Where each traced file is in `context` (buildContext's layout) when it holds several: frames read in another file
   * get its `file` and their line in that file. Ignored when the text carries a different context.
   */
  readonly layout?: ContextLayout;
  /** Known frames the text continues (e.g. the frames already in the prompt): scopes, `".."` values and indices go on from them. */
  readonly prefix?: readonly TraceFrame[];
  /** Index of the first frame read; defaults to the prefix's length, else 0. */
  readonly startIndex?: number;
}

export type ReaderItem =
  | { readonly kind: 'frame'; readonly frame: TraceFrame }
  | { readonly kind: 'malformed'; readonly malformed: MalformedFrame }
  | { readonly kind: 'end' };

/** Reasons a MalformedFrame carries. */
export const MalformedReason = {
  cutOff: 'cut off',
  noSourceLine: 'no source line',
  noEvent: 'no event token',
  strayText: 'stray text between frames',
  unknownToken: 'unknown special token',
} as const;

type EventToken = 'call' | 'line' | 'return' | 'exception';
type TokenKind = EventToken | 'frame' | 'action' | 'arg' | 'end' | 'begin' | 'contextStart' | 'other';

/** Every one of the 256 special tokens' texts; `<|foo|>` outside this set (and not a reserved name) is ordinary text. */
const TOKEN_KINDS: ReadonlyMap<string, TokenKind> = (() => {
  const kinds = new Map<string, TokenKind>();
  for (const text of specialTokenMap().keys()) kinds.set(text, 'other');
  const known: [string, TokenKind][] = [
    [Tok.frameSep, 'frame'],
    [Tok.actionSep, 'action'],
    [Tok.argSep, 'arg'],
    [Tok.callSep, 'call'],
    [Tok.lineSep, 'line'],
    [Tok.returnSep, 'return'],
    [Tok.exceptionSep, 'exception'],
    [Tok.endOfText, 'end'],
    ['<|eom_id|>', 'end'],
    ['<|eot_id|>', 'end'],
    [Tok.beginOfText, 'begin'],
    [Tok.traceContextStart, 'contextStart'],
  ];
  for (const [text, kind] of known) kinds.set(text, kind);
  return kinds;
})();
const MAX_TOKEN_LENGTH = maxOf([...TOKEN_KINDS.keys()].map((t) => t.length));

function isEventToken(kind: TokenKind): kind is EventToken {
  return kind === 'call' || kind === 'line' || kind === 'return' || kind === 'exception';
}

function isTokenNameChar(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x5f;
}

interface Piece {
  kind: TokenKind | 'text';
  text: string;
}

interface ScopeState {
  readonly id: number;
  functionName: string | undefined;
  /** Line of this scope's latest frame, for choosing among equal lines. */
  lastLine: number;
  range: readonly [number, number] | undefined;
  /** Latest value of every name seen in this scope, for resolving `".."`. */
  readonly known: Map<string, string>;
}

interface LocalEntry {
  readonly name: string;
  /** undefined for `".."`. */
  readonly value: string | undefined;
}

interface ParsedLocals {
  readonly entries: LocalEntry[];
  /** `ok`: a complete object; `empty`: no text at all; `cut`: ended inside the object; `invalid`: not an object from some point on. */
  readonly status: 'ok' | 'empty' | 'cut' | 'invalid';
  /** Index just past the closing brace (status ok). */
  readonly end: number;
  /** Names whose value was a JSON number, literal, object or array instead of a string. */
  readonly nonString: string[];
  readonly badEscape: boolean;
}

type Phase = 'start' | 'afterBegin' | 'context' | 'frames' | 'ended';

/**
 * Incremental reader. Push text in any chunks (a special token may be split across them); each push returns the
 * frames, malformed frames and end marker completed by that text. Call finish() when the text is over.
 * A text that starts with a prompt (`<|begin_of_text|><|trace_context_start|>...<|frame_sep|>`) has it skipped,
 * and the context embedded there is used for line mapping when it differs from `options.context`.
 */
export class CwmTraceReader {
  private readonly options: CwmReaderOptions;
  private lines: SourceLineIndex;
  private contextText: string;
  /** Files of a multi-file context; undefined once the text carried a context of its own. */
  private layout: ContextLayout | undefined;
  private phase: Phase = 'start';
  private finished = false;
  private out: ReaderItem[] = [];

  // Scanner: a possible special token that is not complete yet.
  private partial = '';

  // Prompt skipping.
  private embedded = '';
  private embeddedMatches = true;
  private pendingFrameSep = false;

  // The frame being assembled.
  private pieces: Piece[] = [];
  private hasEvent = false;

  // Scope inference.
  private readonly stack: ScopeState[] = [];
  private nextScopeId = 0;
  private nextIndex: number;
  private framesSeen: number;
  private readonly entryLine: number | undefined;

  constructor(options: CwmReaderOptions) {
    this.options = options;
    this.contextText = options.context;
    this.layout = options.layout !== undefined && options.layout.text === options.context && options.layout.files.length > 0 ? options.layout : undefined;
    this.lines = new SourceLineIndex(options.context, this.layout && options.source !== undefined ? withOtherFiles(options.source, this.layout) : options.source);
    const prefix = options.prefix ?? [];
    this.nextIndex = options.startIndex ?? prefix.length;
    this.framesSeen = prefix.length;
    this.entryLine = options.entry?.kind === 'function' ? options.entry.line : undefined;
    for (const frame of prefix) this.replayKnownFrame(frame);
  }

  /** True once `<|end_of_text|>` (or another stop token) was read; later text is ignored. */
  get ended(): boolean {
    return this.phase === 'ended';
  }

  /** The context lines are mapped against: the embedded prompt's when the text carried one, else options.context. */
  get context(): string {
    return this.contextText;
  }

  push(text: string): ReaderItem[] {
    if (!this.finished && this.phase !== 'ended' && text.length > 0) {
      try {
        this.scan(text);
      } catch (error) {
        this.internalFailure(error);
      }
    }
    return this.takeItems();
  }

  /** Ends the input: a partial special token becomes text, a partial frame a MalformedFrame 'cut off'. */
  finish(): ReaderItem[] {
    if (!this.finished) {
      this.finished = true;
      try {
        if (this.partial !== '') {
          const rest = this.partial;
          this.partial = '';
          this.onText(rest);
        }
        if (this.phase === 'context' || this.phase === 'afterBegin' || this.phase === 'start') this.endContext();
        if (this.phase === 'frames') this.flushAtEnd();
      } catch (error) {
        this.internalFailure(error);
      }
    }
    return this.takeItems();
  }

  private takeItems(): ReaderItem[] {
    const items = this.out;
    this.out = [];
    return items;
  }

  /** Guards the never-throw promise against a bug here: the rest of the text is reported, not lost silently. */
  private internalFailure(error: unknown): void {
    const raw = this.pieces.map((p) => p.text).join('');
    this.pieces = [];
    this.hasEvent = false;
    this.out.push({ kind: 'malformed', malformed: { index: this.nextIndex, raw, reason: `reader error: ${String(error)}` } });
  }

  // ---- Scanner: text → special tokens and text runs, keeping a cursor so 1-character chunks cost O(1) each. ----

  private scan(chunk: string): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && this.phase !== 'ended') {
      const partial = this.partial;
      if (partial === '') {
        const lt = chunk.indexOf('<', i);
        if (lt < 0) {
          this.onText(chunk.slice(i));
          return;
        }
        if (lt > i) this.onText(chunk.slice(i, lt));
        this.partial = '<';
        i = lt + 1;
        continue;
      }
      const code = chunk.charCodeAt(i);
      if (partial.length === 1) {
        if (code === 0x7c) {
          this.partial = '<|';
          i++;
          continue;
        }
      } else if (partial.length > 2 && partial.endsWith('|')) {
        if (code === 0x3e) {
          this.partial = '';
          i++;
          this.onCandidateToken(partial + '>');
          continue;
        }
      } else if (partial.length < MAX_TOKEN_LENGTH) {
        if (isTokenNameChar(code) || (code === 0x7c && partial.length > 2)) {
          this.partial = partial + chunk[i];
          i++;
          continue;
        }
      }
      // Not a special token after all: its text so far is ordinary; the current character is looked at afresh.
      this.partial = '';
      this.onText(partial);
    }
  }

  private onCandidateToken(text: string): void {
    // Other tokenizers (the HF one MLX-LM uses) number reserved tokens differently: any reserved name is special.
    const kind = TOKEN_KINDS.get(text) ?? (text.startsWith('<|reserved_special_token_') ? 'other' : undefined);
    if (kind === undefined) this.onText(text);
    else this.onToken(kind, text);
  }

  private onText(text: string): void {
    if (text === '') return;
    switch (this.phase) {
      case 'start':
      case 'afterBegin':
        this.phase = 'frames';
        this.addText(text);
        return;
      case 'context':
        this.resolvePendingFrameSep();
        this.appendContext(text);
        return;
      case 'frames':
        this.addText(text);
        return;
      case 'ended':
        return;
    }
  }

  private onToken(kind: TokenKind, text: string): void {
    switch (this.phase) {
      case 'start':
        if (kind === 'begin') this.phase = 'afterBegin';
        else if (kind === 'contextStart') this.phase = 'context';
        else {
          this.phase = 'frames';
          this.frameToken(kind, text);
        }
        return;
      case 'afterBegin':
        if (kind === 'contextStart') this.phase = 'context';
        else {
          this.phase = 'frames';
          this.frameToken(kind, text);
        }
        return;
      case 'context':
        this.contextToken(kind, text);
        return;
      case 'frames':
        this.frameToken(kind, text);
        return;
      case 'ended':
        return;
    }
  }

  // ---- Prompt skipping. ----

  /**
   * The context ends at the `<|frame_sep|>` after which options.context is complete when the text matches it;
   * otherwise at the first `<|frame_sep|>` followed by an event token, `<|end_of_text|>` or the end of the text
   * (a program may itself contain the characters `<|frame_sep|>`).
   */
  private contextToken(kind: TokenKind, text: string): void {
    if (kind === 'frame') {
      this.resolvePendingFrameSep();
      const expected = this.options.context;
      if (this.embeddedMatches && expected.length > 0 && this.embedded.length === expected.length) this.endContext();
      else if (this.embeddedMatches && expected.startsWith(text, this.embedded.length)) this.appendContext(text);
      else this.pendingFrameSep = true;
      return;
    }
    if (this.pendingFrameSep && (isEventToken(kind) || kind === 'end')) {
      this.pendingFrameSep = false;
      this.endContext();
      this.frameToken(kind, text);
      return;
    }
    this.resolvePendingFrameSep();
    this.appendContext(text);
  }

  /** A `<|frame_sep|>` held back turned out to be part of the program: something other than a frame followed it. */
  private resolvePendingFrameSep(): void {
    if (!this.pendingFrameSep) return;
    this.pendingFrameSep = false;
    this.appendContext(Tok.frameSep);
  }

  private appendContext(text: string): void {
    if (this.embeddedMatches) this.embeddedMatches = this.options.context.startsWith(text, this.embedded.length);
    this.embedded += text;
  }

  private endContext(): void {
    if (this.phase === 'context') {
      this.pendingFrameSep = false;
      if (this.embedded !== this.options.context) {
        this.contextText = this.embedded;
        this.lines = new SourceLineIndex(this.embedded);
        this.layout = undefined;
      }
    }
    this.phase = 'frames';
  }

  // ---- Frame assembly: pieces between frame separators. ----

  private addText(text: string): void {
    const last = this.pieces[this.pieces.length - 1];
    if (last !== undefined && last.kind === 'text') last.text += text;
    else this.pieces.push({ kind: 'text', text });
  }

  private frameToken(kind: TokenKind, text: string): void {
    if (kind === 'frame') {
      this.closeFrame(true);
      return;
    }
    if (isEventToken(kind)) {
      // An event token inside a frame that already has one: the frame separator is missing (or a value was).
      if (this.hasEvent) this.closeFrame(false);
      else this.flushStray();
      this.pieces = [{ kind, text }];
      this.hasEvent = true;
      return;
    }
    if (kind === 'end') {
      this.closeFrame(false);
      this.out.push({ kind: 'end' });
      this.phase = 'ended';
      this.partial = '';
      return;
    }
    this.pieces.push({ kind, text });
  }

  private closeFrame(bySeparator: boolean): void {
    if (this.hasEvent) {
      const pieces = this.pieces;
      this.pieces = [];
      this.hasEvent = false;
      this.readFrame(pieces, bySeparator);
    } else this.flushStray();
  }

  private flushAtEnd(): void {
    if (this.hasEvent) {
      const pieces = this.pieces;
      this.pieces = [];
      this.hasEvent = false;
      const event = pieces[0].kind as EventToken;
      this.applyStackEffect(event);
      this.malformed(pieces.map((p) => p.text).join(''), MalformedReason.cutOff);
    } else this.flushStray();
  }

  /** Text and tokens outside any frame: ignored when only whitespace, else one MalformedFrame. */
  private flushStray(): void {
    const pieces = this.pieces;
    this.pieces = [];
    if (pieces.length === 0) return;
    const raw = pieces.map((p) => p.text).join('');
    if (raw.trim() === '') return;
    let reason: string = MalformedReason.unknownToken;
    if (pieces.some((p) => p.kind === 'action' || p.kind === 'arg')) reason = MalformedReason.noEvent;
    else if (pieces.some((p) => p.kind === 'text' && p.text.trim() !== '')) reason = MalformedReason.strayText;
    this.malformed(raw, reason);
  }

  private malformed(raw: string, reason: string): void {
    this.framesSeen++;
    this.out.push({ kind: 'malformed', malformed: { index: this.nextIndex, raw, reason } });
  }

  /** Splits one frame's pieces into its fields and turns them into a frame (or a MalformedFrame). */
  private readFrame(pieces: readonly Piece[], bySeparator: boolean): void {
    const event = pieces[0].kind as EventToken;
    const raw = pieces.map((p) => p.text).join('');
    const issues: FrameIssue[] = [];
    if (!bySeparator) issues.push({ kind: 'missing-frame-sep', message: 'The frame was not closed by <|frame_sep|>.' });

    let head = '';
    let lineField: string | undefined;
    let valueField: string | undefined;
    let extra = '';
    let field: 'head' | 'line' | 'value' | 'extra' = 'head';
    const unknownTokens: string[] = [];
    for (let k = 1; k < pieces.length; k++) {
      const piece = pieces[k];
      if (piece.kind === 'text') {
        if (field === 'head') head += piece.text;
        else if (field === 'line') lineField += piece.text;
        else if (field === 'value') valueField += piece.text;
        else extra += piece.text;
      } else if (piece.kind === 'action' && field === 'head') {
        field = 'line';
        lineField = '';
      } else if (piece.kind === 'arg' && (field === 'line' || field === 'head')) {
        field = 'value';
        valueField = '';
      } else if (piece.kind === 'action' || piece.kind === 'arg') {
        field = 'extra';
        extra += piece.text;
      } else unknownTokens.push(piece.text);
    }
    if (unknownTokens.length > 0) {
      issues.push({ kind: 'unknown-token', message: `Ignored special tokens inside the frame: ${shorten(unknownTokens.slice(0, 5).join(' '))}.` });
    }
    if (extra.trim() !== '') issues.push({ kind: 'extra-text', message: 'Text after the frame\'s last field was ignored.' });

    if (event === 'call' || event === 'line') {
      const locals = parseLocals(head);
      describeLocalsProblems(locals, issues);
      let lineText = lineField;
      if (lineText === undefined) {
        const rest = locals.status === 'ok' ? head.slice(locals.end) : '';
        if (rest.trim() !== '') {
          lineText = rest;
          issues.push({ kind: 'missing-action-sep', message: 'No <|action_sep|> before the source line.' });
        }
      } else if (locals.status === 'ok' && head.slice(locals.end).trim() !== '') {
        issues.push({ kind: 'extra-text', message: 'Text after the locals was ignored.' });
      }
      if (valueField !== undefined) issues.push({ kind: 'unexpected-value', message: `A ${event} frame carries no value; it was ignored.` });
      if (lineText === undefined) {
        this.applyStackEffect(event);
        this.malformed(raw, MalformedReason.noSourceLine);
        return;
      }
      const { line, rest } = splitLineField(lineText);
      if (rest.trim() !== '') issues.push({ kind: 'extra-text', message: 'Text after the source line was ignored.' });
      this.emitFrame(event, line, locals.entries, undefined, issues, raw);
      return;
    }

    if (head.trim() !== '') {
      if (lineField === undefined) {
        lineField = head;
        issues.push({ kind: 'missing-action-sep', message: 'No <|action_sep|> before the source line.' });
      } else issues.push({ kind: 'unexpected-locals', message: `A ${event} frame carries no locals; they were ignored.` });
    }
    if (lineField === undefined) {
      this.applyStackEffect(event);
      this.malformed(raw, MalformedReason.noSourceLine);
      return;
    }
    let { line, rest } = splitLineField(lineField);
    if (valueField === undefined) {
      if (rest.trim() !== '') {
        valueField = rest;
        rest = '';
        issues.push({ kind: 'missing-arg-sep', message: 'No <|arg_sep|> before the value.' });
      } else issues.push({ kind: 'missing-value', message: `The ${event} frame has no value.` });
    }
    if (rest.trim() !== '') issues.push({ kind: 'extra-text', message: 'Text after the source line was ignored.' });
    const value = valueField === undefined ? '' : parseValue(valueField, issues);
    this.emitFrame(event, line, undefined, value, issues, raw);
  }

  // ---- Scopes, line mapping and `".."` resolution. ----

  /** A frame that could not be read still opens or closes its scope, so that the frames after it nest correctly. */
  private applyStackEffect(event: EventToken): void {
    if (event === 'call') this.stack.push(this.newScope(undefined, 0, undefined));
    else if (event === 'return') this.stack.pop();
  }

  private newScope(functionName: string | undefined, line: number, range: readonly [number, number] | undefined): ScopeState {
    return { id: this.nextScopeId++, functionName, lastLine: line, range, known: new Map() };
  }

  private emitFrame(
    event: EventToken,
    lineText: string,
    entries: readonly LocalEntry[] | undefined,
    value: string | undefined,
    issues: FrameIssue[],
    raw: string,
  ): void {
    let scope: ScopeState;
    let depth: number;
    let line: number;
    let quality: 'exact' | 'loose' | 'none';
    if (event === 'call') {
      depth = this.stack.length;
      const caller = this.stack[this.stack.length - 1];
      const names = entries?.map((e) => e.name) ?? [];
      const callerLine = caller !== undefined ? this.lines.contextLine(caller.lastLine) ?? '' : '';
      ({ line, quality } = this.lines.find(lineText, {
        parameters: names,
        preferLine: depth === 0 ? this.entryLine : undefined,
        mentions: `${callerLine}\n${entries?.[0]?.value ?? ''}`,
        after: caller?.lastLine,
      }));
      scope = this.newScope(this.callName(lineText, line, names, depth), line, this.rangeForCall(line));
      this.stack.push(scope);
    } else {
      if (this.stack.length === 0) {
        if (this.framesSeen > 0) {
          issues.push({ kind: 'unbalanced', message: 'A frame outside any open function scope (after the entry returned?).' });
        }
        this.stack.push(this.newScope(undefined, 0, undefined));
      }
      scope = this.stack[this.stack.length - 1];
      depth = this.stack.length - 1;
      // Plausible succession only judges line events: a return or exception fires on the line that ran last.
      const previous = event === 'line' ? scope.lastLine : undefined;
      ({ line, quality } = this.lines.find(lineText, { after: scope.lastLine, previous, within: scope.range }));
      if (line > 0 && scope.range === undefined) scope.range = this.rangeOfEnclosing(line);
    }
    if (scope.functionName === undefined) scope.functionName = this.nameFromBody(line, depth);
    if (line > 0) scope.lastLine = line;
    if (quality === 'none') issues.push({ kind: 'line-not-found', message: `The line ${JSON.stringify(shorten(lineText.trim()))} is not in the source.` });
    else if (quality === 'loose') issues.push({ kind: 'line-approximate', message: 'The line matches a source line only when whitespace is ignored.' });

    let locals: Locals = new Map();
    if (entries !== undefined) locals = this.resolveLocals(scope, entries, issues);
    if (event === 'return') this.stack.pop();

    const sourceLine = line > 0 ? this.lines.sourceLine(line) ?? '' : unmarkLine(lineText.replace(/\r$/, ''));
    // In a multi-file context, the context line becomes a line of the file it is in (a header line is in none).
    const at = this.layout !== undefined && line > 0 ? locateContextLine(this.layout, line) ?? { line: 0 } : { line };
    if (at.line === 0 && line > 0) issues.push({ kind: 'line-not-found', message: `The line ${JSON.stringify(shorten(lineText.trim()))} is a file header of the context, not a source line.` });
    const frame: TraceFrame = {
      index: this.nextIndex++,
      event: event as TraceEventKind,
      line: at.line,
      sourceLine,
      scope: scope.id,
      ...(at.file !== undefined ? { file: at.file } : {}),
      functionName: scope.functionName,
      depth,
      locals,
      ...(value !== undefined ? { value } : {}),
      ...(issues.length > 0 ? { issues, raw } : {}),
    };
    this.framesSeen++;
    this.out.push({ kind: 'frame', frame });
  }

  private resolveLocals(scope: ScopeState, entries: readonly LocalEntry[], issues: FrameIssue[]): Locals {
    const locals = new Map<string, string>();
    const unknown: string[] = [];
    for (const { name, value } of entries) {
      const resolved = value ?? scope.known.get(name);
      if (resolved === undefined) unknown.push(name);
      else locals.set(name, resolved);
    }
    for (const [name, value] of locals) scope.known.set(name, value);
    if (unknown.length > 0) {
      issues.push({
        kind: 'unknown-ellipsis',
        message: `".." for ${unknown.slice(0, 5).map((n) => JSON.stringify(shorten(n))).join(', ')} with no earlier value in this scope; dropped.`,
      });
    }
    return locals;
  }

  /**
   * Function name of a scope entered by a call on `line`: a def/class line names itself, a decorator the definition
   * below; a `.0` local means a comprehension frame, named by its bracket; a lambda line `<lambda>`; any other line
   * (a generator resuming at a yield) the enclosing function. A script's depth-0 scope is `<module>`.
   */
  private callName(lineText: string, line: number, names: readonly string[], depth: number): string {
    if (depth === 0 && this.options.entry?.kind === 'script') return '<module>';
    const text = line > 0 ? this.lines.contextLine(line) ?? lineText : lineText;
    if (names.includes('.0')) {
      const kind = line > 0 ? this.lines.comprehensionAt(line) : comprehensionKind([text]);
      if (kind) return kind;
    }
    const def = definitionOn(text);
    if (def) return def.name;
    if (line > 0 && isDecoratorLine(text)) {
      const below = this.lines.definitionForCall(line);
      const name = below > 0 ? definitionOn(this.lines.contextLine(below) ?? '')?.name : undefined;
      if (name) return name;
    }
    if (mentionsLambda(text)) return '<lambda>';
    if (line > 0) return this.lines.enclosingName(line);
    if (depth === 0 && this.options.entry?.kind === 'function') return this.options.entry.name.split('.').pop()!;
    return '<unknown>';
  }

  /** Name of a scope whose call frame was not read (continuing text, malformed call): the function around its first line. */
  private nameFromBody(line: number, depth: number): string {
    if (depth === 0 && this.options.entry?.kind === 'script') return '<module>';
    if (line > 0) return this.lines.enclosingName(line);
    if (depth === 0 && this.options.entry?.kind === 'function') return this.options.entry.name.split('.').pop()!;
    return '<unknown>';
  }

  private rangeForCall(line: number): readonly [number, number] | undefined {
    if (line <= 0) return undefined;
    const def = this.lines.definitionForCall(line);
    return def > 0 ? this.lines.definitionRange(def) : this.rangeOfEnclosing(line);
  }

  private rangeOfEnclosing(line: number): readonly [number, number] | undefined {
    const def = this.lines.enclosingDefinitionLine(line);
    return def > 0 ? this.lines.definitionRange(def) : undefined;
  }

  /** Rebuilds the scope stack and known values from frames read before (their ids and depths are trusted). */
  private replayKnownFrame(frame: TraceFrame): void {
    const keep = frame.event === 'call' ? frame.depth : frame.depth + 1;
    if (this.stack.length > keep) this.stack.length = Math.max(0, keep);
    this.nextScopeId = Math.max(this.nextScopeId, frame.scope + 1);
    const line = this.layout !== undefined ? contextLineOf(this.layout, frame.file, frame.line) : frame.line;
    let top = this.stack[this.stack.length - 1];
    if (frame.event === 'call' || this.stack.length < keep || top === undefined || top.id !== frame.scope) {
      if (frame.event !== 'call' && top !== undefined && this.stack.length === keep) this.stack.pop();
      top = { id: frame.scope, functionName: frame.functionName, lastLine: 0, range: undefined, known: new Map() };
      top.range = line > 0 ? (frame.event === 'call' ? this.rangeForCall(line) : this.rangeOfEnclosing(line)) : undefined;
      this.stack.push(top);
    }
    if (line > 0) top.lastLine = line;
    for (const [name, value] of frame.locals) top.known.set(name, value);
    if (frame.event === 'return') this.stack.pop();
  }
}

/** The program's lines followed by the context's other-file lines: sourceLine stays exact for the main file's lines. */
function withOtherFiles(source: string, layout: ContextLayout): string {
  const main = splitSourceLines(source);
  if (main.length !== layout.mainLineCount) return source;
  return [...main, ...splitSourceLines(layout.text).slice(layout.mainLineCount)].join('\n');
}

/** Text cut for an issue message. */
function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** LINE field: the text up to its `\n`, and whatever followed that. */
function splitLineField(text: string): { line: string; rest: string } {
  const newline = text.indexOf('\n');
  return newline < 0 ? { line: text, rest: '' } : { line: text.slice(0, newline), rest: text.slice(newline + 1) };
}

function describeLocalsProblems(locals: ParsedLocals, issues: FrameIssue[]): void {
  if (locals.status === 'empty') issues.push({ kind: 'missing-locals', message: 'The frame has no locals object.' });
  else if (locals.status === 'cut') {
    issues.push({ kind: 'invalid-locals', message: `The locals object is cut off; kept the ${locals.entries.length} complete entries.` });
  } else if (locals.status === 'invalid') {
    issues.push({ kind: 'invalid-locals', message: `The locals are not a valid JSON object; kept the ${locals.entries.length} entries before the error.` });
  }
  if (locals.nonString.length > 0) {
    issues.push({
      kind: 'non-string-value',
      message: `Values of ${locals.nonString.slice(0, 5).map((n) => JSON.stringify(shorten(n))).join(', ')} were not JSON strings; kept as written.`,
    });
  }
  if (locals.badEscape) issues.push({ kind: 'invalid-escape', message: 'A string had an invalid escape; kept literally.' });
}

/** VALUE of a return/exception frame: a JSON string, else salvaged with an issue. */
function parseValue(text: string, issues: FrameIssue[]): string {
  const start = skipWhitespace(text, 0);
  if (start >= text.length) {
    issues.push({ kind: 'missing-value', message: 'The value is empty.' });
    return '';
  }
  if (text.charCodeAt(start) === 0x22) {
    const parsed = parseJsonString(text, start);
    if (!parsed.closed) issues.push({ kind: 'invalid-value', message: 'The value string is not closed; kept what was there.' });
    else if (text.slice(parsed.end).trim() !== '') issues.push({ kind: 'extra-text', message: 'Text after the value was ignored.' });
    if (parsed.badEscape) issues.push({ kind: 'invalid-escape', message: 'The value had an invalid escape; kept literally.' });
    return parsed.value;
  }
  const scalar = parseScalar(text, start);
  if (scalar !== undefined && text.slice(scalar.end).trim() === '') {
    issues.push({ kind: 'non-string-value', message: 'The value was not a JSON string; kept as written.' });
    return scalar.value;
  }
  issues.push({ kind: 'invalid-value', message: 'The value is not JSON; kept the raw text.' });
  return text.trim();
}

function skipWhitespace(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

interface ParsedString {
  readonly value: string;
  /** Index just past the closing quote, or the text's length when not closed. */
  readonly end: number;
  readonly closed: boolean;
  readonly badEscape: boolean;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** A JSON string starting at the quote at `start`; invalid escapes are kept literally, a missing close quote tolerated. */
function parseJsonString(text: string, start: number): ParsedString {
  let out = '';
  let badEscape = false;
  let i = start + 1;
  let run = i;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return { value: out + text.slice(run, i), end: i + 1, closed: true, badEscape };
    if (c !== 0x5c) {
      i++;
      continue;
    }
    out += text.slice(run, i);
    if (i + 1 >= n) return { value: out, end: n, closed: false, badEscape };
    const escape = text[i + 1];
    const simple = SIMPLE_ESCAPES[escape];
    if (simple !== undefined) {
      out += simple;
      i += 2;
    } else if (escape === 'u') {
      const hex = text.slice(i + 2, i + 6);
      if (/^[0-9a-fA-F]{4}$/.test(hex)) {
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (i + 6 > n && /^[0-9a-fA-F]*$/.test(hex)) {
        return { value: out, end: n, closed: false, badEscape };
      } else {
        out += '\\u';
        badEscape = true;
        i += 2;
      }
    } else {
      out += '\\' + escape;
      badEscape = true;
      i += 2;
    }
    run = i;
  }
  return { value: out + text.slice(run), end: n, closed: false, badEscape };
}

/** A bare JSON scalar (number, true/false/null) or `..`, as the repr it stands for. */
function parseScalar(text: string, start: number): { value: string; end: number } | undefined {
  let end = start;
  while (end < text.length && !/[\s,}\]]/.test(text[end])) end++;
  const token = text.slice(start, end);
  if (token === 'true') return { value: 'True', end };
  if (token === 'false') return { value: 'False', end };
  if (token === 'null') return { value: 'None', end };
  if (/^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(token)) return { value: token, end };
  return undefined;
}

/** Index past the balanced `{...}` / `[...]` starting at `start`, or -1 when it is not closed. */
function skipBalanced(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const parsed = parseJsonString(text, i);
      if (!parsed.closed) return -1;
      i = parsed.end;
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/**
 * LOCALS: a JSON object of name → repr, read by hand so that key order is the text's (JSON.parse reorders integer-like
 * keys) and so that a broken object still yields its complete entries. `".."` (or a bare `..`) is an ellipsis entry.
 */
function parseLocals(text: string): ParsedLocals {
  const entries: LocalEntry[] = [];
  const nonString: string[] = [];
  let badEscape = false;
  const n = text.length;
  const done = (status: ParsedLocals['status'], end: number): ParsedLocals => ({ entries, status, end, nonString, badEscape });
  let i = skipWhitespace(text, 0);
  if (i >= n) return done('empty', n);
  if (text.charCodeAt(i) !== 0x7b) return done('invalid', -1);
  i++;
  for (;;) {
    i = skipWhitespace(text, i);
    if (i >= n) return done('cut', -1);
    const c = text.charCodeAt(i);
    if (c === 0x7d) return done('ok', i + 1);
    if (c !== 0x22) return done('invalid', -1);
    const key = parseJsonString(text, i);
    badEscape ||= key.badEscape;
    if (!key.closed) return done('cut', -1);
    i = skipWhitespace(text, key.end);
    if (i >= n) return done('cut', -1);
    if (text.charCodeAt(i) !== 0x3a) return done('invalid', -1);
    i = skipWhitespace(text, i + 1);
    if (i >= n) return done('cut', -1);
    const v = text.charCodeAt(i);
    if (v === 0x22) {
      const value = parseJsonString(text, i);
      badEscape ||= value.badEscape;
      if (!value.closed) return done('cut', -1);
      entries.push({ name: key.value, value: value.value === '..' ? undefined : value.value });
      i = value.end;
    } else if (v === 0x7b || v === 0x5b) {
      const end = skipBalanced(text, i);
      if (end < 0) return done('cut', -1);
      entries.push({ name: key.value, value: text.slice(i, end) });
      nonString.push(key.value);
      i = end;
    } else {
      const scalar = text.startsWith('..', i) && /^\.\.(?:[\s,}]|$)/.test(text.slice(i, i + 3)) ? { value: undefined, end: i + 2 } : parseScalar(text, i);
      if (scalar === undefined) return done('invalid', -1);
      entries.push({ name: key.value, value: scalar.value });
      if (scalar.value !== undefined) nonString.push(key.value);
      i = scalar.end;
    }
    i = skipWhitespace(text, i);
    if (i >= n) return done('cut', -1);
    const sep = text.charCodeAt(i);
    if (sep === 0x2c) i++;
    else if (sep === 0x7d) return done('ok', i + 1);
    else return done('invalid', -1);
  }
}

/** Reads a whole text at once. */
export function readCwmTrace(
  text: string,
  options: CwmReaderOptions,
): { frames: TraceFrame[]; malformed: MalformedFrame[]; ended: boolean; context: string } {
  const reader = new CwmTraceReader(options);
  const items = [...reader.push(text), ...reader.finish()];
  const frames: TraceFrame[] = [];
  const malformed: MalformedFrame[] = [];
  for (const item of items) {
    if (item.kind === 'frame') frames.push(item.frame);
    else if (item.kind === 'malformed') malformed.push(item.malformed);
  }
  return { frames, malformed, ended: reader.ended, context: reader.context };
}

/**
 * Splits a rendered trace `<|begin_of_text|><|trace_context_start|>CONTEXT<|frame_sep|>FRAMES` into its context and
 * frames. Without options the context is found as the reader finds an embedded prompt (see CwmTraceReader).
 */
export function parseRenderedTrace(
  text: string,
  options: Partial<CwmReaderOptions> = {},
): { context: string; frames: TraceFrame[]; malformed: MalformedFrame[]; ended: boolean } {
  return readCwmTrace(text, { ...options, context: options.context ?? '' });
}
