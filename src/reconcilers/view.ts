// What warden shows of an action: a view built for people (kind, object, the fields that differ), never
// the action itself, which carries what the engine is sent (a secret's data, a service's whole spec with
// every env value). Every plan, summary and log line about an action renders one of these, so a field
// added to an action later is shown only once someone adds it here, on purpose (style.md §9).
import type { FieldDiff } from '../desired-state/compose/normalize.js';
import { CONTENT_CHANGED, ENCRYPTED_CHANGED, maskShown } from '../desired-state/redact.js';
import type { SealedValues } from '../desired-state/sops/sealed.js';
import type { ReconcilerId } from './index.js';
import type { Action, ActionKind, StackObjectKind } from './types.js';

/**
 * FieldView is one field of a service that differs: its values masked (maskShown), or, when a side
 * holds a value from a sops file (FieldDiff.encrypted), no values at all but `change: "(encrypted) changed"`.
 */
export type FieldView =
  | {
      /** field is a path with list items named by identity: TaskTemplate.ContainerSpec.Env[FOO]. */
      field: string;
      /** live and desired are absent when the field is unset on that side. */
      live?: unknown;
      desired?: unknown;
      restarts: boolean;
    }
  | { field: string; change: typeof ENCRYPTED_CHANGED; restarts: boolean };

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

/** fieldView is a FieldDiff as shown: values masked (with `sealed` too, when given), unset sides absent; an encrypted one without values. */
export function fieldView(f: FieldDiff, sealed?: SealedValues): FieldView {
  if (f.encrypted) return { field: f.field, change: ENCRYPTED_CHANGED, restarts: f.restarts };
  const shown = (v: unknown): unknown => (sealed ? sealed.mask(maskShown(v, f.field)) : maskShown(v, f.field));
  return {
    field: f.field,
    ...(f.live !== undefined ? { live: shown(f.live) } : {}),
    ...(f.desired !== undefined ? { desired: shown(f.desired) } : {}),
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
  return Object.fromEntries(fields.map((f) => [f.field, 'change' in f ? f.change : f[which]]));
}

// The last net: whatever of a value the view shows, masked with the revision's sealed values.
function sealedView(v: ActionView, sealed: SealedValues | undefined): ActionView {
  if (!sealed) return v;
  return {
    ...v,
    ...(v.before !== undefined ? { before: sealed.mask(v.before) } : {}),
    ...(v.after !== undefined ? { after: sealed.mask(v.after) } : {}),
    ...(v.held !== undefined ? { held: sealed.scrub(v.held) } : {}),
  };
}

/**
 * actionView builds the view of one action, kind by kind: a new action kind fails to compile until it
 * says here what of it people see. The stacks' actions are shown from their typed fields only (their
 * specs go to the engine, never to a person); a config's or secret's content is `content changed`, a
 * field that holds a value from a sops file `(encrypted) changed`; and what is shown of a value is
 * masked with the action's sealed values (./seal.ts), if it has any.
 */
export function actionView(a: Action): ActionView {
  return sealedView(kindView(a), a.sealed);
}

function kindView(a: Action): ActionView {
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
      const fields = a.fields.map((f) => fieldView(f, a.sealed));
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
