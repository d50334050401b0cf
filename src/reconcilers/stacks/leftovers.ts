// What a stack has on the engine and its file no longer does: services (removed only with prune, at most
// half of a stack's services at once), and networks, configs and secrets. Rotated configs and secrets
// always go, the rest only with prune, and none while swarm may still need it: a service of the swarm
// (any stack's, or none's) names it in its spec, or in the previous spec it would roll back to.
import { isContentName } from '../../desired-state/compose/convert.js';
import { LABEL_CONTENT_HASH, LABEL_NAMESPACE, type DesiredStack } from '../../desired-state/compose/types.js';
import type { SwarmService } from '../../docker/port.js';
import { isIgnored, type StackObservation } from '../types.js';
import { base, block, references, type Collector, type StateOf } from './common.js';

/** DEFAULT_ROLLBACK_GRACE_MS is policy.rollbackGrace's default: 10 minutes. */
export const DEFAULT_ROLLBACK_GRACE_MS = 10 * 60_000;

// Update states in which swarm is still moving between a service's spec and its previous one.
const MOVING = new Set(['updating', 'paused', 'rollback_started', 'rollback_paused']);

/** InUse is what the swarm's services still need, and when the next of them stops counting. */
export interface InUse {
  /** keys are `network:<id>`, `config:<id>` and `secret:<id>`. */
  keys: Set<string>;
  /** until is the earliest time a previous spec stops counting (ms since the epoch), when one will. */
  until?: number;
}

/**
 * inUse gathers what every service of the swarm needs: what its spec names, and what its previous spec
 * names while an update is under way, paused or rolling back, and for `graceMs` after it completed (a
 * rollback, automatic or by hand, returns to that spec; its objects must still be there). The engine
 * itself only refuses to remove what a current spec names.
 */
export function inUse(services: readonly SwarmService[], now: number, graceMs: number): InUse {
  const out: InUse = { keys: new Set() };
  for (const s of services) {
    for (const k of references(s.spec, 'id')) out.keys.add(k);
    if (!s.previousSpec) continue;
    const state = s.updateStatus?.state;
    // The later of the update's completion and the spec's last change: an update that replaced no task
    // (labels only) moves PreviousSpec too, and leaves an older UpdateStatus as it was.
    const settled = Math.max(Date.parse(s.updateStatus?.completedAt ?? '') || 0, Date.parse(s.updatedAt) || 0);
    const until = settled + graceMs;
    if ((state !== undefined && MOVING.has(state)) || until > now) {
      for (const k of references(s.previousSpec, 'id')) out.keys.add(k);
      if (state === undefined || !MOVING.has(state)) out.until = Math.min(out.until ?? Infinity, until);
    }
  }
  return out;
}

/** planExtraServices plans the stack's services that the file no longer has. */
export function planExtraServices(stack: DesiredStack, services: readonly SwarmService[], ignoreLabel: string, out: Collector, state: StateOf): void {
  const wanted = new Set(stack.services.map((s) => s.name));
  const own = services.filter((l) => l.labels[LABEL_NAMESPACE] === stack.name);
  const extras = own.filter((l) => !wanted.has(l.name));
  for (const e of extras) state('service', e.name, 'extra');
  if (extras.length === 0) return;
  if (!stack.prune) {
    for (const e of extras) out.drift.push({ object: e.name, message: `service is not in ${stack.file} (prune is off: left alone)` });
    return;
  }
  if (extras.length * 2 > own.length) {
    for (const e of extras) out.drift.push({ object: e.name, message: 'service is not in the file; its removal is held (cap)' });
    block(out, 'cap', `held: pruning stack ${stack.name} would remove ${extras.length} of its ${own.length} services at once (${extras.map((e) => e.name).join(', ')}); ` +
      'remove at most half per revision, or remove them by hand (docker service rm)');
    return;
  }
  for (const e of extras) {
    const ignored = isIgnored(e.labels, ignoreLabel);
    if (!ignored) out.drift.push({ object: e.name, message: `service is not in ${stack.file}: pruned` });
    out.actions.push({ kind: 'remove-stack-object', objectKind: 'service', id: e.id, ...base(e.name, { image: e.image }, undefined, ignored) });
  }
}

/**
 * planLeftovers plans the stack's networks, configs and secrets that nothing desired names (`keep` lists
 * `<kind>:<name>` of those it does). It returns when an object held only by a previous spec may go.
 */
export function planLeftovers(stack: DesiredStack, seen: StackObservation, used: InUse, keep: ReadonlySet<string>, out: Collector, state: StateOf): number | undefined {
  const leftovers = [
    ...seen.networks.filter((n) => n.scope === 'swarm').map((n) => ({ kind: 'network' as const, id: n.id, name: n.name, labels: n.labels })),
    ...seen.configs.map((c) => ({ kind: 'config' as const, id: c.id, name: c.name, labels: c.labels })),
    ...seen.secrets.map((c) => ({ kind: 'secret' as const, id: c.id, name: c.name, labels: c.labels })),
  ];
  let waits = false;
  for (const o of leftovers) {
    if (o.labels[LABEL_NAMESPACE] !== stack.name || keep.has(`${o.kind}:${o.name}`)) continue;
    // Rotated: a `<stack>_<key>_<hash>` warden made, or stack deploy's `<stack>_<key>` it adopted and labelled.
    const rotated = o.kind !== 'network' && o.labels[LABEL_CONTENT_HASH] !== undefined &&
      (o.kind === 'config' ? stack.configs : stack.secrets).some((d) => !d.fixedName && (isContentName(o.name, stack.name, d.key) || o.name === `${stack.name}_${d.key}`));
    if (!rotated && !stack.prune) {
      state(o.kind, o.name, 'extra');
      continue;
    }
    if (used.keys.has(`${o.kind}:${o.id}`)) {
      // Waits for the next pass: a service still names it, or may roll back to a spec that does.
      state(o.kind, o.name, 'extra', { note: 'still used by a service, or by the previous spec a service may roll back to: removed once it is not' });
      waits = true;
      continue;
    }
    state(o.kind, o.name, 'extra');
    out.actions.push({ kind: 'remove-stack-object', objectKind: o.kind, id: o.id, ...base(o.name, { name: o.name }, undefined) });
  }
  return waits ? used.until : undefined;
}
