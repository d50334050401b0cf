// The replicas reconciler: the replica count of replicated services (contract §2). A manual
// `docker service scale` is reverted; global and job services are reported, never changed. It is also the
// one reconciler that reports a service named in `services` but missing from the cluster, whatever keys
// its entry has, so that the drift is counted once (placement and rebalance skip missing services).
//
// And it reports every listed service that runs fewer tasks than it wants while the engine is not
// working on it (tasks.ts: pending for want of a node, or given up on), even where no reconciler may act,
// so that the drift alert fires. A stuck service that `ordering` restarts is ordering's to report (its
// message says what it does about it); a service the engine is still starting is not drift.
import { dependencyGraph, findCycle, orderable, ordersRestarts } from './dependencies.js';
import { behind, counts, describeShortfall, shortfall } from './tasks.js';
import { isIgnored, type Action, type Drift, type Plan, type Reconciler } from './types.js';

/** replicas keeps each replicated service at `services[].replicas`, and reports every listed service that is missing or runs short. */
export const replicas: Reconciler<'replicas'> = {
  id: 'replicas',
  actions: ['scale-service'],
  // Whether a listed service runs what it wants is read from the task counts: with a services list, they
  // are read, but only reported from, so the last list's will do (refreshed at every resync): a pass an
  // event asks for plans on the services cache without listing every service again.
  counts: (desired) => ((desired.services ?? []).length > 0 ? 'recent' : false),
  tasks(desired, services) {
    // The tasks of the listed services that run short only: in a healthy cluster, none.
    const listed = new Set((desired.services ?? []).map((s) => s.name));
    return { services: new Set(services.filter((s) => listed.has(s.name) && runsTasks(s.mode) && behind(s)).map((s) => s.id)) };
  },
  plan(desired, observed) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    const byName = new Map(observed.services.map((s) => [s.name, s]));
    // The stuck services ordering restarts (and reports): its graph's replicated and global services,
    // unless the graph has a cycle (ordering then restarts nothing and reports the cycle once).
    const graph = ordersRestarts(desired) ? dependencyGraph(desired, observed.services) : undefined;
    const ordered = graph && !findCycle(graph) ? graph : new Map<string, unknown>();
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
      // A count being corrected says nothing yet about the tasks: they follow the new count.
      if (notes.length === 0 && runsTasks(svc.mode) && behind(svc)) {
        const why = shortfall(svc, observed.tasks);
        const orderingHasIt = why.kind === 'failed' && ordered.has(want.name) && orderable(svc);
        if (why.kind !== 'starting' && !orderingHasIt) {
          const hint = why.kind === 'failed' ? '; warden restarts only the services of its restart order (a dependsOn, spec.registry)' : '';
          notes.push(`${counts(svc)}, ${describeShortfall(why)}${hint}`);
        }
      }
      if (notes.length > 0 && !ignored) drift.push({ object: want.name, message: notes.join('; ') });
    }
    return { drift, actions } satisfies Plan;
  },
};

// Jobs run to completion: fewer running tasks than wanted is what a finished job looks like.
function runsTasks(mode: string): boolean {
  return mode === 'replicated' || mode === 'global';
}
