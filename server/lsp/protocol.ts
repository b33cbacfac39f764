// The language server's own protocol, shared with the extension: the `cwm/runFunction` request, the code-lens commands and
// what their arguments and results look like. Types and constants only, so the extension can import it freely.

import type { AlignmentScores } from '../compare/scores';

/** The custom request that predicts (and in compare mode also runs) one function. */
export const RUN_FUNCTION_METHOD = 'cwm/runFunction';

/**
 * Notification from the extension: drop every prediction's inlay hints, hovers and diagnostics (a new debug session or a
 * new prediction started, so the old values no longer describe what the user is looking at).
 */
export const CLEAR_PREDICTIONS_METHOD = 'cwm/clearPredictions';

/** Client-side commands the code lenses carry; the extension registers them and forwards to RUN_FUNCTION_METHOD. */
export const PREDICT_FUNCTION_COMMAND = 'cwmDebug.predictFunction';
export const COMPARE_FUNCTION_COMMAND = 'cwmDebug.compareFunction';

/** The one argument of both lens commands. */
export interface FunctionLensArgument {
  readonly uri: string;
  /** The entry name the tracer accepts: `f`, or `Class.method` for a method. */
  readonly functionName: string;
  /** 0-based line of the `def`. */
  readonly line: number;
}

export type RunMode = 'predict' | 'compare';

export interface RunFunctionParams {
  readonly uri: string;
  readonly functionName: string;
  readonly mode: RunMode;
  /** Python argument list for the function, e.g. `[1, 2], 'a'`. Without it a prediction lets the model invent the inputs. */
  readonly args?: string;
  /** Interpreter for the real run (compare); default: the cwmDebug.pythonPath setting, else python3. */
  readonly python?: string;
  /** Bearer token for the endpoint; default: $CWM_API_KEY. Never logged or repeated in messages. */
  readonly apiKey?: string;
  /** False in an untrusted workspace: nothing of the user's is run (no real run; predict arguments are read in TypeScript either way). */
  readonly allowExecution: boolean;
  /** Work-done progress token (LSP): begin, "N frames predicted" reports, end. */
  readonly workDoneToken?: string | number;
}

export interface RunFunctionDivergence {
  /** Step (frame index) of the real run, or of the prediction for a step the real run does not have. */
  readonly step: number;
  /** 1-based line of that step. */
  readonly line: number;
  /** One sentence, e.g. `step 7: total is 999 in the prediction but 6 in the real run`. */
  readonly message: string;
}

export interface RunFunctionResult {
  readonly mode: RunMode;
  /** Predicted frames. */
  readonly steps: number;
  /** 1-based lines the prediction executed, ascending. */
  readonly executedLines: number[];
  /** Compare mode: the first row where the prediction and the real run disagree. */
  readonly firstDivergence?: RunFunctionDivergence;
  /** Compare mode: scores of the prediction against the real run. */
  readonly scores?: AlignmentScores;
  /** Things to tell the user (model notices, unreadable output, how the real run ended...). */
  readonly notes: string[];
  /** The model ended the trace (rather than a token or frame limit). */
  readonly ended: boolean;
}

/**
 * `data.kind` of the ResponseError a failed run answers with, so the client can offer the right fix (e.g. ask for
 * arguments on `needs-arguments`, open the settings on `settings`).
 */
export type RunFunctionErrorKind =
  | 'settings'
  | 'no-endpoint'
  | 'insecure-endpoint'
  | 'endpoint'
  | 'tokenizer'
  | 'python'
  | 'needs-arguments'
  | 'bad-arguments'
  | 'untrusted'
  | 'unsaved'
  | 'no-function'
  | 'program'
  | 'cancelled'
  | 'internal';

export interface RunFunctionErrorData {
  readonly kind: RunFunctionErrorKind;
}
