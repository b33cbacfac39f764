// Movement over a TraceNavigator, whatever the mode: steps, continue, reverse, run to a line, each ending in a stop with a
// reason, checking breakpoints, data breakpoints, exceptions and the first divergence on the way. Knows nothing of DAP.

import type { OutputChunk, TraceEnd, TraceFrame } from '../trace/model';
import type { CompareNavigator } from './compare';
import { linksOf } from './frames';
import type { TraceNavigator } from './navigator';
import {
  StopRules, StopScanner, describeException, valueChange,
  type ConditionEvaluator, type ScannedFrame, type StopInfo,
} from './stops';
import { appendAll } from '../trace/arrays';

export type MoveResult =
  | { readonly kind: 'stopped'; readonly stop: StopInfo }
  /** Nothing is left to move to: the session should end. */
  | { readonly kind: 'terminated'; readonly message: string };

/** The model's output could not be read as a frame where the movement needed one. */
export class MalformedPredictionError extends Error {}

/** A request the current position or trace cannot satisfy (line never reached...). */
export class MoveError extends Error {}

export interface ControllerHooks {
  /** A log point's message, when a forward movement passes its frame. */
  log(text: string, frame: TraceFrame): void;
  /** What the real program printed during the steps a forward movement went past. */
  programOutput(chunks: readonly OutputChunk[]): void;
  /** A predicted frame arrived while the model streams. */
  predicted?(frame: TraceFrame): void;
}

const SCAN_BATCH = 256;

export class StepController {
  /** Real frames below this index had their output shown. */
  private outputShownBelow = 0;

  constructor(
    readonly nav: TraceNavigator,
    readonly rules: StopRules,
    private readonly evaluator: ConditionEvaluator,
    private readonly hooks: ControllerHooks,
  ) {}

  /** Moves to the first position (predicting it if needed) and stops there, or runs to the first stop. */
  async start(stopOnEntry: boolean, signal?: AbortSignal): Promise<MoveResult> {
    if (this.nav.length === 0) {
      const result = await this.nav.extend({ single: true, signal, onFrame: this.hooks.predicted });
      if (result.added === 0) {
        if (result.malformed) throw malformedError(result.malformed.index, result.malformed.reason);
        return { kind: 'terminated', message: 'The trace has no steps.' };
      }
    }
    this.nav.moveTo(0);
    if (stopOnEntry) return { kind: 'stopped', stop: { reason: 'entry' } };
    return this.forward({ includeCurrent: true, signal });
  }

  async stepIn(signal?: AbortSignal): Promise<MoveResult> {
    return this.forward({ target: () => true, single: true, signal });
  }

  async next(signal?: AbortSignal): Promise<MoveResult> {
    const here = this.currentFrame();
    if (here === undefined) return this.stepIn(signal);
    if (this.nav.stepOverNatively && !this.rules.couldStopInsideCalls) {
      if (this.atEnd()) return this.terminated();
      const before = this.nav.position;
      const result = await this.nav.stepOverNatively(signal);
      if (result.malformed) throw malformedError(result.malformed.index, result.malformed.reason);
      if (this.nav.position === before) return this.stopAtEnd();
      return this.stoppedHere(this.atEnd() ? { reason: 'end', description: this.endDescription() } : { reason: 'step' });
    }
    const depth = here.depth;
    return this.forward({ target: (frame) => frame.depth <= depth, signal });
  }

  async stepOut(signal?: AbortSignal): Promise<MoveResult> {
    const here = this.currentFrame();
    if (here === undefined) return this.stepIn(signal);
    const depth = here.depth;
    return this.forward({ target: (frame) => frame.depth < depth, signal });
  }

  async continue(signal?: AbortSignal): Promise<MoveResult> {
    return this.forward({ signal });
  }

  /** Forward to the next frame on `line`, ignoring breakpoints (a jump); back to its latest earlier frame when none is ahead. */
  async gotoLine(line: number, signal?: AbortSignal): Promise<MoveResult> {
    const origin = this.nav.position;
    const onLine = (frame: TraceFrame) => frame.line === line && frame.file === undefined && (frame.event === 'line' || frame.event === 'call');
    const result = await this.forward({ target: onLine, targetStop: { reason: 'goto' }, signal, ignoreRules: true, keepAtEnd: true });
    if (result.kind === 'stopped' && result.stop.reason === 'goto') return result;
    for (let p = Math.min(origin, this.nav.length - 1); p >= 0; p--) {
      if (onLine(this.frameAt(p))) {
        this.nav.moveTo(p);
        return { kind: 'stopped', stop: { reason: 'goto' } };
      }
    }
    if (origin >= 0) this.nav.moveTo(origin);
    throw new MoveError(`Line ${line} is never reached in this ${this.nav.kind === 'predicted' ? 'prediction' : 'trace'}.`);
  }

  /** Jumps to a known position (the side-by-side view's "go to step"). */
  goToPosition(position: number): MoveResult {
    if (!Number.isInteger(position) || position < 0 || position >= this.nav.length) {
      throw new MoveError(`Step ${position} does not exist; the timeline has ${this.nav.length} steps so far.`);
    }
    this.nav.moveTo(position);
    this.showOutputUpTo(position);
    return { kind: 'stopped', stop: { reason: 'goto' } };
  }

  /** One position back; nothing is predicted or discarded. */
  stepBack(): MoveResult {
    if (this.nav.position <= 0) return { kind: 'stopped', stop: { reason: 'entry', description: 'Start of the trace' } };
    this.nav.moveTo(this.nav.position - 1);
    return { kind: 'stopped', stop: { reason: 'step' } };
  }

  /**
   * Back to the latest earlier position where a breakpoint's condition holds, a watched variable changed, an exception
   * filter applies or the divergence is; else the first position. Hit counts and log points apply going forward only.
   */
  async reverseContinue(): Promise<MoveResult> {
    const divergence = this.divergence();
    for (let p = this.nav.position - 1; p >= 0; p--) {
      const stop = await this.backwardStop(p, divergence);
      if (stop) {
        this.nav.moveTo(p);
        return { kind: 'stopped', stop };
      }
    }
    if (this.nav.length > 0) this.nav.moveTo(0);
    return { kind: 'stopped', stop: { reason: 'entry', description: 'Start of the trace' } };
  }

  async restart(signal?: AbortSignal): Promise<MoveResult> {
    this.outputShownBelow = 0;
    this.rules.resetHits();
    await this.nav.restart(signal, this.hooks.predicted);
    return this.start(true, signal);
  }

  /** Shows the output of every real step not shown yet and the output printed outside steps (the session ends). */
  flushOutput(): void {
    const actual = this.actualFrames();
    if (actual) this.showOutputOfFrames(actual, actual.length);
  }

  currentFrame(): TraceFrame | undefined {
    return this.nav.position < 0 ? undefined : this.frameAt(this.nav.position);
  }

  atEnd(): boolean {
    return this.nav.complete && this.nav.position === this.nav.length - 1;
  }

  endDescription(): string {
    return describeTraceEnd(this.nav.end, this.nav.kind);
  }

  private frameAt(position: number): TraceFrame {
    const { primary } = this.nav.view(position);
    return primary.frames[primary.index]!;
  }

  private scannedAt(position: number): ScannedFrame {
    const { primary } = this.nav.view(position);
    const frame = primary.frames[primary.index]!;
    const previous = linksOf(primary.frames).previousInScope(primary.index);
    return { position, frame, previousInScope: previous < 0 ? undefined : primary.frames[previous] };
  }

  private divergence(): { position: number; description: string } | undefined {
    if (this.nav.kind !== 'compare' || !this.rules.stopOnDivergence) return undefined;
    return (this.nav as CompareNavigator).divergence;
  }

  private async forward(options: {
    target?: (frame: TraceFrame, position: number) => boolean;
    targetStop?: StopInfo;
    single?: boolean;
    includeCurrent?: boolean;
    ignoreRules?: boolean;
    keepAtEnd?: boolean;
    signal?: AbortSignal;
  }): Promise<MoveResult> {
    const nav = this.nav;
    if (!options.includeCurrent && this.atEnd() && !options.keepAtEnd) return this.terminated();
    const rules = options.ignoreRules ? new StopRules() : this.rules;
    const scanner = new StopScanner({
      rules,
      evaluator: this.evaluator,
      target: options.target,
      targetStop: options.targetStop,
      divergence: options.ignoreRules ? undefined : () => this.divergence(),
      log: (text, frame) => this.hooks.log(text, frame),
    });
    if (!options.includeCurrent && nav.position >= 0) scanner.seed(this.scannedAt(nav.position));
    let next = options.includeCurrent ? Math.max(0, nav.position) : nav.position + 1;
    let revision = nav.revision;
    let done = false;
    while (!done) {
      while (next < nav.length) {
        const stops = scanner.feed(this.scannedAt(next));
        next++;
        if (stops) {
          done = true;
          break;
        }
        if (scanner.pending >= SCAN_BATCH) {
          await scanner.drain();
          if (scanner.found) {
            done = true;
            break;
          }
        }
      }
      if (done || nav.complete) break;
      if (scanner.pending > 0) {
        // A condition pending on a known frame may stop the movement before anything needs predicting.
        await scanner.drain();
        if (scanner.found) break;
        // The read-ahead may have recorded frames meanwhile: they are scanned before anything is asked for.
        if (next < nav.length) continue;
      }
      const streamed = nav.kind === 'predicted' && !options.single ? this.streamFeeder(scanner) : undefined;
      const result = await nav.extend({ single: options.single, until: streamed, signal: options.signal, onFrame: this.hooks.predicted });
      if (nav.revision !== revision) {
        // The timeline was rebuilt (compare mode aligned the finished prediction): start again after the current position.
        revision = nav.revision;
        next = options.includeCurrent ? Math.max(0, nav.position) : nav.position + 1;
      } else if (streamed) {
        next = nav.length;
        if (scanner.found) break;
      }
      if (result.added === 0 && !nav.complete) {
        if (result.malformed) throw malformedError(result.malformed.index, result.malformed.reason);
        // The model stopped without ending the trace and without a readable frame: nothing more to move to.
        break;
      }
    }
    const found = await scanner.settle();
    if (found) {
      nav.moveTo(found.position);
      this.showOutputUpTo(found.position);
      return { kind: 'stopped', stop: found.stop };
    }
    if (nav.length === 0) return this.terminated();
    return this.stopAtEnd();
  }

  /** Feeds streamed predicted frames to the scanner with what data breakpoints need from the frames before them. */
  private streamFeeder(scanner: StopScanner): (frame: TraceFrame) => boolean {
    // Streamed frames are not in the recording yet; the frames before them are.
    const recorded = this.nav.view(Math.max(0, this.nav.length - 1)).primary.frames;
    const latest = new Map<number, TraceFrame>();
    return (frame) => {
      let previous = latest.get(frame.scope);
      if (previous === undefined) {
        const index = this.nav.length > 0 ? linksOf(recorded).latestInScope(frame.scope) : -1;
        previous = index < 0 ? undefined : recorded[index];
      }
      if (frame.event === 'call' || frame.event === 'line') latest.set(frame.scope, frame);
      return scanner.feed({ position: frame.index, frame, previousInScope: previous });
    };
  }

  private stopAtEnd(): MoveResult {
    const last = this.nav.length - 1;
    this.nav.moveTo(last);
    this.showOutputUpTo(last);
    const reason = this.nav.complete ? 'end' : 'step';
    const description = this.nav.complete ? this.endDescription() : 'The model stopped before the end of the trace (token or frame limit).';
    return { kind: 'stopped', stop: { reason, description } };
  }

  private stoppedHere(stop: StopInfo): MoveResult {
    this.showOutputUpTo(this.nav.position);
    return { kind: 'stopped', stop };
  }

  private terminated(): MoveResult {
    this.flushOutput();
    return { kind: 'terminated', message: this.endDescription() };
  }

  private actualFrames(): readonly TraceFrame[] | undefined {
    if (this.nav.kind === 'predicted' || this.nav.length === 0) return undefined;
    if (this.nav.kind === 'compare') return (this.nav as CompareNavigator).actualTrace.frames;
    return this.nav.view(0).primary.frames;
  }

  /** Shows the output of the real steps that ran before the position's real step. */
  private showOutputUpTo(position: number): void {
    const actual = this.actualFrames();
    if (!actual) return;
    let below: number | undefined;
    for (let p = position; p >= 0 && below === undefined; p--) {
      const side = this.nav.view(p).sides.find((s) => s.side === 'actual');
      if (side) below = side.index;
    }
    if (below !== undefined) this.showOutputOfFrames(actual, below);
  }

  private showOutputOfFrames(frames: readonly TraceFrame[], below: number): void {
    if (below <= this.outputShownBelow) return;
    const chunks: OutputChunk[] = [];
    for (let i = this.outputShownBelow; i < below; i++) {
      const output = frames[i]!.output;
      if (output) appendAll(chunks, output);
    }
    this.outputShownBelow = below;
    if (chunks.length > 0) this.hooks.programOutput(chunks);
  }

  private async backwardStop(position: number, divergence: { position: number; description: string } | undefined): Promise<StopInfo | undefined> {
    if (divergence?.position === position) return { reason: 'divergence', description: divergence.description };
    const { frame, previousInScope } = this.scannedAt(position);
    if (frame.event === 'exception') {
      if (this.rules.hasException('raised')) return { reason: 'exception', description: `Raised ${describeException(frame.value)}` };
      if (this.rules.hasException('uncaught') && frame.depth === 0 && position + 1 < this.nav.length) {
        const after = this.frameAt(position + 1);
        if (after.event === 'return' && after.scope === frame.scope) return { reason: 'exception', description: `Uncaught ${describeException(frame.value)}` };
      }
    }
    if (frame.event === 'call' || frame.event === 'line') {
      const changes: string[] = [];
      const ids: number[] = [];
      for (const watch of this.rules.dataBreakpoints) {
        if (watch.functionName !== frame.functionName) continue;
        const change = valueChange(frame, previousInScope, watch.name);
        if (change !== undefined) {
          changes.push(change);
          ids.push(watch.id);
        }
      }
      if (changes.length > 0) return { reason: 'data breakpoint', description: changes.join('; '), hitBreakpointIds: ids };
      const hit: number[] = [];
      const texts: string[] = [];
      for (const bp of this.rules.breakpointsOn(frame.line, frame.file)) {
        if (bp.logMessage !== undefined) continue;
        if (bp.condition !== undefined) {
          const result = await this.evaluator.evaluateCondition(bp.condition, frame.locals);
          if (result === false) continue;
          if (result !== true) texts.push(`The condition "${bp.condition}" of the breakpoint on line ${bp.line} failed: ${result.error}`);
        }
        hit.push(bp.id);
      }
      if (hit.length > 0) return { reason: 'breakpoint', hitBreakpointIds: hit, ...(texts.length ? { text: texts.join('\n') } : {}) };
    }
    return undefined;
  }
}

function malformedError(index: number, reason: string): MalformedPredictionError {
  return new MalformedPredictionError(
    `The model's output for step ${index} could not be read as a frame (${reason}). Restart for a fresh sample, or try a higher temperature.`,
  );
}

/** One sentence on how a trace ended. */
export function describeTraceEnd(end: TraceEnd | undefined, kind: TraceNavigator['kind']): string {
  const what = kind === 'predicted' ? 'predicted run' : 'real run';
  if (end === undefined) return `End of the ${what} so far.`;
  switch (end.kind) {
    case 'returned': return `End of the ${what}: the entry returned.`;
    case 'raised': return `End of the ${what}: the program raised ${end.message}`;
    case 'exited': return `End of the ${what}: ${end.message}`;
    case 'limit': return `End of the ${what}: stopped early, ${end.message}`;
    case 'crashed': return `End of the ${what}: it ended abnormally, ${end.message}`;
    case 'incomplete': return `End of the ${what}: incomplete, ${end.message}`;
  }
}
