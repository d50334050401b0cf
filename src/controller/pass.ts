// One pass: read one snapshot, ask each reconciler for its plan, let the safety rules decide, apply what is
// allowed (./act.ts), and record the outcome in metrics, logs and the result that /status shows. Between
// passes it remembers only what a snapshot cannot tell: which node this engine is, since when each manager
// has been unreachable and each role change pending, and when each object was last corrected.
import type { Logger } from 'pino';
import { desiredForEngine } from '../desired-state/compose/engine-fields.js';
import type { SealedValues } from '../desired-state/sops/sealed.js';
import type { LoadedState } from '../desired-state/source.js';
import type { DesiredState } from '../desired-state/types.js';
import { EngineError } from '../docker/errors.js';
import type { DockerPort, SwarmService } from '../docker/port.js';
import type { ReconcilerId } from '../reconcilers/index.js';
import { sealPlan, shownError } from '../reconcilers/seal.js';
import type { Action, ActionRecord, CountsNeed, Drift, Observed, PlanContext, Reconciler, StackObjectState } from '../reconcilers/types.js';
import { appliedKey, type ActionOutcome, type Actor } from './act.js';
import type { ServiceCache } from './cache.js';
import { passHealth, type KeptServiceHealth } from './health.js';
import { HOST_READERS, type HostView } from './host.js';
import { ImageDigests, type ImageDigestsOptions } from './image-digests.js';
import type { Metrics } from './metrics.js';
import { EngineIdentity, leaderOf, managerHealth, observe, type ManagerHealth } from './observe.js';
import { massScaleDown, type MassScaleDown, type Safety } from './safety.js';
import { heldServices, type RolledBack } from './service-status.js';

/** ReconcilerResult is one reconciler's part of a pass. */
export interface ReconcilerResult {
  id: ReconcilerId;
  drift: Drift[];
  actions: ActionOutcome[];
  /** blocked says why the reconciler held back (quorum lost), with what an operator must do. */
  blocked?: string;
  /** requeueAfterMs is the reconciler's request for another pass within this long. */
  requeueAfterMs?: number;
  /** error says why the reconciler could not plan (its plan threw, or the host could not be observed). */
  error?: string;
  /** pending says what the reconciler waits for before it can plan at all (the host's first answer). */
  pending?: string;
  /** objects lists each object of the deployed stacks with its state (the stacks reconciler only). */
  objects?: StackObjectState[];
}

/** PassResult is the outcome of one pass. */
export interface PassResult {
  passId: number;
  reasons: string[];
  startedAt: string;
  durationMs: number;
  leader: boolean;
  /** leaderNode is the hostname of the Raft leader as the pass read it (absent when it could not read). */
  leaderNode?: string;
  revision: string | undefined;
  results: ReconcilerResult[];
  /** health is each kept service's health, apart from its sync (./health.ts); absent when the pass could not read the cluster. */
  health?: KeptServiceHealth[];
  /** error is set when the pass could not run at all (no desired state, engine unreachable). */
  error?: string;
}

/** QuorumStatus is the Raft membership at the last pass; lost is true when the swarm had no leader. */
export type QuorumStatus = ManagerHealth & { lost: boolean; message?: string };

/** PassOptions wire a Passes; everything is shared with the controller that owns it. */
export interface PassOptions {
  port: DockerPort;
  metrics: Metrics;
  safety: Safety;
  actor: Actor;
  reconcilers: readonly Reconciler<ReconcilerId>[];
  /** hostView gives the host's last answers (./host.ts); the daemon's never waits for the host. */
  hostView(): Promise<HostView>;
  now(): number;
  /** applied is the memory of corrections between passes, shared with the actor that records them. */
  applied: Map<string, ActionRecord>;
  dryRun: boolean;
  /** leaderOnly gates actions on this engine's node being the Raft leader. */
  leaderOnly: boolean;
  /** cache keeps the services between passes (./cache.ts); without it, every pass lists them. */
  cache?: ServiceCache;
  /** registryAuth gives the credentials with which stacks' image digests are asked for (default none). */
  registryAuth?: (image: string) => string | undefined;
  /** digests: how stack images' digests are kept and asked for off the pass (default: through `port`, every default of ./image-digests.ts). */
  digests?: Partial<Pick<ImageDigestsOptions, 'port' | 'intervalMs' | 'timeoutMs' | 'onChange'>>;
  /** rolledBack says whether swarm rolled back warden's last change to a service, given its UpdateStatus now (./rollouts.ts; default never). */
  rolledBack?: (service: string, update: SwarmService['updateStatus']) => RolledBack | undefined;
}

// PassState is what one pass carries from reconciler to reconciler: its snapshot, its result so far,
// the actions it may still take (`budget`) and the engine objects it has changed (`written`).
interface PassState {
  loaded: LoadedState;
  // The desired state as this engine can store it (forEngine): what the plans compare with.
  desired: DesiredState;
  observed: Observed;
  host: HostView;
  ctx: PlanContext;
  result: PassResult;
  plog: Logger;
  signal: AbortSignal | undefined;
  planOnly: boolean;
  budget: number;
  written: Set<string>;
}

/** Passes runs passes one at a time and keeps what they learn between them. */
export class Passes {
  /** leader is true while this instance acts: it runs on the Raft leader's node (or leaderOnly is off). */
  leader = false;
  /** engineAnswered is true once the engine answered a read (no-quorum answers count). */
  engineAnswered = false;
  /** quorum is the Raft membership as the last pass saw it (undefined before the first read). */
  quorum: QuorumStatus | undefined;

  // Memory between passes, handed to plans in the PlanContext (empty again after a restart).
  private readonly unreachableSince = new Map<string, number>();
  private readonly roleChangeSince = new Map<string, number>();
  // Which node this engine is, read from /info only now and then (see EngineIdentity).
  private readonly identity = new EngineIdentity();
  // The images of deployed stacks whose registry did not answer, with why: warned of once until it answers.
  private readonly unresolved = new Map<string, string>();
  // The registry's answers for stack images, asked off the pass (./image-digests.ts).
  private readonly digests: ImageDigests;
  // The fields left out for the engine already said for the revision in force (see forEngine).
  private readonly droppedSaid = new Set<string>();
  private droppedRevision: string | undefined;
  private counter = 0;

  constructor(private readonly opts: PassOptions) {
    this.digests = new ImageDigests({ port: opts.port, registryAuth: opts.registryAuth, now: () => opts.now(), ...opts.digests });
  }

  /** run runs one pass over `loaded`; with `planOnly` it decides everything and applies nothing. */
  async run(loaded: LoadedState | undefined, reasons: string[], log: Logger, signal: AbortSignal | undefined, planOnly: boolean): Promise<PassResult> {
    const passId = ++this.counter;
    const started = this.opts.now();
    const plog = log.child({ passId });
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
      result.durationMs = this.opts.now() - started;
      plog.debug({ reasons, durationMs: result.durationMs, leader: result.leader, error: result.error }, 'pass done');
      return result;
    };
    if (!loaded) {
      result.error = 'no desired state loaded';
      return finish();
    }
    const read = await this.read(loaded, reasons, result, plog);
    if (!read) return finish();
    const [observed, host] = read;
    this.learn(observed, host, result, plog, loaded.state.sealed);
    const pass: PassState = {
      loaded, observed, host, result, plog, signal, planOnly,
      desired: this.forEngine(loaded, observed, plog),
      ctx: { now: observed.at, unreachableSince: this.unreachableSince, roleChangeSince: this.roleChangeSince, lastApplied: () => undefined },
      budget: loaded.state.policy.maxActionsPerPass,
      written: new Set(),
    };
    for (const reconciler of this.opts.reconcilers) await this.reconcile(reconciler, pass);
    // Health after the plans: a service whose correction warden holds this pass is suspended.
    const held = heldServices(result.results, (a) => this.opts.safety.holdWhy(a, this.opts.now()), (s) => this.opts.rolledBack?.(s, observed.services.find((o) => o.name === s)?.updateStatus));
    // The engine's words may quote a value from a sops file (an image written in an encrypted part): scrubbed.
    const sealed = pass.desired.sealed;
    result.health = passHealth(pass.desired, observed, (name) => held.get(name)).map((h) => (sealed ? { ...h, reason: sealed.scrub(h.reason) } : h));
    this.opts.metrics.setServiceHealth(result.health);
    this.opts.metrics.lastSync.set(this.opts.now() / 1000);
    return finish();
  }

  // One snapshot of the cluster and the host's last answers; undefined (the pass's error set) when the
  // engine could not be read.
  private async read(loaded: LoadedState, reasons: string[], result: PassResult, log: Logger): Promise<[Observed, HostView] | undefined> {
    const { metrics, reconcilers } = this.opts;
    const desired = loaded.state;
    // The engine may have restarted, left or joined a swarm: ask it again who it is; and relist the
    // services (level-triggered: the cache is only as good as the events since the last list).
    const relist = reasons.some((r) => r === 'events-connected' || r === 'resync');
    if (relist) this.identity.forget();
    const cache = this.opts.cache;
    const services = cache ? (counts: CountsNeed) => cache.services({ counts, relist }) : undefined;
    try {
      const read = await Promise.all([
        observe(this.opts.port, desired, reconcilers, () => this.opts.now(), this.identity, services, (images) => this.digests.lookup(images, loaded.revision)),
        this.opts.hostView(),
      ]);
      this.engineAnswered = true;
      return read;
    } catch (err) {
      this.identity.forget();
      cache?.invalidate();
      // An instance that cannot read the cluster cannot act: it does not claim to lead meanwhile.
      this.leader = !this.opts.leaderOnly;
      result.leader = this.leader;
      metrics.leader.set(this.leader ? 1 : 0);
      result.error = `cannot read the cluster: ${(err as Error).message}`;
      if (err instanceof EngineError && err.code === 'no-quorum') {
        this.engineAnswered = true;
        this.quorumLost(desired.managers !== undefined, log);
      } else {
        log.error({ err }, 'cannot read the cluster');
      }
      for (const r of reconcilers) metrics.reconciles.inc({ reconciler: r.id, result: 'error' });
      return undefined;
    }
  }

  // What the snapshot tells beyond the plans: who leads, the managers' health, what is remembered between
  // passes; and the host's last answers, with when they were taken (read off the pass: see ./host.ts).
  private learn(observed: Observed, host: HostView, result: PassResult, log: Logger, sealed: SealedValues | undefined): void {
    const { metrics } = this.opts;
    this.leader = !this.opts.leaderOnly || (observed.info.nodeId !== '' && leaderOf(observed) === observed.info.nodeId);
    result.leader = this.leader;
    const leaderNode = observed.nodes.find((n) => n.manager?.leader)?.hostname;
    if (leaderNode !== undefined) result.leaderNode = leaderNode;
    metrics.leader.set(this.leader ? 1 : 0);
    const health = managerHealth(observed);
    metrics.swarmManagers.set({ status: 'reachable' }, health.reachable);
    metrics.swarmManagers.set({ status: 'unreachable' }, health.unreachable);
    metrics.faultTolerance.set(health.faultTolerance);
    this.quorum = { ...health, lost: false };
    this.trackUnreachable(observed);
    this.warnUnresolved(observed, log, sealed);
    if (host.files) Object.assign(observed, { files: host.files, filesAt: host.filesAt });
    if (host.registry) Object.assign(observed, { registry: host.registry, registryAt: host.registryAt });
  }

  // One reconciler's part of the pass: its plan, reported, then each of its actions decided and applied.
  private async reconcile(reconciler: Reconciler<ReconcilerId>, pass: PassState): Promise<void> {
    const { metrics } = this.opts;
    const desired = pass.desired;
    const rlog = pass.plog.child({ reconciler: reconciler.id });
    const timer = metrics.reconcileDuration.startTimer({ reconciler: reconciler.id });
    const rr: ReconcilerResult = { id: reconciler.id, drift: [], actions: [] };
    pass.result.results.push(rr);
    try {
      if (this.unseenHost(reconciler.id, pass, rr, rlog)) return;
      const plan = reconciler.plan(desired, pass.observed, { ...pass.ctx, lastApplied: (kind, object) => this.opts.applied.get(appliedKey(reconciler.id, kind, object)) });
      // Nothing a plan shows may carry a value from a sops file, whichever reconciler made it.
      sealPlan(plan, desired.sealed);
      rr.drift = plan.drift;
      if (plan.objects) {
        rr.objects = plan.objects;
        metrics.setStackObjects((desired.stacks ?? []).map((st) => st.name), plan.objects);
      }
      if (plan.requeueAfterMs !== undefined) rr.requeueAfterMs = plan.requeueAfterMs;
      metrics.setDrift(reconciler.id, plan.drift.map((d) => d.object));
      this.forgetSettled(reconciler.id, plan.drift);
      if (plan.blocked) {
        rr.blocked = plan.blocked.message;
        if (this.leader && !pass.planOnly) metrics.suppressed.inc({ reconciler: reconciler.id, reason: plan.blocked.reason });
        rlog.warn({ reason: plan.blocked.reason }, plan.blocked.message);
      }
      const massHold = massScaleDown(plan.actions, pass.observed.services);
      if (massHold) {
        rr.blocked = rr.blocked === undefined ? massHold.message : `${rr.blocked}\n${massHold.message}`;
        if (this.leader) rlog.warn({ reason: 'cap' }, massHold.message);
      }
      for (const action of plan.actions) rr.actions.push(await this.act(action, massHold, pass, rr, rlog));
      const failed = rr.actions.some((a) => a.outcome === 'failed');
      metrics.reconciles.inc({ reconciler: reconciler.id, result: failed ? 'error' : 'success' });
    } catch (err) {
      const error = shownError(err as Error, desired.sealed);
      rr.error = error.message;
      metrics.reconciles.inc({ reconciler: reconciler.id, result: 'error' });
      rlog.error({ err: error }, 'reconciler failed');
    } finally {
      timer();
    }
  }

  // Never "in sync" on what was not seen: a reconciler that reads the host is an error until the host
  // answers again (the observer logged the failure once; the drift metrics keep what the last answer
  // showed), and pending before its first answer. True when the reconciler is not planned.
  private unseenHost(id: ReconcilerId, pass: PassState, rr: ReconcilerResult, log: Logger): boolean {
    const { host } = pass;
    if (!HOST_READERS.has(id) || !pass.loaded.state.volumes || (host.filesError === undefined && !host.filesPending)) return false;
    if (host.filesError !== undefined) {
      rr.error = `cannot observe the host: ${host.filesError}`;
      this.opts.metrics.reconciles.inc({ reconciler: id, result: 'error' });
      log.debug({ err: rr.error }, 'not planned: the host is not observed');
    } else {
      rr.pending = 'the first read of the volume paths is under way';
    }
    return true;
  }

  // What becomes of one planned action: standby, deferred, suppressed, planned, or applied through the actor.
  private async act(action: Action, massHold: MassScaleDown | undefined, pass: PassState, rr: ReconcilerResult, log: Logger): Promise<ActionOutcome> {
    const desired = pass.desired;
    // An instance that is not on the leader only observes: its actions are the leader's to take (or to
    // suppress), so they are not counted here.
    if (!this.leader) return { action, outcome: 'standby' };
    // Planned on the snapshot from before another action of this pass changed the same object (a scale,
    // then a forced restart that the old task counts seemed to call for): decided again at once on what
    // the engine shows after that write, never sent on a snapshot it made stale.
    const target = targetOf(action);
    if (target !== undefined && pass.written.has(target)) {
      rr.requeueAfterMs = 0;
      log.debug({ object: action.object, action: action.kind }, 'action deferred: this pass changed the object already');
      return { action, outcome: 'deferred' };
    }
    let reason = this.opts.safety.suppression(action, desired, this.opts.now(), this.opts.dryRun);
    if (!reason && pass.budget <= 0) reason = 'cap';
    if (!reason && massHold?.holds(action)) reason = 'cap';
    if (reason) {
      if (!pass.planOnly) this.opts.metrics.suppressed.inc({ reconciler: rr.id, reason });
      log.debug({ object: action.object, action: action.kind, reason }, 'action suppressed');
      return { action, outcome: 'suppressed', reason };
    }
    pass.budget -= 1;
    if (pass.planOnly) return { action, outcome: 'planned' };
    // Leadership read at the start of the pass may be stale by now: each write checks it again.
    const self = this.opts.leaderOnly ? pass.observed.info.nodeId : undefined;
    const outcome = await this.opts.actor.apply(action, pass.observed, pass.loaded.revision, log, pass.signal, self);
    if (target !== undefined && (outcome.outcome === 'applied' || outcome.outcome === 'partial')) pass.written.add(target);
    if (outcome.outcome === 'standby') this.leadershipLost(pass.result, pass.plog);
    return outcome;
  }

  // The check before a write found that this engine's node no longer leads: no further write in this
  // pass (its remaining actions are the new leader's), and the instance reports itself a standby.
  private leadershipLost(result: PassResult, log: Logger): void {
    if (!this.leader) return;
    this.leader = false;
    result.leader = false;
    this.opts.metrics.leader.set(0);
    log.warn('leadership lost during the pass: no further writes; the next pass reads the cluster again');
  }

  // What the engine's API version cannot store is left out of the stacks' specs, or every pass would
  // update those services again (compose/engine-fields.ts); said once per revision, field and version.
  private forEngine(loaded: LoadedState, observed: Observed, log: Logger): DesiredState {
    const made = desiredForEngine(loaded.state, observed.stackObjects?.apiVersion);
    if (this.droppedRevision !== loaded.revision) this.droppedSaid.clear();
    this.droppedRevision = loaded.revision;
    for (const d of made.dropped) {
      if (this.droppedSaid.has(`${d.field}@${d.apiVersion}`)) continue;
      this.droppedSaid.add(`${d.field}@${d.apiVersion}`);
      log.warn({ reconciler: 'stacks', field: d.field, apiVersion: d.apiVersion, minApiVersion: d.minApiVersion, services: d.services }, 'compose field not stored by this engine\'s API version: left out of the services\' specs');
    }
    return made.state;
  }

  // As docker stack deploy warns: an image whose digest the registry would not give is deployed by its tag,
  // so nodes may pull different versions of it. Said once per image and reason, not at every pass.
  private warnUnresolved(observed: Observed, log: Logger, sealed: SealedValues | undefined): void {
    const now = observed.stackObjects?.unresolved ?? new Map<string, string>();
    for (const [image, why] of now) {
      if (this.unresolved.get(image) === why) continue;
      // An image written in an encrypted part of a compose file is a value from sops: not logged.
      log.warn({ reconciler: 'stacks', image: sealed ? sealed.mask(image) : image, err: sealed ? sealed.scrub(why) : why }, 'image could not be accessed on a registry to record its digest: deployed by its tag, each node pulls it itself and may get another version');
    }
    this.unresolved.clear();
    for (const [image, why] of now) this.unresolved.set(image, why);
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
    for (const key of this.opts.applied.keys()) {
      const [r, , ...object] = key.split('/');
      if (r === reconciler && !drifting.has(object.join('/'))) this.opts.applied.delete(key);
    }
  }

  private quorumLost(managersInFile: boolean, log: Logger): void {
    const message =
      'the swarm has lost quorum: no manager can change anything until a majority of managers is back. If they ' +
      'cannot come back, a person must run `docker swarm init --force-new-cluster --advertise-addr <addr>` on one ' +
      'surviving manager; warden then grows the managers back to spec.managers.count. warden changes nothing meanwhile.';
    this.quorum = { ...(this.quorum ?? { members: 0, reachable: 0, unreachable: 0 }), faultTolerance: 0, lost: true, message };
    this.opts.metrics.faultTolerance.set(0);
    this.opts.metrics.leader.set(0);
    if (managersInFile) this.opts.metrics.suppressed.inc({ reconciler: 'managers', reason: 'quorum' });
    log.error({ quorum: 'lost' }, message);
  }
}

// targetOf is the engine object an action writes (a service or node id); undefined for a volume fix.
function targetOf(action: Action): string | undefined {
  return 'serviceId' in action ? `service/${action.serviceId}` : 'nodeId' in action ? `node/${action.nodeId}` : undefined;
}
