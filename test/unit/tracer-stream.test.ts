// The tracer's stream parser reads the same frames however the stream is cut into chunks: line tokens and names are
// read in place inside a chunk and through the line splitter across chunk ends, and both paths must agree. Its live
// mode (no snapshot per frame, for the CLI's CWM text) encodes to exactly the bytes the frames encode to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TracerStreamParser } from '../../server/tracer/protocol';
import { ByteSink, CwmFrameEncoder, markEntryLine } from '../../server/cwm/writer';
import type { TraceFrame } from '../../server/trace/model';
import { repoRoot } from '../helpers/paths';

const program = `def gen(k):
    for j in range(k):
        yield j * 10


def risky(x):
    if x == 2:
        raise ValueError("two\\nlines")
    return {"x": x, "s": "é😀" * x}


def main(n):
    total = 0
    for i in range(n):
        try:
            total += len(risky(i))
        except ValueError as e:
            message = str(e)
        for v in gen(2):
            total -= v
    del total
    total = -12
    a, b, c = 1, 2, 3
    a, b = b, a
    c = b
    a = 5
    b, c = 7, 8
    return total
`;

function record(): { stream: string; source: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-stream-'));
  const file = join(dir, 'prog.py');
  writeFileSync(file, program);
  const run = spawnSync('python3', ['-X', 'utf8', join(repoRoot, 'server', 'tracer', 'cwm_tracer.py'), '--entry', 'main', '--args', '4', file], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return { stream: run.stdout, source: program };
}

function parse(source: string, chunks: readonly string[]): { frames: unknown[]; errors: string[] } {
  const frames: unknown[] = [];
  const errors: string[] = [];
  const parser = new TracerStreamParser({
    onFrame: (frame: TraceFrame) => frames.push({ ...frame, locals: [...frame.locals] }),
    onOutsideOutput: () => undefined, onNote: () => undefined, onStart: () => undefined, onBegin: () => undefined,
    onEnd: () => undefined, onProtocolError: (message) => errors.push(message),
  }, source.split('\n'));
  for (const chunk of chunks) parser.push(chunk);
  parser.finish();
  return { frames, errors };
}

function cut(text: string, sizes: (k: number) => number): string[] {
  const chunks: string[] = [];
  for (let at = 0, k = 0; at < text.length; k++) {
    const size = sizes(k);
    chunks.push(text.slice(at, at + size));
    at += size;
  }
  return chunks;
}

test('a real stream gives the same frames whole, a character at a time, and in chunks of every small size', () => {
  const { stream, source } = record();
  const whole = parse(source, [stream]);
  assert.deepEqual(whole.errors, []);
  assert.ok(whole.frames.length > 60, `${whole.frames.length} frames`);
  const kinds = new Set(whole.frames.map((frame) => (frame as TraceFrame).event));
  assert.deepEqual([...kinds].sort(), ['call', 'exception', 'line', 'return']);
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (const sizes of [() => 1, () => 2, () => 3, () => 5, () => 64, () => 4000, () => 1 + (random() % 50)]) {
    assert.deepEqual(parse(source, cut(stream, sizes)), whole);
  }
});

test('tokens the fast path leaves to the slow one read as before: values that look like tokens, odd numbers, empty lines', () => {
  const source = 'def f(a):\n    b = a\n    return b\n';
  const lines = ['c1,0,f', ':a', '-5', '2', ':b', '12', '', '0002', '3', '12abc', '-3', '-0'];
  const expected = parse(source, [lines.join('\n') + '\n']);
  // `-5` and `12` are values (they follow a name; `12` is set after line 2's token, so line 2's frame has it), the empty
  // line is skipped, `0002` is line 2, `12abc` reads as line 12 (parseInt), `-3` returns with the value `-0`. The parser
  // before the in-place reading gave exactly these frames.
  const shape = expected.frames.map((frame) => {
    const f = frame as TraceFrame & { locals: [string, string][] };
    return [f.event, f.line, f.locals, f.value];
  });
  const ab = [['a', '-5'], ['b', '12']];
  assert.deepEqual(shape, [
    ['call', 1, [['a', '-5']], undefined], ['line', 2, ab, undefined], ['line', 2, ab, undefined], ['line', 3, ab, undefined],
    ['line', 12, ab, undefined], ['return', 3, [], '-0'],
  ]);
  for (const size of [1, 2, 3, 4]) assert.deepEqual(parse(source, cut(lines.join('\n') + '\n', () => size)), expected);
});

/** CWM bytes of the stream: through frames (snapshots) and encodeFrame, or through live mode and encodeLiveFrame. */
function encoded(source: string, chunks: readonly string[], live: boolean): Buffer {
  const out: Buffer[] = [];
  const sink = new ByteSink((chunk) => out.push(chunk), 61);
  const encoder = new CwmFrameEncoder(markEntryLine(source, { kind: 'function', name: 'main', line: 13 }));
  const parser = new TracerStreamParser({
    onFrame: (frame) => encoder.encodeFrame(frame, sink),
    ...(live ? { onLiveFrame: (frame: TraceFrame, locals: Parameters<CwmFrameEncoder['encodeLiveFrame']>[1]) => encoder.encodeLiveFrame(frame, locals, sink) } : {}),
    onOutsideOutput: () => undefined, onNote: () => undefined, onStart: () => undefined, onBegin: () => undefined,
    onEnd: () => undefined, onProtocolError: (message) => assert.fail(message),
  }, source.split('\n'));
  for (const chunk of chunks) parser.push(chunk);
  parser.finish();
  sink.flush();
  return Buffer.concat(out);
}

test('live mode encodes a real stream to the bytes its frames encode to, however it is cut', () => {
  const { stream, source } = record();
  const expected = encoded(source, [stream], false);
  // The stream has what live mode must get right: a new scope's locals in full, one changed value, several at once
  // (a, b = b, a), a deleted local (keys record), a generator's resume, another scope between two frames of one.
  const text = expected.toString('utf8');
  assert.match(text, /"total": "\.\.", "a": "2", "b": "1", "c": "\.\."\}/);
  assert.match(text, /\{"n": "\.\.", "i": "\.\.", "v": "\.\.", "message": "\.\."\}<\|action_sep\|> {4}total = -12/);
  assert.match(text, /<\|call_sep\|>\{"k": "2", "j": "1"\}/);
  // One value changed, then two: the one changed before is the same as the frame before's.
  assert.match(text, /"a": "\.\.", "b": "7", "c": "8"\}<\|action_sep\|> {4}return total/);
  let seed = 11;
  const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (const sizes of [() => stream.length, () => 1, () => 3, () => 64, () => 1 + (random() % 50)]) {
    assert.ok(encoded(source, cut(stream, sizes), true).equals(expected), 'live mode wrote other bytes');
  }
});
