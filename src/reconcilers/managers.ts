// The managers reconciler (contract §2, `spec.managers`): keeps the number of Raft managers, promoting
// eligible workers and demoting extras, and replaces a manager unreachable for too long (a replacement is
// promoted first, then the dead one demoted). It is the most careful reconciler, because a wrong role
// change can cost the swarm its quorum:
// - one role change at a time: while the engine is still carrying one out (a node whose Spec.Role and Raft
//   membership disagree), nothing else is asked (a promotion holds the others back for
//   PROMOTION_DEADLINE_MS at most);
// - every demotion is checked first against Raft's own rule (swarmkit's CanRemoveMember: the reachable
//   members left must be a majority of the members left), and against fault tolerance: it never leaves
//   fewer failures tolerated than the swarm had, or than the desired count gives;
// - never the leader; never while quorum is lost (then only a person can act).
import type { DesiredManagers } from '../desired-state/types.js';
import { promotionMayCrashLoop } from '../docker/engine-versions.js';
import type { SwarmNode } from '../docker/port.js';
import { describeSelector, matchesSelector } from './selector.js';
import { isIgnored, type Drift, type Plan, type PlanContext, type Reconciler } from './types.js';

/** PROMOTION_DEADLINE_MS is how long a promotion may hold other role changes back, from when it began (default 3 min). */
export const PROMOTION_DEADLINE_MS = 3 * 60_000;

/** quorumOf is the majority of `members` Raft members. */
export function quorumOf(members: number): number {
  return Math.floor(members / 2) + 1;
}

/** faultToleranceOf is how many of `members` may fail while `reachable` of them answer. */
export function faultToleranceOf(members: number, reachable: number): number {
  return Math.max(0, reachable - quorumOf(members));
}

/** managers keeps `spec.managers.count` reachable managers. */
export const managers: Reconciler<'managers'> = {
  id: 'managers',
  actions: ['promote-node', 'demote-node'],
  plan(desired, observed, ctx) {
    const want = desired.managers;
    if (!want) return { drift: [], actions: [] };
    return planManagers(want, observed.nodes, desired.policy.ignoreLabel, ctx);
  },
};

// planManagers is the plan: nothing while quorum is lost or a role change blocks the others, then one
// promotion or one demotion at most.
function planManagers(want: DesiredManagers, nodes: readonly SwarmNode[], ignoreLabel: string, ctx: PlanContext): Plan {
  const members = nodes.filter((n) => n.manager);
  const reachable = members.filter((n) => n.manager?.reachability === 'reachable');
  const M = members.length;
  const R = reachable.length;

  if (M > 0 && R < quorumOf(M)) return quorumLost(M, R);

  // Role changes the engine has not finished: the spec says one role, the Raft membership the other.
  // While one is under way, no other is asked; a promotion past its deadline no longer holds the others.
  const pending = nodes.filter((n) => (n.role === 'manager') !== (n.manager !== undefined)).map((n) => pendingRoleChange(n, ignoreLabel, ctx));
  if (pending.some((p) => p.blocks)) {
    const requeue = Math.min(...pending.map((p) => p.requeueAfterMs ?? Infinity));
    return { drift: pending.map((p) => p.drift), actions: [], ...(Number.isFinite(requeue) ? { requeueAfterMs: requeue } : {}) };
  }
  const drift: Drift[] = pending.map((p) => p.drift);

  const unreachable = unreachableManagers(want, members, ctx);
  drift.push(...unreachable.drift);
  const counted = M - unreachable.dead.length;

  if (counted < want.count) return planPromotion(want, nodes, reachable, ignoreLabel, counted, drift);
  if (M > want.count) return planDemotion(want, members, unreachable.dead, ignoreLabel, ctx, drift);
  return { drift, actions: [] };
}

// quorumLost is the plan while quorum is lost: no role change, and what a person must do.
function quorumLost(M: number, R: number): Plan {
  return {
    drift: [{ object: 'swarm', message: `quorum lost: ${R} of ${M} managers reachable, ${quorumOf(M)} needed` }],
    actions: [],
    blocked: {
      reason: 'quorum',
      message:
        `quorum lost (${R} of ${M} managers reachable): warden changes no role. If the managers cannot come back, ` +
        'run `docker swarm init --force-new-cluster` on a surviving manager; warden then grows the managers back.',
    },
  };
}

// unreachableManagers is which managers are dead (to be replaced), and a drift line for every unreachable one.
function unreachableManagers(want: DesiredManagers, members: readonly SwarmNode[], ctx: PlanContext): { dead: SwarmNode[]; drift: Drift[] } {
  const unreachableFor = (n: SwarmNode): number | undefined => {
    const since = ctx.unreachableSince.get(n.id);
    return since === undefined ? undefined : ctx.now - since;
  };
  const after = want.replaceUnreachableAfterMs;
  // Dead: unreachable for longer than replaceUnreachableAfter. Such a manager no longer counts towards
  // `count`, so that a replacement is promoted; until then it still counts (it may be rebooting).
  const dead = members.filter((n) => n.manager?.reachability !== 'reachable' && after !== null && (unreachableFor(n) ?? -1) >= after);
  const drift: Drift[] = [];
  for (const n of members) {
    if (n.manager?.reachability === 'reachable') continue;
    const ms = unreachableFor(n);
    const since = ms === undefined ? 'unreachable' : `unreachable for ${formatMs(ms)}`;
    const plan = after === null ? 'replaceUnreachableAfter is never' : dead.includes(n) ? 'to be replaced' : `replaced after ${formatMs(after)}`;
    drift.push({ object: n.hostname, message: `manager ${since} (${plan})` });
  }
  return { dead, drift };
}

// planPromotion is the plan when fewer than `count` managers count: one worker promoted, if one may be.
function planPromotion(
  want: DesiredManagers,
  nodes: readonly SwarmNode[],
  reachable: readonly SwarmNode[],
  ignoreLabel: string,
  counted: number,
  drift: Drift[],
): Plan {
  const M = nodes.filter((n) => n.manager).length;
  const R = reachable.length;
  const candidate = promotionCandidate(want, nodes, reachable, ignoreLabel);
  if (!candidate) {
    const eligible = want.eligible ? ` matching (${describeSelector(want.eligible)})` : '';
    drift.push({ object: 'swarm', message: `${counted} of ${want.count} managers, and no ready, active worker${eligible} to promote` });
    return { drift, actions: [] };
  }
  // Adding a member raises the majority: it must still hold once the new member counts.
  if (R + 1 < quorumOf(M + 1)) return { drift, actions: [] };
  drift.push({ object: candidate.hostname, message: `worker to promote: ${counted} of ${want.count} managers` });
  return {
    drift,
    actions: [{
      kind: 'promote-node', reconciler: 'managers', object: candidate.hostname, nodeId: candidate.id,
      before: { role: 'worker' }, after: { role: 'manager' }, disruptive: false, ignored: false,
    }],
  };
}

// planDemotion is the plan when more than `count` managers are members: one demoted, if one safely may be.
function planDemotion(
  want: DesiredManagers,
  members: readonly SwarmNode[],
  dead: readonly SwarmNode[],
  ignoreLabel: string,
  ctx: PlanContext,
  drift: Drift[],
): Plan {
  const M = members.length;
  const demotion = demotionCandidate(want, members, dead, ignoreLabel, ctx);
  if (demotion.node) {
    const n = demotion.node;
    const unreachable = n.manager?.reachability !== 'reachable';
    drift.push({ object: n.hostname, message: `manager to demote: ${M} managers (wants ${want.count})${unreachable ? ', unreachable' : ''}` });
    return {
      drift,
      actions: [{
        kind: 'demote-node', reconciler: 'managers', object: n.hostname, nodeId: n.id,
        before: { role: 'manager', reachability: n.manager?.reachability }, after: { role: 'worker' },
        // Demoting an unreachable member disturbs nothing that runs and restores fault tolerance: it
        // does not wait for the disruptive window. Demoting a live manager does.
        disruptive: !unreachable,
        ignored: false,
      }],
    };
  }
  drift.push({ object: 'swarm', message: `${M} managers (wants ${want.count}): ${demotion.why}` });
  return { drift, actions: [] };
}

/** PendingRoleChange is what warden makes of one role change the engine has not finished. */
interface PendingRoleChange {
  drift: Drift;
  /** blocks is true while no other role change may be asked. */
  blocks: boolean;
  requeueAfterMs?: number;
}

// A role change under way blocks every other. A demotion finishes by itself. A promotion is given
// PROMOTION_DEADLINE_MS from when it began, whoever asked for it (warden's own, from when warden applied
// it; anyone else's, from when warden first saw it pending: memory lost on restart makes the wait longer,
// never shorter): a node that is down or not ready meanwhile may be rebooting, and its promotion finishes
// when it is back. Past the deadline it no longer holds the other role changes back, so that a node
// that never returns cannot keep warden from replacing a dead manager. warden cannot set it back: the
// engine refuses to demote a node that is not yet a Raft member ("can't find manager in raft
// memberlist"), so it says what a person must do, which depends on the node's engine (moby/moby#47854).
function pendingRoleChange(pending: SwarmNode, ignoreLabel: string, ctx: PlanContext): PendingRoleChange {
  if (pending.role !== 'manager') {
    return { drift: { object: pending.hostname, message: 'demotion in progress; no other role change until it is done' }, blocks: true };
  }
  const mine = ctx.lastApplied('promote-node', pending.hostname)?.at;
  const began = mine ?? ctx.roleChangeSince.get(pending.id) ?? ctx.now;
  const elapsed = ctx.now - began;
  const state = pending.state === 'ready' ? 'ready, not yet a Raft member' : pending.state;
  // A node with the ignore label is someone else's to sort out: reported, never a reason to wait longer.
  const object = isIgnored(pending.labels, ignoreLabel) ? 'swarm' : pending.hostname;
  const who = object === 'swarm' ? `${pending.hostname} (ignore label): ` : '';
  if (elapsed < PROMOTION_DEADLINE_MS) {
    return {
      drift: {
        object,
        message: `${who}promotion in progress (node ${state}, ${mine !== undefined ? 'asked by warden' : 'seen'} ${formatMs(elapsed)} ago); ` +
          `no other role change until it is done, or for ${formatMs(PROMOTION_DEADLINE_MS - elapsed)} more`,
      },
      blocks: true,
      // No event says that a deadline ran out.
      requeueAfterMs: PROMOTION_DEADLINE_MS - elapsed,
    };
  }
  const since = `${formatMs(elapsed)} after it began`;
  let advice: string;
  if (pending.state === 'ready') {
    advice = `promotion not done (node ${state}, ${since}): restart its engine; the engine will not set its role back before it is a Raft member`;
  } else if (promotionMayCrashLoop(pending.engineVersion)) {
    advice = `promotion not done (node ${state}, ${since}; engine ${pending.engineVersion ?? 'of unknown version'}, before 26.1.4, where a node promoted ` +
      'while the manager it first joined through is gone crash-loops, moby/moby#47854): restart its engine, and if its swarm stays in error, ' +
      'make it leave (`docker swarm leave --force` on it, `docker node rm` here) and join again';
  } else {
    advice = `promotion not done (node ${state}, ${since}): its promotion finishes when it is back; if it will not come back, \`docker node rm --force ${pending.hostname}\``;
  }
  return { drift: { object, message: `${who}${advice}; warden goes on with other role changes meanwhile` }, blocks: false };
}

function promotionCandidate(want: DesiredManagers, nodes: readonly SwarmNode[], reachable: readonly SwarmNode[], ignoreLabel: string): SwarmNode | undefined {
  const candidates = nodes.filter((n) =>
    n.role === 'worker' && !n.manager && n.state === 'ready' && n.availability === 'active' &&
    !isIgnored(n.labels, ignoreLabel) && (!want.eligible || matchesSelector(n, want.eligible)));
  const label = want.spreadLabel;
  const held = new Set(label ? reachable.map((m) => m.labels[label] ?? '') : []);
  // Prefer a failure domain no reachable manager is in yet, then a stable order.
  return candidates.sort((a, b) => {
    if (label) {
      const fresh = Number(held.has(a.labels[label] ?? '')) - Number(held.has(b.labels[label] ?? ''));
      if (fresh !== 0) return fresh;
    }
    return a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id);
  })[0];
}

function demotionCandidate(
  want: DesiredManagers,
  members: readonly SwarmNode[],
  dead: readonly SwarmNode[],
  ignoreLabel: string,
  ctx: PlanContext,
): { node?: SwarmNode; why: string } {
  const M = members.length;
  const R = members.filter((n) => n.manager?.reachability === 'reachable').length;
  const ftBefore = faultToleranceOf(M, R);
  const floor = Math.min(ftBefore, faultToleranceOf(want.count, want.count));
  const label = want.spreadLabel;
  const perDomain = new Map<string, number>();
  if (label) for (const m of members) perDomain.set(m.labels[label] ?? '', (perDomain.get(m.labels[label] ?? '') ?? 0) + 1);
  const rank = (n: SwarmNode): number[] => [
    // Dead ones first, then other unreachable ones, then live ones sharing a failure domain.
    dead.includes(n) ? 0 : n.manager?.reachability !== 'reachable' ? 1 : 2,
    -(ctx.unreachableSince.has(n.id) ? ctx.now - ctx.unreachableSince.get(n.id)! : 0),
    label ? -(perDomain.get(n.labels[label] ?? '') ?? 0) : 0,
  ];
  const candidates = members
    .filter((n) => !n.manager?.leader && !isIgnored(n.labels, ignoreLabel))
    .sort((a, b) => compareRanks(rank(a), rank(b)) || b.hostname.localeCompare(a.hostname));
  let why = 'every manager left is the leader or ignored';
  for (const n of candidates) {
    const reachableLeft = R - (n.manager?.reachability === 'reachable' ? 1 : 0);
    // Raft's rule: the members left that answer must be a majority of the members left.
    if (reachableLeft < quorumOf(M - 1)) {
      why = `demoting ${n.hostname} would lose quorum (${reachableLeft} of ${M - 1} reachable)`;
      continue;
    }
    if (faultToleranceOf(M - 1, reachableLeft) < floor) {
      why = `demoting ${n.hostname} would leave the swarm tolerating ${faultToleranceOf(M - 1, reachableLeft)} failures (it tolerates ${ftBefore})`;
      continue;
    }
    return { node: n, why: '' };
  }
  return { why };
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 60_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.round(ms / 1000)}s`;
}
