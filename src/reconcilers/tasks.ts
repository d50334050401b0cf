// What a service's tasks say about why it runs fewer tasks than it wants, read from what the engine shows
// now and never from the clock: a failure an hour old says as much as one a minute old. Shared by
// `replicas` (which reports every listed service that runs short) and `ordering` (which restarts the
// ones swarm gave up on).
import type { SwarmService, SwarmTask, TaskState } from '../docker/port.js';

// Task states in the engine's order: a task only ever moves forward in it.
const STATE_ORDER: readonly TaskState[] = [
  'new', 'allocated', 'pending', 'assigned', 'accepted', 'preparing', 'ready', 'starting',
  'running', 'complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned',
];
const RUNNING = STATE_ORDER.indexOf('running');

/** FAILED_STATES are the task states that say a start went wrong: before the container ran (rejected) or after (failed). */
export const FAILED_STATES: ReadonlySet<TaskState> = new Set(['rejected', 'failed']);

// Update states in which the engine is itself replacing tasks.
const ROLLING_UPDATES = new Set(['updating', 'rollback_started']);

/** behind tells whether a service runs fewer tasks than it wants, by its task counts (false without counts). */
export function behind(svc: SwarmService): boolean {
  return svc.status !== undefined && svc.status.runningTasks < svc.status.desiredTasks;
}

/** counts renders a service's task counts for messages: `1/3 running`. */
export function counts(svc: SwarmService): string {
  return svc.status ? `${svc.status.runningTasks}/${svc.status.desiredTasks} running` : 'no task counts';
}

/**
 * Shortfall is why a service runs fewer tasks than it wants, as its tasks show it now:
 * - `starting`: the engine is working on it: a task on its way to running (new, pending, preparing, ...,
 *   or failed a moment ago with swarm's restart still to come), or an update rolling;
 * - `unschedulable`: its only tasks on their way wait in pending with the scheduler's reason (no node
 *   satisfies its constraints, resources or ports): waiting will not help, a node has to change;
 * - `failed`: nothing is on its way, and some slot's newest task ended failed or rejected: swarm gave up
 *   on it (restart attempts spent, restart condition none or on-failure), and stays so until the service
 *   is updated;
 * - `stopped`: nothing is on its way, and the newest tasks ended otherwise (complete, shutdown).
 */
export type Shortfall =
  | { kind: 'starting'; detail: string }
  | { kind: 'unschedulable'; error: string }
  | { kind: 'failed'; error: string }
  | { kind: 'stopped'; detail: string };

/**
 * shortfall tells why `svc` runs fewer tasks than it wants, from `tasks` (every task of the service the
 * engine still lists, its history included). Without any task of it, it is `starting`: the orchestrator
 * creates a slot's task a moment after the service asks for it.
 */
export function shortfall(svc: SwarmService, tasks: readonly SwarmTask[]): Shortfall {
  const update = svc.updateStatus?.state;
  if (update !== undefined && ROLLING_UPDATES.has(update)) return { kind: 'starting', detail: `its update is ${update}` };
  const mine = tasks.filter((t) => t.serviceId === svc.id);
  // A task that wants to run (desired state up to running) and does not run yet is the engine's work in
  // progress. A pending task with an error is the scheduler saying no node can take it.
  const onTheWay = mine.filter((t) => wantsToRun(t) && t.state !== 'running' && !(t.state === 'pending' && t.err));
  if (onTheWay.length > 0) {
    const states = [...new Set(onTheWay.map((t) => t.state))].sort().join(', ');
    return { kind: 'starting', detail: `${onTheWay.length} task(s) ${states}` };
  }
  const unschedulable = mine.filter((t) => wantsToRun(t) && t.state === 'pending' && t.err);
  if (unschedulable.length > 0) return { kind: 'unschedulable', error: unschedulable[0]!.err };

  // Each slot's newest task (a global service's slots are its nodes). A slot that was scaled away has
  // desired state `remove`: it no longer counts.
  const newest = new Map<string, SwarmTask>();
  for (const t of mine) {
    if (t.desiredState === 'remove') continue;
    const key = svc.mode === 'global' || svc.mode === 'global-job' ? `node ${t.nodeId}` : `slot ${t.slot ?? t.id}`;
    const seen = newest.get(key);
    if (!seen || at(t) > at(seen)) newest.set(key, t);
  }
  const ended = [...newest.values()].filter((t) => t.state !== 'running' && !wantsToRun(t));
  const failed = ended.filter((t) => FAILED_STATES.has(t.state)).sort((a, b) => at(b) - at(a));
  const last = failed[0];
  if (last) return { kind: 'failed', error: last.err || last.message || last.state };
  if (ended.length > 0) {
    const states = [...new Set(ended.map((t) => t.state))].sort().join(', ');
    return { kind: 'stopped', detail: `its newest tasks ended ${states} and none is on its way` };
  }
  return { kind: 'starting', detail: 'no task of it yet' };
}

/** describeShortfall renders a shortfall for drift messages. */
export function describeShortfall(s: Shortfall): string {
  switch (s.kind) {
    case 'starting':
      return `starting: ${s.detail}`;
    case 'unschedulable':
      return `pending: ${s.error}`;
    case 'failed':
      return `swarm gave up on it: ${s.error}`;
    case 'stopped':
      return s.detail;
    default:
      return assertNever(s);
  }
}

function wantsToRun(t: SwarmTask): boolean {
  const i = STATE_ORDER.indexOf(t.desiredState);
  return i >= 0 && i <= RUNNING;
}

// The engine's own timestamp of the task's last state change; a task without one sorts first.
function at(t: SwarmTask): number {
  const ms = Date.parse(t.timestamp);
  return Number.isFinite(ms) ? ms : -Infinity;
}

function assertNever(x: never): never {
  throw new Error(`unhandled shortfall ${JSON.stringify(x)}`);
}
