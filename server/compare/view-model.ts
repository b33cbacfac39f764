// The side-by-side view's data: validates the adapter's `cwm/traces` body and turns it into the rows the webview draws
// (both sides' steps, lines, source, changed values, verdicts), the first divergence and the scores. No VS Code API here.

import { alternativesText, DEFAULT_UNSURE_THRESHOLD, percent as confidencePercent } from '../trace/confidence';
import { z } from 'zod';
import { VERDICTS, fileLabel, type Verdict } from './align';

// ---------------------------------------------------------------------------------------------------- the wire body

const EVENTS = ['call', 'line', 'return', 'exception'] as const;
const NonNegative = z.number().int().nonnegative();

const ConfidenceJson = z.object({
  p: z.number().min(0).max(1),
  alternatives: z.array(z.object({ value: z.string(), p: z.number().min(0).max(1) })).optional(),
});

/** A frame's confidence (server/trace/confidence.ts confidenceToJson); anything unreadable there is dropped, not the frame. */
const FrameConfidenceJson = z
  .object({
    source: z.string(),
    action: ConfidenceJson.optional(),
    locals: z.record(z.string(), ConfidenceJson),
    value: ConfidenceJson.optional(),
  })
  .optional()
  .catch(undefined);

const FrameJson = z.object({
  index: NonNegative,
  event: z.enum(EVENTS),
  line: NonNegative,
  source: z.string(),
  scope: z.number().int(),
  /** Another file of the program (absolute path); absent for the program itself. */
  file: z.string().optional(),
  function: z.string(),
  depth: NonNegative,
  locals: z.record(z.string(), z.string()),
  value: z.string().optional(),
  issues: z.array(z.object({ kind: z.string(), message: z.string() })).optional(),
  confidence: FrameConfidenceJson,
});

const RowJson = z.object({
  predicted: NonNegative.optional(),
  actual: NonNegative.optional(),
  verdict: z.enum(VERDICTS as readonly [Verdict, ...Verdict[]]),
  variables: z.array(z.object({ name: z.string(), actual: z.string().optional(), predicted: z.string().optional() })).optional(),
  value: z.object({ actual: z.string().optional(), predicted: z.string().optional() }).optional(),
});

const RatioJson = z.object({ matched: NonNegative, total: NonNegative, rate: z.number().nullable() });

const ScoresJson = z.object({
  action: RatioJson,
  stateByVariable: RatioJson,
  stateByFrame: RatioJson,
  returnValue: z.object({ actual: z.string().optional(), predicted: z.string().optional(), match: z.boolean().nullable() }),
  verdicts: z.object(Object.fromEntries(VERDICTS.map((verdict) => [verdict, NonNegative])) as Record<Verdict, typeof NonNegative>),
  wellFormed: RatioJson,
});

const EndJson = z.object({ kind: z.string(), message: z.string().optional() });
const MalformedJson = z.array(z.object({ index: z.number().int(), reason: z.string() }));

const CompareBody = z.object({
  mode: z.literal('compare'),
  position: z.number().int(),
  /** The traced program's path: names the file when steps come back to it from another file. */
  program: z.string().optional(),
  actual: z.array(FrameJson),
  predicted: z.array(FrameJson),
  rows: z.array(RowJson),
  firstDivergence: z
    .object({ row: NonNegative, actualStep: NonNegative.optional(), predictedStep: NonNegative.optional(), description: z.string() })
    .nullable()
    .optional(),
  scores: ScoresJson.nullable().optional(),
  actualEnd: EndJson.optional(),
  malformed: MalformedJson.optional(),
  predictionError: z.string().optional(),
});

const SingleBody = z.object({
  mode: z.enum(['actual', 'predicted']),
  position: z.number().int(),
  program: z.string().optional(),
  actual: z.array(FrameJson).optional(),
  predicted: z.array(FrameJson).optional(),
  end: EndJson.nullable().optional(),
  malformed: MalformedJson.optional(),
});

const TracesBodySchema = z.discriminatedUnion('mode', [CompareBody, SingleBody]);

/** The `cwm/traces` response body, as checked. */
export type TracesBody = z.infer<typeof TracesBodySchema>;
export type FrameJson = z.infer<typeof FrameJson>;
export type ScoresJson = z.infer<typeof ScoresJson>;

/** The body of `cwm/traces` is not what this view understands (an adapter of another version, a broken message). */
export class TracesBodyError extends Error {
  override readonly name = 'TracesBodyError';
}

/** Checks a `cwm/traces` body; row positions must point into the frame arrays. */
export function parseTracesBody(body: unknown): TracesBody {
  const parsed = TracesBodySchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new TracesBodyError(`The debug adapter's trace data is not in the expected form${where}: ${issue?.message ?? 'unknown problem'}.`);
  }
  const data = parsed.data;
  if (data.mode === 'compare') {
    data.rows.forEach((row, index) => {
      if (row.actual === undefined && row.predicted === undefined) throw new TracesBodyError(`Row ${index} of the comparison has neither side.`);
      if (row.actual !== undefined && row.actual >= data.actual.length) throw new TracesBodyError(`Row ${index} points at real step ${row.actual}, past the end of the real trace.`);
      if (row.predicted !== undefined && row.predicted >= data.predicted.length) {
        throw new TracesBodyError(`Row ${index} points at predicted step ${row.predicted}, past the end of the prediction.`);
      }
    });
    if (data.firstDivergence && data.firstDivergence.row >= data.rows.length) throw new TracesBodyError('The first divergence points past the last row.');
  }
  return data;
}

// ---------------------------------------------------------------------------------------------------- the view's rows

export type ViewSide = 'predicted' | 'actual';
export type ViewMode = 'compare' | 'actual' | 'predicted';

/** A local that is new (`call` arguments, a first assignment), changed since the scope's previous step, or gone. */
export interface ValueChange {
  readonly name: string;
  /** The new repr; empty for `deleted`. */
  readonly value: string;
  readonly kind: 'new' | 'changed' | 'deleted';
  /** The model's confidence in this value, where the step wrote it (predicted side). */
  readonly confidence?: ViewConfidence;
}

/** How sure the model was of something the view shows, ready to draw. */
export interface ViewConfidence {
  readonly p: number;
  /** `41%`. */
  readonly text: string;
  /** 0 (sure) to 4 (very unsure): how strongly the view shades it. */
  readonly shade: number;
  /** Under the unsure threshold: marked ⚠. */
  readonly unsure: boolean;
  /** `model 30% sure; it also weighed 1 (60%)`, for a title. */
  readonly words: string;
}

/** One side's step in a row. */
export interface ViewCell {
  /** The frame's step number (`index`). */
  readonly step: number;
  readonly event: FrameJson['event'];
  /** 1-based; 0 when a predicted line could not be placed in the file. */
  readonly line: number;
  readonly source: string;
  /** The file the step runs in when it is not the program (absolute path, as in the trace). */
  readonly file?: string;
  /** The name of the step's file, on a step whose file differs from the previous step's on this side (so the view shows where the code moved). */
  readonly fileChange?: string;
  readonly depth: number;
  readonly functionName: string;
  /** Locals that changed since the previous step of the same scope on this side (every local on a `call`). */
  readonly changes: readonly ValueChange[];
  /** Return value (`return`) or exception (`exception`). */
  readonly value?: string;
  /** What the reader found wrong with a predicted frame it still kept. */
  readonly issues?: readonly string[];
  /** The model's confidence in the step itself (its event and line). */
  readonly actionConfidence?: ViewConfidence;
  /** The model's confidence in the return value or exception. */
  readonly valueConfidence?: ViewConfidence;
}

/** A variable (or, named `(return)` / `(exception)`, the step's value) whose two sides differ. */
export interface ViewDifference {
  readonly name: string;
  readonly predicted?: string;
  readonly actual?: string;
}

/** Arguments of `cwm/goToStep` that bring the debugger to a row. */
export interface GoToStepArgs {
  /** A position in the side's frames (compare mode), else the debugger position itself. */
  readonly step: number;
  readonly side?: ViewSide;
}

export interface ViewRow {
  /** The debugger position of this row (`cwm/state`'s `position`). */
  readonly position: number;
  readonly predicted?: ViewCell;
  readonly actual?: ViewCell;
  /** Compare mode only. */
  readonly verdict?: Verdict;
  /** `state-differs` rows: what differs. */
  readonly differences?: readonly ViewDifference[];
  readonly goTo: GoToStepArgs;
}

export interface ViewDivergence {
  readonly position: number;
  readonly description: string;
  readonly actualStep?: number;
  readonly predictedStep?: number;
}

/** One figure shown above the table. */
export interface ScoreItem {
  readonly id: 'action' | 'state-variables' | 'state-frames' | 'return-value' | 'well-formed' | 'steps' | 'end';
  readonly label: string;
  readonly text: string;
  /** A longer explanation (tooltip, screen readers). */
  readonly title: string;
  /** True when the figure is perfect, false when it shows a miss, absent when it is neither. */
  readonly good?: boolean;
}

export interface SideBySideModel {
  readonly mode: ViewMode;
  /** The columns shown, left to right. */
  readonly columns: readonly ViewSide[];
  readonly rows: readonly ViewRow[];
  /** The debugger's position when the data was read. */
  readonly position: number;
  readonly firstDivergence?: ViewDivergence;
  readonly scores: readonly ScoreItem[];
  /** Compare mode: rows per verdict. */
  readonly verdictCounts?: Readonly<Record<Verdict, number>>;
  /** Things the user should know about the data: the prediction failed, frames could not be read, the run ended early. */
  readonly notices: readonly string[];
}

/** Builds what the webview shows from a `cwm/traces` body (checked here: it comes from another process). */
export function buildSideBySideModel(body: unknown): SideBySideModel {
  const data = parseTracesBody(body);
  return data.mode === 'compare' ? compareModel(data) : singleModel(data);
}

function compareModel(data: Extract<TracesBody, { mode: 'compare' }>): SideBySideModel {
  const actualCells = cellsOf(data.actual, data.program);
  const predictedCells = cellsOf(data.predicted, data.program);
  const rows = data.rows.map((row, position): ViewRow => {
    const differences: ViewDifference[] = (row.variables ?? []).map((variable) => ({ ...variable }));
    if (row.value) {
      const event = row.actual !== undefined ? data.actual[row.actual]!.event : 'return';
      differences.push({ name: event === 'exception' ? '(exception)' : '(return)', ...row.value });
    }
    const goTo: GoToStepArgs = row.actual !== undefined ? { step: row.actual, side: 'actual' } : { step: row.predicted!, side: 'predicted' };
    return {
      position,
      ...(row.predicted !== undefined ? { predicted: predictedCells[row.predicted]! } : {}),
      ...(row.actual !== undefined ? { actual: actualCells[row.actual]! } : {}),
      verdict: row.verdict,
      ...(differences.length > 0 ? { differences } : {}),
      goTo,
    };
  });
  const first = data.firstDivergence ?? undefined;
  const notices: string[] = [];
  if (data.predictionError !== undefined) notices.push(`The prediction stopped early (${data.predictionError}); the comparison uses the steps predicted until then.`);
  if (data.malformed && data.malformed.length > 0) notices.push(unreadable(data.malformed.length));
  if (data.actualEnd && data.actualEnd.kind !== 'returned' && data.actualEnd.message) notices.push(`Real run: ${data.actualEnd.message}`);
  const verdictCounts = data.scores?.verdicts ?? countVerdicts(data.rows);
  return {
    mode: 'compare',
    columns: ['predicted', 'actual'],
    rows,
    position: data.position,
    ...(first
      ? {
        firstDivergence: {
          position: first.row,
          description: first.description,
          ...(first.actualStep !== undefined ? { actualStep: first.actualStep } : {}),
          ...(first.predictedStep !== undefined ? { predictedStep: first.predictedStep } : {}),
        },
      }
      : {}),
    scores: data.scores ? scoreItems(data.scores) : [],
    verdictCounts,
    notices,
  };
}

function singleModel(data: Extract<TracesBody, { mode: 'actual' | 'predicted' }>): SideBySideModel {
  const side: ViewSide = data.mode;
  const frames = data[side] ?? [];
  const cells = cellsOf(frames, data.program);
  const rows = cells.map((cell, position): ViewRow => ({ position, [side]: cell, goTo: { step: position } }));
  const notices: string[] = [];
  if (data.malformed && data.malformed.length > 0) notices.push(unreadable(data.malformed.length));
  const scores: ScoreItem[] = [{
    id: 'steps',
    label: side === 'actual' ? 'Real steps' : 'Predicted steps',
    text: String(frames.length),
    title: `${frames.length} ${side === 'actual' ? 'recorded' : 'predicted'} steps${data.end ? '' : ' so far'}`,
  }];
  if (data.end) {
    const ended = data.end.kind === 'returned' ? 'returned' : data.end.kind;
    scores.push({ id: 'end', label: 'End', text: ended, title: data.end.message ?? `The ${side === 'actual' ? 'run' : 'prediction'} ${ended}.` });
  }
  return { mode: data.mode, columns: [side], rows, position: data.position, scores, notices };
}

/**
 * The cells of one side, with each step's changes measured against the previous `call`/`line` step of the same scope
 * on that side (the way the CLI's table does), so a loop shows only what each iteration changed.
 */
export function cellsOf(frames: readonly FrameJson[], program?: string): ViewCell[] {
  const lastLocals = new Map<number, Record<string, string>>();
  let previousFile: string | undefined;
  return frames.map((frame, position): ViewCell => {
    const fileChanged = position > 0 && frame.file !== previousFile;
    previousFile = frame.file;
    const changes: ValueChange[] = [];
    if (frame.event === 'call' || frame.event === 'line') {
      const previous = frame.event === 'call' ? undefined : lastLocals.get(frame.scope);
      lastLocals.set(frame.scope, frame.locals);
      for (const [name, value] of Object.entries(frame.locals)) {
        const before = previous?.[name];
        const written = Object.hasOwn(frame.confidence?.locals ?? {}, name) ? viewConfidence(frame.confidence!.locals[name]!) : undefined;
        const confidence = written !== undefined ? { confidence: written } : {};
        if (before === undefined) changes.push({ name, value, kind: 'new', ...confidence });
        else if (before !== value) changes.push({ name, value, kind: 'changed', ...confidence });
      }
      if (previous) for (const name of Object.keys(previous)) if (!(name in frame.locals)) changes.push({ name, value: '', kind: 'deleted' });
    }
    return {
      step: frame.index,
      event: frame.event,
      line: frame.line,
      source: frame.source,
      ...(frame.file !== undefined ? { file: frame.file } : {}),
      ...(fileChanged ? { fileChange: fileLabel(frame.file ?? program ?? 'the program') } : {}),
      depth: frame.depth,
      functionName: frame.function,
      changes,
      ...(frame.value !== undefined ? { value: frame.value } : {}),
      ...(frame.issues && frame.issues.length > 0 ? { issues: frame.issues.map((issue) => issue.message) } : {}),
      ...(frame.confidence?.action !== undefined ? { actionConfidence: viewConfidence(frame.confidence.action) } : {}),
      ...(frame.confidence?.value !== undefined ? { valueConfidence: viewConfidence(frame.confidence.value) } : {}),
    };
  });
}

/** Confidence bounds of the shades: at or above 90% no shade, under 25% the strongest. */
const SHADE_BOUNDS = [0.9, 0.7, DEFAULT_UNSURE_THRESHOLD, 0.25];

function viewConfidence(confidence: z.infer<typeof ConfidenceJson>): ViewConfidence {
  const shade = SHADE_BOUNDS.findIndex((bound) => confidence.p >= bound);
  const unsure = confidence.p < DEFAULT_UNSURE_THRESHOLD;
  const alternatives = alternativesText(confidence);
  return {
    p: confidence.p,
    text: confidencePercent(confidence.p),
    shade: shade < 0 ? SHADE_BOUNDS.length : shade,
    unsure,
    words: `${unsure ? 'the model was unsure' : 'model'} ${confidencePercent(confidence.p)}${unsure ? '' : ' sure'}${alternatives !== undefined ? `; it also weighed ${alternatives}` : ''}`,
  };
}

function countVerdicts(rows: readonly { verdict: Verdict }[]): Record<Verdict, number> {
  const counts = Object.fromEntries(VERDICTS.map((verdict) => [verdict, 0])) as Record<Verdict, number>;
  for (const row of rows) counts[row.verdict]++;
  return counts;
}

function unreadable(count: number): string {
  return count === 1 ? 'One predicted step could not be read and is left out.' : `${count} predicted steps could not be read and are left out.`;
}

// ---------------------------------------------------------------------------------------------------- scores

type Ratio = z.infer<typeof RatioJson>;

function percent(ratio: Ratio): string {
  return ratio.rate === null ? 'n/a' : `${(ratio.rate * 100).toFixed(1)}%`;
}

function ratioItem(id: ScoreItem['id'], label: string, ratio: Ratio, what: string): ScoreItem {
  return {
    id,
    label,
    text: percent(ratio),
    title: ratio.rate === null ? `${label}: nothing to count` : `${label}: ${ratio.matched} of ${ratio.total} ${what}`,
    ...(ratio.rate === null ? {} : { good: ratio.matched === ratio.total }),
  };
}

/** The scores as the figures above the table, in the order the CLI prints them. */
export function scoreItems(scores: ScoresJson): ScoreItem[] {
  const returned = scores.returnValue;
  const returnText = returned.match === null ? 'n/a' : returned.match ? 'match' : 'differs';
  const returnTitle = returned.match === null
    ? 'Return value: the real run has no final return value'
    : `Return value: predicted ${returned.predicted ?? 'nothing'}, real ${returned.actual ?? 'nothing'}`;
  return [
    ratioItem('action', 'Actions', scores.action, 'real steps taken by the prediction (same event and line)'),
    ratioItem('state-variables', 'State (variables)', scores.stateByVariable, 'variables equal on steps with the same action'),
    ratioItem('state-frames', 'State (steps)', scores.stateByFrame, 'steps with every variable equal'),
    { id: 'return-value', label: 'Return value', text: returnText, title: returnTitle, ...(returned.match === null ? {} : { good: returned.match }) },
    ratioItem('well-formed', 'Well-formed', scores.wellFormed, 'predicted steps read without issues'),
  ];
}

// ---------------------------------------------------------------------------------------------------- the page

export interface SideBySidePage {
  /** `webview.cspSource`: where the panel may load its script and stylesheet from. */
  readonly cspSource: string;
  /** A fresh random value per page load: only scripts carrying it run. */
  readonly nonce: string;
  readonly scriptUri: string;
  readonly styleUri: string;
}

/** The Content Security Policy of the panel: nothing inline, only the media files and the one nonce'd script. */
export function sideBySideCsp(page: Pick<SideBySidePage, 'cspSource' | 'nonce'>): string {
  return `default-src 'none'; style-src ${page.cspSource}; script-src 'nonce-${page.nonce}'; img-src ${page.cspSource}`;
}

/** The panel's HTML: the shell the script fills in (the same page the extension loads and the browser test drives). */
export function sideBySideHtml(page: SideBySidePage): string {
  const attribute = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attribute(sideBySideCsp(page))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attribute(page.styleUri)}">
<title>CWM: Side by Side</title>
</head>
<body>
<header id="summary">
  <div id="scores" role="group" aria-label="Scores"></div>
  <div id="divergence" role="status"></div>
  <div id="legend" class="legend" aria-label="What the row colours and symbols mean"></div>
  <ul id="notices"></ul>
</header>
<div id="status" role="status" aria-live="polite">Loading the traces…</div>
<div id="table" class="table" role="grid" tabindex="0" aria-label="Predicted and real trace" aria-rowcount="0">
  <div id="header" class="header" role="row"></div>
  <div id="canvas" class="canvas" role="rowgroup"></div>
</div>
<script nonce="${attribute(page.nonce)}" src="${attribute(page.scriptUri)}"></script>
</body>
</html>
`;
}
