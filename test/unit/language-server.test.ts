// The CWM language server end to end: dist/languageServer.js over stdio with a real vscode-jsonrpc connection, real
// Python programs run by the bundled tracer, and the loopback CWM endpoint replaying their real traces (vLLM, fgserve).

import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  CancellationTokenSource, createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError, StreamMessageReader, StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type { CodeLens, Diagnostic, Hover, InlayHint, MarkupContent } from 'vscode-languageserver';
import { loadTokenizer, type CwmTokenizer } from '../../server/cwm/tokenizer';
import type { BackendKind } from '../../server/endpoint/types';
import { endpointTransportProblem } from '../../server/endpoint/policy';
import { findFunctions } from '../../server/trace/functions';
import { parseServerSettings } from '../../server/lsp/settings';
import {
  CLEAR_PREDICTIONS_METHOD, COMPARE_FUNCTION_COMMAND, PREDICT_FUNCTION_COMMAND, RUN_FUNCTION_METHOD, type FunctionLensArgument, type RunFunctionParams,
  type RunFunctionResult,
} from '../../server/lsp/protocol';
import { repoRoot } from '../helpers/paths';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../servers/protocol-server';
import { createReplayModel, type ReplayModel } from '../servers/replay-model';

const SERVER = join(repoRoot, 'dist', 'languageServer.js');
const TIMEOUT = 30_000;

const PROGRAM = `# Programs for the language server tests.
import functools
import os
import time


def total_price(prices, quantity):
    total = 0
    for price in prices:
        cost = price * quantity
        if cost > 100:
            cost = 100
        total += cost
    return total


def shout(word):
    text = word * 50
    return text.upper()


class Basket:
    def __init__(self):
        self.items = []

    def add(self, item):
        self.items.append(item)
        return len(self.items)

    @staticmethod
    def describe(item):
        return str(item)

    async def fetch(self):
        return 1


def outer():
    def inner():
        return 2
    return inner()


@functools.lru_cache(maxsize=None)
def cached(n):
    return n


def spin(path):
    with open(path, 'w') as out:
        out.write(str(os.getpid()))
    while True:
        time.sleep(0.01)


NOTE = """
def not_a_function():
    pass
"""
`;

/** Module-level code that leaves a mark: the test of an untrusted workspace checks it never runs. */
const MARKER_PROGRAM = `import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ran.txt'), 'w').close()


def f():
    return 1
`;

const PROGRAM_LINES = PROGRAM.split('\n');
/** 0-based line of the first line of PROGRAM that starts (after indentation) with `text`. */
function lineOf(text: string): number {
  const index = PROGRAM_LINES.findIndex((line) => line.trimStart().startsWith(text));
  assert.ok(index >= 0, `no line starting with ${text}`);
  return index;
}

interface ProgressValue {
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  cancellable?: boolean;
}

/** A language client over stdio: answers the server's requests and records what it sends. */
class TestClient {
  settings: Record<string, unknown> = {};
  refreshes = 0;
  readonly diagnostics = new Map<string, Diagnostic[]>();
  readonly progress: { token: string | number; value: ProgressValue }[] = [];
  readonly logs: string[] = [];
  readonly stderr: string[] = [];
  private versions = new Map<string, number>();

  private constructor(readonly child: ChildProcess, readonly connection: MessageConnection) {
    connection.onRequest('workspace/configuration', (params: { items: { section?: string }[] }) =>
      params.items.map((item) => (item.section === 'cwmDebug' ? this.settings : null)));
    connection.onRequest('workspace/inlayHint/refresh', () => {
      this.refreshes++;
      return null;
    });
    connection.onRequest('window/workDoneProgress/create', () => null);
    connection.onNotification('textDocument/publishDiagnostics', (params: { uri: string; diagnostics: Diagnostic[] }) => {
      this.diagnostics.set(params.uri, params.diagnostics);
    });
    connection.onNotification('$/progress', (params: { token: string | number; value: ProgressValue }) => {
      this.progress.push(params);
    });
    connection.onNotification('window/logMessage', (params: { message: string }) => {
      this.logs.push(params.message);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString('utf8')));
    connection.listen();
  }

  static async start(env: NodeJS.ProcessEnv = withoutCwmEnvironment()): Promise<TestClient> {
    const child = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const client = new TestClient(child, connection);
    const initialized = await connection.sendRequest<{ capabilities: Record<string, unknown> }>('initialize', {
      processId: process.pid,
      rootUri: null,
      capabilities: {
        workspace: { configuration: true, inlayHint: { refreshSupport: true } },
        window: { workDoneProgress: true },
        textDocument: { inlayHint: {}, hover: { contentFormat: ['markdown', 'plaintext'] }, codeLens: {} },
      },
    });
    assert.ok(initialized.capabilities.inlayHintProvider, 'the server offers inlay hints');
    await connection.sendNotification('initialized', {});
    return client;
  }

  async open(path: string, text: string): Promise<string> {
    const uri = pathToFileURL(path).href;
    this.versions.set(uri, 1);
    await this.connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version: 1, text } });
    return uri;
  }

  async change(uri: string, text: string): Promise<void> {
    const version = (this.versions.get(uri) ?? 1) + 1;
    this.versions.set(uri, version);
    await this.connection.sendNotification('textDocument/didChange', { textDocument: { uri, version }, contentChanges: [{ text }] });
  }

  run(params: RunFunctionParams, token?: CancellationTokenSource): Promise<RunFunctionResult> {
    return token === undefined
      ? this.connection.sendRequest<RunFunctionResult>(RUN_FUNCTION_METHOD, params)
      : this.connection.sendRequest<RunFunctionResult>(RUN_FUNCTION_METHOD, params, token.token);
  }

  /** The error a run fails with (the test fails if the run succeeds). */
  async runError(params: RunFunctionParams): Promise<ResponseError<{ kind: string }>> {
    try {
      await this.run(params);
    } catch (error) {
      assert.ok(error instanceof ResponseError, `a ResponseError, not ${String(error)}`);
      return error as ResponseError<{ kind: string }>;
    }
    throw new Error('the run succeeded');
  }

  inlayHints(uri: string): Promise<InlayHint[] | null> {
    return this.connection.sendRequest('textDocument/inlayHint', {
      textDocument: { uri }, range: { start: { line: 0, character: 0 }, end: { line: PROGRAM_LINES.length, character: 0 } },
    });
  }

  hover(uri: string, line: number, character: number): Promise<Hover | null> {
    return this.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line, character } });
  }

  codeLenses(uri: string): Promise<CodeLens[] | null> {
    return this.connection.sendRequest('textDocument/codeLens', { textDocument: { uri } });
  }

  /** shutdown, then exit; resolves with the process's exit code (a server that does not exit is killed, and the test fails). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the server had already exited (${this.child.exitCode ?? this.child.signalCode})`);
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    const killer = setTimeout(() => this.child.kill('SIGKILL'), TIMEOUT);
    try {
      await this.connection.sendRequest('shutdown');
      await this.connection.sendNotification('exit');
      return await exited;
    } finally {
      clearTimeout(killer);
      this.connection.dispose();
    }
  }
}

function withoutCwmEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['CWM_ENDPOINT', 'CWM_TOKENIZER', 'CWM_API_KEY', 'CWM_DEBUG_PYTHON']) delete env[name];
  return env;
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Pids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while listing.
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function hintAt(hints: readonly InlayHint[], line: number): InlayHint | undefined {
  return hints.find((hint) => hint.position.line === line);
}

function markdown(value: InlayHint['tooltip'] | Hover['contents'] | undefined): string {
  assert.ok(value !== undefined && typeof value === 'object' && 'kind' in value, 'markdown content');
  assert.equal((value as MarkupContent).kind, 'markdown');
  return (value as MarkupContent).value;
}

/** Where `word` starts on a 0-based line of PROGRAM. */
function columnOf(line: number, word: string): number {
  const column = PROGRAM_LINES[line]!.indexOf(word);
  assert.ok(column >= 0, `${word} on line ${line}`);
  return column;
}

let codec: CwmTokenizer;
let tokenizerPath: string;
let workDir: string;
let programPath: string;
let replay: ReplayModel;
const servers = new Map<BackendKind, ProtocolServer>();

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'cwm-lsp-'));
  tokenizerPath = await writeTestTokenizer(workDir);
  codec = await loadTokenizer(tokenizerPath);
  programPath = join(workDir, 'inventory.py');
  writeFileSync(programPath, PROGRAM);
  replay = createReplayModel({ codec });
  await replay.prepare({ file: programPath, entry: 'total_price', args: '[3, 4], 2' });
  await replay.prepare({ file: programPath, entry: 'shout', args: "'ab'" });
  for (const protocol of ['vllm', 'fgserve'] as BackendKind[]) servers.set(protocol, await startProtocolServer({ protocol, codec, model: replay.model }));
}, { timeout: 120_000 });

after(async () => {
  for (const server of servers.values()) await server.close();
  codec.dispose();
}, { timeout: TIMEOUT });

function settingsFor(server: ProtocolServer, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpoints: [server.url], tokenizerPath, ...extra };
}

describe('endpoint transport policy', () => {
  test('plain http is accepted to loopback only, and refused elsewhere naming the setting', () => {
    for (const url of ['http://localhost:8000', 'http://LOCALHOST.:8000/v1', 'http://127.0.0.1:5678', 'http://127.8.9.10', 'http://127.1:80', 'http://[::1]:8000', 'http://[::ffff:127.0.0.1]:8000']) {
      assert.equal(endpointTransportProblem(url, false), undefined, url);
    }
    for (const url of ['http://10.0.0.5:8000', 'http://example.com', 'http://128.0.0.1', 'http://[::2]:8000', 'http://localhost.example.com', 'http://0.0.0.0:8000']) {
      const problem = endpointTransportProblem(url, false);
      assert.ok(problem?.includes('cwmDebug.allowInsecureHttp'), `${url}: ${problem}`);
      assert.equal(endpointTransportProblem(url, true), undefined, `${url} with allowInsecureHttp`);
    }
  });

  test('https is always accepted, and a refused URL never repeats its credentials', () => {
    assert.equal(endpointTransportProblem('https://cwm.example.com', false), undefined);
    const problem = endpointTransportProblem('http://user:s3cret-token@cwm.example.com:8000', false);
    assert.ok(problem !== undefined && !problem.includes('s3cret-token') && problem.includes('cwm.example.com:8000'), problem);
  });
});

describe('language server settings', () => {
  test('missing keys take their defaults; the environment stands in for endpoints, tokenizer and Python', () => {
    const settings = parseServerSettings({ tracer: { timeoutSeconds: 2.5 } }, { CWM_ENDPOINT: 'http://127.0.0.1:8000, http://127.0.0.1:8001', CWM_TOKENIZER: '/models/tokenizer.model', CWM_DEBUG_PYTHON: 'python3.12' });
    assert.deepEqual(settings, {
      endpoints: ['http://127.0.0.1:8000', 'http://127.0.0.1:8001'], backend: 'auto', tokenizerPath: '/models/tokenizer.model', temperature: 0,
      requestTimeoutMs: 600_000, pythonPath: 'python3.12', allowInsecureHttp: false,
      tracerLimits: { maxEvents: 100_000, timeoutMs: 2500, maxReprLength: 2000, maxOutputBytes: 1_000_000 },
    });
    const given = parseServerSettings({ endpoints: ['https://cwm.example.com'], tokenizerPath: '/t.model', pythonPath: '', seed: null, requestTimeoutSeconds: 5 }, { CWM_ENDPOINT: 'http://127.0.0.1:9', CWM_TOKENIZER: '/other' });
    assert.deepEqual([given.endpoints, given.tokenizerPath, given.pythonPath, given.seed, given.requestTimeoutMs], [['https://cwm.example.com'], '/t.model', undefined, undefined, 5000]);
  });

  test('a bad value is refused with a message naming the setting', () => {
    const cases: [unknown, RegExp][] = [
      [{ temperature: 'hot' }, /cwmDebug\.temperature must be a number from 0 to 2 \(it is "hot"\)/],
      [{ tracer: { maxEvents: 0 } }, /cwmDebug\.tracer\.maxEvents must be a whole number of at least 1/],
      [{ endpoints: ['http://127.0.0.1:8000', 3] }, /cwmDebug\.endpoints \(item 2\) must be a list of URLs/],
      [{ endpoints: 'http://127.0.0.1:8000' }, /cwmDebug\.endpoints must be a list of URLs/],
      [{ backend: 'gpt' }, /cwmDebug\.backend must be one of auto, fgserve, vllm, mlx, openai/],
      [{ contextTokens: 100 }, /cwmDebug\.contextTokens must be a whole number of at least 256/],
      [{ allowInsecureHttp: 'yes' }, /cwmDebug\.allowInsecureHttp must be true or false/],
    ];
    for (const [raw, message] of cases) assert.throws(() => parseServerSettings(raw, {}), message, JSON.stringify(raw));
  });
});

describe('function finder', () => {
  test('finds plain functions and methods by their entry names, and marks what the tracer cannot enter', () => {
    const found = findFunctions(PROGRAM);
    const byName = new Map(found.map((fn) => [fn.name, fn]));
    assert.deepEqual(found.filter((fn) => fn.unsupported === undefined).map((fn) => fn.name),
      ['total_price', 'shout', 'Basket.__init__', 'Basket.add', 'Basket.describe', 'outer', 'spin']);
    assert.match(byName.get('Basket.fetch')?.unsupported ?? '', /async/);
    assert.match(byName.get('inner')?.unsupported ?? '', /inside another function/);
    assert.match(byName.get('cached')?.unsupported ?? '', /decorated/);
    assert.equal(byName.has('not_a_function'), false, 'a def inside a string is not a function');
    assert.equal(byName.get('total_price')?.endLine, lineOf('return total'));
  });
});

describe('language server', { timeout: 180_000 }, () => {
  let client: TestClient;
  let uri: string;

  before(async () => {
    client = await TestClient.start();
    uri = await client.open(programPath, PROGRAM);
  });
  after(async () => {
    if (client.child.exitCode === null && client.child.signalCode === null) await client.stop();
  }, { timeout: TIMEOUT });

  test('code lenses: two per plain function and method, on the def line, with the lens command arguments', async () => {
    const lenses = (await client.codeLenses(uri)) ?? [];
    const expected = [
      ['total_price', 'def total_price'], ['shout', 'def shout'], ['Basket.__init__', 'def __init__'], ['Basket.add', 'def add'],
      ['Basket.describe', 'def describe'], ['outer', 'def outer'], ['spin', 'def spin'],
    ] as const;
    assert.equal(lenses.length, expected.length * 2);
    expected.forEach(([name, def], k) => {
      const line = lineOf(def);
      const [predict, compare] = [lenses[2 * k]!, lenses[2 * k + 1]!];
      assert.equal(predict.range.start.line, line);
      assert.equal(predict.range.start.character, PROGRAM_LINES[line]!.indexOf('def'));
      assert.equal(predict.command?.title, 'Predict trace');
      assert.equal(predict.command?.command, PREDICT_FUNCTION_COMMAND);
      assert.equal(compare.command?.title, 'Compare with real run');
      assert.equal(compare.command?.command, COMPARE_FUNCTION_COMMAND);
      const argument: FunctionLensArgument = { uri, functionName: name, line };
      assert.deepEqual(predict.command?.arguments, [argument]);
      assert.deepEqual(compare.command?.arguments, [argument]);
    });
  });

  for (const protocol of ['vllm', 'fgserve'] as BackendKind[]) {
    test(`predict over ${protocol}: inlay hints with each line's values, the refresh request, and progress`, async () => {
      client.settings = settingsFor(servers.get(protocol)!);
      const refreshes = client.refreshes;
      const token = `predict-${protocol}`;
      const result = await client.run({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true, workDoneToken: token });
      assert.equal(result.mode, 'predict');
      assert.equal(result.ended, true);
      assert.equal(result.steps, 13);
      assert.equal(result.firstDivergence, undefined);
      const oneBased = (text: string) => lineOf(text) + 1;
      assert.deepEqual(result.executedLines, ['def total_price', 'total = 0', 'for price', 'cost = price', 'if cost', 'total += cost', 'return total'].map(oneBased));
      await waitFor(() => client.refreshes > refreshes, 'an inlay hint refresh');

      const hints = (await client.inlayHints(uri)) ?? [];
      const labels = new Map(hints.map((hint) => [hint.position.line, hint.label]));
      assert.deepEqual(Object.fromEntries([...labels].map(([line, label]) => [PROGRAM_LINES[line]!.trim(), label])), {
        'def total_price(prices, quantity):': 'prices = [3, 4], quantity = 2',
        'total = 0': 'total = 0',
        'for price in prices:': 'price = 4',
        'cost = price * quantity': 'cost = 8',
        'total += cost': 'total = 14',
        'return total': 'return 14',
      });
      const addLine = lineOf('total += cost');
      const hint = hintAt(hints, addLine)!;
      assert.equal(hint.position.character, PROGRAM_LINES[addLine]!.length, 'at the end of the line');
      assert.equal(hint.paddingLeft, true);
      assert.equal(hint.kind, undefined);
      const tooltip = markdown(hint.tooltip);
      assert.match(tooltip, /runs 2 times/);
      assert.match(tooltip, /step 5: `total = 6`/);
      assert.match(tooltip, /step 9: `total = 14`/);
      assert.equal(hintAt(hints, lineOf('cost = 100')), undefined, 'no hint on a line that never ran');

      const mine = client.progress.filter((p) => p.token === token).map((p) => p.value);
      assert.equal(mine[0]?.kind, 'begin');
      assert.equal(mine[0]?.cancellable, true);
      assert.equal(mine[mine.length - 1]?.kind, 'end');
      assert.ok(mine.some((value) => value.kind === 'report' && /^13 frames predicted$/.test(value.message ?? '')), JSON.stringify(mine));
    });
  }

  test('hover: the predicted history of a local at a line, and a line that never runs', async () => {
    client.settings = settingsFor(servers.get('vllm')!);
    await client.run({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true });
    const addLine = lineOf('total += cost');
    const hover = await client.hover(uri, addLine, columnOf(addLine, 'total') + 2);
    const text = markdown(hover?.contents);
    assert.match(text, /`total` at line \d+/);
    assert.match(text, /CWM prediction/);
    assert.match(text, /step 5: `6`/);
    assert.match(text, /step 9: `14`/);
    assert.doesNotMatch(text, /Real run/, 'a prediction has no real run');
    assert.deepEqual(hover?.range, { start: { line: addLine, character: columnOf(addLine, 'total') }, end: { line: addLine, character: columnOf(addLine, 'total') + 5 } });

    const capLine = lineOf('cost = 100');
    const never = markdown((await client.hover(uri, capLine, columnOf(capLine, 'cost')))?.contents);
    assert.match(never, new RegExp(`line ${capLine + 1} never runs`));
    assert.equal(await client.hover(uri, lineOf('import time'), 8), null, 'no hover outside the traced code');
  });

  test('confidence over vllm: the injected wrong value is marked ⚠ in its hint and tooltip, the hover gives every value\'s confidence and the alternative', async () => {
    client.settings = settingsFor(servers.get('vllm')!);
    // Step 10 writes the `total` that `total += cost` (step 9) set: 15 instead of 14, a value the replay model is unsure of.
    replay.setCorruptions([{ kind: 'wrong-value', step: 10, variable: 'total', value: '15' }]);
    try {
      await client.run({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true });
    } finally {
      replay.setCorruptions([]);
    }
    const hints = (await client.inlayHints(uri)) ?? [];
    const addLine = lineOf('total += cost');
    const marked = hints.filter((hint) => String(hint.label).includes('⚠')).map((hint) => [hint.position.line, hint.label]);
    assert.deepEqual(marked, [[addLine, 'total = 15 ⚠ 30%']]);
    const tooltip = markdown(hintAt(hints, addLine)!.tooltip);
    assert.match(tooltip, /step 5: `total = 6`\n- step 9: `total = 15 ⚠ 30%`/);
    const hover = markdown((await client.hover(uri, addLine, columnOf(addLine, 'total') + 1))?.contents);
    assert.match(hover, /step 5: `6` · 99%/);
    assert.match(hover, /step 9: `15` ⚠ 30% \(the model also weighed `14` 60%\)/);
  });

  test('predict with arguments starts from them; long values are cut in the hint, whole in the tooltip', async () => {
    client.settings = settingsFor(servers.get('fgserve')!);
    const result = await client.run({ uri, functionName: 'shout', mode: 'predict', args: "'ab'", allowExecution: true });
    assert.equal(result.ended, true);
    const hints = (await client.inlayHints(uri)) ?? [];
    const label = hintAt(hints, lineOf('text = word * 50'))?.label;
    assert.equal(typeof label, 'string');
    assert.ok((label as string).length <= 60 && (label as string).endsWith('…') && (label as string).startsWith("text = 'abab"), String(label));
    assert.match(markdown(hintAt(hints, lineOf('text = word * 50'))!.tooltip), new RegExp(`'${'ab'.repeat(50)}'`));
    assert.equal(hintAt(hints, lineOf('def shout'))?.label, "word = 'ab'");
  });

  for (const protocol of ['vllm', 'fgserve'] as BackendKind[]) {
    test(`compare over ${protocol} with a wrong value injected: an Information diagnostic at that step's line`, async () => {
      client.settings = settingsFor(servers.get(protocol)!);
      replay.setCorruptions([{ kind: 'wrong-value', step: 9, variable: 'total', value: '999' }]);
      let result: RunFunctionResult;
      try {
        result = await client.run({ uri, functionName: 'total_price', mode: 'compare', args: '[3, 4], 2', allowExecution: true });
      } finally {
        replay.setCorruptions([]);
      }
      const addLine = lineOf('total += cost');
      assert.equal(result.mode, 'compare');
      assert.deepEqual(result.firstDivergence, { step: 9, line: addLine + 1, message: 'step 9: total is 999 in the prediction but 6 in the real run' });
      assert.ok(result.scores !== undefined && result.scores.action.rate === 1, JSON.stringify(result.scores?.action));
      assert.ok(result.scores.stateByFrame.matched < result.scores.stateByFrame.total);
      const diagnostics = client.diagnostics.get(uri) ?? [];
      assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
      const [diagnostic] = diagnostics;
      assert.equal(diagnostic!.severity, 3, 'Information');
      assert.equal(diagnostic!.source, 'cwm');
      assert.equal(diagnostic!.range.start.line, addLine);
      const message = diagnostic!.message;
      assert.equal(typeof message, 'string');
      assert.match(message as string, /^First divergence: /);
      assert.match(message as string, /total is 999 in the prediction but 6 in the real run/);

      const hover = markdown((await client.hover(uri, addLine, columnOf(addLine, 'total')))?.contents);
      assert.match(hover, /CWM prediction:[\s\S]*step 9: `14`/);
      assert.match(hover, /Real run:[\s\S]*step 5: `6`[\s\S]*step 9: `14`/);
    });
  }

  test('a compare that matches the real run leaves no diagnostics; an edit clears hints, hovers and diagnostics', async () => {
    client.settings = settingsFor(servers.get('vllm')!);
    replay.setCorruptions([{ kind: 'wrong-value', step: 5, variable: 'total', value: '-1' }]);
    try {
      await client.run({ uri, functionName: 'total_price', mode: 'compare', args: '[3, 4], 2', allowExecution: true });
    } finally {
      replay.setCorruptions([]);
    }
    assert.equal(client.diagnostics.get(uri)?.length, 1);
    assert.ok(((await client.inlayHints(uri)) ?? []).length > 0);

    const refreshes = client.refreshes;
    await client.change(uri, `# edited\n${PROGRAM}`);
    await waitFor(() => client.diagnostics.get(uri)?.length === 0, 'the diagnostics to be cleared');
    await waitFor(() => client.refreshes > refreshes, 'an inlay hint refresh after the edit');
    assert.deepEqual((await client.inlayHints(uri)) ?? [], []);
    assert.equal(await client.hover(uri, lineOf('total += cost') + 1, columnOf(lineOf('total += cost'), 'total')), null);
    await client.change(uri, PROGRAM);

    const result = await client.run({ uri, functionName: 'total_price', mode: 'compare', args: '[3, 4], 2', allowExecution: true });
    assert.equal(result.firstDivergence, undefined);
    assert.equal(result.scores?.stateByFrame.rate, 1);
    assert.deepEqual(client.diagnostics.get(uri) ?? [], []);
  });

  test('cwm/clearPredictions (sent when a debug session starts) clears every document\'s hints, hovers and diagnostics', async () => {
    client.settings = settingsFor(servers.get('vllm')!);
    replay.setCorruptions([{ kind: 'wrong-value', step: 5, variable: 'total', value: '-1' }]);
    try {
      await client.run({ uri, functionName: 'total_price', mode: 'compare', args: '[3, 4], 2', allowExecution: true });
    } finally {
      replay.setCorruptions([]);
    }
    assert.equal(client.diagnostics.get(uri)?.length, 1);
    assert.ok(((await client.inlayHints(uri)) ?? []).length > 0);
    const refreshes = client.refreshes;
    await client.connection.sendNotification(CLEAR_PREDICTIONS_METHOD);
    await waitFor(() => client.diagnostics.get(uri)?.length === 0, 'the diagnostics to be cleared');
    await waitFor(() => client.refreshes > refreshes, 'an inlay hint refresh after the clear');
    assert.deepEqual((await client.inlayHints(uri)) ?? [], []);
    assert.equal(await client.hover(uri, lineOf('total += cost') + 1, columnOf(lineOf('total += cost'), 'total')), null);
  });

  test('cancelling a prediction ends the request promptly and leaves no connection open', async () => {
    const server = servers.get('vllm')!;
    client.settings = settingsFor(server);
    server.faults.tokenLatencyMs = 30;
    const source = new CancellationTokenSource();
    const token = 'cancel-predict';
    try {
      const running = client.run({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true, workDoneToken: token }, source);
      running.catch(() => undefined);
      await waitFor(() => client.progress.some((p) => p.token === token && /frames? predicted/.test(p.value.message ?? '')), 'a first predicted frame');
      source.cancel();
      await assert.rejects(running, (error: unknown) => error instanceof ResponseError && error.code === -32800);
      assert.ok(await server.waitFor(() => server.openConnections() === 0, 5000), 'no connection left open');
      assert.equal(client.progress.filter((p) => p.token === token).pop()?.value.kind, 'end');
    } finally {
      server.faults.tokenLatencyMs = 0;
    }
  });

  test('cancelling a comparison stops the real run: no process is left', async () => {
    client.settings = settingsFor(servers.get('vllm')!);
    const pidFile = join(workDir, 'spin.pid');
    const source = new CancellationTokenSource();
    const running = client.run({ uri, functionName: 'spin', mode: 'compare', args: JSON.stringify(pidFile), allowExecution: true }, source);
    running.catch(() => undefined);
    await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 'the program to start');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(alive(pid));
    source.cancel();
    await assert.rejects(running, (error: unknown) => error instanceof ResponseError && error.code === -32800);
    await waitFor(() => !alive(pid), 'the traced program to end', 5000);
    assert.deepEqual(childrenOf(client.child.pid!), []);
  });

  test('errors say what happened and what to do', async () => {
    const vllm = servers.get('vllm')!;
    const base = { uri, functionName: 'total_price', allowExecution: true } as const;

    client.settings = { endpoints: [], tokenizerPath };
    let error = await client.runError({ ...base, mode: 'predict' });
    assert.equal(error.data?.kind, 'no-endpoint');
    assert.match(error.message, /cwmDebug\.endpoints/);

    const port = await closedPort();
    client.settings = { endpoints: [`http://127.0.0.1:${port}`], tokenizerPath };
    error = await client.runError({ ...base, mode: 'predict', apiKey: 'sk-never-shown-42' });
    assert.equal(error.data?.kind, 'endpoint');
    assert.match(error.message, /connection refused/);
    assert.match(error.message, /cwmDebug\.endpoints/);

    client.settings = { endpoints: ['http://192.0.2.10:8000'], tokenizerPath };
    const before = vllm.requests.length;
    error = await client.runError({ ...base, mode: 'predict' });
    assert.equal(error.data?.kind, 'insecure-endpoint');
    assert.match(error.message, /cwmDebug\.allowInsecureHttp/);

    client.settings = settingsFor(vllm, { temperature: 'hot' });
    error = await client.runError({ ...base, mode: 'predict' });
    assert.equal(error.data?.kind, 'settings');
    assert.match(error.message, /cwmDebug\.temperature/);

    client.settings = settingsFor(vllm, { tokenizerPath: join(workDir, 'missing', 'tokenizer.model') });
    error = await client.runError({ ...base, mode: 'predict' });
    assert.equal(error.data?.kind, 'tokenizer');
    assert.match(error.message, /Tokenizer not found/);

    client.settings = settingsFor(vllm);
    error = await client.runError({ ...base, mode: 'compare' });
    assert.equal(error.data?.kind, 'needs-arguments');
    assert.match(error.message, /needs arguments \(prices, quantity\)/);

    error = await client.runError({ ...base, mode: 'compare', args: '[1], 2', python: join(workDir, 'no-such-python') });
    assert.equal(error.data?.kind, 'python');
    assert.match(error.message, /Python not found/);

    await client.change(uri, `${PROGRAM}\n# not saved yet\n`);
    error = await client.runError({ ...base, mode: 'compare', args: '[1], 2' });
    assert.equal(error.data?.kind, 'unsaved');
    assert.match(error.message, /unsaved changes/);
    await client.change(uri, PROGRAM);

    error = await client.runError({ ...base, functionName: 'inner', mode: 'predict' });
    assert.equal(error.data?.kind, 'no-function');
    assert.equal(vllm.requests.length, before, 'none of these reached the endpoint');

    for (const message of [...client.logs, ...client.stderr]) assert.ok(!message.includes('sk-never-shown-42'), 'the API key is never logged');
  });

  test('an untrusted workspace refuses to compare, and nothing of the program runs', async () => {
    const markerPath = join(workDir, 'marker.py');
    writeFileSync(markerPath, MARKER_PROGRAM);
    const markerUri = await client.open(markerPath, MARKER_PROGRAM);
    client.settings = settingsFor(servers.get('vllm')!);
    const error = await client.runError({ uri: markerUri, functionName: 'f', mode: 'compare', allowExecution: false });
    assert.equal(error.data?.kind, 'untrusted');
    assert.match(error.message, /not trusted/);
    assert.equal(existsSync(join(workDir, 'ran.txt')), false, 'the program was not run');
    // Predict arguments are read without Python, so an untrusted workspace may give them; they are still checked.
    const args = await client.runError({ uri: markerUri, functionName: 'f', mode: 'predict', args: '1', allowExecution: false });
    assert.equal(args.data?.kind, 'bad-arguments');
    assert.match(args.message, /do not fit f: too many positional arguments/);
    assert.equal(existsSync(join(workDir, 'ran.txt')), false, 'the program was not run');
  });

  test('shutdown and exit end the server with code 0', async () => {
    const code = await client.stop();
    assert.equal(code, 0);
  });
});

describe('language server settings from the environment', { timeout: 60_000 }, () => {
  test('CWM_ENDPOINT and CWM_TOKENIZER stand in for missing settings', async () => {
    const env = { ...withoutCwmEnvironment(), CWM_ENDPOINT: servers.get('fgserve')!.url, CWM_TOKENIZER: tokenizerPath };
    const client = await TestClient.start(env);
    try {
      const uri = await client.open(programPath, PROGRAM);
      client.settings = {};
      const result = await client.run({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true });
      assert.equal(result.steps, 13);
    } finally {
      assert.equal(await client.stop(), 0);
    }
  });
});

describe('language server transports and API key', { timeout: 60_000 }, () => {
  test('--node-ipc works as well as --stdio', async () => {
    const child = fork(SERVER, ['--node-ipc'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: withoutCwmEnvironment() });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    connection.listen();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const initialized = await connection.sendRequest<{ capabilities: Record<string, unknown> }>('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    assert.deepEqual(initialized.capabilities.codeLensProvider, { resolveProvider: false });
    await connection.sendNotification('initialized', {});
    const uri = pathToFileURL(programPath).href;
    await connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'python', version: 1, text: PROGRAM } });
    const lenses = await connection.sendRequest<CodeLens[]>('textDocument/codeLens', { textDocument: { uri } });
    assert.equal(lenses.length, 14);
    await connection.sendRequest('shutdown');
    await connection.sendNotification('exit');
    assert.equal(await exited, 0);
    connection.dispose();
  });

  test('the API key of the request reaches the endpoint and never a message', async () => {
    const guarded = await startProtocolServer({ protocol: 'vllm', codec, model: replay.model, requireApiKey: 'sk-lsp-secret-7' });
    const client = await TestClient.start();
    try {
      const uri = await client.open(programPath, PROGRAM);
      client.settings = settingsFor(guarded);
      const result = await client.run({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true, apiKey: 'sk-lsp-secret-7' });
      assert.equal(result.steps, 13);
      assert.ok(guarded.requests.some((request) => request.method === 'POST' && request.headers.authorization === 'Bearer sk-lsp-secret-7'));
      const error = await client.runError({ uri, functionName: 'total_price', mode: 'predict', allowExecution: true, apiKey: 'sk-wrong-key-9' });
      assert.equal(error.data?.kind, 'endpoint');
      assert.match(error.message, /HTTP 401/);
      for (const text of [error.message, ...client.logs, ...client.stderr]) {
        assert.ok(!text.includes('sk-lsp-secret-7') && !text.includes('sk-wrong-key-9'), 'the API key is never logged');
      }
    } finally {
      assert.equal(await client.stop(), 0);
      await guarded.close();
    }
  });
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
