// The safety rules that stand between a planned action and the engine: policy mode, the ignore label, the
// disruptive window, the per-pass cap, flapping and the backoff after refusals. Pure bookkeeping over a
// clock reading, so that the rules are tested without an engine or real time.
import { createTask } from 'node-cron';
import type { DesiredService, DesiredState, PolicyMode } from '../desired-state/types.js';
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
  reconciler: string;
  object: string;
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
  private readonly corrections = new Map<string, { reconciler: string; object: string; at: number[] }>();
  private readonly flapping = new Map<string, Hold>();
  private readonly refused = new Map<string, Hold>();
  private desired: DesiredState | undefined;

  constructor(private readonly flap: FlapOptions = DEFAULT_FLAP) {}

  /**
   * onDesired takes a newly loaded desired state. Holds belong to objects: an object's flapping hold,
   * refusal backoffs and count of recent corrections are forgotten only when what the file asks of that
   * object, for that reconciler, changed (see desiredFingerprint), since the operator may have fixed the
   * cause there. A change elsewhere (another service, another file of the repository) leaves them.
   */
  onDesired(desired: DesiredState): void {
    const previous = this.desired;
    this.desired = desired;
    if (!previous) return;
    const changed = new Map<string, boolean>();
    const differs = (reconciler: string, object: string): boolean => {
      const key = `${reconciler}\u0000${object}`;
      let d = changed.get(key);
      if (d === undefined) {
        d = desiredFingerprint(previous, reconciler, object) !== desiredFingerprint(desired, reconciler, object);
        changed.set(key, d);
      }
      return d;
    };
    for (const map of [this.flapping, this.refused, this.corrections]) {
      for (const [key, v] of map) if (differs(v.reconciler, v.object)) map.delete(key);
    }
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
    const recent = (this.corrections.get(key)?.at ?? []).filter((t) => t > now - this.flap.windowMs);
    recent.push(now);
    const target = { reconciler: action.reconciler, object: action.object };
    this.corrections.set(key, { ...target, at: recent });
    if (recent.length < this.flap.threshold) return undefined;
    const previous = this.flapping.get(key);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, this.flap.maxBackoffMs) : this.flap.backoffMs;
    const why = `corrected ${recent.length} times in ${Math.round(this.flap.windowMs / 60_000)} min: something else keeps changing it back`;
    this.flapping.set(key, { ...target, until: now + backoffMs, backoffMs, why });
    this.corrections.set(key, { ...target, at: [] });
    return { key, reason: 'flapping', until: new Date(now + backoffMs).toISOString(), why };
  }

  /** recordRefusal notes an action the engine refused; the same action waits, doubling, before another try. */
  recordRefusal(action: Action, now: number, why: string): HeldObject {
    const key = actionKey(action);
    const previous = this.refused.get(key);
    const backoffMs = previous ? Math.min(previous.backoffMs * 2, REFUSAL_BACKOFF_MS.max) : REFUSAL_BACKOFF_MS.first;
    this.refused.set(key, { reconciler: action.reconciler, object: action.object, until: now + backoffMs, backoffMs, why });
    return { key, reason: 'backoff', until: new Date(now + backoffMs).toISOString(), why };
  }

  /** holdWhy says why `action` is on hold at `now` (flapping, else backoff); undefined when it is not. */
  holdWhy(action: Action, now: number): string | undefined {
    const flap = this.flapping.get(objectKey(action));
    if (flap && flap.until > now) return flap.why;
    const refused = this.refused.get(actionKey(action));
    return refused && refused.until > now ? refused.why : undefined;
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

/** MassScaleDown is a held mass scale-down: what to say, and which actions it holds. */
export interface MassScaleDown {
  message: string;
  holds(action: Action): boolean;
}

/** ScaledService is what massScaleDown reads of a live service. */
export type ScaledService = { id: string; mode: string; replicas: number | undefined; labels?: Record<string, string> };

const NAMESPACE = 'com.docker.stack.namespace';

/**
 * massScaleDown tells whether a plan would scale down too much at once: more than half of the running
 * replicated services to 0 (at least two), or, for a stack's updates, more than half of a stack's running
 * services to fewer replicas (at least two: an env file with REPLICAS=0, a `deploy.replicas` dropped). That
 * is what a broken or hostile revision looks like far more often than an intended shutdown. Such actions are
 * held as `cap`, with the returned message; a person who means it does it in steps (at most half of the
 * services per revision) or by hand.
 */
export function massScaleDown(actions: readonly Action[], services: readonly ScaledService[]): MassScaleDown | undefined {
  const running = new Map(services.filter((s) => s.mode === 'replicated' && (s.replicas ?? 0) > 0).map((s) => [s.id, s]));
  const held = new Set<Action>();
  const messages: string[] = [];
  const toZero = actions.filter((a) => a.kind === 'scale-service' && a.replicas === 0 && !a.ignored && running.has(a.serviceId));
  if (toZero.length >= 2 && toZero.length * 2 > running.size) {
    for (const a of toZero) held.add(a);
    messages.push(`held: this desired state would scale ${toZero.length} of ${running.size} running services to 0 at once; ` +
      'if that is meant, scale down at most half of them per revision (or by hand)');
  }
  const byStack = new Map<string, Action[]>();
  for (const a of actions) {
    if (a.kind !== 'update-service' || a.ignored) continue;
    const live = running.get(a.serviceId);
    const stack = live?.labels?.[NAMESPACE];
    if (!live || stack === undefined || a.spec.Mode?.Replicated === undefined) continue;
    // An absent Replicas means 1, as the engine reads it.
    if ((a.spec.Mode.Replicated.Replicas ?? 1) < (live.replicas ?? 0)) byStack.set(stack, [...(byStack.get(stack) ?? []), a]);
  }
  for (const [stack, lowered] of byStack) {
    const size = [...running.values()].filter((s) => s.labels?.[NAMESPACE] === stack).length;
    if (lowered.length < 2 || lowered.length * 2 <= size) continue;
    for (const a of lowered) held.add(a);
    messages.push(`held: stack ${stack} would lower the replicas of ${lowered.length} of its ${size} running services at once ` +
      `(${lowered.map((a) => a.object).join(', ')}); if that is meant, lower at most half of them per revision (or by hand)`);
  }
  return messages.length === 0 ? undefined : { message: messages.join('\n'), holds: (a) => held.has(a) };
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

/**
 * desiredFingerprint is what the desired state asks of one object for one reconciler, as a string that
 * changes exactly when that changes: a service's entry (its replicas for replicas, its placement for
 * placement, whether it is rebalanced for rebalance, its dependsOn and the registry for ordering), a
 * volume's entry by path, a stack's object by what its stack's file asks of it. Nodes are matched by selectors, and managers are chosen among all nodes, so for
 * those two any change of their section counts for every object. A reconciler not known here (a new one)
 * gets the whole desired state: any new revision clears its holds, as all holds were cleared before.
 */
export function desiredFingerprint(desired: DesiredState, reconciler: string, object: string): string {
  const service = (): DesiredService | undefined => desired.services?.find((s) => s.name === object);
  switch (reconciler) {
    case 'managers':
      return JSON.stringify(desired.managers ?? null);
    case 'nodes':
      return JSON.stringify(desired.nodes ?? null);
    case 'replicas':
      return JSON.stringify(service()?.replicas ?? null);
    case 'placement':
      return JSON.stringify(service()?.placement ?? null);
    case 'rebalance': {
      const s = service();
      return JSON.stringify(s ? (s.rebalance ?? desired.policy.rebalance) : null);
    }
    case 'ordering':
      return JSON.stringify([service()?.dependsOn ?? null, desired.registry ?? null]);
    case 'volumes':
      return JSON.stringify(desired.volumes?.find((v) => v.path === object) ?? null);
    case 'stacks':
      return stackFingerprint(desired, object);
    default:
      return JSON.stringify(desired);
  }
}

// What a stack's file asks of one object: a service's converted spec and image (env and env files are
// already in it) with its `services` entry, a network, config or secret by name (content by hash only),
// and the stack's own settings. An object the file no longer has: the stack's settings (prune) alone.
function stackFingerprint(desired: DesiredState, object: string): string {
  const stack = desired.stacks?.find((st) => object.startsWith(`${st.name}_`) ||
    [...st.networks, ...st.configs, ...st.secrets].some((o) => o.name === object));
  if (!stack) return JSON.stringify(null);
  const service = stack.services.find((s) => s.name === object);
  const entry = desired.services?.find((s) => s.name === object && s.origin === 'services');
  const network = stack.networks.find((n) => n.name === object);
  const file = [...stack.configs, ...stack.secrets].filter((o) => o.name === object || `${stack.name}_${o.key}` === object).map(({ data: _data, ...rest }) => rest);
  return JSON.stringify([stack.name, stack.prune, stack.resolveImage, service ?? null, entry ?? null, network ?? null, file]);
}

function objectKey(action: Action): string {
  return `${action.reconciler}/${action.object}`;
}

function actionKey(action: Action): string {
  return `${action.reconciler}/${action.object}/${action.kind}`;
}
