// The compact locals a recording's frames hold (server/trace/compact-locals.ts) behave exactly as the Map they replace,
// whatever sequence of changes, new names and reorders the tracer's stream brings; and the tracer's frames use them.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CompactLocals, DeltaLocals, LocalsBuilder, LocalsLayout } from '../../server/trace/compact-locals';
import { TracerStreamParser } from '../../server/tracer/protocol';
import { renderLocals, CwmFrameEncoder } from '../../server/cwm/writer';
import type { TraceFrame } from '../../server/trace/model';

/** A small deterministic generator, so a failure names its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('compact locals', () => {
  test('every snapshot equals the Map built by the same changes, in order, after thousands of random changes', () => {
    for (const seed of [1, 2, 3, 42]) {
      const next = random(seed);
      const builder = new LocalsBuilder();
      let model = new Map<string, string>();
      const kept: { locals: CompactLocals; expected: [string, string][] }[] = [];
      for (let step = 0; step < 3000; step++) {
        const roll = next();
        if (roll < 0.02) {
          builder.reset();
          model = new Map();
        } else if (roll < 0.05 && model.size > 0) {
          // A `keys` record: one name dropped (del), the rest reversed.
          const names = [...model.keys()].reverse().slice(1);
          builder.reorder(names);
          model = new Map(names.map((name) => [name, model.get(name)!]));
        } else {
          const changes = 1 + Math.floor(next() * 2);
          for (let c = 0; c < changes; c++) {
            const name = `v${Math.floor(next() * 6)}`;
            const value = String(Math.floor(next() * 1000));
            builder.set(name, value);
            model.set(name, value);
          }
        }
        kept.push({ locals: builder.snapshot(), expected: [...model] });
      }
      for (const [k, { locals, expected }] of kept.entries()) {
        assert.deepEqual([...locals], expected, `seed ${seed}, snapshot ${k}`);
        assert.equal(locals.size, expected.length);
        for (const [name, value] of expected) assert.equal(locals.get(name), value);
        assert.equal(locals.get('absent'), undefined);
        assert.deepEqual([...locals.keys()], expected.map(([name]) => name));
        assert.deepEqual([...locals.values()], expected.map(([, value]) => value));
        // valuesInto (one walk of the chain, what the CWM byte encoder uses) writes over whatever the array held.
        const into = ['stale', 'stale', 'stale', 'stale', 'stale', 'stale', 'stale'];
        locals.valuesInto(into);
        assert.deepEqual(into.slice(0, expected.length), expected.map(([, value]) => value), `seed ${seed}, snapshot ${k}: valuesInto`);
        assert.equal(renderLocals(locals), renderLocals(new Map(expected)));
      }
      // A frame that changed one value holds only that change, and chains stay short.
      assert.ok(kept.some(({ locals }) => locals instanceof DeltaLocals), `seed ${seed}: no delta was used`);
      assert.ok(kept.every(({ locals }) => locals.chain <= 8));
    }
  });

  test('frames that change nothing share one object; the same names in the same order share one layout', () => {
    const builder = new LocalsBuilder();
    builder.set('a', '1');
    const first = builder.snapshot();
    assert.equal(builder.snapshot(), first);
    builder.reset();
    builder.set('a', '2');
    assert.equal(builder.snapshot().layout, first.layout);
    assert.equal(LocalsLayout.of(['a', 'b']), LocalsLayout.empty.plus('a').plus('b'));
    // A corrupted `keys` record repeating a name gets one slot for it.
    builder.reorder(['a', 'a', 'b']);
    assert.deepEqual([...builder.snapshot()], [['a', '2'], ['b', '']]);
  });

  test("the tracer's frames hold compact locals whose CWM encoding equals a Map's, `..` included", () => {
    const source = 'def f(n):\n    total = 0\n    for i in range(n):\n        total += i\n    return total\n';
    const stream = [
      '{"t": "begin", "entry": {"kind": "function", "name": "f", "line": 1, "args": "3"}}',
      'c1,0,f', ':n', '3', '2', '3', ':total', '0', '4', ':i', '0', '3', '4', ':i', '1', '3', ':total', '1', '4', ':i', '2', '3', ':total', '3', '5', '-5', '3',
      '{"t": "end", "events": 12, "end": {"kind": "returned"}}', '',
    ].join('\n');
    const frames: TraceFrame[] = [];
    const parser = new TracerStreamParser({
      onFrame: (frame) => frames.push(frame), onOutsideOutput: () => undefined, onNote: () => undefined, onStart: () => undefined,
      onBegin: () => undefined, onEnd: () => undefined, onProtocolError: (message) => assert.fail(message),
    }, source.split('\n'));
    parser.push(stream);
    parser.finish();
    assert.ok(frames.filter((f) => f.event !== 'return').every((f) => f.locals instanceof CompactLocals));
    const compact = new CwmFrameEncoder(source);
    const plain = new CwmFrameEncoder(source);
    for (const frame of frames) {
      assert.equal(compact.renderFrame(frame), plain.renderFrame({ ...frame, locals: new Map(frame.locals) }), `frame ${frame.index}`);
    }
    assert.deepEqual(frames.map((f) => [f.line, Object.fromEntries(f.locals)]), [
      [1, { n: '3' }], [2, { n: '3' }], [3, { n: '3', total: '0' }], [4, { n: '3', total: '0', i: '0' }], [3, { n: '3', total: '0', i: '0' }],
      [4, { n: '3', total: '0', i: '1' }], [3, { n: '3', total: '1', i: '1' }], [4, { n: '3', total: '1', i: '2' }], [3, { n: '3', total: '3', i: '2' }],
      [5, { n: '3', total: '3', i: '2' }], [5, {}],
    ]);
  });
});
