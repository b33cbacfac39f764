// The .cwmtrace TextMate grammar, tokenized with vscode-textmate and Oniguruma as VS Code does: special tokens, events,
// JSON locals and values, source lines and the START_OF_TRACE marker get their scopes in real rendered traces.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as oniguruma from 'vscode-oniguruma';
import * as textmate from 'vscode-textmate';
import { renderTrace } from '../../server/cwm/writer';
import type { Trace } from '../../server/trace/model';
import { recordTrace } from '../../server/tracer/runner';
import { specRenderedText } from '../fixtures/cwm/traces';
import { examplesDir, fixturesDir, repoRoot } from '../helpers/paths';

const GRAMMAR_PATH = join(repoRoot, 'syntaxes', 'cwmtrace.tmLanguage.json');
const LANGUAGE_CONFIGURATION_PATH = join(repoRoot, 'language-configuration', 'cwmtrace.json');
const WASM_PATH = join(repoRoot, 'node_modules', 'vscode-oniguruma', 'release', 'onig.wasm');
/** VS Code's own Python grammar, present where the end-to-end suite's code-server is installed (scripts/setup-e2e.sh). */
const MAGIC_PYTHON_PATH = join(repoRoot, '.e2e', 'node_modules', 'code-server', 'lib', 'vscode', 'extensions', 'python', 'syntaxes', 'MagicPython.tmLanguage.json');

/**
 * A small stand-in for VS Code's Python grammar with the two constructs that could break an embedding: a triple-quoted
 * string region spanning lines, and a `#` comment region up to the line's end (both as MagicPython writes them).
 */
const STUB_PYTHON = {
  scopeName: 'source.python',
  patterns: [
    { name: 'string.quoted.docstring.stub.python', begin: '"""', end: '"""' },
    { name: 'string.quoted.single.stub.python', begin: '"', end: '(")|(?<!\\\\)(?=\\n)' },
    { name: 'comment.line.number-sign.stub.python', begin: '#', end: '$' },
    { name: 'storage.type.function.stub.python', match: '\\bdef\\b' },
    { name: 'keyword.control.flow.stub.python', match: '\\b(?:return|for|in|if)\\b' },
  ],
};

interface Token {
  readonly text: string;
  readonly scopes: readonly string[];
}

/** Tokenized text: one token list per line, as VS Code tokenizes a document line by line. */
class Tokenized {
  constructor(readonly lines: readonly (readonly Token[])[]) {}

  /** The scopes of the token holding the first character of the `occurrence`-th `text` on line `line` (0-based). */
  scopesOf(line: number, text: string, occurrence = 0): readonly string[] {
    const lineText = this.lines[line]!.map((t) => t.text).join('');
    let at = -1;
    for (let k = 0; k <= occurrence; k++) {
      at = lineText.indexOf(text, at + 1);
      assert.ok(at >= 0, `"${text}" (occurrence ${occurrence}) is not on line ${line}: ${lineText}`);
    }
    return this.scopesAt(line, at);
  }

  /** The scopes of the token holding column `at` (0-based) of line `line`. */
  scopesAt(line: number, at: number): readonly string[] {
    let offset = 0;
    for (const token of this.lines[line]!) {
      if (at < offset + token.text.length) return token.scopes;
      offset += token.text.length;
    }
    throw new Error('unreachable');
  }

  /** Every token of the text with its line number. */
  *all(): Generator<Token & { readonly line: number }> {
    for (let line = 0; line < this.lines.length; line++) for (const token of this.lines[line]!) yield { ...token, line };
  }

  /** Index of the first line whose text starts with `prefix`. */
  lineStartingWith(prefix: string, from = 0): number {
    for (let line = from; line < this.lines.length; line++) {
      if (this.lines[line]!.map((t) => t.text).join('').startsWith(prefix)) return line;
    }
    throw new Error(`no line starts with ${prefix}`);
  }
}

function has(scopes: readonly string[], scope: string): boolean {
  return scopes.includes(scope);
}

function assertScope(scopes: readonly string[], scope: string, what: string): void {
  assert.ok(has(scopes, scope), `${what}: expected ${scope} in [${scopes.join(', ')}]`);
}

let onigLib: Promise<textmate.IOnigLib>;

before(async () => {
  const wasm = readFileSync(WASM_PATH);
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  onigLib = Promise.resolve({
    createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
    createOnigString: (text: string) => new oniguruma.OnigString(text),
  });
});

/** A registry with the cwmtrace grammar and, for `source.python`, the given grammar (or none, as without the Python extension). */
async function loadGrammar(python?: object): Promise<textmate.IGrammar> {
  const registry = new textmate.Registry({
    onigLib,
    loadGrammar: async (scopeName) => {
      if (scopeName === 'source.cwmtrace') return textmate.parseRawGrammar(readFileSync(GRAMMAR_PATH, 'utf8'), GRAMMAR_PATH);
      if (scopeName === 'source.python' && python) return textmate.parseRawGrammar(JSON.stringify(python), 'python.json');
      return null;
    },
  });
  const grammar = await registry.loadGrammar('source.cwmtrace');
  assert.ok(grammar, 'the grammar did not load');
  return grammar;
}

function tokenize(grammar: textmate.IGrammar, text: string): Tokenized {
  let state = textmate.INITIAL;
  const lines: Token[][] = [];
  for (const line of text.split('\n')) {
    const result = grammar.tokenizeLine(line, state);
    lines.push(result.tokens.map((t) => ({ text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes })));
    state = result.ruleStack;
  }
  return new Tokenized(lines);
}

const EVENT_SCOPES: Record<string, string> = {
  '<|call_sep|>': 'keyword.control.event.call.cwmtrace',
  '<|line_sep|>': 'keyword.other.event.line.cwmtrace',
  '<|return_sep|>': 'keyword.control.event.return.cwmtrace',
  '<|exception_sep|>': 'keyword.control.event.exception.cwmtrace',
};

/**
 * Checks the structure of a whole rendered trace: every special token after the context is scoped as its kind, none in
 * the context is; every LINE is embedded Python; every locals key and value and every return value is scoped as JSON.
 */
function assertWholeTrace(tokens: Tokenized, text: string): void {
  const frameStart = text.indexOf('<|frame_sep|><|');
  const contextLines = text.slice(0, frameStart).split('\n').length - 1;
  const counts = new Map<string, number>();
  for (const token of tokens.all()) {
    if (token.line < contextLines) {
      assert.ok(token.line === 0 || has(token.scopes, 'meta.embedded.block.python'), `context line ${token.line} "${token.text}" is not Python: ${token.scopes}`);
      continue;
    }
    assert.ok(!has(token.scopes, 'meta.context.cwmtrace') || token.line === contextLines, `frames line ${token.line} is still in the context`);
    for (const [tokenText, scope] of Object.entries(EVENT_SCOPES)) {
      if (has(token.scopes, scope) && has(token.scopes, 'entity.name.event.cwmtrace')) counts.set(tokenText, (counts.get(tokenText) ?? 0) + 1);
    }
    if (has(token.scopes, 'punctuation.separator.frame.cwmtrace') && token.text === 'frame_sep') counts.set('<|frame_sep|>', (counts.get('<|frame_sep|>') ?? 0) + 1);
  }
  const frames = text.slice(frameStart);
  for (const tokenText of [...Object.keys(EVENT_SCOPES), '<|frame_sep|>']) {
    const expected = frames.split(tokenText).length - 1;
    assert.equal(counts.get(tokenText) ?? 0, expected, `${tokenText}: ${expected} in the frames, scoped: ${counts.get(tokenText) ?? 0}`);
  }
  // Every frame line: the LINE after <|action_sep|> is Python, and the locals before it are a JSON object.
  for (let line = contextLines; line < tokens.lines.length; line++) {
    const lineText = tokens.lines[line]!.map((t) => t.text).join('');
    const action = lineText.indexOf('<|action_sep|>');
    if (action < 0) continue;
    const lineStart = action + '<|action_sep|>'.length;
    if (lineStart < lineText.length) assertScope(tokens.scopesAt(line, lineStart), 'meta.embedded.line.python', `LINE on line ${line}`);
    const event = /<\|(?:call|line)_sep\|>\{/.exec(lineText);
    if (event) {
      const open = event.index + event[0].length - 1;
      assertScope(tokens.scopesAt(line, open), 'punctuation.definition.dictionary.begin.json', `locals on line ${line}`);
      if (lineText[open + 1] === '"') assertScope(tokens.scopesAt(line, open + 2), 'support.type.property-name.json', `first key on line ${line}`);
      assertScope(tokens.scopesAt(line, action - 1), 'punctuation.definition.dictionary.end.json', `locals end on line ${line}`);
    }
    if (lineText.startsWith('<|arg_sep|>"')) assertScope(tokens.scopesAt(line, '<|arg_sep|>'.length), 'string.quoted.double.json', `value on line ${line}`);
  }
}

describe('the cwmtrace grammar and language configuration files', () => {
  test('the grammar is valid JSON with the scope name package.json refers to', () => {
    const grammar = JSON.parse(readFileSync(GRAMMAR_PATH, 'utf8')) as { scopeName: string; patterns: unknown[]; repository: Record<string, unknown> };
    assert.equal(grammar.scopeName, 'source.cwmtrace');
    assert.ok(grammar.patterns.length > 0);
    for (const include of JSON.stringify(grammar).matchAll(/"include":"#([^"]+)"/g)) {
      assert.ok(include[1]! in grammar.repository, `#${include[1]} is not in the repository`);
    }
  });

  test('the language configuration is valid JSON: brackets and auto-closing pairs for JSON locals', () => {
    const config = JSON.parse(readFileSync(LANGUAGE_CONFIGURATION_PATH, 'utf8')) as {
      brackets: [string, string][];
      autoClosingPairs: { open: string; close: string; notIn?: string[] }[];
    };
    assert.deepEqual(config.brackets.find(([open]) => open === '{'), ['{', '}']);
    assert.deepEqual(config.brackets.find(([open]) => open === '['), ['[', ']']);
    const quote = config.autoClosingPairs.find((pair) => pair.open === '"');
    assert.equal(quote?.close, '"');
    assert.deepEqual(quote?.notIn, ['string']);
  });
});

describe('a real trace recorded by the tracer (examples/inventory.py)', () => {
  let trace: Trace;
  let text: string;
  let tokens: Tokenized;

  before(async () => {
    trace = await recordTrace({ file: join(examplesDir, 'inventory.py') });
    assert.equal(trace.end.kind, 'returned');
    text = renderTrace(trace);
    tokens = tokenize(await loadGrammar(), text);
  });

  test('the prompt tokens open the context; the program text is embedded Python', () => {
    assertScope(tokens.scopesOf(0, '<|begin_of_text|>'), 'keyword.control.begin-of-text.cwmtrace', 'begin_of_text');
    assertScope(tokens.scopesOf(0, '<|'), 'punctuation.definition.token.begin.cwmtrace', 'the token opening');
    assertScope(tokens.scopesOf(0, '<|trace_context_start|>'), 'keyword.control.trace-context-start.cwmtrace', 'trace_context_start');
    assertScope(tokens.scopesOf(0, '"""A small'), 'meta.embedded.block.python', 'the docstring');
    const def = tokens.lineStartingWith('def order_total');
    assertScope(tokens.scopesOf(def, 'order_total'), 'meta.embedded.block.python', 'a context line');
    assertScope(tokens.scopesOf(def, 'order_total'), 'meta.context.cwmtrace', 'a context line');
  });

  test('the START_OF_TRACE marker is scoped in the context and in the entry call frame', () => {
    const contextLine = tokens.lineStartingWith('def checkout():');
    const marker = tokens.scopesOf(contextLine, '#');
    assertScope(marker, 'comment.line.number-sign.start-of-trace.cwmtrace', 'marker in the context');
    assertScope(marker, 'punctuation.definition.comment.cwmtrace', 'marker #');
    assertScope(tokens.scopesOf(contextLine, 'START_OF_TRACE'), 'keyword.other.start-of-trace.cwmtrace', 'marker word');
    const callLine = tokens.lineStartingWith('<|frame_sep|><|call_sep|>{}<|action_sep|>def checkout()');
    assertScope(tokens.scopesOf(callLine, 'START_OF_TRACE'), 'keyword.other.start-of-trace.cwmtrace', 'marker in the call frame');
    assertScope(tokens.scopesOf(callLine, 'START_OF_TRACE'), 'meta.embedded.line.python', 'marker in the call frame');
    assertScope(tokens.scopesOf(callLine, 'def checkout'), 'meta.embedded.line.python', 'the LINE of the call frame');
  });

  test('the context ends at the first frame: separators and events are scoped, outside the context', () => {
    const first = tokens.lineStartingWith('<|frame_sep|><|call_sep|>');
    const sep = tokens.scopesOf(first, '<|frame_sep|>');
    assertScope(sep, 'punctuation.separator.frame.cwmtrace', 'the first frame_sep');
    assert.ok(!has(sep, 'meta.context.cwmtrace') || first === 0, 'the first frame_sep is not program text');
    const call = tokens.scopesOf(first, 'call');
    assertScope(call, 'keyword.control.event.call.cwmtrace', 'call_sep');
    assertScope(call, 'entity.name.event.cwmtrace', 'call_sep name');
    const line = tokens.lineStartingWith('<|frame_sep|><|line_sep|>');
    assertScope(tokens.scopesOf(line, 'line'), 'keyword.other.event.line.cwmtrace', 'line_sep');
    assertScope(tokens.scopesOf(line, '<|action_sep|>'), 'punctuation.separator.action.cwmtrace', 'action_sep');
    const ret = tokens.lineStartingWith('<|frame_sep|><|return_sep|>');
    assertScope(tokens.scopesOf(ret, 'return'), 'keyword.control.event.return.cwmtrace', 'return_sep');
  });

  test('locals: keys, repr strings, ".." and the JSON punctuation', () => {
    const line = tokens.lineStartingWith('<|frame_sep|><|call_sep|>{"items"');
    assertScope(tokens.scopesOf(line, 'items'), 'support.type.property-name.json', 'key items');
    assertScope(tokens.scopesOf(line, 'items'), 'meta.structure.dictionary.locals.cwmtrace', 'key items');
    assertScope(tokens.scopesOf(line, '"items"'), 'punctuation.support.type.property-name.begin.json', 'key quote');
    assertScope(tokens.scopesOf(line, ': '), 'punctuation.separator.dictionary.key-value.json', 'colon');
    assertScope(tokens.scopesOf(line, ', "discounts"'), 'punctuation.separator.dictionary.pair.json', 'comma');
    const value = tokens.scopesOf(line, "[('apple'");
    assertScope(value, 'string.quoted.double.json', 'repr value');
    assert.ok(!has(value, 'support.type.property-name.json'), 'a value is not a key');
    assertScope(tokens.scopesOf(line, '}<|action_sep|>'), 'punctuation.definition.dictionary.end.json', 'closing brace');
    assert.ok(!has(tokens.scopesOf(line, '<|action_sep|>'), 'meta.structure.dictionary.locals.cwmtrace'), 'the locals end at their brace');
    const diff = tokens.lineStartingWith('<|frame_sep|><|line_sep|>{"items": "..", "discounts": "..", "total": "0"');
    assertScope(tokens.scopesOf(diff, '".."'), 'comment.other.unchanged.cwmtrace', '".."');
    assertScope(tokens.scopesOf(diff, '"0"'), 'string.quoted.double.json', 'a changed value');
  });

  test('a return value after <|arg_sep|> is a JSON string; <|end_of_text|> closes the trace', () => {
    const line = tokens.lineStartingWith('<|arg_sep|>"1.5"');
    assertScope(tokens.scopesOf(line, '<|arg_sep|>'), 'punctuation.separator.arg.cwmtrace', 'arg_sep');
    assertScope(tokens.scopesOf(line, '1.5'), 'string.quoted.double.json', 'the value');
    assertScope(tokens.scopesOf(line, '1.5'), 'meta.value.cwmtrace', 'the value');
    assert.ok(!has(tokens.scopesOf(line, '<|frame_sep|>'), 'meta.value.cwmtrace'), 'the value ends before the next token');
    const last = tokens.lines.length - 1;
    assertScope(tokens.scopesOf(last, '<|end_of_text|>'), 'keyword.control.end-of-text.cwmtrace', 'end_of_text');
  });

  test('every token, LINE, locals object and value of the whole trace is scoped', () => {
    assertWholeTrace(tokens, text);
  });
});

describe('a real trace with exceptions (raises.py)', () => {
  test('exception events and their (type, value, traceback) values are scoped', async () => {
    const trace = await recordTrace({ file: join(fixturesDir, 'adapter', 'raises.py'), entry: 'main', args: "['1', 'x', '0']" });
    assert.equal(trace.end.kind, 'raised');
    const text = renderTrace(trace);
    const tokens = tokenize(await loadGrammar(), text);
    const line = tokens.lineStartingWith('<|frame_sep|><|exception_sep|>');
    assertScope(tokens.scopesOf(line, 'exception'), 'keyword.control.event.exception.cwmtrace', 'exception_sep');
    const value = tokens.lineStartingWith('<|arg_sep|>"(<class', line);
    assertScope(tokens.scopesOf(value, "ValueError"), 'string.quoted.double.json', 'the exception value');
    assertScope(tokens.scopesOf(value, "\\\""), 'constant.character.escape.json', 'an escaped quote in the value');
    assertWholeTrace(tokens, text);
  });
});

describe('the spec example (test/fixtures/cwm)', () => {
  test('the marker with one space, the frames and the return value of the spec text', async () => {
    const tokens = tokenize(await loadGrammar(), specRenderedText);
    const contextMarker = tokens.lineStartingWith('def main(): # << START_OF_TRACE');
    assertScope(tokens.scopesOf(contextMarker, '# << START_OF_TRACE'), 'comment.line.number-sign.start-of-trace.cwmtrace', 'marker');
    assertScope(tokens.scopesOf(contextMarker, 'def main'), 'meta.embedded.block.python', 'context');
    const call = tokens.lineStartingWith('<|frame_sep|><|call_sep|>{"a": "1"');
    assertScope(tokens.scopesOf(call, '"a"'), 'support.type.property-name.json', 'key a');
    assertScope(tokens.scopesOf(call, '"1"'), 'string.quoted.double.json', 'value 1');
    assertScope(tokens.scopesOf(call, 'def f(a,b):'), 'meta.embedded.line.python', 'LINE');
    const ret = tokens.lineStartingWith('<|arg_sep|>"6"<|frame_sep|><|end_of_text|>');
    assertScope(tokens.scopesOf(ret, '6'), 'meta.value.cwmtrace', 'return value');
    assertScope(tokens.scopesOf(ret, '<|end_of_text|>'), 'keyword.control.end-of-text.cwmtrace', 'end');
    assertWholeTrace(tokens, specRenderedText);
  });

  test('a frames text without the prompt (model output) is scoped the same way', async () => {
    const frames = specRenderedText.slice(specRenderedText.indexOf('<|frame_sep|><|call_sep|>'));
    const tokens = tokenize(await loadGrammar(), frames);
    assertScope(tokens.scopesOf(0, 'call'), 'keyword.control.event.call.cwmtrace', 'first event');
    assertScope(tokens.scopesOf(0, 'START_OF_TRACE'), 'keyword.other.start-of-trace.cwmtrace', 'marker');
    assertScope(tokens.scopesOf(3, '".."'), 'comment.other.unchanged.cwmtrace', '".."');
  });
});

describe('model output that is not well formed', () => {
  test('numbers, literals, nested values and an unclosed string stay on their line', async () => {
    const text = [
      '<|frame_sep|><|line_sep|>{"a": 1, "b": [true, null], "c": {"d": -2.5e3}}<|action_sep|>    x = 1',
      '<|frame_sep|><|line_sep|>{"s": "cut off here',
      '<|frame_sep|><|return_sep|><|action_sep|>    return x',
      '<|arg_sep|>"1"<|frame_sep|><|reserved_special_token_42|><|end_of_text|>',
    ].join('\n');
    const tokens = tokenize(await loadGrammar(), text);
    assertScope(tokens.scopesOf(0, '1'), 'constant.numeric.json', 'number');
    assertScope(tokens.scopesOf(0, 'true'), 'constant.language.json', 'true');
    assertScope(tokens.scopesOf(0, 'null'), 'constant.language.json', 'null');
    assertScope(tokens.scopesOf(0, '['), 'punctuation.definition.array.begin.json', 'array');
    assertScope(tokens.scopesOf(0, 'd'), 'support.type.property-name.json', 'nested key');
    assertScope(tokens.scopesOf(0, '-2.5e3'), 'constant.numeric.json', 'exponent');
    assertScope(tokens.scopesOf(0, 'x = 1'), 'meta.embedded.line.python', 'LINE after nested locals');
    assertScope(tokens.scopesOf(1, 'cut off'), 'string.quoted.double.json', 'the cut string');
    const next = tokens.scopesOf(2, '<|frame_sep|>');
    assertScope(next, 'punctuation.separator.frame.cwmtrace', 'the next frame after a cut string');
    assert.ok(!has(next, 'string.quoted.double.json') && !has(next, 'meta.structure.dictionary.locals.cwmtrace'), `the cut string leaked: ${next}`);
    assertScope(tokens.scopesOf(3, '<|reserved_special_token_42|>'), 'keyword.other.token.cwmtrace', 'a reserved token');
  });

  test('a program holding the text <|frame_sep|> does not end the context early', async () => {
    const text = '<|begin_of_text|><|trace_context_start|>SEP = "<|frame_sep|>"\ndef f():  # << START_OF_TRACE\n    return SEP\n'
      + '<|frame_sep|><|call_sep|>{}<|action_sep|>def f():  # << START_OF_TRACE\n<|frame_sep|><|end_of_text|>';
    const tokens = tokenize(await loadGrammar(), text);
    assertScope(tokens.scopesOf(0, '<|frame_sep|>'), 'meta.embedded.block.python', 'the text in the program');
    assert.ok(!has(tokens.scopesOf(0, '<|frame_sep|>'), 'punctuation.separator.frame.cwmtrace'), 'program text is not a token');
    assertScope(tokens.scopesOf(1, 'def f'), 'meta.embedded.block.python', 'the context goes on');
    assertScope(tokens.scopesOf(3, '<|frame_sep|>'), 'punctuation.separator.frame.cwmtrace', 'the real separator');
    assert.ok(!has(tokens.scopesOf(3, '<|frame_sep|>'), 'meta.embedded.block.python'), 'the context ended');
  });
});

describe('Python embedded in the context and in each LINE', () => {
  test('with a Python grammar: the context is Python across lines, a LINE cannot spill into the next frame', async () => {
    const text = '<|begin_of_text|><|trace_context_start|>def f(s):  # << START_OF_TRACE\n    """doc\n    string"""\n    t = """a\nb"""\n    return t\n'
      + '<|frame_sep|><|call_sep|>{"s": "1"}<|action_sep|>def f(s):  # << START_OF_TRACE\n'
      + '<|frame_sep|><|line_sep|>{"s": ".."}<|action_sep|>    t = """a\n'
      + '<|frame_sep|><|line_sep|>{"s": "..", "t": "\'a\\\\nb\'"}<|action_sep|>    return t # done\n'
      + '<|frame_sep|><|return_sep|><|action_sep|>    return t # done\n<|arg_sep|>"\'a\\\\nb\'"<|frame_sep|><|end_of_text|>';
    const tokens = tokenize(await loadGrammar(STUB_PYTHON), text);
    assertScope(tokens.scopesOf(0, 'def'), 'storage.type.function.stub.python', 'def in the context');
    assertScope(tokens.scopesOf(0, 'START_OF_TRACE'), 'keyword.other.start-of-trace.cwmtrace', 'the marker wins over a Python comment');
    assertScope(tokens.scopesOf(2, 'string'), 'string.quoted.docstring.stub.python', 'a docstring spanning lines');
    assertScope(tokens.scopesOf(5, 'return'), 'keyword.control.flow.stub.python', 'a context line');
    assertScope(tokens.scopesOf(6, '<|frame_sep|>'), 'punctuation.separator.frame.cwmtrace', 'the frames start');
    assertScope(tokens.scopesOf(6, 'def'), 'storage.type.function.stub.python', 'def in a LINE');
    assertScope(tokens.scopesOf(7, '"""a'), 'string.quoted.docstring.stub.python', 'an opening triple quote in a LINE');
    const after = tokens.scopesOf(8, '<|frame_sep|>');
    assertScope(after, 'punctuation.separator.frame.cwmtrace', 'the frame after the triple quote');
    assert.ok(!has(after, 'string.quoted.docstring.stub.python'), `the LINE's string spilled over: ${after}`);
    assertScope(tokens.scopesOf(8, 't'), 'support.type.property-name.json', 'keys after it');
    assertScope(tokens.scopesOf(8, 'return'), 'keyword.control.flow.stub.python', 'return in a LINE');
    assertScope(tokens.scopesOf(8, '# done'), 'comment.line.number-sign.stub.python', 'a comment in a LINE');
    assertScope(tokens.scopesOf(10, '<|arg_sep|>'), 'punctuation.separator.arg.cwmtrace', 'the value after a LINE ending in a comment');
    assertScope(tokens.scopesOf(10, '<|end_of_text|>'), 'keyword.control.end-of-text.cwmtrace', 'the end');
  });

  test("with VS Code's own Python grammar (MagicPython) the recorded trace keeps its structure", async (t) => {
    if (!existsSync(MAGIC_PYTHON_PATH)) {
      t.skip('VS Code\'s Python grammar is not installed here (npm run setup:e2e installs it)');
      return;
    }
    const trace = await recordTrace({ file: join(examplesDir, 'inventory.py') });
    const text = renderTrace(trace);
    const tokens = tokenize(await loadGrammar(JSON.parse(readFileSync(MAGIC_PYTHON_PATH, 'utf8')) as object), text);
    const def = tokens.lineStartingWith('def order_total');
    assertScope(tokens.scopesOf(def, 'def'), 'storage.type.function.python', 'def in the context');
    assertScope(tokens.scopesOf(0, '"""A small'), 'string.quoted.multi.python', 'the docstring');
    const entry = tokens.lineStartingWith('def checkout():');
    assertScope(tokens.scopesOf(entry, 'START_OF_TRACE'), 'keyword.other.start-of-trace.cwmtrace', 'marker');
    const line = tokens.lineStartingWith('<|frame_sep|><|line_sep|>{"items": "..", "discounts": "..", "total": "..", "lines": "..", "name": "\'apple\'"');
    assertScope(tokens.scopesOf(line, 'apply_discount'), 'meta.function-call.python', 'a call in a LINE');
    assertWholeTrace(tokens, text);
  });
});
