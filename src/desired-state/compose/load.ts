// Loading a compose file for a stack with `deploy: true`, in docker/cli's order (cli/compose/loader
// Load and cli/command/stack/loader): YAML (anchors and merge keys allowed), the keys stack deploy
// forbids, interpolation with the stack's env, the v3 schema of the file's version, the keys it ignores
// or calls deprecated (warnings), the files the document names (env_file, configs and secrets), and the
// conversion into engine objects. Every problem is positioned in the compose file, at the value at fault.
import path from 'node:path';
import type { ScalarTag } from 'yaml';
import type { Problem } from '../source.js';
import { parseYamlSource, problemAt, type PathSegment } from '../yaml-source.js';
import { convertStack } from './convert.js';
import { interpolateDocument } from './interpolate.js';
import { parseEnvFile } from './parse.js';
import { COMPOSE_VERSIONS, normalizeVersion } from './schema.js';
import type { DesiredStack, ResolveImage } from './types.js';
import { validateSchema } from './validate.js';

/** FORBIDDEN_KEYS are the service keys stack deploy refuses (docker/cli's ForbiddenProperties), with its reason. */
export const FORBIDDEN_KEYS: Readonly<Record<string, string>> = {
  extends: 'Support for `extends` is not implemented yet.',
  volume_driver: 'Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.',
  volumes_from: 'To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.',
  cpu_quota: 'Set resource limits using deploy.resources',
  cpu_shares: 'Set resource limits using deploy.resources',
  cpuset: 'Set resource limits using deploy.resources',
  mem_limit: 'Set resource limits using deploy.resources',
  memswap_limit: 'Set resource limits using deploy.resources',
};

/** IGNORED_KEYS are the service keys stack deploy accepts and ignores (docker/cli's UnsupportedProperties). */
export const IGNORED_KEYS: readonly string[] = [
  'build', 'cgroupns_mode', 'cgroup_parent', 'devices', 'domainname', 'external_links', 'ipc', 'links', 'mac_address',
  'network_mode', 'pid', 'privileged', 'restart', 'security_opt', 'shm_size', 'userns_mode',
];

/** DEPRECATED_KEYS are the service keys stack deploy ignores as deprecated, with its reason. */
export const DEPRECATED_KEYS: Readonly<Record<string, string>> = {
  container_name: 'Setting the container name is not supported.',
  expose: "Exposing ports is unnecessary - services on the same network can access each other's containers on any port.",
};

/** ComposeStackOptions say how to read one stack's compose file. */
export interface ComposeStackOptions {
  stack: string;
  /** file is the compose file's path (problems name it; relative paths in it resolve against its directory). */
  file: string;
  /** env holds the values of ${VAR}: the stack's envFile, then its env over it. */
  env: Readonly<Record<string, string>>;
  prune: boolean;
  resolveImage: ResolveImage;
  /** readFile reads a file the compose file names (env_file, a config's or secret's file). */
  readFile: (file: string) => Promise<Buffer>;
  /** resolvePath turns a path written in the compose file into the path to read, or says why it may not be read. */
  resolvePath?: (ref: string) => string | { problem: string };
  /** onEnvFile is told each env_file's bytes (as readFile gave them) and the variables read from it; default nothing. */
  onEnvFile?: (bytes: Buffer, vars: ReadonlyArray<[string, string]>) => void;
}

/** ComposeStackRead is what loadComposeStack found: the stack, or the problems that prevent it. */
export interface ComposeStackRead {
  stack?: DesiredStack;
  problems: Problem[];
  warnings: Problem[];
}

type Obj = Record<string, unknown>;

// docker/cli's YAML library (go-yaml v3) reads a plain 0440 as the octal 288, as compose files mean it
// (`mode: 0440`); YAML 1.2 alone would read the decimal 440.
const GO_OCTAL: ScalarTag = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^[-+]?0[0-7]+$/,
  resolve: (text: string) => Number.parseInt(text, 8),
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** loadComposeStack reads one compose file's text into the objects stack deploy would make from it. */
export async function loadComposeStack(text: string, opts: ComposeStackOptions): Promise<ComposeStackRead> {
  const parsed = parseYamlSource(text, opts.file, [GO_OCTAL]);
  const out: ComposeStackRead = { problems: [...parsed.problems], warnings: [...parsed.warnings] };
  if (parsed.problems.length > 0) return out;
  const src = parsed.source;
  const error = (p: PathSegment[], message: string, key = false): void => void out.problems.push(problemAt(src, p, message, key ? 'key' : 'value'));
  const warn = (p: PathSegment[], message: string, key = false): void => void out.warnings.push(problemAt(src, p, message, key ? 'key' : 'value'));

  if (!isObj(parsed.data)) {
    error([], 'top-level object must be a mapping (services:, networks:, ...)');
    return out;
  }
  const version = normalizeVersion(parsed.data.version);
  if (!(COMPOSE_VERSIONS as readonly string[]).includes(version)) {
    error(['version'], `unsupported Compose file version: ${version} (stack deploy reads 3.0 to 3.13)`);
    return out;
  }

  const forbidden = forbiddenKeys(parsed.data);
  for (const [p, key] of forbidden) error(p, `${key} is not supported by stack deploy: ${FORBIDDEN_KEYS[key]}`, true);

  const interpolated = interpolateDocument(parsed.data, (name) => opts.env[name]);
  for (const p of interpolated.problems) error(p.path, p.message);
  if (out.problems.length > 0) return out;
  const data = interpolated.data as Obj;

  for (const p of validateSchema(data, version)) error(p.path, p.message, p.key);
  if (out.problems.length > 0) return out;

  for (const [name, def] of Object.entries(isObj(data.services) ? data.services : {})) {
    if (!isObj(def)) continue;
    for (const key of IGNORED_KEYS) {
      if (!(key in def)) continue;
      // stack deploy lists restart among the options it ignores, yet maps it when deploy.restart_policy is absent.
      const mapped = key === 'restart' && !(isObj(def.deploy) && def.deploy.restart_policy !== undefined);
      warn(
        ['services', name, key],
        mapped
          ? 'restart: stack deploy says it ignores it, but maps it to the restart policy (deploy.restart_policy is absent); prefer deploy.restart_policy'
          : `${key} is ignored by stack deploy (it applies to docker compose, not to swarm services)`,
        true,
      );
    }
    for (const [key, why] of Object.entries(DEPRECATED_KEYS)) {
      if (key in def) warn(['services', name, key], `${key} is ignored by stack deploy: ${why}`, true);
    }
    // Not in stack deploy's list of ignored keys, yet its conversion never reads it: dropped without a word.
    if ('tmpfs' in def) {
      warn(['services', name, 'tmpfs'], 'tmpfs is ignored by stack deploy (its conversion drops it); use a volumes entry with type: tmpfs', true);
    }
    if ('depends_on' in def) {
      warn(['services', name, 'depends_on'], 'depends_on does not order a swarm stack\'s start; warden reads it for its ordering after an outage', true);
    }
  }

  const files = await readReferencedFiles(data, opts, error);
  if (out.problems.length > 0) return out;

  const converted = convertStack(data, {
    stack: opts.stack,
    dir: path.posix.dirname(opts.file),
    lookup: (name) => opts.env[name],
    envFile: (service) => files.env.get(service) ?? [],
    content: (kind, key) => files.content.get(`${kind}:${key}`),
  });
  for (const p of converted.problems) error(p.path, p.message, p.key);
  for (const p of converted.warnings) warn(p.path, p.message, p.key);
  if (out.problems.length > 0) return out;
  out.stack = {
    name: opts.stack,
    file: opts.file,
    prune: opts.prune,
    resolveImage: opts.resolveImage,
    services: converted.services,
    networks: converted.networks,
    configs: converted.configs,
    secrets: converted.secrets,
  };
  return out;
}

function forbiddenKeys(data: Obj): Array<[PathSegment[], string]> {
  const found: Array<[PathSegment[], string]> = [];
  const services = isObj(data.services) ? data.services : {};
  for (const [name, def] of Object.entries(services)) {
    if (!isObj(def)) continue;
    for (const key of Object.keys(FORBIDDEN_KEYS)) if (key in def) found.push([['services', name, key], key]);
  }
  return found;
}

interface ReferencedFiles {
  env: Map<string, Array<[string, string]>>;
  content: Map<string, Buffer>;
}

async function readReferencedFiles(
  data: Obj,
  opts: ComposeStackOptions,
  error: (p: PathSegment[], message: string) => void,
): Promise<ReferencedFiles> {
  const files: ReferencedFiles = { env: new Map(), content: new Map() };
  const resolve = (ref: string): string | { problem: string } =>
    opts.resolvePath ? opts.resolvePath(ref) : path.isAbsolute(ref) ? ref : path.join(path.dirname(opts.file), ref);
  const read = async (ref: string, at: PathSegment[], what: string): Promise<Buffer | undefined> => {
    const target = resolve(ref);
    if (typeof target !== 'string') {
      error(at, target.problem);
      return undefined;
    }
    try {
      return await opts.readFile(target);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      error(at, `cannot read ${what} ${target}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
      return undefined;
    }
  };
  for (const [name, def] of Object.entries(isObj(data.services) ? data.services : {})) {
    if (!isObj(def) || def.env_file === undefined) continue;
    const list = Array.isArray(def.env_file) ? def.env_file.map(String) : [String(def.env_file)];
    const vars: Array<[string, string]> = [];
    for (const [i, ref] of list.entries()) {
      const at: PathSegment[] = Array.isArray(def.env_file) ? ['services', name, 'env_file', i] : ['services', name, 'env_file'];
      const content = await read(ref, at, 'env_file');
      if (content === undefined) continue;
      try {
        const read = parseEnvFile(content.toString('utf8'), (k) => opts.env[k]);
        opts.onEnvFile?.(content, read);
        vars.push(...read);
      } catch (err) {
        error(at, `invalid env file ${ref}: ${(err as Error).message}`);
      }
    }
    files.env.set(name, vars);
  }
  for (const kind of ['config', 'secret'] as const) {
    const section = data[`${kind}s`];
    for (const [key, def] of Object.entries(isObj(section) ? section : {})) {
      if (!isObj(def) || def.external === true || isObj(def.external) || def.driver !== undefined || typeof def.file !== 'string') continue;
      const content = await read(def.file, [`${kind}s`, key, 'file'], `the file of ${kind}`);
      if (content !== undefined) files.content.set(`${kind}:${key}`, content);
    }
  }
  return files;
}
