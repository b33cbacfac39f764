// Loads a saved trace for replay in the debugger: the JSON the CLI or cwm/exportTrace writes, or a rendered CWM trace
// (`<|begin_of_text|><|trace_context_start|>…`, a .cwmtrace file). The program text comes from the program file when
// it is the one the trace ran, else from the trace itself (its context, or the JSON's `source`).

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { z } from 'zod';
import { splitSourceLines } from '../cwm/lines';
import { parseRenderedTrace } from '../cwm/reader';
import { Tok } from '../cwm/tokens';
import { markEntryLine } from '../cwm/writer';
import { parseContextLayout } from '../cwm/context';
import { findEntryPoint } from '../trace/entry';
import type { EntryPoint, Trace, TraceEnd, TraceFrame } from '../trace/model';
import { endOfFinishedTrace } from './navigator';

/** The file is not a trace this debugger can replay; the message says why. */
export class SavedTraceError extends Error {}

const Output = z.object({ stream: z.enum(['stdout', 'stderr']), text: z.string() });

const FrameJson = z.object({
  index: z.number().int().nonnegative(),
  event: z.enum(['call', 'line', 'return', 'exception']),
  line: z.number().int().nonnegative(),
  source: z.string().default(''),
  scope: z.number().int(),
  file: z.string().optional(),
  function: z.string(),
  depth: z.number().int().nonnegative(),
  locals: z.record(z.string(), z.string()).default({}),
  objects: z.record(z.string(), z.string()).optional(),
  value: z.string().optional(),
  output: z.array(Output).optional(),
});

const EntryJson = z.union([
  z.object({ kind: z.literal('function'), name: z.string(), line: z.number().int().positive(), args: z.string().optional() }),
  z.object({ kind: z.literal('script') }),
]);

const EndJson = z.object({ kind: z.string(), message: z.string().optional() }).passthrough();

const TraceJson = z.object({
  origin: z.enum(['actual', 'predicted']).default('actual'),
  path: z.string().optional(),
  entry: EntryJson.default({ kind: 'script' }),
  pythonVersion: z.string().optional(),
  end: EndJson.default({ kind: 'returned' }),
  notes: z.array(z.string()).default([]),
  frames: z.array(FrameJson),
  outsideOutput: z.array(Output).default([]),
  /** The program text (cwm/exportTrace writes it; the CLI's JSON has none and needs the program file). */
  source: z.string().optional(),
  /** Other files the frames ran code from (frames with `file`). */
  files: z.array(z.object({ path: z.string(), source: z.string() })).optional(),
});

function endOf(end: z.infer<typeof EndJson>): TraceEnd {
  const message = end.message ?? '';
  switch (end.kind) {
    case 'returned': return { kind: 'returned' };
    case 'raised': return { kind: 'raised', message };
    case 'incomplete': return { kind: 'incomplete', message };
    case 'crashed': return { kind: 'crashed', message };
    case 'limit': {
      const limit = (end as { limit?: unknown }).limit;
      return { kind: 'limit', limit: limit === 'time' || limit === 'output' || limit === 'memory' ? limit : 'events', message };
    }
    case 'exited': {
      const code = (end as { code?: unknown }).code;
      return { kind: 'exited', code: typeof code === 'number' || typeof code === 'string' ? code : null, message };
    }
    default: return { kind: 'crashed', message: message || `unknown end "${end.kind}"` };
  }
}

/** A saved trace ready to replay, with the program text its line numbers refer to. */
export interface SavedTrace {
  readonly trace: Trace;
  /** The program text the trace ran: the program file's when it matches the trace, else the text the trace stores. */
  readonly source: string;
  /** `source` is the program file's: the debugger shows the real file. */
  readonly fromProgram: boolean;
  /** A file name for `source` when it comes from the trace (the title of a read-only view). */
  readonly sourceName: string;
  /** What to tell the user about where the program text comes from; `important` when it is not the given program. */
  readonly notice?: { readonly text: string; readonly important: boolean };
}

export interface SavedTraceProgram {
  readonly path: string;
  /** The file's current text. */
  readonly source: string;
}

/**
 * Reads a saved trace. `program` is the Python file named in the launch configuration, if any: it is used when the
 * trace ran it as it is now; otherwise the trace's own program text is used and the notice says so.
 * `entryOptions` pick the entry only for a trace that does not say (CWM frames without the prompt).
 */
export async function loadSavedTrace(
  path: string,
  program?: SavedTraceProgram,
  entryOptions: { readonly entry?: string; readonly args?: string } = {},
): Promise<SavedTrace> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SavedTraceError(`Cannot read the saved trace ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return text.trimStart().startsWith('{') ? fromJson(path, text, program) : fromCwmText(path, text, program, entryOptions);
}

function fromJson(path: string, text: string, program: SavedTraceProgram | undefined): SavedTrace {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SavedTraceError(`The saved trace ${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = TraceJson.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SavedTraceError(`The saved trace ${path} is not a cwm-debug trace: ${issue.path.join('.') || 'top level'}: ${issue.message}.`);
  }
  const value = parsed.data;
  // Without a stored source the trace is taken to be of the given program, as the CLI's JSON always was.
  const fromProgram = program !== undefined && (value.source === undefined || sameText(value.source, program.source));
  const source = fromProgram ? program.source : value.source;
  if (source === undefined) {
    throw new SavedTraceError(`The saved trace ${path} holds no program text: give "program", the Python file it was recorded from.`);
  }
  const frames: TraceFrame[] = value.frames.map((frame, index) => ({
    index,
    event: frame.event,
    line: frame.line,
    sourceLine: frame.source,
    scope: frame.scope,
    ...(frame.file !== undefined ? { file: frame.file } : {}),
    functionName: frame.function,
    depth: frame.depth,
    locals: new Map(Object.entries(frame.locals)),
    ...(frame.objects !== undefined ? { objects: new Map(Object.entries(frame.objects)) } : {}),
    ...(frame.value !== undefined ? { value: frame.value } : {}),
    ...(frame.output ? { output: frame.output } : {}),
  }));
  const tracePath = fromProgram ? program.path : value.path;
  const trace: Trace = {
    origin: value.origin,
    ...(tracePath !== undefined ? { path: tracePath } : {}),
    source,
    ...(value.files?.length ? { files: value.files } : {}),
    entry: value.entry,
    frames,
    malformed: [],
    end: endOf(value.end),
    notes: value.notes,
    outsideOutput: value.outsideOutput,
    ...(value.pythonVersion ? { pythonVersion: value.pythonVersion } : {}),
  };
  return described(path, trace, fromProgram, program, value.path);
}

function fromCwmText(
  path: string,
  text: string,
  program: SavedTraceProgram | undefined,
  entryOptions: { readonly entry?: string; readonly args?: string },
): SavedTrace {
  const context = promptContext(text);
  let entry: EntryPoint;
  let source: string;
  let fromProgram: boolean;
  // A context of several files (see server/cwm/context.ts): with the program known, its other files are placed next to it.
  const split = context !== undefined && program !== undefined ? parseContextLayout(context, program.path) : undefined;
  if (split !== undefined) {
    entry = findEntryPoint(split.mainText);
    fromProgram = markEntryLine(program!.source, entry) === split.mainText;
    source = fromProgram ? program!.source : split.mainText;
  } else if (context === undefined) {
    // Frames only (model output without its prompt): the lines refer to the program, which must be given.
    if (!program) throw new SavedTraceError(`The saved trace ${path} holds no program text (no ${Tok.traceContextStart}): give "program", the Python file it was recorded from.`);
    entry = findEntryPoint(program.source, entryOptions);
    source = program.source;
    fromProgram = true;
  } else {
    // The context marks the entry; the program file is the traced one when marking it the same way gives the context.
    entry = findEntryPoint(context);
    fromProgram = program !== undefined && markEntryLine(program.source, entry) === context;
    // The context as it stands, marker included: what the trace's LINEs and line numbers refer to.
    source = fromProgram ? program!.source : context;
  }
  const read = parseRenderedTrace(text, { context: context ?? markEntryLine(source, entry), entry, source, ...(split ? { layout: split.layout } : {}) });
  if (read.frames.length === 0) throw new SavedTraceError(`The saved trace ${path} holds no frame this debugger can read (neither JSON nor CWM trace text).`);
  const notes = read.malformed.length > 0 ? [`${read.malformed.length} unreadable frames in the saved trace were skipped.`] : [];
  const trace: Trace = {
    origin: 'actual',
    ...(fromProgram ? { path: program!.path } : {}),
    source,
    ...(split ? { files: split.files } : {}),
    entry,
    frames: read.frames,
    malformed: read.malformed,
    end: read.ended ? endOfFinishedTrace(read.frames) : { kind: 'incomplete', message: 'the saved trace has no end of text' },
    notes,
    outsideOutput: [],
  };
  return described(path, trace, fromProgram, program);
}

function described(path: string, trace: Trace, fromProgram: boolean, program: SavedTraceProgram | undefined, recordedPath?: string): SavedTrace {
  const sourceName = recordedPath !== undefined ? basename(recordedPath) : program ? basename(program.path) : `${basename(path).replace(/\.[^.]*$/, '').replace(/-(?:actual|predicted)$/, '') || 'program'}.py`;
  const file = basename(path);
  let notice: SavedTrace['notice'];
  if (!fromProgram && program) {
    notice = {
      text: `The saved trace ${file} was recorded from a different version of ${basename(program.path)}: stepping through the program text stored in the trace (read-only).`,
      important: true,
    };
  } else if (!fromProgram) {
    notice = { text: `Replaying ${file}: the program text comes from the trace (read-only).`, important: false };
  }
  return { trace, source: trace.source, fromProgram, sourceName, ...(notice ? { notice } : {}) };
}

/** The context of a text that starts with the prompt, ending where the reader ends it; undefined without a prompt. */
function promptContext(text: string): string | undefined {
  const start = /^(?:<\|begin_of_text\|>)?<\|trace_context_start\|>/.exec(text);
  if (!start) return undefined;
  // A program may itself hold the characters <|frame_sep|>: the context ends at one that a frame or the end follows.
  const end = /<\|frame_sep\|>(?=<\|(?:call|line|return|exception)_sep\|>|<\|end_of_text\|>|$)/g;
  end.lastIndex = start[0].length;
  const found = end.exec(text);
  return text.slice(start[0].length, found ? found.index : text.length);
}

/** Equal program texts, whatever their line terminators. */
function sameText(a: string, b: string): boolean {
  return splitSourceLines(a).join('\n') === splitSourceLines(b).join('\n');
}
