// Fuzz test of the CWM reader: 10,000 seeded random mutations of rendered traces, read whole and in random chunks.
// The reader must never throw, must finish, must give the same result however the text is chunked, and keep its invariants.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CwmTraceReader, readCwmTrace, type CwmReaderOptions, type ReaderItem } from '../../server/cwm/reader';
import { splitSourceLines } from '../../server/cwm/lines';
import { markEntryLine, renderTrace } from '../../server/cwm/writer';
import { specSource, specTrace, handTraces } from '../fixtures/cwm/traces';

/** mulberry32: a small seeded PRNG, so that every run sees the same inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  '<|begin_of_text|>', '<|end_of_text|>', '<|frame_sep|>', '<|action_sep|>', '<|return_sep|>', '<|call_sep|>', '<|line_sep|>',
  '<|exception_sep|>', '<|arg_sep|>', '<|trace_context_start|>', '<|eot_id|>', '<|eom_id|>', '<|reserved_special_token_7|>',
  '<|reserved_special_token_250|>', '<|thinking_start|>', '<|pad|>', '<|fra', 'me_sep|>', '<|', '|>', '<', '<|not_special|>', '".."', '..',
];
const JSON_NOISE = ['{', '}', '[', ']', '"', ':', ',', '\\', '\\u', '\\ud800', '\\x', '..', ' ', '\n', 'null', '-1e9', 'true'];

interface Case {
  readonly text: string;
  readonly options: CwmReaderOptions;
}

function mutate(text: string, random: () => number): string {
  const int = (n: number): number => Math.floor(random() * n);
  const span = (): [number, number] => {
    const a = int(text.length + 1);
    const b = Math.min(text.length, a + int(random() < 0.8 ? 40 : 400));
    return [a, b];
  };
  const mutations = 1 + int(4);
  for (let m = 0; m < mutations; m++) {
    const [a, b] = span();
    switch (int(9)) {
      case 0: // delete a span
        text = text.slice(0, a) + text.slice(b);
        break;
      case 1: // duplicate a span
        text = text.slice(0, b) + text.slice(a, b) + text.slice(b);
        break;
      case 2: { // swap two spans
        const [c, d] = span();
        if (c >= b) text = text.slice(0, a) + text.slice(c, d) + text.slice(b, c) + text.slice(a, b) + text.slice(d);
        break;
      }
      case 3: // insert special tokens or pieces of them
        for (let k = 1 + int(3); k > 0; k--) {
          const at = int(text.length + 1);
          text = text.slice(0, at) + TOKENS[int(TOKENS.length)] + text.slice(at);
        }
        break;
      case 4: // cut anywhere
        text = text.slice(0, a);
        break;
      case 5: // corrupt JSON
        for (let k = 1 + int(5); k > 0; k--) {
          const at = int(text.length + 1);
          text = text.slice(0, at) + JSON_NOISE[int(JSON_NOISE.length)] + text.slice(at + int(2));
        }
        break;
      case 6: { // random code units, lone surrogates and control characters included
        let noise = '';
        for (let k = 1 + int(30); k > 0; k--) noise += String.fromCharCode(random() < 0.5 ? int(128) : int(0x10000));
        text = text.slice(0, a) + noise + text.slice(a);
        break;
      }
      case 7: { // huge repetition
        const unit = random() < 0.5 ? text.slice(a, Math.min(b, a + 30)) || 'x' : ['{', '"', '\\', '<|', '[', 'a', ' ', '..', '<|frame_sep|>'][int(9)];
        text = text.slice(0, a) + unit.repeat(1 + int(random() < 0.9 ? 200 : 20000)) + text.slice(a);
        break;
      }
      default: // replace one character
        if (text.length > 0) {
          const at = int(text.length);
          text = text.slice(0, at) + String.fromCharCode(32 + int(95)) + text.slice(at + 1);
        }
    }
  }
  return text;
}

function makeCases(count: number, seed: number): Case[] {
  const random = prng(seed);
  const bases = handTraces.map(({ trace }) => {
    const context = markEntryLine(trace.source, trace.entry);
    const full = renderTrace(trace);
    return { context, entry: trace.entry, full, frames: full.slice(`<|begin_of_text|><|trace_context_start|>${context}`.length) };
  });
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const base = bases[Math.floor(random() * bases.length)];
    const withPrompt = random() < 0.3;
    const text = mutate(withPrompt ? base.full : base.frames, random);
    const pick = random();
    const context = pick < 0.85 ? base.context : pick < 0.95 ? '' : mutate(base.context, random);
    const options: CwmReaderOptions =
      random() < 0.1 ? { context, entry: base.entry, startIndex: Math.floor(random() * 100) } : random() < 0.1 ? { context } : { context, entry: base.entry };
    cases.push({ text, options });
  }
  return cases;
}

function chunked(text: string, options: CwmReaderOptions, random: () => number): ReaderItem[] {
  const reader = new CwmTraceReader(options);
  const items: ReaderItem[] = [];
  let at = 0;
  const oneByOne = text.length < 5000 && random() < 0.2;
  while (at < text.length) {
    const size = oneByOne ? 1 : 1 + Math.floor(random() * (random() < 0.5 ? 8 : 2000));
    items.push(...reader.push(text.slice(at, at + size)));
    at += size;
  }
  items.push(...reader.finish());
  return items;
}

/** What the reader promises about any output, whatever the input. */
function assertInvariants(result: ReturnType<typeof readCwmTrace>, options: CwmReaderOptions, label: string): void {
  const lineCount = splitSourceLines(result.context).length;
  const first = options.startIndex ?? 0;
  result.frames.forEach((frame, i) => {
    assert.equal(frame.index, first + i, `${label}: frame index`);
    assert.ok(frame.line >= 0 && frame.line <= lineCount, `${label}: line ${frame.line} of ${lineCount}`);
    assert.ok(frame.depth >= 0 && Number.isInteger(frame.depth), `${label}: depth`);
    assert.equal(typeof frame.sourceLine, 'string');
    assert.ok(!frame.sourceLine.includes('\n'), `${label}: sourceLine holds a newline`);
    assert.ok(frame.functionName.length > 0, `${label}: function name`);
    assert.ok(frame.locals instanceof Map);
    for (const [name, value] of frame.locals) assert.ok(typeof name === 'string' && typeof value === 'string');
    if (frame.event === 'return' || frame.event === 'exception') assert.equal(typeof frame.value, 'string');
    if (frame.issues) assert.equal(typeof frame.raw, 'string', `${label}: issues without raw text`);
  });
  for (const m of result.malformed) {
    assert.ok(!m.reason.startsWith('reader error'), `${label}: ${m.reason}`);
    assert.ok(m.index >= first && m.index <= first + result.frames.length, `${label}: malformed index`);
  }
}

function summarize(items: readonly ReaderItem[]) {
  return {
    frames: items.flatMap((i) => (i.kind === 'frame' ? [i.frame] : [])),
    malformed: items.flatMap((i) => (i.kind === 'malformed' ? [i.malformed] : [])),
    ended: items.some((i) => i.kind === 'end'),
  };
}

describe('reader fuzz', () => {
  test('10,000 mutated and truncated traces: no throw, same result in chunks, invariants hold', { timeout: 120000 }, (t) => {
    const cases = makeCases(10000, 20250101);
    const random = prng(7);
    let frames = 0;
    let malformed = 0;
    let issues = 0;
    let endedCount = 0;
    for (const [i, { text, options }] of cases.entries()) {
      const label = `case ${i}`;
      const whole = readCwmTrace(text, options);
      assertInvariants(whole, options, label);
      const { frames: f, malformed: m, ended } = summarize(chunked(text, options, random));
      assert.deepEqual({ frames: f, malformed: m, ended }, { frames: whole.frames, malformed: whole.malformed, ended: whole.ended }, `${label}: chunked differs`);
      frames += whole.frames.length;
      malformed += whole.malformed.length;
      issues += whole.frames.filter((x) => x.issues).length;
      if (whole.ended) endedCount++;
    }
    t.diagnostic(`frames ${frames}, malformed ${malformed}, frames with issues ${issues}, ended ${endedCount}`);
    // The mutations must actually exercise both the happy path and the tolerant paths.
    assert.ok(frames > 50000, `frames ${frames}`);
    assert.ok(malformed > 1000, `malformed ${malformed}`);
    assert.ok(issues > 5000, `frames with issues ${issues}`);
  });

  test('pathological inputs complete, pushed whole and one character at a time', { timeout: 120000 }, () => {
    const inputs = [
      '<'.repeat(200000),
      '<|'.repeat(100000),
      '<|frame_sep'.repeat(20000),
      '<|call_sep|>' + '{'.repeat(200000),
      '<|call_sep|>{"a": ' + '['.repeat(200000),
      '<|line_sep|>{"a": "' + '\\'.repeat(200001),
      '<|line_sep|>{"a": "' + '\\u12'.repeat(50000),
      '<|line_sep|>{' + '"a": "..", '.repeat(30000) + '}<|action_sep|>    y = a\n<|frame_sep|>',
      '<|call_sep|>{}<|action_sep|>def f(a,b):\n<|frame_sep|>'.repeat(20000),
      '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"6"<|frame_sep|>'.repeat(20000),
      '<|begin_of_text|><|trace_context_start|>' + '<|frame_sep|>x'.repeat(30000),
      '<|line_sep|>{}<|action_sep|>' + ' '.repeat(200000) + 'y = a\n<|frame_sep|>',
    ];
    for (const [i, text] of inputs.entries()) {
      const options = { context: specSource, entry: specTrace.entry };
      const whole = readCwmTrace(text, options);
      assertInvariants(whole, options, `input ${i}`);
      const reader = new CwmTraceReader(options);
      const items: ReaderItem[] = [];
      for (let k = 0; k < text.length; k++) items.push(...reader.push(text[k]));
      items.push(...reader.finish());
      const { frames, malformed, ended } = summarize(items);
      assert.deepEqual({ frames, malformed, ended }, { frames: whole.frames, malformed: whole.malformed, ended: whole.ended }, `input ${i}`);
    }
  });

  test('a context with one line repeated thousands of times still reads', { timeout: 120000 }, () => {
    const context = 'def f(x):  # << START_OF_TRACE\n' + '    x += 1\n'.repeat(5000) + '    return x\n';
    const text = '<|call_sep|>{"x": "0"}<|action_sep|>def f(x):  # << START_OF_TRACE\n<|frame_sep|>' + '<|line_sep|>{"x": "1"}<|action_sep|>    x += 1\n<|frame_sep|>'.repeat(5000);
    const read = readCwmTrace(text, { context, entry: { kind: 'function', name: 'f', line: 1 } });
    assert.equal(read.frames.length, 5001);
    assert.equal(read.frames[0].line, 1);
    // Too many equal candidates to judge each: only the cheap preferences apply, so any of the repeated lines will do.
    assert.ok(read.frames.slice(1).every((f) => f.line >= 2 && f.line <= 5001 && f.issues === undefined));
  });
});
