// Comparing service specs by meaning. The engine keeps a spec as it was sent, and two specs that run the
// same tasks can still differ as JSON: an absent field and its default (EndpointSpec.Mode "" and "vip",
// Replicated {} and Replicas 1, a port's "" and "tcp"), empty objects (Resources {Limits: {}}), lists in
// another order (Env, constraints, mounts), an image pinned to a digest by --resolve-image, the
// ForceUpdate counter of a forced restart. These are what made stack deploy rewrite services that had
// not changed (moby/moby#30844, docker/cli#386). normalizeServiceSpec removes exactly those differences;
// diffServiceSpecs lists what is left, field by field, lists keyed by identity, with whether the tasks
// restart for it.
import type { ServiceSpec } from '../../docker/port.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Fields whose zero is not their absence: an absent one means a non-zero default (or, for the replica
// counts and Parallelism, zero is a setting of its own).
const ZERO_KEPT = new Set([
  'Mode.Replicated.Replicas',
  'Mode.ReplicatedJob.MaxConcurrent',
  'Mode.ReplicatedJob.TotalCompletions',
  'UpdateConfig.Parallelism',
  'RollbackConfig.Parallelism',
  'TaskTemplate.RestartPolicy.Delay',
  'TaskTemplate.ContainerSpec.StopGracePeriod',
]);
// Booleans whose false is not their absence (absent Init means the daemon's default).
const FALSE_KEPT = new Set(['TaskTemplate.ContainerSpec.Init']);

function clean(value: unknown, path: string): unknown {
  if (value === null || value === undefined || value === '') return undefined;
  if (value === false) return FALSE_KEPT.has(path) ? false : undefined;
  if (value === 0) return ZERO_KEPT.has(path) ? 0 : undefined;
  if (Array.isArray(value)) {
    const items = value.map((v) => clean(v, `${path}[]`)).filter((v) => v !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (isObj(value)) {
    const out: Obj = {};
    for (const k of Object.keys(value).sort()) {
      const v = clean(value[k], path === '' ? k : `${path}.${k}`);
      if (v !== undefined) out[k] = v;
    }
    // An empty mode kind is a choice of mode, not an absence.
    if (Object.keys(out).length === 0 && !/^Mode\.(Global|GlobalJob|Replicated|ReplicatedJob)$/.test(path)) return undefined;
    return out;
  }
  return value;
}

function sortBy<T>(list: T[] | undefined, key: (t: T) => string): T[] | undefined {
  return list?.slice().sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * normalizeServiceSpec returns a spec's canonical form: engine defaults made explicit, empty values and
 * ForceUpdate dropped, unordered lists sorted. Two specs are equal in meaning when their forms are equal.
 * Network, config and secret references must already be by name (./references.ts withoutIds).
 */
export function normalizeServiceSpec(spec: ServiceSpec): Obj {
  const s = structuredClone(spec) as Obj;
  const task = (isObj(s.TaskTemplate) ? s.TaskTemplate : (s.TaskTemplate = {})) as Obj;
  // ForceUpdate restarts tasks when it changes; its value carries nothing to compare (stack deploy
  // keeps the live one, and so does warden).
  delete task.ForceUpdate;
  if (task.Runtime === 'container') delete task.Runtime;
  const c = (isObj(task.ContainerSpec) ? task.ContainerSpec : {}) as Obj;
  if (c.Isolation === 'default') delete c.Isolation;
  for (const key of ['Env', 'CapabilityAdd', 'CapabilityDrop']) {
    if (Array.isArray(c[key])) c[key] = [...(c[key] as string[])].sort();
  }
  c.Mounts = sortBy(c.Mounts as Obj[] | undefined, (m) => String(m.Target));
  c.Secrets = sortBy(c.Secrets as Obj[] | undefined, (r) => `${String(r.SecretName)}\0${String((r.File as Obj | undefined)?.Name)}`);
  c.Configs = sortBy(c.Configs as Obj[] | undefined, (r) => `${String(r.ConfigName)}\0${String((r.File as Obj | undefined)?.Name)}`);
  c.Ulimits = sortBy(c.Ulimits as Obj[] | undefined, (u) => String(u.Name));
  const placement = (isObj(task.Placement) ? task.Placement : {}) as Obj;
  if (Array.isArray(placement.Constraints)) placement.Constraints = (placement.Constraints as string[]).map((x) => x.replace(/\s+/g, ' ').trim()).sort();
  task.Networks = sortBy(task.Networks as Obj[] | undefined, (n) => String(n.Target));
  for (const n of (task.Networks as Obj[] | undefined) ?? []) {
    if (Array.isArray(n.Aliases)) n.Aliases = [...(n.Aliases as string[])].sort();
  }
  // Very old specs carried networks at the top; the engine moves them into the task template.
  if (Array.isArray(s.Networks) && task.Networks === undefined) task.Networks = sortBy(s.Networks as Obj[], (n) => String(n.Target));
  delete s.Networks;
  const mode = (isObj(s.Mode) ? s.Mode : (s.Mode = { Replicated: {} })) as Obj;
  if (isObj(mode.Replicated) && mode.Replicated.Replicas === undefined) mode.Replicated.Replicas = 1;
  // moby's ServiceSpecToGRPC: a replicated job without counts runs 1 at a time, and as many in all as at once.
  if (isObj(mode.ReplicatedJob)) {
    mode.ReplicatedJob.MaxConcurrent ??= 1;
    mode.ReplicatedJob.TotalCompletions ??= mode.ReplicatedJob.MaxConcurrent;
  }
  // moby's restartPolicyToGRPC stores an empty condition as "any"; Delay, Window and MaxAttempts are kept as
  // given (swarmkit applies its defaults when it runs tasks, not in the stored spec).
  if (isObj(task.RestartPolicy)) task.RestartPolicy.Condition ||= 'any';
  // The engine stores an update or rollback config with its failure action and order filled in.
  for (const key of ['UpdateConfig', 'RollbackConfig']) {
    const u = s[key];
    if (isObj(u)) {
      u.FailureAction ||= 'pause';
      u.Order ||= 'stop-first';
    }
  }
  const endpoint = (isObj(s.EndpointSpec) ? s.EndpointSpec : (s.EndpointSpec = {})) as Obj;
  if (!endpoint.Mode) endpoint.Mode = 'vip';
  const ports = (endpoint.Ports as Obj[] | undefined)?.map((p): Obj => ({ ...p, Protocol: p.Protocol || "tcp", PublishMode: p.PublishMode || "ingress" }));
  endpoint.Ports = sortBy(ports, (p) => `${String(p.Protocol)}/${String(p.TargetPort).padStart(5, '0')}/${String(p.PublishedPort ?? 0).padStart(5, '0')}`);
  return clean(s, '') as Obj;
}

/** FieldDiff is one field that differs between a live spec and the desired one. */
export interface FieldDiff {
  /** field is a path with list items named by identity: TaskTemplate.ContainerSpec.Env[FOO]. */
  field: string;
  live: unknown;
  desired: unknown;
  /** restarts is true when changing this field replaces the service's tasks (any field of a job: it runs again). */
  restarts: boolean;
  /**
   * encrypted is set when a side held a value from a sops file (../../reconcilers/seal.ts): live and
   * desired are then dropped (undefined), and the field is shown as `(encrypted) changed`.
   */
  encrypted?: true;
}

// The lists compared item by item, and what names an item.
const KEYED: Record<string, (item: unknown) => string> = {
  'TaskTemplate.ContainerSpec.Env': (e) => String(e).split('=')[0]!,
  'TaskTemplate.ContainerSpec.Mounts': (m) => String((m as Obj).Target),
  'TaskTemplate.ContainerSpec.Secrets': (r) => `${String((r as Obj).SecretName)}:${String(((r as Obj).File as Obj | undefined)?.Name)}`,
  'TaskTemplate.ContainerSpec.Configs': (r) => `${String((r as Obj).ConfigName)}:${String(((r as Obj).File as Obj | undefined)?.Name ?? 'runtime')}`,
  'TaskTemplate.ContainerSpec.Ulimits': (u) => String((u as Obj).Name),
  'TaskTemplate.Networks': (n) => String((n as Obj).Target),
  'TaskTemplate.Placement.Constraints': (c) => String(c),
  'EndpointSpec.Ports': (p) => `${String((p as Obj).TargetPort)}/${String((p as Obj).Protocol)}${(p as Obj).PublishedPort ? `:${String((p as Obj).PublishedPort)}` : ''}`,
};

// What swarmkit's orchestrator counts as a change of the task (IsTaskDirty): the task template and the
// endpoint. Placement changes replace only the tasks whose node no longer fits; that is marked too. A job
// runs again on any update at all (swarmkit's UpdateService bumps its JobIteration), so for a job every
// field restarts.
function restarts(field: string, job: boolean): boolean {
  return job || field.startsWith('TaskTemplate') || field.startsWith('EndpointSpec');
}

function isJob(spec: Obj): boolean {
  const mode = spec.Mode;
  return isObj(mode) && (mode.ReplicatedJob !== undefined || mode.GlobalJob !== undefined);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** diffServiceSpecs lists the fields where two normalized specs differ (empty when in sync). */
export function diffServiceSpecs(live: Obj, desired: Obj): FieldDiff[] {
  const out: FieldDiff[] = [];
  const job = isJob(live) || isJob(desired);
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (same(a, b)) return;
    const keyed = KEYED[path];
    if (keyed && (Array.isArray(a) || a === undefined) && (Array.isArray(b) || b === undefined)) {
      const la = new Map(((a as unknown[] | undefined) ?? []).map((x) => [keyed(x), x]));
      const lb = new Map(((b as unknown[] | undefined) ?? []).map((x) => [keyed(x), x]));
      for (const k of [...new Set([...la.keys(), ...lb.keys()])].sort()) {
        if (!same(la.get(k), lb.get(k))) out.push({ field: `${path}[${k}]`, live: la.get(k), desired: lb.get(k), restarts: restarts(path, job) });
      }
      return;
    }
    if (isObj(a) && isObj(b)) {
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(a[k], b[k], path === '' ? k : `${path}.${k}`);
      return;
    }
    out.push({ field: path, live: a, desired: b, restarts: restarts(path, job) });
  };
  walk(live, desired, '');
  return out;
}
