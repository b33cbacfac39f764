// Tests CWM's tokenizer (server/cwm/tokenizer.ts) on BPE ranks files built by test/helpers/tokenizer-fixture.ts:
// round trips over the corpus, special tokens against the spec table, streaming UTF-8, file errors, WASM lookup.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { Tiktoken } from 'tiktoken/lite/init';
import {
  CWM_PRETOKENIZE_PATTERN,
  CwmTokenizer,
  TokenizerError,
  loadTokenizer,
  locateTiktokenWasm,
  TIKTOKEN_WASM_FILE,
} from '../../server/cwm/tokenizer';
import { STOP_TOKEN_IDS, Tok, TokId, specialTokenMap, specialTokenText } from '../../server/cwm/tokens';
import { buildTestRanksFile, singleByteOrder, writeTestTokenizer, DEFAULT_TEST_RANKS_SIZE } from '../helpers/tokenizer-fixture';
import { fixturesDir, repoRoot } from '../helpers/paths';

const CorpusEntry = z.object({ code: z.string(), input: z.string(), output: z.string(), id: z.string() });
const corpus = readFileSync(join(fixturesDir, 'corpus', 'cruxeval.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => CorpusEntry.parse(JSON.parse(line)));

// The spec's example: its source with the entry marker, and the trace exactly as on the wire.
const specSource = [
  'def f(a,b):',
  '    y = a',
  '    for i in range(b):',
  '        y += y * i',
  '    return y',
  '',
  'def main(): # << START_OF_TRACE',
  '    return f(1,3)',
  '',
].join('\n');
const specTrace = [
  '<|frame_sep|><|call_sep|>{}<|action_sep|>def main(): # << START_OF_TRACE\n',
  '<|frame_sep|><|line_sep|>{}<|action_sep|>    return f(1,3)\n',
  '<|frame_sep|><|call_sep|>{"a": "1", "b": "3"}<|action_sep|>def f(a,b):\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": ".."}<|action_sep|>    y = a\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "1"}<|action_sep|>    for i in range(b):\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "..", "i": "0"}<|action_sep|>        y += y * i\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "..", "i": ".."}<|action_sep|>    for i in range(b):\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "..", "i": "1"}<|action_sep|>        y += y * i\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "2", "i": ".."}<|action_sep|>    for i in range(b):\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "..", "i": "2"}<|action_sep|>        y += y * i\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "6", "i": ".."}<|action_sep|>    for i in range(b):\n',
  '<|frame_sep|><|line_sep|>{"a": "..", "b": "..", "y": "..", "i": ".."}<|action_sep|>    return y\n',
  '<|frame_sep|><|return_sep|><|action_sep|>    return y\n',
  '<|arg_sep|>"6"<|frame_sep|><|return_sep|><|action_sep|>    return f(1,3)\n',
  '<|arg_sep|>"6"<|frame_sep|><|end_of_text|>',
].join('');

// The spec's table, written out here rather than taken from tokens.ts, so a drift in either shows.
const specTable: ReadonlyArray<readonly [string, number]> = [
  ['<|begin_of_text|>', 128000],
  ['<|end_of_text|>', 128001],
  ['<|frame_sep|>', 128100],
  ['<|action_sep|>', 128101],
  ['<|return_sep|>', 128102],
  ['<|call_sep|>', 128103],
  ['<|line_sep|>', 128104],
  ['<|exception_sep|>', 128105],
  ['<|arg_sep|>', 128106],
  ['<|trace_context_start|>', 128107],
  ['<|pad|>', 128004],
  ['<|start_header_id|>', 128006],
  ['<|end_header_id|>', 128007],
  ['<|eom_id|>', 128008],
  ['<|eot_id|>', 128009],
  ['<|thinking_start|>', 128120],
  ['<|thinking_end|>', 128121],
  ['<|reserved_special_token_2|>', 128002],
  ['<|reserved_special_token_255|>', 128255],
];

const multiByteTexts = [
  'x = "😀"  # 中文注释\n',
  '\uFEFFdef f(s):\n    return s + "🐍🐍" + "日本語" + "é" + "e\u0301"\n',
  '{"s": "\'Привет, мир\'", "e": "\'👩‍👩‍👧\'"}',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and ASCII mixed: α β γ 🎉',
];

let workDir: string;
let small: CwmTokenizer;
let spec: CwmTokenizer;

before(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'cwm-tokenizer-test-'));
  mkdirSync(join(workDir, 'small'));
  mkdirSync(join(workDir, 'spec'));
  small = await loadTokenizer(await writeTestTokenizer(join(workDir, 'small')));
  spec = await loadTokenizer(await writeTestTokenizer(join(workDir, 'spec'), { size: 128000 }));
});

after(() => {
  small.dispose();
  spec.dispose();
  rmSync(workDir, { recursive: true, force: true });
});

describe('test ranks file', () => {
  const parse = (text: string): Buffer[] =>
    text.trimEnd().split('\n').map((line, i) => {
      const [b64, rank] = line.split(' ');
      assert.equal(Number(rank), i, `line ${i + 1} carries rank ${rank}`);
      return Buffer.from(b64!, 'base64');
    });

  test('starts with the 256 single bytes in tiktoken order, then merges of two earlier tokens', () => {
    const tokens = parse(buildTestRanksFile());
    assert.equal(tokens.length, DEFAULT_TEST_RANKS_SIZE);
    // cl100k (hence CWM) puts '!' at rank 0, '~' at 93, '¡' at 94 and the unprintable bytes last.
    assert.deepEqual([...tokens[0]!], [0x21]);
    assert.deepEqual([...tokens[93]!], [0x7e]);
    assert.deepEqual([...tokens[94]!], [0xa1]);
    assert.deepEqual([...tokens[187]!], [0xff]);
    assert.deepEqual([...tokens[188]!], [0x00]);
    assert.deepEqual([...tokens[220]!], [0x20]);
    assert.deepEqual([...tokens[255]!], [0xad]);
    assert.deepEqual(tokens.slice(0, 256).map((t) => t[0]), singleByteOrder());
    const rankOf = new Map(tokens.map((t, rank) => [t.toString('latin1'), rank]));
    assert.equal(rankOf.size, tokens.length, 'tokens are distinct');
    let learned = 0;
    for (let rank = 256; rank < tokens.length; rank++) {
      const token = tokens[rank]!;
      if (token.includes(0xff)) continue; // padding, unreachable
      learned++;
      let split = false;
      for (let cut = 1; cut < token.length && !split; cut++) {
        const left = rankOf.get(token.subarray(0, cut).toString('latin1'));
        const right = rankOf.get(token.subarray(cut).toString('latin1'));
        split = left !== undefined && right !== undefined && left < rank && right < rank;
      }
      assert.ok(split, `rank ${rank} (${JSON.stringify(token.toString('utf8'))}) is not a merge of two earlier tokens`);
    }
    assert.ok(learned > 2000, `only ${learned} merges learned`);
  });

  test('the 128000-line file has the same learned ranks, padded with tokens no text reaches', () => {
    const smallTokens = parse(buildTestRanksFile());
    const bigTokens = parse(buildTestRanksFile({ size: 128000 }));
    assert.equal(bigTokens.length, 128000);
    assert.deepEqual(bigTokens.slice(0, smallTokens.length), smallTokens);
    for (const code of corpus.slice(0, 100).map((e) => e.code)) {
      assert.deepEqual(spec.encodeOrdinary(code), small.encodeOrdinary(code));
    }
  });

  test('learns from a given training text', () => {
    const tokens = parse(buildTestRanksFile({ size: 300, trainingText: 'abababab abab ab cdcdcd' }));
    assert.equal(tokens.length, 300);
    const texts = tokens.slice(256).map((t) => t.toString('latin1'));
    assert.equal(texts[0], 'ab', 'the most frequent pair is merged first');
    assert.ok(texts.includes('abab'));
  });
});

describe('encoding and decoding', () => {
  test('every corpus program, input and output round-trips through encodeOrdinary and decode', () => {
    let chars = 0;
    let tokens = 0;
    for (const entry of corpus) {
      for (const text of [entry.code, entry.input, entry.output]) {
        const ids = small.encodeOrdinary(text);
        assert.equal(small.decode(ids), text, `corpus ${entry.id}`);
        assert.ok(ids.every((id) => id >= 0 && id < small.ordinaryCount), `corpus ${entry.id} produced a special id`);
        chars += text.length;
        tokens += ids.length;
      }
    }
    assert.equal(corpus.length, 800); // sample_0..sample_799 (799 newlines, none after the last)
    // A byte-level fallback would give ~1 char per token; learned merges must compress well.
    assert.ok(chars / tokens > 2.5, `only ${(chars / tokens).toFixed(2)} characters per token`);
  });

  test('special-token text inside a program stays ordinary text', () => {
    const source = 'def f(s):\n    return s.split("<|frame_sep|>") + ["<|end_of_text|>"]\n';
    const ids = spec.encodeOrdinary(source);
    assert.ok(!ids.some((id) => spec.isSpecial(id)), `special id in ${ids.join(',')}`);
    assert.ok(!ids.includes(TokId.frameSep));
    assert.equal(spec.decode(ids), source);
    // The same text read as rendered CWM text does hold the special tokens.
    const withSpecials = spec.encodeWithSpecialTokens(source);
    assert.deepEqual(withSpecials.filter((id) => spec.isSpecial(id)), [TokId.frameSep, TokId.endOfText]);
    assert.equal(spec.decode(withSpecials), source);
  });

  test("the spec example's trace encodes its event tokens as the special ids and decodes back", () => {
    const ids = spec.encodeWithSpecialTokens(specTrace);
    const idOf = new Map(specTable);
    const expected = [...specTrace.matchAll(/<\|[a-z_]+\|>/g)].map((m) => idOf.get(m[0])!);
    assert.equal(expected.length, 46);
    assert.deepEqual(ids.filter((id) => id >= 128000), expected);
    assert.equal(ids[0], 128100);
    assert.deepEqual(ids.slice(-2), [128100, 128001]);
    // Between special tokens the text is encoded exactly as ordinary text.
    const pieces = specTrace.split(/<\|[a-z_]+\|>/).filter((p) => p !== '');
    assert.deepEqual(ids.filter((id) => id < 128000), pieces.flatMap((p) => spec.encodeOrdinary(p)));
    assert.equal(spec.decode(ids), specTrace);
  });

  test("encodeWithSpecialTokens agrees with tiktoken's own encode(text, 'all')", () => {
    // A second encoder straight from tiktoken, on the same file (the WASM is already started by loadTokenizer).
    const reference = new Tiktoken(buildTestRanksFile({ size: 128000 }), Object.fromEntries(specialTokenMap(128000)), CWM_PRETOKENIZE_PATTERN);
    try {
      const texts = [
        specTrace,
        `${Tok.beginOfText}${Tok.traceContextStart}${specSource}${Tok.frameSep}`,
        '<|a<|frame_sep|>b<|frame_sep|<|foo|><|frame_sep|>|><|reserved_special_token_77|>',
        'no special tokens at all',
        '',
        '<|end_of_text|>',
        ...corpus.map((e) => `${Tok.lineSep}${JSON.stringify({ x: e.input, y: '..' })}${Tok.actionSep}${e.code.split('\n')[1] ?? ''}\n${Tok.frameSep}`),
        ...corpus.map((e) => `${Tok.returnSep}${Tok.actionSep}    return x\n${Tok.argSep}${JSON.stringify(e.output)}${Tok.frameSep}`),
      ];
      for (const text of texts) assert.deepEqual(spec.encodeWithSpecialTokens(text), Array.from(reference.encode(text, 'all')), text);
    } finally {
      reference.free();
    }
  });

  test('a prompt built from the spec source starts with BOS and trace_context_start and ends with frame_sep', () => {
    const prompt = `${Tok.beginOfText}${Tok.traceContextStart}${specSource}${Tok.frameSep}`;
    const ids = spec.encodeWithSpecialTokens(prompt);
    assert.deepEqual(ids.slice(0, 2), [128000, 128107]);
    assert.equal(ids[ids.length - 1], 128100);
    assert.deepEqual(ids.slice(2, -1), spec.encodeOrdinary(specSource));
  });

  test('decode renders each of the 256 special tokens as its text, and each text encodes to its one id', () => {
    for (let k = 0; k < 256; k++) {
      const text = specialTokenText(k);
      for (const tok of [small, spec]) {
        const id = tok.ordinaryCount + k;
        assert.deepEqual(tok.encodeWithSpecialTokens(text), [id]);
        assert.equal(tok.decode([id]), text);
        assert.equal(tok.specialTokenId(text), id);
        assert.ok(tok.isSpecial(id));
      }
    }
    assert.equal(small.decode([small.ordinaryCount + 100, ...small.encodeOrdinary('x = 1'), small.ordinaryCount + 1]), '<|frame_sep|>x = 1<|end_of_text|>');
    assert.equal(small.isSpecial(small.ordinaryCount - 1), false);
    assert.equal(small.isSpecial(small.ordinaryCount + 256), false);
    assert.equal(small.specialTokenId('<|not_a_token|>'), undefined);
    assert.equal(small.specialTokenId('frame_sep'), undefined);
  });

  test('ids match the spec table when the ranks file has 128000 tokens', () => {
    assert.equal(spec.ordinaryCount, 128000);
    for (const [text, id] of specTable) {
      assert.equal(spec.specialTokenId(text), id, text);
      assert.deepEqual(spec.encodeWithSpecialTokens(text), [id], text);
    }
    assert.equal(spec.specialTokenId(Tok.frameSep), TokId.frameSep);
    assert.equal(spec.specialTokenId('<|eom_id|>'), TokId.endOfMessage);
    assert.equal(spec.specialTokenId('<|eot_id|>'), TokId.endOfTurn);
    assert.ok(STOP_TOKEN_IDS.every((id) => spec.isSpecial(id)));
    // With the small file the same tokens follow its own size.
    assert.equal(small.ordinaryCount, DEFAULT_TEST_RANKS_SIZE);
    assert.equal(small.specialTokenId(Tok.frameSep), DEFAULT_TEST_RANKS_SIZE + 100);
  });

  test('multi-byte characters round-trip, a leading BOM included', () => {
    for (const text of multiByteTexts) {
      assert.equal(small.decode(small.encodeOrdinary(text)), text);
      assert.equal(spec.decode(spec.encodeWithSpecialTokens(`${Tok.frameSep}${text}`)), `${Tok.frameSep}${text}`);
    }
  });

  test('bytes that are not valid UTF-8 decode to U+FFFD', () => {
    const lone = small.encodeOrdinary('é'); // two bytes; the test vocabulary may or may not merge them
    const bytes = [0xc3, 0xa9];
    const byteIds = bytes.map((b) => singleByteOrder().indexOf(b));
    assert.equal(small.decode(byteIds), 'é');
    assert.equal(small.decode([byteIds[0]!]), '\uFFFD');
    assert.equal(small.decode([byteIds[1]!, ...lone]), '\uFFFDé');
  });

  test('ids outside the vocabulary are rejected', () => {
    assert.throws(() => small.decode([small.ordinaryCount + 256]), RangeError);
    assert.throws(() => small.decode([-1]), RangeError);
    assert.throws(() => small.decode([1.5]), RangeError);
    assert.throws(() => small.streamDecoder().push([1e9]), /outside the vocabulary/);
  });
});

describe('streaming decoder', () => {
  test('decoding id by id, or split anywhere, gives the same text as decode', () => {
    let splitsInsideACharacter = 0;
    for (const text of multiByteTexts) {
      const ids = small.encodeWithSpecialTokens(`${Tok.lineSep}${text}${Tok.frameSep}`);
      const whole = small.decode(ids);
      assert.equal(whole, `${Tok.lineSep}${text}${Tok.frameSep}`);

      const oneByOne = small.streamDecoder();
      let streamed = '';
      for (const id of ids) {
        const chunk = oneByOne.push([id]);
        assert.ok(!chunk.includes('\uFFFD'), `a character was broken at id ${id}`);
        streamed += chunk;
      }
      streamed += oneByOne.end();
      assert.equal(streamed, whole);

      for (let cut = 0; cut <= ids.length; cut++) {
        if (small.decode(ids.slice(0, cut)).includes('\uFFFD')) splitsInsideACharacter++;
        const decoder = small.streamDecoder();
        const first = decoder.push(ids.slice(0, cut));
        assert.equal(first + decoder.push([]) + decoder.push(ids.slice(cut)) + decoder.end(), whole, `cut at ${cut}`);
        assert.ok(whole.startsWith(first));
      }
    }
    // Otherwise the test would not exercise held-back bytes at all.
    assert.ok(splitsInsideACharacter > 5, `only ${splitsInsideACharacter} cuts fell inside a character`);
  });

  test('end() flushes an unfinished character as U+FFFD', () => {
    const ids = small.encodeOrdinary('😀');
    assert.ok(ids.length > 1, 'the emoji must span several tokens for this test');
    const decoder = small.streamDecoder();
    assert.equal(decoder.push(ids.slice(0, 1)), '');
    assert.equal(decoder.end(), '\uFFFD');
  });
});

describe('loading', () => {
  test('a missing file says where the tokenizer was expected and how to point at it', async () => {
    const path = join(workDir, 'nowhere', 'tokenizer.model');
    await assert.rejects(loadTokenizer(path), (error: unknown) => {
      assert.ok(error instanceof TokenizerError);
      assert.equal(error.kind, 'missing');
      assert.equal(error.path, path);
      assert.equal(
        error.message,
        `Tokenizer not found at ${path}. Point --tokenizer (or the cwmDebug.tokenizerPath setting) at the checkpoint's tokenizer.model.`,
      );
      return true;
    });
  });

  test('a directory is unreadable and the message says to pick the file inside', async () => {
    await assert.rejects(loadTokenizer(join(workDir, 'small')), (error: unknown) => {
      assert.ok(error instanceof TokenizerError);
      assert.equal(error.kind, 'unreadable');
      assert.match(error.message, /is a directory.*tokenizer\.model/);
      return true;
    });
  });

  const invalidCases: ReadonlyArray<{ name: string; edit: (lines: string[]) => void; line?: number; message: RegExp }> = [
    { name: 'a line without a rank', edit: (l) => { l[299] = l[299]!.split(' ')[0]!; }, line: 300, message: /line 300 is not "<base64 bytes> <rank>"/ },
    { name: 'bad base64', edit: (l) => { l[41] = 'abcde 41'; }, line: 42, message: /line 42 has invalid base64/ },
    { name: 'non-canonical base64', edit: (l) => { l[0] = 'IR== 0'; }, line: 1, message: /line 1 has invalid base64 "IR=="/ },
    { name: 'a repeated rank', edit: (l) => { l[500] = `${l[500]!.split(' ')[0]} 499`; }, line: 501, message: /line 501 repeats rank 499 \(already on line 500\)/ },
    { name: 'a rank past the end', edit: (l) => { l[500] = `${l[500]!.split(' ')[0]} 99999`; }, line: 501, message: /line 501 has rank 99999, but ranks must be 0\.\.3999/ },
    { name: 'a repeated token', edit: (l) => { l[600] = `${l[0]!.split(' ')[0]} 600`; }, line: 601, message: /line 601 repeats the token IQ== of line 1/ },
    { name: 'a missing single byte', edit: (l) => { l[0] = `${Buffer.of(0xfe, 0xfe, 0xfe).toString('base64')} 0`; }, message: /lacks the single-byte tokens 0x21/ },
  ];
  for (const { name, edit, line, message } of invalidCases) {
    test(`a ranks file with ${name} is invalid and the message says where`, async () => {
      const lines = buildTestRanksFile().trimEnd().split('\n');
      edit(lines);
      const path = join(workDir, `bad-${name.replace(/\W+/g, '-')}.model`);
      writeFileSync(path, `${lines.join('\n')}\n`);
      await assert.rejects(loadTokenizer(path), (error: unknown) => {
        assert.ok(error instanceof TokenizerError, String(error));
        assert.equal(error.kind, 'invalid');
        assert.equal(error.line, line);
        assert.match(error.message, message);
        assert.ok(error.message.includes(path));
        return true;
      });
    });
  }

  test('an empty file and a JSON tokenizer are invalid, the latter with a hint', async () => {
    const empty = join(workDir, 'empty.model');
    writeFileSync(empty, '\n');
    await assert.rejects(loadTokenizer(empty), /holds no tokens/);
    const json = join(workDir, 'tokenizer.json');
    writeFileSync(json, '{\n  "version": "1.0",\n  "model": {}\n}\n');
    await assert.rejects(loadTokenizer(json), /line 1 .*looks like JSON/);
  });

  test('CRLF line endings load the same tokenizer', async () => {
    const path = join(workDir, 'crlf.model');
    writeFileSync(path, buildTestRanksFile().replace(/\n/g, '\r\n'));
    const crlf = await loadTokenizer(path);
    try {
      const code = corpus[7]!.code;
      assert.deepEqual(crlf.encodeOrdinary(code), small.encodeOrdinary(code));
      assert.equal(crlf.ordinaryCount, small.ordinaryCount);
    } finally {
      crlf.dispose();
    }
  });

  test('after dispose, encoding throws and decoding still works', async () => {
    const tok = await loadTokenizer(join(workDir, 'small', 'tokenizer.model'));
    const ids = tok.encodeOrdinary('print("hi")');
    tok.dispose();
    assert.throws(() => tok.encodeOrdinary('x'), /disposed/);
    assert.equal(tok.decode(ids), 'print("hi")');
    tok.dispose();
  });
});

describe('WASM lookup', () => {
  test('the compiled test bundle finds the WASM binary', () => {
    const wasm = locateTiktokenWasm();
    assert.ok(existsSync(wasm));
    assert.ok(wasm.endsWith(TIKTOKEN_WASM_FILE));
    assert.ok(__filename.endsWith('.js'), 'runs from the bundle in out/test');
  });

  test('a bundle with the WASM next to it and no node_modules around works, as in the packaged extension', () => {
    const shipped = join(repoRoot, 'dist', TIKTOKEN_WASM_FILE);
    assert.ok(existsSync(shipped), 'build.mjs copies the WASM into dist/');
    assert.deepEqual(readFileSync(shipped), readFileSync(join(repoRoot, 'node_modules', 'tiktoken', 'lite', TIKTOKEN_WASM_FILE)));

    const appDir = join(workDir, 'packaged');
    mkdirSync(appDir, { recursive: true });
    let above = appDir;
    while (dirname(above) !== above) {
      above = dirname(above);
      assert.ok(!existsSync(join(above, 'node_modules')), `${above} has a node_modules; the check would not be isolated`);
    }
    const entry = join(appDir, 'entry.ts');
    const source = JSON.stringify(join(repoRoot, 'server', 'cwm', 'tokenizer.ts'));
    writeFileSync(entry, [
      `import { loadTokenizer, locateTiktokenWasm } from ${source};`,
      'void (async () => {',
      '  const tok = await loadTokenizer(process.argv[2]!);',
      "  process.stdout.write(JSON.stringify({ wasm: locateTiktokenWasm(), ids: tok.encodeWithSpecialTokens('<|frame_sep|>def f(x): return \"é\"') }));",
      '})();',
    ].join('\n'));
    const bundle = join(appDir, 'app.js');
    execFileSync(join(repoRoot, 'node_modules', '.bin', 'esbuild'), [entry, '--bundle', '--platform=node', '--format=cjs', `--outfile=${bundle}`, '--log-level=error']);
    copyFileSync(shipped, join(appDir, TIKTOKEN_WASM_FILE));
    copyFileSync(join(workDir, 'small', 'tokenizer.model'), join(appDir, 'tokenizer.model'));
    const result = JSON.parse(execFileSync(process.execPath, [bundle, join(appDir, 'tokenizer.model')], { cwd: appDir, encoding: 'utf8' })) as { wasm: string; ids: number[] };
    assert.equal(result.wasm, join(appDir, TIKTOKEN_WASM_FILE));
    assert.deepEqual(result.ids, small.encodeWithSpecialTokens('<|frame_sep|>def f(x): return "é"'));
  });
});
