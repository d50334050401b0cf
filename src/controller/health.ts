// Health: whether a service warden keeps works, apart from whether a pass would change it (sync). Computed
// in one place from what a pass already reads (the service with its UpdateStatus, and its tasks), with the
// reason in the engine's own words: the latest failing task's error or status message, or the update
// status's message. Pure: the clock is given.
//
// The states (contract, "Health (beside sync)"), in the order they are decided:
//   missing      desired, absent from the swarm
//   suspended    held by warden (flapping, observe mode): the reason says why
//   degraded     an update paused or rolled back (by the engine's UpdateStatus), or tasks failing, not
//                placeable or not pulled past the time the rollout may take
//   progressing  a first rollout or an update under way, within the time its update_config gives it
//   healthy      running = desired and its last update completed
import { LABEL_NAMESPACE } from '../desired-state/compose/types.js';
import type { DesiredState } from '../desired-state/types.js';
import type { SwarmService, SwarmTask } from '../docker/port.js';
import type { CountsNeed, Observed } from '../reconcilers/types.js';
import type { RolloutView } from './rollouts.js';

/** Health is a service's health (contract: healthy, progressing, degraded, missing, suspended). */
export type Health = 'healthy' | 'progressing' | 'degraded' | 'missing' | 'suspended';

/** HEALTHS lists every health, for metrics created at zero. */
export const HEALTHS: readonly Health[] = ['healthy', 'progressing', 'degraded', 'missing', 'suspended'];

/** ServiceHealth is one service's health with its reason and task counts. */
export interface ServiceHealth {
  health: Health;
  /** reason is the engine's own words ('' when healthy). */
  reason: string;
  running: number;
  desired: number;
}

/** KeptServiceHealth is the health of one service warden keeps, as a pass found it. */
export interface KeptServiceHealth extends ServiceHealth {
  /** stack is the stack the service belongs to ('' for none): its entry's, else its namespace label's. */
  stack: string;
  service: string;
  /** updated is when the service's last update ended (or began, while it runs), else when it last changed; absent when missing. */
  updated?: string;
  /** update is the engine's UpdateStatus of the service as the pass read it (absent: never updated, or missing); ./rollouts.ts follows it. */
  update?: NonNullable<SwarmService['updateStatus']>;
  /** rollout is the last rollout warden started on it, as ./rollouts.ts followed it (absent: none since warden started). */
  rollout?: RolloutView;
}

/**
 * healthCounts is how fresh the services' task counts must be for health: `recent` whenever warden keeps
 * services (health only reports from them, so the last list's will do), false otherwise.
 */
export function healthCounts(desired: DesiredState): CountsNeed {
  return (desired.services ?? []).length > 0 ? 'recent' : false;
}

/**
 * healthNeed is which kept services' tasks a pass reads for their health: those whose counts do not show
 * them settled (no counts, fewer running than wanted, an update rolling), and those created or updated
 * within their rollout's time (`now`: counts taken as a crash-looping task starts would call them
 * settled). In a cluster at rest, none: its health is read off the services list the pass makes anyway.
 */
export function healthNeed(desired: DesiredState, services: readonly SwarmService[], now: number): Set<string> {
  const kept = new Set((desired.services ?? []).map((s) => s.name));
  return new Set(services.filter((s) => kept.has(s.name) && (!settled(s) || rolledOutWithin(s, now))).map((s) => s.id));
}

// Whether the service was created or last updated within the time its rollout is given.
function rolledOutWithin(s: SwarmService, now: number): boolean {
  const last = Math.max(Date.parse(s.updatedAt) || 0, Date.parse(s.updateStatus?.completedAt ?? '') || 0);
  return now - last <= rolloutWindowMs(s, s.replicas ?? s.status?.desiredTasks ?? 1);
}

// Settled by its counts: running all they want, no update rolling, and (a replicated service) counts that
// want what its spec wants now: a cached service scaled since its last list has counts older than its spec.
function settled(s: SwarmService): boolean {
  if (!s.status) return false;
  if (s.updateStatus !== undefined && ROLLING.has(s.updateStatus.state)) return false;
  if (s.mode === 'replicated' && s.status.desiredTasks !== s.replicas) return false;
  return s.status.runningTasks >= s.status.desiredTasks;
}

/**
 * passHealth is the health of every service warden keeps (spec.services and the stacks' services), from
 * the pass's snapshot; `held` says why warden holds a service (undefined when it does not).
 */
export function passHealth(desired: DesiredState, observed: Observed, held: (service: string) => string | undefined): KeptServiceHealth[] {
  const byName = new Map(observed.services.map((s) => [s.name, s]));
  // The tasks were read for these (observe asked a moment before `at`: a service that left the set since
  // is judged by its counts, as it was settled by them).
  const read = healthNeed(desired, observed.services, observed.at);
  return (desired.services ?? []).map((want) => {
    const svc = byName.get(want.name);
    const h = serviceHealth({ service: svc, tasks: svc && read.has(svc.id) ? observed.tasks : undefined, now: observed.at, suspended: svc ? held(want.name) : undefined });
    const stack = want.origin.startsWith('stack:') ? want.origin.slice('stack:'.length) : svc?.labels[LABEL_NAMESPACE] ?? '';
    const updated = svc ? svc.updateStatus?.completedAt || svc.updateStatus?.startedAt || svc.updatedAt : undefined;
    return { stack, service: want.name, ...h, ...(updated ? { updated } : {}), ...(svc?.updateStatus ? { update: svc.updateStatus } : {}) };
  });
}

/** HealthInput is what health is computed from. */
export interface HealthInput {
  /** service is the live service; undefined when the desired one is absent. */
  service: SwarmService | undefined;
  /**
   * tasks are the service's tasks, any state; undefined when the pass did not read them because the
   * service's task counts showed it settled (healthNeed): its counts then say how many run.
   */
  tasks: readonly SwarmTask[] | undefined;
  /** now is the clock, in ms since the epoch. */
  now: number;
  /** suspended is why warden holds the service (flapping, observe mode); undefined when it does not. */
  suspended?: string | undefined;
  /** nodes is the number of nodes a global service could run on (default: its counts, else the tasks it has). */
  nodes?: number | undefined;
}

/** STARTUP_GRACE_MS is the time any rollout gets beyond its update_config, for pulls and starts: 60 s. */
export const STARTUP_GRACE_MS = 60_000;

// UpdateConfig's defaults as swarmkit applies them (api/defaults): parallelism 1, delay 0, monitor 5 s.
const DEFAULT_MONITOR_NS = 5_000_000_000;
// RestartPolicy's default delay (swarmkit api/defaults): 5 s.
const DEFAULT_RESTART_DELAY_NS = 5_000_000_000;

// Update states in which the engine is itself replacing tasks.
const ROLLING = new Set(['updating', 'rollback_started']);

/** serviceHealth computes one service's health. */
export function serviceHealth(input: HealthInput): ServiceHealth {
  const { service, now } = input;
  if (!service) return { health: 'missing', reason: 'not in the swarm', running: 0, desired: 0 };
  const tasks = input.tasks ?? [];
  const running = input.tasks
    ? input.tasks.filter((t) => t.serviceId === service.id && t.desiredState === 'running' && t.state === 'running').length
    : service.status?.runningTasks ?? 0;
  const desired = desiredTasks(service, input.tasks, input.nodes);
  const counts = { running, desired };
  if (input.suspended !== undefined) return { health: 'suspended', reason: input.suspended, ...counts };
  const update = service.updateStatus;
  if (update?.state === 'paused' || update?.state === 'rollback_paused') {
    return { health: 'degraded', reason: `update paused: ${update.message || update.state}`, ...counts };
  }
  // Rolled back: degraded for one rollout time after it, as the news of a failed push. Not for ever: the
  // state stays until the next update, and an operator who reverts the file to the running spec starts
  // none, though the service then works and matches git. Should the file still want the change, warden
  // applies it again and its flapping hold makes the service suspended, with the reason.
  if (update?.state === 'rollback_completed' && !(now - Date.parse(update.completedAt) > rolloutWindowMs(service, desired))) {
    return { health: 'degraded', reason: `rolled back: ${update.message || 'the update failed'}`, ...counts };
  }
  const rolling = update !== undefined && ROLLING.has(update.state);
  const mine = tasks.filter((t) => t.serviceId === service.id);
  if (running >= desired && !rolling) {
    // All run, but one failed a moment ago: a crash loop caught as its next task starts (a task that exits
    // at once is `running` for an instant), or a restart that has yet to hold. Not healthy until it holds.
    const restarted = failedSince(mine, now - restartHoldMs(service));
    return restarted ? { health: 'progressing', reason: `restarted: ${restarted}`, ...counts } : { health: 'healthy', reason: '', ...counts };
  }
  const windowMs = rolloutWindowMs(service, desired);
  const since = Date.parse(rolling ? update.startedAt : service.updatedAt);
  const short = `${running}/${desired} running`;
  // Within the time its update_config gives a rollout (a first one counts from the service's creation).
  if (Number.isNaN(since) || now - since <= windowMs) {
    return { health: 'progressing', reason: rolling ? `update ${update.state}` : latestProblem(mine) || short, ...counts };
  }
  // Past it: a task that failed within one such time, or that no node can take, says it does not work.
  // Only tasks on their way (a node was lost and swarm moves its tasks) is the engine still at work.
  const failure = recentFailure(mine, now - windowMs);
  if (failure) return { health: 'degraded', reason: failure, ...counts };
  if (mine.some((t) => onTheWay(t) && at(t) >= now - windowMs)) return { health: 'progressing', reason: latestProblem(mine) || short, ...counts };
  return { health: 'degraded', reason: latestProblem(mine) || short, ...counts };
}

/**
 * restartHoldMs is how long a task must have run since the service's last task failure to count as
 * holding: its restart policy's delay (swarmkit's default 5 s) and its update_config's monitor (5 s),
 * plus 5 s for the next task to start. Longer than one turn of a crash loop.
 */
export function restartHoldMs(service: SwarmService): number {
  const delayNs = service.spec.TaskTemplate?.RestartPolicy?.Delay ?? DEFAULT_RESTART_DELAY_NS;
  const monitorNs = (service.spec.UpdateConfig as { Monitor?: number } | undefined)?.Monitor ?? DEFAULT_MONITOR_NS;
  return (delayNs + monitorNs) / 1e6 + 5_000;
}

/**
 * rolloutWindowMs is how long a rollout of this service may take before it counts as degraded: its
 * update_config's batches (ceil(desired / parallelism)), each its delay and monitor, plus STARTUP_GRACE_MS.
 */
export function rolloutWindowMs(service: SwarmService, desired: number): number {
  const given = service.spec.UpdateConfig as { Parallelism?: number; Delay?: number; Monitor?: number } | undefined;
  const cfg = given ?? {};
  // Without an UpdateConfig swarmkit's default is one at a time; in one, Parallelism 0 (omitted) is all at once.
  const parallelism = given === undefined ? 1 : cfg.Parallelism && cfg.Parallelism > 0 ? cfg.Parallelism : desired || 1;
  const batches = Math.max(1, Math.ceil(Math.max(desired, 1) / parallelism));
  const perBatchNs = (cfg.Delay ?? 0) + (cfg.Monitor ?? DEFAULT_MONITOR_NS);
  return batches * (perBatchNs / 1e6) + STARTUP_GRACE_MS;
}

// The desired task count: a replicated service's replicas; a global one's nodes (given, else its counts,
// else the nodes its tasks are meant to run on); a job's, from its counts.
function desiredTasks(service: SwarmService, tasks: readonly SwarmTask[] | undefined, nodes: number | undefined): number {
  switch (service.mode) {
    case 'replicated':
      return service.replicas ?? 0;
    case 'global':
      return nodes ?? service.status?.desiredTasks ?? new Set((tasks ?? []).filter((t) => t.serviceId === service.id && t.desiredState === 'running').map((t) => t.nodeId)).size;
    case 'replicated-job':
    case 'global-job':
      return service.status?.desiredTasks ?? 0;
  }
}

// A task the engine is still bringing up: it wants to run, has not got there, and no error holds it.
function onTheWay(t: SwarmTask): boolean {
  return t.desiredState === 'running' && t.state !== 'running' && t.err === '';
}

// The engine's timestamp of the task's last state change; a task without one sorts first.
function at(t: SwarmTask): number {
  const ms = Date.parse(t.timestamp);
  return Number.isFinite(ms) ? ms : -Infinity;
}

// The words of the newest task that failed or was rejected since `since`, or that waits in pending with
// the scheduler's error (no node can take it: that does not pass with time); '' when there is none.
function recentFailure(tasks: readonly SwarmTask[], since: number): string {
  const failed = tasks
    .filter((t) => ((t.state === 'failed' || t.state === 'rejected') && at(t) >= since) || (t.desiredState === 'running' && t.state === 'pending' && t.err !== ''))
    .sort((a, b) => at(b) - at(a));
  const t = failed[0];
  return t ? t.err || t.message || t.state : '';
}

// The words of the newest task that failed or was rejected since `since`; '' when none did.
function failedSince(tasks: readonly SwarmTask[], since: number): string {
  const t = tasks.filter((x) => (x.state === 'failed' || x.state === 'rejected') && at(x) >= since).sort((a, b) => at(b) - at(a))[0];
  return t ? t.err || t.message || t.state : '';
}

// The latest troubled task's words: its error, else its status message, for a task that failed, was
// rejected, or is stuck before running (pending with "no suitable node", preparing a pull).
function latestProblem(tasks: readonly SwarmTask[]): string {
  const troubled = tasks
    .filter((t) => t.err !== '' || t.state === 'failed' || t.state === 'rejected' || (t.desiredState === 'running' && t.state !== 'running'))
    .sort((a, b) => at(b) - at(a));
  const t = troubled[0];
  if (!t) return '';
  return t.err || t.message || t.state;
}
