// The rebalance reconciler (contract §2). Swarm never moves a running task: after a node returns, the
// tasks rescheduled away from it stay where they went. For a service with `rebalance` on, warden compares
// its running tasks with the spread swarmkit's scheduler can reach (spread.ts: the nodes that may run it,
// its spread preferences, max replicas per node, host-mode ports) and, where they are worse, asks for one
// forced rolling update (the service's own update_config paces it), which lets the scheduler spread the
// tasks again. It is a disruptive action (window, caps, observe apply), taken only when waiting cannot
// help: every node that may run the service is ready, the service has converged, and no update happened
// within the settle period. And never twice for nothing: after an update that left the tasks as uneven
// with the nodes unchanged since it began, the service is held until a node changes.
import type { SwarmNode, SwarmService, SwarmTask } from '../docker/port.js';
import { perNodeLimit, placementAllows } from './constraints.js';
import { spreadTree, unevenness, type SpreadGroup, type Unevenness } from './spread.js';
import { isIgnored, type Action, type Drift, type Plan, type PlanContext, type Reconciler } from './types.js';

/** REBALANCE_SETTLE_MS is how long after a forced update of a service warden waits before another (default 5 min). */
export const REBALANCE_SETTLE_MS = 5 * 60_000;

// Update states in which the engine is still working (or stopped and waiting for a person).
const UNSETTLED_UPDATES = new Set(['updating', 'paused', 'rollback_started', 'rollback_paused']);

/** rebalance forces one rolling update of a replicated service whose running tasks are spread unevenly. */
export const rebalance: Reconciler<'rebalance'> = {
  id: 'rebalance',
  actions: ['force-restart'],
  // A service still converging (running ≠ desired) is left alone: read from the task counts.
  counts: (desired) => (desired.policy.rebalance || (desired.services ?? []).some((s) => s.rebalance === true) ? 'fresh' : false),
  tasks(desired, services) {
    // The running tasks of the whole cluster in one call, only when some existing service wants it.
    const names = new Set(services.map((s) => s.name));
    const running = (desired.services ?? []).some((s) => (s.rebalance ?? desired.policy.rebalance) && names.has(s.name));
    return { running };
  },
  plan(desired, observed, ctx) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    const byName = new Map(observed.services.map((s) => [s.name, s]));
    for (const want of desired.services ?? []) {
      if (!(want.rebalance ?? desired.policy.rebalance)) continue;
      // A missing service is the replicas reconciler's to report.
      const svc = byName.get(want.name);
      if (!svc) continue;
      if (svc.mode !== 'replicated') {
        // Only an explicit `rebalance: true` is worth a word: the policy default covers every service.
        if (want.rebalance === true) drift.push({ object: want.name, message: `service is ${svc.mode}: rebalance applies to replicated services only` });
        continue;
      }
      const judged = judge(svc, observed.nodes, observed.tasks, ctx);
      if (judged.kind === 'even') continue;
      const ignored = isIgnored(svc.labels, desired.policy.ignoreLabel);
      if (judged.kind === 'wait') {
        if (!ignored) drift.push({ object: want.name, message: `${judged.spread}; waiting: ${judged.why}` });
        continue;
      }
      if (judged.kind === 'held') {
        if (!ignored) drift.push({ object: want.name, message: `${judged.spread}; held: ${judged.why}` });
      } else if (!ignored) {
        drift.push({ object: want.name, message: `${judged.spread}: a forced rolling update will spread them again` });
      }
      actions.push({
        kind: 'force-restart',
        reconciler: 'rebalance',
        object: want.name,
        serviceId: svc.id,
        before: { forceUpdate: svc.forceUpdate, tasksPerNode: judged.perNode },
        after: { forceUpdate: svc.forceUpdate + 1 },
        disruptive: true,
        ignored,
        ...(judged.kind === 'held' ? { held: judged.why } : {}),
      });
    }
    return { drift, actions } satisfies Plan;
  },
};

/** Judgement is what rebalance thinks of one service's spread. */
type Judgement =
  | { kind: 'even' }
  | { kind: 'wait'; spread: string; why: string }
  | { kind: 'held'; spread: string; why: string; perNode: Record<string, number> }
  | { kind: 'uneven'; spread: string; perNode: Record<string, number> };

// Update states of an update that ran to its end (its tasks scheduled again with the nodes of that moment).
const FINISHED_UPDATES = new Set(['completed', 'rollback_completed']);
// How far a node's clock (task timestamps) may lag the leader's (update timestamps) for rebalance's reading.
const CLOCK_SKEW_MS = 5_000;

// judge compares the service's running tasks with the spread the scheduler can reach and says whether to act.
function judge(svc: SwarmService, nodes: readonly SwarmNode[], tasks: readonly SwarmTask[], ctx: PlanContext): Judgement {
  // The nodes that may run it: its constraints and platforms allow them, and they take new tasks (ready,
  // active). A drained or paused node takes none: it is left out, as the scheduler leaves it out.
  const allowed = nodes.filter((n) => placementAllows(n, svc));
  const eligible = allowed.filter((n) => n.state === 'ready' && n.availability === 'active');
  if (eligible.length < 2) return { kind: 'even' };
  const running = new Map<string, number>();
  for (const t of tasks) {
    if (t.serviceId !== svc.id || t.state !== 'running' || t.desiredState !== 'running') continue;
    running.set(t.nodeId, (running.get(t.nodeId) ?? 0) + 1);
  }
  const tree = spreadTree(eligible, svc.preferences, (id) => running.get(id) ?? 0, perNodeLimit(svc));
  const uneven = unevenness(tree);
  if (!uneven) return { kind: 'even' };

  const perNode = Object.fromEntries(eligible.map((n) => [n.hostname || n.id, running.get(n.id) ?? 0]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  const spread = describe(uneven, perNode);

  // Wait while a node that may run it is down: it would be rebalanced again once the node returns.
  const away = allowed.filter((n) => n.availability === 'active' && n.state !== 'ready');
  if (away.length > 0) return { kind: 'wait', spread, why: `node ${away.map((n) => `${n.hostname || n.id} is ${n.state}`).join(', ')}` };
  const update = svc.updateStatus;
  if (update !== undefined && UNSETTLED_UPDATES.has(update.state)) return { kind: 'wait', spread, why: `the service's update is ${update.state}` };
  if (svc.status && svc.status.runningTasks !== svc.status.desiredTasks) {
    return { kind: 'wait', spread, why: `the service is converging (${svc.status.runningTasks}/${svc.status.desiredTasks} running)` };
  }
  // The engine's own record says whether the scheduler already had its chance: an update finished, every
  // running task began running after that update began (so the scheduler placed each of them: an update
  // of the constraints alone leaves the tasks that still comply where they are), and no node that may
  // run the service (or runs it) changed since. Then the scheduler placed them on the nodes as they are
  // now and left them uneven: something warden does not see keeps it from doing better (reservations,
  // plugins, other services' ports), and another forced update would only restart the tasks again.
  // Held until such a node changes.
  if (update !== undefined && FINISHED_UPDATES.has(update.state)) {
    const began = Date.parse(update.startedAt);
    const involved = nodes.filter((n) => allowed.includes(n) || running.has(n.id));
    const changed = Math.max(-Infinity, ...involved.map((n) => Date.parse(n.updatedAt ?? '')).filter((ms) => Number.isFinite(ms)));
    const mine = tasks.filter((t) => t.serviceId === svc.id && t.state === 'running' && t.desiredState === 'running');
    // A task's timestamp is its node's clock, the update's the leader's: a few seconds of skew are allowed.
    const placedSince = mine.every((t) => Date.parse(t.timestamp) >= began - CLOCK_SKEW_MS);
    if (Number.isFinite(began) && began >= changed && placedSince) {
      return {
        kind: 'held',
        spread,
        perNode,
        why: `the update that began ${update.startedAt} scheduled every task again on the nodes as they are and left them so: ` +
          'the scheduler can do no better (reservations, ports or plugins warden does not see); held until a node that may run it changes',
      };
    }
  }
  // Two memories of the last forced update: warden's own (lost on restart) and the engine's update status.
  const last = Math.max(ctx.lastApplied('force-restart', svc.name)?.at ?? 0, Date.parse(update?.completedAt ?? '') || 0, Date.parse(update?.startedAt ?? '') || 0);
  if (ctx.now - last < REBALANCE_SETTLE_MS) {
    return { kind: 'wait', spread, why: `the last update was ${Math.round((ctx.now - last) / 1000)} s ago; rebalancing waits ${REBALANCE_SETTLE_MS / 60_000} min after one` };
  }
  return { kind: 'uneven', spread, perNode };
}

// describe says where the spread is worse than the scheduler's: per node, or per preference value.
function describe(u: Unevenness, perNode: Record<string, number>): string {
  const where = u.path.length > 0 ? ` within ${u.path.join(', ')}` : '';
  const gap = `(the most loaded holds ${u.gap} more than the least)`;
  if (u.level === 'node' && u.path.length === 0) return `running tasks per node ${Object.entries(perNode).map(([h, c]) => `${h}=${c}`).join(', ')} ${gap}`;
  const label = (g: SpreadGroup): string => (g.name === '' ? '(none)' : g.name);
  return `running tasks per ${u.level}${where} ${u.siblings.map((g) => `${label(g)}=${g.tasks}`).join(', ')} ${gap}`;
}
