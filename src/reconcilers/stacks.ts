// The stacks reconciler: stacks with `deploy: true` (contract §2, "Stacks"). It deploys each stack as
// `docker stack deploy` would (networks, secrets and configs first, then services) and keeps it: an object
// that is missing is created, a service whose live spec differs in meaning from the file's is updated
// (stack deploy rewrites every service on every deploy; warden writes only what differs), a hand edit is
// reverted, configs and secrets rotate by content hash and the old ones go once no service uses them,
// and with `prune` what the file no longer has is removed, at most half of a stack's services at once.
// Pure: the engine's objects, and the digests of images to resolve, were read before the pass.
import { createHash } from 'node:crypto';
import { familiarImage, isContentName } from '../desired-state/compose/convert.js';
import { diffServiceSpecs, normalizeServiceSpec, type FieldDiff } from '../desired-state/compose/normalize.js';
import { withoutIds } from '../desired-state/compose/references.js';
import { LABEL_CONTENT_HASH, LABEL_IMAGE, LABEL_NAMESPACE, type DesiredStack, type StackFileObject } from '../desired-state/compose/types.js';
import type { DesiredService, DesiredState } from '../desired-state/types.js';
import type { NetworkCreateSpec, ServiceSpec, SwarmConfig, SwarmNetwork, SwarmSecret, SwarmService } from '../docker/port.js';
import { isIgnored, type Action, type Drift, type Plan, type Reconciler, type StackObjectState, type StackObservation } from './types.js';

type Obj = Record<string, unknown>;

/** imagesToResolve lists the images (as the files write them) whose digests a pass must ask the registry for. */
export function imagesToResolve(desired: DesiredState, services: readonly SwarmService[]): string[] {
  const out = new Set<string>();
  for (const stack of desired.stacks ?? []) {
    if (stack.resolveImage === 'never') continue;
    for (const s of stack.services) {
      const live = services.find((l) => l.name === s.name);
      // changed: only an image that differs from what the live service was deployed from.
      if (stack.resolveImage === 'always' || live?.spec.Labels?.[LABEL_IMAGE] !== s.image) out.add(s.image);
    }
  }
  return [...out];
}

/** stacks deploys and keeps every stack with `deploy: true`. */
export const stacks: Reconciler<'stacks'> = {
  id: 'stacks',
  actions: ['create-network', 'create-file-object', 'label-secret', 'create-service', 'update-service', 'remove-stack-object'],
  plan(desired, observed) {
    const plan: Plan & { drift: Drift[]; actions: Action[]; objects: StackObjectState[] } = { drift: [], actions: [], objects: [] };
    if (!desired.stacks || desired.stacks.length === 0) return plan;
    const objects = observed.stackObjects;
    if (!objects) {
      for (const stack of desired.stacks) plan.drift.push({ object: stack.name, message: 'the stack\'s networks, configs and secrets were not read this pass' });
      return plan;
    }
    for (const stack of desired.stacks) planStack(stack, desired, observed.services, objects, plan);
    return plan;
  },
};

interface Collector {
  drift: Drift[];
  actions: Action[];
  objects: StackObjectState[];
  blocked?: Plan['blocked'];
}

function base(object: string, before: unknown, after: unknown, ignored = false): { reconciler: 'stacks'; object: string; before: unknown; after: unknown; disruptive: false; ignored: boolean } {
  return { reconciler: 'stacks', object, before, after, disruptive: false, ignored };
}

function planStack(stack: DesiredStack, desired: DesiredState, services: readonly SwarmService[], seen: StackObservation, out: Collector): void {
  const ignoreLabel = desired.policy.ignoreLabel;
  const state = (kind: StackObjectState['kind'], name: string, s: StackObjectState['state'], extra: Partial<StackObjectState> = {}): void => {
    out.objects.push({ stack: stack.name, kind, name, state: s, ...extra });
  };
  const networksByName = new Map(seen.networks.filter((n) => n.scope === 'swarm').map((n) => [n.name, n]));
  const external = (name: string): boolean => networksByName.has(name) || !userDefinedNetwork(name);
  const networkNames = new Map(seen.networks.map((n) => [n.id, n.name]));
  // What a service cannot be deployed without, when it is missing and warden will not create it.
  const unavailable = new Set<string>();

  for (const net of stack.networks) {
    const live = networksByName.get(net.name);
    if (net.external) {
      if (external(net.name)) {
        state('network', net.name, 'in_sync', live ? {} : { note: 'not user-defined: every node has it' });
      } else {
        unavailable.add(`network:${net.name}`);
        out.drift.push({ object: net.name, message: `external network ${net.name} is missing: create it (swarm-scoped) before the stack's services can be deployed` });
        state('network', net.name, 'missing', { note: 'external: warden does not create it' });
      }
      continue;
    }
    if (!live) {
      out.drift.push({ object: net.name, message: 'network is missing' });
      out.actions.push({ kind: 'create-network', spec: net.spec!, ...base(net.name, undefined, { driver: net.spec!.Driver }) });
      state('network', net.name, 'missing');
      continue;
    }
    const differs = networkDifference(net.spec!, live);
    if (differs) {
      out.drift.push({ object: net.name, message: `network differs (${differs}); swarm cannot change a network: remove it and the services on it to recreate it` });
      state('network', net.name, 'drift', { note: differs });
    } else {
      state('network', net.name, 'in_sync');
    }
  }

  // Configs and secrets: the name each desired one has on the engine (an adopted stack deploy one keeps its name).
  const effective = new Map<string, string>();
  for (const [kind, list, live] of [['secret', stack.secrets, seen.secrets], ['config', stack.configs, seen.configs]] as const) {
    for (const o of list) {
      const name = fileObjectName(stack, o, live as ReadonlyArray<SwarmConfig | SwarmSecret>);
      effective.set(`${kind}:${o.name}`, name.name);
      if (name.problem) {
        out.drift.push({ object: name.name, message: name.problem });
        state(kind, name.name, name.missing ? 'missing' : 'drift', { note: name.problem });
        if (name.missing) unavailable.add(`${kind}:${o.name}`);
        continue;
      }
      if (name.adopt) {
        // Written once: from then on the label says what content the file had when the secret was adopted,
        // and a change in the file is a new secret, as for warden's own.
        const note = `made by docker stack deploy: taken as holding the file's content, which is recorded (label ${LABEL_CONTENT_HASH}) so that a later change rolls out`;
        out.drift.push({ object: name.name, message: note });
        out.actions.push({ kind: 'label-secret', id: name.adopt.id, labels: { [LABEL_CONTENT_HASH]: o.hash! }, ...base(name.name, { labels: {} }, { labels: { [LABEL_CONTENT_HASH]: o.hash!.slice(0, 12) } }) });
        state(kind, name.name, 'drift', { note });
        continue;
      }
      if (!name.missing) {
        state(kind, name.name, 'in_sync');
        continue;
      }
      out.drift.push({ object: o.name, message: `${kind} is missing` });
      const spec = { Name: o.name, Labels: o.labels, Data: o.data ?? '', ...(o.templating ? { Templating: o.templating } : {}), ...(o.driver ? { Driver: o.driver } : {}) };
      // Secret values never leave warden but for the engine: before/after name the object only.
      out.actions.push({ kind: 'create-file-object', objectKind: kind, spec, ...base(o.name, undefined, { name: o.name, ...(o.hash ? { sha256: o.hash.slice(0, 12) } : {}) }) });
      state(kind, o.name, 'missing');
    }
  }

  const overrides = new Map((desired.services ?? []).filter((s) => s.origin === 'services').map((s) => [s.name, s]));
  const liveByName = new Map(services.map((s) => [s.name, s]));
  const wanted = new Set(stack.services.map((s) => s.name));
  const ownNetworks = (spec: ServiceSpec): NetworkCreateSpec[] => {
    const targets = new Set(((spec.TaskTemplate?.Networks as Obj[] | undefined) ?? []).map((n) => String(n.Target)));
    return stack.networks.flatMap((n) => (!n.external && n.spec && targets.has(n.name) ? [n.spec] : []));
  };
  for (const s of stack.services) {
    const spec = desiredSpec(s.spec, overrides.get(s.name), effective);
    const needs = dependencies(spec).filter((d) => unavailable.has(d));
    if (needs.length > 0) {
      out.drift.push({ object: s.name, message: `cannot be deployed without ${needs.join(', ').replace(/:/g, ' ')}` });
      state('service', s.name, liveByName.has(s.name) ? 'drift' : 'missing', { note: `waits for ${needs.join(', ')}` });
      continue;
    }
    const live = liveByName.get(s.name);
    if (!live) {
      pinImage(spec, s.image, stack, undefined, seen);
      out.drift.push({ object: s.name, message: 'service is missing' });
      out.actions.push({ kind: 'create-service', spec, image: s.image, networks: ownNetworks(spec), ...base(s.name, undefined, { image: imageOf(spec) }) });
      state('service', s.name, 'missing');
      continue;
    }
    if (live.labels[LABEL_NAMESPACE] !== stack.name) {
      const note = `a service ${s.name} exists outside the stack (no ${LABEL_NAMESPACE}=${stack.name} label): warden leaves it alone; remove it to let the stack deploy its own`;
      out.drift.push({ object: s.name, message: note });
      state('service', s.name, 'drift', { note });
      continue;
    }
    if (modeKind(live.spec) !== modeKind(spec)) {
      const note = `mode ${modeKind(live.spec)} cannot become ${modeKind(spec)} (the engine refuses it): remove the service to let warden create it anew`;
      out.drift.push({ object: s.name, message: note });
      state('service', s.name, 'drift', { note });
      continue;
    }
    pinImage(spec, s.image, stack, live, seen);
    // A forced restart's counter is kept, as stack deploy keeps it.
    if (live.spec.TaskTemplate?.ForceUpdate !== undefined) spec.TaskTemplate = { ...spec.TaskTemplate, ForceUpdate: live.spec.TaskTemplate.ForceUpdate };
    const fields = diffServiceSpecs(normalizeServiceSpec(withoutIds(live.spec, networkNames)), normalizeServiceSpec(spec));
    if (fields.length === 0) {
      state('service', s.name, 'in_sync');
      continue;
    }
    const ignored = isIgnored(live.labels, ignoreLabel);
    const restarts = fields.some((f) => f.restarts);
    if (!ignored) out.drift.push({ object: s.name, message: describeFields(fields, modeKind(spec).endsWith('job')) });
    out.actions.push({
      kind: 'update-service', serviceId: live.id, spec, image: s.image, networks: ownNetworks(spec), fields, restarts,
      ...base(s.name, summarize(fields, 'live'), summarize(fields, 'desired'), ignored),
    });
    state('service', s.name, 'drift', { fields });
  }

  // What the stack has on the engine and the file no longer does.
  const extras = services.filter((l) => l.labels[LABEL_NAMESPACE] === stack.name && !wanted.has(l.name));
  for (const e of extras) state('service', e.name, 'extra');
  const stackServices = services.filter((l) => l.labels[LABEL_NAMESPACE] === stack.name).length;
  if (extras.length > 0 && !stack.prune) {
    for (const e of extras) out.drift.push({ object: e.name, message: `service is not in ${stack.file} (prune is off: left alone)` });
  } else if (extras.length > 0 && extras.length * 2 > stackServices) {
    const message = `held: pruning stack ${stack.name} would remove ${extras.length} of its ${stackServices} services at once (${extras.map((e) => e.name).join(', ')}); ` +
      'remove at most half per revision, or remove them by hand (docker service rm)';
    for (const e of extras) out.drift.push({ object: e.name, message: 'service is not in the file; its removal is held (cap)' });
    out.blocked = { reason: 'cap', message };
  } else {
    for (const e of extras) {
      const ignored = isIgnored(e.labels, ignoreLabel);
      if (!ignored) out.drift.push({ object: e.name, message: `service is not in ${stack.file}: pruned` });
      out.actions.push({ kind: 'remove-stack-object', objectKind: 'service', id: e.id, ...base(e.name, { image: e.image }, undefined, ignored) });
    }
  }

  // Networks, configs and secrets of the stack that nothing wanted uses: rotated configs and secrets always
  // go (warden made them for this stack, or adopted stack deploy's `<stack>_<key>` and labelled it with its
  // content hash), the rest only with prune. An object a live service still uses
  // waits for the next pass.
  const used = usedObjects(services.filter((l) => l.labels[LABEL_NAMESPACE] === stack.name || wanted.has(l.name)));
  const keep = new Set<string>([
    ...stack.networks.map((n) => `network:${n.name}`),
    ...[...effective].map(([k, v]) => `${k.split(':')[0]}:${v}`),
  ]);
  const leftovers: Array<{ kind: 'network' | 'config' | 'secret'; id: string; name: string; labels: Record<string, string> }> = [
    ...seen.networks.filter((n) => n.scope === 'swarm').map((n) => ({ kind: 'network' as const, id: n.id, name: n.name, labels: n.labels })),
    ...seen.configs.map((c) => ({ kind: 'config' as const, id: c.id, name: c.name, labels: c.labels })),
    ...seen.secrets.map((c) => ({ kind: 'secret' as const, id: c.id, name: c.name, labels: c.labels })),
  ];
  for (const o of leftovers) {
    if (o.labels[LABEL_NAMESPACE] !== stack.name || keep.has(`${o.kind}:${o.name}`)) continue;
    const rotated = o.kind !== 'network' && o.labels[LABEL_CONTENT_HASH] !== undefined &&
      (o.kind === 'config' ? stack.configs : stack.secrets).some((d) => !d.fixedName && (isContentName(o.name, stack.name, d.key) || o.name === `${stack.name}_${d.key}`));
    state(o.kind, o.name, 'extra');
    if (!rotated && !stack.prune) continue;
    if (used.has(o.kind === 'network' ? `network:${o.id}` : `${o.kind}:${o.id}`)) continue;
    out.actions.push({ kind: 'remove-stack-object', objectKind: o.kind, id: o.id, ...base(o.name, { name: o.name }, undefined) });
  }
}

// docker/cli's validateExternalNetworks checks only user-defined networks (NetworkMode.IsUserDefined):
// default, bridge, host, none and container:<id> exist on every node as local networks.
function userDefinedNetwork(name: string): boolean {
  return !['default', 'bridge', 'host', 'none'].includes(name) && !name.startsWith('container:');
}

// A network cannot be updated; say what differs in what the file asks for (engine-set options aside).
function networkDifference(spec: NonNullable<DesiredStack['networks'][number]['spec']>, live: SwarmNetwork): string | undefined {
  const diffs: string[] = [];
  if (spec.Driver !== live.driver) diffs.push(`driver ${live.driver}, wants ${spec.Driver}`);
  if ((spec.Internal ?? false) !== live.internal) diffs.push(`internal ${live.internal}`);
  if ((spec.Attachable ?? false) !== live.attachable) diffs.push(`attachable ${live.attachable}`);
  for (const [k, v] of Object.entries(spec.Options ?? {})) if (live.options[k] !== v) diffs.push(`option ${k}=${live.options[k] ?? '(unset)'}, wants ${v}`);
  for (const [k, v] of Object.entries(spec.Labels)) if (live.labels[k] !== v) diffs.push(`label ${k}=${live.labels[k] ?? '(unset)'}, wants ${v}`);
  for (const c of spec.IPAM?.Config ?? []) if (!live.ipam.config.some((l) => l.subnet === c.Subnet)) diffs.push(`subnet ${c.Subnet} missing`);
  return diffs.length > 0 ? diffs.join('; ') : undefined;
}

// The name a config or secret has on the engine: its own when it exists; stack deploy's `<stack>_<key>`
// when a stack deployed by the docker CLI made it with the same content (configs are compared; a secret
// cannot be read back, so one without warden's hash label is taken as holding the file's content, and
// `adopt` asks for that hash to be recorded on it: without it, a later change of the file would find the
// same unlabelled secret and be taken as deployed); otherwise it is missing.
function fileObjectName(
  stack: DesiredStack,
  o: StackFileObject,
  live: ReadonlyArray<SwarmConfig | SwarmSecret>,
): { name: string; missing: boolean; problem?: string; adopt?: { id: string } } {
  const byName = new Map(live.map((l) => [l.name, l]));
  const found = byName.get(o.name);
  if (o.external) {
    return found ? { name: o.name, missing: false } : { name: o.name, missing: true, problem: `external ${o.kind} ${o.name} is missing: create it before the stack's services can be deployed` };
  }
  if (found) {
    if (o.fixedName && o.hash !== undefined) {
      const liveHash = o.kind === 'config' ? sha256OfBase64((found as SwarmConfig).data) : found.labels[LABEL_CONTENT_HASH];
      if (liveHash !== undefined && liveHash !== o.hash) {
        return {
          name: o.name, missing: false,
          problem: `${o.kind} ${o.name} exists with other content, and its name is fixed by name: in the file: swarm cannot change a ${o.kind}'s content; ` +
            'drop name: (warden then names it by content) or give a new name',
        };
      }
    }
    return { name: o.name, missing: false };
  }
  if (!o.fixedName) {
    const cli = byName.get(`${stack.name}_${o.key}`);
    if (cli && cli.labels[LABEL_NAMESPACE] === stack.name) {
      if (o.kind === 'config' && (cli as SwarmConfig).data === o.data) return { name: cli.name, missing: false };
      if (o.kind === 'secret') {
        const recorded = cli.labels[LABEL_CONTENT_HASH];
        if (recorded === undefined && o.hash !== undefined) return { name: cli.name, missing: false, adopt: { id: cli.id } };
        if (recorded === o.hash) return { name: cli.name, missing: false };
      }
    }
  }
  return { name: o.name, missing: true };
}

function sha256OfBase64(data: string): string {
  return createHash('sha256').update(Buffer.from(data, 'base64')).digest('hex');
}

// The file's spec with what warden must add: `services` entries' replicas and placement, and the names
// configs and secrets have on the engine.
function desiredSpec(spec: ServiceSpec, override: DesiredService | undefined, effective: ReadonlyMap<string, string>): ServiceSpec {
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

function dependencies(spec: ServiceSpec): string[] {
  const c = spec.TaskTemplate?.ContainerSpec as Obj | undefined;
  return [
    ...((spec.TaskTemplate?.Networks as Obj[] | undefined) ?? []).map((n) => `network:${String(n.Target)}`),
    ...((c?.Secrets as Obj[] | undefined) ?? []).map((r) => `secret:${String(r.SecretName)}`),
    ...((c?.Configs as Obj[] | undefined) ?? []).map((r) => `config:${String(r.ConfigName)}`),
  ];
}

function usedObjects(services: readonly SwarmService[]): Set<string> {
  const used = new Set<string>();
  for (const s of services) {
    const c = s.spec.TaskTemplate?.ContainerSpec as Obj | undefined;
    for (const n of (s.spec.TaskTemplate?.Networks as Obj[] | undefined) ?? []) used.add(`network:${String(n.Target)}`);
    for (const r of (c?.Secrets as Obj[] | undefined) ?? []) used.add(`secret:${String(r.SecretID)}`);
    for (const r of (c?.Configs as Obj[] | undefined) ?? []) used.add(`config:${String(r.ConfigID)}`);
  }
  return used;
}

function modeKind(spec: ServiceSpec): string {
  const m = spec.Mode ?? {};
  return m.Global ? 'global' : m.ReplicatedJob ? 'replicated-job' : m.GlobalJob ? 'global-job' : 'replicated';
}

function imageOf(spec: ServiceSpec): string {
  return String(spec.TaskTemplate?.ContainerSpec?.Image ?? '');
}

// The image a write sends, as stack deploy decides it: an unchanged image (the live service's label says
// the file had it already) keeps the live reference, digest included, unless resolveImage is always; an
// image to resolve is pinned to the digest the registry gave (and its platforms), when it gave one.
function pinImage(spec: ServiceSpec, image: string, stack: DesiredStack, live: SwarmService | undefined, seen: StackObservation): void {
  const c = spec.TaskTemplate!.ContainerSpec!;
  const unchanged = live !== undefined && live.spec.Labels?.[LABEL_IMAGE] === image;
  const resolved = stack.resolveImage === 'never' ? undefined : seen.images.get(image);
  if (unchanged && (stack.resolveImage !== 'always' || !resolved)) {
    c.Image = live.spec.TaskTemplate?.ContainerSpec?.Image ?? c.Image;
    const platforms = live.spec.TaskTemplate?.Placement?.Platforms;
    if (platforms !== undefined) spec.TaskTemplate = { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Platforms: platforms } };
    return;
  }
  if (!resolved || !resolved.digest) return;
  const tagged = familiarImage(image);
  c.Image = tagged.includes('@') ? tagged : `${tagged}@${resolved.digest}`;
  const platforms = resolved.platforms.map((p) => ({ Architecture: p.architecture.toLowerCase() === 'arm' ? '' : p.architecture, OS: p.os }));
  if (platforms.length > 0) spec.TaskTemplate = { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Platforms: platforms } };
}

// A job runs again on any update (swarmkit bumps its JobIteration): the message says so, not just "restart".
function describeFields(fields: FieldDiff[], job: boolean): string {
  const names = fields.map((f) => f.field);
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '');
  return `spec differs: ${shown}${job ? ' (the job runs again)' : fields.some((f) => f.restarts) ? ' (tasks restart)' : ' (no restart)'}`;
}

// before/after for the log line: the differing fields only, secret-free (specs name secrets, never hold them).
function summarize(fields: FieldDiff[], side: 'live' | 'desired'): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f.field, f[side]]));
}
