// What the parts of the stacks reconciler share: the plan they fill in, the action fields every stacks
// action has, and reading a service spec's references (networks, configs, secrets) and mode.
import type { ServiceSpec } from '../../docker/port.js';
import type { Action, Drift, Plan, StackObjectState } from '../types.js';

/** Obj is an untyped part of an engine spec. */
export type Obj = Record<string, unknown>;

/** Collector is the plan the parts of one pass fill in. */
export interface Collector {
  drift: Drift[];
  actions: Action[];
  objects: StackObjectState[];
  blocked?: Plan['blocked'];
}

/** StateOf records one object's state for a stack (warden_stack_objects, `plan`). */
export type StateOf = (kind: StackObjectState['kind'], name: string, s: StackObjectState['state'], extra?: Partial<StackObjectState>) => void;

/** stateOf returns the StateOf of `stack` writing into `out`. */
export function stateOf(stack: string, out: Collector): StateOf {
  return (kind, name, s, extra = {}) => {
    out.objects.push({ stack, kind, name, state: s, ...extra });
  };
}

/** block adds a held decision to the plan, keeping the ones already there (one per stack and rule). */
export function block(out: Collector, reason: NonNullable<Plan['blocked']>['reason'], message: string): void {
  out.blocked = out.blocked ? { reason: out.blocked.reason, message: `${out.blocked.message}\n${message}` } : { reason, message };
}

/** base is what every stacks action has besides its kind; disruptive and ignored default to false. */
export function base(object: string, before: unknown, after: unknown, ignored = false): { reconciler: 'stacks'; object: string; before: unknown; after: unknown; disruptive: boolean; ignored: boolean } {
  return { reconciler: 'stacks', object, before, after, disruptive: false, ignored };
}

/** references lists what a spec names: `network:<Target>`, `secret:<key>` and `config:<key>` (by name or id). */
export function references(spec: ServiceSpec, by: 'name' | 'id'): string[] {
  const c = spec.TaskTemplate?.ContainerSpec as Obj | undefined;
  return [
    ...((spec.TaskTemplate?.Networks as Obj[] | undefined) ?? []).map((n) => `network:${String(n.Target)}`),
    ...((c?.Secrets as Obj[] | undefined) ?? []).map((r) => `secret:${String(by === 'name' ? r.SecretName : r.SecretID)}`),
    ...((c?.Configs as Obj[] | undefined) ?? []).map((r) => `config:${String(by === 'name' ? r.ConfigName : r.ConfigID)}`),
  ];
}

/** modeKind is a spec's mode as `docker service ls` names it. */
export function modeKind(spec: ServiceSpec): string {
  const m = spec.Mode ?? {};
  return m.Global ? 'global' : m.ReplicatedJob ? 'replicated-job' : m.GlobalJob ? 'global-job' : 'replicated';
}
