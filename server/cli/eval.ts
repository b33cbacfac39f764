// `cwm-debug eval`: scores an endpoint's model on a corpus (real vs predicted traces, teacher-forced next frames),
// resumable, with a progress bar; writes summary.md and report.html. Also `--report DIR` and `--compare-runs A B`.

import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CorpusError } from '../eval/corpus';
import { compareRuns } from '../eval/compare-runs';
import { percent } from '../eval/metrics';
import { formatProgressBar, type EvaluationProgress } from '../eval/progress';
import { headlineRows, writeReport } from '../eval/report';
import { ResultsError } from '../eval/results';
import { EvaluationSetupError, evaluationModelOf, runEvaluation } from '../eval/run';
import { TRACER_OPTION_SPECS, UsageError, limitsFrom } from './common';
import { connectModel } from '../engine/connect-model';
import { DEFAULT_SAMPLE_TEMPERATURE } from '../engine/session';
import { MODEL_OPTIONS } from './help';
import { MODEL_OPTION_SPECS, modelSettingsFrom } from './model-options';
import { parseCommandLine } from './options';
import { visible } from './terminal';
import { EVAL_INVERSE_USAGE, inverseEvalCommand } from './eval-inverse';

export const EVAL_USAGE = `Usage: cwm-debug eval CORPUS [options]
       cwm-debug eval --report DIR
       cwm-debug eval --compare-runs A B [--out DIR]

Scores a CWM endpoint's model on a corpus: real and predicted traces,
teacher-forced next frames; writes results.jsonl, summary.md, report.html.

  CORPUS               a .jsonl file in CRUXEval's format (code, input,
                       output, id; entry f), or a folder of .py files whose
                       entry def carries "# << START_OF_TRACE"
  --samples N          rollouts per program (default 1); scores pool over
                       them, rollout k uses seed + k
  --concurrency C      programs evaluated at once, spread over the
                       endpoints (default 1)
  --out DIR            results folder (default cwm-eval/CORPUS-MODEL);
                       rerunning with the same DIR skips finished programs
  --limit N            only N programs, spread evenly over the corpus
  --no-teacher-forcing skip next-frame accuracy (one request per real frame)
  --seed S             default 0 for eval, so sampled runs are reproducible
  --python PATH, --max-events N, --timeout SECONDS, --max-repr N,
  --max-output BYTES, --max-memory MB
                       as for trace
  --report DIR         rewrite DIR/summary.md and DIR/report.html from
                       DIR/results.jsonl
  --compare-runs A B   two runs side by side (Markdown on stdout; with --out
                       also comparison.md and comparison.html)
${EVAL_INVERSE_USAGE}Ctrl-C stops cleanly (exit code 130): finished programs are kept, and the
same command continues the run.

${MODEL_OPTIONS}`;

const OPTIONS = {
  ...MODEL_OPTION_SPECS,
  python: TRACER_OPTION_SPECS.python,
  'max-events': TRACER_OPTION_SPECS['max-events'],
  timeout: TRACER_OPTION_SPECS.timeout,
  'max-repr': TRACER_OPTION_SPECS['max-repr'],
  'max-output': TRACER_OPTION_SPECS['max-output'],
  'max-memory': TRACER_OPTION_SPECS['max-memory'],
  'no-color': TRACER_OPTION_SPECS['no-color'],
  help: TRACER_OPTION_SPECS.help,
  concurrency: { type: 'string' },
  out: { type: 'string' },
  limit: { type: 'string' },
  'no-teacher-forcing': { type: 'boolean' },
  report: { type: 'string' },
  'compare-runs': { type: 'boolean' },
  inverse: { type: 'boolean' },
  rounds: { type: 'string' },
  steering: { type: 'string' },
} as const;

function wholeNumber(value: string | undefined, flag: string, minimum: number): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum) throw new UsageError(`${flag} needs a whole number of at least ${minimum}, got "${value}".`);
  return number;
}

/** Errors of the evaluation a user can act on: one sentence, exit code 1. */
function isEvalUserError(error: unknown): error is Error {
  return error instanceof CorpusError || error instanceof EvaluationSetupError || error instanceof ResultsError;
}

export async function evalCommand(argv: string[], usage: string): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, 'eval');
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  try {
    if (values['compare-runs']) return compareCommand(positionals, values.out);
    if (values.report !== undefined) {
      if (positionals.length > 0) throw new UsageError('--report DIR rewrites the report of a finished run; give no corpus with it.');
      const written = writeReport(resolve(values.report));
      process.stdout.write(`Report written: ${written.summaryPath} and ${written.htmlPath}\n`);
      return 0;
    }
    if (values.inverse) return await inverseEvalCommand(positionals, values);
    if (values.rounds !== undefined || values.steering !== undefined) throw new UsageError('--rounds and --steering belong to eval --inverse; add --inverse or leave them out.');
    if (positionals.length !== 1) {
      throw new UsageError('eval needs exactly one corpus, e.g. `cwm-debug eval test/fixtures/corpus/cruxeval.jsonl --endpoint URL`.');
    }
    return await runCommand(positionals[0]!, values);
  } catch (error) {
    if (isEvalUserError(error)) {
      process.stderr.write(`cwm-debug: ${visible(error.message)}\n`);
      return 1;
    }
    throw error;
  }
}

function compareCommand(positionals: string[], out: string | undefined): number {
  if (positionals.length !== 2) throw new UsageError('--compare-runs needs two run folders (or results.jsonl files): --compare-runs A B.');
  const comparison = compareRuns(positionals[0]!, positionals[1]!);
  process.stdout.write(comparison.markdown + '\n');
  if (out !== undefined) {
    const dir = resolve(out);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'comparison.md'), comparison.markdown + '\n');
    writeFileSync(join(dir, 'comparison.html'), comparison.html);
    process.stderr.write(`Comparison written: ${join(dir, 'comparison.md')} and ${join(dir, 'comparison.html')}\n`);
  }
  return 0;
}

function defaultOutDir(corpus: string, model: string | null): string {
  const name = basename(resolve(corpus)).replace(/\.jsonl$/, '');
  const modelPart = (model ?? 'model').replace(/[^A-Za-z0-9_.-]+/g, '_');
  return join('cwm-eval', `${name}-${modelPart}`);
}

/** Redraws one progress line on a terminal; elsewhere prints a line at every tenth of the way. */
function progressPrinter(): { update(progress: EvaluationProgress): void; clear(): void } {
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  let drawn = false;
  return {
    update(progress) {
      if (tty) {
        process.stderr.write(`\r\x1b[K${formatProgressBar(progress, process.stderr.columns || 100)}`);
        drawn = true;
        return;
      }
      const tenth = progress.total === 0 ? 10 : Math.floor((progress.done / progress.total) * 10);
      if (tenth !== lastTenth) {
        lastTenth = tenth;
        process.stderr.write(formatProgressBar(progress, 100) + '\n');
      }
    },
    clear() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
}

async function runCommand(corpus: string, values: Record<string, unknown>): Promise<number> {
  const settings = modelSettingsFrom(values);
  const concurrency = wholeNumber(values.concurrency as string | undefined, '--concurrency', 1) ?? 1;
  const limit = wholeNumber(values.limit as string | undefined, '--limit', 1);
  const tracerLimits = limitsFrom(values);
  const model = await connectModel(settings);
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('\nStopping: finished programs are kept; rerun the same command to continue. (Ctrl-C again to quit now.)\n');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = progressPrinter();
  try {
    for (const client of model.clients) for (const warning of client.warnings) process.stderr.write(`warning: ${visible(warning)}\n`);
    const evaluationModel = evaluationModelOf(model);
    const outDir = (values.out as string | undefined) ?? defaultOutDir(corpus, evaluationModel.name);
    const outcome = await runEvaluation({
      corpus,
      outDir,
      model: evaluationModel,
      // Several samples of a program must differ: they are drawn at the sample temperature unless --temperature is given.
      temperature: settings.samples > 1 && values.temperature === undefined ? (settings.sampleTemperature ?? DEFAULT_SAMPLE_TEMPERATURE) : settings.temperature,
      seed: settings.seed,
      samples: settings.samples,
      concurrency,
      limit,
      teacherForcing: values['no-teacher-forcing'] !== true,
      python: (values.python as string | undefined) ?? process.env.CWM_DEBUG_PYTHON,
      tracerLimits,
      contextTokens: settings.contextTokens,
      signal: abort.signal,
      onProgress: (p) => progress.update(p),
      onNotice: (message) => {
        progress.clear();
        process.stderr.write(`note: ${visible(message)}\n`);
      },
    });
    progress.clear();
    const t = outcome.totals;
    process.stdout.write(`${t.programs.done} programs evaluated (${outcome.finished} in this run, ${outcome.skipped} earlier)` +
      (t.programs.failed ? `, ${t.programs.failed} could not be evaluated` : '') + (outcome.remaining ? `, ${outcome.remaining} left to do` : '') + '.\n');
    for (const [label, score] of headlineRows(t)) process.stdout.write(`  ${label.padEnd(24)} ${percent(score).padStart(7)}  (${score.matched}/${score.total})\n`);
    process.stdout.write(`Summary: ${outcome.summaryPath}\nReport:  ${outcome.htmlPath}\nResults: ${outcome.resultsPath}\n`);
    if (outcome.failed > 0) {
      process.stderr.write(`${outcome.failed} programs failed at the endpoint or the interpreter and were not recorded; rerun the same command to retry them.\n`);
    }
    if (outcome.stopped) {
      process.stderr.write(`Stopped: rerun the same command to do the ${outcome.remaining} programs left.\n`);
      return 130;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await model.close();
  }
}
