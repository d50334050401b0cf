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
import type { SwarmService, SwarmTask } from '../docker/port.js';

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

/** HealthInput is what health is computed from. */
export interface HealthInput {
  /** service is the live service; undefined when the desired one is absent. */
  service: SwarmService | undefined;
  /** tasks are the service's tasks, any state. */
  tasks: readonly SwarmTask[];
  /** now is the clock, in ms since the epoch. */
  now: number;
  /** suspended is why warden holds the service (flapping, observe mode); undefined when it does not. */
  suspended?: string | undefined;
  /** nodes is the number of nodes a global service could run on (default: the tasks it has). */
  nodes?: number | undefined;
}

/** STARTUP_GRACE_MS is the time any rollout gets beyond its update_config, for pulls and starts: 60 s. */
export const STARTUP_GRACE_MS = 60_000;

// UpdateConfig's defaults as swarmkit applies them (api/defaults): parallelism 1, delay 0, monitor 5 s.
const DEFAULT_MONITOR_NS = 5_000_000_000;

/** serviceHealth computes one service's health. */
export function serviceHealth(input: HealthInput): ServiceHealth {
  const { service, tasks, now } = input;
  if (!service) return { health: 'missing', reason: 'not in the swarm', running: 0, desired: 0 };
  const running = tasks.filter((t) => t.desiredState === 'running' && t.state === 'running').length;
  const desired = desiredTasks(service, tasks, input.nodes);
  const counts = { running, desired };
  if (input.suspended !== undefined) return { health: 'suspended', reason: input.suspended, ...counts };
  const update = service.updateStatus;
  if (update?.state === 'paused' || update?.state === 'rollback_paused') {
    return { health: 'degraded', reason: `update paused: ${update.message || update.state}`, ...counts };
  }
  if (update?.state === 'rollback_completed') {
    return { health: 'degraded', reason: `rolled back: ${update.message || 'the update failed'}`, ...counts };
  }
  const rolling = update?.state === 'updating' || update?.state === 'rollback_started';
  if (running >= desired && !rolling) return { health: 'healthy', reason: '', ...counts };
  const failing = latestProblem(tasks);
  const since = Date.parse(rolling ? update!.startedAt : service.updatedAt);
  const withinWindow = Number.isNaN(since) || now - since <= rolloutWindowMs(service, desired);
  if (withinWindow) return { health: 'progressing', reason: rolling ? `update ${update!.state}` : failing || `${running}/${desired} running`, ...counts };
  return { health: 'degraded', reason: failing || `${running}/${desired} running`, ...counts };
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

// The desired task count: a replicated service's replicas; a global one's nodes (given, or the tasks meant
// to run); a job's completions.
function desiredTasks(service: SwarmService, tasks: readonly SwarmTask[], nodes: number | undefined): number {
  switch (service.mode) {
    case 'replicated':
      return service.replicas ?? 0;
    case 'global':
      return nodes ?? new Set(tasks.filter((t) => t.desiredState === 'running').map((t) => t.nodeId)).size;
    case 'replicated-job':
    case 'global-job':
      return service.status?.desiredTasks ?? 0;
  }
}

// The latest failing task's words: its error, else its status message, for a task that failed, was
// rejected, or is stuck before running (pending with "no suitable node", preparing a pull).
function latestProblem(tasks: readonly SwarmTask[]): string {
  const troubled = tasks
    .filter((t) => t.err !== '' || t.state === 'failed' || t.state === 'rejected' || (t.desiredState === 'running' && t.state !== 'running'))
    .sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp));
  const t = troubled[0];
  if (!t) return '';
  return t.err || t.message || t.state;
}
