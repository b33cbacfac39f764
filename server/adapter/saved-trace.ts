// Loads a saved trace for replay in the debugger: the JSON the CLI writes (`cwm-debug trace --format json`) or a
// rendered CWM trace (`<|begin_of_text|><|trace_context_start|>…`), read back against the program's source.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { parseRenderedTrace } from '../cwm/reader';
import { markEntryLine } from '../cwm/writer';
import type { EntryPoint, Trace, TraceEnd, TraceFrame } from '../trace/model';

/** The file is not a trace this debugger can replay; the message says why. */
export class SavedTraceError extends Error {}

const Output = z.object({ stream: z.enum(['stdout', 'stderr']), text: z.string() });

const FrameJson = z.object({
  index: z.number().int().nonnegative(),
  event: z.enum(['call', 'line', 'return', 'exception']),
  line: z.number().int().nonnegative(),
  source: z.string().default(''),
  scope: z.number().int(),
  function: z.string(),
  depth: z.number().int().nonnegative(),
  locals: z.record(z.string(), z.string()).default({}),
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

/** Reads a saved trace of `program` (whose current text is `source`). */
export async function loadSavedTrace(path: string, program: { path: string; source: string; entry: EntryPoint }): Promise<Trace> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SavedTraceError(`Cannot read the saved trace ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
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
    const frames: TraceFrame[] = value.frames.map((frame, index) => ({
      index,
      event: frame.event,
      line: frame.line,
      sourceLine: frame.source,
      scope: frame.scope,
      functionName: frame.function,
      depth: frame.depth,
      locals: new Map(Object.entries(frame.locals)),
      ...(frame.value !== undefined ? { value: frame.value } : {}),
      ...(frame.output ? { output: frame.output } : {}),
    }));
    return {
      origin: value.origin,
      path: program.path,
      source: program.source,
      entry: value.entry,
      frames,
      malformed: [],
      end: endOf(value.end),
      notes: value.notes,
      outsideOutput: value.outsideOutput,
      ...(value.pythonVersion ? { pythonVersion: value.pythonVersion } : {}),
    };
  }
  const context = markEntryLine(program.source, program.entry);
  const read = parseRenderedTrace(text, { entry: program.entry, source: program.source });
  if (read.frames.length === 0) throw new SavedTraceError(`The saved trace ${path} holds no frame this debugger can read (neither JSON nor CWM trace text).`);
  if (read.context !== '' && read.context !== context) {
    throw new SavedTraceError(`The saved trace ${path} was recorded for another version of ${program.path}: its source differs from the file's.`);
  }
  return {
    origin: 'actual',
    path: program.path,
    source: program.source,
    entry: program.entry,
    frames: read.frames,
    malformed: read.malformed,
    end: read.ended ? { kind: 'returned' } : { kind: 'incomplete', message: 'the saved trace has no end of text' },
    notes: read.malformed.length > 0 ? [`${read.malformed.length} unreadable frames in the saved trace were skipped.`] : [],
    outsideOutput: [],
  };
}
