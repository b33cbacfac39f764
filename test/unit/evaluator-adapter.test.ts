// Through the debug adapter (DebugClient): evaluation in predict and replay modes starts no Python process for the
// evaluator, and the known escapes (generator frames, format-string attribute walks) run nothing and read nothing.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { ADAPTER, Debuggee } from '../helpers/debuggee';
import { fixturesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const LOOP = join(fixturesDir, 'adapter', 'loop.py');
const ADD_SQ_LINE = 13;

const work = mkdtempSync(join(tmpdir(), 'cwm-evaluator-adapter-'));
/** Created by any shell command an escape manages to run. */
const MARKER = join(work, 'pwned');
/** Every start of the configured `python`, one line of arguments each. */
const PYTHON_LOG = join(work, 'python-starts.log');
/** Stands for the configured interpreter: logs how it was started, leaves a marker, then runs the real Python. */
const PYTHON_WRAPPER = join(work, 'python-wrapper.sh');
const CANARY_NAME = 'CWM_EVALUATOR_CANARY';
const CANARY = `canary-${process.pid}-${Date.now()}`;

/** The escapes from the issue, and their relatives: each must be refused without running or reading anything. */
const ESCAPES = [
  `[(g := (g.gi_frame.f_back.f_back.f_globals for _ in [0])), next(g)][1]['os'].system('touch ${MARKER}')`,
  `'{0._' '_init_' '_._' '_globals_' '_[os].environ[${CANARY_NAME}]}'.format(total)`,
  `'{0.__class__.__init__.__globals__}'.format(total)`,
  `f'{(lambda: 0).__globals__}'`,
  `(lambda: 0).__code__`,
  `[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', '${MARKER}'])`,
  `__import__('os').system('touch ${MARKER}')`,
  `open('${MARKER}', 'w')`,
  `getattr(total, '__class__')`,
  `type(total).__subclasses__`,
  `vars()`,
  `globals()['__builtins__']`,
];

function writeWrapper(): void {
  writeFileSync(PYTHON_WRAPPER, `#!/bin/sh\necho "$@" >> '${PYTHON_LOG}'\ntouch '${MARKER}.python'\nexec python3 "$@"\n`);
  chmodSync(PYTHON_WRAPPER, 0o755);
}

function pythonStarts(): string[] {
  return existsSync(PYTHON_LOG) ? readFileSync(PYTHON_LOG, 'utf8').split('\n').filter((line) => line !== '') : [];
}

let codec: CwmTokenizer;
let tokenizerPath: string;
let replay: ReplayModel;
let server: ProtocolServer;

before(async () => {
  assert.ok(existsSync(ADAPTER), `${ADAPTER} is missing: run node scripts/build.mjs first`);
  assert.match(readFileSync(LOOP, 'utf8').split('\n')[ADD_SQ_LINE - 1]!, /total \+= sq/);
  writeWrapper();
  // The adapter inherits this environment: an escape that reached os.environ would find the canary.
  process.env[CANARY_NAME] = CANARY;
  tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-evaluator-tok-')));
  codec = await loadTokenizer(tokenizerPath);
  replay = createReplayModel({ codec });
  await replay.prepare({ file: LOOP, entry: 'main', args: '4' });
  server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
});

after(async () => {
  delete process.env[CANARY_NAME];
  await server?.close();
  codec?.dispose();
});

/** Evaluates in every context the client offers; the answers (results and error texts) together. */
async function evaluateEverywhere(session: Debuggee, expression: string): Promise<string[]> {
  const frameId = (await session.stack())[0]!.id;
  const answers: string[] = [];
  for (const context of ['watch', 'hover', 'repl', 'clipboard']) {
    try {
      answers.push(`ok: ${(await session.dc.evaluateRequest({ expression, frameId, context })).body.result}`);
    } catch (error) {
      answers.push(`error: ${(error as Error).message}`);
    }
  }
  return answers;
}

function assertNothingEscaped(answers: readonly string[]): void {
  assert.ok(!existsSync(MARKER), `an escape created ${MARKER}`);
  for (const answer of answers) assert.ok(!answer.includes(CANARY), `the environment leaked: ${answer}`);
}

describe('evaluation in the debug adapter runs nothing', { timeout: 240_000 }, () => {
  test('predict mode: escapes are refused in watch, hover, console, conditions and log points; the evaluator starts no Python', async () => {
    const session = await Debuggee.open();
    try {
      const conditionEscape = ESCAPES[0]!;
      const stop = await session.launch(
        { program: LOOP, mode: 'predict', entry: 'main', args: '4', endpoints: [server.url], tokenizer: tokenizerPath, python: PYTHON_WRAPPER },
        { breakpoints: [{ line: ADD_SQ_LINE, condition: conditionEscape }, { line: ADD_SQ_LINE, logMessage: `log {${ESCAPES[1]}} {total}` }] },
      );
      assert.equal(stop.body.reason, 'entry');
      // Predict mode starts no Python at all, not even to read `args` (server/tracer/entry-frame.ts).
      const startsBefore = pythonStarts();
      assert.deepEqual(startsBefore, [], `unexpected Python starts: ${startsBefore.join(' | ')}`);
      const breakpointStop = await session.move('continue');
      assert.equal(breakpointStop.body.reason, 'breakpoint');
      assert.match(session.console(), /The condition .* failed: AttributeError: 'generator' object has no attribute 'gi_frame'/);
      const answers: string[] = [];
      for (const expression of ESCAPES) {
        const got = await evaluateEverywhere(session, expression);
        for (const answer of got) assert.match(answer, /^error: /, `${expression} gave ${answer}`);
        answers.push(...got);
      }
      answers.push(session.console());
      // The documented evaluations still work on the predicted frame.
      const frameId = (await session.stack())[0]!.id;
      const values = await session.values();
      assert.equal((await session.dc.evaluateRequest({ expression: 'total + sq * 2', frameId, context: 'watch' })).body.result, String(Number(values.total) + Number(values.sq) * 2));
      assert.equal((await session.dc.evaluateRequest({ expression: 'sum(k * k for k in range(i + 1))', frameId, context: 'watch' })).body.result, String([...Array(Number(values.i) + 1).keys()].reduce((a, k) => a + k * k, 0)));
      await assert.rejects(session.dc.setVariableRequest({ variablesReference: (await session.scopes())[0]!.variablesReference, name: 'total', value: ESCAPES[6]! }), /Cannot use .* as the new value: NameError: name '__import__' is not defined/);
      assert.match(session.console(), /log <error: AttributeError: 'int' object has no attribute '__init__'[^>]*> \d+/);
      assertNothingEscaped(answers);
      assert.deepEqual(pythonStarts(), startsBefore, 'evaluation started the configured python');
    } finally {
      await session.close();
    }
  });

  test('replay mode: a saved trace is evaluated without starting any Python at all', async () => {
    const recorder = await Debuggee.open();
    let frames: unknown[];
    try {
      await recorder.launch({ program: LOOP, mode: 'actual', entry: 'main', args: '3' });
      frames = (await recorder.traces()).actual as unknown[];
    } finally {
      await recorder.close();
    }
    const file = join(work, 'loop.json');
    writeFileSync(file, JSON.stringify({ origin: 'actual', entry: { kind: 'function', name: 'main', line: 9 }, end: { kind: 'returned' }, frames }));
    const startsBefore = pythonStarts().length;
    const session = await Debuggee.open();
    try {
      await session.launch(
        { program: LOOP, mode: 'actual', entry: 'main', trace: file, python: PYTHON_WRAPPER },
        { breakpoints: [{ line: ADD_SQ_LINE, condition: 'i == 2 and [v for v in range(i)] == [0, 1]' }] },
      );
      const stop = await session.move('continue');
      assert.equal(stop.body.reason, 'breakpoint');
      assert.equal((await session.values()).i, '2');
      const answers: string[] = [];
      for (const expression of ESCAPES) answers.push(...(await evaluateEverywhere(session, expression)));
      for (const answer of answers) assert.match(answer, /^error: /);
      const frameId = (await session.stack())[0]!.id;
      assert.equal((await session.dc.evaluateRequest({ expression: "f'{total=}, {sq:>3}'", frameId, context: 'repl' })).body.result, "'total=1,   4'");
      assertNothingEscaped(answers);
      assert.equal(pythonStarts().length, startsBefore, `replay started python: ${pythonStarts().slice(startsBefore).join(' | ')}`);
    } finally {
      await session.close();
    }
  });
});
