// CWM's special tokens: their text and ids, as fixed by the trace-format spec.
// The tokenizer, the writer and the reader all take them from here.

export const SPECIAL_TOKEN_BASE = 128000;

export const Tok = {
  beginOfText: '<|begin_of_text|>',
  endOfText: '<|end_of_text|>',
  frameSep: '<|frame_sep|>',
  actionSep: '<|action_sep|>',
  returnSep: '<|return_sep|>',
  callSep: '<|call_sep|>',
  lineSep: '<|line_sep|>',
  exceptionSep: '<|exception_sep|>',
  argSep: '<|arg_sep|>',
  traceContextStart: '<|trace_context_start|>',
} as const;

export const TokId = {
  beginOfText: 128000,
  endOfText: 128001,
  frameSep: 128100,
  actionSep: 128101,
  returnSep: 128102,
  callSep: 128103,
  lineSep: 128104,
  exceptionSep: 128105,
  argSep: 128106,
  traceContextStart: 128107,
  /** eom per the tokenizer code (eot per the prompting guide): a stop token either way. */
  endOfMessage: 128008,
  endOfTurn: 128009,
} as const;

/** Ids that end a rollout wherever they appear. */
export const STOP_TOKEN_IDS: readonly number[] = [TokId.endOfText, TokId.endOfMessage, TokId.endOfTurn];

/** Text of every one of the 256 reserved special tokens, indexed by k = id - 128000. */
export function specialTokenText(k: number): string {
  switch (k) {
    case 0: return Tok.beginOfText;
    case 1: return Tok.endOfText;
    case 4: return '<|pad|>';
    case 6: return '<|start_header_id|>';
    case 7: return '<|end_header_id|>';
    case 8: return '<|eom_id|>';
    case 9: return '<|eot_id|>';
    case 100: return Tok.frameSep;
    case 101: return Tok.actionSep;
    case 102: return Tok.returnSep;
    case 103: return Tok.callSep;
    case 104: return Tok.lineSep;
    case 105: return Tok.exceptionSep;
    case 106: return Tok.argSep;
    case 107: return Tok.traceContextStart;
    case 120: return '<|thinking_start|>';
    case 121: return '<|thinking_end|>';
    default: return `<|reserved_special_token_${k}|>`;
  }
}

/** All 256 special tokens as text → id, for building a tokenizer. */
export function specialTokenMap(base = SPECIAL_TOKEN_BASE): Map<string, number> {
  const map = new Map<string, number>();
  for (let k = 0; k < 256; k++) map.set(specialTokenText(k), base + k);
  return map;
}
