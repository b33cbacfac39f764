// Inverse execution: which inputs reach a line (or a state, a return value, an exception) of a Python function. The model
// invents the entry's call frame in many rollouts from the bare entry, each stopped at the target; the proposals whose
// prediction reaches it are run for real through the tracer, and only a real run that gets there counts as found.

import type { TokenCodec } from '../cwm/codec';
import { buildContext } from '../cwm/context';
import { splitSourceLines } from '../cwm/lines';
import type { EntryPoint, Locals, Trace, TraceFrame, TraceSourceFile } from '../trace/model';
import { entryParameters, type ParamKind } from '../tracer/entry-frame';
import { recordTrace, TracerError, type TracerLimits } from '../tracer/runner';
import { parseExpression } from '../values/py-parse';
import { PromptBuilder } from './prompt';
import { runRollout, type CompletionBackend, type RolloutResult } from './rollout';
import { effectiveContextTokens } from './session';
import { closeness, describeMiss, describeTarget, guardLines, TargetMatcher, type InverseTarget } from './inverse-target';
import { editedCallFrames, programLiterals } from './inverse-edit';

export { describeTarget, type InverseTarget } from './inverse-target';

/** How proposals are run for real; `false` runs nothing (an untrusted workspace): results are then "unverified". */
export interface InverseVerification {
  readonly python?: string;
  /** The tracer's limits for each run (defaults: 20,000 events, 10 s). */
  readonly limits?: Partial<TracerLimits>;
  readonly cwd?: string;
  readonly includePaths?: readonly string[];
}

/** Sampling from the bare entry, and (in rounds after the first) near misses' call frames edited toward the target. */
export type SteeringStrategy = 'edit' | 'none';

export interface InverseSearchOptions {
  readonly source: string;
  /** The program's file: verification runs it. */
  readonly path: string;
  readonly files?: readonly TraceSourceFile[];
  /** The entry function; its arguments are what the search looks for (any `args` it carries are ignored). */
  readonly entry: Extract<EntryPoint, { kind: 'function' }>;
  readonly backend: CompletionBackend;
  readonly codec: TokenCodec;
  readonly target: InverseTarget;
  /** Rollouts per round (default 16). */
  readonly samples?: number;
  /** Rounds at most (default 3): the first samples, later ones steer, until a verified hit. */
  readonly rounds?: number;
  readonly steering?: SteeringStrategy;
  /** Rollouts in flight at once (default 4). */
  readonly concurrency?: number;
  /** Sampling temperature (default 0.8: proposals must differ). */
  readonly temperature?: number;
  readonly topP?: number;
  /** Seed of the first rollout; rollout k gets seed + k. None by default. */
  readonly seed?: number;
  readonly contextTokens?: number;
  /** Tokens one rollout may generate (default 8192). */
  readonly maxTokensPerRollout?: number;
  /** Frames one rollout may add (default 2000). */
  readonly maxFramesPerRollout?: number;
  /** Completion tokens the whole search may spend (default: no bound). */
  readonly maxTokens?: number;
  /** Wall-clock bound of the whole search, in ms (default: none). */
  readonly timeMs?: number;
  readonly verify: false | InverseVerification;
  /** Real runs at most (default 64): hits first, then near misses. */
  readonly maxVerifications?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: InverseProgress) => void;
}

export interface InverseProgress {
  readonly round: number;
  readonly samples: number;
  /** Rollouts whose prediction reached the target. */
  readonly hits: number;
  readonly verified: number;
  readonly refuted: number;
}

export type ProposalStatus =
  /** The real run reached the target. */
  | 'verified'
  /** The model predicted the target, the real run did not. */
  | 'refuted'
  /** Neither the prediction nor the real run reached it. */
  | 'missed'
  /** Not run: verification is off (untrusted) or its budget was spent. */
  | 'unverified'
  /** The real run could not start (bad arguments for the program, cancelled). */
  | 'error';

export interface InverseProposal {
  /** The argument list, as it would appear between the call's parentheses. */
  readonly args: string;
  /** The call frame's values. */
  readonly locals: Locals;
  /** Rollouts that proposed these same arguments (duplicates merged). */
  count: number;
  readonly round: number;
  readonly strategy: 'sample' | 'edit';
  /** The sampled proposal this one descends from by edits (its own arguments for a sampled one). */
  readonly origin: string;
  /** The model's prediction reached the target, at this step of the predicted trace. */
  readonly predictedStep?: number;
  status: ProposalStatus;
  /** Real run: the step where the target was reached (verified). */
  realStep?: number;
  /** Real run: where it went instead (refuted, missed), or why it did not run (error). */
  realOutcome?: string;
  /** Verified: the real trace (frames up to the tracer's limits). */
  realTrace?: Trace;
  /** How close the run (real, else predicted) came: higher is closer. */
  closeness: number;
}

export interface InverseCounts {
  samples: number;
  /** Rollouts whose prediction reached the target. */
  hits: number;
  /** Distinct argument lists proposed. */
  proposals: number;
  /** Rollouts that repeated an earlier proposal (merged into it). */
  duplicates: number;
  /** Rollouts with no usable call frame. */
  malformed: number;
  /** Real runs. */
  verifications: number;
  verified: number;
  refuted: number;
  completionTokens: number;
  rounds: number;
  /** Rollouts per strategy, and how many of their proposals were verified. */
  byStrategy: Record<'sample' | 'edit', { samples: number; verified: number }>;
}

export interface InverseResult {
  readonly target: InverseTarget;
  /** Real runs reached the target: the inputs found. Predicted hits first, each with its real step. */
  readonly verified: readonly InverseProposal[];
  /** The model claimed the target, the real run went elsewhere (realOutcome says where). */
  readonly refuted: readonly InverseProposal[];
  /** Predicted hits never run (verification off or its budget spent). */
  readonly unverified: readonly InverseProposal[];
  readonly counts: InverseCounts;
  /** Why the search ended: found, every round done, or a budget. */
  readonly stoppedBy: 'found' | 'rounds' | 'time' | 'tokens' | 'cancelled';
  /** Reasons of the first malformed proposals (a few). */
  readonly malformedReasons: readonly string[];
  /** Things the user should know (a condition that could not be evaluated...). */
  readonly notes: readonly string[];
  /** Whether proposals were run at all. */
  readonly verifiedRuns: boolean;
}

/** Default verification limits: shorter than a debugging run's, since a search runs many programs. */
export const INVERSE_TRACER_LIMITS: Partial<TracerLimits> = { maxEvents: 20_000, timeoutMs: 10_000 };
const MAX_MALFORMED_REASONS = 5;

/** The proposal's arguments could not be read from the call frame. */
class MalformedProposal extends Error {}

/** The argument list that makes the entry's call frame hold `locals`: positional where the def allows, else keywords. */
export function argumentsOf(locals: Locals, params: readonly { name: string; kind: ParamKind }[]): string {
  const parts: string[] = [];
  for (const param of params) {
    const repr = locals.get(param.name);
    if (repr === undefined) throw new MalformedProposal(`the call frame has no value for the parameter ${param.name}`);
    try {
      parseExpression(repr);
    } catch {
      throw new MalformedProposal(`the value of ${param.name} is not a Python literal: ${repr.length > 40 ? `${repr.slice(0, 40)}…` : repr}`);
    }
    switch (param.kind) {
      case 'positional-only': case 'positional-or-keyword': parts.push(repr); break;
      case 'var-positional': parts.push(`*${repr}`); break;
      case 'keyword-only': parts.push(`${param.name}=${repr}`); break;
      case 'var-keyword': parts.push(`**${repr}`); break;
    }
  }
  return parts.join(', ');
}

interface RolloutPlan {
  readonly strategy: 'sample' | 'edit';
  /** Steering: the edited call frame the model continues from. */
  readonly callFrame?: TraceFrame;
  /** Steering: the sampled proposal the edited one descends from. */
  readonly origin?: string;
}

export async function searchInputs(options: InverseSearchOptions): Promise<InverseResult> {
  const samplesPerRound = Math.max(1, Math.floor(options.samples ?? 16));
  const rounds = Math.max(1, Math.floor(options.rounds ?? 3));
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4));
  const maxVerifications = options.verify === false ? 0 : Math.max(0, options.maxVerifications ?? 64);
  const params = entryParameters(options.source, options.entry.name);
  const entry: EntryPoint = { kind: 'function', name: options.entry.name, line: options.entry.line };
  const layout = buildContext({ source: options.source, path: options.path, files: options.files, entry });
  const context = layout.text;
  const matcher = new TargetMatcher(options.target);
  const guards = options.target.kind === 'line' ? guardLines(options.source, options.target.line) : [];
  const literals = programLiterals(options.source, guards);
  const contextTokens = effectiveContextTokens(options.contextTokens, options.backend);
  const maxTokensPerRollout = options.maxTokensPerRollout ?? 8192;
  const promptBudget = contextTokens - Math.min(maxTokensPerRollout, Math.floor(contextTokens / 4));
  const bare = await new PromptBuilder(context, options.codec).build([], promptBudget, 'call');

  // One controller for the user's cancel and the time budget; rollouts and real runs stop together.
  const abort = new AbortController();
  let stoppedBy: InverseResult['stoppedBy'] | undefined;
  const stop = (why: InverseResult['stoppedBy']) => {
    stoppedBy ??= why;
    abort.abort();
  };
  /** The token budget is spent: no new rollout starts, but the proposals in hand are still verified. */
  let tokensSpent = false;
  const onCancel = () => stop('cancelled');
  if (options.signal?.aborted) stop('cancelled');
  options.signal?.addEventListener('abort', onCancel, { once: true });
  const timer = options.timeMs === undefined ? undefined : setTimeout(() => stop('time'), options.timeMs);

  const proposals = new Map<string, InverseProposal>();
  const malformedReasons: string[] = [];
  const notes: string[] = [];
  const counts: InverseCounts = {
    samples: 0, hits: 0, proposals: 0, duplicates: 0, malformed: 0, verifications: 0, verified: 0, refuted: 0, completionTokens: 0, rounds: 0,
    byStrategy: { sample: { samples: 0, verified: 0 }, edit: { samples: 0, verified: 0 } },
  };
  let rolloutNumber = 0;
  let round = 0;
  const progress = () => options.onProgress?.({ round, samples: counts.samples, hits: counts.hits, verified: counts.verified, refuted: counts.refuted });

  const malformed = (reason: string) => {
    counts.malformed++;
    if (malformedReasons.length < MAX_MALFORMED_REASONS) malformedReasons.push(reason);
  };

  async function rollout(plan: RolloutPlan): Promise<RolloutResult | undefined> {
    const k = rolloutNumber++;
    const settings = { temperature: options.temperature ?? 0.8, topP: options.topP, seed: options.seed === undefined ? undefined : options.seed + k };
    const prefix = plan.callFrame === undefined ? [] : [plan.callFrame];
    let promptIds = bare.ids;
    if (plan.callFrame !== undefined) {
      const builder = new PromptBuilder(context, options.codec);
      builder.append(plan.callFrame);
      promptIds = (await builder.build(prefix, promptBudget, 'line')).ids;
    }
    try {
      return await runRollout({
        backend: options.backend, codec: options.codec, promptIds, context, layout, source: options.source, entry, prefix,
        forced: plan.callFrame === undefined ? 'call' : 'line', settings, singleFrame: false, maxTokens: maxTokensPerRollout,
        maxFrames: options.maxFramesPerRollout ?? 2000, until: (frame) => matcher.matches(frame), signal: abort.signal,
      });
    } catch (error) {
      if (abort.signal.aborted) return undefined;
      throw error;
    }
  }

  async function verify(proposal: InverseProposal): Promise<void> {
    if (options.verify === false || counts.verifications >= maxVerifications || abort.signal.aborted) return;
    counts.verifications++;
    let trace: Trace;
    try {
      trace = await recordTrace({
        file: options.path, python: options.verify.python, entry: options.entry.name, args: proposal.args,
        limits: { ...INVERSE_TRACER_LIMITS, ...options.verify.limits }, signal: abort.signal,
        ...(options.verify.cwd !== undefined ? { cwd: options.verify.cwd } : {}),
        ...(options.verify.includePaths !== undefined ? { includePaths: [...options.verify.includePaths] } : {}),
      });
    } catch (error) {
      if (error instanceof TracerError && error.kind === 'cancelled') return;
      if (error instanceof TracerError && error.kind === 'bad-args') {
        // Arguments the program cannot be called with (a name it does not define, a value Python rejects): malformed.
        proposal.status = 'error';
        proposal.realOutcome = error.message;
        malformed(`the program cannot be called with ${proposal.args}: ${error.message}`);
        return;
      }
      // No run can work (no Python, a syntax error, an import that fails): the search stops and says why.
      abort.abort();
      throw error;
    }
    const step = matcher.realMatch(trace);
    proposal.closeness = closeness(trace.frames, options.target, guards);
    if (step >= 0) {
      proposal.status = 'verified';
      proposal.realStep = step;
      proposal.realTrace = trace;
      counts.verified++;
      counts.byStrategy[proposal.strategy].verified++;
    } else {
      proposal.status = proposal.predictedStep !== undefined ? 'refuted' : 'missed';
      proposal.realOutcome = describeMiss(trace, options.target);
      if (proposal.status === 'refuted') counts.refuted++;
    }
  }

  /** One rollout: its call frame read back into arguments, merged with an earlier equal proposal, a hit verified at once. */
  async function runOne(plan: RolloutPlan): Promise<void> {
    if (abort.signal.aborted || tokensSpent) return;
    const result = await rollout(plan);
    if (result === undefined) return;
    counts.samples++;
    counts.byStrategy[plan.strategy].samples++;
    counts.completionTokens += result.completionTokens;
    if (options.maxTokens !== undefined && counts.completionTokens >= options.maxTokens && !tokensSpent) {
      tokensSpent = true;
      stoppedBy ??= 'tokens';
    }
    const frames = plan.callFrame === undefined ? result.frames : [plan.callFrame, ...result.frames];
    const call = frames[0];
    if (call === undefined || call.event !== 'call' || call.depth !== 0) {
      malformed(result.malformed[0]?.reason ?? (call === undefined ? 'the model gave no call frame' : `the first step is a ${call.event}, not the entry's call`));
      progress();
      return;
    }
    let args: string;
    try {
      args = argumentsOf(call.locals, params);
    } catch (error) {
      if (!(error instanceof MalformedProposal)) throw error;
      malformed(error.message);
      progress();
      return;
    }
    const hitIndex = result.stoppedByCondition ? frames.length - 1 : -1;
    if (hitIndex >= 0) counts.hits++;
    const known = proposals.get(args);
    if (known !== undefined) {
      known.count++;
      counts.duplicates++;
      progress();
      return;
    }
    const proposal: InverseProposal = {
      args, locals: call.locals, count: 1, round, strategy: plan.strategy, origin: plan.origin ?? args, status: 'unverified',
      ...(hitIndex >= 0 ? { predictedStep: hitIndex } : {}),
      closeness: closeness(frames, options.target, guards),
    };
    proposals.set(args, proposal);
    counts.proposals++;
    if (hitIndex >= 0) await verify(proposal);
    progress();
  }

  async function runRound(plans: readonly RolloutPlan[]): Promise<void> {
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, async () => {
      while (next < plans.length && !abort.signal.aborted && !tokensSpent) await runOne(plans[next++]!);
    }));
    // Near misses are run too: a real run may get there where the model thought not, and steering needs real distances.
    const unrun = [...proposals.values()].filter((p) => p.status === 'unverified' && p.round === round).sort((a, b) => b.closeness - a.closeness);
    let nextRun = 0;
    await Promise.all(Array.from({ length: Math.min(concurrency, unrun.length) }, async () => {
      while (nextRun < unrun.length && !abort.signal.aborted) await verify(unrun[nextRun++]!);
    }));
  }

  /** Steering: the closest misses' call frames, edited one argument at a time, for the model to continue from. */
  function steeringPlans(count: number): RolloutPlan[] {
    const misses = [...proposals.values()].filter((p) => p.status !== 'verified').sort((a, b) => b.closeness - a.closeness);
    const plans: RolloutPlan[] = [];
    const seen = (locals: Locals) => {
      try {
        return proposals.has(argumentsOf(locals, params));
      } catch {
        return true;
      }
    };
    const taken = new Set<string>();
    // Three quarters of the round edit the closest misses; the rest keeps sampling afresh. The misses are taken from
    // the four most promising lineages (a sampled proposal and its edits), so that one family's many close variants do
    // not crowd out another family one edit away from the target.
    const editBudget = count - Math.floor(count / 4);
    const lineages = new Map<string, InverseProposal[]>();
    for (const miss of misses) lineages.set(miss.origin, [...(lineages.get(miss.origin) ?? []), miss]);
    const best = [...lineages.values()].slice(0, 4);
    const fresh = (edited: Locals) => !seen(edited) && !taken.has(JSON.stringify([...edited]));
    for (const family of best) {
      let room = Math.min(Math.ceil(editBudget / best.length), editBudget - plans.length);
      for (const miss of family) {
        if (room <= 0) break;
        for (const locals of editedCallFrames(miss.locals, literals, room, (edited) => !fresh(edited))) {
          taken.add(JSON.stringify([...locals]));
          plans.push({ strategy: 'edit', callFrame: callFrameOf(locals), origin: miss.origin });
          room--;
        }
      }
    }
    while (plans.length < count) plans.push({ strategy: 'sample' });
    return plans;
  }

  const lines = splitSourceLines(options.source);
  const callFrameOf = (locals: Locals): TraceFrame => ({
    index: 0, event: 'call', line: options.entry.line, sourceLine: lines[options.entry.line - 1] ?? '', scope: 1,
    functionName: options.entry.name.split('.').pop() ?? options.entry.name, depth: 0, locals,
  });

  try {
    for (round = 1; round <= rounds && !abort.signal.aborted && !tokensSpent; round++) {
      counts.rounds = round;
      const steer = round > 1 && (options.steering ?? 'edit') === 'edit';
      const plans = steer ? steeringPlans(samplesPerRound) : Array.from({ length: samplesPerRound }, () => ({ strategy: 'sample' as const }));
      await runRound(plans);
      const found = options.verify === false ? counts.hits > 0 : counts.verified > 0;
      if (found) {
        stoppedBy ??= 'found';
        break;
      }
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onCancel);
  }
  round = Math.min(round, rounds);
  if (matcher.conditionError !== undefined && options.target.kind === 'line') {
    notes.push(`The condition ${options.target.where ?? ''} could not be evaluated on some steps at line ${options.target.line}: ${matcher.conditionError}.`);
  }
  const all = [...proposals.values()];
  const byPrediction = (a: InverseProposal, b: InverseProposal) =>
    Number(b.predictedStep !== undefined) - Number(a.predictedStep !== undefined) || b.count - a.count;
  return {
    target: options.target,
    verified: all.filter((p) => p.status === 'verified').sort(byPrediction),
    refuted: all.filter((p) => p.status === 'refuted').sort((a, b) => b.count - a.count),
    unverified: all.filter((p) => p.status === 'unverified' && p.predictedStep !== undefined).sort((a, b) => b.count - a.count),
    counts,
    stoppedBy: stoppedBy ?? 'rounds',
    malformedReasons,
    notes,
    verifiedRuns: options.verify !== false,
  };
}

/** One line: what was found and what it cost. */
export function summarizeSearch(result: InverseResult): string {
  const c = result.counts;
  const goal = describeTarget(result.target);
  const found = result.verifiedRuns
    ? `${c.verified} verified input${c.verified === 1 ? '' : 's'} reach${c.verified === 1 ? 'es' : ''} ${goal}`
    : `${result.unverified.length} unverified proposal${result.unverified.length === 1 ? '' : 's'} (nothing was run) for ${goal}`;
  const parts = [
    `${c.samples} sample${c.samples === 1 ? '' : 's'} in ${c.rounds} round${c.rounds === 1 ? '' : 's'}`,
    `${c.hits} predicted hit${c.hits === 1 ? '' : 's'}`,
    ...(result.verifiedRuns ? [`${c.verifications} real run${c.verifications === 1 ? '' : 's'}`, `${c.refuted} refuted`] : []),
    `${c.duplicates} duplicate${c.duplicates === 1 ? '' : 's'} merged`,
    `${c.malformed} malformed`,
  ];
  const stop = result.stoppedBy === 'time' ? '; stopped at the time budget' : result.stoppedBy === 'tokens' ? '; stopped at the token budget'
    : result.stoppedBy === 'cancelled' ? '; cancelled' : '';
  return `${found}: ${parts.join(', ')}${stop}.`;
}
