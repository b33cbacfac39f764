// The symbolic checker on hand-written programs: real traces under every Python 3.8–3.13 here are never marked, and
// injected impossible lines and locals are marked with the exact reason (and only that frame).

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkTrace, FlowChecker, IMPOSSIBLE_LINE, IMPOSSIBLE_LOCAL, isMarkedImpossible } from '../../server/engine/flow-check';
import { loadFlowFacts, type FlowFacts } from '../../server/engine/flow-facts';
import type { Trace, TraceFrame } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { availablePythons, missingPythons } from '../helpers/pythons';

/** Programs that exercise every construct whose line events differ between versions; each is called as f(args). */
export const FLOW_PROGRAMS: readonly { name: string; args: string; code: string }[] = [
  { name: 'loops', args: '[3, 0, 4, 7, 2]', code: `
def f(xs):
    total = 0
    for x in xs:
        if x == 0:
            continue
        if x > 6:
            break
        total += x
    else:
        total = -1
    n = 3
    while n:
        n -= 1
        if n == 1:
            continue
        total += n
    while True:
        total += 1
        if total > 20:
            break
    return total
` },
  { name: 'try', args: '[1, 0, "a", 2]', code: `
import contextlib

def g(x):
    if x == 0:
        raise ValueError('zero')
    return 10 // x

def f(xs):
    out = []
    for x in xs:
        try:
            out.append(g(x) + 1)
        except ValueError as e:
            out.append(str(e))
            continue
        except TypeError:
            out.append('type')
        else:
            out.append('ok')
        finally:
            out.append('finally')
    with contextlib.suppress(KeyError):
        out.append({}['missing'])
    try:
        try:
            return h(out)
        finally:
            out.append('inner')
    except NameError:
        pass
    return out

def h(out):
    try:
        return len(out)
    finally:
        out.append('h')
` },
  { name: 'with', args: '3', code: `
class Box:
    def __init__(self, log):
        self.log = log

    def __enter__(self):
        self.log.append('enter')
        return self

    def __exit__(self, *exc):
        self.log.append('exit')
        return False

def f(n):
    log = []
    for i in range(n):
        with Box(log) as box:
            if i == 1:
                continue
            box.log.append(i)
            if i == 2:
                break
    with Box(log):
        log.append('last')
    return log
` },
  { name: 'generators', args: '4', code: `
def gen(n):
    for i in range(n):
        received = yield i * 2
        if received:
            yield -1

def inner():
    yield 'a'
    yield 'b'
    return 'done'

def outer():
    result = yield from inner()
    yield result

def f(n):
    g = gen(n)
    first = next(g)
    again = g.send(True)
    rest = list(g)
    squares = [y * y for y in gen(n) if y]
    pairs = {k: v
             for k, v in zip(range(n), outer())}
    total = sum(x for x in range(n))
    return first, again, rest, squares, pairs, total
` },
  { name: 'recursion', args: '5', code: `
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + \\
        fib(n - 2)

def f(n):
    memo = {}
    def cached(k):
        if k in memo:
            return memo[k]
        memo[k] = value = fib(k)
        return value
    values = sorted([cached(k) for k in range(n)],
                    key=lambda v: -v)
    return values
` },
  { name: 'nested', args: '"abc"', code: `
def deco(fn):
    def wrapper(*args):
        return fn(*args).upper()
    return wrapper

@deco
def shout(text):
    return text + '!'

class Counter:
    count = 0

    def bump(self, by=1):
        self.count += by
        return self.count

def f(s):
    counter = Counter()
    counter.bump()
    counter.bump(by=2)
    def tag(x):
        nonlocal s
        s = s + x
        return s
    tag('-')
    result = shout(
        s,
    )
    assert result
    if (len(result) > 2 and
            result[0] == 'A'):
        result = result.lower()
    elif result:
        pass
    else:
        result = None
    return result, counter.count
` },
  { name: 'raises', args: '2', code: `
def f(n):
    data = [n]
    try:
        data.append(1 / (n - 2))
    except ZeroDivisionError:
        data.append('div')
        raise KeyError(n) from None
    finally:
        data.append('cleanup')
    return data
` },
];

const pythons = availablePythons();
const dir = mkdtempSync(join(tmpdir(), 'cwm-flow-'));

async function realTrace(program: (typeof FLOW_PROGRAMS)[number], python: string): Promise<Trace> {
  const file = join(dir, `${program.name}.py`);
  writeFileSync(file, program.code);
  return recordTrace({ python, file, entry: 'f', args: program.args, limits: { timeoutMs: 30_000 } });
}

async function factsOf(source: string): Promise<FlowFacts> {
  const result = await loadFlowFacts({ source });
  assert.ok('facts' in result, 'problem' in result ? result.problem : '');
  return result.facts;
}

function describe(frame: TraceFrame): string {
  return `#${frame.index} ${frame.event} line ${frame.line} in ${frame.functionName}: ${frame.issues?.map((i) => i.message).join('; ')}`;
}

test('real traces of loops, try/finally, with, generators, recursion, comprehensions and nested functions are never marked, under every Python here', { timeout: 300_000 }, async (t) => {
  if (missingPythons().length > 0) t.diagnostic(`Pythons not installed here, skipped: ${missingPythons().join(', ')}`);
  assert.ok(pythons.length > 0, 'no Python 3.8–3.13 found');
  for (const program of FLOW_PROGRAMS) {
    const facts = await factsOf(program.code);
    for (const python of pythons) {
      const trace = await realTrace(program, python.path);
      assert.ok(trace.frames.length > 5, `${program.name} under ${python.version}: too short a trace`);
      const marked = checkTrace(trace.frames, facts).filter(isMarkedImpossible);
      assert.deepEqual(marked.map(describe), [], `${program.name} under Python ${python.version}`);
    }
  }
});

/** The first frame of `frames` at `line` with `event`, by index. */
function indexOf(frames: readonly TraceFrame[], event: string, line: number, from = 0): number {
  const index = frames.findIndex((frame, k) => k >= from && frame.event === event && frame.line === line);
  assert.ok(index >= 0, `no ${event} at line ${line}`);
  return index;
}

test('an injected line that cannot follow is marked with its reason, and only that frame', { timeout: 60_000 }, async () => {
  const program = FLOW_PROGRAMS.find((p) => p.name === 'loops')!;
  const facts = await factsOf(program.code);
  const trace = await realTrace(program, pythons.at(-1)!.path);
  const at = indexOf(trace.frames, 'line', 4); // `total = 0` ran; next comes `for x in xs:`
  const real = trace.frames[at]!;
  // Line 22 (`return total`) cannot follow the loop head on line 4 (the loop has an else, and break goes to line 12).
  const injected: TraceFrame = { ...trace.frames[at + 1]!, line: 22, sourceLine: '    return total' };
  const frames = [...trace.frames.slice(0, at + 1), injected, ...trace.frames.slice(at + 1)];
  const checked = checkTrace(frames, facts);
  const marked = checked.filter(isMarkedImpossible);
  assert.equal(marked.length, 1, marked.map(describe).join('\n'));
  assert.deepEqual(marked[0]!.issues, [{ kind: IMPOSSIBLE_LINE, message: `line 22 cannot follow line ${real.line}` }]);
  // A line of another function is outside this one: the reason says so.
  const tryProgram = FLOW_PROGRAMS.find((p) => p.name === 'try')!;
  const tryFacts = await factsOf(tryProgram.code);
  const tryTrace = await realTrace(tryProgram, pythons.at(-1)!.path);
  const k = indexOf(tryTrace.frames, 'line', 10);
  const foreign: TraceFrame = { ...tryTrace.frames[k + 1]!, line: 35, sourceLine: '        return len(out)' };
  const marks = checkTrace([...tryTrace.frames.slice(0, k + 1), foreign, ...tryTrace.frames.slice(k + 1)], tryFacts).filter(isMarkedImpossible);
  assert.deepEqual(marks.map((frame) => frame.issues), [[{ kind: IMPOSSIBLE_LINE, message: 'line 35 cannot follow line 10 (line 35 is not in f)' }]]);
});

test('an injected local the scope cannot have is marked with its reason; a call that starts nowhere is marked', { timeout: 60_000 }, async () => {
  const program = FLOW_PROGRAMS.find((p) => p.name === 'recursion')!;
  const facts = await factsOf(program.code);
  const trace = await realTrace(program, pythons.at(-1)!.path);
  const k = trace.frames.findIndex((frame) => frame.event === 'line' && frame.functionName === 'fib');
  const leaked = new Map(trace.frames[k]!.locals);
  leaked.set('memo', '{}'); // the caller's local, not fib's
  const frames = trace.frames.map((frame, i) => (i === k ? { ...frame, locals: leaked } : frame));
  const marked = checkTrace(frames, facts).filter(isMarkedImpossible);
  assert.deepEqual(marked.map((frame) => [frame.index, frame.issues]), [[k, [{ kind: IMPOSSIBLE_LOCAL, message: '`memo` cannot be a local of fib', local: 'memo' }]]]);
  // A free variable of the closure is a local (f_locals holds it): not marked.
  const cachedLine = trace.frames.find((frame) => frame.functionName === 'cached' && frame.event === 'line')!;
  assert.ok(cachedLine.locals.has('memo'));
  // A call frame on a line where nothing starts.
  const call = trace.frames.findIndex((frame, i) => i > 0 && frame.event === 'call' && frame.functionName === 'fib');
  const bogus: TraceFrame = { ...trace.frames[call]!, line: 4, sourceLine: '        return n' };
  const checker = new FlowChecker(facts);
  checker.sync(trace.frames.slice(0, call));
  assert.deepEqual(checker.judge(bogus), [{ kind: IMPOSSIBLE_LINE, message: 'line 4 cannot start a call: no function, lambda, class or comprehension starts there' }]);
  assert.deepEqual(checker.judge(trace.frames[call]!), []);
});

test('frames after a marked one are judged against the last possible frame: one wrong step marks one frame', { timeout: 60_000 }, async () => {
  const program = FLOW_PROGRAMS.find((p) => p.name === 'loops')!;
  const facts = await factsOf(program.code);
  const trace = await realTrace(program, pythons.at(-1)!.path);
  const k = indexOf(trace.frames, 'line', 9);
  const wrong = (line: number, sourceLine: string): TraceFrame => ({ ...trace.frames[k + 1]!, line, sourceLine });
  // A wrong step, then the real steps again: the real steps follow the last possible frame.
  const inserted = [...trace.frames.slice(0, k + 1), wrong(13, '    while n:'), ...trace.frames.slice(k + 1)];
  assert.deepEqual(checkTrace(inserted, facts).filter(isMarkedImpossible).map((frame) => frame.line), [13]);
  // A wrong step, then steps that follow from it (the model went on from its own mistake): one mark too.
  const wentOn = [...trace.frames.slice(0, k + 1), wrong(13, '    while n:'), wrong(14, '        n -= 1'), wrong(15, '        if n == 1:')];
  assert.deepEqual(checkTrace(wentOn, facts).filter(isMarkedImpossible).map((frame) => frame.line), [13]);
});

test('no Python, a hanging one, hostile output or an unparsable program give no checks and no exception', { timeout: 30_000 }, async () => {
  const missing = await loadFlowFacts({ source: 'def f():\n    return 1\n', python: join(dir, 'no-such-python') });
  assert.ok('problem' in missing && /could not start/.test(missing.problem), JSON.stringify(missing));
  const broken = await loadFlowFacts({ source: 'def f(:\n' });
  assert.ok('problem' in broken && /cannot parse/.test(broken.problem), JSON.stringify(broken));
  const hanging = join(dir, 'hanging-python');
  writeFileSync(hanging, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
  const slow = await loadFlowFacts({ source: 'x = 1\n', python: hanging, timeoutMs: 500 });
  assert.ok('problem' in slow && /took more than/.test(slow.problem), JSON.stringify(slow));
  const liar = join(dir, 'lying-python');
  writeFileSync(liar, '#!/bin/sh\ncat > /dev/null; echo \'{"results": [{"python": "3.11", "units": [{"kind": "function", "names": 7}]}]}\'\n', { mode: 0o755 });
  const lies = await loadFlowFacts({ source: 'x = 1\n', python: liar });
  assert.ok('problem' in lies && /unreadable/.test(lies.problem), JSON.stringify(lies));
});
