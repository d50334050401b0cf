// What a service's deploy: section (and its ports and networks) becomes, one function per field group
// as docker/cli's convert does it: convertResources, convertRestartPolicy, convertDeployMode,
// convertUpdateConfig, convertEndpointSpec and convertServiceNetworks.
import type { PathSegment } from '../yaml-source.js';
import { parseCpus, parsePortSpec, parseRamInBytes, type PortConfig } from './parse.js';
import { durationNs, isObj, mapping, str, type Obj, type Report } from './values.js';

/** resourceRequirements is convertResources: deploy.resources as Limits and Reservations (cpus in nano CPUs, memory in bytes). */
export function resourceRequirements(v: unknown, at: PathSegment[], error: Report): Obj | undefined {
  const out: Obj = {};
  if (!isObj(v)) return out;
  const cpus = (value: unknown, p: PathSegment[]): number => {
    if (value === undefined || value === '') return 0;
    try {
      return parseCpus(String(value));
    } catch (err) {
      error(p, (err as Error).message);
      return 0;
    }
  };
  const memory = (value: unknown, p: PathSegment[]): number => {
    if (value === undefined) return 0;
    try {
      return parseRamInBytes(value as string | number);
    } catch (err) {
      error(p, (err as Error).message);
      return 0;
    }
  };
  if (isObj(v.limits)) {
    const l = v.limits;
    const limits: Obj = {};
    const n = cpus(l.cpus, [...at, 'limits', 'cpus']);
    if (n) limits.NanoCPUs = n;
    const m = memory(l.memory, [...at, 'limits', 'memory']);
    if (m) limits.MemoryBytes = m;
    if (typeof l.pids === 'number' && l.pids !== 0) limits.Pids = l.pids;
    out.Limits = limits;
  }
  if (isObj(v.reservations)) {
    const r = v.reservations;
    const res: Obj = {};
    const n = cpus(r.cpus, [...at, 'reservations', 'cpus']);
    if (n) res.NanoCPUs = n;
    const m = memory(r.memory, [...at, 'reservations', 'memory']);
    if (m) res.MemoryBytes = m;
    if (Array.isArray(r.generic_resources) && r.generic_resources.length > 0) {
      res.GenericResources = r.generic_resources.map((g) => {
        const d = isObj(g) && isObj(g.discrete_resource_spec) ? g.discrete_resource_spec : undefined;
        return d ? { DiscreteResourceSpec: { Kind: String(d.kind ?? ''), Value: Number(d.value ?? 0) } } : {};
      });
    }
    out.Reservations = res;
  }
  return out;
}

/** restartPolicy is convertRestartPolicy: deploy.restart_policy, or the legacy `restart:` key only without it. */
export function restartPolicy(restart: unknown, policy: unknown, at: PathSegment[], error: Report): Obj | undefined {
  if (isObj(policy)) {
    const out: Obj = {};
    if (policy.condition) out.Condition = String(policy.condition);
    const delay = durationNs(policy.delay);
    if (delay !== undefined) out.Delay = delay;
    if (typeof policy.max_attempts === 'number') out.MaxAttempts = policy.max_attempts;
    const window = durationNs(policy.window);
    if (window !== undefined) out.Window = window;
    return out;
  }
  if (restart === undefined || restart === '') return undefined;
  const text = String(restart);
  const i = text.indexOf(':');
  const name = i < 0 ? text : text.slice(0, i);
  const count = i < 0 ? '' : text.slice(i + 1);
  if (i >= 0 && name === '') {
    error(at, 'invalid restart policy format: no policy provided before colon');
    return undefined;
  }
  if (count !== '' && !/^[+-]?\d+$/.test(count)) {
    error(at, 'invalid restart policy format: maximum retry count must be an integer');
    return undefined;
  }
  switch (name) {
    case 'no':
    case '':
      return undefined;
    case 'always':
    case 'unless-stopped':
      return { Condition: 'any' };
    case 'on-failure':
      return { Condition: 'on-failure', MaxAttempts: count === '' ? 0 : Number(count) };
    default:
      error(at, `unknown restart policy: ${text}`);
      return undefined;
  }
}

/** deployMode is convertDeployMode: the service Mode for deploy.mode and deploy.replicas. */
export function deployMode(deploy: Obj, at: PathSegment[], error: Report): Obj | undefined {
  const mode = str(deploy.mode) ?? '';
  const replicas = typeof deploy.replicas === 'number' ? deploy.replicas : undefined;
  switch (mode) {
    case 'global':
    case 'global-job':
      if (replicas !== undefined) {
        error([...at, 'replicas'], 'replicas can only be used with replicated or replicated-job mode');
        return undefined;
      }
      return mode === 'global' ? { Global: {} } : { GlobalJob: {} };
    case 'replicated-job':
      return { ReplicatedJob: replicas === undefined ? {} : { MaxConcurrent: replicas, TotalCompletions: replicas } };
    case 'replicated':
    case '':
      return { Replicated: replicas === undefined ? {} : { Replicas: replicas } };
    default:
      error([...at, 'mode'], `unknown mode: ${mode} (replicated, global, replicated-job or global-job)`);
      return undefined;
  }
}

/** updateConfig is convertUpdateConfig, for update_config and rollback_config (Parallelism defaults to 1). */
export function updateConfig(v: unknown): Obj | undefined {
  if (!isObj(v)) return undefined;
  const out: Obj = { Parallelism: typeof v.parallelism === 'number' ? v.parallelism : 1 };
  const delay = durationNs(v.delay);
  if (delay) out.Delay = delay;
  if (v.failure_action) out.FailureAction = String(v.failure_action);
  const monitor = durationNs(v.monitor);
  if (monitor) out.Monitor = monitor;
  if (typeof v.max_failure_ratio === 'number' && v.max_failure_ratio !== 0) out.MaxFailureRatio = v.max_failure_ratio;
  if (v.order) out.Order = String(v.order);
  return out;
}

/** servicePorts is the EndpointSpec's Ports: short and long syntax, sorted by published port as convertEndpointSpec sorts them. */
export function servicePorts(v: unknown, at: PathSegment[], error: Report): PortConfig[] {
  if (!Array.isArray(v)) return [];
  const ports: PortConfig[] = [];
  v.forEach((item, i) => {
    if (typeof item === 'number' || typeof item === 'string') {
      try {
        ports.push(...parsePortSpec(typeof item === 'number' ? String(Math.trunc(item)) : item));
      } catch (err) {
        error([...at, i], (err as Error).message);
      }
      return;
    }
    const p = item as Obj;
    ports.push({
      Protocol: str(p.protocol) ?? '',
      TargetPort: Number(p.target ?? 0),
      PublishedPort: Number(p.published ?? 0),
      PublishMode: str(p.mode) ?? '',
    });
  });
  // convertEndpointSpec sorts by published port, stably.
  return ports.map((p, i) => [p, i] as const).sort((a, b) => a[0].PublishedPort - b[0].PublishedPort || a[1] - b[1]).map(([p]) => p);
}

/** serviceNetworks is convertServiceNetworks: the attachments by network name, with the service's name as an alias on each. */
export function serviceNetworks(
  key: string,
  v: unknown,
  declared: Obj,
  stack: string,
  at: PathSegment[],
  error: Report,
): Obj[] | undefined {
  let entries: Array<[string, Obj | null]> = [];
  if (Array.isArray(v)) entries = v.map((n) => [String(n), null]);
  else if (isObj(v)) entries = Object.entries(v).map(([n, c]) => [n, isObj(c) ? c : null]);
  if (entries.length === 0) entries = [['default', null]];
  const nets: Obj[] = [];
  for (const [netName, cfg] of entries) {
    if (!(netName in declared) && netName !== 'default') {
      error(Array.isArray(v) ? [...at, entries.findIndex((e) => e[0] === netName)] : [...at, netName], `undefined network ${JSON.stringify(netName)}: declare it under the top-level networks:`);
      return undefined;
    }
    const netDef = isObj(declared[netName]) ? (declared[netName] as Obj) : {};
    const ext = netDef.external;
    const extName = isObj(ext) ? str(ext.name) : undefined;
    const external = ext === true || isObj(ext);
    const target = str(netDef.name) ?? extName ?? (external ? netName : `${stack}_${netName}`);
    const attach: Obj = { Target: target };
    const aliases = cfg && Array.isArray(cfg.aliases) ? cfg.aliases.map(String) : [];
    // Only user-defined networks take aliases; the service's own name is always one.
    if (!['host', 'bridge', 'none', 'default'].includes(target) && !target.startsWith('container:')) aliases.push(key);
    if (aliases.length > 0) attach.Aliases = aliases;
    const driverOpts = cfg ? mapping(cfg.driver_opts) : undefined;
    if (driverOpts && Object.keys(driverOpts).length > 0) attach.DriverOpts = driverOpts;
    nets.push(attach);
  }
  return nets.sort((a, b) => (String(a.Target) < String(b.Target) ? -1 : String(a.Target) > String(b.Target) ? 1 : 0));
}
