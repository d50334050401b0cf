// What warden shows of an action: a view built for people (kind, object, the fields that differ), never
// the action itself, which carries what the engine is sent (a secret's data, a service's whole spec with
// every env value). Every plan, summary and log line about an action renders one of these, so a field
// added to an action later is shown only once someone adds it here, on purpose (style.md §9).
import type { FieldDiff } from '../desired-state/compose/normalize.js';
import { CONTENT_CHANGED, maskShown } from '../desired-state/redact.js';
import type { ReconcilerId } from './index.js';
import type { Action, ActionKind, StackObjectKind } from './types.js';

/** FieldView is one field of a service that differs, its values masked (maskShown). */
export interface FieldView {
  /** field is a path with list items named by identity: TaskTemplate.ContainerSpec.Env[FOO]. */
  field: string;
  /** live and desired are absent when the field is unset on that side. */
  live?: unknown;
  desired?: unknown;
  restarts: boolean;
}

/** ActionView is what a plan, `apply`'s summary and the log lines show of one action. */
export interface ActionView {
  kind: ActionKind;
  reconciler: ReconcilerId;
  object: string;
  /** objectKind is what a stack's object is, for the actions on one (absent for the others). */
  objectKind?: StackObjectKind;
  /** before and after are the fields that change, masked (absent: nothing there before, or after). */
  before?: unknown;
  after?: unknown;
  /** fields lists what differs in a service update, masked; restarts says whether its tasks restart. */
  fields?: FieldView[];
  restarts?: boolean;
  disruptive: boolean;
  ignored: boolean;
  held?: string;
}

/** fieldView is a FieldDiff as shown: values masked, unset sides absent. */
export function fieldView(f: FieldDiff): FieldView {
  return {
    field: f.field,
    ...(f.live !== undefined ? { live: maskShown(f.live, f.field) } : {}),
    ...(f.desired !== undefined ? { desired: maskShown(f.desired, f.field) } : {}),
    restarts: f.restarts,
  };
}

// changed is before/after as the reconciler wrote them for people, through the one masking function.
function changed(a: Action): Pick<ActionView, 'before' | 'after'> {
  return {
    ...(a.before !== undefined ? { before: maskShown(a.before) } : {}),
    ...(a.after !== undefined ? { after: maskShown(a.after) } : {}),
  };
}

function side(fields: readonly FieldView[], which: 'live' | 'desired'): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f.field, f[which]]));
}

/**
 * actionView builds the view of one action, kind by kind: a new action kind fails to compile until it
 * says here what of it people see. The stacks' actions are shown from their typed fields only (their
 * specs go to the engine, never to a person); a config's or secret's content is `content changed`.
 */
export function actionView(a: Action): ActionView {
  const common: ActionView = {
    kind: a.kind, reconciler: a.reconciler, object: a.object, disruptive: a.disruptive, ignored: a.ignored,
    ...(a.held !== undefined ? { held: a.held } : {}),
  };
  switch (a.kind) {
    case 'scale-service':
    case 'update-placement':
    case 'force-restart':
    case 'update-node':
    case 'promote-node':
    case 'demote-node':
    case 'fix-volume':
      // The cluster's reconcilers write before/after for people already (replicas, placement, role, owner).
      return { ...common, ...changed(a) };
    case 'create-network':
      return { ...common, objectKind: 'network', after: { driver: a.spec.Driver } };
    case 'create-file-object':
      return { ...common, objectKind: a.objectKind, after: { name: a.object, content: CONTENT_CHANGED } };
    case 'label-secret':
      // The label holds the content's hash: its name says what is recorded, its value is not shown.
      return { ...common, objectKind: 'secret', before: { labels: [] }, after: { labels: Object.keys(a.labels).sort() } };
    case 'create-service':
      return { ...common, objectKind: 'service', after: { image: String(a.spec.TaskTemplate?.ContainerSpec?.Image ?? a.image) } };
    case 'update-service': {
      const fields = a.fields.map(fieldView);
      return { ...common, objectKind: 'service', before: side(fields, 'live'), after: side(fields, 'desired'), fields, restarts: a.restarts };
    }
    case 'remove-stack-object':
      return { ...common, objectKind: a.objectKind, ...changed(a) };
    default:
      return unhandled(a);
  }
}

function unhandled(x: never): never {
  throw new Error(`no view for action ${(x as { kind: string }).kind}`);
}
