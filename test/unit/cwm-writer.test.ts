// Tests for the CWM writer: the spec's example byte for byte, markEntryLine, pythonJsonString against real Python,
// the `".."` diff-encoding rules and the incremental encoder.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  ByteSink,
  CwmFrameEncoder,
  framePiecesText,
  markEntryLine,
  pythonJsonString,
  renderContinuationPrompt,
  renderFrame,
  renderFrames,
  renderPrompt,
  renderTrace,
} from '../../server/cwm/writer';
import type { Trace } from '../../server/trace/model';
import {
  comprehensionTrace,
  exceptionTrace,
  generatorTrace,
  handTrace,
  handTraces,
  recursionTrace,
  sameScopeExceptionTrace,
  specFramesText,
  specRenderedText,
  specSource,
  specTrace,
  trickyValuesTrace,
} from '../fixtures/cwm/traces';

/** The frames' texts, split after each `<|frame_sep|>`. */
function frameTexts(trace: Trace): string[] {
  const context = markEntryLine(trace.source, trace.entry);
  const encoder = new CwmFrameEncoder(context);
  return trace.frames.map((frame) => encoder.renderFrame(frame));
}

describe('renderTrace', () => {
  test('renders the spec example byte for byte', () => {
    assert.equal(renderTrace(specTrace), specRenderedText);
    assert.ok(specRenderedText.endsWith('"6"<|frame_sep|><|end_of_text|>'));
    assert.equal(renderFrames(specTrace.frames, specSource), specFramesText.slice('<|frame_sep|>'.length, -'<|end_of_text|>'.length));
  });

  test('writes <|end_of_text|> only when the entry returned or raised', () => {
    const limited: Trace = { ...specTrace, end: { kind: 'limit', limit: 'events', message: 'too many events' } };
    assert.ok(!renderTrace(limited).endsWith('<|end_of_text|>'));
    assert.ok(renderTrace(limited).endsWith('<|frame_sep|>'));
    assert.ok(renderTrace(trickyValuesTrace).endsWith('<|frame_sep|><|end_of_text|>'));
  });

  test('adds the marker to the entry def line and carries it in that line\'s frames only', () => {
    const text = renderTrace(recursionTrace);
    assert.ok(text.startsWith('<|begin_of_text|><|trace_context_start|>def fact(n):  # << START_OF_TRACE\n    if n <= 1:\n'));
    // Both call frames (outer and recursive) are on the marked def line.
    assert.equal(text.split('<|action_sep|>def fact(n):  # << START_OF_TRACE\n<|frame_sep|>').length - 1, 2);
  });
});

describe('markEntryLine', () => {
  const source = 'import os\n\ndef helper(x):\n    return x\n\ndef f(a, b):\n    return helper(a) + b\n';

  test('appends two spaces and the marker to the entry def line only', () => {
    const marked = markEntryLine(source, { kind: 'function', name: 'f', line: 6 });
    assert.equal(marked, source.replace('def f(a, b):\n', 'def f(a, b):  # << START_OF_TRACE\n'));
  });

  test('leaves a source whose def line already carries the marker unchanged', () => {
    assert.equal(markEntryLine(specSource, { kind: 'function', name: 'main', line: 7 }), specSource);
  });

  test('a method entry (Class.method) marks the def of the method', () => {
    const withClass = 'class Basket:\n    def __init__(self):\n        self.items = []\n\n    def add(self, item):\n        self.items.append(item)\n';
    const marked = markEntryLine(withClass, { kind: 'function', name: 'Basket.add', line: 5 });
    assert.equal(marked, withClass.replace('def add(self, item):', 'def add(self, item):  # << START_OF_TRACE'));
  });

  test('script entries leave the source unchanged', () => {
    assert.equal(markEntryLine(source, { kind: 'script' }), source);
  });

  test('finds the def by name when the line points at a decorator or elsewhere', () => {
    const decorated = 'def deco(fn):\n    return fn\n\n@deco\ndef f(x):\n    return x\n';
    const expected = decorated.replace('def f(x):', 'def f(x):  # << START_OF_TRACE');
    assert.equal(markEntryLine(decorated, { kind: 'function', name: 'f', line: 4 }), expected);
    assert.equal(markEntryLine(decorated, { kind: 'function', name: 'f', line: 0 }), expected);
    assert.equal(markEntryLine(decorated, { kind: 'function', name: 'missing', line: 1 }), decorated);
  });

  test('normalizes CRLF and CR terminators to LF, keeping line contents and trailing spaces', () => {
    const crlf = 'def f(x):  \r\n    y = x\r\r\n    return y\r\n';
    assert.equal(markEntryLine(crlf, { kind: 'function', name: 'f', line: 1 }), 'def f(x):    # << START_OF_TRACE\n    y = x\n\n    return y\n');
    assert.equal(markEntryLine('\ufeffx = 1\r\n', { kind: 'script' }), 'x = 1\n');
  });
});

describe('renderPrompt and continuation', () => {
  test('the prompt is BOS, context start, the context and a frame separator', () => {
    assert.equal(renderPrompt('x = 1\n'), '<|begin_of_text|><|trace_context_start|>x = 1\n<|frame_sep|>');
  });

  test('the incremental encoder, renderFrame and the continuation prompt agree with renderTrace', () => {
    for (const { name, trace } of handTraces) {
      const context = markEntryLine(trace.source, trace.entry);
      const full = renderTrace(trace);
      let prompt = renderPrompt(context);
      const encoder = new CwmFrameEncoder(context);
      trace.frames.forEach((frame, i) => {
        const piece = encoder.renderFrame(frame);
        assert.equal(piece, renderFrame(frame, trace.frames.slice(0, i), context), `${name} frame ${i}`);
        prompt += piece;
        assert.ok(full.startsWith(prompt), `${name}: prefix after frame ${i}`);
        assert.equal(renderContinuationPrompt(context, trace.frames.slice(0, i + 1)), prompt);
      });
      const byPieces = new CwmFrameEncoder(context);
      assert.equal(trace.frames.map((frame) => framePiecesText(byPieces.renderFramePieces(frame))).join(''), renderFrames(trace.frames, context));
      const resumed = new CwmFrameEncoder(context, trace.frames.slice(0, 3));
      assert.equal(resumed.renderFrame(trace.frames[3]), renderFrame(trace.frames[3], trace.frames.slice(0, 3), context));
    }
  });
});

describe('byte encoder', () => {
  /** Every frame through encodeFrame into chunks of `chunkBytes`, joined. */
  function encoded(trace: Trace, chunkBytes: number): { bytes: Buffer; chunks: Buffer[] } {
    const chunks: Buffer[] = [];
    const sink = new ByteSink((chunk) => chunks.push(chunk), chunkBytes);
    const encoder = new CwmFrameEncoder(markEntryLine(trace.source, trace.entry));
    for (const frame of trace.frames) encoder.encodeFrame(frame, sink);
    sink.flush();
    return { bytes: Buffer.concat(chunks), chunks };
  }

  test('writes exactly the UTF-8 bytes of renderFrames, whatever the chunk size, each chunk whole UTF-8 text', () => {
    for (const { name, trace } of [...handTraces, { name: 'tricky values', trace: trickyValuesTrace }]) {
      const expected = Buffer.from(renderFrames(trace.frames, markEntryLine(trace.source, trace.entry)), 'utf8');
      for (const chunkBytes of [1, 7, 64, 1 << 16]) {
        const { bytes, chunks } = encoded(trace, chunkBytes);
        assert.ok(bytes.equals(expected), `${name}, chunks of ${chunkBytes}: ${JSON.stringify(bytes.toString('utf8').slice(0, 200))}`);
        // The CLI may decode a chunk on its own: no chunk ends inside a character.
        for (const chunk of chunks) assert.ok(Buffer.from(chunk.toString('utf8'), 'utf8').equals(chunk), `${name}: a chunk of ${chunkBytes} cut a character`);
      }
    }
  });

  test('values with quotes, backslashes, controls, non-ASCII and astral characters, and non-ASCII lines', () => {
    const source = 'def f(s):  # ünïcode\n    t = s + "é"\n    return t\n';
    const values = ['"q"', 'a\\b', 'tab\there\nnl', '\u0000\u001f\u007f', 'é😀\ud800', 'x'.repeat(3000)];
    const trace: Trace = {
      origin: 'actual', source, entry: { kind: 'function', name: 'f', line: 1 }, end: { kind: 'returned' }, malformed: [], notes: [], outsideOutput: [],
      frames: values.flatMap((value, i) => [
        { index: 3 * i, event: 'line' as const, line: 2, sourceLine: '    t = s + "é"', scope: 1, functionName: 'f', depth: 0, locals: new Map([['s', value]]) },
        { index: 3 * i + 1, event: 'line' as const, line: 3, sourceLine: '    return t', scope: 1, functionName: 'f', depth: 0, locals: new Map([['s', value], ['t', value + 'é']]) },
        { index: 3 * i + 2, event: 'exception' as const, line: 3, sourceLine: '    return t', scope: 1, functionName: 'f', depth: 0, locals: new Map(), value },
      ]),
    };
    const expected = Buffer.from(renderFrames(trace.frames, markEntryLine(source, trace.entry)), 'utf8');
    for (const chunkBytes of [1, 5, 1 << 12]) assert.ok(encoded(trace, chunkBytes).bytes.equals(expected), `chunks of ${chunkBytes}`);
  });
});

describe('frame pieces', () => {
  test('split a frame into its ordinary-text fields', () => {
    const encoder = new CwmFrameEncoder(specSource);
    assert.deepEqual(encoder.renderFramePieces(specTrace.frames[0]), { event: 'call', locals: '{}', line: 'def main(): # << START_OF_TRACE\n' });
    encoder.renderFramePieces(specTrace.frames[1]);
    assert.deepEqual(encoder.renderFramePieces(specTrace.frames[2]), { event: 'call', locals: '{"a": "1", "b": "3"}', line: 'def f(a,b):\n' });
    assert.deepEqual(encoder.renderFramePieces(specTrace.frames[3]), { event: 'line', locals: '{"a": "..", "b": ".."}', line: '    y = a\n' });
    const texts = frameTexts(trickyValuesTrace);
    assert.ok(texts[3].endsWith('<|arg_sep|>"(<class \'KeyError\'>, KeyError(\'a\\\\x00b\\u00e9\\ud83d\\ude00\\\\n\\\\t\\"\\\\\\\\\'), <traceback object>)"<|frame_sep|>'));
  });
});

describe('diff encoding', () => {
  test('a call frame writes every value in full, even when the previous frame of another scope had the same values', () => {
    const texts = frameTexts(recursionTrace);
    assert.equal(texts[1], '<|line_sep|>{"n": ".."}<|action_sep|>    if n <= 1:\n<|frame_sep|>');
    assert.equal(texts[3], '<|call_sep|>{"n": "1"}<|action_sep|>def fact(n):  # << START_OF_TRACE\n<|frame_sep|>');
    assert.equal(texts[4], '<|line_sep|>{"n": ".."}<|action_sep|>    if n <= 1:\n<|frame_sep|>');
  });

  test('the caller\'s first frame after a callee returned writes every value in full', () => {
    const texts = frameTexts(recursionTrace);
    assert.equal(texts[6], '<|return_sep|><|action_sep|>        return 1\n<|arg_sep|>"1"<|frame_sep|>');
    assert.equal(texts[7], '<|line_sep|>{"n": "2", "r": "2"}<|action_sep|>    return r\n<|frame_sep|>');
  });

  test('an exception frame in the same scope does not break the chain', () => {
    const texts = frameTexts(sameScopeExceptionTrace);
    assert.equal(
      texts[3],
      '<|exception_sep|><|action_sep|>        n = int(s)\n<|arg_sep|>' +
        '"(<class \'ValueError\'>, ValueError(\\"invalid literal for int() with base 10: \'x\'\\"), <traceback object>)"<|frame_sep|>',
    );
    assert.equal(texts[4], '<|line_sep|>{"s": ".."}<|action_sep|>    except ValueError:\n<|frame_sep|>');
  });

  test('an exception arriving from a callee does not revive the chain broken by the callee', () => {
    const texts = frameTexts(exceptionTrace);
    assert.ok(texts[7].startsWith('<|exception_sep|><|action_sep|>        y = g(x)\n<|arg_sep|>'));
    assert.equal(texts[8], '<|line_sep|>{"x": "0"}<|action_sep|>    except ZeroDivisionError:\n<|frame_sep|>');
    assert.equal(texts[9], '<|line_sep|>{"x": ".."}<|action_sep|>        y = -1\n<|frame_sep|>');
  });

  test('a generator resume is a call and writes in full; so does the consumer after the yield', () => {
    const texts = frameTexts(generatorTrace);
    assert.equal(texts[4], '<|line_sep|>{"n": ".."}<|action_sep|>    yield n\n<|frame_sep|>');
    assert.equal(texts[6], '<|line_sep|>{"g": "<generator object gen>", "a": "1"}<|action_sep|>    b = next(g)\n<|frame_sep|>');
    assert.equal(texts[7], '<|call_sep|>{"n": "1"}<|action_sep|>    yield n\n<|frame_sep|>');
    assert.equal(texts[8], '<|line_sep|>{"n": ".."}<|action_sep|>    yield n + 1\n<|frame_sep|>');
  });

  test('comprehension frames are their own scope', () => {
    const texts = frameTexts(comprehensionTrace);
    assert.equal(texts[2], '<|call_sep|>{".0": "<list_iterator object>"}<|action_sep|>    ys = [x * 2 for x in xs]\n<|frame_sep|>');
    assert.equal(texts[4], '<|line_sep|>{".0": "..", "x": "1"}<|action_sep|>    ys = [x * 2 for x in xs]\n<|frame_sep|>');
    assert.equal(texts[5], '<|line_sep|>{".0": "..", "x": "2"}<|action_sep|>    ys = [x * 2 for x in xs]\n<|frame_sep|>');
    assert.equal(texts[7], '<|line_sep|>{"xs": "[1, 2]", "ys": "[2, 4]"}<|action_sep|>    return ys\n<|frame_sep|>');
  });

  test('a name that disappears and comes back is written in full', () => {
    const trace = handTrace('def f(x):\n    del x\n    x = 1\n    return x\n', { kind: 'function', name: 'f', line: 1 }, [
      ['call', 1, 0, 0, 'f', [['x', '1']]],
      ['line', 2, 0, 0, 'f', [['x', '1']]],
      ['line', 3, 0, 0, 'f', []],
      ['line', 4, 0, 0, 'f', [['x', '1']]],
      ['return', 4, 0, 0, 'f', '1'],
    ]);
    const texts = frameTexts(trace);
    assert.equal(texts[2], '<|line_sep|>{}<|action_sep|>    x = 1\n<|frame_sep|>');
    assert.equal(texts[3], '<|line_sep|>{"x": "1"}<|action_sep|>    return x\n<|frame_sep|>');
  });

  test('a frame whose line is unknown writes its own sourceLine', () => {
    const trace = handTrace('def f():\n    return 1\n', { kind: 'function', name: 'f', line: 1 }, [['call', 0, 0, 0, '<module>', []]]);
    assert.equal(frameTexts(trace)[0], '<|call_sep|>{}<|action_sep|>\n<|frame_sep|>');
  });
});

describe('pythonJsonString', () => {
  /** Deterministic tricky strings: every escape class, BMP and astral characters, lone surrogates, random mixes. */
  function trickyStrings(): string[] {
    const strings: string[] = ['', '..', 'plain', '"', '\\', '\\"', '/', "'", '<|frame_sep|>', '\u007f', '\u0080', '\u00ff', '\u0100'];
    for (let c = 0; c < 0x20; c++) strings.push(String.fromCharCode(c), `a${String.fromCharCode(c)}b`);
    strings.push('é', 'ü', '中文', '\u2028\u2029', '\ufeff', '\uffff', '\ufffd', '😀', '𝄞', 'a😀b', '\ud800', '\udfff', '\udc00\ud800', 'x\ud83d');
    strings.push("'a\\x00b'", "{'k': [1, 2]}", '<function f.<locals>.g>', 'tab\there\nnewline\r\n', '\\u00e9 literal');
    const pool = [' ', 'a', 'Z', '~', '"', '\\', '\n', '\r', '\t', '\b', '\f', '\u0000', '\u001f', '\u007f', 'é', '\u0800', '\ud7ff', '\ue000', '😀', '\ud800', '\udbff', '\udc00', '\u00a0', '€'];
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let k = 0; k < 300; k++) {
      let s = '';
      const length = next() % 24;
      for (let i = 0; i < length; i++) s += pool[next() % pool.length];
      strings.push(s);
    }
    return strings;
  }

  test('matches Python json.dumps on several hundred tricky strings', () => {
    const strings = trickyStrings();
    assert.ok(strings.length > 350);
    const script = 'import json, sys\nfor s in json.load(sys.stdin):\n    print(json.dumps(s))\n';
    // JSON.stringify escapes lone surrogates, so the strings reach Python intact; Python's output is pure ASCII.
    const output = execFileSync('python3', ['-c', script], { input: JSON.stringify(strings), encoding: 'utf8' });
    const expected = output.split('\n').slice(0, -1);
    assert.equal(expected.length, strings.length);
    strings.forEach((s, i) => assert.equal(pythonJsonString(s), expected[i], `string #${i} ${JSON.stringify(s)}`));
  });

  test('differs from JSON.stringify where Python does', () => {
    assert.equal(pythonJsonString('é'), '"\\u00e9"');
    assert.equal(pythonJsonString('😀'), '"\\ud83d\\ude00"');
    assert.equal(pythonJsonString('\u007f'), '"\\u007f"');
    assert.notEqual(pythonJsonString('é'), JSON.stringify('é'));
  });
});
