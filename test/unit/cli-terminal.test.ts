// Terminal escapes (issue 11): ESC and C1 control sequences in a program's output, in predicted values and in a
// server's error text reach the terminal escaped through the built CLI; the JSON and CWM formats keep the data exact.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { displayWidth, visible } from '../../server/cli/terminal';
import { runCli } from '../helpers/cli-run';
import { examplesDir } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';

/** Any control character a terminal could act on, newline aside (NO_COLOR is set, so the CLI adds none of its own). */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

const dir = mkdtempSync(join(tmpdir(), 'cwm-cli-escapes-'));
const hostile = join(dir, 'hostile.py');
writeFileSync(hostile, [
  'def show():  # << START_OF_TRACE',
  '    print("\\x1b]0;pwned\\x07\\x1b[2J")',
  '    print("safe\\rOVERWRITTEN")',
  '    print("\\x9b31mred \\x1b]8;;http://evil.example\\x07link\\x1b]8;;\\x07")',
  '    return 1',
  '',
].join('\n'));

describe('control characters through the CLI', { timeout: 120_000 }, () => {
  test('the program\'s own output rows are shown escaped in the table', async () => {
    const result = await runCli(['trace', hostile]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, RAW_CONTROL);
    assert.match(result.stdout, /stdout│ \\e\]0;pwned\\x07\\e\[2J$/m);
    assert.match(result.stdout, /stdout│ safe\\rOVERWRITTEN$/m);
    assert.match(result.stdout, /stdout│ \\x9b31mred \\e\]8;;http:\/\/evil\.example\\x07link/m);
  });

  test('JSON keeps the output exact, with nothing raw on the terminal', async () => {
    const result = await runCli(['trace', hostile, '--format', 'json']);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, RAW_CONTROL);
    const trace = JSON.parse(result.stdout) as { frames: { output?: { text: string }[] }[] };
    const printed = trace.frames.flatMap((frame) => frame.output ?? []).map((chunk) => chunk.text).join('');
    assert.equal(printed, '\x1b]0;pwned\x07\x1b[2J\nsafe\rOVERWRITTEN\n\x9b31mred \x1b]8;;http://evil.example\x07link\x1b]8;;\x07\n');
  });

  test('visible() and displayWidth() as the table uses them', () => {
    assert.equal(visible('a\x1b[2Jb\r\x9b\u202e\t'), 'a\\e[2Jb\\r\\x9b\\u202e\\t');
    assert.equal(displayWidth('日本'), 4);
    assert.equal(displayWidth('😀x'), 3);
    assert.equal(displayWidth('é'), 1);
  });
});

describe('control characters from the model and the server', { timeout: 120_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let hostileModel: ProtocolServer;
  let failing: ProtocolServer;
  const spec = join(examplesDir, 'spec_example.py');

  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-cli-escapes-tok-')));
    codec = await loadTokenizer(tokenizerPath);
    // After the given call frame of f(1, 3): a line frame whose value clears the screen, and a return value with a C1 CSI.
    const frames = '<|line_sep|>{"a": "\\u001b[2J", "b": ".."}<|action_sep|>    y = a\n<|frame_sep|>' +
      '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"\\u009b31m\\r6"<|frame_sep|><|end_of_text|>';
    hostileModel = await startProtocolServer({ protocol: 'vllm', codec, model: () => codec.encodeWithSpecialTokens(frames) });
    failing = await startProtocolServer({
      protocol: 'vllm', codec, model: () => [],
      faults: { http500: '\x1b[2J\x1b]8;;http://evil.example\x07click\x1b]8;;\x07 boom' },
    });
  });
  after(async () => {
    await hostileModel.close();
    await failing.close();
    codec.dispose();
  });

  const predictArgs = (url: string): string[] => ['predict', spec, '--entry', 'f', '--args', '1, 3', '--endpoint', url, '--tokenizer', tokenizerPath];

  test('predicted values are shown escaped in the table', async () => {
    const result = await runCli(predictArgs(hostileModel.url));
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, RAW_CONTROL);
    assert.match(result.stdout, /a=\\e\[2J/);
    assert.match(result.stdout, /→ \\x9b31m\\r6/);
  });

  test('JSON and CWM keep the predicted values exact', async () => {
    const json = await runCli([...predictArgs(hostileModel.url), '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    assert.doesNotMatch(json.stdout, RAW_CONTROL);
    const trace = JSON.parse(json.stdout) as { frames: { locals: Record<string, string>; value?: string }[] };
    assert.equal(trace.frames[1]!.locals.a, '\x1b[2J');
    assert.equal(trace.frames[2]!.value, '\x9b31m\r6');
    const cwm = await runCli([...predictArgs(hostileModel.url), '--format', 'cwm']);
    assert.equal(cwm.code, 0, cwm.stderr);
    assert.ok(cwm.stdout.includes('{"a": "\\u001b[2J", "b": ".."}'), 'the CWM text holds the value as the model wrote it');
    assert.ok(cwm.stdout.includes('"\\u009b31m\\r6"'));
  });

  test('a server\'s error text reaches stderr escaped', async () => {
    const result = await runCli(predictArgs(failing.url));
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stderr, RAW_CONTROL);
    assert.match(result.stderr, /\\e\[2J\\e\]8;;http:\/\/evil\.example\\x07click/);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });

  test('compare: the real trace, then the server\'s error escaped', async () => {
    const result = await runCli(['compare', spec, '--endpoint', failing.url, '--tokenizer', tokenizerPath]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /real run: The entry returned after 14 steps\./);
    assert.doesNotMatch(result.stdout + result.stderr, RAW_CONTROL);
    assert.match(result.stderr, /No prediction: .*\\e\[2J/s);
  });
});
