// The controller: level-triggered passes over every reconciler. It wires the parts and owns the loop:
// events (./events.ts), the resync schedule, requeues and a new desired state only ask for a pass
// (./queue.ts); a pass (./pass.ts) reads one snapshot, plans, lets the safety rules decide and applies
// what is allowed (./act.ts); /status is built from what the passes leave (./status.ts). Passes never
// overlap, and a burst of triggers gives one pass.
import { schedule as cronSchedule } from 'node-cron';
import type { Logger } from 'pino';
import { SealedValues } from '../desired-state/sops/sealed.js';
import { DesiredStateError, formatProblem, type LoadedState } from '../desired-state/source.js';
import type { DockerPort } from '../docker/port.js';
import type { RegistryAuth } from '../docker/registry-auth.js';
import type { FilePort } from '../host/port.js';
import { RECONCILERS, type ReconcilerId } from '../reconcilers/index.js';
import type { ActionRecord, Reconciler } from '../reconcilers/types.js';
import { Actor } from './act.js';
import { Announcer, PASS_SLOW_MS } from './announce.js';
import { ServiceCache } from './cache.js';
import { Calls, watchCalls } from './calls.js';
import { Corrections } from './corrections.js';
import { Echoes, followEvents } from './events.js';
import { HostObserver, type HostPort } from './host.js';
import type { Metrics } from './metrics.js';
import type { Notifier } from './notify.js';
import { DESIRED_STATE_SOURCE, desiredStateInvalid, passConditions } from './notify-conditions.js';
import { Passes, type PassResult } from './pass.js';
import { TriggerQueue } from './queue.js';
import { Rollouts } from './rollouts.js';
import { DEFAULT_FLAP, Safety, type FlapOptions } from './safety.js';
import { Settling } from './settle.js';
import { healthRecheckMs } from './service-status.js';
import { statusOf, type ControllerStatus } from './status.js';

export type { ActionOutcome } from './act.js';
export { ECHO_RECHECK_MS, ECHO_WINDOW_MS } from './events.js';
export type { PassResult, ReconcilerResult } from './pass.js';
export type { ControllerStatus } from './status.js';

/**
 * LIVENESS_STALL_MS is how long a pass may wait with no answer from anything it awaits (an engine call, a
 * volume fix) before the loop counts as stuck and /livez fails (default 2 min: four times the engine
 * client's 30 s request timeout, which bounds every call a pass makes; the host is read off the pass).
 */
export const LIVENESS_STALL_MS = 120_000;

/** Clock is the controller's time source, injected so that tests control it. */
export interface Clock {
  now(): number;
}

/** Scheduler runs `fn` on a cron expression until stopped (node-cron by default). */
export type Scheduler = (expression: string, fn: () => void) => { stop(): void };

/** ControllerOptions wire a controller; everything that varies is injected. */
export interface ControllerOptions {
  port: DockerPort;
  logger: Logger;
  metrics: Metrics;
  clock?: Clock;
  scheduler?: Scheduler;
  reconcilers?: readonly Reconciler<ReconcilerId>[];
  /** host observes what the engine cannot tell: files under the host root, the registry's probe. */
  host?: HostPort;
  /** hostReadTimeoutMs bounds one read of the host, off the pass (default HOST_READ_TIMEOUT_MS, 15 s). */
  hostReadTimeoutMs?: number;
  /** files changes directories under the host root for fix-volume (default none: fix-volume is refused). */
  files?: FilePort;
  /**
   * settleTimeoutMs bounds how long an asynchronous action (role change, forced restart) is followed after
   * its write, off the pass (default 120 s); see ./settle.ts.
   */
  settleTimeoutMs?: number;
  /** dryRun is --dry-run: every reconciler observes (default false). */
  dryRun?: boolean;
  /** leaderOnly gates actions on this engine's node being the Raft leader (default true; `apply` turns it off). */
  leaderOnly?: boolean;
  /**
   * debounceMs (default 50 ms): a trigger that finds the controller idle starts a pass at once; triggers
   * that arrive during a pass wait, after it, until they have been quiet this long.
   */
  debounceMs?: number;
  /** maxDelayMs bounds how long a steady stream of triggers can hold a pass back (default 1 s). */
  maxDelayMs?: number;
  flap?: FlapOptions;
  /** stallMs is how long a pass may go without any answer before liveness() says stuck (default LIVENESS_STALL_MS). */
  stallMs?: number;
  /** registryAuth answers the registry credentials deployed stacks send (--registry-auth-file; default none). */
  registryAuth?: RegistryAuth;
  /** resolveImageIntervalMs is how often a stack image's digest is asked for again within a revision (--resolve-image-interval; default 10 min). */
  resolveImageIntervalMs?: number;
  /** resolveImageTimeoutMs is how long a pass waits for a digest it has no answer for (--resolve-image-timeout; default 5 s). */
  resolveImageTimeoutMs?: number;
  /** slowPassMs is how long a pass of the loop runs before it is reported with what it waits for (default PASS_SLOW_MS). */
  slowPassMs?: number;
  /** eventsQuietMs is how long the events stream may say nothing before it is followed anew (default EVENTS_QUIET_MS). */
  eventsQuietMs?: number;
  /** notifier sends spec.notify's notifications, started and stopped with the loop (default none: the one-shot commands send none). */
  notifier?: Notifier;
}

/** Controller runs passes against one engine. */
export class Controller {
  private readonly port: DockerPort;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly safety: Safety;
  private readonly queue: TriggerQueue;
  private readonly echoes = new Echoes();
  private readonly passes: Passes;
  private readonly settling: Settling;
  private readonly host: HostObserver;
  // True while start() runs: passes then never wait for the host; one-shot passes (plan, apply) read it.
  private started = false;
  private readonly stallMs: number;
  // When the pass in flight started, and when anything a pass awaited last answered (monotonic ms).
  private passStarted: number | undefined;
  // The calls passes await: when any last answered, and those still out (./calls.ts).
  private readonly calls = new Calls();
  private readonly announcer: Announcer;
  private readonly slowPassMs: number;
  private readonly eventsQuietMs: number | undefined;
  private readonly notifier: Notifier | undefined;
  private readonly rollouts: Rollouts;
  private readonly corrections = new Corrections();

  private loaded: LoadedState | undefined;
  private loadError: string | undefined;
  private failedRevision: string | undefined;
  private lastPass: PassResult | undefined;
  private running: Promise<PassResult> | undefined;
  private requeue: NodeJS.Timeout | undefined;
  private onResyncChange: (() => void) | undefined;
  // The services as the last list and the events since left them; passes plan on it.
  private readonly cache: ServiceCache;

  constructor(opts: ControllerOptions) {
    this.port = opts.port;
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.scheduler = opts.scheduler ?? ((expr, fn) => cronSchedule(expr, fn, { noOverlap: true }));
    this.safety = new Safety(opts.flap ?? DEFAULT_FLAP);
    this.queue = new TriggerQueue(opts.debounceMs ?? 50, opts.maxDelayMs ?? 1_000);
    this.stallMs = opts.stallMs ?? LIVENESS_STALL_MS;
    const now = (): number => this.clock.now();
    // What passes call is watched for answers (liveness); the follow-up of asynchronous actions is not,
    // so that its answers cannot hide a pass that is stuck.
    this.announcer = new Announcer(this.log);
    this.slowPassMs = opts.slowPassMs ?? PASS_SLOW_MS;
    this.eventsQuietMs = opts.eventsQuietMs;
    this.notifier = opts.notifier;
    this.rollouts = new Rollouts({ metrics: this.metrics, logger: this.log, notify: (t) => this.notifier?.transition(t) });
    const passPort = watchCalls(this.port, this.calls);
    // The reads that follow events are not the pass's: services that churn must not keep a stuck pass alive.
    this.cache = new ServiceCache(passPort, this.port);
    const files = opts.files ? watchCalls(opts.files, this.calls) : undefined;
    // When each object was last corrected: written by the actor, read by plans through the pass.
    const applied = new Map<string, ActionRecord>();
    // An asynchronous change the engine finished (or that ran out of time) is worth a look at once.
    this.settling = new Settling({ port: this.port, timeoutMs: opts.settleTimeoutMs ?? 120_000, onSettled: () => this.trigger('settled') });
    // The host is read off the pass; an answer that differs from the last is worth a look at once.
    this.host = new HostObserver({
      host: opts.host ?? {}, now, log: this.log, onChange: () => this.trigger('host'),
      ...(opts.hostReadTimeoutMs !== undefined ? { readTimeoutMs: opts.hostReadTimeoutMs } : {}),
    });
    const actor = new Actor({
      port: passPort,
      metrics: this.metrics,
      safety: this.safety,
      echoes: this.echoes,
      now,
      applied,
      ...(files ? { files } : {}),
      settling: this.settling,
      onFilesChanged: () => this.host.filesChanged(),
      onServiceWritten: (id) => this.cache.wrote(id),
      ...(opts.registryAuth ? { registryAuth: opts.registryAuth } : {}),
    });
    this.passes = new Passes({
      port: passPort,
      cache: this.cache,
      metrics: this.metrics,
      safety: this.safety,
      actor,
      reconcilers: opts.reconcilers ?? RECONCILERS,
      hostView: async () => {
        if (this.started) this.host.nudge();
        else await this.host.refresh();
        return this.host.view();
      },
      now,
      applied,
      dryRun: opts.dryRun ?? false,
      leaderOnly: opts.leaderOnly ?? true,
      rolledBack: (service, update) => this.rollouts.rolledBack(service, update),
      ...(opts.registryAuth ? { registryAuth: opts.registryAuth } : {}),
      // Asked through the engine's own port: an answer in the background is no answer to a pass (liveness).
      // A digest that changes what passes were given (a tag moved, a late answer) is worth a look at once.
      digests: { port: this.port, intervalMs: opts.resolveImageIntervalMs, timeoutMs: opts.resolveImageTimeoutMs, onChange: () => this.trigger('image-digest') },
    });
  }

  /** setDesired puts a newly loaded desired state in force and asks for a pass. */
  setDesired(next: LoadedState): void {
    const previous = this.loaded;
    const loaded = withPreviousSealed(next, previous);
    this.loaded = loaded;
    this.loadError = undefined;
    this.failedRevision = undefined;
    this.safety.onDesired(loaded.state);
    this.host.want(loaded.state);
    this.metrics.setDesiredState(loaded.state.cluster, loaded.source, loaded.revision);
    this.notifier?.configure(loaded.state.cluster, loaded.revision, loaded.state.notify);
    this.notifier?.present(DESIRED_STATE_SOURCE, []);
    if (previous?.state.policy.resync !== loaded.state.policy.resync) this.onResyncChange?.();
    this.log.info({ revision: loaded.revision, source: loaded.source, cluster: loaded.state.cluster }, 'desired state loaded');
    for (const w of loaded.warnings ?? []) this.log.warn({ revision: loaded.revision, warning: formatProblem(w) }, 'desired state: skipped');
    this.trigger('desired-state');
  }

  /** desiredStateFailed records a failed load; the last good desired state stays in force. */
  desiredStateFailed(error: Error, source = this.loaded?.source ?? 'unknown'): void {
    this.loadError = error.message;
    this.failedRevision = error instanceof DesiredStateError ? error.revision : undefined;
    this.metrics.setDesiredStateFailed(source, this.failedRevision);
    // A revision that does not load, told to the last good one's webhooks; a source that cannot be read
    // (a git outage) is no revision, and only logged.
    if (error instanceof DesiredStateError) this.notifier?.present(DESIRED_STATE_SOURCE, [desiredStateInvalid(source, error.message, this.failedRevision)]);
    this.log.error({ err: error, revision: this.loaded?.revision, failedRevision: this.failedRevision }, 'desired state failed to load; the last good one stays in force');
  }

  /** ready is true once a desired state is loaded and the engine has answered. */
  get ready(): boolean {
    return this.loaded !== undefined && this.passes.engineAnswered;
  }

  /** trigger asks for a pass; triggers that arrive close together are served by one pass. */
  trigger(reason: string): void {
    this.queue.add(reason);
  }

  /**
   * start follows the engine's events and the resync schedule and runs passes until the signal aborts;
   * it resolves once the loop and any pass in flight have stopped.
   */
  async start(signal: AbortSignal): Promise<void> {
    let resync: { stop(): void } | undefined;
    const scheduleResync = (): void => {
      resync?.stop();
      const expr = this.loaded?.state.policy.resync;
      resync = expr ? this.scheduler(expr, () => this.trigger('resync')) : undefined;
    };
    this.onResyncChange = scheduleResync;
    scheduleResync();
    this.started = true;
    const events = followEvents(this.port, signal, this.echoes, (reason) => this.trigger(reason), this.log, this.cache, this.eventsQuietMs);
    const host = this.host.start(signal);
    const notifying = this.notifier?.start(signal);
    try {
      await this.loop(signal);
    } finally {
      this.started = false;
      clearTimeout(this.requeue);
      this.settling.stop();
      resync?.stop();
      this.onResyncChange = undefined;
      await Promise.all([events, host, notifying]);
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    for (;;) {
      const reasons = await this.queue.next(signal);
      if (!reasons) return;
      let requeue: number;
      try {
        const result = await this.reportedPass(reasons, signal);
        // A pass that could not run (the engine did not answer) is tried again, 1 s after the first
        // failure, doubling to a minute: the events stream's reconnection may come sooner.
        failures = result.error !== undefined && this.loaded !== undefined ? failures + 1 : 0;
        // A reconciler waiting for something no event announces asks to look again soon; so does a
        // service progressing (no event says that its tasks started, or that its rollout ran out of time).
        requeue = Math.min(...result.results.map((r) => r.requeueAfterMs ?? Infinity), healthRecheckMs(result));
      } catch (err) {
        // A bug of warden's own must not stop the loop silently: it is logged, and the pass tried again.
        failures += 1;
        requeue = Infinity;
        this.log.error({ err }, 'the pass failed unexpectedly; trying again');
      }
      if (failures > 0) requeue = Math.min(requeue, retryAfterMs(failures));
      clearTimeout(this.requeue);
      if (Number.isFinite(requeue)) {
        const reason = failures > 0 ? 'retry' : 'requeue';
        this.requeue = setTimeout(() => this.trigger(reason), Math.max(0, requeue)).unref();
      }
    }
  }

  // A pass of the loop, said at info level when it matters (the first, a change of leader or role), and
  // reported while it runs longer than slowPassMs, with the call it waits for.
  private async reportedPass(reasons: string[], signal: AbortSignal): Promise<PassResult> {
    const started = performance.now();
    const timer = setInterval(() => this.announcer.slow(reasons, performance.now() - started, this.calls.oldest()), this.slowPassMs).unref();
    try {
      const result = await this.pass(reasons, signal);
      this.announcer.passDone(result);
      return result;
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * pass runs one pass now (waiting for one in flight first, so that passes never overlap). With
   * `planOnly` it decides everything a pass would and applies nothing (`warden plan`).
   */
  async pass(reasons: string[] = ['manual'], signal?: AbortSignal, planOnly = false): Promise<PassResult> {
    while (this.running) await this.running.catch(() => undefined);
    this.passStarted = performance.now();
    const run = this.passes.run(this.loaded, reasons, this.log, signal, planOnly).then((result) => {
      this.lastPass = result;
      if (!planOnly) this.notify(result);
      return result;
    });
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
      this.passStarted = undefined;
    }
  }

  // What the pass saw that is worth telling (./notify-conditions.ts): handed over, never waited for. Its
  // rollouts and health changes (rollout-*, degraded, recovered) go through ./rollouts.ts, which counts
  // them and tells each change once through this.notifier.transition().
  private notify(result: PassResult): void {
    if (this.notifier) this.notifier.leader = result.leader;
    this.rollouts.track(result, this.clock.now());
    this.corrections.record(result);
    if (!this.notifier) return;
    for (const [source, conditions] of passConditions(result, this.safety.held(this.clock.now()), this.loaded?.state)) {
      this.notifier.present(source, conditions);
    }
  }

  /**
   * liveness is true unless the loop is stuck: a pass in flight that has waited longer than stallMs
   * (default 2 min) since it started or since anything it awaits last answered; then it says so. Waiting
   * for triggers is not stuck, however long; the host and the engine's asynchronous work are off the pass.
   */
  liveness(now = performance.now()): true | string {
    if (this.passStarted === undefined) return true;
    const quietMs = now - Math.max(this.passStarted, this.calls.lastAnswer);
    if (quietMs <= this.stallMs) return true;
    return `the pass in flight has had no answer for ${Math.round(quietMs / 1000)} s (more than ${Math.round(this.stallMs / 1000)} s): the controller loop is stuck`;
  }

  /**
   * settled resolves once the asynchronous actions applied so far are done or no longer followed (each
   * within settleTimeoutMs), or when `signal` aborts: `warden apply` waits for it between passes, the
   * daemon never does.
   */
  settled(signal?: AbortSignal): Promise<void> {
    return this.settling.idle(signal);
  }

  /** status is the controller's state for GET /status. */
  status(): ControllerStatus {
    return statusOf({
      leader: this.passes.leader,
      loaded: this.loaded,
      loadError: this.loadError,
      failedRevision: this.failedRevision,
      engineAnswered: this.passes.engineAnswered,
      lastPass: this.lastPass,
      held: this.safety.held(this.clock.now()),
      quorum: this.passes.quorum,
      corrections: this.corrections.list(),
    });
  }
}

/** retryAfterMs is the wait before the pass after `failures` failed ones in a row: 1 s, doubling to 60 s. */
export function retryAfterMs(failures: number): number {
  return Math.min(60_000, 1_000 * 2 ** Math.max(0, failures - 1));
}

// A value the previous revision's sops files held, removed from them or moved to the clear by this one,
// is still in the live service until the pass that changes it: it stays sealed for this revision (and
// is forgotten with the next: only the previous revision's own values are carried).
function withPreviousSealed(next: LoadedState, previous: LoadedState | undefined): LoadedState {
  const before = previous?.state.sealed;
  if (!before && !next.state.sealed) return next;
  const sealed = (next.state.sealed ?? new SealedValues()).following(before);
  return { ...next, state: { ...next.state, sealed } };
}
