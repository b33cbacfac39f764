// The CWM debug adapter: maps Debug Adapter Protocol requests onto a TraceNavigator (real trace, prediction, or both
// compared) through the StepController; holds no prediction logic. Runs standalone over stdio (main.ts) or inline.

import { answerQuery, isQueryCommand, recordIndexedTrace, runsOfProgramLine, QueryError, type QueryAnswer, type QueryCommand } from './queries';
import { readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import {
  ContinuedEvent, DebugSession, Event, Handles, InitializedEvent, OutputEvent, Source, StoppedEvent, TerminatedEvent, Thread,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { z } from 'zod';
import { compareState, type VariableDifference } from '../compare/align';
import { connectModel, type ConnectedModel } from '../engine/connect-model';
import { EndpointError } from '../endpoint/errors';
import { comparisonStartFrames } from '../engine/compare-prediction';
import { PredictionSession } from '../engine/session';
import { withImpossibleStep } from '../engine/flow-check';
import type { FlowCheckStats } from '../engine/checked-rollout';
import { renderTrace } from '../cwm/writer';
import { findEntryPoint } from '../trace/entry';
import { importedProjectFiles } from '../trace/project-files';
import { valueAt, type EntryPoint, type OutputChunk, type Trace, type TraceEnd, type TraceFrame } from '../trace/model';
import { frameToJson, traceToJson } from '../trace/json';
import { buildEntryCallFrame } from '../tracer/entry-frame';
import { FrameEvaluator } from '../values/evaluator';
import { CompareNavigator } from './compare';
import { ConfigError, parseLaunchConfig, type LaunchConfig } from './config';
import { MoveError, StepController, describeTraceEnd, type MoveResult } from './controller';
import { linksOf, scopeChain } from './frames';
import { PredictionNavigator, RecordedNavigator, endOfFinishedTrace, type Side, type SideFrame, type TraceNavigator } from './navigator';
import { loadSavedTrace, type SavedTrace } from './saved-trace';
import { StopRules, UNSURE_FILTER, isExecutableLine, parseExceptionValue, parseUnsureThreshold, type StopInfo } from './stops';
import { DEFAULT_UNSURE_THRESHOLD } from '../trace/confidence';
import { RETURN_NAME, VariableStore, wholeUpTo } from './variables';
import { maxOf } from '../trace/arrays';

const THREAD_ID = 1;
/** The one source served by content (`source` request): the program text of a replayed trace that is not the program file. */
const TRACE_SOURCE_REFERENCE = 1;

/** One stack frame shown to the client: one frame per side at the same level of the call stack. */
interface FrameRef {
  readonly level: number;
  readonly sides: readonly SideFrame[];
}

/** Something in flight that `cancel` can stop. */
interface Cancellable {
  abort(): void;
}

/** A request the adapter cannot carry out; the message is shown to the user as is. */
class UserError extends Error {}

/** Goto target ids from here on name a position (one target per time a line ran); below, a line to run to. */
const RUN_TARGET_BASE = 1_000_000_000;
/** Runs of a line offered as goto targets. */
const MAX_RUN_TARGETS = 200;

const GoToStepArgs = z.object({ step: z.number().int().nonnegative(), side: z.enum(['actual', 'predicted']).optional() });
const SampleArgs = z.object({ n: z.number().int().min(1).max(64).optional() });
const ExportTraceArgs = z.object({ side: z.enum(['actual', 'predicted']).optional(), format: z.enum(['cwm', 'json']).optional() });

/** The body of a `cwm/exportTrace` response. */
export interface ExportedTrace {
  /** The file's text: the rendered CWM trace (what `cwm-debug trace --format cwm` prints) or the JSON form with the program text. */
  readonly text: string;
  /** `<program>-<side>.cwmtrace` (or `.json`). */
  readonly suggestedName: string;
  readonly side: Side;
  readonly format: 'cwm' | 'json';
  /** Number of frames exported. */
  readonly frames: number;
  /** Set when the export is not a finished trace (a prediction still running or stopped early, a run cut short). */
  readonly note?: string;
}

/** Evaluates on the locals of a frame (FrameEvaluator, in TypeScript: no process); kept as an interface for tests and stand-ins. */
type Evaluator = Pick<FrameEvaluator, 'evaluate' | 'evaluateCondition' | 'interpolateLogMessage' | 'dispose'>;

export class CwmDebugSession extends DebugSession {
  private config?: LaunchConfig;
  private source = '';
  /** The replayed trace (launch with "trace"), loaded before breakpoints are set: it decides what the program text is. */
  private saved?: SavedTrace;
  /** The entry the predictions start from, for exporting them. */
  private predictionEntry?: EntryPoint;
  /** Other files of the program the prediction's context holds (the real run's, else the modules it imports). */
  private predictionFiles?: Trace['files'];
  private nav?: TraceNavigator;
  private controller?: StepController;
  /** How often the symbolic checks fired in the prediction (cwm/state's `checks`). */
  private flowStats?: FlowCheckStats;
  private readonly rules = new StopRules();
  private readonly store = new VariableStore();
  private frameHandles = new Handles<FrameRef>(1);
  private evaluator?: Evaluator;
  private model?: ConnectedModel;
  private clientProgress = false;
  private clientInvalidated = false;
  private lastStop?: StopInfo;
  private configurationDone!: () => void;
  private readonly configured = new Promise<void>((resolve) => (this.configurationDone = resolve));
  /** Aborted on disconnect/terminate: the tracer, model requests and waits all stop. */
  private readonly lifetime = new AbortController();
  /** In-flight operations, by request seq and by progress id, for `cancel` and `pause`. */
  private readonly operations = new Map<number, AbortController>();
  private readonly progressOperations = new Map<string, Cancellable>();
  private progressCounter = 0;
  private activeProgress?: { readonly id: string; frames: number; lastUpdate: number };
  /** Movements run one at a time. */
  private queue: Promise<void> = Promise.resolve();
  private ended = false;
  /** Breakpoints set before launch, per source (the program and other files of its project). */
  private pendingBreakpoints: { source: DebugProtocol.Source; breakpoints: DebugProtocol.SourceBreakpoint[] }[] = [];

  constructor() {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  // ------------------------------------------------------------------------------------------------ lifecycle

  protected override initializeRequest(response: DebugProtocol.InitializeResponse, args: DebugProtocol.InitializeRequestArguments): void {
    this.clientProgress = args.supportsProgressReporting === true;
    this.clientInvalidated = args.supportsInvalidatedEvent === true;
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsEvaluateForHovers: true,
      supportsClipboardContext: true,
      supportsStepBack: true,
      supportsSetVariable: true,
      supportsRestartRequest: true,
      supportsGotoTargetsRequest: true,
      supportsExceptionInfoRequest: true,
      supportsDataBreakpoints: true,
      supportsCancelRequest: true,
      supportsTerminateRequest: true,
      supportsDelayedStackTraceLoading: true,
      // Filters with a condition: "When the Model Is Unsure" takes its threshold that way.
      supportsExceptionFilterOptions: true,
      exceptionBreakpointFilters: [
        { filter: 'raised', label: 'Raised Exceptions', description: 'Stop where an exception is raised, caught or not.', default: false },
        { filter: 'uncaught', label: 'Uncaught Exceptions', description: 'Stop where an exception leaves the program.', default: true },
        {
          filter: UNSURE_FILTER,
          label: 'When the Model Is Unsure',
          description: 'Stop on a predicted step whose line or any value it sets has a confidence under the threshold (the condition: 0.5 or 50%; default 50%).',
          default: false,
          supportsCondition: true,
          conditionDescription: 'Confidence threshold, e.g. 0.5 or 30%',
        },
      ],
    };
    this.sendResponse(response);
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.configurationDone();
    this.sendResponse(response);
  }

  protected override async launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments, request?: DebugProtocol.Request): Promise<void> {
    const signal = this.lifetime.signal;
    const operation = this.track(request);
    try {
      const config = parseLaunchConfig(args);
      if (config.trace !== undefined) {
        const program = config.program === undefined ? undefined : { path: config.program, source: readFileSync(config.program, 'utf8') };
        this.saved = await loadSavedTrace(config.trace, program, { entry: config.entry, args: config.args });
        this.source = this.saved.source;
      } else {
        this.source = readFileSync(programOf(config), 'utf8');
      }
      this.config = config;
      this.rules.stopOnDivergence = config.stopOnDivergence;
      for (const pending of this.pendingBreakpoints.splice(0)) this.applyBreakpoints(pending.source, pending.breakpoints);
      this.sendEvent(new InitializedEvent());
      this.evaluator = new FrameEvaluator();
      const abort = AbortSignal.any([signal, operation.signal]);
      this.nav = await this.withProgress('CWM: preparing the debug session', operation, request, (progress) => this.buildNavigator(config, progress, abort));
      this.controller = new StepController(this.nav, this.rules, this.evaluator, {
        log: (text) => this.output(`${text}\n`, 'console'),
        programOutput: (chunks) => this.programOutput(chunks),
        predicted: () => this.predictedFrame(),
      });
      await Promise.race([this.configured, aborted(signal)]);
      // The first step exists before the launch is answered, so a failing endpoint fails the launch.
      const first = await this.withProgress('CWM: predicting', operation, request, () => this.controller!.start(true, abort));
      this.sendResponse(response);
      if (!config.stopOnEntry && first.kind === 'stopped') this.enqueue(undefined, (op) => this.controller!.start(false, op), 'CWM: predicting');
      else this.report(first);
    } catch (error) {
      this.sendError(response, error);
    } finally {
      this.untrack(request);
    }
  }

  private async buildNavigator(config: LaunchConfig, progress: (message: string) => void, signal: AbortSignal): Promise<TraceNavigator> {
    const record = async (abort?: AbortSignal): Promise<Trace> => {
      if (abort === undefined) progress(`Running ${basename(programOf(config))} under the tracer…`);
      const trace = await recordIndexedTrace({
        file: programOf(config),
        python: config.python,
        entry: config.entry,
        args: config.args,
        limits: config.tracerLimits,
        objects: config.recordObjects,
        ...(config.cwd !== undefined ? { cwd: config.cwd } : {}),
        signal: abort ?? signal,
      });
      this.announceTrace(trace);
      return trace;
    };
    if (config.mode === 'actual') {
      if (this.saved) {
        // Replay: nothing runs and no endpoint is needed.
        const { trace, notice } = this.saved;
        if (notice) this.output(`${notice.text}\n`, notice.important ? 'important' : 'console');
        this.announceTrace(trace);
        return new RecordedNavigator(trace, undefined, 'Python (saved trace)');
      }
      return new RecordedNavigator(await record(), record);
    }
    const real = config.mode === 'compare' ? await record() : undefined;
    progress('Connecting to the CWM endpoint…');
    this.model = await connectModel({
      endpoints: config.endpoints,
      backend: config.backend,
      tokenizerPath: config.tokenizer,
      apiKey: config.apiKey,
      model: config.model,
      samples: config.samples,
      temperature: config.temperature,
      seed: config.seed,
      contextTokens: config.contextTokens,
      requestTimeoutMs: config.requestTimeoutMs,
    }, { terms: 'vscode' });
    signal.throwIfAborted();
    if (real) {
      const initialFrames = comparisonStartFrames(real);
      this.predictionEntry = real.entry;
      // Compare mode predicts the whole trace in one background stream already: no read-ahead on top of it.
      const session = this.predictionSession(config, real.entry, initialFrames, real.files, false);
      const navigator = new CompareNavigator(real, session);
      this.watchComparePrediction(navigator);
      navigator.startPrediction();
      return navigator;
    }
    const entry = findEntryPoint(this.source, { entry: config.entry, args: config.args });
    this.predictionEntry = entry;
    const initialFrames: TraceFrame[] = [];
    if (config.args !== undefined && entry.kind === 'function') {
      initialFrames.push(await buildEntryCallFrame({
        source: this.source, functionName: entry.name, args: config.args, maxReprLength: config.tracerLimits.maxReprLength,
      }));
    }
    // Nothing runs in predict mode: the context shows the project modules the program imports, as a real run's would.
    const files = config.program !== undefined ? importedProjectFiles(config.program, this.source) : [];
    return new PredictionNavigator(this.predictionSession(config, entry, initialFrames, files));
  }

  private predictionSession(
    config: LaunchConfig,
    entry: Trace['entry'],
    initialFrames: readonly TraceFrame[],
    files?: Trace['files'],
    readAhead = true,
  ): PredictionSession {
    this.predictionFiles = files;
    const session = new PredictionSession({
      source: this.source,
      path: programOf(config),
      ...(files !== undefined ? { files } : {}),
      entry,
      backend: this.model!.pool,
      codec: this.model!.codec,
      initialFrames,
      temperature: config.temperature,
      sampleTemperature: config.sampleTemperature,
      seed: config.seed,
      contextTokens: config.contextTokens,
      ...(readAhead && config.readAhead !== undefined ? { readAhead: config.readAhead } : {}),
      // The symbolic checks parse the program (never run it): with the interpreter of real runs only where real runs are
      // allowed (compare mode needs a trusted workspace), else python3.
      ...(config.mode === 'compare' && config.python !== undefined ? { flowPython: config.python } : {}),
    });
    session.onNotice = (message) => this.output(`${message}\n`, 'important');
    this.flowStats = session.flow.stats;
    return session;
  }

  /** Compare mode predicts in the background from launch on: progress while it runs, a message if it fails. */
  private watchComparePrediction(navigator: CompareNavigator): void {
    let id: string | undefined;
    let count = 0;
    navigator.progress = {
      onStart: () => {
        count = 0;
        if (!this.clientProgress) return;
        id = `cwm-progress-${++this.progressCounter}`;
        this.progressOperations.set(id, { abort: () => navigator.cancelPrediction() });
        this.sendEvent(new Event('progressStart', { progressId: id, title: 'CWM: predicting the trace', cancellable: true }));
      },
      onFrame: () => {
        count++;
        if (id && count % 25 === 0) this.sendEvent(new Event('progressUpdate', { progressId: id, message: `${count} steps predicted` }));
      },
      onDone: (error) => {
        if (id) {
          this.progressOperations.delete(id);
          this.sendEvent(new Event('progressEnd', { progressId: id, message: `${count} steps predicted` }));
          id = undefined;
        }
        if (error !== undefined && !this.lifetime.signal.aborted) {
          const why = error instanceof EndpointError && error.kind === 'cancelled' ? 'it was cancelled' : messageOf(error);
          this.output(`The prediction stopped after ${navigator.predictedFrames.length} steps: ${why}. The comparison uses the steps predicted so far.\n`, 'important');
        }
      },
    };
  }

  /** Notes, early ends and output printed outside the traced steps, once per recorded trace. */
  private announceTrace(trace: Trace): void {
    for (const note of trace.notes) this.output(`${note}\n`, 'console');
    if (trace.end.kind !== 'returned') this.output(`${describeTraceEnd(trace.end, 'actual')}\n`, trace.end.kind === 'raised' ? 'console' : 'important');
    this.programOutput(trace.outsideOutput);
  }

  protected override async restartRequest(response: DebugProtocol.RestartResponse, _args: DebugProtocol.RestartArguments, request?: DebugProtocol.Request): Promise<void> {
    this.enqueueRequest(response, request, (signal) => this.controller!.restart(signal), 'CWM: restarting');
  }

  protected override async disconnectRequest(response: DebugProtocol.DisconnectResponse, args: DebugProtocol.DisconnectArguments, request?: DebugProtocol.Request): Promise<void> {
    await this.shutdownWork();
    super.disconnectRequest(response, args, request);
  }

  protected override async terminateRequest(response: DebugProtocol.TerminateResponse): Promise<void> {
    await this.shutdownWork();
    this.sendResponse(response);
    this.endSession();
  }

  /** Stops the tracer, cancels model requests, and closes connections. */
  private async shutdownWork(): Promise<void> {
    this.lifetime.abort();
    for (const operation of this.operations.values()) operation.abort();
    for (const operation of this.progressOperations.values()) operation.abort();
    const pending: Promise<unknown>[] = [];
    if (this.nav) pending.push(this.nav.dispose().catch(() => undefined));
    if (this.evaluator) pending.push(this.evaluator.dispose().catch(() => undefined));
    await Promise.all(pending);
    await this.model?.close().catch(() => undefined);
    this.model = undefined;
  }

  protected override cancelRequest(response: DebugProtocol.CancelResponse, args: DebugProtocol.CancelArguments): void {
    if (args.requestId !== undefined) this.operations.get(args.requestId)?.abort();
    if (args.progressId !== undefined) this.progressOperations.get(args.progressId)?.abort();
    this.sendResponse(response);
  }

  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    // Nothing runs between stops except model predictions: pausing cancels the one in flight.
    for (const operation of this.operations.values()) operation.abort();
    this.sendResponse(response);
  }

  // ------------------------------------------------------------------------------------------------ movement

  protected override nextRequest(response: DebugProtocol.NextResponse, _args: DebugProtocol.NextArguments, request?: DebugProtocol.Request): void {
    this.enqueueRequest(response, request, (signal) => this.controller!.next(signal));
  }

  protected override stepInRequest(response: DebugProtocol.StepInResponse, _args: DebugProtocol.StepInArguments, request?: DebugProtocol.Request): void {
    this.enqueueRequest(response, request, (signal) => this.controller!.stepIn(signal));
  }

  protected override stepOutRequest(response: DebugProtocol.StepOutResponse, _args: DebugProtocol.StepOutArguments, request?: DebugProtocol.Request): void {
    this.enqueueRequest(response, request, (signal) => this.controller!.stepOut(signal));
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse, _args: DebugProtocol.ContinueArguments, request?: DebugProtocol.Request): void {
    response.body = { allThreadsContinued: true };
    this.enqueueRequest(response, request, (signal) => this.controller!.continue(signal));
  }

  protected override stepBackRequest(response: DebugProtocol.StepBackResponse, _args: DebugProtocol.StepBackArguments, request?: DebugProtocol.Request): void {
    this.enqueueRequest(response, request, async () => this.controller!.stepBack());
  }

  protected override reverseContinueRequest(response: DebugProtocol.ReverseContinueResponse, _args: DebugProtocol.ReverseContinueArguments, request?: DebugProtocol.Request): void {
    this.enqueueRequest(response, request, () => this.controller!.reverseContinue());
  }

  protected override gotoTargetsRequest(response: DebugProtocol.GotoTargetsResponse, args: DebugProtocol.GotoTargetsArguments): void {
    const line = this.convertClientLineToDebugger(args.line);
    const onProgram = this.isProgramSource(args.source);
    const text = this.source.split(/\r\n|\r|\n/)[line - 1];
    const targets: DebugProtocol.GotoTarget[] = onProgram && isExecutableLine(text)
      ? [{ id: line, label: `Run ${this.nav?.kind === 'actual' ? 'the real run' : 'the prediction'} to line ${line}`, line: args.line }]
      : [];
    // Then one target per time the line already ran (every execution of a line, in the order they ran).
    if (targets.length > 0 && this.nav) {
      try {
        const runs = runsOfProgramLine(this.nav, line, MAX_RUN_TARGETS);
        for (const [k, run] of runs.runs.entries()) {
          if (run.position === undefined) continue;
          const changed = run.changed.map((c) => `${c.name} = ${c.value}`).join(', ');
          const label = `Run ${k + 1} of ${runs.total} · step ${run.step}${changed ? ` · ${changed}` : ''}`;
          targets.push({ id: RUN_TARGET_BASE + run.position, label: label.length > 200 ? `${label.slice(0, 199)}…` : label, line: args.line });
        }
      } catch {
        // No recording to ask (the session is starting): only the run-to-line target.
      }
    }
    response.body = { targets };
    this.sendResponse(response);
  }

  protected override gotoRequest(response: DebugProtocol.GotoResponse, args: DebugProtocol.GotoArguments, request?: DebugProtocol.Request): void {
    if (args.targetId >= RUN_TARGET_BASE) {
      const position = args.targetId - RUN_TARGET_BASE;
      this.enqueueRequest(response, request, () => this.controller!.goToPosition(position));
      return;
    }
    this.enqueueRequest(response, request, (signal) => this.controller!.gotoLine(args.targetId, signal));
  }

  /** Runs a movement after the ones before it; answers the request, then reports the stop (the order clients expect). */
  /**
   * @param unannounced the request is not one a client knows to resume the thread (a custom request): once the move
   * is done, `continued` comes before the new stop, else VS Code keeps the old stop's label ("Paused on breakpoint").
   */
  private enqueueRequest(
    response: DebugProtocol.Response,
    request: DebugProtocol.Request | undefined,
    move: (signal: AbortSignal) => Promise<MoveResult> | MoveResult,
    title = 'CWM: predicting',
    unannounced = false,
  ): void {
    this.enqueue(response, move, title, request, unannounced);
  }

  private enqueue(
    response: DebugProtocol.Response | undefined,
    move: (signal: AbortSignal) => Promise<MoveResult> | MoveResult,
    title: string,
    request?: DebugProtocol.Request,
    unannounced = false,
  ): void {
    const operation = this.track(request);
    const run = async (): Promise<void> => {
      try {
        if (!this.controller || this.ended) throw new UserError(this.ended ? 'The debug session has ended.' : 'The debug session has not started yet.');
        const signal = AbortSignal.any([this.lifetime.signal, operation.signal]);
        const needsModel = !this.controller.nav.complete;
        const result = needsModel ? await this.withProgress(title, operation, request, () => move(signal)) : await move(signal);
        if (response) this.sendResponse(response);
        if (unannounced && result.kind === 'stopped') this.sendEvent(new ContinuedEvent(THREAD_ID, true));
        this.report(result);
      } catch (error) {
        if (response) this.sendError(response, error);
        else this.output(`${messageOf(error)}\n`, 'important');
      } finally {
        this.untrack(request);
      }
    };
    this.queue = this.queue.then(run, run);
  }

  /** Sends the stop (after new handles) or ends the session. */
  private report(result: MoveResult): void {
    this.frameHandles.reset();
    this.store.reset();
    if (result.kind === 'terminated') {
      this.output(`${result.message}\n`, 'console');
      this.endSession();
      return;
    }
    // A step the symbolic checks found impossible says so, with the reason, wherever the stop is shown.
    const stop = withImpossibleStep(result.stop, this.controller?.currentFrame());
    this.lastStop = stop;
    if (stop.text) this.output(`${stop.text}\n`, 'console');
    const event = new StoppedEvent(stop.reason, THREAD_ID) as DebugProtocol.StoppedEvent;
    event.body.allThreadsStopped = true;
    if (stop.description) event.body.description = stop.description;
    // VS Code shows `description` cut to the CALL STACK's width and `text` whole on hover: the text carries it all.
    const full = [stop.description, stop.text].filter((part) => part !== undefined && part !== '').join('\n');
    if (full) event.body.text = full;
    if (stop.hitBreakpointIds) event.body.hitBreakpointIds = [...stop.hitBreakpointIds];
    this.sendEvent(event);
  }

  private endSession(): void {
    if (this.ended) return;
    this.ended = true;
    this.sendEvent(new TerminatedEvent());
  }

  // ------------------------------------------------------------------------------------------------ breakpoints

  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const requested = (args.breakpoints ?? (args.lines ?? []).map((line) => ({ line })))
      .map((bp) => ({ ...bp, line: this.convertClientLineToDebugger(bp.line) }));
    response.body = {
      breakpoints: this.applyBreakpoints(args.source, requested).map((bp) => (bp.line === undefined ? bp : { ...bp, line: this.convertDebuggerLineToClient(bp.line) })),
    };
    this.sendResponse(response);
  }

  private applyBreakpoints(target: DebugProtocol.Source, requested: readonly DebugProtocol.SourceBreakpoint[]): DebugProtocol.Breakpoint[] {
    if (this.config === undefined) {
      // Before launch the program is not known yet: keep them and verify once it is.
      this.pendingBreakpoints = this.pendingBreakpoints.filter((pending) => pending.source.path !== target.path || pending.source.sourceReference !== target.sourceReference);
      this.pendingBreakpoints.push({ source: target, breakpoints: [...requested] });
      return requested.map((bp) => ({ verified: false, line: bp.line, message: 'Waiting for the debug session to start.' }));
    }
    const other = this.isProgramSource(target) ? undefined : this.projectFileOf(target);
    if (other !== undefined) {
      // A module of the program's project: its frames carry its path, and its breakpoints are checked against them.
      const set = this.rules.setLineBreakpoints(other.text, requested, other.path);
      const source = new Source(basename(other.path), other.path);
      return set.map((bp) => ({ id: bp.id, verified: bp.verified, line: bp.line, source, ...(bp.message ? { message: bp.message } : {}) }));
    }
    if (!this.isProgramSource(target)) {
      const message = this.servesSourceByContent()
        ? `The replayed trace ran the program text it stores, shown as ${this.saved!.sourceName} (read-only): set breakpoints there.`
        : `Only ${basename(this.config.program ?? '')} is traced, with the Python files in its folder it runs code from; breakpoints in ${basename(target.path ?? target.name ?? 'this file')} are never hit.`;
      return requested.map((bp) => ({ verified: false, line: bp.line, message }));
    }
    const set = this.rules.setLineBreakpoints(this.source, requested);
    const source = this.programSource();
    return set.map((bp) => ({ id: bp.id, verified: bp.verified, line: bp.line, source, ...(bp.message ? { message: bp.message } : {}) }));
  }

  protected override setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    const filters = [...args.filters, ...(args.filterOptions ?? []).map((option) => option.filterId)];
    this.rules.setExceptionFilters(filters);
    const unsure = filters.includes(UNSURE_FILTER)
      ? parseUnsureThreshold(args.filterOptions?.find((option) => option.filterId === UNSURE_FILTER)?.condition)
      : undefined;
    this.rules.unsureBelow = typeof unsure === 'number' ? unsure : undefined;
    // The VARIABLES view marks values under the same threshold the user stops at.
    this.store.unsureThreshold = typeof unsure === 'number' ? unsure : DEFAULT_UNSURE_THRESHOLD;
    response.body = {
      breakpoints: filters.map((filter) => filter === UNSURE_FILTER && typeof unsure === 'object' ? { verified: false, message: unsure.error } : { verified: true }),
    };
    this.sendResponse(response);
  }

  protected override dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    let functionName: string | undefined;
    let name = args.name;
    if (args.variablesReference !== undefined) {
      const scope = this.store.scopeOf(args.variablesReference);
      // An attribute of a recorded object (real runs): watched by its dotted path, e.g. self.radius.
      const object = this.store.objectOf(args.variablesReference);
      if (scope && scope.frame.locals.has(args.name)) functionName = scope.frame.functionName;
      else if (object && valueAt(object.frame, `${object.path}.${args.name}`) !== undefined) {
        functionName = object.frame.functionName;
        name = `${object.path}.${args.name}`;
      }
    } else {
      const frame = this.controller?.currentFrame();
      if (frame && valueAt(frame, args.name) !== undefined) functionName = frame.functionName;
    }
    response.body = functionName === undefined
      ? { dataId: null, description: 'Only a local variable of a frame, or an attribute of an object it holds in a real run, can be watched for changes.' }
      : {
        dataId: JSON.stringify([functionName, name]),
        description: `${name} in ${functionName}()`,
        accessTypes: ['write'],
        canPersist: false,
      };
    this.sendResponse(response);
  }

  protected override setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    const accepted: { functionName: string; name: string }[] = [];
    const verified: boolean[] = [];
    for (const bp of args.breakpoints) {
      const parsed = z.tuple([z.string(), z.string()]).safeParse(safeJson(bp.dataId));
      verified.push(parsed.success);
      if (parsed.success) accepted.push({ functionName: parsed.data[0], name: parsed.data[1] });
    }
    const set = this.rules.setDataBreakpoints(accepted);
    let next = 0;
    response.body = {
      breakpoints: verified.map((ok) => (ok
        ? { id: set[next++]!.id, verified: true }
        : { verified: false, message: 'This data breakpoint does not name a variable of this program.' })),
    };
    this.sendResponse(response);
  }

  // ------------------------------------------------------------------------------------------------ inspection

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD_ID, this.nav?.threadName ?? 'Python')] };
    this.sendResponse(response);
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    const nav = this.nav;
    if (!nav || nav.position < 0) {
      response.body = { stackFrames: [], totalFrames: 0 };
      this.sendResponse(response);
      return;
    }
    const levels = this.stackLevels(nav);
    const start = args.startFrame ?? 0;
    const end = args.levels ? start + args.levels : levels.length;
    const source = this.programSource();
    const shown = levels.slice(start, end).map((sides, offset) => {
      const level = start + offset;
      const primary = sides[sides.length - 1]!;
      const frame = primary.frames[primary.index]!;
      const id = this.frameHandles.create({ level, sides });
      const name = nav.kind === 'compare' && sides.length === 1 ? `${frame.functionName} (${primary.side === 'actual' ? 'real only' : 'predicted only'})` : frame.functionName;
      const stackFrame: DebugProtocol.StackFrame = {
        id, name, line: frame.line > 0 ? this.convertDebuggerLineToClient(frame.line) : 0, column: this.convertDebuggerColumnToClient(1),
      };
      // A frame in another file of the project shows that file, so stepping into it opens it.
      if (frame.line > 0) stackFrame.source = frame.file !== undefined ? new Source(basename(frame.file), frame.file) : source;
      else stackFrame.presentationHint = 'subtle';
      return stackFrame;
    });
    response.body = { stackFrames: shown, totalFrames: levels.length };
    this.sendResponse(response);
  }

  /** The scope chain at the current position, innermost first; in compare mode both sides level by level. */
  private stackLevels(nav: TraceNavigator): SideFrame[][] {
    const view = nav.view(nav.position);
    const chains = view.sides.map((side) => scopeChain(side.frames, side.index).map((index): SideFrame => ({ side: side.side, frames: side.frames, index })));
    const depth = maxOf(chains.map((chain) => chain.length), 0);
    const levels: SideFrame[][] = [];
    for (let level = 0; level < depth; level++) {
      const sides = chains.map((chain) => chain[level]).filter((side): side is SideFrame => side !== undefined);
      levels.push(sides);
    }
    return levels;
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    const ref = this.frameHandles.get(args.frameId);
    if (!ref) return this.sendError(response, new UserError('That stack frame is gone: the debugger moved on since.'));
    const predicted = ref.sides.find((side) => side.side === 'predicted');
    const actual = ref.sides.find((side) => side.side === 'actual');
    const differences = this.nav?.kind === 'compare' && predicted && actual ? differencesOf(frameOf(predicted), frameOf(actual)) : undefined;
    const editable = this.nav?.kind === 'predicted' && ref.level === 0;
    const scopes = ref.sides.map((side) => {
      const frame = shownFrame(side);
      const name = this.nav?.kind === 'compare' ? (side.side === 'predicted' ? 'Predicted' : 'Actual') : 'Locals';
      const variablesReference = this.store.scope({ kind: 'locals', frame, side: side.side, differences, editable: editable && (frame.event === 'call' || frame.event === 'line') });
      return { name, variablesReference, expensive: false, presentationHint: 'locals', namedVariables: frame.locals.size + (frame.value !== undefined ? 1 : 0) };
    });
    response.body = { scopes };
    this.sendResponse(response);
  }

  protected override variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    response.body = { variables: this.store.variables(args.variablesReference, args.filter, args.start ?? 0, args.count ?? 0) };
    this.sendResponse(response);
  }

  protected override setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    const work = async (): Promise<void> => {
      try {
        const nav = this.nav;
        if (!nav || nav.kind !== 'predicted' || !nav.setVariable) {
          throw new UserError(nav?.kind === 'actual'
            ? 'The real run is a recording: its variables cannot be changed. Use "mode": "predict" to ask the model "what if".'
            : 'Variables can be changed in predict mode only (a what-if the model continues from); the comparison shows recorded runs.');
        }
        const scope = this.store.scopeOf(args.variablesReference);
        if (!scope) throw new UserError('Only a local variable of the current frame can be changed.');
        if (!scope.editable) throw new UserError('Only variables of the current step can be changed, and only on call and line steps.');
        const evaluated = await this.evaluator!.evaluate(args.value, scope.frame.locals);
        if (!evaluated.ok) throw new UserError(`Cannot use "${args.value}" as the new value: ${evaluated.error}`);
        const edited = nav.setVariable(args.name, evaluated.repr);
        this.store.reset();
        this.frameHandles.reset();
        const variable = this.store.variable(args.name, edited.locals.get(args.name) ?? evaluated.repr, args.name);
        response.body = { value: variable.value, type: variable.type, variablesReference: variable.variablesReference };
        this.sendResponse(response);
        this.output(`What-if: ${args.name} = ${evaluated.repr} at step ${edited.index}; the steps after it will be predicted again.\n`, 'console');
        if (this.clientInvalidated) this.sendEvent(new Event('invalidated', { areas: ['variables', 'stacks'], threadId: THREAD_ID }));
      } catch (error) {
        this.sendError(response, error);
      }
    };
    // After any movement in flight: the edit applies to the frame the user will see.
    this.queue = this.queue.then(work, work);
  }

  protected override async evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments, request?: DebugProtocol.Request): Promise<void> {
    const operation = this.track(request);
    try {
      const nav = this.nav;
      if (!nav || nav.position < 0) throw new UserError('Nothing to evaluate on: the debug session has not stopped yet.');
      const ref = args.frameId !== undefined ? this.frameHandles.get(args.frameId) : undefined;
      const sides = ref?.sides ?? nav.view(nav.position).sides;
      const results: { side: Side; repr: string }[] = [];
      for (const side of sides) {
        operation.signal.throwIfAborted();
        const frame = shownFrame(side);
        const direct = directValue(frame, args.expression);
        if (direct !== undefined) {
          results.push({ side: side.side, repr: direct });
          continue;
        }
        const result = await this.evaluator!.evaluate(args.expression, frame.locals);
        if (!result.ok) throw new UserError(sides.length > 1 ? `${side.side === 'actual' ? 'Actual' : 'Predicted'}: ${result.error}` : result.error);
        results.push({ side: side.side, repr: result.repr });
      }
      const [first, second] = results;
      if (args.context === 'clipboard') {
        response.body = { result: second && second.repr !== first!.repr ? `${first!.repr}\n${second.repr}` : first!.repr, variablesReference: 0 };
      } else {
        const variable = this.store.variable(args.expression, first!.repr, args.expression);
        // VS Code draws a watch value on one line (cut by the view's width) and shows its text whole on hover: a watch
        // gets the whole value (up to a bound a tooltip can hold), other contexts the short form.
        const watch = args.context === 'watch';
        const shown = watch ? watchText(first!.repr) : variable.value;
        const result = second && second.repr !== first!.repr ? `${shown}   (real: ${watch ? watchText(second.repr) : shorten(second.repr, 120)})` : shown;
        response.body = {
          result,
          type: variable.type,
          variablesReference: variable.variablesReference,
          ...(variable.namedVariables !== undefined ? { namedVariables: variable.namedVariables } : {}),
          ...(variable.indexedVariables !== undefined ? { indexedVariables: variable.indexedVariables } : {}),
        };
      }
      this.sendResponse(response);
    } catch (error) {
      this.sendError(response, error, { quiet: true });
    } finally {
      this.untrack(request);
    }
  }

  protected override sourceRequest(response: DebugProtocol.SourceResponse, args: DebugProtocol.SourceArguments): void {
    const reference = args.source?.sourceReference ?? args.sourceReference;
    const ours = this.servesSourceByContent()
      ? reference === TRACE_SOURCE_REFERENCE
      : this.config?.program !== undefined && args.source?.path !== undefined && samePath(args.source.path, this.config.program);
    if (!ours) return this.sendError(response, new UserError('This debug session has no such source: it only shows the traced program.'));
    response.body = { content: this.source, mimeType: 'text/x-python' };
    this.sendResponse(response);
  }

  protected override exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    const frame = this.controller?.currentFrame();
    if (!frame || frame.event !== 'exception') return this.sendError(response, new UserError('The current step is not an exception.'));
    const { type, description } = parseExceptionValue(frame.value);
    const uncaught = this.lastStop?.description?.startsWith('Uncaught') ?? false;
    response.body = {
      exceptionId: type,
      description,
      breakMode: uncaught ? 'unhandled' : 'always',
      details: { typeName: type, message: description, fullTypeName: type, stackTrace: `line ${frame.line} in ${frame.functionName}` },
    };
    this.sendResponse(response);
  }

  // ------------------------------------------------------------------------------------------------ custom requests

  protected override customRequest(command: string, response: DebugProtocol.Response, args: unknown, request?: DebugProtocol.Request): void {
    switch (command) {
      case 'cwm/traces':
        void this.tracesRequest(response, request);
        return;
      case 'cwm/goToStep': {
        const parsed = GoToStepArgs.safeParse(args ?? {});
        if (!parsed.success) return this.sendError(response, new UserError('cwm/goToStep needs { "step": N } with N a step number of 0 or more.'));
        this.enqueueRequest(response, request, () => this.controller!.goToPosition(this.positionOfStep(parsed.data.step, parsed.data.side)), undefined, true);
        return;
      }
      case 'cwm/exportTrace': {
        const parsed = ExportTraceArgs.safeParse(args ?? {});
        if (!parsed.success) {
          return this.sendError(response, new UserError('cwm/exportTrace takes { "side": "actual" | "predicted", "format": "cwm" | "json" }, both optional.'));
        }
        try {
          response.body = this.exportTrace(parsed.data.side, parsed.data.format ?? 'cwm');
          this.sendResponse(response);
        } catch (error) {
          this.sendError(response, error);
        }
        return;
      }
      case 'cwm/state':
        response.body = this.state();
        this.sendResponse(response);
        return;
      case 'cwm/sample': {
        const parsed = SampleArgs.safeParse(args ?? {});
        if (!parsed.success) return this.sendError(response, new UserError('cwm/sample takes { "n": N } with N from 1 to 64.'));
        void this.sampleRequest(response, parsed.data.n ?? this.config?.samples ?? 3, request);
        return;
      }
      default:
        if (isQueryCommand(command)) return this.queryRequest(command, response, args, request);
        this.sendError(response, new UserError(`Unknown request ${command}.`));
    }
  }

  /**
   * One side's trace as a file. Default side: the one shown, the prediction in compare mode. A prediction that is still
   * running (or stopped before its end) is exported as far as it goes, and `note` says so.
   */
  private exportTrace(requested: Side | undefined, format: 'cwm' | 'json'): ExportedTrace {
    const nav = this.nav;
    const config = this.config;
    if (!nav || !config) throw new UserError('The debug session has not started yet: there is no trace to export.');
    const side: Side = requested ?? (nav.kind === 'actual' ? 'actual' : 'predicted');
    const { trace, note } = side === 'actual' ? this.actualForExport(nav) : this.predictionForExport(nav, config);
    const text = format === 'json'
      // The program text travels with the JSON so that the file replays without the program.
      ? `${JSON.stringify({ ...traceToJson(trace), source: trace.source }, null, 2)}\n`
      : renderTrace(trace);
    const program = config.program !== undefined ? basename(config.program) : this.saved?.sourceName ?? 'program.py';
    const suggestedName = `${program.replace(/\.py[w]?$/i, '')}-${side}.${format === 'json' ? 'json' : 'cwmtrace'}`;
    return { text, suggestedName, side, format, frames: trace.frames.length, ...(note !== undefined ? { note } : {}) };
  }

  private actualForExport(nav: TraceNavigator): { trace: Trace; note?: string } {
    let trace: Trace;
    if (nav instanceof RecordedNavigator) trace = nav.recorded;
    else if (nav instanceof CompareNavigator) trace = nav.actualTrace;
    else throw new UserError('This session has no real run to export: it only predicts. Export the prediction, or debug in compare mode.');
    const finished = trace.end.kind === 'returned' || trace.end.kind === 'raised';
    return finished ? { trace } : { trace, note: describeTraceEnd(trace.end, 'actual') };
  }

  private predictionForExport(nav: TraceNavigator, config: LaunchConfig): { trace: Trace; note?: string } {
    let frames: readonly TraceFrame[];
    let ended: boolean;
    let note: string | undefined;
    if (nav instanceof PredictionNavigator) {
      frames = nav.session.trace;
      ended = nav.session.ended;
      if (!ended) note = `The prediction has not reached its end yet: the ${frames.length} steps predicted so far are exported (step on to predict more).`;
    } else if (nav instanceof CompareNavigator) {
      frames = nav.predictedFrames;
      ended = nav.predictionDone && nav.session.ended;
      if (!nav.predictionDone) note = `The prediction is still running: the ${frames.length} steps predicted so far are exported.`;
      else if (nav.predictionFailure !== undefined) note = `The prediction stopped after ${frames.length} steps (${messageOf(nav.predictionFailure)}): those steps are exported.`;
      else if (!ended) note = `The prediction stopped before its end: its ${frames.length} steps are exported.`;
    } else {
      throw new UserError('This session has no prediction to export: it replays the real run. Export the real run, or debug in predict or compare mode.');
    }
    const malformed = nav instanceof PredictionNavigator || nav instanceof CompareNavigator ? nav.session.malformed : [];
    const end: TraceEnd = ended ? endOfFinishedTrace(frames) : { kind: 'incomplete', message: note ?? 'the prediction has not ended' };
    const trace: Trace = {
      origin: 'predicted',
      ...(config.program !== undefined ? { path: config.program } : {}),
      source: this.source,
      // The prediction's context held the real run's other files: so does the exported trace.
      ...(this.predictionFiles?.length ? { files: this.predictionFiles } : {}),
      entry: this.predictionEntry ?? findEntryPoint(this.source, { entry: config.entry, args: config.args }),
      // A snapshot: the background prediction goes on appending to its own list.
      frames: [...frames],
      malformed: [...malformed],
      end,
      notes: [],
      outsideOutput: [],
    };
    return note !== undefined ? { trace, note } : { trace };
  }

  /** A question to the recording (server/adapter/queries.ts); one that names a step to go to moves there. */
  private queryRequest(command: QueryCommand, response: DebugProtocol.Response, args: unknown, request?: DebugProtocol.Request): void {
    let answer: QueryAnswer;
    try {
      answer = answerQuery(command, args, this.nav, { mainPath: this.config?.program, breakpointLines: this.rules.breakpointLines() });
    } catch (error) {
      return this.sendError(response, error instanceof QueryError ? new UserError(error.message) : error);
    }
    response.body = answer.body;
    if (answer.moveTo === undefined) return this.sendResponse(response);
    const position = answer.moveTo;
    this.enqueueRequest(response, request, () => this.controller!.goToPosition(position), undefined, true);
  }

  private positionOfStep(step: number, side?: Side): number {
    const nav = this.nav!;
    if (side === undefined || nav.kind !== 'compare') return step;
    const position = (nav as CompareNavigator).positionOfStep(side, step);
    if (position === undefined) throw new MoveError(`The ${side === 'actual' ? 'real run' : 'prediction'} has no step ${step}.`);
    return position;
  }

  private state(): Record<string, unknown> {
    const nav = this.nav;
    const frame = this.controller?.currentFrame();
    return {
      mode: this.config?.mode,
      pid: process.pid,
      threadName: nav?.threadName,
      position: nav?.position ?? -1,
      length: nav?.length ?? 0,
      complete: nav?.complete ?? false,
      ended: this.ended,
      frame: frame ? frameToJson(frame) : undefined,
      lastStop: this.lastStop,
      ...(this.flowStats !== undefined ? { checks: { ...this.flowStats } } : {}),
    };
  }

  private async tracesRequest(response: DebugProtocol.Response, request?: DebugProtocol.Request): Promise<void> {
    const operation = this.track(request);
    try {
      const nav = this.nav;
      if (!nav) throw new UserError('The debug session has not started yet.');
      if (nav.kind === 'compare' && !nav.complete) {
        const signal = AbortSignal.any([this.lifetime.signal, operation.signal]);
        await this.withProgress('CWM: predicting', operation, request, () => nav.extend({ signal }));
      }
      const body: Record<string, unknown> = { mode: nav.kind, position: nav.position, ...(this.config?.program !== undefined ? { program: this.config.program } : {}) };
      if (nav.kind === 'compare') {
        const compare = nav as CompareNavigator;
        body.actual = compare.actualTrace.frames.map(frameToJson);
        body.predicted = compare.predictedFrames.map(frameToJson);
        body.rows = compare.currentAlignment?.rows ?? [];
        body.firstDivergence = compare.currentAlignment?.firstDivergence ?? null;
        body.scores = compare.scores ?? null;
        body.actualEnd = compare.actualTrace.end;
        body.malformed = compare.malformed;
        if (compare.predictionFailure !== undefined) body.predictionError = messageOf(compare.predictionFailure);
      } else {
        const frames = nav.length > 0 ? nav.view(0).primary.frames : [];
        body[nav.kind === 'actual' ? 'actual' : 'predicted'] = frames.map(frameToJson);
        body.end = nav.end ?? null;
        if (nav instanceof PredictionNavigator) body.malformed = nav.session.malformed;
      }
      response.body = body;
      this.sendResponse(response);
    } catch (error) {
      this.sendError(response, error);
    } finally {
      this.untrack(request);
    }
  }

  private async sampleRequest(response: DebugProtocol.Response, n: number, request?: DebugProtocol.Request): Promise<void> {
    const operation = this.track(request);
    try {
      const nav = this.nav;
      if (!(nav instanceof PredictionNavigator)) throw new UserError('Sampling several rollouts works in predict mode only.');
      const signal = AbortSignal.any([this.lifetime.signal, operation.signal]);
      nav.session.goTo(nav.position);
      const result = await this.withProgress(`CWM: sampling ${n} rollouts`, operation, request, () => nav.session.sample(n, { signal, parallelRequests: (this.config?.endpoints.length ?? 1) > 1 }));
      response.body = {
        rollouts: result.rollouts.map((frames) => frames.map(frameToJson)),
        agreement: result.agreement.map((entry) => ({ ...entry, variables: Object.fromEntries(entry.variables) })),
      };
      this.sendResponse(response);
    } catch (error) {
      this.sendError(response, error);
    } finally {
      this.untrack(request);
    }
  }

  // ------------------------------------------------------------------------------------------------ helpers

  private track(request: DebugProtocol.Request | undefined): AbortController {
    const controller = new AbortController();
    if (request) this.operations.set(request.seq, controller);
    return controller;
  }

  private untrack(request: DebugProtocol.Request | undefined): void {
    if (request) this.operations.delete(request.seq);
  }

  /** Runs work that may wait on the model or the tracer with a cancellable progress notification (when the client shows them). */
  private async withProgress<T>(
    title: string,
    operation: Cancellable,
    request: DebugProtocol.Request | undefined,
    work: (progress: (message: string) => void) => Promise<T> | T,
  ): Promise<T> {
    if (!this.clientProgress) return work(() => undefined);
    const id = `cwm-progress-${++this.progressCounter}`;
    // Cancelling the progress cancels the operation it reports on.
    this.progressOperations.set(id, operation);
    const start: DebugProtocol.ProgressStartEvent['body'] = { progressId: id, title, cancellable: true };
    if (request) start.requestId = request.seq;
    this.sendEvent(new Event('progressStart', start));
    const progress = { id, frames: 0, lastUpdate: 0 };
    this.activeProgress = progress;
    try {
      return await work((message) => this.sendEvent(new Event('progressUpdate', { progressId: id, message })));
    } finally {
      this.progressOperations.delete(id);
      if (this.activeProgress === progress) this.activeProgress = undefined;
      this.sendEvent(new Event('progressEnd', { progressId: id, message: progress.frames > 0 ? `${progress.frames} steps predicted` : undefined }));
    }
  }

  /** Counts predicted frames into the running progress notification, a few updates a second at most. */
  private predictedFrame(): void {
    const progress = this.activeProgress;
    if (!progress) return;
    progress.frames++;
    const now = Date.now();
    if (now - progress.lastUpdate < 200) return;
    progress.lastUpdate = now;
    this.sendEvent(new Event('progressUpdate', { progressId: progress.id, message: `${progress.frames} steps predicted` }));
  }

  /** The program as a DAP source: the file, or for a trace replayed from its own program text, content served by reference. */
  private programSource(): DebugProtocol.Source {
    if (this.servesSourceByContent()) {
      return new Source(this.saved!.sourceName, undefined, TRACE_SOURCE_REFERENCE, 'program text stored in the saved trace');
    }
    return new Source(basename(this.config?.program ?? 'program.py'), this.config?.program);
  }

  /**
   * Another file of the program's project that breakpoints can be set in: a Python file in the program's folder or
   * below (the tracer traces those by default), with its text. Undefined for anything else, and for replayed traces.
   */
  private projectFileOf(target: DebugProtocol.Source): { path: string; text: string } | undefined {
    const program = this.config?.program;
    if (target.path === undefined || program === undefined || this.saved !== undefined || !target.path.endsWith('.py')) return undefined;
    const recorded = this.nav instanceof RecordedNavigator ? this.nav.recorded : this.nav instanceof CompareNavigator ? this.nav.actualTrace : undefined;
    if (recorded !== undefined) {
      // The real run is known: only the files it ran code from.
      const file = recorded.files?.find((traced) => samePath(traced.path, target.path!));
      return file && { path: file.path, text: file.source };
    }
    // Before the run is recorded: what the tracer would trace.
    const path = resolve(target.path);
    const inside = relative(dirname(resolve(program)), path);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return undefined;
    try {
      return { path, text: readFileSync(path, 'utf8') };
    } catch {
      return undefined;
    }
  }

  /** A replayed trace whose program text is not the program file's: the client shows it read-only, from `source`. */
  private servesSourceByContent(): boolean {
    return this.saved !== undefined && !this.saved.fromProgram;
  }

  /** Whether a client source (breakpoints, goto) is the program the session steps through. */
  private isProgramSource(source: DebugProtocol.Source): boolean {
    if (this.config === undefined) return false;
    if (this.servesSourceByContent()) return source.sourceReference === TRACE_SOURCE_REFERENCE;
    return source.path !== undefined && this.config.program !== undefined && samePath(source.path, this.config.program);
  }

  private programOutput(chunks: readonly OutputChunk[]): void {
    for (const chunk of chunks) this.output(chunk.text, chunk.stream);
  }

  private output(text: string, category: 'console' | 'stdout' | 'stderr' | 'important'): void {
    if (text === '') return;
    this.sendEvent(new OutputEvent(text, category));
  }

  /** An error response whose message the user can act on (no PII formatting: values may contain braces). */
  private sendError(response: DebugProtocol.Response, error: unknown, options: { quiet?: boolean } = {}): void {
    // `quiet`: the client shows the message where it was asked (a watch, a hover, the console); no pop-up as well.
    const cancelled = (error instanceof EndpointError && error.kind === 'cancelled') || (error instanceof Error && error.name === 'AbortError');
    response.success = false;
    response.message = cancelled ? 'cancelled' : messageOf(error);
    response.body = { error: { id: 1, format: response.message, showUser: !cancelled && !options.quiet } };
    this.sendResponse(response);
  }
}

/** The program path of a configuration that runs or predicts it (validation requires one unless a trace is replayed). */
function programOf(config: LaunchConfig): string {
  if (config.program === undefined) throw new ConfigError('"program" is required: the path of the Python file to debug.');
  return config.program;
}

function frameOf(side: SideFrame): TraceFrame {
  return side.frames[side.index]!;
}

/**
 * The frame as the Variables view shows it: a return or exception step carries no locals in the trace, so it shows
 * the function's locals as they were at its previous step (with the value as `(return)` / `(exception)`).
 */
function shownFrame(side: SideFrame): TraceFrame {
  const frame = frameOf(side);
  if (frame.event === 'call' || frame.event === 'line') return frame;
  const previous = linksOf(side.frames).previousInScope(side.index);
  return previous < 0 ? frame : { ...frame, locals: side.frames[previous]!.locals };
}

function differencesOf(predicted: TraceFrame, actual: TraceFrame): Map<string, VariableDifference> {
  const { variables, value } = compareState(predicted, actual);
  const map = new Map<string, VariableDifference>(variables.map((difference) => [difference.name, difference]));
  if (value) map.set(RETURN_NAME, { name: RETURN_NAME, ...value });
  return map;
}

/** A name of the frame's locals (or the pseudo-variables) needs no evaluation: its repr is known. */
function directValue(frame: TraceFrame, expression: string): string | undefined {
  const name = expression.trim();
  // A local, or an attribute of a recorded object (`self.radius`, real runs): hover and watch read it as is.
  const local = valueAt(frame, name);
  if (local !== undefined) return local;
  if ((name === '(return)' || name === '(exception)') && frame.value !== undefined) return frame.value;
  return undefined;
}


function samePath(a: string, b: string): boolean {
  const normalize = (path: string) => (process.platform === 'win32' || process.platform === 'darwin' ? path.toLowerCase() : path);
  return normalize(a) === normalize(b);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

function messageOf(error: unknown): string {
  if (error instanceof ConfigError || error instanceof UserError || error instanceof MoveError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Watch values are shown whole on hover; past this many characters Copy Value gives the rest. */
const WATCH_VALUE_LIMIT = 10_000;

function watchText(repr: string): string {
  return wholeUpTo(repr, WATCH_VALUE_LIMIT);
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
