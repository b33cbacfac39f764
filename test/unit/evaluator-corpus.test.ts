// Must-show 2 of issue 11: a grammar-generated corpus of escape attempts (generator and frame attribute chains, format
// strings, f-strings, dunder routes, walrus, lambdas, comprehensions) never creates a file, reads the environment,
// opens a socket or starts a process, checked by tripwires; the README's documented expressions keep working.
// npm test runs a deterministic sample; CWM_EVALUATOR_CORPUS=full runs all 10,000 (or CWM_EVALUATOR_CORPUS=<count>).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FrameEvaluator } from '../../server/values/evaluator';
import { localsOf, type Locals } from '../../server/trace/model';
import { repoRoot } from '../helpers/paths';

const FULL_SIZE = 10_000;
const SAMPLE_SIZE = 2_000;
const requested = process.env.CWM_EVALUATOR_CORPUS;
const CORPUS_SIZE = requested === 'full' ? FULL_SIZE : requested && /^\d+$/.test(requested) ? Number(requested) : SAMPLE_SIZE;

const work = mkdtempSync(join(tmpdir(), 'cwm-evaluator-corpus-'));
const MARKER = join(work, 'marker');
const CANARY_NAME = 'CWM_CORPUS_CANARY';
const CANARY = `corpus-canary-${process.pid}`;

/** Deterministic pseudo-random numbers (mulberry32), so a failing expression can be regenerated from its index. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The grammar of attacks: every production mixes harmless pieces with routes that reach the interpreter in CPython. */
function corpus(size: number, port: number): string[] {
  const next = random(11);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const chance = (p: number) => next() < p;

  const LOCALS = ['x', 's', 'd', 'n', 'f', 't', 'p', 'fn', 'gen', 'cls', 'mod', 'nested', 'cut'];
  const FORBIDDEN_NAMES = ['__import__', 'open', 'eval', 'exec', 'compile', 'getattr', 'setattr', 'globals', 'locals', 'vars', 'dir', 'os', 'sys',
    'subprocess', 'socket', '__builtins__', 'breakpoint', 'input', 'print', 'help', 'memoryview', 'classmethod', 'staticmethod', 'super', 'property', '__loader__', '__spec__'];
  const BUILTINS = ['len', 'sorted', 'str', 'repr', 'type', 'format', 'list', 'dict', 'tuple', 'set', 'iter', 'next', 'map', 'filter', 'zip', 'enumerate', 'sum', 'min', 'max',
    'isinstance', 'callable', 'object', 'int', 'bytes', 'range', 'slice', 'reversed'];
  const FRAME_ATTRS = ['gi_frame', 'gi_code', 'gi_yieldframe', 'cr_frame', 'ag_frame', 'tb_frame', 'tb_next', 'f_back', 'f_globals', 'f_locals', 'f_builtins', 'f_code', 'f_trace'];
  const DUNDERS = ['__class__', '__base__', '__bases__', '__mro__', '__subclasses__', '__init__', '__globals__', '__dict__', '__code__', '__closure__', '__func__', '__self__',
    '__module__', '__builtins__', '__getattribute__', '__reduce__', '__reduce_ex__', '__import__', '__loader__', '__spec__', '__call__', '__format__', '__getitem__', '__wrapped__', '__defaults__', '__kwdefaults__'];
  const PLAIN_ATTRS = ['co_consts', 'co_names', 'mro', 'environ', 'system', 'popen', 'fork', 'spawnv', 'getenv', 'modules', 'upper', 'format', 'format_map', 'join', 'keys', 'get',
    'items', 'real', 'imag', 'append', 'copy', 'bit_length', 'maxlen', 'default_factory', 'x', 'y', 'send', 'throw', 'close', '_getframe', 'exc_info', 'load_module', 'get_data'];
  const PAYLOAD_CALLS = [
    `system('touch ${MARKER}')`, `popen('touch ${MARKER}')`, `open('${MARKER}', 'w')`, `getenv('${CANARY_NAME}')`, `environ['${CANARY_NAME}']`,
    `create_connection(('127.0.0.1', ${port}))`, `connect(('127.0.0.1', ${port}))`, `write_text('x')`, `exec('import os')`, `run(['touch', '${MARKER}'])`,
  ];
  const PAYLOADS = [
    `__import__('os').system('touch ${MARKER}')`,
    `__import__('os').environ['${CANARY_NAME}']`,
    `__import__('socket').create_connection(('127.0.0.1', ${port}))`,
    `open('${MARKER}', 'w').write('x')`,
    `__import__('pathlib').Path('${MARKER}').touch()`,
    `__import__('subprocess').run(['touch', '${MARKER}'])`,
    `eval("__import__('os').system('touch ${MARKER}')")`,
    `exec("open('${MARKER}', 'w')")`,
    `getattr(__builtins__, 'open')('${MARKER}', 'w')`,
    `[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0](['touch', '${MARKER}'])`,
    `[(g := (g.gi_frame.f_back.f_back.f_globals for _ in [0])), next(g)][1]['os'].system('touch ${MARKER}')`,
    `(lambda: 0).__globals__['__builtins__']['open']('${MARKER}', 'w')`,
    `'{0.__class__.__init__.__globals__[os].environ[${CANARY_NAME}]}'.format(x)`,
    `'{0._' '_init_' '_._' '_globals_' '_}'.format(fn)`,
    `f'{gen.gi_frame.f_globals}'`,
    `type(x)('${MARKER}')`,
    `().__class__.__bases__[0].__subclasses__()`,
    `x.__class__.__mro__[-1].__subclasses__()`,
    `[v for v in (lambda: (yield))().gi_frame.f_back.f_globals]`,
  ];

  const obfuscated = (name: string): string => {
    // Builds the name from pieces so no source text contains it whole (defeats "__" string checks).
    if (name.length < 4 || !chance(0.5)) return `'${name}'`;
    const cut = 1 + Math.floor(next() * (name.length - 2));
    return `'${name.slice(0, cut)}' '${name.slice(cut)}'`;
  };

  const atom = (depth: number): string => {
    switch (Math.floor(next() * 12)) {
      case 0:
      case 1:
        return pick(LOCALS);
      case 2:
        return pick(FORBIDDEN_NAMES);
      case 3:
        return pick(BUILTINS);
      case 4:
        return `(${pick(['v', 'v.gi_frame', 'v.__class__', '0'])} for v in ${pick(['[0]', 'x', 'range(3)', 's'])})`;
      case 5:
        return `(lambda ${pick(['', 'a', '*a', '*a, **k', 'a=0'])}: ${depth > 2 ? '0' : expression(depth + 1)})`;
      case 6:
        return pick(["''", '""', '0', '1', '()', '[]', '{}', 'None', 'True', "b''", '...', '1.5', "'%s'", "'{}'", "'{0}'"]);
      case 7:
        return `(${depth > 2 ? pick(LOCALS) : expression(depth + 1)})`;
      case 8:
        return pick(PAYLOADS);
      case 9:
        return `(${pick(['g', 'h', 'k'])} := ${depth > 2 ? pick(LOCALS) : expression(depth + 1)})`;
      case 10:
        return `[${depth > 2 ? 'v' : expression(depth + 1)} for v in ${pick(LOCALS)}${chance(0.3) ? ' if v' : ''}]`;
      default:
        return `{${pick(['k', "'k'"])}: v for k, v in ${pick(['d.items()', 'enumerate(x)', 'zip(s, s)', 'vars(x).items()'])}}`;
    }
  };

  const trailer = (base: string, depth: number): string => {
    switch (Math.floor(next() * 9)) {
      case 0:
      case 1:
        return `${base}.${pick(FRAME_ATTRS)}`;
      case 2:
      case 3:
        return `${base}.${pick(DUNDERS)}`;
      case 4:
        return `${base}.${pick(PLAIN_ATTRS)}`;
      case 5:
        return `${base}.${pick(PAYLOAD_CALLS)}`;
      case 6:
        return `${base}[${pick(["'os'", "'__builtins__'", "'open'", '0', '-1', "'sys'", `'${CANARY_NAME}'`, '::-1', "'__import__'"])}]`;
      case 7:
        return `${base}(${depth > 2 ? '' : pick(['', expression(depth + 1), `'${MARKER}'`, `'${MARKER}', 'w'`, "'os'"])})`;
      default:
        return `next(iter(${base}))`;
    }
  };

  const formatting = (depth: number): string => {
    const target = depth > 2 ? pick(LOCALS) : expression(depth + 1);
    const chain = Array.from({ length: 1 + Math.floor(next() * 3) }, () => `.${pick([...DUNDERS, ...FRAME_ATTRS])}`).join('');
    switch (Math.floor(next() * 8)) {
      case 0:
        return `'{0${chain}}'.format(${target})`;
      case 1:
        return `'{0${chain}[${pick(['os', '__builtins__', CANARY_NAME, 'open'])}]}'.format(${target})`;
      case 2:
        return `f'{${target}${chain}}'`;
      case 3:
        return `f'{${target}!r:>{${pick(['3', 'len(s)', 'n'])}}}'`;
      case 4:
        return `'{x${chain}}'.format_map({'x': ${target}})`;
      case 5:
        return `format(${target}, ${pick(["'>10'", "'{0.__class__}'", "'%s'", "''", "'x'"])})`;
      case 6:
        return `'%s %r' % (${target}, ${pick(LOCALS)})`;
      default:
        return `(${obfuscated('{0._')} ${obfuscated('_' + pick(['class', 'init', 'globals', 'dict']) + '_')} '_}').format(${target})`;
    }
  };

  function expression(depth: number): string {
    if (depth > 4) return pick(LOCALS);
    switch (Math.floor(next() * 10)) {
      case 0:
      case 1:
      case 2: {
        let base = atom(depth);
        for (let i = Math.floor(next() * 4); i > 0; i--) base = trailer(base, depth);
        return base;
      }
      case 3:
      case 4:
        return formatting(depth);
      case 5:
        return `${atom(depth)} ${pick(['+', 'and', 'or', '==', 'in', '%', '*', 'if x else'])} ${atom(depth)}`;
      case 6:
        return `getattr(${atom(depth)}, ${obfuscated(pick([...DUNDERS, ...FRAME_ATTRS]))})`;
      case 7:
        return `[${pick(['(g := ' + atom(depth) + ')', atom(depth)])}, next(${pick(['g', 'iter(x)', '(v for v in [0])'])})][${pick(['0', '1', '-1'])}]`;
      case 8:
        return pick(PAYLOADS);
      default:
        return `${trailer(atom(depth), depth)}.${pick(PAYLOAD_CALLS)}`;
    }
  }

  const out: string[] = [];
  for (let i = 0; i < size; i++) out.push(expression(0));
  return out;
}

/** Frame values of the kinds a trace holds, real objects (generators, functions, modules, classes) only as text. */
const LOCALS: Locals = localsOf([
  ['x', '[1, 2, 3]'],
  ['s', "'abc'"],
  ['d', "{'a': 1, 'os': 2}"],
  ['n', '5'],
  ['f', '2.5'],
  ['t', "(1, 'two')"],
  ['p', 'Point(x=1, y=2)'],
  ['fn', '<function main.<locals>.helper>'],
  ['gen', '<generator object counter>'],
  ['cls', "<class '__main__.Point'>"],
  ['mod', "<module 'os' (frozen)>"],
  ['nested', "{'k': [Point(x=3, y=4), {'z': None}]}"],
  ['cut', '[1, 2, 3…<truncated>'],
]);

interface Tripwires {
  readonly envReads: string[];
  readonly processCalls: string[];
  connections: number;
}

describe('evaluator corpus against tripwires', { timeout: 600_000 }, () => {
  let listener: Server;
  let port = 0;
  const tripwires: Tripwires = { envReads: [], processCalls: [], connections: 0 };
  const realEnv = process.env;
  const childProcess = createRequire(__filename)('node:child_process') as Record<string, unknown>;
  const originals = new Map<string, unknown>();
  const PROCESS_FUNCTIONS = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];

  /** Runs `body` with the environment and process tripwires armed: any read of process.env or any process start is recorded. */
  async function armed<T>(body: () => Promise<T>): Promise<T> {
    const watchedEnv = new Proxy(realEnv, {
      get(target, key, receiver) {
        tripwires.envReads.push(String(key));
        return Reflect.get(target, key, receiver);
      },
      has(target, key) {
        tripwires.envReads.push(String(key));
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        tripwires.envReads.push('<all names>');
        return Reflect.ownKeys(target);
      },
    });
    process.env = watchedEnv;
    for (const name of PROCESS_FUNCTIONS) {
      childProcess[name] = (...args: unknown[]) => {
        tripwires.processCalls.push(`${name} ${JSON.stringify(args).slice(0, 200)}`);
        throw new Error('tripwire: no process may start during an evaluation');
      };
    }
    try {
      return await body();
    } finally {
      process.env = realEnv;
      for (const name of PROCESS_FUNCTIONS) childProcess[name] = originals.get(name);
    }
  }

  before(async () => {
    realEnv[CANARY_NAME] = CANARY;
    for (const name of PROCESS_FUNCTIONS) originals.set(name, childProcess[name]);
    listener = createServer((socket) => {
      tripwires.connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
  });

  after(async () => {
    delete realEnv[CANARY_NAME];
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  test('the tripwires fire when something does touch the file, the environment, the socket or a process', async () => {
    const seen = { envReads: tripwires.envReads.length, processCalls: tripwires.processCalls.length, connections: tripwires.connections };
    await armed(async () => {
      assert.equal(process.env[CANARY_NAME], CANARY);
      assert.throws(() => (childProcess.spawn as (command: string) => void)('true'), /tripwire/);
    });
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()).once('error', () => resolve()));
    while (tripwires.connections === seen.connections) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(tripwires.envReads.length > seen.envReads);
    assert.ok(tripwires.processCalls.length > seen.processCalls);
    const controlFile = join(work, 'control');
    writeFileSync(controlFile, 'x');
    assert.ok(existsSync(controlFile));
    // Reset: the control's own traces must not count against the corpus.
    tripwires.envReads.length = 0;
    tripwires.processCalls.length = 0;
    tripwires.connections = 0;
  });

  test(`${CORPUS_SIZE.toLocaleString('en-US')} generated escape attempts create no file, read no environment, open no socket, start no process`, async (t) => {
    const expressions = corpus(CORPUS_SIZE, port);
    assert.equal(new Set(expressions).size > CORPUS_SIZE * 0.8, true, 'the grammar produced too few distinct expressions');
    const evaluator = new FrameEvaluator();
    const outcomes = new Map<string, number>();
    const leaks: string[] = [];
    const started = Date.now();
    await armed(async () => {
      for (const [index, expression] of expressions.entries()) {
        const result = await evaluator.evaluate(expression, LOCALS);
        const condition = await evaluator.evaluateCondition(expression, LOCALS);
        const log = index % 4 === 0 ? await evaluator.interpolateLogMessage(`v={${expression}}`, LOCALS) : '';
        const text = `${result.ok ? result.repr : result.error} ${JSON.stringify(condition)} ${log}`;
        if (text.includes(CANARY)) leaks.push(`#${index} ${expression}`);
        const kind = result.ok ? 'value' : (/^(\w+Error|[a-z]\w* exists only as text|The evaluation was stopped)/.exec(result.error)?.[1] ?? result.error.slice(0, 40));
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
        if (existsSync(MARKER)) assert.fail(`expression #${index} created the marker file: ${expression}`);
      }
    });
    // Give a connection attempt time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 100));
    t.diagnostic(`${expressions.length} expressions in ${Date.now() - started} ms; outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])))}`);
    assert.deepEqual(leaks, [], 'the canary value appeared in an answer');
    assert.deepEqual(tripwires.envReads, [], 'process.env was read during evaluation');
    assert.deepEqual(tripwires.processCalls, [], 'a process was started during evaluation');
    assert.equal(tripwires.connections, 0, 'the loopback listener was connected to');
    assert.equal(existsSync(MARKER), false);
    assert.ok((outcomes.get('value') ?? 0) > 0, 'no expression of the corpus evaluated at all: the grammar is broken');
  });

  test('the evaluator modules import nothing that reaches outside (no Node API, no process, file or network module)', () => {
    const modules = ['evaluator.ts', 'py-interpret.ts', 'py-values.ts', 'py-parse.ts', 'pyrepr.ts'];
    const allowed = new Set(['../trace/model', './pyrepr', './py-parse', './py-values', './py-interpret']);
    for (const module of modules) {
      const source = readFileSync(join(repoRoot, 'server', 'values', module), 'utf8');
      const imports = [...source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((match) => match[1]!);
      assert.deepEqual(imports.filter((name) => !allowed.has(name)), [], `${module} imports more than the value modules`);
      assert.doesNotMatch(source, /\brequire\(|\bimport\(|process\.env|globalThis|new Function\b/, `${module} reaches the runtime`);
    }
  });

  test("the README's documented expressions give the documented answers", async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = /### Expressions[^\n]*\n([\s\S]*?)\n### /.exec(readme)?.[1];
    assert.ok(section, 'README has no "### Expressions" section');
    const block = /```text\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'the README section has no example block');
    const values = /With (.*?):\n\n```text/.exec(section)?.[1];
    assert.ok(values, 'the README section does not say which values the examples use');
    const locals = localsOf([...values.matchAll(/`(\w+) = ([^`]+)`/g)].map((match) => [match[1]!, match[2]!] as const));
    const evaluator = new FrameEvaluator();
    const examples = block.split('\n').filter((line) => line.includes('→'));
    assert.ok(examples.length >= 15, `only ${examples.length} examples`);
    for (const line of examples) {
      const [expression, expected] = line.split('→').map((part) => part.trim()) as [string, string];
      const result = await evaluator.evaluate(expression, locals);
      assert.equal(result.ok ? result.repr : `error: ${result.error}`, expected, expression);
    }
  });
});
