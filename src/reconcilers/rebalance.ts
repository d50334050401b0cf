// The rebalance reconciler (contract §2). Swarm never moves a running task: after a node returns, the
// tasks rescheduled away from it stay where they went. For a service with `rebalance` on, warden counts
// its running tasks on each node that may run it and, when the most loaded holds two or more than the
// least loaded, asks for one forced rolling update (the service's own update_config paces it), which
// lets the scheduler spread the tasks again. It is a disruptive action (window, caps, observe apply),
// taken only when waiting cannot help: every node that may run the service is ready and active, the
// service has converged, and no forced update happened within the settle period.
import type { SwarmNode, SwarmService, SwarmTask } from '../docker/port.js';
import { nodeMatches } from './constraints.js';
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
  counts: (desired) => desired.policy.rebalance || (desired.services ?? []).some((s) => s.rebalance === true),
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
      if (!ignored) drift.push({ object: want.name, message: `${judged.spread}: a forced rolling update will spread them again` });
      actions.push({
        kind: 'force-restart',
        reconciler: 'rebalance',
        object: want.name,
        serviceId: svc.id,
        before: { forceUpdate: svc.forceUpdate, tasksPerNode: judged.perNode },
        after: { forceUpdate: svc.forceUpdate + 1 },
        disruptive: true,
        ignored,
      });
    }
    return { drift, actions } satisfies Plan;
  },
};

/** Judgement is what rebalance thinks of one service's spread. */
type Judgement =
  | { kind: 'even' }
  | { kind: 'wait'; spread: string; why: string }
  | { kind: 'uneven'; spread: string; perNode: Record<string, number> };

// judge counts the service's running tasks on the nodes that may run it and says whether to act.
function judge(svc: SwarmService, nodes: readonly SwarmNode[], tasks: readonly SwarmTask[], ctx: PlanContext): Judgement {
  const allowed = nodes.filter((n) => nodeMatches(n, svc.constraints));
  const eligible = allowed.filter((n) => n.state === 'ready' && n.availability === 'active');
  if (eligible.length < 2) return { kind: 'even' };
  const counts = new Map(eligible.map((n) => [n.id, 0]));
  for (const t of tasks) {
    if (t.serviceId !== svc.id || t.state !== 'running' || t.desiredState !== 'running') continue;
    if (counts.has(t.nodeId)) counts.set(t.nodeId, counts.get(t.nodeId)! + 1);
  }
  const values = [...counts.values()];
  const most = Math.max(...values);
  // With maxReplicasPerNode, a node already at the cap cannot take more: it is never the least loaded
  // with room. (A node with room is then at least two below the most loaded, so one move is allowed.)
  const cap = svc.maxReplicasPerNode;
  const roomy = cap > 0 ? values.filter((v) => v < cap) : values;
  if (roomy.length === 0) return { kind: 'even' };
  const least = Math.min(...roomy);
  if (most - least < 2) return { kind: 'even' };

  const byHost = new Map(eligible.map((n) => [n.id, n.hostname || n.id]));
  const perNode = Object.fromEntries([...counts].map(([id, c]) => [byHost.get(id)!, c]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  const spread = `running tasks per node ${Object.entries(perNode).map(([h, c]) => `${h}=${c}`).join(', ')} (the most loaded holds ${most - least} more than the least)`;

  // Wait while a node that may run it is away: it would be rebalanced again once the node returns.
  const away = allowed.filter((n) => n.state !== 'ready' || n.availability !== 'active');
  if (away.length > 0) {
    return { kind: 'wait', spread, why: `node ${away.map((n) => `${n.hostname || n.id} is ${n.state !== 'ready' ? n.state : n.availability}`).join(', ')}` };
  }
  const update = svc.updateStatus?.state;
  if (update !== undefined && UNSETTLED_UPDATES.has(update)) return { kind: 'wait', spread, why: `the service's update is ${update}` };
  if (svc.status && svc.status.runningTasks !== svc.status.desiredTasks) {
    return { kind: 'wait', spread, why: `the service is converging (${svc.status.runningTasks}/${svc.status.desiredTasks} running)` };
  }
  // Two memories of the last forced update: warden's own (lost on restart) and the engine's update status.
  const last = Math.max(ctx.lastApplied('force-restart', svc.name)?.at ?? 0, Date.parse(svc.updateStatus?.completedAt ?? '') || 0, Date.parse(svc.updateStatus?.startedAt ?? '') || 0);
  if (ctx.now - last < REBALANCE_SETTLE_MS) {
    return { kind: 'wait', spread, why: `the last update was ${Math.round((ctx.now - last) / 1000)} s ago; rebalancing waits ${REBALANCE_SETTLE_MS / 60_000} min after one` };
  }
  return { kind: 'uneven', spread, perNode };
}
