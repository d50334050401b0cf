// The controller: level-triggered passes over every reconciler. A pass reads one snapshot, asks each
// reconciler for its plan, lets the safety rules decide, applies what is allowed through the one apply
// path, and records the outcome in metrics, logs and the status. Events, the resync schedule and a new
// desired state only ask for a pass; passes never overlap, and a burst of triggers gives one pass.
import { setTimeout as sleep } from 'node:timers/promises';
import { schedule as cronSchedule } from 'node-cron';
import type { Logger } from 'pino';
import { DesiredStateError, formatProblem, type LoadedState } from '../desired-state/source.js';
import { EngineError } from '../docker/errors.js';
import type { DockerPort } from '../docker/port.js';
import type { FilePort } from '../host/port.js';
import { RECONCILERS, type ReconcilerId } from '../reconcilers/index.js';
import type { Action, ActionRecord, Drift, Observed, PlanContext, Reconciler } from '../reconcilers/types.js';
import { applyAction, settleAction, TerminalActionError, type ApplyResult } from './apply.js';
import type { Metrics, SuppressReason } from './metrics.js';
import { EngineIdentity, leaderOf, managerHealth, observe, type HostPort, type ManagerHealth } from './observe.js';
import { DEFAULT_FLAP, massScaleDown, Safety, type FlapOptions, type HeldObject } from './safety.js';

/** ECHO_WINDOW_MS is how long after warden writes an object its first event counts as the write's echo (default 2 s). */
export const ECHO_WINDOW_MS = 2_000;
/** ECHO_RECHECK_MS is how soon an echo is looked at all the same (default 1 s). */
export const ECHO_RECHECK_MS = 1_000;

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
  /** files changes directories under the host root for fix-volume (default none: fix-volume is refused). */
  files?: FilePort;
  /** settleTimeoutMs bounds how long an asynchronous action (role change, forced restart) is awaited (default 120 s). */
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
}

/** ActionOutcome is what became of one planned action. */
export interface ActionOutcome {
  action: Action;
  /**
   * outcome: applied; already (a fresh read showed nothing to do); partial (a bounded fix made progress and
   * the next pass goes on); planned (a plan-only pass would apply
   * it); suppressed; standby (this instance is not on the leader); failed.
   */
  outcome: ApplyResult | 'planned' | 'suppressed' | 'standby' | 'failed';
  reason?: SuppressReason;
  error?: string;
}

/** ReconcilerResult is one reconciler's part of a pass. */
export interface ReconcilerResult {
  id: ReconcilerId;
  drift: Drift[];
  actions: ActionOutcome[];
  /** blocked says why the reconciler held back (quorum lost), with what an operator must do. */
  blocked?: string;
  /** requeueAfterMs is the reconciler's request for another pass within this long. */
  requeueAfterMs?: number;
  error?: string;
}

/** PassResult is the outcome of one pass. */
export interface PassResult {
  passId: number;
  reasons: string[];
  startedAt: string;
  durationMs: number;
  leader: boolean;
  revision: string | undefined;
  results: ReconcilerResult[];
  /** error is set when the pass could not run at all (no desired state, engine unreachable). */
  error?: string;
}

/** ControllerStatus is what GET /status shows. */
export interface ControllerStatus {
  leader: boolean;
  source: string | undefined;
  revision: string | undefined;
  cluster: string | undefined;
  desiredStateValid: boolean;
  desiredStateError: string | undefined;
  /** failedRevision is the revision of the newest load that failed (undefined once a newer one loads). */
  failedRevision: string | undefined;
  engineAnswered: boolean;
  lastPass: Omit<PassResult, 'results'> | undefined;
  drift: Record<string, Drift[]>;
  suppressed: Array<{ reconciler: string; object: string; action: string; reason: SuppressReason }>;
  held: HeldObject[];
  /** quorum is the Raft membership at the last pass; lost is true when the swarm had no leader. */
  quorum: (ManagerHealth & { lost: boolean; message?: string }) | undefined;
}

/** Controller runs passes against one engine. */
export class Controller {
  private readonly port: DockerPort;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly reconcilers: readonly Reconciler<ReconcilerId>[];
  private readonly host: HostPort;
  private readonly files: FilePort | undefined;
  private readonly settleTimeoutMs: number;
  private readonly dryRun: boolean;
  private readonly leaderOnly: boolean;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;
  private readonly safety: Safety;

  private loaded: LoadedState | undefined;
  private loadError: string | undefined;
  private failedRevision: string | undefined;
  private engineAnswered = false;
  private leader = false;
  private lastPass: PassResult | undefined;
  private quorum: ControllerStatus['quorum'];
  // Memory between passes, handed to plans in the PlanContext (empty again after a restart).
  private readonly unreachableSince = new Map<string, number>();
  private readonly roleChangeSince = new Map<string, number>();
  private readonly applied = new Map<string, ActionRecord>();
  // Which node this engine is, read from /info only now and then (see EngineIdentity).
  private readonly identity = new EngineIdentity();
  private passCounter = 0;
  private running: Promise<PassResult> | undefined;

  private pending = new Set<string>();
  private firstPendingAt = 0;
  private lastTriggerAt = 0;
  // When warden last wrote each object (by id), to recognise the echo of its own write.
  private readonly echoes = new Map<string, number>();
  private echoTimer: NodeJS.Timeout | undefined;
  private requeue: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private onResyncChange: (() => void) | undefined;

  constructor(opts: ControllerOptions) {
    this.port = opts.port;
    this.log = opts.logger;
    this.metrics = opts.metrics;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.scheduler = opts.scheduler ?? ((expr, fn) => cronSchedule(expr, fn, { noOverlap: true }));
    this.reconcilers = opts.reconcilers ?? RECONCILERS;
    this.host = opts.host ?? {};
    this.files = opts.files;
    this.settleTimeoutMs = opts.settleTimeoutMs ?? 120_000;
    this.dryRun = opts.dryRun ?? false;
    this.leaderOnly = opts.leaderOnly ?? true;
    this.debounceMs = opts.debounceMs ?? 50;
    this.maxDelayMs = opts.maxDelayMs ?? 1_000;
    this.safety = new Safety(opts.flap ?? DEFAULT_FLAP);
  }

  /** setDesired puts a newly loaded desired state in force and asks for a pass. */
  setDesired(loaded: LoadedState): void {
    const previous = this.loaded;
    this.loaded = loaded;
    this.loadError = undefined;
    this.failedRevision = undefined;
    this.safety.onRevision(loaded.revision);
    this.metrics.setDesiredState(loaded.state.cluster, loaded.source, loaded.revision);
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
    this.log.error({ err: error, revision: this.loaded?.revision, failedRevision: this.failedRevision }, 'desired state failed to load; the last good one stays in force');
  }

  /** ready is true once a desired state is loaded and the engine has answered. */
  get ready(): boolean {
    return this.loaded !== undefined && this.engineAnswered;
  }

  /** trigger asks for a pass; triggers that arrive close together are served by one pass. */
  trigger(reason: string): void {
    // Coalescing runs on the monotonic timer, not the injected clock: it is about real waiting.
    const now = performance.now();
    if (this.pending.size === 0) this.firstPendingAt = now;
    this.lastTriggerAt = now;
    this.pending.add(reason);
    this.wake?.();
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
    const events = this.followEvents(signal);
    try {
      await this.loop(signal);
    } finally {
      clearTimeout(this.requeue);
      clearTimeout(this.echoTimer);
      this.echoTimer = undefined;
      resync?.stop();
      this.onResyncChange = undefined;
      await events;
    }
  }

  private async followEvents(signal: AbortSignal): Promise<void> {
    // Warn once when the stream is lost, not at every failed reconnection while the engine is down.
    let connected = true;
    try {
      for await (const item of this.port.events(signal)) {
        if (item.type === 'connected') {
          connected = true;
          this.log.debug('events stream connected');
          // Events may have been missed while the stream was down: look again.
          this.trigger('events-connected');
        } else if (item.type === 'disconnected') {
          this.log[connected ? 'warn' : 'debug']({ err: item.error }, 'events stream lost; reconnecting');
          connected = false;
        } else {
          // The first event after warden's own write of an object is most likely that write's echo: it
          // is looked at again a moment later rather than at once, so that it does not start a pass in
          // the way of a change someone else makes right after. Still level-triggered: nothing is lost.
          const wrote = this.echoes.get(item.id);
          if (wrote !== undefined && performance.now() - wrote < ECHO_WINDOW_MS) {
            this.echoes.delete(item.id);
            this.echoTimer ??= setTimeout(() => {
              this.echoTimer = undefined;
              this.trigger('echo');
            }, ECHO_RECHECK_MS).unref();
          } else {
            this.trigger(`${item.type}-${item.action}`);
          }
        }
      }
    } catch (err) {
      if (!signal.aborted) this.log.error({ err }, 'events stream failed');
    }
  }

  private async loop(signal: AbortSignal): Promise<void> {
    let leading = false;
    while (!signal.aborted) {
      if (this.pending.size === 0) {
        const onAbort = (): void => this.wake?.();
        signal.addEventListener('abort', onAbort, { once: true });
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        // Woken from idle by a trigger: that one is acted on at once.
        leading = this.pending.size > 0;
        continue;
      }
      // Act on the first trigger at once (the drift it reports is usually all there is), then coalesce:
      // triggers that arrive during a pass wait until they have been quiet for debounceMs, or
      // maxDelayMs since the first, so a burst of events costs two or three passes.
      const now = performance.now();
      const due = leading ? now : Math.min(this.lastTriggerAt + this.debounceMs, this.firstPendingAt + this.maxDelayMs);
      if (due > now) {
        await sleep(due - now, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const reasons = [...this.pending];
      this.pending.clear();
      leading = false;
      const result = await this.pass(reasons, signal);
      // A reconciler waiting for something no event announces asks to look again soon.
      const requeue = Math.min(...result.results.map((r) => r.requeueAfterMs ?? Infinity));
      clearTimeout(this.requeue);
      if (Number.isFinite(requeue)) this.requeue = setTimeout(() => this.trigger('requeue'), Math.max(0, requeue)).unref();
    }
  }

  /**
   * pass runs one pass now (waiting for one in flight first, so that passes never overlap). With
   * `planOnly` it decides everything a pass would and applies nothing (`warden plan`).
   */
  async pass(reasons: string[] = ['manual'], signal?: AbortSignal, planOnly = false): Promise<PassResult> {
    while (this.running) await this.running.catch(() => undefined);
    const run = this.runPass(reasons, signal, planOnly);
    this.running = run;
    try {
      return await run;
    } finally {
      this.running = undefined;
    }
  }

  private async runPass(reasons: string[], signal: AbortSignal | undefined, planOnly: boolean): Promise<PassResult> {
    const passId = ++this.passCounter;
    const started = this.clock.now();
    const log = this.log.child({ passId });
    const loaded = this.loaded;
    const result: PassResult = {
      passId,
      reasons,
      startedAt: new Date(started).toISOString(),
      durationMs: 0,
      leader: this.leader,
      revision: loaded?.revision,
      results: [],
    };
    const finish = (): PassResult => {
      result.durationMs = this.clock.now() - started;
      this.lastPass = result;
      log.debug({ reasons, durationMs: result.durationMs, leader: result.leader, error: result.error }, 'pass done');
      return result;
    };
    if (!loaded) {
      result.error = 'no desired state loaded';
      return finish();
    }
    const desired = loaded.state;

    // The engine may have restarted, left or joined a swarm: ask it again who it is.
    if (reasons.some((r) => r === 'events-connected' || r === 'resync')) this.identity.forget();
    let observed: Observed;
    try {
      observed = await observe(this.port, desired, this.reconcilers, () => this.clock.now(), this.host, signal, this.identity);
      this.engineAnswered = true;
    } catch (err) {
      this.identity.forget();
      // An instance that cannot read the cluster cannot act: it does not claim to lead meanwhile.
      this.leader = !this.leaderOnly;
      result.leader = this.leader;
      this.metrics.leader.set(this.leader ? 1 : 0);
      result.error = `cannot read the cluster: ${(err as Error).message}`;
      if (err instanceof EngineError && err.code === 'no-quorum') {
        this.engineAnswered = true;
        this.quorumLost(desired.managers !== undefined, log);
      } else {
        log.error({ err }, 'cannot read the cluster');
      }
      for (const r of this.reconcilers) this.metrics.reconciles.inc({ reconciler: r.id, result: 'error' });
      return finish();
    }

    this.leader = !this.leaderOnly || (observed.info.nodeId !== '' && leaderOf(observed) === observed.info.nodeId);
    result.leader = this.leader;
    this.metrics.leader.set(this.leader ? 1 : 0);
    const health = managerHealth(observed);
    this.metrics.swarmManagers.set({ status: 'reachable' }, health.reachable);
    this.metrics.swarmManagers.set({ status: 'unreachable' }, health.unreachable);
    this.metrics.faultTolerance.set(health.faultTolerance);
    this.quorum = { ...health, lost: false };
    this.trackUnreachable(observed);
    const ctx: PlanContext = {
      now: observed.at,
      unreachableSince: this.unreachableSince,
      roleChangeSince: this.roleChangeSince,
      lastApplied: () => undefined,
    };

    let budget = desired.policy.maxActionsPerPass;
    for (const reconciler of this.reconcilers) {
      const rlog = log.child({ reconciler: reconciler.id });
      const timer = this.metrics.reconcileDuration.startTimer({ reconciler: reconciler.id });
      const rr: ReconcilerResult = { id: reconciler.id, drift: [], actions: [] };
      result.results.push(rr);
      try {
        const plan = reconciler.plan(desired, observed, { ...ctx, lastApplied: (kind, object) => this.applied.get(`${reconciler.id}/${kind}/${object}`) });
        rr.drift = plan.drift;
        if (plan.requeueAfterMs !== undefined) rr.requeueAfterMs = plan.requeueAfterMs;
        this.metrics.setDrift(reconciler.id, plan.drift.map((d) => d.object));
        this.forgetSettled(reconciler.id, plan.drift);
        if (plan.blocked) {
          rr.blocked = plan.blocked.message;
          if (this.leader && !planOnly) this.metrics.suppressed.inc({ reconciler: reconciler.id, reason: plan.blocked.reason });
          rlog.warn({ reason: plan.blocked.reason }, plan.blocked.message);
        }
        const massHold = massScaleDown(plan.actions, observed.services);
        if (massHold) {
          rr.blocked = massHold;
          if (this.leader) rlog.warn({ reason: 'cap' }, massHold);
        }
        for (const action of plan.actions) {
          // An instance that is not on the leader only observes: its actions are the leader's to take
          // (or to suppress), so they are not counted here.
          if (!this.leader) {
            rr.actions.push({ action, outcome: 'standby' });
            continue;
          }
          let reason = this.safety.suppression(action, desired, this.clock.now(), this.dryRun);
          if (!reason && budget <= 0) reason = 'cap';
          if (!reason && massHold && action.kind === 'scale-service' && action.replicas === 0) reason = 'cap';
          if (reason) {
            rr.actions.push({ action, outcome: 'suppressed', reason });
            if (!planOnly) this.metrics.suppressed.inc({ reconciler: reconciler.id, reason });
            rlog.debug({ object: action.object, action: action.kind, reason }, 'action suppressed');
            continue;
          }
          budget -= 1;
          rr.actions.push(planOnly ? { action, outcome: 'planned' } : await this.apply(action, observed, loaded.revision, rlog, signal));
        }
        const failed = rr.actions.some((a) => a.outcome === 'failed');
        this.metrics.reconciles.inc({ reconciler: reconciler.id, result: failed ? 'error' : 'success' });
      } catch (err) {
        rr.error = (err as Error).message;
        this.metrics.reconciles.inc({ reconciler: reconciler.id, result: 'error' });
        rlog.error({ err }, 'reconciler failed');
      } finally {
        timer();
      }
    }
    this.metrics.lastSync.set(this.clock.now() / 1000);
    return finish();
  }

  private async apply(action: Action, observed: Observed, revision: string, log: Logger, signal: AbortSignal | undefined): Promise<ActionOutcome> {
    const fields = { object: action.object, action: action.kind };
    // Noted before the write: the engine may deliver the write's event before its HTTP answer.
    const id = 'serviceId' in action ? action.serviceId : 'nodeId' in action ? action.nodeId : undefined;
    if (id !== undefined) this.echoes.set(id, performance.now());
    try {
      const outcome = await applyAction(this.port, action, observed, {
        ...(signal ? { signal } : {}),
        onConflict: (attempt) => log.debug({ ...fields, attempt }, 'version conflict; re-reading'),
        ...(this.files ? { files: this.files } : {}),
        // One line per directory or file a volume fix changed, the volume's path as the object.
        onFileChange: (c) => log.info({ ...fields, path: c.path, created: c.created, before: c.before, after: c.after, revision }, 'changed a file'),
      });
      if (outcome === 'partial') {
        // A bounded fix of a large tree: progress, not flapping; the next pass goes on where it stopped.
        this.metrics.corrections.inc({ reconciler: action.reconciler, action: action.kind });
        log.info({ ...fields, revision }, 'correction in progress; the next pass continues');
      }
      if (outcome === 'applied') {
        this.metrics.corrections.inc({ reconciler: action.reconciler, action: action.kind });
        log.info({ ...fields, before: action.before, after: action.after, revision }, 'corrected drift');
        const now = this.clock.now();
        const key = `${action.reconciler}/${action.kind}/${action.object}`;
        this.applied.set(key, { at: now, count: (this.applied.get(key)?.count ?? 0) + 1 });
        const hold = this.safety.recordCorrection(action, now);
        if (hold) log.warn({ ...fields, until: hold.until, why: hold.why }, 'object is flapping; leaving it alone for a while');
        await this.settle(action, log, signal);
      }
      if (outcome !== 'applied' && id !== undefined) this.echoes.delete(id);
      return { action, outcome };
    } catch (err) {
      if (id !== undefined) this.echoes.delete(id);
      const error = err as Error;
      if (error instanceof TerminalActionError) {
        const hold = this.safety.recordRefusal(action, this.clock.now(), error.message);
        log.error({ ...fields, err: error, retryAfter: hold.until }, 'the engine refused the action; it needs the operator');
      } else {
        log.error({ ...fields, err: error, code: error instanceof EngineError ? error.code : undefined }, 'action failed; the next pass tries again');
      }
      return { action, outcome: 'failed', error: error.message };
    }
  }

  /**
   * settle waits, with a deadline, until the engine shows an asynchronous action done (a role change, a
   * forced restart), logging progress. SIGTERM ends the wait at once; /livez is not held by it.
   */
  private async settle(action: Action, log: Logger, signal: AbortSignal | undefined): Promise<void> {
    const fields = { object: action.object, action: action.kind };
    const started = performance.now();
    try {
      const done = await settleAction(this.port, action, {
        timeoutMs: this.settleTimeoutMs,
        ...(signal ? { signal } : {}),
        onProgress: (state) => log.info({ ...fields, state, waitedMs: Math.round(performance.now() - started) }, 'waiting for the engine to finish'),
      });
      if (done === 'done') {
        if (performance.now() - started > 100) log.info({ ...fields, waitedMs: Math.round(performance.now() - started) }, 'the engine finished the change');
      } else if (done === 'timeout') {
        log.warn({ ...fields, waitedMs: Math.round(performance.now() - started) }, 'the engine has not finished the change yet; later passes wait for it');
      }
    } catch (err) {
      if (!signal?.aborted) log.warn({ ...fields, err }, 'cannot follow the change; later passes look again');
    }
  }

  // How long each manager has been unreachable, without a break: reset when it is reachable again or gone.
  private trackUnreachable(observed: Observed): void {
    const unreachable = new Set(observed.nodes.filter((n) => n.manager?.reachability === 'unreachable').map((n) => n.id));
    for (const id of this.unreachableSince.keys()) if (!unreachable.has(id)) this.unreachableSince.delete(id);
    for (const id of unreachable) if (!this.unreachableSince.has(id)) this.unreachableSince.set(id, observed.at);
    // Likewise since when each node's role change has been pending (spec role and Raft membership disagree).
    const pending = new Set(observed.nodes.filter((n) => (n.role === 'manager') !== (n.manager !== undefined)).map((n) => n.id));
    for (const id of this.roleChangeSince.keys()) if (!pending.has(id)) this.roleChangeSince.delete(id);
    for (const id of pending) if (!this.roleChangeSince.has(id)) this.roleChangeSince.set(id, observed.at);
  }

  // An object that no longer drifts has left the state that asked for its actions: forget them.
  private forgetSettled(reconciler: ReconcilerId, drift: Drift[]): void {
    const drifting = new Set(drift.map((d) => d.object));
    for (const key of this.applied.keys()) {
      const [r, , ...object] = key.split('/');
      if (r === reconciler && !drifting.has(object.join('/'))) this.applied.delete(key);
    }
  }

  private quorumLost(managersInFile: boolean, log: Logger): void {
    const message =
      'the swarm has lost quorum: no manager can change anything until a majority of managers is back. If they ' +
      'cannot come back, a person must run `docker swarm init --force-new-cluster --advertise-addr <addr>` on one ' +
      'surviving manager; warden then grows the managers back to spec.managers.count. warden changes nothing meanwhile.';
    this.quorum = { ...(this.quorum ?? { members: 0, reachable: 0, unreachable: 0 }), faultTolerance: 0, lost: true, message };
    this.metrics.faultTolerance.set(0);
    if (this.leaderOnly && this.leader) this.leader = false;
    this.metrics.leader.set(0);
    if (managersInFile) this.metrics.suppressed.inc({ reconciler: 'managers', reason: 'quorum' });
    log.error({ quorum: 'lost' }, message);
  }

  /** status is the controller's state for GET /status. */
  status(): ControllerStatus {
    const last = this.lastPass;
    const drift: Record<string, Drift[]> = {};
    const suppressed: ControllerStatus['suppressed'] = [];
    for (const r of last?.results ?? []) {
      drift[r.id] = r.drift;
      for (const a of r.actions) {
        if (a.outcome === 'suppressed' && a.reason) {
          suppressed.push({ reconciler: r.id, object: a.action.object, action: a.action.kind, reason: a.reason });
        }
      }
    }
    let lastPass: ControllerStatus['lastPass'];
    if (last) {
      const { results: _results, ...rest } = last;
      lastPass = rest;
    }
    return {
      leader: this.leader,
      source: this.loaded?.source,
      revision: this.loaded?.revision,
      cluster: this.loaded?.state.cluster,
      desiredStateValid: this.loadError === undefined && this.loaded !== undefined,
      desiredStateError: this.loadError,
      failedRevision: this.failedRevision,
      engineAnswered: this.engineAnswered,
      lastPass,
      drift,
      suppressed,
      held: this.safety.held(this.clock.now()),
      quorum: this.quorum,
    };
  }
}
