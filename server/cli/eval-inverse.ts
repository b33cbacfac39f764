// `cwm-debug eval --inverse`: scores inverse execution (inputs that reach a target) on a reachability set and/or a
// CRUXEval-I slice of a corpus, with each steering strategy; writes inverse-summary.md and inverse-results.json.

import { basename, join, resolve } from 'node:path';
import { connectModel } from '../engine/connect-model';
import type { SteeringStrategy } from '../engine/inverse';
import { evaluationModelOf } from '../eval/run';
import { isReachabilitySet, runInverseEvaluation } from '../eval/inverse';
import { UsageError, limitsFrom } from './common';
import { modelSettingsFrom } from './model-options';
import { visible } from './terminal';

export const EVAL_INVERSE_USAGE = `  --inverse            score inverse execution instead: each CORPUS is a
                       reachability set (a folder with cases.json, e.g.
                       test/fixtures/reachability) or a CRUXEval .jsonl
                       (CRUXEval-I: find an input giving the expected
                       output; --limit items, default 20); --samples per
                       round (default 8), --rounds R (default 3),
                       --steering edit|none|both (default both)
`;

export async function inverseEvalCommand(positionals: readonly string[], values: Record<string, unknown>): Promise<number> {
  if (positionals.length === 0 || positionals.length > 2) {
    throw new UsageError('eval --inverse needs a reachability set and/or a CRUXEval corpus, e.g. `cwm-debug eval --inverse test/fixtures/reachability test/fixtures/corpus/cruxeval.jsonl --endpoint URL`.');
  }
  const sets = positionals.filter(isReachabilitySet);
  const corpora = positionals.filter((p) => !isReachabilitySet(p));
  if (sets.length > 1 || corpora.length > 1) throw new UsageError('eval --inverse takes at most one reachability set (a folder with cases.json) and one CRUXEval .jsonl.');
  const whole = (flag: string, min: number, max: number): number | undefined => {
    const value = values[flag] as string | undefined;
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} needs a whole number from ${min} to ${max}, got "${value}".`);
    return n;
  };
  const rounds = whole('rounds', 1, 20) ?? 3;
  const limit = whole('limit', 1, 1_000_000);
  const concurrency = whole('concurrency', 1, 64) ?? 4;
  const steering = (values.steering as string | undefined) ?? 'both';
  if (!['edit', 'none', 'both'].includes(steering)) throw new UsageError(`--steering is edit, none or both, not "${steering}".`);
  const strategies: SteeringStrategy[] = steering === 'both' ? ['none', 'edit'] : [steering as SteeringStrategy];
  const samples = values.samples === undefined ? 8 : modelSettingsFrom(values).samples;
  const settings = modelSettingsFrom({ ...values, samples: undefined });
  const tracerLimits = limitsFrom(values);
  const model = await connectModel(settings);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on('SIGINT', onSignal);
  try {
    const name = evaluationModelOf(model).name ?? 'model';
    const outDir = (values.out as string | undefined) ?? join('cwm-eval', `inverse-${basename(resolve(positionals[0]!)).replace(/\.jsonl$/, '')}-${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}`);
    const outcome = await runInverseEvaluation({
      ...(sets[0] !== undefined ? { reachability: sets[0] } : {}), ...(corpora[0] !== undefined ? { cruxeval: corpora[0] } : {}),
      ...(limit !== undefined ? { cruxevalLimit: limit } : {}),
      backend: model.pool, codec: model.codec, modelName: name, samples, rounds, strategies, concurrency,
      temperature: settings.sampleTemperature ?? (settings.temperature > 0 ? settings.temperature : 0.8),
      ...(settings.seed !== undefined ? { seed: settings.seed } : { seed: 0 }), ...(settings.contextTokens !== undefined ? { contextTokens: settings.contextTokens } : {}),
      python: (values.python as string | undefined) ?? process.env.CWM_DEBUG_PYTHON, tracerLimits, outDir, signal: abort.signal,
      onProgress: (done, total, label) => process.stderr.write(`[${done}/${total}] ${visible(label)}\n`),
    });
    for (const strategy of strategies) {
      for (const set of ['reachability', 'cruxeval-i'] as const) {
        const group = outcome.rows.filter((r) => r.set === set && r.strategy === strategy);
        if (group.length === 0) continue;
        process.stdout.write(`  ${(set === 'reachability' ? 'reachability' : 'CRUXEval-I').padEnd(13)} ${(strategy === 'edit' ? 'sampling + edit' : 'sampling only').padEnd(16)} ` +
          `${group.filter((r) => r.reached).length}/${group.length} reached with verified inputs\n`);
      }
    }
    process.stdout.write(`Summary: ${outcome.summaryPath}\nResults: ${outcome.resultsPath}\n`);
    return outcome.stopped ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    await model.close();
  }
}
