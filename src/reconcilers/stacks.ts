// The stacks reconciler: stacks with `deploy: true` (contract §2, "Stacks"). It deploys each stack as
// `docker stack deploy` would (networks, secrets and configs first, then services) and keeps it: an object
// that is missing is created, a service whose live spec differs in meaning from the file's is updated
// (stack deploy rewrites every service on every deploy; warden writes only what differs), a hand edit is
// reverted, configs and secrets rotate by content hash and the old ones go once swarm no longer needs
// them, and with `prune` what the file no longer has is removed, at most half of a stack's services at once.
// Pure: the engine's objects, and the digests of images to resolve, were read before the pass.
// Its parts, in the order a pass runs them, live in ./stacks/: networks, file-objects, services, leftovers.
import type { DesiredStack } from '../desired-state/compose/types.js';
import type { DesiredState } from '../desired-state/types.js';
import type { SwarmService } from '../docker/port.js';
import { stateOf, type Collector } from './stacks/common.js';
import { planFileObjects } from './stacks/file-objects.js';
import { deployedFrom } from './stacks/images.js';
import { DEFAULT_ROLLBACK_GRACE_MS, inUse, planExtraServices, planLeftovers, type InUse } from './stacks/leftovers.js';
import { planNetworks } from './stacks/networks.js';
import { planServices } from './stacks/services.js';
import type { Plan, Reconciler, StackObservation } from './types.js';

/** imagesToResolve lists the images (as the files write them) whose digests a pass must ask the registry for. */
export function imagesToResolve(desired: DesiredState, services: readonly SwarmService[]): string[] {
  const out = new Set<string>();
  for (const stack of desired.stacks ?? []) {
    if (stack.resolveImage === 'never') continue;
    for (const s of stack.services) {
      // changed: only an image that differs from what the live service was deployed from.
      if (stack.resolveImage === 'always' || !deployedFrom(services.find((l) => l.name === s.name), s.image)) out.add(s.image);
    }
  }
  return [...out];
}

/** stacks deploys and keeps every stack with `deploy: true`. */
export const stacks: Reconciler<'stacks'> = {
  id: 'stacks',
  actions: ['create-network', 'create-file-object', 'label-secret', 'create-service', 'update-service', 'remove-stack-object'],
  plan(desired, observed, ctx) {
    const plan: Plan & Collector = { drift: [], actions: [], objects: [] };
    if (!desired.stacks || desired.stacks.length === 0) return plan;
    const objects = observed.stackObjects;
    if (!objects) {
      for (const stack of desired.stacks) plan.drift.push({ object: stack.name, message: 'the stack\'s networks, configs and secrets were not read this pass' });
      return plan;
    }
    // Built once from every service of the swarm: another stack may use this one's objects as external.
    const used = inUse(observed.services, ctx.now, desired.policy.rollbackGraceMs ?? DEFAULT_ROLLBACK_GRACE_MS);
    let wakeAt: number | undefined;
    for (const stack of desired.stacks) {
      const at = planStack(stack, desired, observed.services, objects, used, plan);
      if (at !== undefined) wakeAt = Math.min(wakeAt ?? at, at);
    }
    // An object held by a previous spec goes once its grace ends, which no event announces.
    if (wakeAt !== undefined) plan.requeueAfterMs = Math.max(0, wakeAt - ctx.now) + 1_000;
    return plan;
  },
};

// One stack, in stack deploy's order; returns when a leftover kept for a rollback may go.
function planStack(stack: DesiredStack, desired: DesiredState, services: readonly SwarmService[], seen: StackObservation, used: InUse, out: Collector): number | undefined {
  const state = stateOf(stack.name, out);
  // What a service cannot be deployed without, when it is missing and warden will not create it.
  const unavailable = new Set<string>();
  planNetworks(stack, seen.networks, out, state, unavailable);
  const effective = planFileObjects(stack, seen, out, state, unavailable);
  planServices(stack, { desired, services, seen, effective, unavailable }, out, state);
  planExtraServices(stack, services, desired.policy.ignoreLabel, out, state);
  const keep = new Set<string>([
    ...stack.networks.map((n) => `network:${n.name}`),
    ...[...effective].map(([k, v]) => `${k.split(':')[0]}:${v}`),
  ]);
  return planLeftovers(stack, seen, used, keep, out, state);
}
