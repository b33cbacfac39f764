// How predicted frames' confidence is read and written by every view (VARIABLES, hovers, inlay hints, side by side,
// CLI table and JSON, eval report, "stop when unsure"): one wording and one threshold for all of them.
import type { FrameConfidence, TraceFrame, ValueConfidence } from './model';

/** Below this probability a value counts as one the model was unsure of (the "When the model is unsure" default). */
export const DEFAULT_UNSURE_THRESHOLD = 0.5;

/** `41%`; `<1%` and `>99%` rather than a rounded 0 or 100 that would claim certainty the model did not have. */
export function percent(p: number): string {
  if (!Number.isFinite(p)) return '?';
  if (p < 0.01) return '<1%';
  if (p > 0.99 && p < 1) return '>99%';
  return `${Math.round(p * 100)}%`;
}

/** What a frame's lowest confidence is about: 'action' (event and line), a local's name, or 'return value'. */
export interface LowestConfidence {
  readonly what: 'action' | 'local' | 'value';
  /** The local's name for 'local'. */
  readonly name?: string;
  readonly confidence: ValueConfidence;
}

/** The least sure part of a frame (its action, a value it writes, its return value); undefined without confidence. */
export function lowestConfidence(frame: TraceFrame): LowestConfidence | undefined {
  const c = frame.confidence;
  if (c === undefined) return undefined;
  let lowest: LowestConfidence | undefined = c.action !== undefined ? { what: 'action', confidence: c.action } : undefined;
  for (const [name, confidence] of c.locals) {
    if (lowest === undefined || confidence.p < lowest.confidence.p) lowest = { what: 'local', name, confidence };
  }
  if (c.value !== undefined && (lowest === undefined || c.value.p < lowest.confidence.p)) lowest = { what: 'value', confidence: c.value };
  return lowest;
}

/** Alternatives as `99 (60%), 98 (5%)`, at most `max` of them. */
export function alternativesText(confidence: ValueConfidence, max = 3): string | undefined {
  const alternatives = confidence.alternatives ?? [];
  if (alternatives.length === 0) return undefined;
  return alternatives.slice(0, max).map((a) => `${a.value} (${percent(a.p)})`).join(', ');
}

/** The least confidence of a frame, its number only (the CLI column, the side-by-side shading). */
export function frameMinConfidence(frame: TraceFrame): number | undefined {
  return lowestConfidence(frame)?.confidence.p;
}

/** Confidence as plain JSON (CLI `--format json`, saved output): maps become objects in insertion order. */
export function confidenceToJson(confidence: FrameConfidence): Record<string, unknown> {
  // fromEntries defines own properties: a local named __proto__ stays a local.
  const locals = Object.fromEntries(confidence.locals);
  return {
    source: confidence.source,
    ...(confidence.action !== undefined ? { action: confidence.action } : {}),
    locals,
    ...(confidence.value !== undefined ? { value: confidence.value } : {}),
  };
}
