// The replicas reconciler: the replica count of replicated services (contract §2). A manual
// `docker service scale` is reverted; global and job services are reported, never changed. It is also the
// one reconciler that reports a service named in `services` but missing from the cluster, whatever keys
// its entry has, so that the drift is counted once (placement and rebalance skip missing services).
//
// Its drift means "a pass would change this" and nothing else: a service at its count whose tasks fail
// (an image no node has, no suitable node, a command that exits) is in sync, and its health says why it
// does not work (../controller/health.ts, beside sync in plan, status and /status).
import { isIgnored, type Action, type Drift, type Plan, type Reconciler } from './types.js';

/** replicas keeps each replicated service at `services[].replicas`, and reports every listed service that is missing. */
export const replicas: Reconciler<'replicas'> = {
  id: 'replicas',
  actions: ['scale-service'],
  plan(desired, observed) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    const byName = new Map(observed.services.map((s) => [s.name, s]));
    for (const want of desired.services ?? []) {
      const svc = byName.get(want.name);
      if (!svc) {
        if (want.deployed) continue; // the stacks reconciler creates it, and reports it missing
        drift.push({ object: want.name, message: 'service is missing from the cluster (warden does not create services)' });
        continue;
      }
      const ignored = isIgnored(svc.labels, desired.policy.ignoreLabel);
      const notes: string[] = [];
      if (want.replicas !== undefined) {
        if (svc.mode !== 'replicated') {
          // Changing a service's mode is refused by the engine (501) and would replace every task.
          drift.push({ object: want.name, message: `service is ${svc.mode}: a replica count does not apply to it (wants ${want.replicas})` });
          continue;
        }
        if (svc.replicas !== want.replicas) {
          notes.push(`replicas ${svc.replicas} (wants ${want.replicas})`);
          actions.push({
            kind: 'scale-service',
            reconciler: 'replicas',
            object: want.name,
            serviceId: svc.id,
            replicas: want.replicas,
            before: { replicas: svc.replicas },
            after: { replicas: want.replicas },
            disruptive: false,
            ignored,
          });
        }
      }
      if (notes.length > 0 && !ignored) drift.push({ object: want.name, message: notes.join('; ') });
    }
    return { drift, actions } satisfies Plan;
  },
};
