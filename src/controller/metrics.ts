// Every metric of the contract (§4), in one registry per controller. Every label combination that can be
// known up front is created at zero at start-up, so that a scrape shows the whole set from the first pass.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { NOTIFY_EVENTS } from '../desired-state/schema-notify.js';
import { RECONCILERS, type ReconcilerId } from '../reconcilers/index.js';
import { buildInfo, type BuildInfo } from '../version.js';
import { HEALTHS } from './health.js';
import { WEBHOOK_RESULTS, type WebhookResult } from './webhook.js';

/** SUPPRESS_REASONS are why an action was not applied (contract §4, plus `ignored`, `backoff` and `held`). */
export const SUPPRESS_REASONS = ['observe', 'window', 'cap', 'flapping', 'quorum', 'ignored', 'backoff', 'held'] as const;
/** SuppressReason is one of SUPPRESS_REASONS. */
export type SuppressReason = (typeof SUPPRESS_REASONS)[number];

/** EVENT_LOOP_SAMPLE_MS is how often the process metrics' event-loop lag is sampled (default 100 ms). */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** ROLLOUT_RESULTS are how a rollout warden started can end (warden_rollouts_total's result). */
export const ROLLOUT_RESULTS = ['completed', 'rolled_back', 'paused'] as const;

/** Metrics are the controller's instruments, registered on `registry`. */
export class Metrics {
  readonly registry: Registry;
  readonly driftObjects: Gauge<'reconciler'>;
  readonly objectDrift: Gauge<'reconciler' | 'object'>;
  readonly corrections: Counter<'reconciler' | 'action'>;
  readonly suppressed: Counter<'reconciler' | 'reason'>;
  readonly reconciles: Counter<'reconciler' | 'result'>;
  readonly reconcileDuration: Histogram<'reconciler'>;
  readonly leader: Gauge;
  readonly desiredStateInfo: Gauge<'cluster' | 'source' | 'revision'>;
  readonly desiredStateValid: Gauge;
  readonly desiredStateFailed: Gauge<'source' | 'revision'>;
  readonly lastSync: Gauge;
  readonly swarmManagers: Gauge<'status'>;
  readonly faultTolerance: Gauge;
  /** webhookRequests counts `POST /hooks/git` requests by result (all 0 while the webhook is off). */
  readonly webhookRequests: Counter<'result'>;
  /** serviceHealth is 1 for each kept service's health, 0 for its other healths (warden_service_health). */
  readonly serviceHealth: Gauge<'stack' | 'service' | 'health'>;
  /** buildInfo is 1, labelled with warden's version and revision (the Node version is nodejs_version_info's). */
  readonly buildInfo: Gauge<'version' | 'revision'>;
  /** stackObjects counts the objects of each deployed stack by kind and state (warden_stack_objects). */
  readonly stackObjects: Gauge<'stack' | 'kind' | 'state'>;
  /** notifications counts POSTs to spec.notify's webhooks by event and result (sent, failed; a message dropped from a full queue is failed). */
  readonly notifications: Counter<'event' | 'result'>;
  /** rollouts counts the updates warden made to a service, by how they ended (completed, rolled_back, paused: warden_rollouts_total). */
  readonly rollouts: Counter<'stack' | 'service' | 'result'>;

  /**
   * constructor registers everything; processMetrics (default true) adds the client's process metrics,
   * build (default this process's buildInfo()) labels warden_build_info.
   */
  constructor(opts: { registry?: Registry; processMetrics?: boolean; build?: BuildInfo } = {}) {
    const registers = [(this.registry = opts.registry ?? new Registry())];
    // The event-loop lag histogram samples every EVENT_LOOP_SAMPLE_MS, not every 10 ms as by default: a
    // controller that waits for events most of the time should not wake 100 times a second to say so.
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.driftObjects = new Gauge({ name: 'warden_drift_objects', help: 'Objects whose observed state differs from the desired state, by reconciler.', labelNames: ['reconciler'], registers });
    this.objectDrift = new Gauge({ name: 'warden_object_drift', help: '1 while an object (service, node or path) has drift.', labelNames: ['reconciler', 'object'], registers });
    this.corrections = new Counter({ name: 'warden_corrections_total', help: 'Corrections applied to the cluster.', labelNames: ['reconciler', 'action'], registers });
    this.suppressed = new Counter({ name: 'warden_actions_suppressed_total', help: 'Actions planned but not applied, by reason.', labelNames: ['reconciler', 'reason'], registers });
    this.reconciles = new Counter({ name: 'warden_reconcile_total', help: 'Reconciler runs, by result.', labelNames: ['reconciler', 'result'], registers });
    this.reconcileDuration = new Histogram({
      name: 'warden_reconcile_duration_seconds',
      help: 'Time a reconciler took in a pass: planning and applying its actions.',
      labelNames: ['reconciler'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.leader = new Gauge({ name: 'warden_leader', help: '1 when this instance runs on the Raft leader and acts.', registers });
    this.desiredStateInfo = new Gauge({ name: 'warden_desired_state_info', help: 'The desired state in force.', labelNames: ['cluster', 'source', 'revision'], registers });
    this.desiredStateFailed = new Gauge({ name: 'warden_desired_state_failed_info', help: 'The newest desired state that failed to load (absent while the newest loaded); the one in force is warden_desired_state_info.', labelNames: ['source', 'revision'], registers });
    this.desiredStateValid = new Gauge({ name: 'warden_desired_state_valid', help: '1 when the last load of the desired state succeeded.', registers });
    this.lastSync = new Gauge({ name: 'warden_last_sync_timestamp_seconds', help: 'When the last pass completed, in seconds since the epoch.', registers });
    this.swarmManagers = new Gauge({ name: 'warden_swarm_managers', help: 'Swarm managers by Raft reachability.', labelNames: ['status'], registers });
    this.faultTolerance = new Gauge({ name: 'warden_swarm_manager_fault_tolerance', help: 'How many managers may fail without losing quorum.', registers });

    for (const { id: reconciler, actions } of RECONCILERS) {
      this.driftObjects.set({ reconciler }, 0);
      for (const action of actions) this.corrections.inc({ reconciler, action }, 0);
      for (const reason of SUPPRESS_REASONS) this.suppressed.inc({ reconciler, reason }, 0);
      for (const result of ['success', 'error'] as const) this.reconciles.inc({ reconciler, result }, 0);
      this.reconcileDuration.zero({ reconciler });
    }
    this.leader.set(0);
    this.desiredStateValid.set(0);
    this.lastSync.set(0);
    for (const status of ['reachable', 'unreachable'] as const) this.swarmManagers.set({ status }, 0);
    this.faultTolerance.set(0);
    this.webhookRequests = new Counter({ name: 'warden_webhook_requests_total', help: 'Git webhook requests (POST /hooks/git), by result.', labelNames: ['result'], registers });
    for (const result of WEBHOOK_RESULTS) this.webhookRequests.inc({ result: result satisfies WebhookResult }, 0);
    // As Prometheus' own *_build_info: one series at 1, so that `* on(instance) group_left(version)` can join it.
    const { version, revision } = opts.build ?? buildInfo();
    this.stackObjects = new Gauge({
      name: 'warden_stack_objects',
      help: 'Objects of the stacks with deploy: true, by stack, kind (service, network, config, secret) and state (in_sync, drift, missing, extra).',
      labelNames: ['stack', 'kind', 'state'],
      registers,
    });
    this.serviceHealth = new Gauge({
      name: 'warden_service_health',
      help: 'The health of each service warden keeps: 1 for its health (healthy, progressing, degraded, missing, suspended), 0 for the others.',
      labelNames: ['stack', 'service', 'health'],
      registers,
    });
    this.notifications = new Counter({
      name: 'warden_notifications_total',
      help: 'Notifications to the webhooks of spec.notify, by event and result (sent, failed: no 2xx after the retries, or dropped from a full queue).',
      labelNames: ['event', 'result'],
      registers,
    });
    for (const event of NOTIFY_EVENTS) for (const result of ['sent', 'failed'] as const) this.notifications.inc({ event, result }, 0);
    this.rollouts = new Counter({
      name: 'warden_rollouts_total',
      help: 'Updates warden made to a service, followed to their end, by result (completed, rolled_back: swarm rolled it back, paused).',
      labelNames: ['stack', 'service', 'result'],
      registers,
    });
    this.buildInfo = new Gauge({ name: 'warden_build_info', help: 'Always 1: the version and revision (commit) of warden that runs.', labelNames: ['version', 'revision'], registers });
    this.buildInfo.set({ version, revision }, 1);
  }

  /** setDesiredState records the desired state in force (one series: the old one is removed). */
  setDesiredState(cluster: string, source: string, revision: string): void {
    this.desiredStateInfo.reset();
    this.desiredStateInfo.set({ cluster, source, revision }, 1);
    this.desiredStateFailed.reset();
    this.desiredStateValid.set(1);
  }

  /** setDesiredStateFailed records a failed load; revision is "unknown" when the content could not be read. */
  setDesiredStateFailed(source: string, revision: string | undefined): void {
    this.desiredStateFailed.reset();
    this.desiredStateFailed.set({ source, revision: revision ?? 'unknown' }, 1);
    this.desiredStateValid.set(0);
  }

  /**
   * setStackObjects replaces the warden_stack_objects counts from the stacks reconciler's objects: for each
   * stack in the file, every kind and state at its count (0 included); stacks no longer in the file go away.
   */
  setStackObjects(stacks: readonly string[], objects: readonly { stack: string; kind: string; state: string }[]): void {
    this.stackObjects.reset();
    for (const stack of stacks) {
      for (const kind of ['service', 'network', 'config', 'secret']) {
        for (const state of ['in_sync', 'drift', 'missing', 'extra']) {
          this.stackObjects.set({ stack, kind, state }, objects.filter((o) => o.stack === stack && o.kind === kind && o.state === state).length);
        }
      }
    }
  }

  /**
   * setServiceHealth replaces warden_service_health from a pass's health: every health of every kept
   * service, 1 for the one it has and 0 for the others; services no longer kept go away.
   */
  setServiceHealth(services: readonly { stack: string; service: string; health: string }[]): void {
    this.serviceHealth.reset();
    for (const s of services) {
      // A kept service's rollouts start at zero, so that increase() sees its first one.
      for (const result of ROLLOUT_RESULTS) this.rollouts.inc({ stack: s.stack, service: s.service, result }, 0);
      for (const health of HEALTHS) this.serviceHealth.set({ stack: s.stack, service: s.service, health }, s.health === health ? 1 : 0);
    }
  }

  /** setDrift replaces a reconciler's drift: the count and one series per drifting object. */
  setDrift(reconciler: ReconcilerId, objects: readonly string[]): void {
    this.driftObjects.set({ reconciler }, objects.length);
    // Series of objects that are back in sync go away rather than sit at 0: object names are not bounded.
    const now = new Set(objects);
    for (const object of this.drifting.get(reconciler) ?? []) {
      if (!now.has(object)) this.objectDrift.remove({ reconciler, object });
    }
    for (const object of now) this.objectDrift.set({ reconciler, object }, 1);
    this.drifting.set(reconciler, now);
  }

  private readonly drifting = new Map<ReconcilerId, Set<string>>();
}
