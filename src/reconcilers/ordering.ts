// The ordering reconciler (contract §2): after a cold boot or a registry outage, swarm gives up on tasks
// whose image it could not pull (with restart_policy.max_attempts set, for good). A forced update is what
// brings them back, and it only helps once what they need is up. So: find the stuck services, and restart
// them in dependency order, the registry first, each only once all its dependencies are healthy.
//
// Stuck is read from what the engine shows now (tasks.ts): the service runs fewer tasks than it wants, no
// task of it is on its way to running, and a slot's newest task ended failed or rejected. Never from the
// age of that failure: a warden that starts, or takes over, an hour after swarm gave up still sees it.
//
// Waves are not a loop inside the plan: a plan only chooses stuck services whose dependencies are healthy
// in this snapshot, the controller waits for each forced restart to converge (settleAction), and the pass
// that follows sees the next wave's dependencies healthy. Memory of earlier restarts (ctx.lastApplied)
// spaces out retries of a service that stays stuck.
import type { DesiredState } from '../desired-state/types.js';
import type { SwarmService } from '../docker/port.js';
import { dependencyGraph, findCycle, orderable, ordersRestarts } from './dependencies.js';
import { behind, counts, shortfall } from './tasks.js';
import { isIgnored, type Action, type Drift, type Observed, type Plan, type Reconciler } from './types.js';

/** REQUEUE_WAITING_MS is how soon ordering looks again while a service waits on what no event announces (default 2 s). */
export const REQUEUE_WAITING_MS = 2_000;
// A floor on requeues, so that a time just passed never asks for a hot loop.
const REQUEUE_MIN_MS = 500;
/** RETRY_BACKOFF_MS is the wait after a first forced restart before another (default 30 s), doubled for each restart in a row. */
export const RETRY_BACKOFF_MS = 30_000;
/** RETRY_BACKOFF_MAX_MS caps the wait between forced restarts of one service (default 10 min). */
export const RETRY_BACKOFF_MAX_MS = 10 * 60_000;

/** retryBackoff is the wait after `count` forced restarts in a row before the next one. */
export function retryBackoff(count: number): number {
  return Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_MS * 2 ** Math.max(0, count - 1));
}

/** Health says whether a service can be depended on now, and why not. */
type Health = { healthy: true } | { healthy: false; why: string };

function health(name: string, byName: ReadonlyMap<string, SwarmService>, desired: DesiredState, observed: Observed): Health {
  const svc = byName.get(name);
  if (!svc) return { healthy: false, why: `${name} is missing from the cluster` };
  if (!svc.status) return { healthy: false, why: `${name} has no task counts` };
  if (behind(svc)) return { healthy: false, why: `${name} runs ${counts(svc)}` };
  if (desired.registry?.service === name && observed.registry && !observed.registry.ok) {
    return { healthy: false, why: `${name}'s probe ${observed.registry.url} does not answer (${observed.registry.detail})` };
  }
  return { healthy: true };
}

/** ordering force-restarts stuck services in dependency order, the registry first. */
export const ordering: Reconciler<'ordering'> = {
  id: 'ordering',
  actions: ['force-restart'],
  // "Behind" and "healthy" are read from the task counts.
  counts: (desired) => (ordersRestarts(desired) ? 'fresh' : false),
  tasks(desired, services) {
    // Only the services that run fewer tasks than they want: in a healthy cluster, no task is read;
    // and none at all without a registry or a dependsOn, where ordering has nothing to do.
    if (!ordersRestarts(desired)) return {};
    const graph = dependencyGraph(desired, services);
    const ids = services.filter((s) => graph.has(s.name) && orderable(s) && behind(s)).map((s) => s.id);
    return { services: new Set(ids) };
  },
  plan(desired, observed, ctx) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    if (!ordersRestarts(desired)) return { drift, actions } satisfies Plan;
    const graph = dependencyGraph(desired, observed.services);
    const cycle = findCycle(graph);
    if (cycle) {
      drift.push({ object: cycle[0]!, message: `dependency cycle ${cycle.join(' → ')} (through the registry's images): none of these services could ever start first; nothing is restarted` });
      return { drift, actions } satisfies Plan;
    }
    const byName = new Map(observed.services.map((s) => [s.name, s]));
    // When to look again without an event: no event says a task started or failed, that a backoff ran
    // out, or that the registry's probe answers.
    let requeueAfterMs = Infinity;
    const lookAgainIn = (ms: number): void => {
      requeueAfterMs = Math.min(requeueAfterMs, Math.max(REQUEUE_MIN_MS, ms));
    };
    for (const name of [...graph.keys()].sort()) {
      const svc = byName.get(name);
      if (!svc || !orderable(svc) || !behind(svc)) continue;
      const last = ctx.lastApplied('force-restart', name);
      // An ignored service is someone else's: no drift, and an action that is only ever counted as ignored.
      const ignored = isIgnored(svc.labels, desired.policy.ignoreLabel);
      // Stuck or not is what the engine shows now, whatever the age of the failure: a service swarm gave
      // up on an hour ago is as dead as one it gave up on a minute ago. The clock only spaces retries.
      const why = shortfall(svc, observed.tasks);
      if (why.kind === 'starting') {
        // Swarm is still starting it (or restarting it after its restart delay): not stuck.
        lookAgainIn(REQUEUE_WAITING_MS);
        if (last && !ignored) drift.push({ object: name, message: `${counts(svc)}, restarted ${last.count} time(s), converging (${why.detail})` });
        continue;
      }
      // Pending for want of a node, or stopped without a failure: a forced restart would not help.
      // The replicas reconciler reports it.
      if (why.kind !== 'failed') continue;
      const engine = `: ${why.error}`;
      if (last) {
        const retryAt = last.at + retryBackoff(last.count);
        if (ctx.now < retryAt) {
          lookAgainIn(retryAt - ctx.now);
          if (!ignored) drift.push({ object: name, message: `${counts(svc)}, still stuck after ${last.count} forced restart(s)${engine}; next try at ${new Date(retryAt).toISOString()}` });
          continue;
        }
      }
      const waiting = [...(graph.get(name) ?? [])].sort().map((d) => health(d, byName, desired, observed)).filter((h): h is Extract<Health, { healthy: false }> => !h.healthy);
      if (waiting.length > 0) {
        lookAgainIn(REQUEUE_WAITING_MS);
        if (!ignored) drift.push({ object: name, message: `${counts(svc)}, stuck${engine}; waits for its dependencies: ${waiting.map((w) => w.why).join('; ')}` });
        continue;
      }
      if (!ignored) drift.push({ object: name, message: `${counts(svc)}, stuck${engine}` });
      actions.push({
        kind: 'force-restart',
        reconciler: 'ordering',
        object: name,
        serviceId: svc.id,
        before: { forceUpdate: svc.forceUpdate, running: svc.status?.runningTasks, desired: svc.status?.desiredTasks },
        after: { forceUpdate: svc.forceUpdate + 1 },
        // A service with no running task has nothing to disrupt: it is restarted outside the window too.
        disruptive: (svc.status?.runningTasks ?? 0) > 0,
        ignored,
      });
    }
    return { drift, actions, ...(Number.isFinite(requeueAfterMs) ? { requeueAfterMs } : {}) } satisfies Plan;
  },
};
