// The debug adapter's custom requests for questions the recording answers directly (server/trace/queries.ts): they
// translate DAP arguments into index queries on one side's frames and the answers into positions of the timeline.

import { resolve } from 'node:path';
import { z } from 'zod';
import { localsToObject, type Trace, type TraceFrame } from '../trace/model';
import { recordTrace, type TraceRequest } from '../tracer/runner';
import { TraceIndex, type LineRun, type ValueChange } from '../trace/queries';
import { CompareNavigator } from './compare';
import { PredictionNavigator, RecordedNavigator, type Side, type TraceNavigator } from './navigator';

export const QUERY_COMMANDS = ['cwm/lastChange', 'cwm/valueHistory', 'cwm/lineRuns', 'cwm/calls', 'cwm/functionCalls', 'cwm/timeline'] as const;
export type QueryCommand = (typeof QUERY_COMMANDS)[number];

export function isQueryCommand(command: string): command is QueryCommand {
  return (QUERY_COMMANDS as readonly string[]).includes(command);
}

const SideArg = z.enum(['actual', 'predicted']).optional();
const StepArg = z.number().int().nonnegative().optional();
const Schemas = {
  'cwm/lastChange': z.object({ name: z.string().min(1).max(1000), side: SideArg, step: StepArg, direction: z.enum(['back', 'forward']).optional(), move: z.boolean().optional() }),
  'cwm/valueHistory': z.object({ name: z.string().min(1).max(1000), side: SideArg, step: StepArg, allCalls: z.boolean().optional(), limit: z.number().int().positive().optional() }),
  'cwm/lineRuns': z.object({ line: z.number().int().positive(), path: z.string().max(4096).optional(), side: SideArg, limit: z.number().int().positive().optional() }),
  'cwm/calls': z.object({ function: z.string().max(1000).optional(), side: SideArg, limit: z.number().int().positive().optional() }),
  'cwm/functionCalls': z.object({ side: SideArg }),
  'cwm/timeline': z.object({ side: SideArg }),
} as const;

const USAGE: Record<QueryCommand, string> = {
  'cwm/lastChange': 'cwm/lastChange takes { "name": VARIABLE, "side"?: "actual" | "predicted", "step"?: N, "direction"?: "back" | "forward", "move"?: true | false }.',
  'cwm/valueHistory': 'cwm/valueHistory takes { "name": VARIABLE, "side"?: "actual" | "predicted", "step"?: N, "allCalls"?: true | false }.',
  'cwm/lineRuns': 'cwm/lineRuns takes { "line": N, "path"?: FILE, "side"?: "actual" | "predicted", "limit"?: N }.',
  'cwm/calls': 'cwm/calls takes { "function"?: NAME, "side"?: "actual" | "predicted", "limit"?: N }.',
  'cwm/functionCalls': 'cwm/functionCalls takes { "side"?: "actual" | "predicted" }.',
  'cwm/timeline': 'cwm/timeline takes { "side"?: "actual" | "predicted" }.',
};

/** Most entries one answer lists unless the request asks for more (a long loop's line ran 200,000 times; a quick pick of more is no help). */
const DEFAULT_LIMIT = 200;

/** What a query answered, and where the debugger should move (a position of the timeline), if anywhere. */
export interface QueryAnswer {
  readonly body: Record<string, unknown>;
  readonly moveTo?: number;
}

/** A question a user can get wrong (a variable the call does not have): said in words, the session goes on. */
export class QueryError extends Error {}

/** Indexes per frame list; a list replaced (what-if, restart) gets a new one, a list that grew is extended. */
const indexes = new WeakMap<readonly TraceFrame[], { index: TraceIndex; last: TraceFrame | undefined; length: number }>();

export function indexOf(frames: readonly TraceFrame[]): TraceIndex {
  const known = indexes.get(frames);
  // Frames only ever get appended to a list; anything else (shorter, or another frame where the last one was) rebuilds.
  if (known && frames.length >= known.length && (known.length === 0 || frames[known.length - 1] === known.last)) {
    known.index.update();
    known.length = frames.length;
    known.last = frames[frames.length - 1];
    return known.index;
  }
  const index = new TraceIndex(frames);
  indexes.set(frames, { index, last: frames[frames.length - 1], length: frames.length });
  return index;
}

/**
 * Records a real run with its time-travel index built as the frames arrive (the tracer is the slow side: the index
 * costs almost nothing on top of the recording), ready for the first question.
 */
export async function recordIndexedTrace(request: TraceRequest): Promise<Trace> {
  const frames: TraceFrame[] = [];
  const index = new TraceIndex(frames);
  const trace = await recordTrace({
    ...request,
    keepFrames: false,
    onFrame: (frame) => {
      frames.push(frame);
      index.update();
      request.onFrame?.(frame);
    },
  });
  indexes.set(frames, { index, last: frames[frames.length - 1], length: frames.length });
  return { ...trace, frames };
}

/** One side's frames in a session: the recording, the prediction, or either side of a comparison. */
function sideFrames(nav: TraceNavigator, side: Side | undefined): { side: Side; frames: readonly TraceFrame[] } {
  if (nav instanceof RecordedNavigator) {
    if (side === 'predicted') throw new QueryError('This session has no prediction: it debugs a real run.');
    return { side: 'actual', frames: nav.recorded.frames };
  }
  if (nav instanceof PredictionNavigator) {
    if (side === 'actual') throw new QueryError('This session has no real run: it only predicts. Debug in compare mode to ask the real run.');
    return { side: 'predicted', frames: nav.session.trace };
  }
  if (nav instanceof CompareNavigator) {
    const chosen: Side = side ?? 'actual';
    return { side: chosen, frames: chosen === 'actual' ? nav.actualTrace.frames : nav.predictedFrames };
  }
  throw new QueryError('This session has no trace to ask yet.');
}

/** The side's step at the current position (or the nearest one before it that the side has). */
function currentStep(nav: TraceNavigator, side: Side): number | undefined {
  for (let position = Math.min(nav.position, nav.length - 1); position >= 0; position--) {
    const found = nav.view(position).sides.find((s) => s.side === side);
    if (found) return found.index;
  }
  return undefined;
}

/** Position of a side's step on the timeline, when it has one. */
function positionOf(nav: TraceNavigator, side: Side, step: number): number | undefined {
  if (nav instanceof CompareNavigator) return nav.positionOfStep(side, step);
  return step < nav.length ? step : undefined;
}

function describeChange(change: ValueChange, frames: readonly TraceFrame[], nav: TraceNavigator, side: Side): Record<string, unknown> {
  const setBy = frames[change.setBy]!;
  return {
    ...change,
    line: setBy.line,
    ...(setBy.file !== undefined ? { path: setBy.file } : {}),
    function: setBy.functionName,
    position: positionOf(nav, side, change.setBy),
  };
}

/** One time a line ran, with its position on the timeline (absent where the timeline has no row for the step). */
export interface PositionedLineRun extends LineRun {
  readonly position?: number;
}

/** The first `limit` runs of a line on one side, with their positions, and how many there are in all. */
function lineRuns(
  nav: TraceNavigator, side: Side, frames: readonly TraceFrame[], line: number, path: string | undefined, limit: number, mainPath: string | undefined,
): { line: number; total: number; runs: PositionedLineRun[] } {
  const index = indexOf(frames);
  // Frames of the main program carry no file; other files' frames carry their absolute path.
  const file = path !== undefined && (mainPath === undefined || resolve(path) !== resolve(mainPath)) ? resolve(path) : undefined;
  const runs = index.runsOfLine(line, file, limit).map((run) => ({ ...run, position: positionOf(nav, side, run.step) }));
  return { line, total: index.countRunsOfLine(line, file), runs };
}

/** The runs of a line of the main program on the side the debugger goes by (its goto targets, one per run). */
export function runsOfProgramLine(nav: TraceNavigator, line: number, limit: number): { total: number; runs: PositionedLineRun[] } {
  const { side, frames } = sideFrames(nav, undefined);
  return lineRuns(nav, side, frames, line, undefined, limit, undefined);
}

/** Answers one query; throws QueryError (arguments or question wrong) with a sentence for the user. */
/** What the session knows that the trace does not: the program's path, where the breakpoints are. */
export interface QueryContext {
  readonly mainPath?: string;
  readonly breakpointLines?: readonly { readonly line: number; readonly file?: string }[];
}

/** Marks of one kind the timeline sends at most (a breakpoint in a hot loop runs 200,000 times). */
const MAX_TIMELINE_MARKS = 5000;

export function answerQuery(command: QueryCommand, rawArgs: unknown, nav: TraceNavigator | undefined, context: QueryContext = {}): QueryAnswer {
  const mainPath = context.mainPath;
  if (!nav) throw new QueryError('The debug session has not started yet.');
  const parsed = Schemas[command].safeParse(rawArgs ?? {});
  if (!parsed.success) throw new QueryError(USAGE[command]);
  const args = parsed.data as { side?: Side; step?: number };
  const { side, frames } = sideFrames(nav, args.side);
  const index = indexOf(frames);
  const step = args.step ?? currentStep(nav, side);
  const sideName = side === 'actual' ? 'real run' : 'prediction';
  switch (command) {
    case 'cwm/lastChange': {
      const { name, direction = 'back', move = true } = parsed.data as z.infer<(typeof Schemas)['cwm/lastChange']>;
      if (step === undefined || frames[step] === undefined) throw new QueryError(`The ${sideName} has no step ${step ?? ''} to ask about.`.replace(' to', ' here to'));
      const frame = frames[step]!;
      const change = index.lastChange(step, name, direction);
      if (!change) {
        const has = index.valueHistory(step, name).length > 0;
        throw new QueryError(has
          ? `${name} does not change ${direction === 'back' ? 'before' : 'after'} step ${step} in this call of ${frame.functionName}.`
          : `${frame.functionName} has no variable ${name} in this call.`);
      }
      const body = describeChange(change, frames, nav, side);
      const moveTo = move ? (body.position as number | undefined) : undefined;
      return { body: { side, change: body }, ...(moveTo !== undefined ? { moveTo } : {}) };
    }
    case 'cwm/valueHistory': {
      const { name, allCalls = false, limit = DEFAULT_LIMIT } = parsed.data as z.infer<(typeof Schemas)['cwm/valueHistory']>;
      if (step === undefined || frames[step] === undefined) throw new QueryError(`The ${sideName} has no step to ask about yet.`);
      const page = index.valueHistoryPage(step, name, allCalls, limit);
      const entries = page.entries.map((entry) => ({ ...describeChange(entry, frames, nav, side), call: entry.call }));
      return {
        body: {
          side, name, function: frames[step]!.functionName, total: page.total, entries,
          ...(page.total > limit ? { note: `The first ${limit} of ${page.total} values are listed.` } : {}),
        },
      };
    }
    case 'cwm/lineRuns': {
      const { line, path, limit = DEFAULT_LIMIT } = parsed.data as z.infer<(typeof Schemas)['cwm/lineRuns']>;
      const runs = lineRuns(nav, side, frames, line, path, limit, mainPath);
      return { body: { side, ...runs, ...(runs.total > limit ? { note: `The first ${limit} of ${runs.total} runs are listed.` } : {}) } };
    }
    case 'cwm/calls': {
      const { function: name, limit = DEFAULT_LIMIT } = parsed.data as z.infer<(typeof Schemas)['cwm/calls']>;
      const calls = index.callsOf(name);
      return {
        body: {
          side, total: calls.length,
          calls: calls.slice(0, limit).map((call) => ({
            step: call.step, function: call.functionName, line: call.line, depth: call.depth, args: localsToObject(call.args),
            outcome: call.outcome, ...(call.value !== undefined ? { value: call.value } : {}), ...(call.end !== undefined ? { end: call.end } : {}),
            ...(call.file !== undefined ? { path: call.file } : {}),
            parent: call.parent >= 0 ? index.calls[call.parent]!.step : undefined,
            children: call.children.length,
            position: positionOf(nav, side, call.step),
          })),
          ...(calls.length > limit ? { note: `The first ${limit} of ${calls.length} calls are listed.` } : {}),
        },
      };
    }
    case 'cwm/functionCalls':
      return { body: { side, functions: index.functionSummaries().map(({ callIds: _ids, ...summary }) => summary) } };
    case 'cwm/timeline': {
      const positions = (steps: readonly number[]): number[] => {
        const out: number[] = [];
        for (const s of steps) {
          if (out.length >= MAX_TIMELINE_MARKS) break;
          const p = positionOf(nav, side, s);
          if (p !== undefined) out.push(p);
        }
        return out;
      };
      const exceptions = positions(index.exceptions());
      const breakpointSteps: number[] = [];
      for (const { line, file } of context.breakpointLines ?? []) {
        for (const s of index.stepsOfLine(line, file)) breakpointSteps.push(s);
        if (breakpointSteps.length > MAX_TIMELINE_MARKS) break;
      }
      const breakpoints = positions(breakpointSteps.sort((a, b) => a - b));
      const divergence = nav instanceof CompareNavigator ? nav.divergence?.position : undefined;
      return {
        body: {
          side, length: nav.length, position: nav.position, complete: nav.complete, exceptions, breakpoints,
          ...(divergence !== undefined ? { divergences: [divergence] } : {}),
        },
      };
    }
  }
}
