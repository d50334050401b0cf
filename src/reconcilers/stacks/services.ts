// The stacks reconciler's services: each service of the file is created when missing and updated when its
// live spec differs in meaning from the file's (warden writes only what differs; a hand edit of any field
// is reverted). An image change across more than half of a stack's services at once is disruptive.
import { diffServiceSpecs, normalizeServiceSpec, type FieldDiff } from '../../desired-state/compose/normalize.js';
import { withoutIds } from '../../desired-state/compose/references.js';
import { LABEL_NAMESPACE, type DesiredStack, type StackService } from '../../desired-state/compose/types.js';
import { ENCRYPTED_CHANGED } from '../../desired-state/redact.js';
import type { DesiredService, DesiredState } from '../../desired-state/types.js';
import type { NetworkCreateSpec, ServiceSpec, SwarmService } from '../../docker/port.js';
import { sealFields } from '../seal.js';
import { isIgnored, type Action, type StackObservation } from '../types.js';
import { base, modeKind, references, type Collector, type Obj, type StateOf } from './common.js';
import { imageOf, pinImage } from './images.js';

const IMAGE_FIELD = 'TaskTemplate.ContainerSpec.Image';

/** ServicesInput is what planServices reads besides the stack: the pass's snapshot and what the files named. */
export interface ServicesInput {
  desired: DesiredState;
  services: readonly SwarmService[];
  seen: StackObservation;
  /** effective maps `<kind>:<name in the file>` to the config's or secret's name on the engine. */
  effective: ReadonlyMap<string, string>;
  /** unavailable lists what is missing and will not be created this pass (`<kind>:<name>`). */
  unavailable: ReadonlySet<string>;
}

/** planServices plans the services of `stack`'s file (create, update, or a note why neither). */
export function planServices(stack: DesiredStack, input: ServicesInput, out: Collector, state: StateOf): void {
  const overrides = new Map((input.desired.services ?? []).filter((s) => s.origin === 'services').map((s) => [s.name, s]));
  const liveByName = new Map(input.services.map((s) => [s.name, s]));
  const networkNames = new Map(input.seen.networks.map((n) => [n.id, n.name]));
  const ownNetworks = (spec: ServiceSpec): NetworkCreateSpec[] => {
    const targets = new Set(((spec.TaskTemplate?.Networks as Obj[] | undefined) ?? []).map((n) => String(n.Target)));
    return stack.networks.flatMap((n) => (!n.external && n.spec && targets.has(n.name) ? [n.spec] : []));
  };
  const updates: Array<Extract<Action, { kind: 'update-service' }>> = [];
  for (const s of stack.services) {
    const spec = desiredSpec(s.spec, overrides.get(s.name), input.effective);
    const needs = references(spec, 'name').filter((d) => input.unavailable.has(d));
    const live = liveByName.get(s.name);
    if (needs.length > 0) {
      out.drift.push({ object: s.name, message: `cannot be deployed without ${needs.join(', ').replace(/:/g, ' ')}` });
      state('service', s.name, live ? 'drift' : 'missing', { note: `waits for ${needs.join(', ')}` });
      continue;
    }
    if (!live) {
      pinImage(spec, s.image, stack, undefined, input.seen);
      out.drift.push({ object: s.name, message: 'service is missing' });
      out.actions.push({ kind: 'create-service', spec, image: s.image, networks: ownNetworks(spec), ...base(s.name, undefined, { image: imageOf(spec) }) });
      state('service', s.name, 'missing');
      continue;
    }
    const note = cannotUpdate(stack, live, spec);
    if (note) {
      out.drift.push({ object: s.name, message: note });
      state('service', s.name, 'drift', { note });
      continue;
    }
    pinImage(spec, s.image, stack, live, input.seen);
    const update = updateOf(s, live, spec, networkNames, input.desired, ownNetworks(spec));
    if (!update) {
      state('service', s.name, 'in_sync');
      continue;
    }
    if (!update.ignored) out.drift.push({ object: s.name, message: describeFields(update.fields, modeKind(spec).endsWith('job')) });
    out.actions.push(update);
    updates.push(update);
    state('service', s.name, 'drift', { fields: update.fields });
  }
  markImageWave(stack, updates);
}

// Why a live service cannot be updated to the file's spec, or undefined when it can.
function cannotUpdate(stack: DesiredStack, live: SwarmService, spec: ServiceSpec): string | undefined {
  if (live.labels[LABEL_NAMESPACE] !== stack.name) {
    return `a service ${spec.Name} exists outside the stack (no ${LABEL_NAMESPACE}=${stack.name} label): warden leaves it alone; remove it to let the stack deploy its own`;
  }
  if (modeKind(live.spec) !== modeKind(spec)) {
    return `mode ${modeKind(live.spec)} cannot become ${modeKind(spec)} (the engine refuses it): remove the service to let warden create it anew`;
  }
  return undefined;
}

// The update that makes `live` the file's spec, or undefined when they mean the same.
// A field that holds a value from a sops file, on either side, is marked and loses its values here, where
// it is made: no drift message, view or log line can show them (../seal.ts).
function updateOf(
  s: StackService, live: SwarmService, spec: ServiceSpec, networkNames: ReadonlyMap<string, string>, desired: DesiredState, networks: NetworkCreateSpec[],
): Extract<Action, { kind: 'update-service' }> | undefined {
  // A forced restart's counter is kept, as stack deploy keeps it.
  if (live.spec.TaskTemplate?.ForceUpdate !== undefined) spec.TaskTemplate = { ...spec.TaskTemplate, ForceUpdate: live.spec.TaskTemplate.ForceUpdate };
  const diff = diffServiceSpecs(normalizeServiceSpec(withoutIds(live.spec, networkNames)), normalizeServiceSpec(spec));
  if (diff.length === 0) return undefined;
  const fields = sealFields(diff, desired.sealed);
  return {
    kind: 'update-service', serviceId: live.id, spec, image: s.image, networks, fields, restarts: fields.some((f) => f.restarts),
    ...base(s.name, summarize(fields, 'live'), summarize(fields, 'desired'), isIgnored(live.labels, desired.policy.ignoreLabel)),
  };
}

// A new image for more than half of a stack's services at once (two at least) replaces most of what the
// stack runs in one revision: a broken build or a wrong tag takes the whole stack down. Those updates are
// disruptive, so that they wait for the disruptive window when there is one.
function markImageWave(stack: DesiredStack, updates: ReadonlyArray<Extract<Action, { kind: 'update-service' }>>): void {
  const changing = updates.filter((u) => !u.ignored && u.fields.some((f) => f.field === IMAGE_FIELD));
  if (changing.length < 2 || changing.length * 2 <= stack.services.length) return;
  for (const u of changing) u.disruptive = true;
}

/** desiredSpec is the file's spec with `services` entries' replicas and placement, and the engine's config and secret names. */
export function desiredSpec(spec: ServiceSpec, override: DesiredService | undefined, effective: ReadonlyMap<string, string>): ServiceSpec {
  const out = structuredClone(spec);
  const c = out.TaskTemplate?.ContainerSpec as Obj | undefined;
  for (const r of (c?.Secrets as Obj[] | undefined) ?? []) r.SecretName = effective.get(`secret:${String(r.SecretName)}`) ?? r.SecretName;
  for (const r of (c?.Configs as Obj[] | undefined) ?? []) r.ConfigName = effective.get(`config:${String(r.ConfigName)}`) ?? r.ConfigName;
  if (override?.replicas !== undefined && out.Mode?.Replicated) out.Mode = { Replicated: { Replicas: override.replicas } };
  if (override?.placement) {
    const p = { ...(out.TaskTemplate?.Placement ?? {}) };
    if (override.placement.constraints) p.Constraints = override.placement.constraints;
    if (override.placement.preferences) p.Preferences = override.placement.preferences.map((d) => ({ Spread: { SpreadDescriptor: d } }));
    if (override.placement.maxReplicasPerNode !== undefined) p.MaxReplicas = override.placement.maxReplicasPerNode;
    out.TaskTemplate = { ...out.TaskTemplate, Placement: p };
  }
  return out;
}

// A job runs again on any update (swarmkit bumps its JobIteration): the message says so, not just "restart".
function describeFields(fields: FieldDiff[], job: boolean): string {
  const names = fields.map((f) => f.field);
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '');
  return `spec differs: ${shown}${job ? ' (the job runs again)' : fields.some((f) => f.restarts) ? ' (tasks restart)' : ' (no restart)'}`;
}

// before/after for the log line: the differing fields only, secret-free (specs name secrets, never hold
// them; a value from a sops file is not in its field any more).
function summarize(fields: FieldDiff[], side: 'live' | 'desired'): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f.field, f.encrypted ? ENCRYPTED_CHANGED : f[side]]));
}
