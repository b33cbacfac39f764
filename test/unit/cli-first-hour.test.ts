// A new user's first hour with cwm-debug (issue 13): the built CLI run as a user runs it, on programs of their own,
// with real Python and, for predict/compare, the loopback test endpoint. Each test holds one defect gone.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import { recordTrace } from '../../server/tracer/runner';
import { displayWidth } from '../../server/cli/terminal';
import { runCli, type CliResult } from '../helpers/cli-run';
import { availablePythons } from '../helpers/pythons';
import { examplesDir, repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const dir = mkdtempSync(join(tmpdir(), 'cwm-cli-hour-'));
function program(name: string, text: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const recursion = program('recursion.py', [
  'import sys',
  '',
  'def fact(n):  # << START_OF_TRACE',
  '    if n <= 1:',
  '        return 1',
  '    return n * fact(n - 1)',
  '',
  'if __name__ == "__main__":',
  '    print("argv", sys.argv[1:])',
  '    print(fact(3))',
  '',
].join('\n'));
const inventory = join(examplesDir, 'inventory.py');
const spec = join(examplesDir, 'spec_example.py');

/** Lines of the result (stdout and stderr) longer than `width` display columns. */
function linesWiderThan(result: CliResult, width: number): string[] {
  return `${result.stdout}\n${result.stderr}`.split('\n').filter((line) => displayWidth(line) > width);
}

function oneSentence(result: CliResult): string {
  const text = result.stderr.trim();
  assert.equal(text.split('\n').length, 1, `more than one line: ${result.stderr}`);
  assert.match(text, /^cwm-debug: /);
  assert.match(text, /[.?]$/, `the sentence does not end with a period: ${text}`);
  assert.doesNotMatch(text, /\n\s+at /);
  return text;
}

describe('a marked function with parameters', { timeout: 120_000 }, () => {
  test('--args applies to the marked function', async () => {
    const result = await runCli(['trace', recursion, '--args', '4', '--format', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const trace = JSON.parse(result.stdout) as { frames: { event: string; locals: Record<string, string>; value?: string }[] };
    assert.deepEqual(trace.frames[0]!.locals, { n: '4' });
    assert.equal(trace.frames.at(-1)!.value, '24');
  });

  test('without --args the script runs and the first call is traced, and the output says so', async () => {
    const result = await runCli(['trace', recursion]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, /No --args given: the program ran as a script and this is the first call of "fact"/);
    assert.match(result.stdout, /call\s+3\s+def fact\(n\):.*n=3/);
    assert.match(result.stdout, /return\s+6\s+.*→ 6/);
    assert.match(result.stdout, /The entry returned after 12 steps\./);
  });

  test('arguments after -- reach the program\'s sys.argv', async () => {
    const echo = program('argv.py', 'import sys\nprint(sys.argv[1:])\n');
    const result = await runCli(['trace', echo, '--format', 'json', '--', 'a b', '--flag', '-1']);
    assert.equal(result.code, 0, result.stderr);
    const trace = JSON.parse(result.stdout) as { frames: { output?: { text: string }[] }[] };
    const printed = trace.frames.flatMap((frame) => frame.output ?? []).map((chunk) => chunk.text).join('');
    assert.equal(printed, "['a b', '--flag', '-1']\n");
  });

  test('two marked functions are refused, naming both', async () => {
    const two = program('two.py', 'def a():  # << START_OF_TRACE\n    return 1\n\ndef b():  # << START_OF_TRACE\n    return 2\n');
    for (const command of ['trace', 'predict']) {
      const model = command === 'predict' ? ['--endpoint', 'http://127.0.0.1:9', '--tokenizer', '/nonexistent'] : [];
      const result = await runCli([command, two, ...model]);
      assert.equal(result.code, 1, `${command}: ${result.stderr}`);
      assert.match(oneSentence(result), /"a" \(line 1\) and "b" \(line 4\)/);
    }
  });
});

describe('limits and formats', { timeout: 120_000 }, () => {
  test('--timeout beyond what a timer holds is refused in one sentence (exit 2)', async () => {
    const result = await runCli(['trace', spec, '--timeout', '2200000']);
    assert.equal(result.code, 2);
    assert.match(oneSentence(result), /--timeout is at most 1,000,000 seconds/);
  });

  test('the runner clamps a time limit past the timer range instead of stopping at once', async () => {
    const trace = await recordTrace({ file: spec, limits: { timeoutMs: 2_200_000_000 } });
    assert.equal(trace.end.kind, 'returned');
  });

  test('--format cwm ends with a newline', async () => {
    const result = await runCli(['trace', spec, '--format', 'cwm']);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.endsWith('<|end_of_text|>\n'));
  });
});

describe('messages and exit codes', { timeout: 120_000 }, () => {
  const cases: { args: string[]; code: number; message: RegExp }[] = [
    { args: ['trace', join(dir, 'missing.py')], code: 1, message: /File not found: .*missing\.py\./ },
    { args: ['predict', spec, '--backend', 'tgi'], code: 2, message: /--backend must be fgserve, vllm, mlx, openai or auto/ },
    { args: ['predict', spec, '--samples', '0'], code: 2, message: /--samples needs a whole number from 1 to 64/ },
    { args: ['compare', spec, '--temperature', 'hot'], code: 2, message: /--temperature needs a number from 0 to 2/ },
    { args: ['trace', spec, '--bogus'], code: 2, message: /^cwm-debug: trace has no option --bogus; run `cwm-debug trace --help`/ },
    { args: ['trace', spec, '--fromat', 'json'], code: 2, message: /no option --fromat; did you mean --format\?/ },
    { args: ['trace', spec, '--max-event', '5'], code: 2, message: /did you mean --max-events\?/ },
    { args: ['trace', spec, '--entry'], code: 2, message: /--entry needs a value, e.g\. --entry NAME\./ },
    { args: ['trace', spec, '--format', 'jsno'], code: 2, message: /--format for trace is table, cwm or json, not "jsno"\. Did you mean json\?/ },
    { args: ['trace', spec, '--samples', '3'], code: 2, message: /--samples is an option of predict and eval, not of trace\./ },
    { args: ['tarce', spec], code: 2, message: /Unknown command "tarce"\. Did you mean trace\?/ },
    { args: ['compare', spec, '--format', 'cwm'], code: 2, message: /compare prints a table or json/ },
    { args: ['predict', spec, '--samples', '3', '--format', 'cwm'], code: 2, message: /--samples prints a table or json .* not cwm/ },
  ];
  for (const { args, code, message } of cases) {
    test(`${args.slice(0, 1).concat(args.slice(2)).join(' ')}: exit ${code}, one sentence`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, code, result.stderr);
      const text = oneSentence(result);
      assert.match(text, message);
      assert.doesNotMatch(text, /To specify a positional argument|argument is ambiguous|Unknown option '/);
    });
  }

  test('a value starting with a dash is a value, not Node\'s "ambiguous" error', async () => {
    const result = await runCli(['trace', spec, '--entry', 'f', '--args', '-1, 2', '--format', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const trace = JSON.parse(result.stdout) as { frames: { locals: Record<string, string> }[] };
    assert.deepEqual(trace.frames[0]!.locals, { a: '-1', b: '2' });
  });

  test('the CLI names its flags, never VS Code settings or internal limit names', async () => {
    const limited = await runCli(['trace', inventory, '--max-events', '5']);
    assert.equal(limited.code, 3);
    assert.match(limited.stdout, /\(--max-events\)/);
    const python = await runCli(['trace', spec, '--python', 'python3.99']);
    const refused = await runCli(['predict', spec, '--endpoint', 'http://127.0.0.1:9', '--tokenizer', join(dir, 'tok', 'tokenizer.model')]);
    for (const result of [limited, python, refused]) assert.doesNotMatch(result.stdout + result.stderr, /cwmDebug\.|\(maxEvents\)|\(timeout\)|\(maxOutputBytes\)/);
    assert.match(oneSentence(python), /--python PATH/);
  });

  test('--entry nothere lists the functions the program has', async () => {
    for (const command of ['trace', 'predict']) {
      const model = command === 'predict' ? ['--endpoint', 'http://127.0.0.1:9', '--tokenizer', '/nonexistent'] : [];
      const result = await runCli([command, inventory, '--entry', 'nothere', ...model]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(oneSentence(result), /No function named "?nothere"?.*Its functions: apply_discount, order_total, checkout\./);
    }
  });

  test('a bad --args points at the user\'s own text, not at a parenthesis they never typed', async () => {
    const cases: [string, RegExp][] = [
      ['1, [', /"1, \[" are not a valid Python argument list: '\[' \(column 4\) is never closed\./],
      ['1, )', /unmatched '\)' \(column 4\)/],
      ['1 2', /\(column 1\)/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(['trace', spec, '--entry', 'f', '--args', args]);
      assert.equal(result.code, 1, result.stderr);
      const text = oneSentence(result);
      assert.match(text, message);
      assert.doesNotMatch(text, /closing parenthesis|'\(' was never closed|does not match opening/);
    }
  });

  test('--args with nothing marked and no --entry is refused instead of silently ignored', async () => {
    const plain = program('plain-args.py', 'x = 1\n');
    const result = await runCli(['trace', plain, '--args', '1']);
    assert.equal(result.code, 2);
    assert.match(oneSentence(result), /--args needs a function to call.*marks none/);
  });

  test('a run that fails after the entry was chosen prints only its error, never half a JSON or CWM document', async () => {
    for (const format of ['json', 'cwm']) {
      const result = await runCli(['trace', spec, '--entry', 'f', '--args', '1, 2, 3', '--format', format]);
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(oneSentence(result), /Calling "f" with the arguments "1, 2, 3" failed/);
    }
  });

  test('--python pointing at a folder says so in words', async () => {
    const result = await runCli(['trace', spec, '--python', '/usr/bin']);
    assert.equal(result.code, 1);
    assert.match(oneSentence(result), /--python \/usr\/bin is a folder, not a Python interpreter\. Give the interpreter file, e\.g\. \/usr\/bin\/python3\./);
  });

  test('--python at a pyenv shim that no selected version provides says so in words', async (t) => {
    const shims = join(process.env.PYENV_ROOT ?? join(process.env.HOME ?? '', '.pyenv'), 'shims');
    const shim = ['python3.6', 'python3.7', 'python3.8', 'python3.9', 'python3.12', 'python3.13'].map((name) => join(shims, name))
      .find((path) => { try { return readFileSync(path, 'utf8').includes('pyenv'); } catch { return false; } });
    if (!shim) return t.skip('no pyenv shims here');
    const result = await runCli(['trace', spec, '--python', shim], { PYENV_VERSION: '' });
    if (result.code === 0) return t.skip(`${shim} is provided by the selected pyenv version`);
    assert.equal(result.code, 1);
    assert.match(oneSentence(result), /is a pyenv shim, and the pyenv version selected here does not provide it\. Select one/);
  });

  test('a syntax error in an imported module names --script', async () => {
    program('pkg/helper.py', 'def broken(:\n    pass\n');
    const app = program('pkg/app.py', 'import helper\n\ndef run():  # << START_OF_TRACE\n    return 1\n');
    const result = await runCli(['trace', app]);
    assert.equal(result.code, 1);
    const text = oneSentence(result);
    assert.match(text, /SyntaxError/);
    assert.match(text, /--script/);
  });

  test('a bad tokenizer file says what the file should be and where it comes from', async () => {
    const bad = program('bad-tokenizer.model', 'this is not a ranks file\n');
    const result = await runCli(['predict', spec, '--endpoint', 'http://127.0.0.1:9', '--tokenizer', bad]);
    assert.equal(result.code, 1);
    assert.match(oneSentence(result), /--tokenizer takes the tokenizer\.model file of the CWM checkpoint \(a tiktoken ranks file.*comes in the folder of the \(gated\) CWM checkpoint/);
  });

  test('nothing marked and no --entry: the first line says the whole script is traced and how to pick a function', async () => {
    const plain = program('plain.py', 'x = 1\ny = x + 1\n');
    const result = await runCli(['trace', plain]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.split('\n')[0]!, /^Nothing is marked and no --entry was given, so the whole script .*plain\.py is traced\./);
    assert.match(result.stdout, /START_OF_TRACE" on its def line or pass --entry NAME\./);
  });

  test('--version, per-command --help, and help lines within 80 columns', async () => {
    const version = await runCli(['--version']);
    assert.equal(version.code, 0);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    assert.equal(version.stdout, `cwm-debug ${pkg.version}\n`);
    const pages = new Map<string, string>();
    for (const command of ['trace', 'predict', 'compare', 'eval']) {
      const help = await runCli([command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: cwm-debug ${command} `));
      pages.set(command, help.stdout);
    }
    assert.match(pages.get('trace')!, /--max-events N/);
    assert.doesNotMatch(pages.get('trace')!, /--samples|--concurrency/);
    const overview = await runCli(['--help']);
    for (const page of [...pages.values(), overview.stdout]) {
      const wide = page.split('\n').filter((line) => displayWidth(line) > 80);
      assert.deepEqual(wide, [], 'help lines wider than 80 columns');
    }
  });

  test('the README and --help list the same exit codes', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const table = new Map([...readme.matchAll(/^\| `(\d+)` \| (.+?) \|$/gm)].map((m) => [m[1]!, m[2]!]));
    const help = (await runCli(['--help'])).stdout;
    for (const code of ['0', '1', '2', '3', '4', '130']) {
      assert.ok(table.has(code), `README's exit-code table has no row for ${code}`);
      assert.match(help, new RegExp(`^  ${code}  `, 'm'), `--help does not list exit code ${code}`);
    }
    // The codes the README promises are the ones the CLI gives.
    assert.equal((await runCli(['trace', join(dir, 'none.py')])).code, 1);
    assert.equal((await runCli(['trace', spec, '--bogus'])).code, 2);
    assert.equal((await runCli(['trace', inventory, '--max-events', '3'])).code, 3);
  });
});

describe('the table', { timeout: 120_000 }, () => {
  test('exceptions read as "ValueError: bad input"; JSON keeps the raw value', async () => {
    const raising = program('raising.py', 'def check(x):  # << START_OF_TRACE\n    raise ValueError("bad input")\n');
    const table = await runCli(['trace', raising, '--args', '1']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /exception\s+2\s+raise ValueError\("bad input"\)\s+! ValueError: bad input$/m);
    assert.doesNotMatch(table.stdout, /<class|<traceback object>/);
    assert.match(table.stdout, /The program raised ValueError: bad input/);
    const json = await runCli(['trace', raising, '--args', '1', '--format', 'json']);
    const trace = JSON.parse(json.stdout) as { frames: { event: string; value?: string }[] };
    assert.equal(trace.frames.find((f) => f.event === 'exception')!.value, "(<class 'ValueError'>, ValueError('bad input'), <traceback object>)");
  });

  test('compiler-made locals (.0, __class__) are left out of "changed" but kept in JSON', async (t) => {
    const made = program('made.py', [
      'class Base:',
      '    def size(self):',
      '        return 1',
      '',
      'class Box(Base):',
      '    def size(self):',
      '        return super().size() + 1',
      '',
      'def main():  # << START_OF_TRACE',
      '    squares = [i * i for i in range(3)]',
      '    return Box().size() + len(squares)',
      '',
    ].join('\n'));
    // Up to 3.11 a comprehension has its own frame, with `.0` among its locals.
    const interpreter = availablePythons().find((p) => p.version === '3.11')?.path;
    if (!interpreter) return t.skip('Python 3.11 is not installed');
    const table = await runCli(['trace', made, '--python', interpreter]);
    assert.equal(table.code, 0, table.stderr);
    assert.doesNotMatch(table.stdout, /\.0=|__class__=/);
    const json = await runCli(['trace', made, '--python', interpreter, '--format', 'json']);
    const names = (JSON.parse(json.stdout) as { frames: { locals: Record<string, string> }[] }).frames.flatMap((f) => Object.keys(f.locals));
    assert.ok(names.includes('.0'), 'the comprehension\'s .0 is in the JSON');
    assert.ok(names.includes('__class__'), '__class__ is in the JSON');
  });

  test('wide characters keep the columns aligned (display width, not string length)', async () => {
    const wide = program('wide.py', [
      'def greet():  # << START_OF_TRACE',
      '    word = "日本語のテキスト"',
      '    face = "😀😀" + word[:1]',
      '    n = len(word)  # 長さ',
      '    return word + face',
      '',
    ].join('\n'));
    const result = await runCli(['trace', wide], { COLUMNS: '100' });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split('\n');
    const header = lines.find((line) => line.includes('changed'))!;
    const column = displayWidth(header.slice(0, header.indexOf('changed')));
    // Each of these rows has wide characters in its source or its values.
    for (const name of ['word=', 'face=', 'n=', '→']) {
      const row = lines.find((line) => line.includes(` ${name}`))!;
      assert.equal(displayWidth(row.slice(0, row.indexOf(` ${name}`) + 1)), column, `misaligned: ${row}`);
    }
  });

  test('COLUMNS=80: trace prints no line wider than 80 columns; piped output has a default width', async () => {
    const narrow = await runCli(['trace', inventory], { COLUMNS: '80' });
    assert.equal(narrow.code, 0, narrow.stderr);
    assert.deepEqual(linesWiderThan(narrow, 80), []);
    const first = await runCli(['trace', recursion], { COLUMNS: '80' });
    assert.deepEqual(linesWiderThan(first, 80), []);
    const piped = await runCli(['trace', inventory]);
    assert.deepEqual(linesWiderThan(piped, 120), []);
    assert.ok(piped.stdout.split('\n').some((line) => displayWidth(line) > 80), 'piped output uses more than 80 columns');
  });
});

describe('compare and predict with the test endpoint', { timeout: 180_000 }, () => {
  let codec: CwmTokenizer;
  let tokenizerPath: string;
  let replay: ReplayModel;
  let server: ProtocolServer;

  before(async () => {
    tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-cli-hour-tok-')));
    codec = await loadTokenizer(tokenizerPath);
    replay = createReplayModel({ codec, sampleCorruptions: { 1: [{ kind: 'wrong-value', step: 5, variable: 'total', value: '99' }] } });
    await replay.prepare({ file: inventory });
    server = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model });
  });
  after(async () => {
    await server.close();
    codec.dispose();
  });

  test('compare with a refusing endpoint prints the real trace, then the reason (exit 1)', async () => {
    const result = await runCli(['compare', inventory, '--endpoint', 'http://127.0.0.1:9', '--tokenizer', tokenizerPath]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /call\s+10\s+def order_total/);
    assert.match(result.stdout, /real run: The entry returned after 35 steps\./);
    assert.match(result.stderr, /^No prediction: Cannot reach the CWM endpoint at http:\/\/127\.0\.0\.1:9/);
  });

  test('compare with no tokenizer prints the real trace, then the reason', async () => {
    // vLLM tokenizes for the client; fgserve cannot, so without a tokenizer file there is no prediction.
    const fgserve = await startProtocolServer({ protocol: 'fgserve', codec, model: replay.model });
    let result;
    try {
      result = await runCli(['compare', inventory, '--endpoint', fgserve.url]);
    } finally {
      await fgserve.close();
    }
    assert.equal(result.code, 1);
    assert.match(result.stdout, /real run: The entry returned after 35 steps\./);
    // The endpoint cannot tokenize (not vLLM): the reason names the flag that fixes it.
    assert.match(result.stderr, /No prediction: No tokenizer file is configured, and the endpoint at \S+ cannot tokenize[\s\S]*--tokenizer PATH/);
  });

  test('compare --format json is honoured, also when the model is unusable', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 7, variable: 'name', value: "'kiwi'" }]);
    const result = await runCli(['compare', inventory, '--endpoint', server.url, '--tokenizer', tokenizerPath, '--format', 'json']);
    assert.equal(result.code, 4, result.stderr);
    const parsed = JSON.parse(result.stdout) as { actual: { frames: unknown[] }; predicted: { frames: unknown[] }; firstDivergence: { row: number } | null };
    assert.equal(parsed.actual.frames.length, 35);
    assert.ok(parsed.firstDivergence);
    const unusable = await runCli(['compare', inventory, '--endpoint', 'http://127.0.0.1:9', '--tokenizer', tokenizerPath, '--format', 'json']);
    assert.equal(unusable.code, 1);
    const real = JSON.parse(unusable.stdout) as { actual: { frames: unknown[] }; predicted: null; predictionError: string };
    assert.equal(real.actual.frames.length, 35);
    assert.equal(real.predicted, null);
    assert.match(real.predictionError, /Cannot reach the CWM endpoint/);
  });

  test('COLUMNS=80: compare with a divergence fits, and the divergence is told in full', async () => {
    replay.setCorruptions([{ kind: 'wrong-value', step: 7, variable: 'name', value: "'kiwi'" }]);
    const result = await runCli(['compare', inventory, '--endpoint', server.url, '--tokenizer', tokenizerPath], { COLUMNS: '80' });
    assert.equal(result.code, 4, result.stderr);
    assert.deepEqual(linesWiderThan(result, 80), []);
    const lines = result.stdout.split('\n');
    const row = lines.findIndex((line) => line.endsWith('◀'));
    assert.match(lines[row]!, /^\s+7\s+14\s.*✗ state \(name\)/);
    assert.match(lines.slice(row + 1, row + 4).join(' ').replace(/\s+/g, ' '), /◀ first divergence: step 7: name is 'kiwi' in the prediction but 'apple' in the/);
  });

  test('COLUMNS=80: predict --samples 3 fits, aligns its agreement column and ends with a summary', async () => {
    replay.setCorruptions([]);
    const result = await runCli(['predict', inventory, '--samples', '3', '--temperature', '0.8', '--seed', '0', '--endpoint', server.url, '--tokenizer', tokenizerPath], { COLUMNS: '80' });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(linesWiderThan(result, 80), []);
    const lines = result.stdout.trimEnd().split('\n');
    const header = lines[0]!;
    const column = displayWidth(header.slice(0, header.indexOf('agreement of 3')));
    const rows = lines.filter((line) => / action \d\/3/.test(line));
    assert.ok(rows.length > 10);
    for (const row of rows) assert.equal(displayWidth(row.slice(0, row.indexOf('action '))), column, `misaligned: ${row}`);
    assert.ok(rows.some((row) => /total 2\/3/.test(row)), 'the disagreeing sample shows');
    assert.match(lines.slice(-3).join(' ').replace(/\s+/g, ' '), /All 3 rollouts ended with the entry returning .* Overall agreement: all 3 agree on the action at \d+% of [\d,]+ steps and on \d+% of the values\./);
  });

  test('"1 step", not "1 steps"', async () => {
    const ending = await startProtocolServer({ protocol: 'vllm', codec, model: () => codec.encodeWithSpecialTokens('<|end_of_text|>') });
    try {
      const result = await runCli(['predict', spec, '--entry', 'f', '--args', '1, 3', '--endpoint', ending.url, '--tokenizer', tokenizerPath]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /The model ended the trace after 1 step\.$/m);
    } finally {
      await ending.close();
    }
  });
});
