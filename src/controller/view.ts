// What `plan -o json`, the text plan and `apply`'s summary show of a pass: its results with every action
// as its view (../reconcilers/view.ts) and every field that differs masked, built field by field so that
// what the engine was sent never reaches a person.
import type { ReconcilerId } from '../reconcilers/index.js';
import type { Drift, StackObjectState } from '../reconcilers/types.js';
import { actionView, fieldView, type ActionView, type FieldView } from '../reconcilers/view.js';
import type { ActionOutcome } from './act.js';
import type { SuppressReason } from './metrics.js';
import type { ReconcilerResult } from './pass.js';

export type { ActionView, FieldView } from '../reconcilers/view.js';

/** OutcomeView is one action as shown, and what became of it. */
export interface OutcomeView {
  action: ActionView;
  outcome: ActionOutcome['outcome'];
  reason?: SuppressReason;
  error?: string;
}

/** ObjectView is one object of a deployed stack as shown: its state, and for a service in drift its fields, masked. */
export interface ObjectView {
  stack: string;
  kind: StackObjectState['kind'];
  name: string;
  state: StackObjectState['state'];
  fields?: FieldView[];
  note?: string;
}

/** ReconcilerView is one reconciler's part of a pass as shown. */
export interface ReconcilerView {
  id: ReconcilerId;
  drift: Drift[];
  actions: OutcomeView[];
  blocked?: string;
  requeueAfterMs?: number;
  error?: string;
  pending?: string;
  objects?: ObjectView[];
}

/** outcomeView is an action's outcome with the action as its view. */
export function outcomeView(o: ActionOutcome): OutcomeView {
  return {
    action: actionView(o.action),
    outcome: o.outcome,
    ...(o.reason !== undefined ? { reason: o.reason } : {}),
    ...(o.error !== undefined ? { error: o.error } : {}),
  };
}

function objectView(o: StackObjectState): ObjectView {
  return {
    stack: o.stack, kind: o.kind, name: o.name, state: o.state,
    ...(o.fields ? { fields: o.fields.map((f) => fieldView(f)) } : {}),
    ...(o.note !== undefined ? { note: o.note } : {}),
  };
}

/** reconcilerView is a reconciler's result as shown: drift as is, actions and objects as their views. */
export function reconcilerView(r: ReconcilerResult): ReconcilerView {
  return {
    id: r.id,
    drift: r.drift.map((d) => ({ object: d.object, message: d.message })),
    actions: r.actions.map(outcomeView),
    ...(r.blocked !== undefined ? { blocked: r.blocked } : {}),
    ...(r.requeueAfterMs !== undefined ? { requeueAfterMs: r.requeueAfterMs } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.pending !== undefined ? { pending: r.pending } : {}),
    ...(r.objects ? { objects: r.objects.map(objectView) } : {}),
  };
}
