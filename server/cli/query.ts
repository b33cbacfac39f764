// `cwm-debug query`: asks a recording directly (server/trace/queries.ts) where a value was set, what a variable held,
// when a line ran and who called whom; over a fresh real run of FILE.py or a saved trace (.json / .cwmtrace).

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { loadSavedTrace, SavedTraceError } from '../adapter/saved-trace';
import { localsToObject, type Trace } from '../trace/model';
import { TraceIndex } from '../trace/queries';
import { recordTrace, TracerError } from '../tracer/runner';
import { CannotRunError, TRACER_OPTION_SPECS, UsageError, checkEntryOptions, checkFormat, checkProgramFile, checkPython, limitsFrom } from './common';
import { tracerProblem } from './messages';
import { parseCommandLine } from './options';
import { visible } from './terminal';
import { terminalSafeJson } from './trace-output';

export const QUERY_HELP = `Usage: cwm-debug query FILE.py|SAVED [question...] [options] [-- ARG...]

Asks a recording what a debugger would have to step to find out. FILE.py is
run under the tracer first (entry and tracer options as for trace); SAVED
is a trace saved from the debugger or by trace --format json|cwm.

Questions (one or more; each prints its answer):
  --last NAME@STEP     where the value NAME holds at STEP was set (STEP: a
                       step number, or "end" for the last step)
  --history NAME@STEP  every value NAME held in the call of STEP
  --runs LINE          every time LINE ran, with the locals it changed
  --calls FUNC         every call of FUNC ("*" for all): arguments, outcome

Options:
  --format FORMAT      text (default) or json
  --limit N            at most N entries per answer (default 100)
  --program FILE.py    for a saved trace that holds no program text (trace
                       --format json): the file it was recorded from
  entry and tracer options of \`cwm-debug trace --help\`, for FILE.py
`;

const QUERY_OPTIONS = {
  ...TRACER_OPTION_SPECS,
  last: { type: 'string', multiple: true },
  history: { type: 'string', multiple: true },
  runs: { type: 'string', multiple: true },
  calls: { type: 'string', multiple: true },
  format: { type: 'string' },
  limit: { type: 'string' },
  program: { type: 'string' },
} as const;

/** NAME@STEP, with STEP a number or `end`. */
function nameAtStep(text: string, flag: string, trace: Trace): { name: string; step: number } {
  const at = text.lastIndexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  const stepText = at < 0 ? 'end' : text.slice(at + 1);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UsageError(`${flag} takes NAME@STEP, e.g. ${flag} total@40; "${text}" has no variable name.`);
  const last = trace.frames.length - 1;
  const step = stepText === 'end' ? last : /^\d+$/.test(stepText) ? Number(stepText) : NaN;
  if (!Number.isInteger(step) || step < 0 || step > last) {
    throw new UsageError(`${flag} ${text}: the step must be a number from 0 to ${last} (the trace has ${last + 1} steps), or "end".`);
  }
  return { name, step };
}

async function loadTrace(path: string, values: Record<string, unknown>, programArgs: string[]): Promise<Trace> {
  const extension = extname(path).toLowerCase();
  if (extension === '.json' || extension === '.cwmtrace' || extension === '.cwm') {
    try {
      // `trace --format json` stores no program text: --program names the file it was recorded from.
      const programPath = values.program as string | undefined;
      const program = programPath !== undefined ? { path: checkProgramFile(programPath), source: readFileSync(checkProgramFile(programPath), 'utf8') } : undefined;
      return (await loadSavedTrace(path, program)).trace;
    } catch (error) {
      if (error instanceof SavedTraceError) {
        throw new CannotRunError(error.message.replace('give "program", the Python file it was recorded from', 'pass --program FILE.py, the file it was recorded from'));
      }
      throw error;
    }
  }
  checkEntryOptions(values as { entry?: string; args?: string; script?: boolean });
  const file = checkProgramFile(path);
  const python = (values.python as string | undefined) ?? process.env.CWM_DEBUG_PYTHON;
  checkPython(values.python as string | undefined);
  const source = readFileSync(file, 'utf8');
  try {
    return await recordTrace({
      file, python, entry: values.entry as string | undefined, args: values.args as string | undefined, script: values.script as boolean | undefined,
      includePaths: values.include as string[] | undefined, limits: limitsFrom(values), programArgs,
      ...(values.cwd !== undefined ? { cwd: values.cwd as string } : {}),
    });
  } catch (error) {
    if (error instanceof TracerError) throw tracerProblem(error, { source, file, python });
    throw error;
  }
}

export async function queryCommand(argv: string[]): Promise<number> {
  const { values, positionals, programArgs } = parseCommandLine(argv, QUERY_OPTIONS, 'query');
  if (values.help) {
    process.stdout.write(QUERY_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'query needs a Python file or a saved trace, e.g. `cwm-debug query prog.py --runs 12`.' : `query takes one file, got ${positionals.length}.`);
  }
  const questions = (values.last?.length ?? 0) + (values.history?.length ?? 0) + (values.runs?.length ?? 0) + (values.calls?.length ?? 0);
  if (questions === 0) throw new UsageError('query needs a question: --last NAME@STEP, --history NAME@STEP, --runs LINE or --calls FUNC.');
  const format = checkFormat(values.format ?? 'text', ['text', 'json'], 'query');
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit takes a whole number of 1 or more, got "${values.limit}".`);
  for (const line of values.runs ?? []) {
    if (!/^\d+$/.test(line) || Number(line) < 1) throw new UsageError(`--runs takes a line number, got "${line}".`);
  }

  const trace = await loadTrace(positionals[0]!, values, programArgs);
  const index = new TraceIndex(trace.frames);
  const answers: Record<string, unknown>[] = [];
  const text: string[] = [];
  const say = (line: string): void => void text.push(visible(line));

  for (const question of values.last ?? []) {
    const { name, step } = nameAtStep(question, '--last', trace);
    const frame = trace.frames[step]!;
    const change = index.lastChange(step, name);
    answers.push({ question: `--last ${question}`, ...(change ? { change: { ...change, line: trace.frames[change.setBy]!.line } } : { found: false }) });
    if (!change) say(`--last ${question}: ${frame.functionName} has no variable ${name} at step ${step}.`);
    else {
      const setBy = trace.frames[change.setBy]!;
      const how = change.setBy === change.shownAt ? `came with the call of ${setBy.functionName} at step ${change.setBy}` : `was set at step ${change.setBy}, line ${setBy.line}: ${setBy.sourceLine.trim()}`;
      say(`--last ${question}: ${name} = ${change.value} ${how}${change.before !== undefined ? ` (before: ${change.before})` : ''}`);
    }
  }
  for (const question of values.history ?? []) {
    const { name, step } = nameAtStep(question, '--history', trace);
    const { total, entries } = index.valueHistoryPage(step, name, false, limit);
    answers.push({ question: `--history ${question}`, total, entries: entries.map((e) => ({ ...e, line: trace.frames[e.setBy]!.line })) });
    say(`--history ${question}: ${total} value${total === 1 ? '' : 's'} in this call of ${trace.frames[step]!.functionName}`);
    for (const e of entries) say(`  step ${String(e.setBy).padStart(6)}  line ${String(trace.frames[e.setBy]!.line).padStart(4)}  ${name} = ${e.value}`);
    if (total > limit) say(`  … ${total - limit} more (--limit)`);
  }
  for (const question of values.runs ?? []) {
    const line = Number(question);
    const total = index.countRunsOfLine(line);
    const runs = index.runsOfLine(line, undefined, limit);
    answers.push({ question: `--runs ${question}`, total, runs });
    say(`--runs ${line}: line ${line} ran ${total} time${total === 1 ? '' : 's'}`);
    for (const run of runs) {
      say(`  step ${String(run.step).padStart(6)}  ${run.changed.map((c) => `${c.name} = ${c.value}`).join(', ') || '(nothing changed)'}`);
    }
    if (total > limit) say(`  … ${total - limit} more (--limit)`);
  }
  for (const question of values.calls ?? []) {
    const calls = index.callsOf(question === '*' ? undefined : question);
    answers.push({
      question: `--calls ${question}`, total: calls.length,
      calls: calls.slice(0, limit).map((c) => ({ step: c.step, function: c.functionName, depth: c.depth, args: localsToObject(c.args), outcome: c.outcome, value: c.value, end: c.end })),
    });
    const raised = calls.filter((c) => c.outcome === 'raised').length;
    say(`--calls ${question}: ${calls.length} call${calls.length === 1 ? '' : 's'}${raised ? ` · ${raised} raised` : ''}`);
    for (const c of calls.slice(0, limit)) {
      const args = [...c.args].map(([k, v]) => `${k}=${v}`).join(', ');
      const outcome = c.outcome === 'returned' ? `→ ${c.value}` : c.outcome === 'raised' ? `raised ${c.value ?? ''}` : 'still running when the trace ended';
      say(`  step ${String(c.step).padStart(6)}  ${'  '.repeat(Math.max(0, c.depth))}${c.functionName}(${args}) ${outcome}`);
    }
    if (calls.length > limit) say(`  … ${calls.length - limit} more (--limit)`);
  }
  process.stdout.write(format === 'json' ? `${terminalSafeJson({ steps: trace.frames.length, answers }, 2)}\n` : `${text.join('\n')}\n`);
  return 0;
}
