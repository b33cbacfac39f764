// Tests of the predicted-vs-actual comparison: alignment rows and verdicts, first divergence, scores, value normalisation,
// on hand-built traces, on 100,000-frame traces, and on real traces of the CruxEval corpus recorded by real interpreters.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Alignment, type AlignmentRow, alignTraces } from '../../server/compare/align';
import { matchSequences } from '../../server/compare/diff';
import { compareTraces } from '../../server/compare/index';
import { isTruncated, normalizeRepr, valuesEqual } from '../../server/compare/normalize';
import { scoreAlignment } from '../../server/compare/scores';
import { type MalformedFrame, type Trace, type TraceEventKind, type TraceFrame, TRUNCATION_MARKER, localsOf } from '../../server/trace/model';
import { fixturesDir } from '../helpers/paths';

// ---------------------------------------------------------------------------------------------------------------------
// Building frames by hand

interface Step {
  event?: TraceEventKind;
  line: number;
  locals?: Record<string, string>;
  value?: string;
  depth?: number;
  fn?: string;
  scope?: number;
  issues?: number;
}

/** The spec's example program: `main` calls `f(1, 3)`. */
const EXAMPLE_SOURCE = [
  'def f(a,b):',
  '    y = a',
  '    for i in range(b):',
  '        y += y * i',
  '    return y',
  '',
  'def main(): # << START_OF_TRACE',
  '    return f(1,3)',
];

function framesOf(steps: readonly Step[], source: readonly string[] = EXAMPLE_SOURCE): TraceFrame[] {
  return steps.map((step, index) => ({
    index,
    event: step.event ?? 'line',
    line: step.line,
    sourceLine: source[step.line - 1] ?? '',
    scope: step.scope ?? step.depth ?? 0,
    functionName: step.fn ?? 'f',
    depth: step.depth ?? 0,
    locals: localsOf(Object.entries(step.locals ?? {})),
    ...(step.value === undefined ? {} : { value: step.value }),
    ...(step.issues ? { issues: Array.from({ length: step.issues }, () => ({ kind: 'line-not-found', message: 'Line not found.' })) } : {}),
  }));
}

/** The spec's example trace, step by step (main at depth 0, f at depth 1). */
function exampleSteps(): Step[] {
  const main = { fn: 'main', depth: 0, scope: 1 };
  const inF = { fn: 'f', depth: 1, scope: 2 };
  const ab = { a: '1', b: '3' };
  return [
    { ...main, event: 'call', line: 7 },
    { ...main, line: 8 },
    { ...inF, event: 'call', line: 1, locals: ab },
    { ...inF, line: 2, locals: ab },
    { ...inF, line: 3, locals: { ...ab, y: '1' } },
    { ...inF, line: 4, locals: { ...ab, y: '1', i: '0' } },
    { ...inF, line: 3, locals: { ...ab, y: '1', i: '0' } },
    { ...inF, line: 4, locals: { ...ab, y: '1', i: '1' } },
    { ...inF, line: 3, locals: { ...ab, y: '2', i: '1' } },
    { ...inF, line: 4, locals: { ...ab, y: '2', i: '2' } },
    { ...inF, line: 3, locals: { ...ab, y: '6', i: '2' } },
    { ...inF, line: 5, locals: { ...ab, y: '6', i: '2' } },
    { ...inF, event: 'return', line: 5, value: '6' },
    { ...main, event: 'return', line: 8, value: '6' },
  ];
}

const verdictsOf = (alignment: Alignment) => alignment.rows.map((row) => row.verdict);

/** Every frame of each side appears in exactly one row, in order, and each verdict has the sides it should. */
function assertWellFormedRows(alignment: Alignment, predictedCount: number, actualCount: number): void {
  let nextActual = 0;
  let nextPredicted = 0;
  for (const row of alignment.rows) {
    if (row.actual !== undefined) assert.equal(row.actual, nextActual++, 'actual frames in order, each once');
    if (row.predicted !== undefined) assert.equal(row.predicted, nextPredicted++, 'predicted frames in order, each once');
    const sides = `${row.actual === undefined ? '-' : 'A'}${row.predicted === undefined ? '-' : 'P'}`;
    assert.equal(sides, row.verdict === 'missing' ? 'A-' : row.verdict === 'extra' ? '-P' : 'AP', `sides of a ${row.verdict} row`);
  }
  assert.equal(nextActual, actualCount);
  assert.equal(nextPredicted, predictedCount);
}

function nonMatchRows(alignment: Alignment): [number, AlignmentRow][] {
  return alignment.rows.flatMap((row, index): [number, AlignmentRow][] => (row.verdict === 'match' ? [] : [[index, row]]));
}

// ---------------------------------------------------------------------------------------------------------------------

describe('alignTraces on hand-built traces', () => {
  test('identical traces: every row matches and every score is 1', () => {
    const actual = framesOf(exampleSteps());
    const predicted = framesOf(exampleSteps());
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(verdictsOf(alignment), actual.map(() => 'match'));
    assert.equal(alignment.firstDivergence, undefined);
    assert.equal(alignment.approximate, false);
    const scores = scoreAlignment(alignment, predicted, actual);
    assert.equal(scores.action.rate, 1);
    assert.equal(scores.stateByVariable.rate, 1);
    assert.equal(scores.stateByFrame.rate, 1);
    assert.deepEqual(scores.returnValue, { actual: '6', predicted: '6', match: true });
    assert.equal(scores.wellFormed.rate, 1);
    assert.deepEqual(scores.verdicts, { match: 14, 'state-differs': 0, 'action-differs': 0, missing: 0, extra: 0 });
    // Frames 2..11 are f's call/line frames with locals: 10 frames, 2+2+3+4*7 = 35 variables.
    assert.deepEqual(scores.stateByFrame, { matched: 10, total: 10, rate: 1 });
    assert.deepEqual(scores.stateByVariable, { matched: 35, total: 35, rate: 1 });
  });

  test('a wrong value from step 8 on: first divergence at step 8 naming y, state scores drop by exactly those values', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    // The model computes y = 3 instead of 2 after the second iteration, and carries the mistake to the end.
    for (const k of [8, 9]) steps[k] = { ...steps[k]!, locals: { ...steps[k]!.locals, y: '3' } };
    for (const k of [10, 11]) steps[k] = { ...steps[k]!, locals: { ...steps[k]!.locals, y: '9' } };
    steps[12] = { ...steps[12]!, value: '9' };
    steps[13] = { ...steps[13]!, value: '9' };
    const predicted = framesOf(steps);

    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(verdictsOf(alignment), [...Array(8).fill('match'), ...Array(6).fill('state-differs')]);
    assert.deepEqual(alignment.firstDivergence, {
      row: 8,
      actualStep: 8,
      predictedStep: 8,
      description: 'step 8: y is 3 in the prediction but 2 in the real run',
    });
    assert.deepEqual(alignment.rows[8]!.variables, [{ name: 'y', actual: '2', predicted: '3' }]);
    assert.deepEqual(alignment.rows[12]!.value, { actual: '6', predicted: '9' });
    assert.equal(alignment.rows[12]!.variables!.length, 0);

    const scores = scoreAlignment(alignment, predicted, actual);
    assert.equal(scores.action.rate, 1);
    assert.deepEqual(scores.stateByFrame, { matched: 6, total: 10, rate: 0.6 });
    assert.deepEqual(scores.stateByVariable, { matched: 31, total: 35, rate: 31 / 35 });
    assert.deepEqual(scores.returnValue, { actual: '6', predicted: '9', match: false });
    assert.equal(scores.verdicts['state-differs'], 6);
  });

  test('a skipped frame is missing at its place and everything after re-synchronises', () => {
    const actual = framesOf(exampleSteps());
    const predicted = framesOf(exampleSteps().filter((_, index) => index !== 6));
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(nonMatchRows(alignment), [[6, { actual: 6, verdict: 'missing' }]]);
    assert.deepEqual(alignment.rows[7], { actual: 7, predicted: 6, verdict: 'match' });
    assert.equal(
      alignment.firstDivergence?.description,
      'step 6: the real run runs line 3 (`for i in range(b):`), which the prediction skips',
    );
    assert.equal(alignment.firstDivergence?.predictedStep, undefined);
    const scores = scoreAlignment(alignment, predicted, actual);
    assert.deepEqual(scores.action, { matched: 13, total: 14, rate: 13 / 14 });
    assert.equal(scores.stateByFrame.rate, 1);
  });

  test('an extra predicted frame is `extra` at its place', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    steps.splice(12, 0, { fn: 'f', depth: 1, scope: 2, line: 2, locals: { a: '1', b: '3', y: '6', i: '2' } });
    const predicted = framesOf(steps);
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(nonMatchRows(alignment), [[12, { predicted: 12, verdict: 'extra' }]]);
    assert.equal(
      alignment.firstDivergence?.description,
      'predicted step 12: the prediction runs line 2 (`y = a`), which the real run does not do here',
    );
    const scores = scoreAlignment(alignment, predicted, actual);
    assert.equal(scores.action.rate, 1);
    assert.equal(scores.verdicts.extra, 1);
  });

  test('a wrong line in a paired position is `action-differs`, and scores count it as a wrong action', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    steps[11] = { ...steps[11]!, line: 4 };
    const predicted = framesOf(steps);
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(nonMatchRows(alignment), [[11, { actual: 11, predicted: 11, verdict: 'action-differs' }]]);
    assert.equal(
      alignment.firstDivergence?.description,
      'step 11: the real run runs line 5 (`return y`) but the prediction runs line 4 (`y += y * i`)',
    );
    const scores = scoreAlignment(alignment, predicted, actual);
    assert.deepEqual(scores.action, { matched: 13, total: 14, rate: 13 / 14 });
    assert.deepEqual(scores.stateByFrame, { matched: 9, total: 9, rate: 1 });
  });

  test('a wrong event on the same line is `action-differs`', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    steps[12] = { ...steps[12]!, event: 'exception', value: "(<class 'ValueError'>, ValueError(), <traceback object>)" };
    const alignment = alignTraces(framesOf(steps), actual);
    assert.deepEqual(nonMatchRows(alignment), [[12, { actual: 12, predicted: 12, verdict: 'action-differs' }]]);
    assert.match(alignment.firstDivergence!.description, /^step 12: the real run returns from f at line 5 .* but the prediction raises in f at line 5/);
  });

  test('a predicted line that could not be mapped (line 0) is `action-differs` in its position', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    steps[3] = { ...steps[3]!, line: 0, issues: 1 };
    const predicted = framesOf(steps);
    const alignment = alignTraces(predicted, actual);
    assert.deepEqual(nonMatchRows(alignment), [[3, { actual: 3, predicted: 3, verdict: 'action-differs' }]]);
    assert.match(alignment.firstDivergence!.description, /but the prediction runs a line not in the source$/);
    const malformed: MalformedFrame[] = [{ index: 14, raw: '<|line_sep|>{"a"', reason: 'cut off' }];
    const scores = scoreAlignment(alignment, predicted, actual, malformed);
    assert.deepEqual(scores.wellFormed, { matched: 13, total: 15, rate: 13 / 15 });
  });

  test('a wrong branch pairs the differing lines of the same scope and leaves the surplus extra', () => {
    const source = ['def f(x):', '    if x > 0:', '        y = 1', '    else:', '        y = 2', '        y += 1', '    return y'];
    const x = { x: '5' };
    const actual = framesOf(
      [
        { event: 'call', line: 1, locals: x },
        { line: 2, locals: x },
        { line: 3, locals: x },
        { line: 7, locals: { ...x, y: '1' } },
        { event: 'return', line: 7, value: '1' },
      ],
      source,
    );
    const predicted = framesOf(
      [
        { event: 'call', line: 1, locals: x },
        { line: 2, locals: x },
        { line: 5, locals: x },
        { line: 6, locals: { ...x, y: '2' } },
        { line: 7, locals: { ...x, y: '3' } },
        { event: 'return', line: 7, value: '3' },
      ],
      source,
    );
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(
      alignment.rows.map((row) => [row.actual, row.predicted, row.verdict]),
      [
        [0, 0, 'match'],
        [1, 1, 'match'],
        [2, 2, 'action-differs'],
        [undefined, 3, 'extra'],
        [3, 4, 'state-differs'],
        [4, 5, 'state-differs'],
      ],
    );
    assert.equal(alignment.firstDivergence?.description, 'step 2: the real run runs line 3 (`y = 1`) but the prediction runs line 5 (`y = 2`)');
    assert.equal(alignment.rows[5]!.value?.predicted, '3');
  });

  test('a call the real run never makes becomes extra rows, not pairs with the caller lines', () => {
    const actualSteps = exampleSteps().filter((step) => step.fn === 'main');
    const actual = framesOf(actualSteps.map((step) => (step.event === 'return' ? { ...step, value: '0' } : step)));
    const predicted = framesOf(exampleSteps());
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(
      alignment.rows.map((row) => row.verdict),
      ['match', 'match', ...Array(11).fill('extra'), 'state-differs'],
    );
    assert.equal(alignment.firstDivergence?.description, 'predicted step 2: the prediction enters f at line 1 (`def f(a,b):`), which the real run does not do here');
  });

  test('different scope numbering (and recursion) on both sides still aligns, and the scope map pairs them', () => {
    const source = ['def f(n):', '    if n < 2:', '        return n', '    return f(n - 1) + f(n - 2)'];
    // fib(2): f(2) calls f(1) and f(0).
    const fib = (n: number, depth: number, scope: () => number): Step[] => {
      const id = scope();
      const at = { depth, scope: id, locals: { n: String(n) } };
      const result = n < 2 ? n : n === 2 ? 1 : -1;
      if (n < 2) {
        return [
          { ...at, event: 'call', line: 1 },
          { ...at, line: 2 },
          { ...at, line: 3 },
          { depth, scope: id, event: 'return', line: 3, value: String(result) },
        ];
      }
      return [
        { ...at, event: 'call', line: 1 },
        { ...at, line: 2 },
        { ...at, line: 4 },
        ...fib(n - 1, depth + 1, scope),
        ...fib(n - 2, depth + 1, scope),
        { depth, scope: id, event: 'return', line: 4, value: String(result) },
      ];
    };
    let actualScope = 0;
    let predictedScope = 100;
    const actual = framesOf(fib(2, 0, () => actualScope++), source);
    const predicted = framesOf(fib(2, 0, () => (predictedScope += 7)), source);
    assert.notDeepEqual(actual.map((f) => f.scope), predicted.map((f) => f.scope));
    const alignment = alignTraces(predicted, actual);
    assert.deepEqual(verdictsOf(alignment), actual.map(() => 'match'));
    assert.deepEqual([...alignment.scopeMap], [[107, 0], [114, 1], [121, 2]]);
  });

  test('a variable missing from the prediction, or only in the prediction, is a state difference naming it', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    steps[5] = { ...steps[5]!, locals: { a: '1', b: '3', y: '1' } };
    steps[7] = { ...steps[7]!, locals: { ...steps[7]!.locals, z: '4' } };
    const predicted = framesOf(steps);
    const alignment = alignTraces(predicted, actual);
    assert.deepEqual(nonMatchRows(alignment).map(([index, row]) => [index, row.verdict, row.variables]), [
      [5, 'state-differs', [{ name: 'i', actual: '0' }]],
      [7, 'state-differs', [{ name: 'z', predicted: '4' }]],
    ]);
    assert.equal(alignment.firstDivergence?.description, 'step 5: i is 0 in the real run but missing from the prediction');
    assert.equal(
      alignTraces(predicted.slice(6), actual.slice(6)).firstDivergence?.description,
      'step 7: z is 4 in the prediction but does not exist in the real run',
    );
    const scores = scoreAlignment(alignment, predicted, actual);
    // 35 real variables plus the predicted-only z: 36 pairs, 2 unequal.
    assert.deepEqual(scores.stateByVariable, { matched: 34, total: 36, rate: 34 / 36 });
    assert.deepEqual(scores.stateByFrame, { matched: 8, total: 10, rate: 0.8 });
  });

  test('several differing variables and a return value are named in one sentence', () => {
    const actual = framesOf(exampleSteps());
    const steps = exampleSteps();
    steps[9] = { ...steps[9]!, locals: { a: '1', b: '3', y: '7', i: '5' } };
    steps[13] = { ...steps[13]!, value: "'6'" };
    const alignment = alignTraces(framesOf(steps), actual);
    assert.equal(alignment.firstDivergence?.description, 'step 9: y is 7 in the prediction but 2 in the real run; and i is 5 in the prediction but 2 in the real run');
    const returnRow = alignment.rows[13]!;
    assert.equal(returnRow.verdict, 'state-differs');
    assert.equal(
      alignTraces(framesOf(steps).slice(13), actual.slice(13)).firstDivergence?.description,
      "step 13: the prediction returns '6' but the real run returns 6",
    );
  });

  test('compareTraces aligns and scores two Trace objects, counting malformed predicted frames', () => {
    const traceOf = (frames: TraceFrame[], origin: Trace['origin'], malformed: MalformedFrame[]): Trace => ({
      origin,
      source: EXAMPLE_SOURCE.join('\n'),
      entry: { kind: 'function', name: 'main', line: 7 },
      frames,
      malformed,
      end: { kind: 'returned' },
      notes: [],
      outsideOutput: [],
    });
    const actual = traceOf(framesOf(exampleSteps()), 'actual', []);
    const predicted = traceOf(framesOf(exampleSteps().slice(0, 13)), 'predicted', [{ index: 13, raw: '<|return_sep|><|action', reason: 'cut off' }]);
    const { alignment, scores } = compareTraces(predicted, actual);
    assert.deepEqual(nonMatchRows(alignment), [[13, { actual: 13, verdict: 'missing' }]]);
    assert.deepEqual(scores.wellFormed, { matched: 13, total: 14, rate: 13 / 14 });
    assert.deepEqual(scores.returnValue, { actual: '6', predicted: undefined, match: false });
  });

  test('empty traces and one empty side', () => {
    const actual = framesOf(exampleSteps());
    const none = alignTraces([], []);
    assert.deepEqual(none.rows, []);
    const scoresNone = scoreAlignment(none, [], []);
    assert.equal(scoresNone.action.rate, null);
    assert.equal(scoresNone.returnValue.match, null);
    const nothingPredicted = alignTraces([], actual);
    assert.deepEqual(verdictsOf(nothingPredicted), actual.map(() => 'missing'));
    assert.equal(scoreAlignment(nothingPredicted, [], actual).action.rate, 0);
    assert.equal(scoreAlignment(nothingPredicted, [], actual).returnValue.match, false);
    assert.deepEqual(verdictsOf(alignTraces(actual, [])), actual.map(() => 'extra'));
  });
});

describe('value normalisation', () => {
  test('iterators over ASCII strings are named as in 3.11, addresses are dropped', () => {
    assert.equal(normalizeRepr('<str_ascii_iterator object>'), '<str_iterator object>');
    assert.equal(normalizeRepr('<str_ascii_iterator object at 0x7f3a2b1c>'), '<str_iterator object>');
    assert.equal(normalizeRepr('<function f.<locals>.g at 0x000001F2A3B4C5D6>'), '<function f.<locals>.g>');
    assert.equal(normalizeRepr("'str_ascii_iterator_x'"), "'str_ascii_iterator_x'");
    assert.ok(valuesEqual('<str_ascii_iterator object>', '<str_iterator object>'));
    assert.ok(valuesEqual('[<list_iterator object at 0x7f00>]', '[<list_iterator object>]'));
    assert.ok(!valuesEqual('<list_iterator object>', '<str_iterator object>'));
    assert.ok(!valuesEqual('2', '3'));
  });

  test('set elements are compared in sorted order; dicts keep their order', () => {
    assert.equal(normalizeRepr("{'b', 'a', 'c'}"), "{'a', 'b', 'c'}");
    assert.equal(normalizeRepr("frozenset({'z', 'y'})"), "frozenset({'y', 'z'})");
    assert.equal(normalizeRepr("{'k': {3, 1, 2}, 'a': 1}"), "{'k': {1, 2, 3}, 'a': 1}");
    assert.equal(normalizeRepr("[{'x,}', 'a{'}, {(2, 'b'), (1, 'a')}]"), "[{'a{', 'x,}'}, {(1, 'a'), (2, 'b')}]");
    assert.equal(normalizeRepr("'{b, a}'"), "'{b, a}'");
    assert.equal(normalizeRepr(`{'b', 'a${TRUNCATION_MARKER}`), `{'b', 'a${TRUNCATION_MARKER}`);
    assert.ok(valuesEqual("{'\\n', ' ', '\\t'}", "{' ', '\\t', '\\n'}"));
    assert.ok(!valuesEqual("{'a': 1, 'b': 2}", "{'b': 2, 'a': 1}"));
    assert.ok(!valuesEqual("{'a', 'b'}", "{'a', 'c'}"));
  });

  test('a truncated value matches exactly the values that start with its kept prefix', () => {
    const cut = `[0, 1, 2, 3${TRUNCATION_MARKER}`;
    assert.ok(isTruncated(cut));
    assert.ok(valuesEqual(cut, '[0, 1, 2, 3, 4, 5]'));
    assert.ok(valuesEqual(cut, '[0, 1, 2, 33]'));
    assert.ok(!valuesEqual(cut, '[0, 1, 2, 4, 5]'));
    assert.ok(!valuesEqual(cut, '[0, 1, 2]'));
    // The model may copy the marker too: either prefix extending the other is consistent.
    assert.ok(valuesEqual('[0, 1, 2, 3, 4, 5]', cut));
    assert.ok(valuesEqual(`[0, 1${TRUNCATION_MARKER}`, cut));
    assert.ok(!valuesEqual(`[0, 2${TRUNCATION_MARKER}`, cut));
  });

  test('normalised and truncated values count as equal in verdicts and scores', () => {
    const actualSteps = exampleSteps();
    actualSteps[5] = { ...actualSteps[5]!, locals: { ...actualSteps[5]!.locals, it: '<str_ascii_iterator object>', big: `'abcdef${TRUNCATION_MARKER}` } };
    const predictedSteps = exampleSteps();
    predictedSteps[5] = { ...predictedSteps[5]!, locals: { ...predictedSteps[5]!.locals, it: '<str_iterator object at 0x7f11>', big: "'abcdefghijkl'" } };
    const actual = framesOf(actualSteps);
    const predicted = framesOf(predictedSteps);
    const alignment = alignTraces(predicted, actual);
    assert.deepEqual(verdictsOf(alignment), actual.map(() => 'match'));
    assert.equal(scoreAlignment(alignment, predicted, actual).stateByVariable.rate, 1);

    predictedSteps[5] = { ...predictedSteps[5]!, locals: { ...predictedSteps[5]!.locals, big: "'abcdxfghijkl'" } };
    const wrong = alignTraces(framesOf(predictedSteps), actual);
    assert.deepEqual(nonMatchRows(wrong).map(([index, row]) => [index, row.variables]), [
      [5, [{ name: 'big', actual: `'abcdef${TRUNCATION_MARKER}`, predicted: "'abcdxfghijkl'" }]],
    ]);
  });
});

describe('matchSequences', () => {
  /** Length of a longest common subsequence, by the textbook table. */
  const lcsLength = (a: Int32Array, b: Int32Array): number => {
    let previous = new Array<number>(b.length + 1).fill(0);
    for (let i = 1; i <= a.length; i++) {
      const row = [0];
      for (let j = 1; j <= b.length; j++) row[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, row[j - 1]!);
      previous = row;
    }
    return previous[b.length]!;
  };
  const assertValidPairs = (a: Int32Array, b: Int32Array, pairs: { a: number[]; b: number[] }) => {
    assert.equal(pairs.a.length, pairs.b.length);
    for (let p = 0; p < pairs.a.length; p++) {
      assert.equal(a[pairs.a[p]!], b[pairs.b[p]!]);
      if (p > 0) assert.ok(pairs.a[p]! > pairs.a[p - 1]! && pairs.b[p]! > pairs.b[p - 1]!);
    }
  };
  const randomKeys = (random: () => number, length: number, alphabet: number) =>
    Int32Array.from({ length }, () => Math.floor(random() * alphabet));

  test('finds a longest common subsequence by Myers and by the table, whichever runs', () => {
    const random = seededRandom(3);
    for (let round = 0; round < 300; round++) {
      const a = randomKeys(random, Math.floor(random() * 60), 1 + Math.floor(random() * 4));
      const b = randomKeys(random, Math.floor(random() * 60), 1 + Math.floor(random() * 4));
      const expected = lcsLength(a, b);
      const byMyers = matchSequences(a, b);
      const byTable = matchSequences(a, b, 0, a.length, 0, b.length, { maxEditDistance: 0, maxDpCells: 1e6, maxWork: 1e7 });
      for (const pairs of [byMyers, byTable]) {
        assertValidPairs(a, b, pairs);
        assert.equal(pairs.a.length, expected);
        assert.equal(pairs.approximate, false);
      }
    }
  });

  test('without room for the exact searches, still returns valid pairs and says it is approximate', () => {
    const random = seededRandom(4);
    const a = randomKeys(random, 5_000, 5);
    const b = randomKeys(random, 4_000, 5);
    const pairs = matchSequences(a, b, 0, a.length, 0, b.length, { maxEditDistance: 10, maxDpCells: 100, maxWork: 10_000 });
    assertValidPairs(a, b, pairs);
    assert.equal(pairs.approximate, true);
    assert.ok(pairs.a.length > 1_000);
  });
});

// ---------------------------------------------------------------------------------------------------------------------
// Large traces

const LOOP_SOURCE = ['def f(n):', '    acc = 0', '    for i in range(n):', '        acc += i', '    return acc'];

/** The real trace of LOOP_SOURCE's f(n): 2·n + 5 frames. */
function loopTrace(n: number): Step[] {
  const steps: Step[] = [
    { event: 'call', line: 1, locals: { n: String(n) } },
    { line: 2, locals: { n: String(n) } },
    { line: 3, locals: { n: String(n), acc: '0' } },
  ];
  let acc = 0;
  for (let i = 0; i < n; i++) {
    steps.push({ line: 4, locals: { n: String(n), acc: String(acc), i: String(i) } });
    acc += i;
    steps.push({ line: 3, locals: { n: String(n), acc: String(acc), i: String(i) } });
  }
  steps.push({ line: 5, locals: { n: String(n), acc: String(acc), i: String(n - 1) } });
  steps.push({ event: 'return', line: 5, value: String(acc) });
  return steps;
}

describe('alignTraces on large traces', () => {
  test('two 100,000-frame traces with four differences: exactly those rows differ, at the right places', () => {
    const base = loopTrace(49_998);
    assert.equal(base.length, 100_001);
    const actual = framesOf(base, LOOP_SOURCE);
    const steps = loopTrace(49_998);
    // Applied from the end so that earlier positions stay put.
    steps[90_001] = { ...steps[90_001]!, line: 5 }; // wrong line
    steps.splice(70_001, 0, { line: 4, locals: { n: '49998', acc: '-1', i: '-1' } }); // extra frame after actual 70000
    steps.splice(50_001, 1); // skipped frame
    steps[30_001] = { ...steps[30_001]!, locals: { ...steps[30_001]!.locals, acc: '12' } }; // wrong value
    const predicted = framesOf(steps, LOOP_SOURCE);

    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.equal(alignment.approximate, false);
    assert.deepEqual(nonMatchRows(alignment), [
      [30_001, { actual: 30_001, predicted: 30_001, verdict: 'state-differs', variables: [{ name: 'acc', actual: base[30_001]!.locals!.acc, predicted: '12' }] }],
      [50_001, { actual: 50_001, verdict: 'missing' }],
      [70_001, { predicted: 70_000, verdict: 'extra' }],
      [90_002, { actual: 90_001, predicted: 90_001, verdict: 'action-differs' }],
    ]);
    assert.equal(alignment.rows.length, 100_002);
    assert.equal(alignment.firstDivergence?.description, `step 30001: acc is 12 in the prediction but ${base[30_001]!.locals!.acc} in the real run`);
    const scores = scoreAlignment(alignment, predicted, actual);
    assert.deepEqual(scores.verdicts, { match: 99_998, 'state-differs': 1, 'action-differs': 1, missing: 1, extra: 1 });
    assert.equal(scores.action.matched, 100_001 - 2);
    assert.equal(scores.stateByFrame.matched, scores.stateByFrame.total - 1);
    assert.equal(scores.returnValue.match, true);
  });

  test('a prediction whose values go wrong early still aligns its actions (pass 2), row for row', () => {
    const actual = framesOf(loopTrace(20_000), LOOP_SOURCE);
    const steps = loopTrace(20_000).map((step, index) =>
      index >= 10 && step.locals?.acc !== undefined ? { ...step, locals: { ...step.locals, acc: `${step.locals.acc}0` } } : step,
    );
    const predicted = framesOf(steps, LOOP_SOURCE);
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.ok(alignment.rows.every((row) => row.actual === row.predicted));
    assert.equal(alignment.firstDivergence?.row, 10);
    assert.equal(scoreAlignment(alignment, predicted, actual).action.rate, 1);
  });

  test('a short prediction against a long real run (model stopped early, one wrong step)', () => {
    const actual = framesOf(loopTrace(50_000), LOOP_SOURCE);
    const steps = loopTrace(50_000).slice(0, 400);
    steps[200] = { ...steps[200]!, line: 5 };
    const predicted = framesOf(steps, LOOP_SOURCE);
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    assert.deepEqual(nonMatchRows(alignment)[0], [200, { actual: 200, predicted: 200, verdict: 'action-differs' }]);
    assert.equal(nonMatchRows(alignment).length, 1 + actual.length - 400);
    assert.ok(alignment.rows.slice(400).every((row) => row.verdict === 'missing'));
  });

  test('completely different traces terminate with every frame accounted for', () => {
    const random = seededRandom(7);
    const randomSteps = (count: number, lines: number, fn: string): Step[] =>
      Array.from({ length: count }, () => ({ line: 1 + Math.floor(random() * lines), fn, depth: Math.floor(random() * 3), locals: { v: String(random()) } }));
    const actual = framesOf(randomSteps(100_000, 40, 'f'));
    const predicted = framesOf(randomSteps(100_000, 40, 'g'));
    const alignment = alignTraces(predicted, actual);
    assertWellFormedRows(alignment, predicted.length, actual.length);
    // No frame shares a scope (the function names differ), so nothing can pair.
    assert.equal(alignment.rows.length, 200_000);
    assert.equal(alignment.firstDivergence?.row, 0);
    const scores = scoreAlignment(alignment, predicted, actual);
    assert.equal(scores.action.rate, 0);
    assert.equal(scores.stateByVariable.rate, null);

    const sameFunction = framesOf(randomSteps(100_000, 40, 'f'));
    const mixed = alignTraces(sameFunction, actual);
    assertWellFormedRows(mixed, sameFunction.length, actual.length);
    const mixedScores = scoreAlignment(mixed, sameFunction, actual);
    assert.ok(mixedScores.verdicts.match + mixedScores.verdicts['state-differs'] + mixedScores.verdicts['action-differs'] > 0);
  });

  test('tiny work limits fall back to a sane, approximate result', () => {
    const actual = framesOf(loopTrace(2_000), LOOP_SOURCE);
    const steps = loopTrace(2_000).filter((_, index) => index % 97 !== 50);
    const predicted = framesOf(steps, LOOP_SOURCE);
    const exact = alignTraces(predicted, actual);
    assert.equal(exact.approximate, false);
    assert.equal(scoreAlignment(exact, predicted, actual).verdicts.missing, actual.length - predicted.length);
    const limited = alignTraces(predicted, actual, { maxEditDistance: 4, maxDpCells: 100, maxWork: 2_000 });
    assertWellFormedRows(limited, predicted.length, actual.length);
    assert.equal(limited.approximate, true);
  });
});

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Real traces of the CruxEval corpus, recorded by a minimal settrace recorder (independent of the bundled tracer)

const RECORDER = String.raw`
import json, re, sys
ADDRESS = re.compile(r' at 0x[0-9a-fA-F]+')
MARKER = '\u2026<truncated>'

def show(value, limit):
    try:
        text = repr(value)
    except Exception as error:
        text = '<repr raised %s>' % type(error).__name__
    text = ADDRESS.sub('', text)
    return text[:limit] + MARKER if len(text) > limit else text

def record(item, max_events, limit):
    filename = '<cruxeval %s>' % item['id']
    namespace = {}
    exec(compile(item['code'], filename, 'exec'), namespace)
    frames, scopes = [], {}
    def tracer(frame, event, arg):
        if frame.f_code.co_filename != filename or len(frames) >= max_events:
            return None
        info = scopes.get(frame)
        if info is None:
            depth, back = 0, frame.f_back
            while back is not None:
                if back in scopes:
                    depth = scopes[back][1] + 1
                    break
                back = back.f_back
            info = scopes[frame] = (len(scopes), depth)
        step = {'e': event, 'l': frame.f_lineno, 's': info[0], 'd': info[1], 'f': frame.f_code.co_name}
        if event in ('call', 'line'):
            step['loc'] = [[name, show(value, limit)] for name, value in frame.f_locals.items()]
        else:
            step['v'] = show(arg, limit)
        frames.append(step)
        return tracer
    sys.settrace(tracer)
    try:
        eval('f(%s)' % item['input'], namespace)
    except BaseException:
        pass
    finally:
        sys.settrace(None)
    return {'id': item['id'], 'lines': item['code'].split('\n'), 'frames': frames}

corpus, max_events, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(corpus, encoding='utf-8') as lines:
    json.dump([record(json.loads(line), max_events, limit) for line in lines], sys.stdout)
`;

interface RecordedStep {
  e: TraceEventKind;
  l: number;
  s: number;
  d: number;
  f: string;
  loc?: [string, string][];
  v?: string;
}

interface RecordedProgram {
  id: string;
  lines: string[];
  frames: RecordedStep[];
}

let recorderPath: string | undefined;

/** Every corpus program traced by `python`, each value's repr cut at `reprLimit` characters, string hashes seeded by `hashSeed`. */
function recordCorpus(python: string, reprLimit: number, hashSeed = '0'): Map<string, TraceFrame[]> {
  if (recorderPath === undefined) {
    recorderPath = join(mkdtempSync(join(tmpdir(), 'cwm-compare-')), 'recorder.py');
    writeFileSync(recorderPath, RECORDER);
  }
  const output = execFileSync(python, [recorderPath, join(fixturesDir, 'corpus', 'cruxeval.jsonl'), '3000', String(reprLimit)], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, PYTHONHASHSEED: hashSeed },
  });
  const programs = JSON.parse(output) as RecordedProgram[];
  return new Map(
    programs.map((program) => [
      program.id,
      program.frames.map((step, index) => ({
        index,
        event: step.e,
        line: step.l,
        sourceLine: program.lines[step.l - 1] ?? '',
        scope: step.s,
        functionName: step.f,
        depth: step.d,
        locals: localsOf(step.loc ?? []),
        ...(step.v === undefined ? {} : { value: step.v }),
      })),
    ]),
  );
}

/** A pyenv or PATH interpreter of this minor version, if the machine has one. */
function findPython(minor: string): string | undefined {
  const pyenv = '/root/.pyenv/versions';
  if (existsSync(pyenv)) {
    const version = readdirSync(pyenv).find((name) => name.startsWith(`${minor}.`));
    if (version) return join(pyenv, version, 'bin', 'python');
  }
  try {
    execFileSync(`python${minor}`, ['-c', 'pass']);
    return `python${minor}`;
  } catch {
    return undefined;
  }
}

describe('alignTraces on real CruxEval traces', () => {
  const corpus = recordCorpus('python3', 2000);

  test('the corpus was recorded', () => {
    assert.ok(corpus.size >= 799);
    assert.ok([...corpus.values()].filter((frames) => frames.length > 20).length > 100);
  });

  test('each trace aligned with itself: all match, every score 1', () => {
    for (const [id, frames] of corpus) {
      const alignment = alignTraces(frames, frames);
      assert.ok(alignment.rows.every((row, index) => row.verdict === 'match' && row.actual === index && row.predicted === index), id);
      const scores = scoreAlignment(alignment, frames, frames);
      assert.equal(scores.action.rate, 1, id);
      if (scores.stateByVariable.total > 0) assert.equal(scores.stateByVariable.rate, 1, id);
      assert.equal(scores.returnValue.match, true, id);
    }
  });

  test('dropping one frame anywhere gives exactly one missing row, for an equal frame, and all else matches', () => {
    const random = seededRandom(11);
    let checked = 0;
    for (const [id, actual] of corpus) {
      if (actual.length < 3) continue;
      const dropped = Math.floor(random() * actual.length);
      const predicted = actual.filter((_, index) => index !== dropped).map((frame, index) => ({ ...frame, index }));
      const alignment = alignTraces(predicted, actual);
      assertWellFormedRows(alignment, predicted.length, actual.length);
      const different = nonMatchRows(alignment);
      assert.equal(different.length, 1, id);
      const [, row] = different[0]!;
      assert.equal(row.verdict, 'missing', id);
      // Several equal frames in a row may each be "the" missing one; any of them is a correct answer.
      const missing = actual[row.actual!]!;
      const removed = actual[dropped]!;
      assert.deepEqual([missing.event, missing.line, missing.depth, [...missing.locals], missing.value], [removed.event, removed.line, removed.depth, [...removed.locals], removed.value], id);
      checked++;
    }
    assert.ok(checked > 700);
  });

  test('changing one value gives one state-differs row at that step naming the variable', () => {
    const random = seededRandom(5);
    let checked = 0;
    for (const [id, actual] of corpus) {
      const candidates = actual.filter((frame) => frame.locals.size > 0);
      if (candidates.length === 0) continue;
      const target = candidates[Math.floor(random() * candidates.length)]!;
      const names = [...target.locals.keys()];
      const name = names[Math.floor(random() * names.length)]!;
      const predicted = actual.map((frame) =>
        frame === target ? { ...frame, locals: localsOf([...frame.locals].map(([n, v]): [string, string] => [n, n === name ? `(${v},)` : v])) } : frame,
      );
      const alignment = alignTraces(predicted, actual);
      assert.deepEqual(
        nonMatchRows(alignment).map(([rowIndex, row]) => [rowIndex, row.verdict, row.variables?.map((v) => v.name)]),
        [[target.index, 'state-differs', [name]]],
        id,
      );
      assert.ok(alignment.firstDivergence!.description.startsWith(`step ${target.index}: ${name} is (`), id);
      checked++;
    }
    assert.ok(checked > 700);
  });

  test('values the tracer truncated match the full values of an untruncated run', () => {
    const truncated = recordCorpus('python3', 12);
    let truncatedValues = 0;
    for (const [id, actual] of truncated) {
      const predicted = corpus.get(id)!;
      for (const frame of actual) for (const value of frame.locals.values()) if (isTruncated(value)) truncatedValues++;
      const alignment = alignTraces(predicted, actual);
      assert.deepEqual(nonMatchRows(alignment), [], id);
    }
    assert.ok(truncatedValues > 1000, `${truncatedValues} truncated values`);
  });

  test('set reprs whose order depends on the hash seed match across runs with different seeds', () => {
    const reseeded = recordCorpus('python3', 2000, '1');
    let reorderedValues = 0;
    for (const [id, actual] of corpus) {
      const predicted = reseeded.get(id)!;
      for (let index = 0; index < Math.min(actual.length, predicted.length); index++) {
        for (const [name, value] of actual[index]!.locals) if (predicted[index]!.locals.get(name) !== value) reorderedValues++;
      }
      assert.deepEqual(nonMatchRows(alignTraces(predicted, actual)), [], id);
    }
    assert.ok(reorderedValues > 0, 'some set printed in another order');
  });

  // 3.11 renamed the iterator over an ASCII string; the model was trained on traces from both sides of that change.
  const pythonVersion = (python: string) => execFileSync(python, ['-c', 'import sys; print(sys.version_info[1])'], { encoding: 'utf8' }).trim();
  const newer = Number(pythonVersion('python3')) >= 11 ? 'python3' : (findPython('3.12') ?? findPython('3.11'));
  const older = findPython('3.10') ?? findPython('3.9') ?? findPython('3.8');
  const skip = newer === undefined || older === undefined ? 'needs Python 3.10 or older and 3.11 or newer' : false;
  test('a prediction in 3.10 reprs matches a 3.11+ run on string iterators', { skip }, () => {
    const predictedCorpus = recordCorpus(older!, 2000);
    const actualCorpus = newer === 'python3' ? corpus : recordCorpus(newer!, 2000);
    let iteratorRows = 0;
    for (const [id, actual] of actualCorpus) {
      const predicted = predictedCorpus.get(id)!;
      const alignment = alignTraces(predicted, actual);
      assertWellFormedRows(alignment, predicted.length, actual.length);
      for (const row of alignment.rows) {
        if (row.actual === undefined || row.predicted === undefined) continue;
        const realFrame = actual[row.actual]!;
        const iterators = [...realFrame.locals].filter(([, value]) => value === '<str_ascii_iterator object>');
        if (iterators.length === 0) continue;
        for (const [name] of iterators) assert.equal(predicted[row.predicted]!.locals.get(name), '<str_iterator object>', `${id} step ${row.actual}`);
        assert.equal(row.verdict, 'match', `${id} step ${row.actual}`);
        iteratorRows++;
      }
    }
    assert.ok(iteratorRows > 20, `${iteratorRows} rows with a string iterator`);
  });
});
