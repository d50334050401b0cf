// The ordering reconciler (contract §2): after a cold boot or a registry outage, swarm gives up on tasks
// whose image it could not pull (with restart_policy.max_attempts set, for good). A forced update is what
// brings them back, and it only helps once what they need is up. So: find the stuck services, and restart
// them in dependency order, the registry first, each only once all its dependencies are healthy.
//
// Waves are not a loop inside the plan: a plan only chooses stuck services whose dependencies are healthy
// in this snapshot, the controller waits for each forced restart to converge (settleAction), and the pass
// that follows sees the next wave's dependencies healthy. Memory of earlier restarts (ctx.lastApplied)
// spaces out retries of a service that stays stuck.
import type { DesiredState } from '../desired-state/types.js';
import type { SwarmService, SwarmTask } from '../docker/port.js';
import { isIgnored, type Action, type Drift, type Observed, type Plan, type Reconciler } from './types.js';

/** STUCK_GRACE_MS is how long a service's first recent failure must be old before it counts as stuck (default 15 s): swarm retries by itself after restart_policy.delay (5 s). */
export const STUCK_GRACE_MS = 15_000;
/** REQUEUE_WAITING_MS is how soon ordering looks again while a service waits on what no event announces (default 2 s). */
export const REQUEUE_WAITING_MS = 2_000;
// A floor on requeues, so that a time just passed never asks for a hot loop.
const REQUEUE_MIN_MS = 500;
/** RETRY_BACKOFF_MS is the wait after a first forced restart before another (default 30 s), doubled for each restart in a row. */
export const RETRY_BACKOFF_MS = 30_000;
/** RETRY_BACKOFF_MAX_MS caps the wait between forced restarts of one service (default 10 min). */
export const RETRY_BACKOFF_MAX_MS = 10 * 60_000;

/** DependencyGraph maps each service warden orders to the services it waits for. */
export type DependencyGraph = Map<string, Set<string>>;

/**
 * dependencyGraph builds the graph from `dependsOn` (compose `depends_on` is already folded into it by
 * the loader) and the registry: every service whose image is `<registry.address>/...` depends on
 * `registry.service`. Its nodes are the desired services, the registry, and the registry's dependents.
 */
export function dependencyGraph(desired: DesiredState, services: readonly SwarmService[]): DependencyGraph {
  const graph: DependencyGraph = new Map();
  const node = (name: string): Set<string> => {
    let deps = graph.get(name);
    if (!deps) graph.set(name, (deps = new Set()));
    return deps;
  };
  for (const s of desired.services ?? []) {
    const deps = node(s.name);
    for (const d of s.dependsOn ?? []) deps.add(d);
  }
  const registry = desired.registry;
  if (registry) {
    node(registry.service);
    for (const svc of services) {
      // The registry itself runs from a local image; it never waits for itself.
      if (svc.name !== registry.service && fromRegistry(svc.image, registry.address)) node(svc.name).add(registry.service);
    }
  }
  return graph;
}

/** fromRegistry tells whether an image reference names the registry at `address` (`address/repo[:tag][@digest]`). */
export function fromRegistry(image: string, address: string): boolean {
  return image.toLowerCase().startsWith(`${address.toLowerCase()}/`);
}

/**
 * findCycle returns one cycle of the graph as a path that ends where it starts, or undefined. The loader
 * refuses `dependsOn` cycles; a cycle through the registry (the registry depends on a service whose image
 * it serves) can only be seen with the live services, so the plan reports it.
 */
export function findCycle(graph: DependencyGraph): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  let found: string[] | undefined;
  const visit = (name: string, trail: string[]): void => {
    if (found || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      found = [...trail.slice(trail.indexOf(name)), name];
      return;
    }
    state.set(name, 'visiting');
    for (const dep of graph.get(name) ?? []) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of graph.keys()) visit(name, []);
  return found;
}

/** waves orders the graph into levels: each service comes one wave after the last of its dependencies (the graph must have no cycle). */
export function waves(graph: DependencyGraph): string[][] {
  const level = new Map<string, number>();
  const levelOf = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    level.set(name, 0); // a cycle would recurse forever; callers check findCycle first
    let l = 0;
    for (const dep of graph.get(name) ?? []) if (graph.has(dep)) l = Math.max(l, levelOf(dep) + 1);
    level.set(name, l);
    return l;
  };
  const out: string[][] = [];
  for (const name of [...graph.keys()].sort()) {
    const l = levelOf(name);
    (out[l] ??= []).push(name);
  }
  return out.filter((w) => w !== undefined);
}

/** FAILED_STATES are the task states that say a start went wrong: before the container ran (rejected) or after (failed). */
const FAILED_STATES: ReadonlySet<string> = new Set(['rejected', 'failed']);

/** Failure is what the tasks say about a service that runs fewer tasks than it wants. */
export interface Failure {
  /** since is the oldest of the recent failures (ms since the epoch). */
  since: number;
  /** error is the engine's own error of the newest failed task. */
  error: string;
}

/** RECENT_FAILURE_MS is how far back a failed or rejected task counts as evidence that a service is stuck (default 10 min). */
export const RECENT_FAILURE_MS = 10 * 60_000;

/**
 * recentFailure looks at a service's tasks that failed or were rejected after `cutoff` (ms since the
 * epoch): no such image, pull errors, spent restart attempts. Undefined when there are none. The task
 * timestamps are the engine's; the service's UpdatedAt cannot serve as the cutoff, as swarm's updater
 * moves it when it records its own progress.
 */
export function recentFailure(svc: SwarmService, tasks: readonly SwarmTask[], cutoff: number): Failure | undefined {
  const failed = tasks
    .filter((t) => t.serviceId === svc.id && FAILED_STATES.has(t.state))
    .map((t) => ({ t, at: Date.parse(t.timestamp) }))
    .filter(({ at }) => Number.isFinite(at) && at > cutoff)
    .sort((a, b) => a.at - b.at);
  const oldest = failed[0];
  const newest = failed[failed.length - 1];
  if (!oldest || !newest) return undefined;
  return { since: oldest.at, error: newest.t.err || newest.t.message || newest.t.state };
}

/** retryBackoff is the wait after `count` forced restarts in a row before the next one. */
export function retryBackoff(count: number): number {
  return Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_MS * 2 ** Math.max(0, count - 1));
}

function behind(svc: SwarmService): boolean {
  return svc.status !== undefined && svc.status.runningTasks < svc.status.desiredTasks;
}

function counts(svc: SwarmService): string {
  return svc.status ? `${svc.status.runningTasks}/${svc.status.desiredTasks} running` : 'no task counts';
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

function orderable(svc: SwarmService): boolean {
  // A forced update of a job runs it again: jobs are never restarted by warden.
  return svc.mode === 'replicated' || svc.mode === 'global';
}

// Ordering has work only with a registry or a dependsOn somewhere.
function orders(desired: DesiredState): boolean {
  return desired.registry !== undefined || (desired.services ?? []).some((s) => (s.dependsOn?.length ?? 0) > 0);
}

/** ordering force-restarts stuck services in dependency order, the registry first. */
export const ordering: Reconciler<'ordering'> = {
  id: 'ordering',
  actions: ['force-restart'],
  // "Behind" and "healthy" are read from the task counts.
  counts: orders,
  tasks(desired, services) {
    // Only the services that run fewer tasks than they want: in a healthy cluster, no task is read;
    // and none at all without a registry or a dependsOn, where ordering has nothing to do.
    if (!orders(desired)) return {};
    const graph = dependencyGraph(desired, services);
    const ids = services.filter((s) => graph.has(s.name) && orderable(s) && behind(s)).map((s) => s.id);
    return { services: new Set(ids) };
  },
  plan(desired, observed, ctx) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    if (!orders(desired)) return { drift, actions } satisfies Plan;
    const graph = dependencyGraph(desired, observed.services);
    const cycle = findCycle(graph);
    if (cycle) {
      drift.push({ object: cycle[0]!, message: `dependency cycle ${cycle.join(' → ')} (through the registry's images): none of these services could ever start first; nothing is restarted` });
      return { drift, actions } satisfies Plan;
    }
    const byName = new Map(observed.services.map((s) => [s.name, s]));
    // When to look again without an event: no event says a task started or failed, that a grace period
    // or a backoff ran out, or that the registry's probe answers.
    let requeueAfterMs = Infinity;
    const lookAgainIn = (ms: number): void => {
      requeueAfterMs = Math.min(requeueAfterMs, Math.max(REQUEUE_MIN_MS, ms));
    };
    for (const name of [...graph.keys()].sort()) {
      const svc = byName.get(name);
      if (!svc || !orderable(svc) || !behind(svc)) continue;
      const last = ctx.lastApplied('force-restart', name);
      // Only failures since warden's last forced restart say whether that restart helped.
      const failure = recentFailure(svc, observed.tasks, Math.max(ctx.now - RECENT_FAILURE_MS, last?.at ?? -Infinity));
      if (!failure && !last) {
        lookAgainIn(REQUEUE_WAITING_MS);
        continue; // behind, but nothing failed: swarm is still starting it
      }
      const stuck = failure !== undefined && ctx.now - failure.since >= STUCK_GRACE_MS;
      if (!stuck && !last) {
        lookAgainIn(failure!.since + STUCK_GRACE_MS - ctx.now);
        continue; // failing for less than the grace period: swarm retries by itself
      }
      // An ignored service is someone else's: no drift, and an action that is only ever counted as ignored.
      const ignored = isIgnored(svc.labels, desired.policy.ignoreLabel);
      const engine = failure ? `: ${failure.error}` : '';
      if (last) {
        const retryAt = last.at + retryBackoff(last.count);
        if (!stuck || ctx.now < retryAt) {
          lookAgainIn(stuck ? retryAt - ctx.now : REQUEUE_WAITING_MS);
          const state = stuck ? `still stuck after ${last.count} forced restart(s)${engine}; next try at ${new Date(retryAt).toISOString()}` : `restarted ${last.count} time(s), converging`;
          if (!ignored) drift.push({ object: name, message: `${counts(svc)}, ${state}` });
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
