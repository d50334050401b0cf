// A validated compose document turned into the engine objects `docker stack deploy` makes from it: a
// port of docker/cli v28.2's cli/compose/loader (the typed view of each key) and cli/compose/convert
// (service.go, compose.go, volume.go) with cli/command/stack/swarm/deploy_composefile.go (which networks
// exist, the default network, the labels). Split as docker/cli splits it, a function per field group:
// configs, secrets and networks in ./convert-objects.ts; a service in ./convert-service.ts, its
// ContainerSpec in ./convert-container.ts, its mounts in ./convert-mounts.ts and its deploy: section in
// ./convert-deploy.ts. Pure: every file it needs was read by the loader beforehand. Problems are
// returned with the path of the value at fault, never thrown.
import type { PathSegment } from '../yaml-source.js';
import { fileObject, network } from './convert-objects.js';
import { convertService, type ServiceContext } from './convert-service.js';
import type { StackFileObject, StackNetwork, StackService } from './types.js';
import { isObj, sortedKeys, type Obj } from './values.js';

export { familiarImage, imageReferenceProblem } from './convert-image.js';
export { contentName, isContentName } from './convert-objects.js';

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

  const ctx: ServiceContext = { data, input, secrets: out.secrets, configs: out.configs, error, warn };
  for (const key of Object.keys(services).sort()) {
    const def = (services[key] ?? {}) as Obj;
    const before = out.problems.length;
    const spec = convertService(key, def, ['services', key], ctx);
    if (out.problems.length === before) out.services.push(spec);
  }
  return out;
}
