// The soak's schedule of faults, drawn from a seed before anything runs: when each fault starts, its
// kind, how long it lasts, and a number that picks its target among the candidates of the moment. The
// same seed gives the same schedule; which node a pick lands on can still differ between runs where the
// engine itself differs (who leads after an election, whether warden promoted a worker), and the
// engine's timing always varies.
import { LAB_NODES, SCALED, desiredLabels, type ScaledService } from './desired.js';
import { Random } from './random.js';

/** FaultKind is one kind of fault the soak injects. */
export type FaultKind =
  | 'node-stop'
  | 'leader-stop'
  | 'registry-down'
  | 'manual-scale'
  | 'label-edit'
  | 'volume-edit'
  | 'competing-actor'
  | 'git-down'
  | 'git-force-push'
  | 'nas-hang'
  | 'warden-extra'
  | 'warden-restart';

/** PlannedFault is one fault of the schedule. */
export interface PlannedFault {
  /** n numbers the faults from 1, in start order. */
  n: number;
  kind: FaultKind;
  /** atMs is when it starts, after the soak's start (it may start later if what it needs is busy). */
  atMs: number;
  /** durationMs is how long it lasts (0 for an edit: it lasts until warden corrects it, or the observe deadline). */
  durationMs: number;
  /**
   * variant refines the kind: node-stop `manager|worker`; registry-down `scale-0|stop-node`; label-edit
   * `remove|change`; git-force-push `same|changed`; volume-edit `mode|owner`; warden-extra `manager|worker`
   * (the engine the extra instance is pointed at); others `-`.
   */
  variant: string;
  /** pick chooses the target among the candidates sorted by name (pick modulo their number). */
  pick: number;
  /** service is the target of manual-scale and competing-actor. */
  service?: ScaledService;
  /** delta is the change of replicas a manual scale or a competing actor makes (never below 0 replicas). */
  delta?: number;
  /** node and label are the target of label-edit. */
  node?: string;
  label?: string;
}

interface KindRule {
  weight: number;
  /** duration bounds in ms; [0, 0] for edits. */
  duration: [number, number];
  variants: readonly string[];
  /** downsManager: the fault (or this variant of it) stops a manager's engine. */
  downsManager?: (variant: string) => boolean;
  /** resource names what two faults at once must not share. */
  resource?: (f: PlannedFault) => string;
}

const S = 1_000;

/** KIND_RULES are each kind's weight, duration bounds, variants and the resource it holds. */
export const KIND_RULES: Readonly<Record<FaultKind, KindRule>> = {
  'node-stop': { weight: 4, duration: [10 * S, 90 * S], variants: ['manager', 'worker'], downsManager: (v) => v === 'manager', resource: (f) => `node-stop:${f.variant}` },
  'leader-stop': { weight: 2, duration: [10 * S, 60 * S], variants: ['-'], downsManager: () => true },
  'registry-down': { weight: 2, duration: [15 * S, 90 * S], variants: ['scale-0', 'stop-node'], resource: () => 'registry' },
  'manual-scale': { weight: 3, duration: [0, 0], variants: ['-'], resource: (f) => `service:${f.service}` },
  'label-edit': { weight: 2, duration: [0, 0], variants: ['remove', 'change'], resource: (f) => `node:${f.node}` },
  'volume-edit': { weight: 1, duration: [0, 0], variants: ['mode', 'owner'], resource: () => 'nas' },
  'competing-actor': { weight: 1, duration: [20 * S, 90 * S], variants: ['-'], resource: (f) => `service:${f.service}` },
  'git-down': { weight: 1, duration: [10 * S, 60 * S], variants: ['-'], resource: () => 'git' },
  'git-force-push': { weight: 1, duration: [0, 0], variants: ['same', 'changed'], resource: () => 'git' },
  'nas-hang': { weight: 1, duration: [10 * S, 45 * S], variants: ['-'], resource: () => 'nas' },
  'warden-extra': { weight: 1, duration: [20 * S, 90 * S], variants: ['manager', 'worker'], resource: () => 'wardens' },
  'warden-restart': { weight: 1, duration: [0, 10 * S], variants: ['-'], resource: () => 'wardens' },
};

/** FIRST_FAULT_MS is the quiet time before the first fault (default 15 s): warden's first passes, a baseline. */
export const FIRST_FAULT_MS = 15 * S;
/** GAP_MS bounds the pause between two fault starts (default 5 to 20 s). */
export const GAP_MS: [number, number] = [5 * S, 20 * S];
/** EDIT_OBSERVE_MS is how long an edit counts as in progress when planning (default 20 s): warden's time to correct it. */
export const EDIT_OBSERVE_MS = 20 * S;
/** MAX_AT_ONCE is how many faults may be in progress at once (default 2). */
export const MAX_AT_ONCE = 2;

/** plannedEnd is when a planned fault stops counting as in progress, for planning. */
export function plannedEnd(f: PlannedFault): number {
  return f.atMs + Math.max(f.durationMs, f.durationMs === 0 ? EDIT_OBSERVE_MS : 0);
}

/** conflicts tells whether `f` may not run while `other` does: a shared resource, or a second manager down. */
export function conflicts(f: PlannedFault, other: PlannedFault): boolean {
  const a = KIND_RULES[f.kind];
  const b = KIND_RULES[other.kind];
  if (a.resource && b.resource && a.resource(f) === b.resource(other)) return true;
  // At most one manager down at once, by design: the swarm of 3 survives one.
  if (a.downsManager?.(f.variant) && b.downsManager?.(other.variant)) return true;
  // Stopping the registry's node and a worker at once would leave the app tier with no node at all.
  const stopsWorker = (x: PlannedFault): boolean => (x.kind === 'node-stop' && x.variant === 'worker') || (x.kind === 'registry-down' && x.variant === 'stop-node');
  // (The NAS is a resource: the soak reads it for a volume edit, and that read would hang with it.)
  return stopsWorker(f) && stopsWorker(other);
}

/** planFaults draws the schedule of a soak of `minutes` from `seed`: faults start within the first `minutes`. */
export function planFaults(seed: number, minutes: number): PlannedFault[] {
  const rnd = new Random(seed);
  const endMs = minutes * 60_000;
  const out: PlannedFault[] = [];
  let t = FIRST_FAULT_MS - GAP_MS[0];
  for (;;) {
    t += rnd.int(GAP_MS[0], GAP_MS[1]);
    if (t >= endMs) break;
    const running = out.filter((f) => plannedEnd(f) > t);
    if (running.length >= MAX_AT_ONCE) {
      // Full: the next start comes after the first of them ends.
      t = Math.min(...running.map(plannedEnd)) - GAP_MS[0];
      continue;
    }
    // Draw the fault whole, then keep it only if it may run beside the ones in progress; otherwise draw
    // again (a bounded number of times: a seed must never loop).
    let chosen: PlannedFault | undefined;
    for (let attempt = 0; attempt < 20 && !chosen; attempt++) {
      const f = drawFault(rnd, out.length + 1, t);
      if (!running.some((r) => conflicts(f, r))) chosen = f;
    }
    if (chosen) out.push(chosen);
  }
  return out;
}

function drawFault(rnd: Random, n: number, atMs: number): PlannedFault {
  const kind = rnd.weighted((Object.keys(KIND_RULES) as FaultKind[]).map((k) => ({ item: k, weight: KIND_RULES[k].weight })));
  const rule = KIND_RULES[kind];
  const durationMs = rule.duration[1] === 0 ? 0 : Math.round(rnd.int(rule.duration[0], rule.duration[1]) / 100) * 100;
  const f: PlannedFault = { n, kind, atMs, durationMs, variant: rnd.pick(rule.variants), pick: rnd.int(0, 1_000_000) };
  if (kind === 'manual-scale' || kind === 'competing-actor') {
    f.service = rnd.pick(SCALED);
    f.delta = rnd.pick([-1, 1, 2]);
  }
  if (kind === 'label-edit') {
    f.node = rnd.pick(LAB_NODES);
    f.label = rnd.pick(Object.keys(desiredLabels(f.node)));
  }
  return f;
}

/** describeFault is one line about a planned fault, for the schedule the soak prints first. */
export function describeFault(f: PlannedFault): string {
  const at = formatOffset(f.atMs);
  const what = [
    f.kind,
    f.variant !== '-' ? f.variant : '',
    f.service ? `${f.service} ${f.delta! > 0 ? '+' : ''}${f.delta}` : '',
    f.node ? `${f.node} ${f.label}` : '',
  ].filter(Boolean).join(' ');
  return `#${String(f.n).padEnd(3)} ${at}  ${what}${f.durationMs > 0 ? `, ${(f.durationMs / 1000).toFixed(1)} s` : ''}`;
}

/** formatOffset writes ms after the start as +mm:ss.s. */
export function formatOffset(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  const m = Math.floor(abs / 60_000);
  const s = (abs % 60_000) / 1000;
  return `${sign}${String(m).padStart(2, '0')}:${s.toFixed(1).padStart(4, '0')}`;
}
