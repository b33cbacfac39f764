// Turns frames' locals (Python reprs) into DAP variables: long values shortened with the full text one level down,
// containers expanded lazily from their repr with paging, differing values marked in compare mode, and each predicted
// value's confidence shown after it (`99  · 41%`), a doubtful one marked (`⚠`) with the alternatives the model weighed.

import { Handles } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { VariableDifference } from '../compare/align';
import { alternativesText, DEFAULT_UNSURE_THRESHOLD, percent } from '../trace/confidence';
import type { TraceFrame, ValueConfidence } from '../trace/model';
import { parseRepr, type ReprNode } from '../values/pyrepr';
import type { Side } from './navigator';
import { IMPOSSIBLE_LOCAL } from '../engine/flow-check';

/** Values longer than this are shown cut, with the whole text under "(full value)". */
export const SHOWN_VALUE_LENGTH = 200;
/** "(full value)" holds at most this much; Copy Value (evaluate, clipboard context) gives the rest. */
export const FULL_VALUE_LIMIT = 100_000;
/** Mappings and records with more children than this are paged like sequences. */
const NAMED_CHILDREN_LIMIT = 100;
export const FULL_VALUE_NAME = '(full value)';
export const RETURN_NAME = '(return)';
export const EXCEPTION_NAME = '(exception)';
/** presentationHint attribute of a variable whose predicted and real values differ. */
export const DIFFERS_ATTRIBUTE = 'cwm.differs';
/** presentationHint attribute of a predicted value the model was unsure of (confidence under the threshold). */
export const UNSURE_ATTRIBUTE = 'cwm.unsure';

/** The locals of one frame as a scope. */
export interface LocalsScope {
  readonly kind: 'locals';
  readonly frame: TraceFrame;
  readonly side: Side;
  /** Compare mode: variables whose value differs from the other side's, by name (`(return)` for the value). */
  readonly differences?: ReadonlyMap<string, VariableDifference>;
  /** setVariable may change this scope (predict mode, current frame). */
  readonly editable: boolean;
}

/** A recorded object (real runs with object state): its attributes are the frame's `objects` under `path.`. */
export interface ObjectContainer {
  readonly kind: 'object';
  readonly frame: TraceFrame;
  /** Dotted path from a local: `self`, `self.center`. */
  readonly path: string;
}

type Container =
  | LocalsScope
  | ObjectContainer
  | { readonly kind: 'node'; readonly node: ReprNode; readonly evaluateName?: string; readonly full?: string }
  | { readonly kind: 'full'; readonly text: string };

export class VariableStore {
  private handles = new Handles<Container>(1000);
  /** Values under this confidence are marked as doubtful (the "When the model is unsure" threshold, when set). */
  unsureThreshold = DEFAULT_UNSURE_THRESHOLD;

  /** Forgets every reference (after each stop, references from before are no longer valid). */
  reset(): void {
    this.handles.reset();
  }

  scope(scope: LocalsScope): number {
    return this.handles.create(scope);
  }

  scopeOf(reference: number): LocalsScope | undefined {
    const container = this.handles.get(reference);
    return container?.kind === 'locals' ? container : undefined;
  }

  /** The recorded object a reference expands, if it is one. */
  objectOf(reference: number): ObjectContainer | undefined {
    const container = this.handles.get(reference);
    return container?.kind === 'object' ? container : undefined;
  }

  /** Children of a reference, honouring DAP's filter and paging. */
  variables(reference: number, filter?: 'indexed' | 'named', start = 0, count = 0): DebugProtocol.Variable[] {
    const container = this.handles.get(reference);
    if (container === undefined) return [];
    switch (container.kind) {
      case 'locals':
        return filter === 'indexed' ? [] : this.localsVariables(container);
      case 'full':
        return filter === 'indexed' ? [] : [fullValueVariable(container.text)];
      case 'object':
        return filter === 'indexed' ? [] : this.attributeVariables(container);
      case 'node':
        return this.nodeVariables(container.node, container.evaluateName, container.full, filter, start, count);
    }
  }

  /** A value as a variable (or evaluate result): shortened when long, expandable when its repr has children. */
  variable(name: string, repr: string, evaluateName?: string): DebugProtocol.Variable {
    const node = parseRepr(repr);
    const long = repr.length > SHOWN_VALUE_LENGTH;
    const variable: DebugProtocol.Variable = {
      name,
      value: long ? `${repr.slice(0, SHOWN_VALUE_LENGTH - 1)}…` : repr,
      type: node.truncated ? `${node.typeName} (cut by the tracer)` : node.typeName,
      variablesReference: 0,
      ...(evaluateName !== undefined ? { evaluateName } : {}),
    };
    if (node.expandable) {
      variable.variablesReference = this.handles.create({ kind: 'node', node, evaluateName, full: long ? repr : undefined });
      const paged = childrenArePaged(node);
      if (paged) {
        variable.indexedVariables = node.childCount;
        if (long) variable.namedVariables = 1;
      } else {
        variable.namedVariables = node.childCount + (long ? 1 : 0);
      }
    } else if (long) {
      variable.variablesReference = this.handles.create({ kind: 'full', text: repr });
      variable.namedVariables = 1;
    }
    return variable;
  }

  private localsVariables(scope: LocalsScope): DebugProtocol.Variable[] {
    const out: DebugProtocol.Variable[] = [];
    const confidence = scope.frame.confidence;
    const objects = scope.frame.objects;
    const impossible = impossibleLocals(scope.frame);
    for (const [name, repr] of scope.frame.locals) {
      const variable = objects !== undefined ? this.objectVariable(scope.frame, name, name, repr, name) : this.variable(name, repr, name);
      const shown = this.withConfidence(this.marked(variable, scope, name), confidence?.locals.get(name));
      out.push(impossible?.has(name) ? markedImpossible(shown, impossible.get(name)!) : shown);
    }
    if (scope.frame.value !== undefined) {
      const name = scope.frame.event === 'exception' ? EXCEPTION_NAME : RETURN_NAME;
      const variable = this.variable(name, scope.frame.value);
      variable.presentationHint = { kind: 'virtual', attributes: ['readOnly'] };
      out.push(this.withConfidence(this.marked(variable, scope, RETURN_NAME), confidence?.value));
    }
    if (!scope.editable) {
      for (const variable of out) {
        const hint = variable.presentationHint ?? {};
        const attributes = new Set(hint.attributes ?? []);
        attributes.add('readOnly');
        variable.presentationHint = { ...hint, attributes: [...attributes] };
      }
    }
    return out;
  }

  /**
   * A local or attribute that holds a recorded object: expands into its attributes (which the repr alone may not show,
   * e.g. `<Circle object>`); any other value as `variable` does.
   */
  private objectVariable(frame: TraceFrame, name: string, path: string, repr: string, evaluateName: string | undefined): DebugProtocol.Variable {
    const variable = this.variable(name, repr, evaluateName);
    const count = attributeNames(frame, path).length;
    if (count === 0) return variable;
    variable.variablesReference = this.handles.create({ kind: 'object', frame, path });
    variable.namedVariables = count;
    delete variable.indexedVariables;
    return variable;
  }

  /** The attributes of a recorded object, in the order the tracer found them; read-only (a recording cannot change). */
  private attributeVariables(container: ObjectContainer): DebugProtocol.Variable[] {
    const { frame, path } = container;
    const out: DebugProtocol.Variable[] = [];
    for (const name of attributeNames(frame, path)) {
      const child = `${path}.${name}`;
      const variable = this.objectVariable(frame, name, child, frame.objects!.get(child)!, /^[\p{ID_Start}_][\p{ID_Continue}]*$/u.test(name) ? child : undefined);
      variable.presentationHint = { ...(variable.presentationHint ?? {}), kind: variable.presentationHint?.kind ?? 'property', attributes: ['readOnly'] };
      out.push(variable);
    }
    return out;
  }

  /** Marks a variable whose value differs from the other side's, and says the other value in its type. */
  private marked(variable: DebugProtocol.Variable, scope: LocalsScope, key: string): DebugProtocol.Variable {
    const difference = scope.differences?.get(key);
    if (difference === undefined) return variable;
    const other = scope.side === 'predicted' ? difference.actual : difference.predicted;
    const otherName = scope.side === 'predicted' ? 'the real run' : 'the prediction';
    const hint = variable.presentationHint ?? {};
    variable.presentationHint = { kind: hint.kind ?? 'data', attributes: [...(hint.attributes ?? []), DIFFERS_ATTRIBUTE] };
    variable.type = `${variable.type ?? ''} — differs from ${otherName}: ${other === undefined ? 'absent there' : shorten(other, 80)}`.trim();
    // VS Code draws nothing for a custom attribute, so the predicted row says the real value in its own text
    // (`99 ≠ 0`): a difference is visible in the VARIABLES view at a glance, without hovering.
    if (scope.side === 'predicted') {
      variable.value = `${variable.value} ≠ ${other === undefined ? '(absent in the real run)' : shorten(other, 60)}`;
    }
    return variable;
  }

  /**
   * The model's confidence after the value (`99  · 41%`); under the threshold marked `⚠` with the attribute, and the
   * alternatives it weighed in the type (the hover of the row). Values the frame did not write (`".."`) have none.
   */
  private withConfidence(variable: DebugProtocol.Variable, confidence: ValueConfidence | undefined): DebugProtocol.Variable {
    if (confidence === undefined) return variable;
    const unsure = confidence.p < this.unsureThreshold;
    variable.value = `${variable.value}  ${unsure ? '⚠' : '·'} ${percent(confidence.p)}`;
    const alternatives = alternativesText(confidence);
    const said = unsure ? `the model was unsure (${percent(confidence.p)})` : `model ${percent(confidence.p)} sure`;
    variable.type = `${variable.type ?? ''} — ${said}${alternatives !== undefined ? `; it also weighed ${oneLine(alternatives)}` : ''}`.trim();
    if (unsure) {
      const hint = variable.presentationHint ?? {};
      variable.presentationHint = { ...hint, kind: hint.kind ?? 'data', attributes: [...(hint.attributes ?? []), UNSURE_ATTRIBUTE] };
    }
    return variable;
  }

  private nodeVariables(
    node: ReprNode,
    evaluateName: string | undefined,
    full: string | undefined,
    filter: 'indexed' | 'named' | undefined,
    start: number,
    count: number,
  ): DebugProtocol.Variable[] {
    const paged = childrenArePaged(node);
    const out: DebugProtocol.Variable[] = [];
    if (full !== undefined && filter !== 'indexed') out.push(fullValueVariable(full));
    const wantChildren = filter === undefined || (filter === 'indexed') === paged;
    if (!wantChildren) return out;
    const from = paged || filter !== undefined ? start : 0;
    const howMany = count > 0 ? count : node.childCount;
    for (const child of node.children(from, howMany)) {
      out.push(this.variable(child.name, child.value, childExpression(evaluateName, node, child.name)));
    }
    return out;
  }
}

/** Names of the attributes recorded right under `path` (`radius` for `self.radius`, not `self.center.x`). */
function attributeNames(frame: TraceFrame, path: string): string[] {
  const objects = frame.objects;
  if (objects === undefined) return [];
  const prefix = `${path}.`;
  const names: string[] = [];
  for (const key of objects.keys()) {
    if (key.startsWith(prefix) && !key.includes('.', prefix.length)) names.push(key.slice(prefix.length));
  }
  return names;
}

/** Sequences and sets are always paged (indexed); mappings and records only when large. */
function childrenArePaged(node: ReprNode): boolean {
  return node.naming === 'index' || node.naming === 'position' || node.childCount > NAMED_CHILDREN_LIMIT;
}

function childExpression(parent: string | undefined, node: ReprNode, name: string): string | undefined {
  if (parent === undefined) return undefined;
  // Names and the subscript/attribute chains built here need no parentheses; any other expression does.
  const base = /^[\p{ID_Start}_][\p{ID_Continue}]*(?:\[[^\]]*\]|\.[\p{ID_Start}_][\p{ID_Continue}]*)*$/u.test(parent) ? parent : `(${parent})`;
  switch (node.naming) {
    case 'index':
    case 'key':
      return `${base}[${name}]`;
    case 'field':
      return `${base}.${name}`;
    case 'position':
      return undefined;
  }
}

/** A value shown whole up to `limit` characters; past it cut, saying how long it is and where the rest is. */
export function wholeUpTo(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}… (${text.length.toLocaleString('en-US')} characters; Copy Value gives all of it)`;
}

function fullValueVariable(text: string): DebugProtocol.Variable {
  return { name: FULL_VALUE_NAME, value: wholeUpTo(text, FULL_VALUE_LIMIT), variablesReference: 0, presentationHint: { kind: 'virtual', attributes: ['rawString', 'readOnly'] } };
}

function shorten(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/** Model text on one line: control characters shown as escapes, so a row stays one row. */
function oneLine(text: string): string {
  return shorten(text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), 200);
}

/** The locals the symbolic checks found the code cannot have (issue `local` → its reason), if any. */
function impossibleLocals(frame: TraceFrame): Map<string, string> | undefined {
  let found: Map<string, string> | undefined;
  for (const issue of frame.issues ?? []) {
    if (issue.kind === IMPOSSIBLE_LOCAL && issue.local !== undefined) (found ??= new Map()).set(issue.local, issue.message);
  }
  return found;
}

/** A predicted local the code cannot have: `⊘` after its value (as the CLI marks impossible steps), the reason in its type. */
function markedImpossible(variable: DebugProtocol.Variable, reason: string): DebugProtocol.Variable {
  variable.value = `${variable.value}  ⊘ impossible`;
  variable.type = `${variable.type ?? ''} — impossible: ${reason}`.trim();
  return variable;
}
