// The placement reconciler (contract §2): a service's constraints (a set, whitespace-insensitive, as the
// engine compares them), spread preferences (an ordered list) and max replicas per node. Only the fields
// the file gives are compared; the apply path changes only those fields of the spec it reads. A missing
// service is the replicas reconciler's to report, so that it is reported once.
import type { DesiredPlacement } from '../desired-state/types.js';
import type { SwarmService } from '../docker/port.js';
import { sameConstraints } from './compare.js';
import { isIgnored, type Action, type Drift, type Plan, type Reconciler } from './types.js';

/** placement keeps each service's placement at `services[].placement`; fields absent from the file are left alone. */
export const placement: Reconciler<'placement'> = {
  id: 'placement',
  actions: ['update-placement'],
  plan(desired, observed) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    const byName = new Map(observed.services.map((s) => [s.name, s]));
    for (const want of desired.services ?? []) {
      if (want.placement === undefined) continue;
      const svc = byName.get(want.name);
      if (!svc) continue;
      const notes: string[] = [];
      const wanted: DesiredPlacement = { ...want.placement };
      if (svc.mode === 'global' && (wanted.maxReplicasPerNode ?? 0) > 0) {
        // A global service runs one task per node by definition; the engine has no use for a cap.
        notes.push(`maxReplicasPerNode ${wanted.maxReplicasPerNode} does not apply to a global service`);
        delete wanted.maxReplicasPerNode;
      }
      const diff = placementDiff(svc, wanted);
      if (diff === undefined) {
        for (const note of notes) drift.push({ object: want.name, message: note });
        continue;
      }
      if (svc.mode === 'replicated-job' || svc.mode === 'global-job') {
        // Every update of a job runs it again: report, never write.
        drift.push({ object: want.name, message: `${diff.message}; the service is a ${svc.mode}, and warden never updates a job (every update runs it again)` });
        continue;
      }
      const ignored = isIgnored(svc.labels, desired.policy.ignoreLabel);
      if (!ignored) drift.push({ object: want.name, message: [diff.message, ...notes].join('; ') });
      actions.push({
        kind: 'update-placement',
        reconciler: 'placement',
        object: want.name,
        serviceId: svc.id,
        placement: diff.placement,
        before: diff.before,
        after: diff.after,
        disruptive: false,
        ignored,
      });
    }
    return { drift, actions } satisfies Plan;
  },
};

interface PlacementDiff {
  /** placement holds only the fields that differ, as the action sends them. */
  placement: DesiredPlacement;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
  message: string;
}

// The fields of `want` that differ from the service, or undefined when none does. The same comparisons
// as the apply path's mutateService, so that "has drift" and "needs a write" agree.
function placementDiff(svc: SwarmService, want: DesiredPlacement): PlacementDiff | undefined {
  const d: PlacementDiff = { placement: {}, before: {}, after: {}, message: '' };
  const parts: string[] = [];
  if (want.constraints !== undefined && !sameConstraints(svc.constraints, want.constraints)) {
    d.placement.constraints = [...want.constraints];
    d.before.constraints = svc.constraints;
    d.after.constraints = want.constraints;
    parts.push(`constraints ${JSON.stringify(svc.constraints)} (wants ${JSON.stringify(want.constraints)})`);
  }
  if (want.preferences !== undefined && JSON.stringify(svc.preferences) !== JSON.stringify(want.preferences)) {
    d.placement.preferences = [...want.preferences];
    d.before.preferences = svc.preferences;
    d.after.preferences = want.preferences;
    parts.push(`preferences ${JSON.stringify(svc.preferences)} (wants ${JSON.stringify(want.preferences)})`);
  }
  if (want.maxReplicasPerNode !== undefined && svc.maxReplicasPerNode !== want.maxReplicasPerNode) {
    d.placement.maxReplicasPerNode = want.maxReplicasPerNode;
    d.before.maxReplicasPerNode = svc.maxReplicasPerNode;
    d.after.maxReplicasPerNode = want.maxReplicasPerNode;
    parts.push(`maxReplicasPerNode ${svc.maxReplicasPerNode} (wants ${want.maxReplicasPerNode})`);
  }
  if (parts.length === 0) return undefined;
  d.message = parts.join(', ');
  return d;
}
