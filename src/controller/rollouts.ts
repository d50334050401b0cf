// Rollout outcomes and health changes (issue 26 items 4 and 5): what happened after warden's own writes,
// followed from what each pass already reads (every kept service's UpdateStatus, in its health: no engine
// call of its own). Between passes it remembers only the rollouts it follows and each service's last one.
//
// A rollout is an update warden made to a service (an applied action that wrote a service). Its UpdateStatus
// before the write is the one the pass read (the pass's snapshot is taken before it acts); the rollout is
// the first UpdateStatus after it with another start. It ends when the engine says so: `completed`,
// `paused` (also `rollback_paused`), or rolled back: from `rollback_started` on, since swarm puts the
// previous spec back at once. Waiting for `rollback_completed` would miss most: the next pass sees the
// previous spec as drift and applies warden's again, which ends the rollback before it completes (until
// the flapping hold). `rollback_started` also carries swarm's why ("update rolled back due to failure or
// early termination of task …"); `rollback_completed` only says "rollback completed". A write that starts
// no rolling update (a scale) shows no new UpdateStatus, and is forgotten after ROLLOUT_START_MS.
import type { Logger } from 'pino';
import type { KeptServiceHealth } from './health.js';
import type { Metrics } from './metrics.js';
import type { Transition } from './notify.js';
import type { PassResult } from './pass.js';
import type { RolledBack } from './service-status.js';

/** RolloutResult is how far a rollout warden started has got: under way, or how it ended. */
export type RolloutResult = 'updating' | 'completed' | 'rolled_back' | 'paused';

/** RolloutView is the last rollout warden started on a service, as shown (ServiceStatusView.rollout). */
export interface RolloutView {
  result: RolloutResult;
  /** revision is the desired state's revision whose change it rolled out (absent: unknown). */
  revision?: string;
  /** reason is the engine's own words (UpdateStatus's message), or what warden knows. */
  reason: string;
  /** at is when it reached this result, by the engine's clock where it says (ISO 8601). */
  at: string;
}

/** ROLLOUT_START_MS is how long after a write an UpdateStatus of its own may appear (default 60 s); a write with none started no rollout. */
export const ROLLOUT_START_MS = 60_000;

// A write warden made and follows: the UpdateStatus start it saw before, and what it has seen since.
interface Followed {
  stack: string;
  revision: string | undefined;
  before: string | undefined;
  since: number;
  started: boolean;
}

// The engine's UpdateStatus states, by what they say of a rollout.
const ENDS: Record<string, Exclude<RolloutResult, 'updating'> | undefined> = {
  completed: 'completed',
  paused: 'paused',
  rollback_paused: 'paused',
  rollback_started: 'rolled_back',
  rollback_completed: 'rolled_back',
};

/** RolloutsOptions wire a Rollouts. */
export interface RolloutsOptions {
  metrics: Pick<Metrics, 'rollouts'>;
  logger: Logger;
  /** notify hands a change to the notifier (default none); it must never wait. */
  notify?: (t: Transition) => void;
}

/** Rollouts follows warden's rollouts and the kept services' health from pass to pass; see the file's comment. */
export class Rollouts {
  private readonly following = new Map<string, Followed>();
  private readonly last = new Map<string, RolloutView>();
  // The rollout-failed and rollout-completed said, by service: once per service, result and revision, so
  // that a change swarm rolls back at every re-apply until the flapping hold is told once.
  private readonly said = new Map<string, string>();
  // swarm's why of the last rollback seen under way, by service: `rollback_completed` says only "rollback
  // completed", so a rollback first seen done borrows the words of the same revision's earlier one.
  private readonly why = new Map<string, { revision: string | undefined; reason: string }>();
  // Services in a degraded spell: entered when degraded, left when healthy (told as recovered) or gone.
  private readonly degraded = new Set<string>();

  constructor(private readonly opts: RolloutsOptions) {}

  /**
   * track takes one pass that applied its actions: the writes it made start rollouts, each followed one
   * moves on by its UpdateStatus, and the health of every kept service is told on a change (leader only).
   * It sets `rollout` on the pass's health of each service with one; `now` is the clock, in ms.
   */
  track(result: PassResult, now: number): void {
    if (!result.health) return;
    const byName = new Map(result.health.map((h) => [h.service, h]));
    for (const [service, f] of this.following) {
      const h = byName.get(service);
      if (h) this.follow(service, f, h, now);
      else this.following.delete(service);
    }
    for (const r of result.results) {
      for (const a of r.actions) {
        if (a.outcome !== 'applied' || !('serviceId' in a.action)) continue;
        const h = byName.get(a.action.object);
        // The pass's snapshot is from before its writes: its UpdateStatus is the one the rollout replaces.
        if (h) this.following.set(h.service, { stack: h.stack, revision: result.revision, before: h.update?.startedAt, since: now, started: false });
      }
    }
    for (const h of result.health) {
      const view = this.last.get(h.service);
      if (view) h.rollout = view;
    }
    this.healthChanges(result);
  }

  /**
   * rolledBack says whether swarm rolled back warden's last rollout of `service`, and at which revision;
   * `update` is its UpdateStatus as the pass in progress reads it (default: what the last pass told).
   */
  rolledBack(service: string, update?: KeptServiceHealth['update']): RolledBack | undefined {
    // The pass that first finds a rollback computes health before it tells this tracker of it.
    const f = this.following.get(service);
    if (f && update && ENDS[update.state] === 'rolled_back' && update.startedAt !== f.before) {
      return { revision: f.revision ?? 'unknown', reason: this.words(service, f, update) };
    }
    const view = this.last.get(service);
    return view?.result === 'rolled_back' ? { revision: view.revision ?? 'unknown', reason: view.reason } : undefined;
  }

  // One followed write, one pass later: not started yet (or never: forgotten), under way, or ended.
  private follow(service: string, f: Followed, h: KeptServiceHealth, now: number): void {
    const u = h.update;
    if (!u || (!f.started && u.startedAt === f.before)) {
      if (now - f.since > ROLLOUT_START_MS) this.following.delete(service);
      return;
    }
    f.started = true;
    const end = ENDS[u.state];
    if (end === undefined) {
      this.last.set(service, { result: 'updating', ...revisionOf(f), reason: u.message || `update ${u.state}`, at: u.startedAt });
      return;
    }
    this.following.delete(service);
    const view: RolloutView = { result: end, ...revisionOf(f), reason: this.words(service, f, u), at: u.completedAt || u.startedAt };
    if (u.state === 'rollback_started' && u.message) this.why.set(service, { revision: f.revision, reason: u.message });
    this.last.set(service, view);
    this.ended(service, f, view);
  }

  // A rollout that ended: counted, logged (and audited when swarm undid warden's change), told.
  private ended(service: string, f: Followed, view: RolloutView): void {
    const { metrics, logger } = this.opts;
    metrics.rollouts.inc({ stack: f.stack, service, result: view.result });
    const fields = { object: service, stack: f.stack, revision: f.revision, result: view.result, reason: view.reason };
    logger.info(fields, 'rollout ended');
    // The audit trail of warden's changes ("corrected drift") gets its undoing: swarm put the previous spec back.
    if (view.result === 'rolled_back') logger.warn({ ...fields, audit: 'rolled-back' }, 'swarm rolled back warden\'s change; the flapping hold keeps warden from applying it again: fix the file');
    const key = `${view.result}\0${f.revision ?? ''}`;
    if (this.said.get(service) === key) return;
    this.said.set(service, key);
    this.opts.notify?.({
      event: view.result === 'completed' ? 'rollout-completed' : 'rollout-failed',
      object: service, ...(f.stack ? { stack: f.stack } : {}), reason: view.reason, ...(f.revision !== undefined ? { revision: f.revision } : {}),
    });
  }

  // The engine's words for how a rollout ended; see `why`.
  private words(service: string, f: Followed, u: NonNullable<KeptServiceHealth['update']>): string {
    const earlier = this.why.get(service);
    if (u.state === 'rollback_completed' && earlier && earlier.revision === f.revision) return earlier.reason;
    return u.message || u.state;
  }

  // degraded once per spell, recovered when it ends healthy. A standby keeps no spell: on taking over it
  // tells what is true then, once.
  private healthChanges(result: PassResult): void {
    if (!result.leader) {
      this.degraded.clear();
      return;
    }
    const kept = new Set<string>();
    for (const h of result.health ?? []) {
      kept.add(h.service);
      const stack = h.stack ? { stack: h.stack } : {};
      if (h.health === 'degraded' && !this.degraded.has(h.service)) {
        this.degraded.add(h.service);
        this.opts.notify?.({ event: 'degraded', object: h.service, ...stack, health: h.health, reason: h.reason });
      } else if (h.health === 'healthy' && this.degraded.delete(h.service)) {
        this.opts.notify?.({ event: 'recovered', object: h.service, ...stack, health: h.health, reason: `running ${h.running}/${h.desired}` });
      }
    }
    for (const s of this.degraded) if (!kept.has(s)) this.degraded.delete(s);
  }
}

function revisionOf(f: Followed): { revision?: string } {
  return f.revision !== undefined ? { revision: f.revision } : {};
}
