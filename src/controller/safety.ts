// The safety rules that stand between a planned action and the engine: policy mode, the ignore label, the
// disruptive window, the per-pass cap, flapping and the backoff after refusals. Pure bookkeeping over a
// clock reading, so that the rules are tested without an engine or real time.
import { createTask } from 'node-cron';
import type { DesiredState, PolicyMode } from '../desired-state/types.js';
import type { Action } from '../reconcilers/types.js';
import type { SuppressReason } from './metrics.js';

/** FlapOptions say when an object is flapping: `threshold` corrections within `windowMs` (default 3 in 10 min). */
export interface FlapOptions {
  threshold: number;
  windowMs: number;
  /** backoffMs is the first pause on a flapping object (default 5 min); it doubles up to maxBackoffMs (1 h). */
  backoffMs: number;
  maxBackoffMs: number;
}

/** DEFAULT_FLAP is the default flapping rule. */
export const DEFAULT_FLAP: FlapOptions = { threshold: 3, windowMs: 10 * 60_000, backoffMs: 5 * 60_000, maxBackoffMs: 60 * 60_000 };

/** REFUSAL_BACKOFF_MS is the first pause after the engine refused an action (default 1 min, doubling to 30 min). */
export const REFUSAL_BACKOFF_MS = { first: 60_000, max: 30 * 60_000 };

interface Hold {
  until: number;
  backoffMs: number;
  why: string;
}

/** HeldObject is an object warden has stopped touching for a while, for /status. */
export interface HeldObject {
  key: string;
  reason: 'flapping' | 'backoff';
  until: string;
  why: string;
}

/** Safety decides, action by action, whether an action may be applied now. */
export class Safety {
  private readonly corrections = new Map<string, number[]>();
  private readonly flapping = new Map<string, Hold>();
  private readonly refused = new Map<string, Hold>();
  private revision: string | undefined;

  constructor(private readonly flap: FlapOptions = DEFAULT_FLAP) {}

  /** onRevision forgets holds when the desired state changes: the operator may have fixed the cause. */
  onRevision(revision: string): void {
    if (revision === this.revision) return;
    this.revision = revision;
    this.flapping.clear();
    this.refused.clear();
    this.corrections.clear();
  }

  /**
   * suppression returns why an action must not be applied now, or undefined. Order matters: the reason
   * reported is the first that holds (ignored, observe, window, flapping, backoff); the cap is the caller's.
   */
  suppression(action: Action, desired: DesiredState, now: number, dryRun: boolean): SuppressReason | undefined {
    if (action.ignored) return 'ignored';
    if (action.held !== undefined) return 'held';
    if (effectiveMode(desired, action.reconciler, dryRun) === 'observe') return 'observe';
    if (action.disruptive && desired.policy.disruptiveWindow && !inWindow(desired.policy.disruptiveWindow, now)) return 'window';
    if ((this.flapping.get(objectKey(action))?.until ?? 0) > now) return 'flapping';
    if ((this.refused.get(actionKey(action))?.until ?? 0) > now) return 'backoff';
    return undefined;
  }

  /**
   * recordCorrection notes an applied correction; it returns the hold when this correction makes the
   * object count as flapping (the caller logs it once).
   */
  recordCorrection(action: Action, now: number): HeldObject | undefined {
    const key = objectKey(action);
    const recent = (this.corrections.get(key) ?? []).filter((t) => t > now - this.flap.windowMs);
    recent.push(now);
    this.corrections.set(key, recent);
    if (recent.length < this.flap.threshold) return undefined;
    const previous = this.flapping.get(key);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, this.flap.maxBackoffMs) : this.flap.backoffMs;
    const why = `corrected ${recent.length} times in ${Math.round(this.flap.windowMs / 60_000)} min: something else keeps changing it back`;
    this.flapping.set(key, { until: now + backoffMs, backoffMs, why });
    this.corrections.set(key, []);
    return { key, reason: 'flapping', until: new Date(now + backoffMs).toISOString(), why };
  }

  /** recordRefusal notes an action the engine refused; the same action waits, doubling, before another try. */
  recordRefusal(action: Action, now: number, why: string): HeldObject {
    const key = actionKey(action);
    const previous = this.refused.get(key);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, REFUSAL_BACKOFF_MS.max) : REFUSAL_BACKOFF_MS.first;
    this.refused.set(key, { until: now + backoffMs, backoffMs, why });
    return { key, reason: 'backoff', until: new Date(now + backoffMs).toISOString(), why };
  }

  /** held lists the objects on hold at `now`. */
  held(now: number): HeldObject[] {
    const out: HeldObject[] = [];
    for (const [reason, map] of [['flapping', this.flapping], ['backoff', this.refused]] as const) {
      for (const [key, h] of map) {
        if (h.until > now) out.push({ key, reason, until: new Date(h.until).toISOString(), why: h.why });
      }
    }
    return out;
  }
}

/**
 * massScaleDown tells whether a plan would scale more than half of the running replicated services to 0
 * at once (at least two): what a broken or hostile revision looks like far more often than an
 * intended shutdown. Such scale-downs are held as `cap`, with the returned message; a person who means
 * it does it in steps (at most half of the services per revision) or by hand.
 */
export function massScaleDown(actions: readonly Action[], services: readonly { id: string; mode: string; replicas: number | undefined }[]): string | undefined {
  const running = services.filter((s) => s.mode === 'replicated' && (s.replicas ?? 0) > 0);
  const toZero = actions.filter((a) => a.kind === 'scale-service' && a.replicas === 0 && !a.ignored && running.some((s) => s.id === a.serviceId));
  if (toZero.length < 2 || toZero.length * 2 <= running.length) return undefined;
  return `held: this desired state would scale ${toZero.length} of ${running.length} running services to 0 at once; ` +
    'if that is meant, scale down at most half of them per revision (or by hand)';
}

/** effectiveMode is the mode a reconciler runs in: --dry-run, else its override, else policy.mode. */
export function effectiveMode(desired: DesiredState, reconciler: Action['reconciler'], dryRun: boolean): PolicyMode {
  if (dryRun) return 'observe';
  return desired.policy.reconcilers[reconciler] ?? desired.policy.mode;
}

/** inWindow tells whether `now` falls in a window that opens at each cron match and lasts durationMs. */
export function inWindow(window: { cron: string; durationMs: number }, now: number): boolean {
  const task = createTask(window.cron, () => undefined);
  try {
    // Walk back minute by minute over the window's length: the window opened at the latest whole minute
    // the expression matches, if that is less than durationMs ago (the process's local time zone).
    for (let t = Math.floor(now / 60_000) * 60_000; t > now - window.durationMs; t -= 60_000) {
      if (task.match(new Date(t))) return true;
    }
    return false;
  } finally {
    void task.destroy();
  }
}

function objectKey(action: Action): string {
  return `${action.reconciler}/${action.object}`;
}

function actionKey(action: Action): string {
  return `${action.reconciler}/${action.object}/${action.kind}`;
}
