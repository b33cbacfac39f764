// `cwm-debug inputs` (inverse execution) against a loopback endpoint whose model proposes call frames from a scripted
// mix: only truly reaching inputs come out verified, false claims refuted with where the real run went, duplicates
// merged, malformed ones counted; a proposal that loops forever costs its time limit and leaves no process; with
// verification off nothing runs at all.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { loadCorpus, selectItems } from '../../server/eval/corpus';
import { connectEndpoint } from '../../server/endpoint/connect';
import { argumentsOf, searchInputs, summarizeSearch } from '../../server/engine/inverse';
import { entryParameters } from '../../server/tracer/entry-frame';
import { runCli } from '../helpers/cli-run';
import { fixturesDir } from '../helpers/paths';
import { pidsIn, running } from '../helpers/processes';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { createInverseModel, type InverseModel, type ScriptedProposal } from '../servers/inverse-model';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';

const GATE = join(fixturesDir, 'inverse', 'gate.py');
const TARGET = readFileSync(GATE, 'utf8').split('\n').findIndex((line) => line.includes('return total')) + 1;

/** The scripted mix, answered in this order: two truly reaching (one twice), two near misses, two false claims (one
 * loops forever for real), two malformed call frames. */
const SCRIPT: ScriptedProposal[] = [
  { kind: 'real', args: "12, 'abc'" },
  { kind: 'claim', args: "5, 'abc'", line: TARGET },
  { kind: 'real', args: "3, 'ab'" },
  { kind: 'malformed' },
  { kind: 'real', args: "12, 'abc'" },
  { kind: 'claim', args: "13, 'zz'", line: TARGET },
  { kind: 'real', args: "20, 'abz'" },
  { kind: 'real', args: "12, 'xy'" },
  { kind: 'missing-parameter', args: "12, 'abc'", drop: 'word' },
];

interface JsonProposal { args: string; count: number; status: string; predictedStep: number | null; realStep: number | null; realOutcome: string | null }
interface JsonResult {
  verified: JsonProposal[]; refuted: JsonProposal[]; unverified: JsonProposal[]; verifiedRuns: boolean; summary: string;
  counts: { samples: number; hits: number; proposals: number; duplicates: number; malformed: number; verifications: number; verified: number; refuted: number };
}

describe('cwm-debug inputs against the scripted inverse endpoint', { timeout: 300_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let inverse: InverseModel;
  let server: ProtocolServer;
  let work: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cwm-inverse-test-'));
    tokenizerPath = await writeTestTokenizer(work);
    codec = await loadTokenizer(tokenizerPath);
    inverse = createInverseModel(codec);
    await inverse.prepare({ file: GATE, script: SCRIPT });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: inverse.model });
  });
  after(async () => {
    await server?.close();
    codec?.dispose();
  });

  const inputs = (extra: string[], env: NodeJS.ProcessEnv = {}, target = ['--reach', String(TARGET)]) =>
    runCli(['inputs', GATE, ...target, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--samples', String(SCRIPT.length),
      '--rounds', '1', '--concurrency', '1', '--timeout', '2', '--max-events', '100000000', ...extra], env);

  test('only the truly reaching inputs are verified; false claims are refuted with where the real run went; the loop costs its time limit and leaves no process', async () => {
    const pidLog = join(work, 'pids-verify');
    const result = await inputs(['--format', 'json'], { GATE_MARK: pidLog });
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as JsonResult;
    assert.deepEqual(json.verified.map((p) => p.args).sort(), ["12, 'abc'", "20, 'abz'"]);
    const twice = json.verified.find((p) => p.args === "12, 'abc'")!;
    assert.equal(twice.count, 2, 'the duplicate proposal is merged into one');
    for (const p of json.verified) assert.ok(p.realStep !== null && p.realStep > 0);
    assert.deepEqual(json.refuted.map((p) => p.args).sort(), ["13, 'zz'", "5, 'abc'"]);
    const small = json.refuted.find((p) => p.args === "5, 'abc'")!;
    assert.match(small.realOutcome!, new RegExp(`^returned 0 at step \\d+ without reaching line ${TARGET}$`));
    const loop = json.refuted.find((p) => p.args === "13, 'zz'")!;
    assert.match(loop.realOutcome!, new RegExp(`^stopped by the time limit at step \\d+ \\(line \\d+\\) without reaching line ${TARGET}$`));
    assert.deepEqual(json.counts, {
      ...json.counts, samples: 9, hits: 5, proposals: 6, duplicates: 1, malformed: 2, verifications: 6, verified: 2, refuted: 2,
    });
    const pids = pidsIn(pidLog);
    assert.equal(pids.length, 6, 'each distinct well-formed proposal ran once');
    assert.deepEqual(pids.filter(running), [], 'no program is left running, the endless loop included');
  });

  test('the table lists verified inputs first, then the refuted claims, then a one-line summary', async () => {
    const result = await inputs([]);
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    const verified = out.indexOf('Verified inputs');
    const refuted = out.indexOf('Refuted');
    assert.ok(verified >= 0 && refuted > verified, out);
    assert.ok(out.indexOf("12, 'abc'") > verified && out.indexOf("12, 'abc'") < refuted, out);
    assert.match(out, /\(proposed 2 times\)/);
    assert.match(out, /malformed proposal: .*no value for the parameter word/);
    assert.match(out.trimEnd().split('\n').at(-1)!, /^2 verified inputs reach line \d+: 9 samples in 1 round, 5 predicted hits, 6 real runs, 2 refuted, 1 duplicate merged, 2 malformed\.$/);
  });

  test('--no-verify runs nothing: the proposals are shown as unverified and the program never starts', async () => {
    const marks = join(work, 'marks-untrusted');
    const result = await inputs(['--no-verify', '--format', 'json'], { GATE_MARK: marks });
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as JsonResult;
    assert.equal(json.verifiedRuns, false);
    assert.deepEqual(json.verified, []);
    assert.deepEqual(json.unverified.map((p) => p.args).sort(), ["12, 'abc'", "13, 'zz'", "20, 'abz'", "5, 'abc'"]);
    assert.ok(json.unverified.every((p) => p.status === 'unverified'));
    assert.equal(json.counts.verifications, 0);
    assert.equal(existsSync(marks), false, 'the program never ran');
    assert.match(json.summary, /unverified proposals \(nothing was run\)/);
  });

  test('a target no proposal reaches is an honest "not found" (exit 5); flags are checked in their own terms', async () => {
    const unreachable = await inputs(['--where', 'total > 1000']);
    assert.equal(unreachable.code, 5, unreachable.stderr);
    assert.match(unreachable.stdout, /^0 verified inputs reach line \d+ where total > 1000:/m);
    const noTarget = await runCli(['inputs', GATE]);
    assert.equal(noTarget.code, 2);
    assert.match(noTarget.stderr, /inputs needs a target: --reach LINE/);
    const blank = await runCli(['inputs', GATE, '--reach', '4']);
    assert.equal(blank.code, 2);
    assert.match(blank.stderr, /--reach 4: line 4 of .* is blank/);
    const both = await runCli(['inputs', GATE, '--reach', String(TARGET), '--returns', '3']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /Give one target/);
    const badCondition = await runCli(['inputs', GATE, '--reach', String(TARGET), '--where', 'total >']);
    assert.equal(badCondition.code, 2);
    assert.match(badCondition.stderr, /--where is not a Python expression/);
  });

  test('budgets: the token budget and a cancel stop the search and say so; progress reports the hits so far', async () => {
    const client = await connectEndpoint({ url: server.url, timeouts: { totalMs: 60_000 } }, codec);
    try {
      const source = readFileSync(GATE, 'utf8');
      const entry = { kind: 'function' as const, name: 'gate', line: source.split('\n').findIndex((l) => l.startsWith('def gate(')) + 1 };
      const base = { source, path: GATE, entry, backend: client, codec, target: { kind: 'line' as const, line: TARGET }, verify: false as const, concurrency: 1 };
      const tokens = await searchInputs({ ...base, samples: SCRIPT.length, rounds: 3, maxTokens: 1 });
      assert.equal(tokens.stoppedBy, 'tokens');
      assert.equal(tokens.counts.samples, 1, 'no rollout starts once the token budget is spent');
      assert.match(summarizeSearch(tokens), /stopped at the token budget\.$/);
      const abort = new AbortController();
      const seen: number[] = [];
      const cancelled = await searchInputs({
        ...base, samples: 50, rounds: 3, signal: abort.signal,
        onProgress: (p) => {
          seen.push(p.hits);
          if (p.samples === 3) abort.abort();
        },
      });
      assert.equal(cancelled.stoppedBy, 'cancelled');
      assert.ok(cancelled.counts.samples >= 3 && cancelled.counts.samples < 50, `samples ${cancelled.counts.samples}`);
      assert.ok(seen.length >= 3 && seen.at(-1)! >= 1, `progress hits ${seen.join(',')}`);
    } finally {
      await client.close();
    }
  });

  test('a call frame becomes the argument list the def takes: positional, *args, keyword-only, **kwargs', () => {
    const params = entryParameters('def f(a, /, b, *rest, key, **more):\n    pass\n', 'f');
    const locals = new Map([['a', '1'], ['b', "'x'"], ['rest', '(2, 3)'], ['key', 'None'], ['more', "{'z': 1}"]]);
    assert.equal(argumentsOf(locals, params), "1, 'x', *(2, 3), key=None, **{'z': 1}");
    assert.throws(() => argumentsOf(new Map([['a', '1']]), params), /no value for the parameter b/);
    assert.throws(() => argumentsOf(new Map([...locals, ['b', '<object at 0x1>']]), params), /not a Python literal/);
  });

  test('--returns finds the input whose real run returns the value', async () => {
    const result = await inputs(['--format', 'json'], {}, ['--returns', '40']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as JsonResult;
    assert.deepEqual(json.verified.map((p) => p.args), ["20, 'abz'"]);
  });
});

interface CaseSpec { file: string; reach: number; scripted: string[]; claims?: string[] }

describe('cwm-debug eval --inverse against the scripted inverse endpoint', { timeout: 300_000 }, () => {
  const REACHABILITY = join(fixturesDir, 'reachability');
  const CRUXEVAL = join(fixturesDir, 'corpus', 'cruxeval.jsonl');
  const SLICE = 2;
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let server: ProtocolServer;
  let work: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'cwm-inverse-eval-test-'));
    tokenizerPath = await writeTestTokenizer(work);
    codec = await loadTokenizer(tokenizerPath);
    const inverse = createInverseModel(codec);
    const cases = (JSON.parse(readFileSync(join(REACHABILITY, 'cases.json'), 'utf8')) as { cases: CaseSpec[] }).cases;
    for (const c of cases) {
      const script: ScriptedProposal[] = [
        ...c.scripted.map((args): ScriptedProposal => ({ kind: 'real', args })),
        ...(c.claims ?? []).map((args): ScriptedProposal => ({ kind: 'claim', args, line: c.reach })),
      ];
      await inverse.prepare({ file: join(REACHABILITY, c.file), script });
    }
    // CRUXEval-I: the model proposes the true input for even items, only malformed call frames for odd ones.
    const items = selectItems(loadCorpus(CRUXEVAL).items, SLICE);
    for (const [k, item] of items.entries()) {
      const file = join(work, `${item.id}.py`);
      writeFileSync(file, `${item.code}\n`);
      await inverse.prepare({ file, entry: 'f', script: k % 2 === 0 ? [{ kind: 'real', args: item.args! }] : [{ kind: 'malformed' }] });
    }
    server = await startProtocolServer({ protocol: 'vllm', codec, model: inverse.model });
  });
  after(async () => {
    await server?.close();
    codec?.dispose();
  });

  test('scores the reachability set and a CRUXEval-I slice with both strategies, into a Markdown report', async () => {
    const out = join(work, 'eval');
    const result = await runCli(['eval', '--inverse', REACHABILITY, CRUXEVAL, '--limit', String(SLICE), '--samples', '4', '--rounds', '2',
      '--concurrency', '4', '--endpoint', server.url, '--tokenizer', tokenizerPath, '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const rows = (JSON.parse(readFileSync(join(out, 'inverse-results.json'), 'utf8')) as { rows: { set: string; id: string; strategy: string; reached: boolean; knownInputsReach?: boolean; input?: string }[] }).rows;
    const reached = (set: string, strategy: string) => rows.filter((r) => r.set === set && r.strategy === strategy && r.reached).map((r) => r.id).sort();
    assert.ok(rows.filter((r) => r.set === 'reachability').every((r) => r.knownInputsReach === true), 'every known input really reaches its target');
    assert.deepEqual(reached('reachability', 'none'), ['ends_match', 'palindrome', 'password']);
    const steered = reached('reachability', 'edit');
    // Steering finds what sampling found, and more: the scripted model never proposes a running total that hits 13 at
    // line 4, but an edit of its closest miss ([10, 3]: an item appended) does.
    for (const id of ['ends_match', 'palindrome', 'password', 'running_total']) assert.ok(steered.includes(id), `${id} reached with steering: ${steered.join(', ')}`);
    const slice = selectItems(loadCorpus(CRUXEVAL).items, SLICE);
    assert.deepEqual(reached('cruxeval-i', 'none'), slice.filter((_, k) => k % 2 === 0).map((i) => i.id).sort());
    const summary = readFileSync(join(out, 'inverse-summary.md'), 'utf8');
    assert.match(summary, /\| reachability \| sampling only \| 3\/11 \|/);
    assert.match(summary, new RegExp(`\\| CRUXEval-I \\| sampling only \\| ${Math.ceil(SLICE / 2)}/${SLICE} \\|`));
    assert.match(result.stdout, /reachability +sampling only +3\/11 reached with verified inputs/);
  });
});
