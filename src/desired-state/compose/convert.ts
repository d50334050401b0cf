// A validated compose document turned into the engine objects `docker stack deploy` makes from it: a
// port of docker/cli v28.2's cli/compose/loader (the typed view of each key) and cli/compose/convert
// (service.go, compose.go, volume.go) with cli/command/stack/swarm/deploy_composefile.go (which networks
// exist, the default network, the labels). Pure: every file it needs was read by the loader beforehand.
// Problems are returned with the path of the value at fault, never thrown.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ServiceSpec } from '../../docker/port.js';
import type { PathSegment } from '../yaml-source.js';
import { parseCpus, parseGoDuration, parsePortSpec, parseRamInBytes, parseVolumeShort, splitShellWords, type PortConfig } from './parse.js';
import { LABEL_CONTENT_HASH, LABEL_IMAGE, LABEL_NAMESPACE, type NetworkSpec, type StackFileObject, type StackNetwork, type StackService } from './types.js';

type Obj = Record<string, unknown>;

/** ConvertInput is what convertStack needs besides the document: values the loader read from files. */
export interface ConvertInput {
  stack: string;
  /** dir is the compose file's directory: relative bind sources and files are resolved against it. */
  dir: string;
  /** lookup is the stack's variables (env and envFile): they fill environment entries without a value. */
  lookup: (name: string) => string | undefined;
  /** envFile returns the variables of a service's env_file entries, in order (the loader parsed them). */
  envFile: (service: string) => Array<[string, string]>;
  /** content returns a config's or secret's file content (the loader read it). */
  content: (kind: 'config' | 'secret', key: string) => Buffer | undefined;
}

/** ConvertProblem is a value that stack deploy would refuse, at its path. */
export interface ConvertProblem {
  path: PathSegment[];
  message: string;
  key?: boolean;
}

/** Converted is the outcome of convertStack: the objects and, when stack deploy would fail, why. */
export interface Converted {
  services: StackService[];
  networks: StackNetwork[];
  configs: StackFileObject[];
  secrets: StackFileObject[];
  problems: ConvertProblem[];
  warnings: ConvertProblem[];
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function durationNs(v: unknown): number | undefined {
  return typeof v === 'string' ? parseGoDuration(v) : undefined;
}

// list_or_dict for labels, sysctls and driver options: a mapping, or a list of "k=v" (a bare k is "").
function mapping(v: unknown, sep = '='): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  const out: Record<string, string> = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = String(item);
      const i = s.indexOf(sep);
      if (i < 0) out[s] = '';
      else out[s.slice(0, i)] = s.slice(i + sep.length);
    }
  } else if (isObj(v)) {
    for (const [k, val] of Object.entries(v)) out[k] = val === null || val === undefined ? '' : String(val);
  }
  return out;
}

// environment: as mapping(), but a bare name (or a null value) has no value at all.
function mappingWithEquals(v: unknown): Map<string, string | null> {
  const out = new Map<string, string | null>();
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = String(item);
      const i = s.indexOf('=');
      if (i < 0) out.set(s, null);
      else out.set(s.slice(0, i), s.slice(i + 1));
    }
  } else if (isObj(v)) {
    for (const [k, val] of Object.entries(v)) out.set(k, val === null || val === undefined ? null : String(val));
  }
  return out;
}

function stringList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

function namespaced(stack: string, labels: Record<string, string> | undefined): Record<string, string> {
  return { ...(labels ?? {}), [LABEL_NAMESPACE]: stack };
}

function sortedKeys<T>(o: Record<string, T> | undefined): string[] {
  return Object.keys(o ?? {}).sort();
}

/** imageReferenceProblem explains why a string is not an image reference; undefined when it is one. */
export function imageReferenceProblem(image: string): string | undefined {
  if (image === '') return 'no image specified';
  if (/^[a-f0-9]{64}$/.test(image)) return undefined;
  const component = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
  const domain = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?';
  const re = new RegExp(`^(?:${domain}/)?${component}(?:/${component})*(?::[\\w][\\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`);
  if (!re.test(image)) {
    if (/[A-Z]/.test(image.split('@')[0]!.split(':')[0]!.split('/').slice(-1)[0]!)) return `"${image}": repository name must be lowercase`;
    return `"${image}" is not a valid image reference`;
  }
  return undefined;
}

/**
 * familiarImage writes an image reference as the docker client library sends it: the familiar form
 * (docker.io/library/ dropped) with a `latest` tag when it has neither tag nor digest.
 */
export function familiarImage(image: string): string {
  if (imageReferenceProblem(image) !== undefined || /^[a-f0-9]{64}$/.test(image)) return image;
  const at = image.indexOf('@');
  const digest = at < 0 ? '' : image.slice(at);
  let name = at < 0 ? image : image.slice(0, at);
  let tag = '';
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) [name, tag] = [name.slice(0, colon), name.slice(colon)];
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (first === 'docker.io' || first === 'index.docker.io') name = name.slice(slash + 1);
  else if (first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) return `${name}${tag || (digest ? '' : ':latest')}${digest}`;
  if (name.startsWith('library/') && name.split('/').length === 2) name = name.slice('library/'.length);
  return `${name}${tag || (digest ? '' : ':latest')}${digest}`;
}

// How many hex digits of the content's sha256 a name carries.
const NAME_HASH_DIGITS = 8;

/** contentName is `<stack>_<key>_<first 8 hex of sha256>`: a config's or secret's name under warden. */
export function contentName(stack: string, key: string, hash: string): string {
  return `${stack}_${key}_${hash.slice(0, NAME_HASH_DIGITS)}`;
}

/**
 * isContentName tells whether a name is one contentName gives for this stack and key, whatever the content:
 * exactly `<stack>_<key>_` and the hash digits, so that key `app` does not claim `<stack>_app_tls_<hash>`.
 */
export function isContentName(name: string, stack: string, key: string): boolean {
  const prefix = `${stack}_${key}_`;
  return name.length === prefix.length + NAME_HASH_DIGITS && name.startsWith(prefix) && /^[0-9a-f]+$/.test(name.slice(prefix.length));
}

/** convertStack turns a validated, interpolated compose document into the stack's engine objects. */
export function convertStack(data: Obj, input: ConvertInput): Converted {
  const out: Converted = { services: [], networks: [], configs: [], secrets: [], problems: [], warnings: [] };
  const { stack } = input;
  const error = (p: PathSegment[], message: string, key = false): void => void out.problems.push({ path: p, message, key });
  const warn = (p: PathSegment[], message: string, key = false): void => void out.warnings.push({ path: p, message, key });

  const services = isObj(data.services) ? data.services : {};
  const networks = isObj(data.networks) ? data.networks : {};

  // Configs and secrets first: the services refer to them by the names given here.
  for (const kind of ['secret', 'config'] as const) {
    const section = data[`${kind}s`];
    for (const key of sortedKeys(isObj(section) ? section : {})) {
      const def = ((section as Obj)[key] ?? {}) as Obj;
      const obj = fileObject(kind, key, def, input, ['' + kind + 's', key], error);
      if (obj) (kind === 'secret' ? out.secrets : out.configs).push(obj);
    }
  }

  // loader.LoadVolumes: an external volume is only a name.
  const volumes = isObj(data.volumes) ? data.volumes : {};
  for (const key of sortedKeys(volumes)) {
    const def = isObj(volumes[key]) ? (volumes[key] as Obj) : {};
    if (!(def.external === true || isObj(def.external))) continue;
    for (const k of ['driver', 'driver_opts', 'labels']) {
      if (def[k] !== undefined) error(['volumes', key, k], `conflicting parameters "external" and "${k}" specified for volume "${key}"`, true);
    }
    if (isObj(def.external) && def.external.name !== undefined && def.name !== undefined) {
      error(['volumes', key, 'external', 'name'], `volume ${key}: volume.external.name and volume.name conflict; only use volume.name`);
    }
  }

  // The networks the services use (the stack's "default" when a service names none); only those exist.
  const used = new Set<string>();
  for (const key of Object.keys(services)) {
    const nets = (services[key] as Obj | null)?.networks;
    const names = Array.isArray(nets) ? nets.map(String) : isObj(nets) ? Object.keys(nets) : [];
    if (names.length === 0) used.add('default');
    names.forEach((n) => used.add(n));
  }
  for (const key of [...used].sort()) {
    const net = network(key, networks[key], stack, ['networks', key], error, warn);
    if (net) out.networks.push(net);
  }

  for (const key of Object.keys(services).sort()) {
    const def = (services[key] ?? {}) as Obj;
    const base: PathSegment[] = ['services', key];
    const before = out.problems.length;
    const spec = service(key, def, base, data, input, out, error, warn);
    if (spec && out.problems.length === before) out.services.push(spec);
  }
  return out;
}

function fileObject(
  kind: 'config' | 'secret',
  key: string,
  def: Obj,
  input: ConvertInput,
  at: PathSegment[],
  error: (p: PathSegment[], m: string, key?: boolean) => void,
): StackFileObject | undefined {
  const { stack } = input;
  const labels = namespaced(stack, mapping(def.labels));
  const ext = def.external;
  const external = ext === true || isObj(ext);
  const givenName = str(def.name);
  if (external) {
    const extName = isObj(ext) ? str(ext.name) : undefined;
    if (extName !== undefined && givenName !== undefined) {
      error([...at, 'external', 'name'], `${kind} ${key}: ${kind}.external.name and ${kind}.name conflict; only use ${kind}.name`);
      return undefined;
    }
    return { kind, key, name: extName ?? givenName ?? key, fixedName: true, external: true, labels };
  }
  const out: StackFileObject = { kind, key, name: '', fixedName: givenName !== undefined, external: false, labels };
  if (def.template_driver !== undefined) out.templating = { Name: String(def.template_driver) };
  if (kind === 'secret' && def.driver !== undefined) {
    if (def.file !== undefined) {
      error([...at, 'driver'], `secret ${key}: secret.driver and secret.file conflict; only use secret.driver`);
      return undefined;
    }
    out.driver = { Name: String(def.driver) };
    const opts = mapping(def.driver_opts);
    if (opts) out.driver.Options = opts;
    // A driver secret has no content of its own: its name is fixed, as stack deploy names it.
    out.name = givenName ?? `${stack}_${key}`;
    out.fixedName = true;
    out.data = '';
    return out;
  }
  if (def.file === undefined) {
    error(at, `${kind} ${key} needs file: (or external: true${kind === 'secret' ? ', or driver:' : ''}): stack deploy cannot read its content`);
    return undefined;
  }
  const content = input.content(kind, key);
  if (content === undefined) return undefined; // the loader reported the unreadable file
  out.data = content.toString('base64');
  out.hash = createHash('sha256').update(content).digest('hex');
  out.labels = { ...labels, [LABEL_CONTENT_HASH]: out.hash };
  out.name = givenName ?? contentName(stack, key, out.hash);
  if (out.name.length > 64) {
    error([...at, ...(givenName !== undefined ? ['name'] : [])], `${kind} name ${out.name} is ${out.name.length} characters: swarm allows 64; give a shorter stack name, key or name:`, givenName === undefined);
    return undefined;
  }
  return out;
}

function network(
  key: string,
  defRaw: unknown,
  stack: string,
  at: PathSegment[],
  error: (p: PathSegment[], m: string) => void,
  warn: (p: PathSegment[], m: string) => void,
): StackNetwork | undefined {
  const def = isObj(defRaw) ? defRaw : {};
  const ext = def.external;
  const external = ext === true || isObj(ext);
  const givenName = str(def.name);
  if (external) {
    const extName = isObj(ext) ? str(ext.name) : undefined;
    if (extName !== undefined && givenName !== undefined) {
      error([...at, 'external', 'name'], `network ${key}: network.external.name and network.name conflict; only use network.name`);
      return undefined;
    }
    if (extName !== undefined) warn([...at, 'external', 'name'], `network ${key}: network.external.name is deprecated in favor of network.name`);
    return { key, name: extName ?? givenName ?? key, external: true };
  }
  const spec: NetworkSpec = {
    Name: givenName ?? `${stack}_${key}`,
    // deploy_composefile.go: a network without a driver is an overlay network.
    Driver: str(def.driver) || 'overlay',
    Labels: namespaced(stack, mapping(def.labels)),
  };
  const opts = mapping(def.driver_opts);
  if (opts && Object.keys(opts).length > 0) spec.Options = opts;
  if (def.internal === true) spec.Internal = true;
  if (def.attachable === true) spec.Attachable = true;
  const ipam = isObj(def.ipam) ? def.ipam : undefined;
  if (ipam && (ipam.driver !== undefined || (Array.isArray(ipam.config) && ipam.config.length > 0))) {
    spec.IPAM = {};
    if (ipam.driver !== undefined) spec.IPAM.Driver = String(ipam.driver);
    if (Array.isArray(ipam.config)) spec.IPAM.Config = ipam.config.map((c) => ({ Subnet: String((c as Obj).subnet ?? '') }));
  }
  return { key, name: spec.Name, external: false, spec };
}

// The capabilities as docker/cli's opts.EffectiveCapAddCapDrop leaves them: upper case, CAP_ prefixed,
// ALL winning over the rest, an added one never dropped, sorted.
function capabilities(add: string[] | undefined, drop: string[] | undefined): { add?: string[]; drop?: string[] } {
  const norm = (c: string): string => {
    const u = c.trim().toUpperCase();
    return u === 'ALL' || u === 'RESET' || u.startsWith('CAP_') ? u : `CAP_${u}`;
  };
  let a = new Set((add ?? []).map(norm));
  let d = new Set((drop ?? []).map(norm));
  if (a.has('ALL')) a = new Set(['ALL']);
  if (d.has('ALL')) d = new Set(['ALL']);
  const dropOut = [...d].filter((c) => !a.has(c) && c !== 'RESET').sort();
  const addOut = [...a].filter((c) => c !== 'RESET').sort();
  const res: { add?: string[]; drop?: string[] } = {};
  if (addOut.length > 0) res.add = addOut;
  if (dropOut.length > 0) res.drop = dropOut;
  return res;
}

function updateConfig(v: unknown): Obj | undefined {
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

function service(
  key: string,
  def: Obj,
  base: PathSegment[],
  data: Obj,
  input: ConvertInput,
  out: Converted,
  error: (p: PathSegment[], m: string, key?: boolean) => void,
  warn: (p: PathSegment[], m: string, key?: boolean) => void,
): StackService | undefined {
  const { stack } = input;
  const name = `${stack}_${key}`;
  const image = str(def.image) ?? '';
  const imageProblem = imageReferenceProblem(image);
  if (imageProblem !== undefined) {
    error(def.image === undefined ? base : [...base, 'image'], `invalid image reference for service ${key}: ${imageProblem}`, def.image === undefined);
  }
  const deploy = isObj(def.deploy) ? def.deploy : {};
  // The label keeps the image as written; the spec carries it as the client library sends it.
  const container: Obj = { Image: familiarImage(image) };

  const entrypoint = shell(def.entrypoint, [...base, 'entrypoint'], error);
  if (entrypoint) container.Command = entrypoint;
  const command = shell(def.command, [...base, 'command'], error);
  if (command) container.Args = command;
  if (def.hostname) container.Hostname = String(def.hostname);
  const hosts = extraHosts(def.extra_hosts);
  if (hosts.length > 0) container.Hosts = hosts;
  const dns = stringList(def.dns);
  const dnsSearch = stringList(def.dns_search);
  if (dns !== undefined || dnsSearch !== undefined) {
    const cfg: Obj = {};
    if (dns) cfg.Nameservers = dns;
    if (dnsSearch) cfg.Search = dnsSearch;
    container.DNSConfig = cfg;
  }
  const health = healthcheck(def.healthcheck, [...base, 'healthcheck'], error);
  if (health) container.Healthcheck = health;
  const env = environment(key, def, input);
  if (env.length > 0) container.Env = env;
  container.Labels = namespaced(stack, mapping(def.labels));
  if (def.working_dir) container.Dir = String(def.working_dir);
  if (def.user) container.User = String(def.user);
  const mounts = serviceMounts(def.volumes, [...base, 'volumes'], volumesSection(data), input, error, warn);
  if (mounts.length > 0) container.Mounts = mounts;
  const grace = durationNs(def.stop_grace_period);
  if (grace !== undefined) container.StopGracePeriod = grace;
  if (def.stop_signal) container.StopSignal = String(def.stop_signal);
  if (def.tty === true) container.TTY = true;
  if (def.stdin_open === true) container.OpenStdin = true;
  const secrets = fileRefs('secret', def.secrets, [...base, 'secrets'], out.secrets, error);
  if (secrets.length > 0) container.Secrets = secrets;
  const configs = fileRefs('config', def.configs, [...base, 'configs'], out.configs, error);
  const cred = credentialSpec(def.credential_spec, [...base, 'credential_spec'], error);
  if (configs.length > 0) container.Configs = configs;
  if (def.read_only === true) container.ReadOnly = true;
  // convert.Service always sends Privileges, empty without a credential spec.
  container.Privileges = cred ? { CredentialSpec: cred } : {};
  if (def.isolation) container.Isolation = String(def.isolation);
  if (typeof def.init === 'boolean') container.Init = def.init;
  const sysctls = mapping(def.sysctls);
  if (sysctls && Object.keys(sysctls).length > 0) container.Sysctls = sysctls;
  const caps = capabilities(stringList(def.cap_add), stringList(def.cap_drop));
  if (caps.add) container.CapabilityAdd = caps.add;
  if (caps.drop) container.CapabilityDrop = caps.drop;
  const ulimits = ulimitList(def.ulimits);
  if (ulimits.length > 0) container.Ulimits = ulimits;
  if (typeof def.oom_score_adj === 'number' && def.oom_score_adj !== 0) container.OomScoreAdj = def.oom_score_adj;

  const task: Obj = { ContainerSpec: container };
  if (isObj(def.logging)) {
    const driver: Obj = { Name: str(def.logging.driver) ?? '' };
    const opts = mapping(def.logging.options);
    if (opts && Object.keys(opts).length > 0) driver.Options = opts;
    task.LogDriver = driver;
  }
  const resources = resourceRequirements(deploy.resources, [...base, 'deploy', 'resources'], error);
  if (resources) task.Resources = resources;
  const restart = restartPolicy(def.restart, deploy.restart_policy, [...base, def.restart !== undefined && deploy.restart_policy === undefined ? 'restart' : 'deploy'], error);
  if (restart) task.RestartPolicy = restart;
  const placement = isObj(deploy.placement) ? deploy.placement : {};
  const pl: Obj = {};
  if (Array.isArray(placement.constraints) && placement.constraints.length > 0) pl.Constraints = placement.constraints.map(String);
  if (Array.isArray(placement.preferences) && placement.preferences.length > 0) {
    pl.Preferences = placement.preferences.map((p) => ({ Spread: { SpreadDescriptor: String((p as Obj).spread ?? '') } }));
  }
  if (typeof placement.max_replicas_per_node === 'number' && placement.max_replicas_per_node !== 0) pl.MaxReplicas = placement.max_replicas_per_node;
  task.Placement = pl;
  const nets = serviceNetworks(key, def.networks, isObj(data.networks) ? data.networks : {}, stack, [...base, 'networks'], error);
  if (nets) task.Networks = nets;

  const spec: ServiceSpec = {
    Name: name,
    Labels: { ...namespaced(stack, mapping(deploy.labels)), [LABEL_IMAGE]: image },
    TaskTemplate: task,
  };
  const mode = deployMode(deploy, [...base, 'deploy'], error);
  if (mode) spec.Mode = mode;
  const endpoint: Obj = {};
  if (deploy.endpoint_mode) endpoint.Mode = String(deploy.endpoint_mode).toLowerCase();
  const ports = servicePorts(def.ports, [...base, 'ports'], error);
  if (ports.length > 0) endpoint.Ports = ports;
  spec.EndpointSpec = endpoint;
  const update = updateConfig(deploy.update_config);
  if (update) spec.UpdateConfig = update;
  const rollback = updateConfig(deploy.rollback_config);
  if (rollback) spec.RollbackConfig = rollback;
  return { key, name, spec, image };
}

function volumesSection(data: Obj): Obj {
  return isObj(data.volumes) ? data.volumes : {};
}

function shell(v: unknown, at: PathSegment[], error: (p: PathSegment[], m: string) => void): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map(String);
  try {
    return splitShellWords(String(v));
  } catch (err) {
    error(at, `cannot split ${JSON.stringify(v)} into words: ${(err as Error).message}`);
    return undefined;
  }
}

// extra_hosts, as docker/cli's transformHostsList then convertExtraHosts: "host=ip" or "host:ip" entries
// in their order, or a mapping made into "host:ip" strings sorted as strings (toStringList: "a.b:1" comes
// before "a:2") with null values dropped; then each cut at its first ":" and written "ip host".
function extraHosts(v: unknown): string[] {
  let list: string[] = [];
  if (isObj(v)) {
    list = Object.keys(v).flatMap((k) => (v[k] === null || v[k] === undefined ? [] : [`${k}:${String(v[k])}`])).sort(byCodeUnits);
  } else if (Array.isArray(v)) {
    list = v.flatMap((item): string[] => {
      const s = String(item);
      for (const sep of ['=', ':']) {
        const i = s.indexOf(sep);
        if (i >= 0) return [`${s.slice(0, i)}:${s.slice(i + 1)}`];
      }
      return [];
    });
  }
  return list.map((entry) => {
    const i = entry.indexOf(':');
    const host = entry.slice(0, i);
    const ipRaw = entry.slice(i + 1);
    const ip = ipRaw.length > 2 && ipRaw.startsWith('[') && ipRaw.endsWith(']') ? ipRaw.slice(1, -1) : ipRaw;
    return `${ip} ${host}`;
  });
}

// Go's sort.Strings order (bytes; the same as UTF-16 code units for what host names hold).
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function healthcheck(v: unknown, at: PathSegment[], error: (p: PathSegment[], m: string) => void): Obj | undefined {
  if (!isObj(v)) return undefined;
  const test = v.test === undefined ? undefined : typeof v.test === 'string' ? ['CMD-SHELL', v.test] : (v.test as unknown[]).map(String);
  if (v.disable === true) {
    if (test !== undefined && test.length > 0) {
      error([...at, 'disable'], "healthcheck: test and disable can't be set at the same time");
      return undefined;
    }
    return { Test: ['NONE'] };
  }
  const out: Obj = {};
  if (test !== undefined && test.length > 0) out.Test = test;
  for (const [k, field] of [['interval', 'Interval'], ['timeout', 'Timeout'], ['start_period', 'StartPeriod'], ['start_interval', 'StartInterval']] as const) {
    const d = durationNs(v[k]);
    if (d) out[field] = d;
  }
  if (typeof v.retries === 'number' && v.retries !== 0) out.Retries = Math.trunc(v.retries);
  return out;
}

// loader.resolveEnvironment: env_file entries, then environment over them; an entry without a value (or
// with an empty one) takes the variable's value when the stack's env has it. convert: "K=V" sorted.
function environment(key: string, def: Obj, input: ConvertInput): string[] {
  const env = new Map<string, string | null>();
  const update = (vars: Map<string, string | null>): void => {
    for (const [k, v] of vars) {
      const looked = input.lookup(k);
      env.set(k, (v === null || v === '') && looked !== undefined ? looked : v);
    }
  };
  if (def.env_file !== undefined) {
    const fromFiles = new Map<string, string | null>();
    for (const [k, v] of input.envFile(key)) fromFiles.set(k, v);
    update(fromFiles);
  }
  update(mappingWithEquals(def.environment));
  return [...env].map(([k, v]) => (v === null ? k : `${k}=${v}`)).sort();
}

function serviceMounts(
  v: unknown,
  at: PathSegment[],
  stackVolumes: Obj,
  input: ConvertInput,
  error: (p: PathSegment[], m: string) => void,
  warn: (p: PathSegment[], m: string) => void,
): Obj[] {
  if (!Array.isArray(v)) return [];
  const mounts: Obj[] = [];
  v.forEach((item, i) => {
    const here = [...at, i];
    let vol: Obj;
    if (typeof item === 'string') {
      try {
        const short = parseVolumeShort(item);
        vol = { type: short.type, source: short.source, target: short.target, read_only: short.readOnly };
        if (short.nocopy) vol.volume = { nocopy: true };
        if (short.propagation) vol.bind = { propagation: short.propagation };
      } catch (err) {
        error(here, (err as Error).message);
        return;
      }
    } else {
      vol = item as Obj;
    }
    const m = mount(vol, here, stackVolumes, input, warn);
    if (typeof m === 'string') error(here, m);
    else mounts.push(m);
  });
  return mounts;
}

function mount(vol: Obj, at: PathSegment[], stackVolumes: Obj, input: ConvertInput, warn: (p: PathSegment[], m: string) => void): Obj | string {
  const type = str(vol.type) ?? 'volume';
  let source = str(vol.source) ?? '';
  const target = str(vol.target) ?? '';
  const result: Obj = { Type: type === '' ? 'volume' : type };
  const has = (k: string): boolean => vol[k] !== undefined && vol[k] !== null;
  const incompatible = (kinds: string[]): string | undefined => {
    const bad = kinds.find(has);
    return bad === undefined ? undefined : `${bad} options are incompatible with type ${type}`;
  };
  if (type === 'bind') {
    // loader.resolveVolumePaths: a relative source (or ~) is made absolute where the file is.
    if (source === '') return 'invalid mount config for type "bind": field Source must not be empty';
    if (source.startsWith('~')) {
      const home = input.lookup('HOME');
      if (home !== undefined) source = source.replace('~', home);
    }
    if (!path.posix.isAbsolute(source)) {
      const abs = path.posix.join(input.dir, source);
      warn(at, `the relative bind source ${JSON.stringify(str(vol.source))} becomes ${abs}, a path on the machine that reads the file (as stack deploy makes it); write an absolute path`);
      source = abs;
    }
  }
  if (source !== '') result.Source = source;
  if (target !== '') result.Target = target;
  if (vol.read_only === true) result.ReadOnly = true;
  if (vol.consistency) result.Consistency = String(vol.consistency);
  switch (type) {
    case 'volume':
    case '': {
      const bad = incompatible(['tmpfs', 'bind']);
      if (bad) return bad;
      if (source === '') return result; // anonymous volume
      if (!(source in stackVolumes)) return `undefined volume ${JSON.stringify(source)}: declare it under the top-level volumes:`;
      const stackVolume = (stackVolumes[source] ?? {}) as Obj;
      result.Source = `${input.stack}_${source}`;
      const options: Obj = {};
      const vo = isObj(vol.volume) ? vol.volume : undefined;
      if (vo?.nocopy === true) options.NoCopy = true;
      if (vo?.subpath) options.Subpath = String(vo.subpath);
      const ext = stackVolume.external;
      const external = ext === true || isObj(ext);
      const extName = isObj(ext) ? str(ext.name) : undefined;
      const name = str(stackVolume.name) ?? extName ?? (external ? source : undefined);
      if (name !== undefined) result.Source = name;
      if (!external) {
        options.Labels = namespaced(input.stack, mapping(stackVolume.labels));
        const driverOpts = mapping(stackVolume.driver_opts);
        if (stackVolume.driver !== undefined || stackVolume.driver_opts !== undefined) {
          const driver: Obj = { Name: str(stackVolume.driver) ?? '' };
          if (driverOpts && Object.keys(driverOpts).length > 0) driver.Options = driverOpts;
          options.DriverConfig = driver;
        }
      }
      result.VolumeOptions = options;
      return result;
    }
    case 'bind': {
      const bad = incompatible(['volume', 'tmpfs']);
      if (bad) return bad;
      if (isObj(vol.bind) && vol.bind.propagation) result.BindOptions = { Propagation: String(vol.bind.propagation) };
      return result;
    }
    case 'tmpfs': {
      if (source !== '') return 'invalid tmpfs source, source must be empty';
      const bad = incompatible(['bind', 'volume']);
      if (bad) return bad;
      if (isObj(vol.tmpfs) && typeof vol.tmpfs.size === 'number' && vol.tmpfs.size !== 0) result.TmpfsOptions = { SizeBytes: vol.tmpfs.size };
      return result;
    }
    case 'npipe':
      return 'npipe mounts are for Windows engines: a Linux swarm cannot run them';
    case 'cluster': {
      if (source === '') return 'invalid cluster source, source cannot be empty';
      const bad = incompatible(['tmpfs', 'bind', 'volume']);
      if (bad) return bad;
      result.ClusterOptions = {};
      // A volume group ("group:name") is not namespaced and need not be declared.
      if (!source.startsWith('group:')) {
        if (!(source in stackVolumes)) return `undefined volume ${JSON.stringify(source)}: declare it under the top-level volumes:`;
        result.Source = str((stackVolumes[source] as Obj | null)?.name) ?? `${input.stack}_${source}`;
      }
      return result;
    }
    default:
      return 'volume type must be volume, bind, tmpfs, npipe, or cluster';
  }
}

function fileRefs(
  kind: 'config' | 'secret',
  v: unknown,
  at: PathSegment[],
  objects: StackFileObject[],
  error: (p: PathSegment[], m: string) => void,
): Obj[] {
  if (!Array.isArray(v)) return [];
  const refs: Obj[] = [];
  const targets = new Set<string>();
  v.forEach((item, i) => {
    const ref = typeof item === 'string' ? { source: item } : (item as Obj);
    const source = str(ref.source) ?? '';
    const obj = objects.find((o) => o.key === source);
    if (obj === undefined) {
      error([...at, i], `undefined ${kind} ${JSON.stringify(source)}: declare it under the top-level ${kind}s:`);
      return;
    }
    const target = str(ref.target) || source;
    if (targets.has(target)) {
      error([...at, i], `duplicate ${kind} target for ${obj.name} not allowed`);
      return;
    }
    targets.add(target);
    const mode = typeof ref.mode === 'number' ? ref.mode : 0o444;
    const file = { Name: target, UID: str(ref.uid) || '0', GID: str(ref.gid) || '0', Mode: mode };
    refs.push(kind === 'secret' ? { File: file, SecretID: '', SecretName: obj.name } : { File: file, ConfigID: '', ConfigName: obj.name });
  });
  const nameKey = kind === 'secret' ? 'SecretName' : 'ConfigName';
  // convert sorts them by name so that the order in the file restarts nothing.
  return refs.sort((a, b) => (String(a[nameKey]) < String(b[nameKey]) ? -1 : String(a[nameKey]) > String(b[nameKey]) ? 1 : 0));
}

function credentialSpec(v: unknown, at: PathSegment[], error: (p: PathSegment[], m: string) => void): Obj | undefined {
  if (!isObj(v)) return undefined;
  const given = (['config', 'file', 'registry'] as const).filter((k) => v[k] !== undefined && v[k] !== '');
  if (given.length === 0) return undefined;
  if (given.length > 1) {
    error(at, `invalid credential spec: cannot specify both ${given.map((g) => `"${g[0]!.toUpperCase()}${g.slice(1)}"`).join(' and ')}`);
    return undefined;
  }
  if (given[0] === 'config') {
    error([...at, 'config'], 'credential_spec.config (a Windows gMSA credential spec in a config) is not supported by warden');
    return undefined;
  }
  return given[0] === 'file' ? { File: String(v.file) } : { Registry: String(v.registry) };
}

function ulimitList(v: unknown): Obj[] {
  if (!isObj(v)) return [];
  return Object.keys(v)
    .sort()
    .map((name) => {
      const u = v[name];
      if (typeof u === 'number' && u !== 0) return { Name: name, Soft: u, Hard: u };
      const o = isObj(u) ? u : {};
      return { Name: name, Soft: Number(o.soft ?? 0), Hard: Number(o.hard ?? 0) };
    });
}

function resourceRequirements(v: unknown, at: PathSegment[], error: (p: PathSegment[], m: string) => void): Obj | undefined {
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

// The legacy `restart:` key counts only without deploy.restart_policy (docker/cli's convertRestartPolicy).
function restartPolicy(restart: unknown, policy: unknown, at: PathSegment[], error: (p: PathSegment[], m: string) => void): Obj | undefined {
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

function deployMode(deploy: Obj, at: PathSegment[], error: (p: PathSegment[], m: string) => void): Obj | undefined {
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

function servicePorts(v: unknown, at: PathSegment[], error: (p: PathSegment[], m: string) => void): PortConfig[] {
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

function serviceNetworks(
  key: string,
  v: unknown,
  declared: Obj,
  stack: string,
  at: PathSegment[],
  error: (p: PathSegment[], m: string) => void,
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
