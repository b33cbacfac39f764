// The cwm-debug command-line tool as a user runs it: the built dist/cli.js in a child process, real Python,
// and (for predict/compare) the loopback test endpoint replaying the real trace.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { availablePythons } from '../helpers/pythons';
import { examplesDir, fixturesDir, repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const cli = join(repoRoot, 'dist', 'cli.js');

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], {
      env: { ...process.env, NO_COLOR: '1', CWM_ENDPOINT: '', CWM_TOKENIZER: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('cwm-debug trace', { timeout: 120_000 }, () => {
  test('the README main job prints a real trace of the bundled example', async () => {
    const result = await run(['trace', join(examplesDir, 'inventory.py')]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /step\s+event\s+line\s+source/);
    assert.match(result.stdout, /call\s+10\s+def order_total\(items, discounts\):\s+items=\[\('apple', 3, 0\.5\)/);
    assert.match(result.stdout, /stdout│ apple x3: 1\.5/);
    assert.match(result.stdout, /return\s+23 .*→ 6\.5/);
    assert.match(result.stdout, /The entry returned after 35 steps\./);
  });

  test('--format json gives fully resolved locals', async () => {
    const result = await run(['trace', join(examplesDir, 'spec_example.py'), '--format', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const trace = JSON.parse(result.stdout) as { frames: { event: string; locals: Record<string, string>; value?: string }[] };
    assert.deepEqual(trace.frames[9]!.locals, { a: '1', b: '3', y: '2', i: '2' });
    assert.equal(trace.frames.at(-1)!.value, '6');
  });

  const spec = readFileSync(join(fixturesDir, 'cwm', 'spec_example.frames.txt'), 'utf8');
  const source = readFileSync(join(examplesDir, 'spec_example.py'), 'utf8');
  // The CLI ends the CWM text with one newline for the terminal; the text itself is the spec's.
  const expected = `<|begin_of_text|><|trace_context_start|>${source}${spec}\n`;
  const pythons = availablePythons();
  for (const version of ['3.10', '3.11']) {
    const found = pythons.find((p) => p.version === version);
    test(`--format cwm reproduces the spec's trace byte for byte under Python ${version}`, { skip: found ? false : `Python ${version} is not installed` }, async () => {
      const result = await run(['trace', join(examplesDir, 'spec_example.py'), '--format', 'cwm', '--python', found!.path]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, expected);
    });
  }

  test('--args puts the given values in the entry call frame', async () => {
    const result = await run(['trace', join(examplesDir, 'spec_example.py'), '--entry', 'f', '--args', '2, 2', '--format', 'json']);
    const trace = JSON.parse(result.stdout) as { frames: { event: string; locals: Record<string, string>; value?: string }[] };
    assert.deepEqual(trace.frames[0], { ...trace.frames[0], event: 'call', locals: { a: '2', b: '2' } });
    assert.equal(trace.frames.at(-1)!.value, '4');
  });

  test('each setup error is one clear sentence and a non-zero exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cwm-cli-'));
    const broken = join(dir, 'broken.py');
    writeFileSync(broken, 'def f(:\n    pass\n');
    const cases: [string[], RegExp][] = [
      [['trace', join(dir, 'missing.py')], /^cwm-debug: File not found: .*missing\.py\. /],
      [['trace', broken], /^cwm-debug: Syntax error in broken\.py.*line 1/],
      [['trace', join(examplesDir, 'spec_example.py'), '--entry', 'nope'], /^cwm-debug: No function named "nope"/],
      [['trace', join(examplesDir, 'spec_example.py'), '--python', 'python3.99'], /^cwm-debug: Python not found: "python3\.99"\. Set the Python path/],
      [['trace', join(examplesDir, 'spec_example.py'), '--format', 'xml'], /^cwm-debug: --format for trace is table, cwm or json, not "xml"\./],
      [['frobnicate'], /^cwm-debug: Unknown command "frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split('\n').length, 1, `more than one line for ${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'a stack trace reached the user');
    }
  });
});

describe('cwm-debug predict and compare against the test endpoint', { timeout: 120_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let replay: ReplayModel;
  let server: ProtocolServer;
  const program = join(examplesDir, 'inventory.py');

  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-cli-tok-')));
    codec = await loadTokenizer(tokenizerPath);
    replay = createReplayModel({ codec });
    await replay.prepare({ file: program });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  });
  after(async () => {
    await server.close();
    codec.dispose();
  });

  test('compare with a wrong value injected at step 7 reports the first divergence at step 7, naming the variable', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 7, variable: 'name', value: "'kiwi'" }]);
    const result = await run(['compare', program, '--endpoint', server.url, '--tokenizer', tokenizerPath]);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stdout, /First divergence: step 7: name is 'kiwi' in the prediction but 'apple' in the real run/);
    const row = result.stdout.split('\n').find((line) => line.endsWith('◀'))!;
    assert.match(row, /^\s+7\s+14\s/);
    assert.match(row, /✗ state \(name\)/);
    assert.match(result.stdout, /action match 100\.0% \(35\/35\)/);
  });

  test('compare of a faithful prediction finds no divergence', async () => {
    replay.setCorruptions([]);
    const result = await run(['compare', program, '--endpoint', server.url, '--tokenizer', tokenizerPath]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /No divergence/);
    assert.match(result.stdout, /return value: match \(real 6\.5, predicted 6\.5\)/);
  });

  test('compare without an endpoint says how to configure one and still prints the real trace', async () => {
    const result = await run(['compare', program]);
    assert.equal(result.code, 0);
    assert.match(result.stderr, /No CWM endpoint is configured\. Pass --endpoint URL/);
    assert.match(result.stdout, /The entry returned after 35 steps/);
  });

  test('predict streams the predicted trace from given arguments', async () => {
    replay.setCorruptions([]);
    await replay.prepare({ file: join(examplesDir, 'spec_example.py'), entry: 'f', args: '1, 3' });
    const result = await run(['predict', join(examplesDir, 'spec_example.py'), '--entry', 'f', '--args', '1, 3', '--endpoint', server.url, '--tokenizer', tokenizerPath]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /call\s+1\s+def f\(a,b\):\s+a=1\s+b=3/);
    assert.match(result.stdout, /return\s+5 .*→ 6/);
    assert.match(result.stdout, /The model ended the trace after 11 steps\./);
  });

  test('an endpoint that is down is one sentence saying what to do', async () => {
    const result = await run(['predict', program, '--endpoint', 'http://127.0.0.1:9', '--tokenizer', tokenizerPath]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^cwm-debug: Cannot reach the CWM endpoint at http:\/\/127\.0\.0\.1:9.*refused/);
  });

  test('a missing tokenizer is one sentence saying what to do', async () => {
    const result = await run(['predict', program, '--endpoint', server.url, '--tokenizer', '/nonexistent/tokenizer.model']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^cwm-debug: Tokenizer not found at \/nonexistent\/tokenizer\.model\. Point --tokenizer/);
  });
});
