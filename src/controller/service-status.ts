// Sync and health side by side, per kept service (style.md §10): what `plan`, `warden status` and
// /status show of each service. Sync is "a pass would change this" (the drift the reconcilers report on
// it); health is "this does not work" (./health.ts). They are computed apart and only joined here, for
// people: an exit code or a metric speaks of one of them, never of both.
import type { Action } from '../reconcilers/types.js';
import type { ActionOutcome } from './act.js';
import type { Health, KeptServiceHealth } from './health.js';
import type { PassResult } from './pass.js';
import type { RolloutView } from './rollouts.js';

/** ServiceSync is a kept service's sync: in sync, or drift a pass would change. */
export type ServiceSync = 'in_sync' | 'drift';

/** ServiceStatusView is one kept service as shown: its sync beside its health, each with its reason. */
export interface ServiceStatusView {
  stack: string;
  service: string;
  sync: ServiceSync;
  /** drift lists what a pass would change on it, reconciler by reconciler (empty in sync). */
  drift: string[];
  health: Health;
  /** reason is the health's reason in the engine's words ('' when healthy). */
  reason: string;
  running: number;
  desired: number;
  /** updated is when its last update ended (or began, while it runs); absent when missing. */
  updated?: string;
  /** rollout is the last update warden made to it, followed to its end (./rollouts.ts); absent when none since warden started. */
  rollout?: RolloutView;
}

/** HEALTH_RECHECK_MS is how soon the daemon looks again while a service is progressing (default 5 s): no event says a task started. */
export const HEALTH_RECHECK_MS = 5_000;

/**
 * heldServices says, per service, why warden holds it this pass: an action on it suppressed by observe
 * mode (or --dry-run), or held by the flapping or backoff rules (`holdWhy` says why). Such a service is
 * `suspended`. A flapping hold on a service whose last rollout swarm rolled back (`rolledBack`, default
 * none) says so: that hold is what keeps warden from applying the change again.
 */
export function heldServices(results: PassResult['results'], holdWhy: (action: Action) => string | undefined, rolledBack: (service: string) => RolledBack | undefined = () => undefined): Map<string, string> {
  const held = new Map<string, string>();
  for (const r of results) {
    for (const a of r.actions) {
      const why = heldReason(a, holdWhy, rolledBack);
      if (why !== undefined && !held.has(a.action.object)) held.set(a.action.object, why);
    }
  }
  return held;
}

/** RolledBack is a change of warden's to a service that swarm rolled back: at which revision, and the engine's words. */
export interface RolledBack {
  revision: string;
  reason: string;
}

function heldReason(a: ActionOutcome, holdWhy: (action: Action) => string | undefined, rolledBack: (service: string) => RolledBack | undefined): string | undefined {
  if (a.outcome !== 'suppressed') return undefined;
  const back = a.reason === 'flapping' ? rolledBack(a.action.object) : undefined;
  switch (a.reason) {
    case 'observe':
      return `observe mode: a pass would ${a.action.kind} (${a.action.reconciler}); warden changes nothing`;
    case 'flapping':
      // Swarm undid warden's change each time it was applied: the file asks for what does not run.
      if (back) return `rolled back by swarm at revision ${back.revision}; fix the file (${back.reason})`;
      return `held by warden (flapping): ${holdWhy(a.action) ?? 'corrected too often'}; fix the file or what changes it back`;
    case 'backoff':
      return `held by warden (the engine refused ${a.action.kind}): ${holdWhy(a.action) ?? 'backing off'}`;
    default:
      return undefined;
  }
}

/** serviceStatuses joins a pass's health of each kept service with the drift its reconcilers report on it. */
export function serviceStatuses(result: Pick<PassResult, 'results' | 'health'>): ServiceStatusView[] {
  const drift = new Map<string, string[]>();
  const note = (object: string, message: string): void => {
    drift.set(object, [...(drift.get(object) ?? []), message]);
  };
  for (const r of result.results) {
    for (const d of r.drift) note(d.object, `${r.id}: ${d.message}`);
    // The stacks reconciler reports its services object by object (fields that differ, missing).
    for (const o of r.objects ?? []) {
      if (o.kind === 'service' && o.state !== 'in_sync' && !r.drift.some((d) => d.object === o.name)) note(o.name, `${r.id}: ${o.state.replace('_', ' ')}${o.note ? `: ${o.note}` : ''}`);
    }
  }
  return (result.health ?? []).map((h) => statusView(h, drift.get(h.service) ?? []));
}

function statusView(h: KeptServiceHealth, drift: string[]): ServiceStatusView {
  return {
    stack: h.stack, service: h.service, sync: drift.length > 0 ? 'drift' : 'in_sync', drift,
    health: h.health, reason: h.reason, running: h.running, desired: h.desired,
    ...(h.updated !== undefined ? { updated: h.updated } : {}),
    ...(h.rollout !== undefined ? { rollout: h.rollout } : {}),
  };
}

/** healthRecheckMs is when the daemon should pass again for health: HEALTH_RECHECK_MS while a service is progressing, else never. */
export function healthRecheckMs(result: Pick<PassResult, 'health'>): number {
  return (result.health ?? []).some((h) => h.health === 'progressing') ? HEALTH_RECHECK_MS : Infinity;
}
