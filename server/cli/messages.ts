// Messages from the shared layers (tracer, endpoint clients, tokenizer) are written once for every front end; the CLI
// tells them in its own terms: command-line flags instead of VS Code settings, and a few facts only it can add.

import { existsSync, readFileSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { findFunctions } from '../trace/functions';
import { TokenizerError } from '../cwm/tokenizer';
import type { TracerError } from '../tracer/runner';
import { CannotRunError, withPeriod } from './common';

/** Settings and limit names as the shared layers write them, and the flag the CLI has for each. */
const IN_CLI_TERMS: readonly [RegExp, string][] = [
  [/ \(--python or the cwmDebug\.pythonPath setting\)/g, ' (--python PATH, or the CWM_DEBUG_PYTHON variable)'],
  [/ \(or the cwmDebug\.tokenizerPath setting\)/g, ''],
  [/set the right API key for this endpoint in cwmDebug\.endpoints/g, 'put the right API key in the variable that --api-key-env names (default CWM_API_KEY)'],
  [/the model name in cwmDebug\.endpoints/g, 'the model name with --model'],
  [/fix it in cwmDebug\.endpoints/g, 'fix --endpoint'],
  [/cwmDebug\.endpoints/g, '--endpoint'],
  [/cwmDebug\.tokenizerPath/g, '--tokenizer'],
  [/cwmDebug\.pythonPath/g, '--python'],
  [/\(maxEvents\)/g, '(--max-events)'],
  [/\(timeout\)/g, '(--timeout)'],
  [/\(maxOutputBytes\)/g, '(--max-output)'],
  [/\(maxReprLength\)/g, '(--max-repr)'],
  [/cwmDebug\.(maxEvents|tracer\.maxEvents)/g, '--max-events'],
  [/cwmDebug\.(timeoutSeconds|tracer\.timeoutSeconds)/g, '--timeout'],
  [/or trace the file as a script/g, 'or trace the whole file with --script'],
  [/ or trace the file as a script\./g, ', or trace the whole file with --script.'],
];

export function inCliTerms(message: string): string {
  let text = message;
  for (const [pattern, replacement] of IN_CLI_TERMS) text = text.replace(pattern, replacement);
  return text;
}

/** The error for a missing --entry, completed with the functions the program has. */
export function withFunctionList(message: string, source: string, file: string): string {
  const names = findFunctions(source).filter((f) => f.unsupported === undefined).map((f) => f.name);
  const sentence = withPeriod(message);
  if (names.length === 0) return `${sentence} ${basename(file)} defines no function that can be an entry; trace the whole file with --script.`;
  const shown = names.length > 12 ? `${names.slice(0, 12).join(', ')} and ${names.length - 12} more` : names.join(', ');
  return `${sentence} Its functions: ${shown}.`;
}

/** A tracer start failure under a pyenv shim that has no version selected (it exits 127), said in words. */
export function explainPythonStart(message: string, python: string): string {
  if (!/exited with code 127/.test(message) || !isPyenvShim(python)) return message;
  return `--python ${python} is a pyenv shim, and the pyenv version selected here does not provide it. ` +
    'Select one that does with `pyenv local VERSION` (see `pyenv versions`), or give the full path of an interpreter.';
}

function isPyenvShim(python: string): boolean {
  const path = python.includes('/') ? python : which(python);
  if (path === undefined) return false;
  try {
    const head = readFileSync(path, { encoding: 'latin1' }).slice(0, 2000);
    return head.startsWith('#!') && head.includes('pyenv');
  } catch {
    return false;
  }
}

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * A TracerError in the CLI's terms: a missing entry lists the program's functions; a Python that could not start
 * says why when it can tell.
 */
export function tracerProblem(error: TracerError, context: { source: string; file: string; python: string | undefined }): CannotRunError {
  let message = inCliTerms(error.message);
  if (error.kind === 'no-entry' && /^No function named /.test(message)) message = withFunctionList(message.replace(/: mark a module-level.*$/, ''), context.source, context.file);
  if (error.kind === 'tracer-failed') message = explainPythonStart(message, context.python ?? 'python3');
  return new CannotRunError(message);
}

/** An error's sentence as the CLI prints it: in CLI terms, ending with a period, a bad tokenizer file explained. */
export function userMessage(error: Error): string {
  let message = withPeriod(inCliTerms(error.message));
  if (error instanceof TokenizerError && error.kind === 'invalid') {
    message += ' --tokenizer takes the tokenizer.model file of the CWM checkpoint (a tiktoken ranks file: one base64 token and its' +
      ' rank per line, 128,000 lines), which comes in the folder of the (gated) CWM checkpoint you downloaded.';
  }
  return message;
}
