// The CWM language server (dist/languageServer.js, --stdio or --node-ipc): code lenses over Python functions, the
// `cwm/runFunction` request, and the predicted values it leaves behind as inlay hints, hovers and comparison diagnostics.

import {
  CancellationToken, CodeLens, createConnection, Hover, InlayHint, LSPErrorCodes, MarkupKind, ProposedFeatures, ResponseError, TextDocuments,
  TextDocumentSyncKind, type ClientCapabilities, type InitializeResult, type WorkDoneProgressReporter,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { splitSourceLines } from '../cwm/lines';
import type { TraceFrame } from '../trace/model';
import { divergenceDiagnostics } from './divergences';
import { findFunctions, functionAt, type PythonFunction } from '../trace/functions';
import { hintLabel, hintTooltip, historySection, lineExecutions, variableHistory, code, type LineExecution } from './line-values';
import {
  CLEAR_PREDICTIONS_METHOD, COMPARE_FUNCTION_COMMAND, PREDICT_FUNCTION_COMMAND, RUN_FUNCTION_METHOD, type FunctionLensArgument, type RunFunctionErrorData,
  type RunFunctionParams, type RunFunctionResult, type RunMode,
} from './protocol';
import { asRunError, RunError, runFunction } from './run-function';
import { parseServerSettings, SETTINGS_SECTION, SettingsError, type ServerSettings } from './settings';
import { appendAll } from '../trace/arrays';

const RunFunctionParamsSchema = z.object({
  uri: z.string().min(1),
  functionName: z.string().min(1),
  mode: z.enum(['predict', 'compare']),
  args: z.string().optional(),
  python: z.string().optional(),
  apiKey: z.string().optional(),
  allowExecution: z.boolean(),
  workDoneToken: z.union([z.string(), z.number()]).optional(),
});

/** What a finished run left for one document version: per-line executions for hints and hovers. */
interface DocumentResult {
  readonly version: number | undefined;
  readonly mode: RunMode;
  readonly functions: readonly PythonFunction[];
  readonly predicted: readonly TraceFrame[];
  readonly predictedLines: Map<number, LineExecution[]>;
  readonly real?: readonly TraceFrame[];
  readonly realLines?: Map<number, LineExecution[]>;
}

/** Progress reports at most this often (the first frame is reported at once). */
const PROGRESS_INTERVAL_MS = 100;
const IDENTIFIER = /[\p{ID_Start}_][\p{ID_Continue}]*/gu;

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const results = new Map<string, DocumentResult>();
const withDiagnostics = new Set<string>();
/** Runs in flight, by document: a new run of a document supersedes the one before. */
const running = new Map<string, AbortController>();
const inFlight = new Set<Promise<unknown>>();
let capabilities: ClientCapabilities = {};

connection.onInitialize((params): InitializeResult => {
  capabilities = params.capabilities;
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      codeLensProvider: { resolveProvider: false },
      inlayHintProvider: true,
      hoverProvider: true,
    },
    serverInfo: { name: 'cwm-debug language server' },
  };
});

// ------------------------------------------------------------------------------------------------ results lifecycle

function refreshInlayHints(): void {
  if (capabilities.workspace?.inlayHint?.refreshSupport !== true) return;
  connection.languages.inlayHint.refresh().catch(() => undefined);
}

/** Drops what a document's last run left (its hints, hovers and diagnostics describe code that is gone). */
function clearResults(uri: string): void {
  const had = results.delete(uri);
  if (withDiagnostics.delete(uri)) void connection.sendDiagnostics({ uri, diagnostics: [] });
  if (had) refreshInlayHints();
}

documents.onDidChangeContent((event) => {
  const stored = results.get(event.document.uri);
  if (stored !== undefined && stored.version !== event.document.version) clearResults(event.document.uri);
});
documents.onDidClose((event) => clearResults(event.document.uri));
// A new debug session (or any start the extension reports) makes every earlier prediction stale: its values describe
// another run than the one on screen. Runs in flight are left alone; their results arrive after the start.
connection.onNotification(CLEAR_PREDICTIONS_METHOD, () => {
  for (const uri of [...results.keys(), ...withDiagnostics]) clearResults(uri);
});

// ------------------------------------------------------------------------------------------------ code lenses

connection.onCodeLens(({ textDocument }) => {
  const document = documents.get(textDocument.uri);
  if (document === undefined || document.languageId !== 'python') return [];
  const lenses: CodeLens[] = [];
  for (const fn of findFunctions(document.getText())) {
    if (fn.unsupported !== undefined) continue;
    const argument: FunctionLensArgument = { uri: textDocument.uri, functionName: fn.name, line: fn.line };
    const range = { start: { line: fn.line, character: fn.column }, end: { line: fn.line, character: fn.column } };
    lenses.push(
      { range, command: { title: 'Predict trace', command: PREDICT_FUNCTION_COMMAND, arguments: [argument] } },
      { range, command: { title: 'Compare with real run', command: COMPARE_FUNCTION_COMMAND, arguments: [argument] } },
    );
  }
  return lenses;
});

// ------------------------------------------------------------------------------------------------ cwm/runFunction

async function settingsFor(uri: string): Promise<ServerSettings> {
  const raw: unknown = capabilities.workspace?.configuration === true
    ? await connection.workspace.getConfiguration({ scopeUri: uri, section: SETTINGS_SECTION })
    : undefined;
  return parseServerSettings(raw);
}

async function documentText(uri: string): Promise<{ text: string; version: number | undefined }> {
  const open = documents.get(uri);
  if (open !== undefined) return { text: open.getText(), version: open.version };
  try {
    return { text: await readFile(fileURLToPath(uri), 'utf8'), version: undefined };
  } catch {
    throw new RunError('no-function', `The document ${uri} is neither open nor a readable file; open it and try again.`);
  }
}

function failure(error: RunError): ResponseError<RunFunctionErrorData> {
  const code = error.kind === 'cancelled' ? LSPErrorCodes.RequestCancelled : LSPErrorCodes.RequestFailed;
  return new ResponseError(code, error.message, { kind: error.kind });
}

/** Work-done progress: "N frames predicted", at most every PROGRESS_INTERVAL_MS. */
function progressOf(reporter: WorkDoneProgressReporter): { phase(message: string): void; frames(count: number, force?: boolean): void } {
  let reported = -1;
  let last = 0;
  return {
    phase: (message) => reporter.report(message),
    frames(count, force = false) {
      const now = Date.now();
      if (count === reported || count === 0 || (!force && reported > 0 && now - last < PROGRESS_INTERVAL_MS)) return;
      reported = count;
      last = now;
      reporter.report(`${count} frame${count === 1 ? '' : 's'} predicted`);
    },
  };
}

// Registered by method name, so the handler gets the params then the token; a client that sent the params by position
// (a string-method sendRequest with an undefined token does) still gets served.
connection.onRequest(RUN_FUNCTION_METHOD, async (...args: unknown[]): Promise<RunFunctionResult | ResponseError<RunFunctionErrorData>> => {
  const token = args[args.length - 1] as CancellationToken;
  const parsed = RunFunctionParamsSchema.safeParse(args[0]);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return new ResponseError(LSPErrorCodes.RequestFailed, `Invalid ${RUN_FUNCTION_METHOD} parameters: ${issue.path.join('.') || 'params'} ${issue.message}.`, { kind: 'internal' });
  }
  const params: RunFunctionParams = parsed.data;
  const abort = new AbortController();
  running.get(params.uri)?.abort();
  running.set(params.uri, abort);
  const cancellation = token.onCancellationRequested(() => abort.abort());
  const reporter = connection.window.attachWorkDoneProgress(params.workDoneToken);
  reporter.begin(params.mode === 'predict' ? `CWM: predicting ${params.functionName}` : `CWM: comparing ${params.functionName} with its real run`, undefined, undefined, true);
  const started = Date.now();
  const work = (async (): Promise<RunFunctionResult | ResponseError<RunFunctionErrorData>> => {
    try {
      const settings = await settingsFor(params.uri);
      const { text, version } = await documentText(params.uri);
      clearResults(params.uri);
      const progress = progressOf(reporter);
      const outcome = await runFunction(params, {
        source: text, settings, signal: abort.signal, onPhase: progress.phase, onPredicted: (count) => progress.frames(count),
      });
      progress.frames(outcome.predicted.length, true);
      const current = documents.get(params.uri);
      if (current !== undefined && current.version !== version) {
        outcome.result.notes.push('The document changed during the run, so its values are not shown; run it again.');
        return outcome.result;
      }
      const lines = splitSourceLines(text);
      results.set(params.uri, {
        version,
        mode: params.mode,
        functions: findFunctions(text),
        predicted: outcome.predicted,
        predictedLines: lineExecutions(outcome.predicted),
        ...(outcome.real !== undefined ? { real: outcome.real, realLines: lineExecutions(outcome.real) } : {}),
      });
      if (outcome.alignment !== undefined && outcome.real !== undefined) {
        const diagnostics = divergenceDiagnostics(outcome.alignment, outcome.predicted, outcome.real, lines.length, (n) => lines[n] ?? '');
        if (diagnostics.length > 0) withDiagnostics.add(params.uri);
        void connection.sendDiagnostics({ uri: params.uri, ...(version !== undefined ? { version } : {}), diagnostics });
      }
      refreshInlayHints();
      connection.console.info(`${params.mode} ${params.functionName}: ${outcome.result.steps} steps in ${Date.now() - started} ms` +
        (outcome.result.firstDivergence ? `, first divergence at step ${outcome.result.firstDivergence.step}` : ''));
      return outcome.result;
    } catch (error) {
      const failed = error instanceof SettingsError ? new RunError('settings', error.message) : asRunError(error, abort.signal);
      if (failed.kind !== 'cancelled') connection.console.warn(`${params.mode} ${params.functionName} failed: ${failed.message}`);
      return failure(failed);
    } finally {
      cancellation.dispose();
      reporter.done();
      if (running.get(params.uri) === abort) running.delete(params.uri);
    }
  })();
  inFlight.add(work);
  try {
    return await work;
  } finally {
    inFlight.delete(work);
  }
});

// ------------------------------------------------------------------------------------------------ inlay hints, hover

connection.languages.inlayHint.on(({ textDocument, range }) => {
  const stored = results.get(textDocument.uri);
  const document = documents.get(textDocument.uri);
  if (stored === undefined || document === undefined) return [];
  const lines = splitSourceLines(document.getText());
  const hints: InlayHint[] = [];
  for (const [line, executions] of [...stored.predictedLines].sort((a, b) => a[0] - b[0])) {
    const at = line - 1;
    if (at < range.start.line || at > range.end.line || at >= lines.length) continue;
    const label = hintLabel(executions);
    if (label === undefined) continue;
    hints.push({
      position: { line: at, character: lines[at]!.length },
      label,
      paddingLeft: true,
      tooltip: { kind: MarkupKind.Markdown, value: hintTooltip(line, executions, 'CWM prediction') },
    });
  }
  return hints;
});

connection.onHover(({ textDocument, position }): Hover | null => {
  const stored = results.get(textDocument.uri);
  const document = documents.get(textDocument.uri);
  if (stored === undefined || document === undefined) return null;
  const text = splitSourceLines(document.getText())[position.line] ?? '';
  const word = identifierAt(text, position.character);
  if (word === undefined) return null;
  const line = position.line + 1;
  const predictedRuns = stored.predictedLines.get(line);
  const realRuns = stored.realLines?.get(line);
  const predicted = variableHistory(predictedRuns ?? [], word.name);
  const real = variableHistory(realRuns ?? [], word.name);
  if (predicted.length === 0 && real.length === 0) {
    // Not a local at a line that ran: still worth saying when the line is in the traced code and never ran.
    const fn = functionAt(stored.functions, position.line);
    const names = fn === undefined ? new Set<string>() : localsWithin(fn, stored.predicted, stored.real);
    if (predictedRuns !== undefined || !names.has(word.name)) return null;
  }
  const sections = [
    `${code(word.name)} at line ${line}, after the line runs`,
    '',
    ...historySection('CWM prediction', predicted, predictedRuns !== undefined, line),
  ];
  if (stored.realLines !== undefined) appendAll(sections, ['', ...historySection('Real run', real, realRuns !== undefined, line)]);
  return {
    contents: { kind: MarkupKind.Markdown, value: sections.join('\n') },
    range: { start: { line: position.line, character: word.start }, end: { line: position.line, character: word.end } },
  };
});

/** The identifier under the cursor, unless it is an attribute (`obj.name`), which is not a local. */
function identifierAt(text: string, character: number): { name: string; start: number; end: number } | undefined {
  for (const match of text.matchAll(IDENTIFIER)) {
    const start = match.index;
    const end = start + match[0].length;
    if (character < start || character > end) continue;
    if (/\.\s*$/.test(text.slice(0, start))) return undefined;
    return { name: match[0], start, end };
  }
  return undefined;
}

/** Names that are locals somewhere in a function's lines, in either trace. */
function localsWithin(fn: PythonFunction, ...traces: (readonly TraceFrame[] | undefined)[]): Set<string> {
  const names = new Set<string>();
  for (const frames of traces) {
    for (const frame of frames ?? []) {
      if (frame.file !== undefined || frame.line - 1 < fn.line || frame.line - 1 > fn.endLine) continue;
      for (const name of frame.locals.keys()) names.add(name);
    }
  }
  return names;
}

// ------------------------------------------------------------------------------------------------ lifecycle

connection.onShutdown(async () => {
  for (const abort of running.values()) abort.abort();
  await Promise.allSettled([...inFlight]);
});

documents.listen(connection);
connection.listen();
