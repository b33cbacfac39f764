// Tests for the CWM reader: the spec example back to frames, chunk independence, every malformation the spec lists,
// and round trips of hand-built traces and of real traces recorded with several Python versions.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CwmTraceReader, MalformedReason, parseRenderedTrace, readCwmTrace, type ReaderItem } from '../../server/cwm/reader';
import { markEntryLine, renderPrompt, renderTrace } from '../../server/cwm/writer';
import type { Trace, TraceFrame } from '../../server/trace/model';
import {
  corpusPrograms,
  extraPrograms,
  generatorTrace,
  handTraces,
  recordRealTraces,
  specFramesText,
  specRenderedText,
  specSource,
  specTrace,
} from '../fixtures/cwm/traces';

const specEntry = specTrace.entry;

function readChunks(chunks: readonly string[], context: string, options: { entry?: Trace['entry'] } = {}): ReaderItem[] {
  const reader = new CwmTraceReader({ context, ...options });
  const items: ReaderItem[] = [];
  for (const chunk of chunks) items.push(...reader.push(chunk));
  items.push(...reader.finish());
  return items;
}

function framesOf(items: readonly ReaderItem[]): TraceFrame[] {
  return items.flatMap((item) => (item.kind === 'frame' ? [item.frame] : []));
}

/** Reads one `<|line_sep|>`-style text after the spec prompt and returns the single frame read plus everything else. */
function readOne(text: string, context = specSource) {
  return readCwmTrace(text, { context, entry: specEntry });
}

/** The fields a round trip must preserve. */
function essentials(frame: TraceFrame) {
  return {
    event: frame.event,
    line: frame.line,
    sourceLine: frame.sourceLine,
    locals: [...frame.locals],
    value: frame.value,
    depth: frame.depth,
    functionName: frame.functionName,
  };
}

/** Same scope ⇔ same id, except that a resumed generator (a second call of a scope) gets a new id from the reader. */
function assertScopesConsistent(original: readonly TraceFrame[], read: readonly TraceFrame[], label: string): void {
  const callsSeen = new Set<number>();
  const segment = new Map<number, number>();
  const keyOf = (frame: TraceFrame): string => `${frame.scope}/${segment.get(frame.scope) ?? 0}`;
  const forward = new Map<string, number>();
  const backward = new Map<number, string>();
  original.forEach((frame, i) => {
    if (frame.event === 'call') {
      if (callsSeen.has(frame.scope)) segment.set(frame.scope, (segment.get(frame.scope) ?? 0) + 1);
      callsSeen.add(frame.scope);
    }
    const key = keyOf(frame);
    const id = read[i].scope;
    assert.equal(forward.get(key) ?? id, id, `${label}: frame ${i} scope ${key} read as two ids`);
    assert.equal(backward.get(id) ?? key, key, `${label}: frame ${i} id ${id} given to two scopes`);
    forward.set(key, id);
    backward.set(id, key);
  });
}

function assertRoundTrip(trace: Trace, label: string): void {
  const text = renderTrace(trace);
  const read = parseRenderedTrace(text, { entry: trace.entry });
  assert.equal(read.context, markEntryLine(trace.source, trace.entry), `${label}: context`);
  assert.deepEqual(read.malformed, [], `${label}: malformed`);
  assert.equal(read.ended, trace.end.kind === 'returned' || trace.end.kind === 'raised', `${label}: ended`);
  assert.equal(read.frames.length, trace.frames.length, `${label}: frame count`);
  read.frames.forEach((frame, i) => {
    assert.deepEqual(essentials(frame), essentials(trace.frames[i]), `${label}: frame ${i}`);
    assert.equal(frame.index, i);
    if (frame.line > 0) assert.equal(frame.issues, undefined, `${label}: frame ${i} issues ${JSON.stringify(frame.issues)}`);
  });
  assertScopesConsistent(trace.frames, read.frames, label);
}

describe('reading the spec example', () => {
  test('gives back the hand-built frames exactly', () => {
    const read = readCwmTrace(specFramesText, { context: specSource, entry: specEntry });
    assert.deepEqual(read.frames, specTrace.frames);
    assert.deepEqual(read.malformed, []);
    assert.equal(read.ended, true);
  });

  test('parseRenderedTrace splits off the context and reads the same frames without any options', () => {
    const read = parseRenderedTrace(specRenderedText);
    assert.equal(read.context, specSource);
    assert.deepEqual(read.frames, specTrace.frames);
    assert.equal(read.ended, true);
  });

  test('readCwmTrace skips a prompt at the start of the text', () => {
    const read = readCwmTrace(specRenderedText, { context: specSource, entry: specEntry });
    assert.deepEqual(read.frames, specTrace.frames);
  });

  test('every split point into two chunks, and 1-character chunks, give identical items', () => {
    const expected = readChunks([specRenderedText], specSource, { entry: specEntry });
    assert.equal(framesOf(expected).length, 14);
    for (let cut = 0; cut <= specRenderedText.length; cut++) {
      const items = readChunks([specRenderedText.slice(0, cut), specRenderedText.slice(cut)], specSource, { entry: specEntry });
      assert.deepEqual(items, expected, `split at ${cut}`);
    }
    assert.deepEqual(readChunks([...specRenderedText], specSource, { entry: specEntry }), expected);
    assert.deepEqual(readChunks([...specFramesText], specSource, { entry: specEntry }), readChunks([specFramesText], specSource, { entry: specEntry }));
  });

  test('items arrive as soon as their frame is complete', () => {
    const reader = new CwmTraceReader({ context: specSource, entry: specEntry });
    assert.deepEqual(reader.push('<|frame_sep|><|call_sep|>{}<|action_sep|>def main(): # << START_OF_TRACE\n<|fra'), []);
    const items = reader.push('me_sep|><|line_sep|>{}');
    assert.equal(items.length, 1);
    assert.equal(items[0].kind === 'frame' && items[0].frame.functionName, 'main');
    assert.equal(reader.ended, false);
  });
});

describe('round trips', () => {
  for (const { name, trace } of handTraces) {
    test(`hand-built: ${name}`, () => assertRoundTrip(trace, name));
  }

  test('a generator resume gets a new scope id and the enclosing function\'s name', () => {
    const read = parseRenderedTrace(renderTrace(generatorTrace), { entry: generatorTrace.entry });
    const calls = read.frames.filter((f) => f.event === 'call');
    assert.deepEqual(calls.map((f) => [f.functionName, f.scope, f.depth]), [['f', 0, 0], ['gen', 1, 1], ['gen', 2, 1]]);
  });

  // Other interpreters where this machine has them (pyenv), for the version-specific frames (3.12 inlines comprehensions).
  const pyenv = '/root/.pyenv/versions';
  const others = existsSync(pyenv)
    ? readdirSync(pyenv)
        .filter((v) => /^3\.(8|12|13)\.\d+$/.test(v))
        .map((v) => join(pyenv, v, 'bin', 'python'))
        .filter((p) => existsSync(p))
    : [];
  const pythons = ['python3', ...others];
  for (const python of pythons) {
    test(`real traces of the corpus and extra programs recorded by ${python}`, () => {
      const programs = python === 'python3' ? [...corpusPrograms(), ...extraPrograms] : [...corpusPrograms().slice(0, 150), ...extraPrograms];
      const traces = recordRealTraces(python, programs);
      assert.ok(traces.length >= programs.length - 5, `only ${traces.length} of ${programs.length} programs traced`);
      const kinds = new Set<string>();
      for (const { id, trace } of traces) {
        for (const frame of trace.frames) kinds.add(`${frame.event}:${frame.functionName.startsWith('<') ? frame.functionName : 'fn'}`);
        assertRoundTrip(trace, `${python} ${id}`);
      }
      for (const kind of ['call:fn', 'exception:fn', 'call:<lambda>', 'call:<genexpr>', 'return:<dictcomp>']) {
        if (kind === 'return:<dictcomp>' && !python.includes('3.8') && python !== 'python3') continue;
        assert.ok(kinds.has(kind), `${python}: no ${kind} frame exercised`);
      }
    });
  }
});

describe('malformed model output', () => {
  const prefix = '<|call_sep|>{"a": "1", "b": "3"}<|action_sep|>def f(a,b):\n<|frame_sep|>';

  test('locals cut off inside the object keep their complete entries, with invalid-locals', () => {
    const read = readOne(`${prefix}<|line_sep|>{"a": "..", "b": "4", "y": "12<|action_sep|>    y = a\n<|frame_sep|>`);
    const frame = read.frames[1];
    assert.deepEqual([...frame.locals], [['a', '1'], ['b', '4']]);
    assert.equal(frame.line, 2);
    assert.deepEqual(frame.issues?.map((i) => i.kind), ['invalid-locals']);
    assert.ok(frame.raw?.startsWith('<|line_sep|>{"a": "..", "b": "4", "y": "12<|action_sep|>'));
  });

  test('locals that are not an object keep the frame with empty locals and invalid-locals', () => {
    const frame = readOne(`${prefix}<|line_sep|>a = 1, b = 2<|action_sep|>    y = a\n<|frame_sep|>`).frames[1];
    assert.deepEqual([...frame.locals], []);
    assert.deepEqual(frame.issues?.map((i) => i.kind), ['invalid-locals']);
    assert.equal(frame.line, 2);
  });

  test('".." for a name that never had a value drops it with unknown-ellipsis', () => {
    const frame = readOne(`${prefix}<|line_sep|>{"a": "..", "zz": "..", "b": "5"}<|action_sep|>    y = a\n<|frame_sep|>`).frames[1];
    assert.deepEqual([...frame.locals], [['a', '1'], ['b', '5']]);
    assert.deepEqual(frame.issues?.map((i) => i.kind), ['unknown-ellipsis']);
    assert.match(frame.issues?.[0].message ?? '', /"zz"/);
  });

  test('".." resolves through the same scope across a callee, and not into another scope', () => {
    const text =
      '<|call_sep|>{}<|action_sep|>def main(): # << START_OF_TRACE\n<|frame_sep|>' +
      '<|line_sep|>{}<|action_sep|>    return f(1,3)\n<|frame_sep|>' +
      `${prefix}<|line_sep|>{"a": "..", "b": ".."}<|action_sep|>    y = a\n<|frame_sep|>` +
      '<|return_sep|><|action_sep|>    y = a\n<|arg_sep|>"None"<|frame_sep|>' +
      '<|line_sep|>{"a": ".."}<|action_sep|>    return f(1,3)\n<|frame_sep|>';
    const frames = readOne(text).frames;
    assert.deepEqual([...frames[3].locals], [['a', '1'], ['b', '3']]);
    assert.equal(frames[5].functionName, 'main');
    assert.deepEqual([...frames[5].locals], []);
    assert.deepEqual(frames[5].issues?.map((i) => i.kind), ['unknown-ellipsis']);
  });

  test('a LINE in no source line gives line 0, its own text and line-not-found', () => {
    const frame = readOne(`${prefix}<|line_sep|>{"a": ".."}<|action_sep|>    print(a)\n<|frame_sep|>`).frames[1];
    assert.equal(frame.line, 0);
    assert.equal(frame.sourceLine, '    print(a)');
    assert.deepEqual(frame.issues?.map((i) => i.kind), ['line-not-found']);
  });

  test('a LINE differing only in whitespace maps with line-approximate; a trailing marker or spaces do not matter', () => {
    const frames = readOne(`${prefix}<|line_sep|>{}<|action_sep|>    y=a\n<|frame_sep|><|line_sep|>{}<|action_sep|>    for i in range(b):   \n<|frame_sep|>`).frames;
    assert.equal(frames[1].line, 2);
    assert.equal(frames[1].sourceLine, '    y = a');
    assert.deepEqual(frames[1].issues?.map((i) => i.kind), ['line-approximate']);
    assert.equal(frames[2].line, 3);
    assert.equal(frames[2].issues, undefined);
    const marked = readOne('<|call_sep|>{}<|action_sep|>def main():\n<|frame_sep|>').frames[0];
    assert.equal(marked.line, 7);
    assert.equal(marked.sourceLine, 'def main(): # << START_OF_TRACE');
  });

  test('a LINE on several source lines: nearest after the previous line in the same function, then plausibility', () => {
    const source = [
      'def g(x):', //              1
      '    x += 1', //             2
      '    return x', //           3
      '', //                       4
      'def f(x):  # << START_OF_TRACE', // 5
      '    x += 1', //             6
      '    for i in range(2):', // 7
      '        x += 1', //         8
      '    for i in range(2):', // 9
      '        x += 1', //         10
      '    return x', //           11
    ].join('\n');
    const frames = readCwmTrace(
      '<|call_sep|>{"x": "0"}<|action_sep|>def f(x):  # << START_OF_TRACE\n<|frame_sep|>' +
        '<|line_sep|>{"x": ".."}<|action_sep|>    x += 1\n<|frame_sep|>' +
        '<|line_sep|>{"x": "1"}<|action_sep|>    for i in range(2):\n<|frame_sep|>' +
        '<|line_sep|>{"x": "..", "i": "0"}<|action_sep|>        x += 1\n<|frame_sep|>' +
        '<|line_sep|>{"x": "2", "i": ".."}<|action_sep|>    for i in range(2):\n<|frame_sep|>' +
        '<|line_sep|>{"x": "..", "i": "1"}<|action_sep|>        x += 1\n<|frame_sep|>' +
        '<|line_sep|>{"x": "3", "i": ".."}<|action_sep|>    for i in range(2):\n<|frame_sep|>' +
        '<|line_sep|>{"x": "..", "i": ".."}<|action_sep|>    for i in range(2):\n<|frame_sep|>' +
        '<|line_sep|>{"x": "..", "i": "0"}<|action_sep|>        x += 1\n<|frame_sep|>' +
        '<|line_sep|>{"x": "..", "i": ".."}<|action_sep|>    return x\n<|frame_sep|>',
      { context: source, entry: { kind: 'function', name: 'f', line: 5 } },
    ).frames;
    // Line 2 is in g, so f's `x += 1` is line 6; the loop goes back to 7, then on to the second loop at 9.
    assert.deepEqual(frames.map((f) => f.line), [5, 6, 7, 8, 7, 8, 7, 9, 10, 11]);
    assert.ok(frames.every((f) => f.issues === undefined));
  });

  test('a trace cut off in the middle of a frame: finish() yields a malformed frame "cut off"', () => {
    const reader = new CwmTraceReader({ context: specSource, entry: specEntry });
    const pushed = reader.push(`${prefix}<|line_sep|>{"a": "..", "b": ".."}<|action_sep|>    y =`);
    assert.equal(framesOf(pushed).length, 1);
    const finished = reader.finish();
    assert.deepEqual(finished, [
      { kind: 'malformed', malformed: { index: 1, raw: '<|line_sep|>{"a": "..", "b": ".."}<|action_sep|>    y =', reason: MalformedReason.cutOff } },
    ]);
    assert.equal(reader.ended, false);
    assert.deepEqual(reader.finish(), []);
    assert.deepEqual(reader.push('<|frame_sep|>'), []);
  });

  test('a partial special token at the end is text of the cut-off frame', () => {
    const read = readOne(`${prefix}<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"6"<|frame_s`);
    assert.deepEqual(read.malformed.map((m) => [m.reason, m.raw]), [[MalformedReason.cutOff, '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"6"<|frame_s']]);
  });

  test('an event token where a value was expected keeps the return frame (missing-value) and reads on', () => {
    const read = readOne(`${prefix}<|return_sep|><|action_sep|>    return y\n<|arg_sep|><|line_sep|>{}<|action_sep|>    return f(1,3)\n<|frame_sep|>`);
    assert.equal(read.frames.length, 3);
    assert.equal(read.frames[1].event, 'return');
    assert.equal(read.frames[1].value, '');
    assert.deepEqual(read.frames[1].issues?.map((i) => i.kind), ['missing-frame-sep', 'missing-value']);
    assert.equal(read.frames[2].line, 8);
  });

  test('an early <|end_of_text|> ends the trace and later text is ignored', () => {
    const reader = new CwmTraceReader({ context: specSource, entry: specEntry });
    const items = reader.push(`${prefix}<|end_of_text|><|line_sep|>{}<|action_sep|>    y = a\n<|frame_sep|>`);
    assert.deepEqual(items.map((i) => i.kind), ['frame', 'end']);
    assert.equal(reader.ended, true);
    assert.deepEqual(reader.push('<|line_sep|>{}<|action_sep|>    y = a\n<|frame_sep|>'), []);
    assert.deepEqual(reader.finish(), []);
  });

  test('<|eot_id|> and <|eom_id|> are stop tokens too', () => {
    assert.equal(readOne(`${prefix}<|eot_id|>`).ended, true);
    assert.equal(readOne(`${prefix}<|eom_id|>`).ended, true);
    assert.equal(readOne(prefix).ended, false);
  });

  test('huge values are read whole', () => {
    const huge = 'x'.repeat(2_000_000);
    const frame = readOne(`${prefix}<|line_sep|>{"a": "'${huge}'"}<|action_sep|>    y = a\n<|frame_sep|>`).frames[1];
    assert.equal(frame.locals.get('a')?.length, huge.length + 2);
    assert.equal(frame.issues, undefined);
  });

  test('garbage between frames is one malformed "stray text"; whitespace between frames is ignored', () => {
    const read = readOne(`${prefix}  \n<|frame_sep|>Hello there<|line_sep|>{}<|action_sep|>    y = a\n<|frame_sep|>`);
    assert.deepEqual(read.malformed, [{ index: 1, raw: 'Hello there', reason: MalformedReason.strayText }]);
    assert.equal(read.frames.length, 2);
    assert.equal(read.frames[1].index, 1);
    assert.equal(read.frames[1].issues, undefined);
  });

  test('a missing <|frame_sep|> between frames: both are read, the first with missing-frame-sep', () => {
    const read = readOne(`${prefix}<|line_sep|>{}<|action_sep|>    y = a\n<|line_sep|>{}<|action_sep|>    for i in range(b):\n<|frame_sep|>`);
    assert.deepEqual(read.frames.map((f) => f.line), [1, 2, 3]);
    assert.deepEqual(read.frames[1].issues?.map((i) => i.kind), ['missing-frame-sep']);
  });

  test('unknown special tokens: between frames a malformed frame, inside a frame dropped with unknown-token', () => {
    const read = readOne(
      `${prefix}<|reserved_special_token_7|><|frame_sep|><|line_sep|>{"a": "..<|reserved_special_token_200|>"}<|action_sep|>    y = a\n<|frame_sep|>`,
    );
    assert.deepEqual(read.malformed, [{ index: 1, raw: '<|reserved_special_token_7|>', reason: MalformedReason.unknownToken }]);
    assert.deepEqual([...read.frames[1].locals], [['a', '1']]);
    assert.deepEqual(read.frames[1].issues?.map((i) => i.kind), ['unknown-token']);
  });

  test('text that only looks like a special token is ordinary text', () => {
    const frame = readOne(`${prefix}<|line_sep|>{"a": "'<|not_a_token|>'"}<|action_sep|>    y = a\n<|frame_sep|>`).frames[1];
    assert.equal(frame.locals.get('a'), "'<|not_a_token|>'");
    assert.equal(frame.issues, undefined);
  });

  test('values that are not JSON strings: numbers and literals kept as written (non-string-value)', () => {
    const read = readOne(
      `${prefix}<|line_sep|>{"a": 1, "b": true, "c": null, "d": [1, "x"], "e": -2.5e3}<|action_sep|>    y = a\n<|frame_sep|>` +
        '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>42<|frame_sep|>' +
        '<|return_sep|><|action_sep|>    return f(1,3)\n<|arg_sep|>six<|frame_sep|>',
    );
    const [, line, ret, bad] = read.frames;
    assert.deepEqual([...line.locals], [['a', '1'], ['b', 'True'], ['c', 'None'], ['d', '[1, "x"]'], ['e', '-2.5e3']]);
    assert.deepEqual(line.issues?.map((i) => i.kind), ['non-string-value']);
    assert.equal(ret.value, '42');
    assert.deepEqual(ret.issues?.map((i) => i.kind), ['non-string-value']);
    assert.equal(bad.value, 'six');
    // The entry scope already returned, so this frame is also unbalanced.
    assert.deepEqual(bad.issues?.map((i) => i.kind), ['invalid-value', 'unbalanced']);
  });

  test('key order is kept as written, integer-like keys included', () => {
    const frame = readOne(`${prefix}<|line_sep|>{"b": "1", "10": "2", "2": "3", "a": "4"}<|action_sep|>    y = a\n<|frame_sep|>`).frames[1];
    assert.deepEqual([...frame.locals.keys()], ['b', '10', '2', 'a']);
  });

  test('escapes are decoded as JSON: surrogate pairs, lone surrogates, control characters', () => {
    const frame = readOne(`${prefix}<|line_sep|>{"a": "'\\u00e9\\ud83d\\ude00\\ud800\\n\\"\\\\'"}<|action_sep|>    y = a\n<|frame_sep|>`).frames[1];
    assert.equal(frame.locals.get('a'), "'é😀\ud800\n\"\\'");
  });

  test('missing <|action_sep|> and missing <|arg_sep|> are salvaged with issues', () => {
    const read = readOne(`${prefix}<|line_sep|>{"a": ".."}    y = a\n<|frame_sep|><|return_sep|><|action_sep|>    y = a\n"7"<|frame_sep|>`);
    assert.equal(read.frames[1].line, 2);
    assert.deepEqual(read.frames[1].issues?.map((i) => i.kind), ['missing-action-sep']);
    assert.equal(read.frames[2].value, '7');
    assert.deepEqual(read.frames[2].issues?.map((i) => i.kind), ['missing-arg-sep']);
  });

  test('a frame without a source line is malformed but still opens its scope', () => {
    const read = readOne(`<|call_sep|>{}<|frame_sep|><|call_sep|>{"a": "1"}<|frame_sep|><|line_sep|>{"a": ".."}<|action_sep|>    y = a\n<|frame_sep|>`);
    assert.deepEqual(read.malformed.map((m) => m.reason), [MalformedReason.noSourceLine, MalformedReason.noSourceLine]);
    assert.equal(read.frames.length, 1);
    assert.equal(read.frames[0].depth, 1);
    assert.equal(read.frames[0].functionName, 'f');
    assert.deepEqual(read.frames[0].issues?.map((i) => i.kind), ['unknown-ellipsis']);
  });

  test('frames after the entry scope returned get the unbalanced issue', () => {
    const read = readOne(`${prefix}<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"6"<|frame_sep|><|line_sep|>{}<|action_sep|>    y = a\n<|frame_sep|>`);
    assert.deepEqual(read.frames.map((f) => f.depth), [0, 0, 0]);
    assert.deepEqual(read.frames[2].issues?.map((i) => i.kind), ['unbalanced']);
  });
});

describe('continuing from known frames', () => {
  test('a prefix gives scopes, depths, ".." values and indices to the text that continues it', () => {
    const known = specTrace.frames.slice(0, 5);
    const prompt = renderTrace({ ...specTrace, frames: known, end: { kind: 'incomplete', message: '' } });
    assert.ok(prompt.endsWith('<|frame_sep|>'));
    const rest = specFramesText.slice(specFramesText.indexOf('<|line_sep|>{"a": "..", "b": "..", "y": "..", "i": "0"}'));
    const read = readCwmTrace(rest, { context: specSource, entry: specEntry, prefix: known });
    assert.deepEqual(read.frames, specTrace.frames.slice(5));
    assert.equal(read.ended, true);
  });

  test('startIndex numbers frames without a prefix; a forced event token may be pushed first', () => {
    const reader = new CwmTraceReader({ context: specSource, entry: specEntry, startIndex: 40 });
    const items = [...reader.push('<|return_sep|>'), ...reader.push('<|action_sep|>    return y\n<|arg_sep|>"6"<|frame_sep|>')];
    const [frame] = framesOf(items);
    assert.equal(frame.index, 40);
    assert.equal(frame.line, 5);
    assert.equal(frame.functionName, 'f');
    assert.equal(frame.issues, undefined);
  });
});

describe('prompts inside the text', () => {
  test('a program containing the text <|frame_sep|> is split correctly from its frames', () => {
    const source = 'def f():  # << START_OF_TRACE\n    s = "<|frame_sep|>"\n    return s\n';
    const text =
      renderPrompt(source) +
      '<|call_sep|>{}<|action_sep|>def f():  # << START_OF_TRACE\n<|frame_sep|><|line_sep|>{}<|action_sep|>    s = "<|frame_sep|>"\n<|frame_sep|>';
    const read = parseRenderedTrace(text);
    assert.equal(read.context, source);
    assert.equal(read.frames.length, 2);
    assert.equal(read.frames[0].line, 1);
    // With the expected context known, the split is exact whatever follows.
    assert.equal(readCwmTrace(text, { context: source }).context, source);
    // Inside a LINE the text is special tokens: the frame is cut at it (a limit of reading text rather than token ids).
    assert.equal(read.frames[1].line, 0);
  });

  test('an embedded context that differs from options.context is the one lines are mapped against', () => {
    const read = readCwmTrace(specRenderedText, { context: 'x = 1\n', entry: specEntry });
    assert.equal(read.context, specSource);
    assert.deepEqual(read.frames.map((f) => f.line), specTrace.frames.map((f) => f.line));
  });

  test('a prompt with no frames yields nothing', () => {
    const read = parseRenderedTrace(renderPrompt(specSource));
    assert.equal(read.context, specSource);
    assert.deepEqual([read.frames, read.malformed, read.ended], [[], [], false]);
  });
});
