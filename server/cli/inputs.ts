// `cwm-debug inputs`: inverse execution from the command line. The model proposes the entry's arguments that reach a
// line (optionally where a condition holds), a return value or an exception; each proposal is checked by a real run.

import { appendAll } from '../trace/arrays';
import { readFileSync } from 'node:fs';
import { splitSourceLines } from '../cwm/lines';
import { searchInputs, summarizeSearch, type InverseProposal, type InverseResult, type InverseTarget } from '../engine/inverse';
import { connectModel } from '../engine/connect-model';
import { importedProjectFiles } from '../trace/project-files';
import { CannotRunError, TRACER_OPTION_SPECS, UsageError, checkFormat, checkProgramFile, checkPython, limitsFrom, terminalStyle } from './common';
import { INPUTS_HELP } from './help';
import { inCliTerms } from './messages';
import { MODEL_OPTION_SPECS, modelSettingsFrom } from './model-options';
import { parseCommandLine } from './options';
import { painter, wrap } from './table';
import { fitWidth, visible } from './terminal';
import { terminalSafeJson } from './trace-output';
import { findEntry, refuseTwoMarkedFunctions } from './predict';
import { parseExpression, PySyntaxError } from '../values/py-parse';

export const INPUTS_OPTIONS = {
  entry: TRACER_OPTION_SPECS.entry, python: TRACER_OPTION_SPECS.python, include: TRACER_OPTION_SPECS.include,
  'max-events': TRACER_OPTION_SPECS['max-events'], timeout: TRACER_OPTION_SPECS.timeout, 'max-repr': TRACER_OPTION_SPECS['max-repr'],
  'max-output': TRACER_OPTION_SPECS['max-output'], 'max-memory': TRACER_OPTION_SPECS['max-memory'], cwd: TRACER_OPTION_SPECS.cwd,
  'no-color': TRACER_OPTION_SPECS['no-color'], help: TRACER_OPTION_SPECS.help,
  ...MODEL_OPTION_SPECS,
  reach: { type: 'string' }, where: { type: 'string' }, returns: { type: 'string' }, raises: { type: 'string' },
  rounds: { type: 'string' }, concurrency: { type: 'string' }, 'time-budget': { type: 'string' }, 'max-tokens': { type: 'string' },
  'no-verify': { type: 'boolean' }, steering: { type: 'string' }, format: { type: 'string' },
} as const;

/** No verified input was found (or, with --no-verify, no proposal): a search that ran but came back empty. */
export const EXIT_NOT_FOUND = 5;

function wholeNumber(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} needs a whole number from ${min} to ${max}, got "${value}".`);
  return n;
}

function targetFrom(values: { reach?: string; where?: string; returns?: string; raises?: string }, source: string, file: string): InverseTarget {
  const given = [values.reach !== undefined, values.returns !== undefined, values.raises !== undefined].filter(Boolean).length;
  if (given === 0) throw new UsageError('inputs needs a target: --reach LINE (optionally with --where EXPR), --returns VALUE or --raises EXCEPTION.');
  if (given > 1) throw new UsageError('Give one target: --reach LINE, --returns VALUE or --raises EXCEPTION, not several.');
  if (values.where !== undefined && values.reach === undefined) throw new UsageError('--where is a condition at the --reach line; give --reach LINE too.');
  if (values.reach !== undefined) {
    const lines = splitSourceLines(source);
    const line = wholeNumber(values.reach, '--reach', 1, Math.max(1, lines.length));
    const text = lines[line! - 1]!.trim();
    if (text === '' || text.startsWith('#')) throw new UsageError(`--reach ${line}: line ${line} of ${file} is ${text === '' ? 'blank' : 'a comment'}; give a line with code.`);
    if (values.where !== undefined && values.where.trim() === '') throw new UsageError('--where needs a Python expression, e.g. --where "total > 100".');
    if (values.where !== undefined) checkExpression(values.where, '--where');
    return { kind: 'line', line: line!, ...(values.where !== undefined ? { where: values.where } : {}) };
  }
  if (values.returns !== undefined) {
    if (values.returns.trim() === '') throw new UsageError('--returns needs a Python value, e.g. --returns "\'abc\'".');
    checkExpression(values.returns, '--returns');
    return { kind: 'returns', value: values.returns.trim() };
  }
  if (!/^[A-Za-z_][\w.]*$/.test(values.raises!.trim())) throw new UsageError(`--raises needs an exception class name, e.g. --raises ValueError, got "${values.raises}".`);
  return { kind: 'raises', exception: values.raises!.trim() };
}

function checkExpression(text: string, flag: string): void {
  try {
    parseExpression(text.trim());
  } catch (error) {
    if (!(error instanceof PySyntaxError)) throw error;
    throw new UsageError(`${flag} is not a Python expression (${error.message}): ${text}`);
  }
}

export async function inputsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, INPUTS_OPTIONS, 'inputs');
  if (values.help) {
    process.stdout.write(INPUTS_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0
      ? 'inputs needs a Python file, e.g. `cwm-debug inputs examples/inventory.py --reach 12`.'
      : `inputs takes one Python file, got ${positionals.length} (${positionals.join(', ')}).`);
  }
  const format = checkFormat(values.format, ['table', 'json'], 'inputs');
  const samples = wholeNumber(values.samples, '--samples', 1, 1000) ?? 16;
  const rounds = wholeNumber(values.rounds, '--rounds', 1, 20) ?? 3;
  const concurrency = wholeNumber(values.concurrency, '--concurrency', 1, 64);
  const maxTokens = wholeNumber(values['max-tokens'], '--max-tokens', 1, Number.MAX_SAFE_INTEGER);
  const timeBudget = values['time-budget'] === undefined ? undefined : Number(values['time-budget']);
  if (timeBudget !== undefined && !(timeBudget > 0 && Number.isFinite(timeBudget))) {
    throw new UsageError(`--time-budget needs a positive number of seconds, got "${values['time-budget']}".`);
  }
  const steering = values.steering ?? 'edit';
  if (steering !== 'edit' && steering !== 'none') throw new UsageError(`--steering is edit or none, not "${steering}".`);
  const limits = limitsFrom(values);
  // The search's own sample count: modelSettingsFrom checks predict's --samples (at most 64).
  const settings = modelSettingsFrom({ ...values, samples: undefined });
  const given = positionals[0]!;
  const file = checkProgramFile(given);
  checkPython(values.python);
  const source = readFileSync(file, 'utf8');
  const target = targetFrom(values, source, given);
  refuseTwoMarkedFunctions(source, given);
  const entry = findEntry(source, given, { entry: values.entry });
  if (entry.kind !== 'function') {
    throw new UsageError(`inputs looks for a function's arguments, and ${given} marks none: put "# << START_OF_TRACE" on its def line or pass --entry NAME.`);
  }
  if (entry.name.includes('.')) throw new CannotRunError(`inputs needs a module-level function; ${entry.name} is a method. Call it from a function and pass --entry with that function.`);
  const style = terminalStyle(values, format === 'table');
  const paint = painter(style.color);
  const model = await connectModel(settings);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  let result: InverseResult;
  try {
    for (const client of model.clients) for (const warning of client.warnings) process.stderr.write(paint('yellow', `warning: ${inCliTerms(warning)}`) + '\n');
    const tty = process.stderr.isTTY === true;
    result = await searchInputs({
      source, path: file, files: importedProjectFiles(file, source), entry, backend: model.pool, codec: model.codec, target,
      samples, rounds, steering, concurrency: concurrency ?? Math.max(4, 2 * model.clients.length),
      temperature: settings.sampleTemperature ?? (settings.temperature > 0 ? settings.temperature : 0.8), seed: settings.seed, contextTokens: settings.contextTokens,
      ...(maxTokens !== undefined ? { maxTokens } : {}), ...(timeBudget !== undefined ? { timeMs: timeBudget * 1000 } : {}),
      verify: values['no-verify'] ? false : {
        python: values.python ?? process.env.CWM_DEBUG_PYTHON, limits, ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
        ...(values.include !== undefined ? { includePaths: values.include } : {}),
      },
      signal: abort.signal,
      onProgress: tty ? (p) => process.stderr.write(`\rround ${p.round}: ${p.samples} samples, ${p.hits} predicted hits, ${p.verified} verified, ${p.refuted} refuted`) : undefined,
    });
    if (tty) process.stderr.write('\n');
  } finally {
    process.removeListener('SIGINT', onSigint);
    await model.close();
  }
  if (format === 'json') process.stdout.write(terminalSafeJson(resultToJson(result), 2) + '\n');
  else printTable(result, style.width, paint);
  if (result.stoppedBy === 'cancelled') return 130;
  const found = result.verifiedRuns ? result.verified.length : result.unverified.length;
  return found > 0 ? 0 : EXIT_NOT_FOUND;
}

function printTable(result: InverseResult, width: number, paint: ReturnType<typeof painter>): void {
  const out: string[] = [];
  const argsWidth = Math.max(20, Math.min(60, width - 40));
  const row = (args: string, rest: string) => `  ${fitWidth(visible(args), argsWidth).padEnd(argsWidth)}  ${visible(rest)}`;
  if (!result.verifiedRuns) {
    out.push(paint('yellow', 'Unverified: nothing was run (--no-verify); these are the model\'s claims only.'));
    if (result.unverified.length > 0) out.push(row('arguments', 'predicted'));
    for (const p of result.unverified) out.push(row(p.args, `reaches it at predicted step ${p.predictedStep}${times(p)}`));
  } else {
    if (result.verified.length > 0) {
      out.push(paint('green', 'Verified inputs (a real run reached the target):'));
      out.push(row('arguments', 'real run'));
      for (const p of result.verified) {
        out.push(row(p.args, `reached at step ${p.realStep}${p.predictedStep === undefined ? ' (the model did not predict it)' : ''}${times(p)}`));
      }
    }
    if (result.refuted.length > 0) {
      out.push(paint('yellow', 'Refuted (the model claimed it, the real run did not):'));
      for (const p of result.refuted) out.push(row(p.args, `${p.realOutcome ?? ''}${times(p)}`));
    }
  }
  for (const reason of result.malformedReasons) out.push(paint('yellow', `  malformed proposal: ${visible(reason)}`));
  for (const note of result.notes) appendAll(out, wrap(`note: ${visible(note)}`, width, '  '));
  out.push(summarizeSearch(result));
  process.stdout.write(out.join('\n') + '\n');
}

function times(proposal: InverseProposal): string {
  return proposal.count > 1 ? ` (proposed ${proposal.count} times)` : '';
}

function proposalToJson(p: InverseProposal): Record<string, unknown> {
  return {
    args: p.args, locals: Object.fromEntries(p.locals), count: p.count, round: p.round, strategy: p.strategy, status: p.status,
    predictedStep: p.predictedStep ?? null, realStep: p.realStep ?? null, realOutcome: p.realOutcome ?? null,
  };
}

export function resultToJson(result: InverseResult): Record<string, unknown> {
  return {
    target: result.target,
    verified: result.verified.map(proposalToJson),
    refuted: result.refuted.map(proposalToJson),
    unverified: result.unverified.map(proposalToJson),
    counts: result.counts,
    stoppedBy: result.stoppedBy,
    malformed: result.malformedReasons,
    notes: result.notes,
    verifiedRuns: result.verifiedRuns,
    summary: summarizeSearch(result),
  };
}
