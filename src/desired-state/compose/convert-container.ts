// A service's ContainerSpec, as docker/cli's convert.Service fills it, one function per field group as
// there (convertHealthcheck, convertExtraHosts, convertEnvironment, convertCredentialSpec, convertUlimits,
// convertServiceSecrets and convertServiceConfigObjs), with the loader's typed view of each key.
import type { PathSegment } from '../yaml-source.js';
import type { ConvertInput } from './convert.js';
import { familiarImage } from './convert-image.js';
import { serviceMounts } from './convert-mounts.js';
import { splitShellWords } from './parse.js';
import type { StackFileObject } from './types.js';
import { byCodeUnits, durationNs, isObj, mapping, mappingWithEquals, namespaced, str, stringList, type Obj, type Report } from './values.js';

/** ServiceContext is what converting one service needs besides its own definition. */
export interface ServiceContext {
  /** data is the whole document: the top-level volumes and networks the service refers to. */
  data: Obj;
  input: ConvertInput;
  secrets: StackFileObject[];
  configs: StackFileObject[];
  error: Report;
  warn: Report;
}

/** convertContainerSpec is the service's ContainerSpec; problems go to ctx.error. */
export function convertContainerSpec(key: string, def: Obj, image: string, base: PathSegment[], ctx: ServiceContext): Obj {
  const { input, error } = ctx;
  // The label keeps the image as written; the spec carries it as the client library sends it.
  const container: Obj = { Image: familiarImage(image) };
  const entrypoint = shell(def.entrypoint, [...base, 'entrypoint'], error);
  if (entrypoint) container.Command = entrypoint;
  const command = shell(def.command, [...base, 'command'], error);
  if (command) container.Args = command;
  if (def.hostname) container.Hostname = String(def.hostname);
  const hosts = extraHosts(def.extra_hosts);
  if (hosts.length > 0) container.Hosts = hosts;
  const dns = dnsConfig(def);
  if (dns) container.DNSConfig = dns;
  const health = healthcheck(def.healthcheck, [...base, 'healthcheck'], error);
  if (health) container.Healthcheck = health;
  const env = environment(key, def, input);
  if (env.length > 0) container.Env = env;
  container.Labels = namespaced(input.stack, mapping(def.labels));
  if (def.working_dir) container.Dir = String(def.working_dir);
  if (def.user) container.User = String(def.user);
  const stackVolumes = isObj(ctx.data.volumes) ? ctx.data.volumes : {};
  const mounts = serviceMounts(def.volumes, [...base, 'volumes'], stackVolumes, input, error, ctx.warn);
  if (mounts.length > 0) container.Mounts = mounts;
  const grace = durationNs(def.stop_grace_period);
  if (grace !== undefined) container.StopGracePeriod = grace;
  if (def.stop_signal) container.StopSignal = String(def.stop_signal);
  if (def.tty === true) container.TTY = true;
  if (def.stdin_open === true) container.OpenStdin = true;
  const secrets = fileRefs('secret', def.secrets, [...base, 'secrets'], ctx.secrets, error);
  if (secrets.length > 0) container.Secrets = secrets;
  const configs = fileRefs('config', def.configs, [...base, 'configs'], ctx.configs, error);
  const cred = credentialSpec(def.credential_spec, [...base, 'credential_spec'], error);
  if (configs.length > 0) container.Configs = configs;
  if (def.read_only === true) container.ReadOnly = true;
  // convert.Service always sends Privileges, empty without a credential spec.
  container.Privileges = cred ? { CredentialSpec: cred } : {};
  if (def.isolation) container.Isolation = String(def.isolation);
  if (typeof def.init === 'boolean') container.Init = def.init;
  Object.assign(container, kernelSettings(def));
  return container;
}

// What the container asks of the kernel: sysctls, capabilities, ulimits and the OOM score.
function kernelSettings(def: Obj): Obj {
  const out: Obj = {};
  const sysctls = mapping(def.sysctls);
  if (sysctls && Object.keys(sysctls).length > 0) out.Sysctls = sysctls;
  const caps = capabilities(stringList(def.cap_add), stringList(def.cap_drop));
  if (caps.add) out.CapabilityAdd = caps.add;
  if (caps.drop) out.CapabilityDrop = caps.drop;
  const ulimits = ulimitList(def.ulimits);
  if (ulimits.length > 0) out.Ulimits = ulimits;
  if (typeof def.oom_score_adj === 'number' && def.oom_score_adj !== 0) out.OomScoreAdj = def.oom_score_adj;
  return out;
}

// convertDNSConfig: present when either list is given.
function dnsConfig(def: Obj): Obj | undefined {
  const dns = stringList(def.dns);
  const dnsSearch = stringList(def.dns_search);
  if (dns === undefined && dnsSearch === undefined) return undefined;
  const cfg: Obj = {};
  if (dns) cfg.Nameservers = dns;
  if (dnsSearch) cfg.Search = dnsSearch;
  return cfg;
}

function shell(v: unknown, at: PathSegment[], error: Report): string[] | undefined {
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

function healthcheck(v: unknown, at: PathSegment[], error: Report): Obj | undefined {
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

function credentialSpec(v: unknown, at: PathSegment[], error: Report): Obj | undefined {
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

function fileRefs(
  kind: 'config' | 'secret',
  v: unknown,
  at: PathSegment[],
  objects: StackFileObject[],
  error: Report,
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
