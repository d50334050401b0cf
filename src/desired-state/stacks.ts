// Reading docker-compose v3 files (spec.stacks) into service entries, named <stack>_<service> as
// `docker stack deploy` names them. Only what warden reconciles is read: deploy.replicas,
// deploy.placement (constraints, spread preferences, max_replicas_per_node) and depends_on. Everything
// else (images, ports, networks, healthchecks, resources, x-* extensions) does not concern warden and
// is ignored. What warden cannot honour is reported in the compose file itself: contradictions that
// `docker stack deploy` would also refuse are errors; features warden deliberately skips are warnings.
import type { DesiredService } from './types.js';
import type { Problem } from './source.js';
import { parseYamlSource, problemAt, type PathSegment, type YamlSource } from './yaml-source.js';
import { substitute, TemplateError, type Lookup } from './compose/template.js';
import { constraintProblem, serviceNameProblem, spreadProblem } from './validators.js';

/** StackService is a service read from a compose file, with where its depends_on was written. */
export interface StackService {
  service: DesiredService;
  /** at positions a problem about this service's dependsOn (e.g. a cycle) in the compose file. */
  at(message: string): Problem;
}

/** StackRead is what readStack found: services, and problems (errors) and warnings in the compose file. */
export interface StackRead {
  services: StackService[];
  problems: Problem[];
  warnings: Problem[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const MODES = ['replicated', 'global', 'replicated-job', 'global-job'] as const;

/**
 * readStack reads one compose file's text as stack `stack`; `file` names it in problems, and `env` holds
 * the values of its ${VAR} (the stack's env and envFile; default none).
 */
export function readStack(stack: string, text: string, file: string, env: Readonly<Record<string, string>> = {}): StackRead {
  const parsed = parseYamlSource(text, file);
  const out: StackRead = { services: [], problems: [...parsed.problems], warnings: [...parsed.warnings] };
  if (parsed.problems.length > 0) return out;
  const src = parsed.source;
  const error = (path: PathSegment[], message: string, target: 'value' | 'key' = 'value'): void => {
    out.problems.push(problemAt(src, path, message, target));
  };
  const warn = (path: PathSegment[], message: string, target: 'value' | 'key' = 'value'): void => {
    out.warnings.push(problemAt(src, path, message, target));
  };

  const lookup = (name: string): string | undefined => env[name];
  const interp: Interpolate = (value, path) => interpolate(value, path, lookup, warn, error);
  const data = parsed.data;
  if (!isObj(data)) {
    error([], 'a compose file is a mapping with a services: key');
    return out;
  }
  const version = data.version;
  if (version !== undefined && /^[12](\.|$)/.test(String(version))) {
    error(['version'], `compose file version ${String(version)} has no deploy: section; warden reads version 3 files`);
    return out;
  }
  const services = data.services;
  if (services === undefined || services === null) {
    warn([], 'the compose file defines no services');
    return out;
  }
  if (!isObj(services)) {
    error(['services'], 'services: is a mapping of service names to their definitions');
    return out;
  }
  const names = Object.keys(services);
  for (const name of names) {
    const entry = readService(stack, name, services[name], names, src, error, interp, warn);
    if (entry) out.services.push(entry);
  }
  return out;
}

type Report = (path: PathSegment[], message: string, target?: 'value' | 'key') => void;
type Interpolate = (value: unknown, path: PathSegment[]) => unknown;

function readService(
  stack: string,
  name: string,
  def: unknown,
  names: string[],
  src: YamlSource,
  error: Report,
  interpolate: Interpolate,
  warn: Report,
): StackService | undefined {
  const base: PathSegment[] = ['services', name];
  const fullName = `${stack}_${name}`;
  const nameProblem = serviceNameProblem(fullName);
  if (nameProblem !== undefined) {
    error(base, `service ${name} would be deployed as ${nameProblem}`, 'key');
    return undefined;
  }
  if (def === null || def === undefined) def = {};
  if (!isObj(def)) {
    error(base, `service ${name} must be a mapping`);
    return undefined;
  }
  const service: DesiredService = { name: fullName, origin: `stack:${stack}` };
  if (def.extends !== undefined) {
    warn([...base, 'extends'], 'warden does not follow extends: only the deploy: and depends_on: written here are read', 'key');
  }

  const deploy = def.deploy;
  if (deploy !== undefined && deploy !== null && !isObj(deploy)) {
    error([...base, 'deploy'], 'deploy: must be a mapping');
  } else if (isObj(deploy)) {
    const mode = deploy.mode === undefined ? 'replicated' : interpolate(deploy.mode, [...base, 'deploy', 'mode']);
    if (mode !== undefined && !(MODES as readonly unknown[]).includes(mode)) {
      error([...base, 'deploy', 'mode'], `deploy.mode is one of ${MODES.join(', ')}, not ${JSON.stringify(mode)}`);
      return undefined;
    }
    if (mode === 'replicated-job' || mode === 'global-job') {
      warn([...base, 'deploy', 'mode'], `${fullName} is a job (${mode}): warden does not manage jobs, so it is skipped`);
      return undefined;
    }
    if (deploy.replicas !== undefined) {
      const replicas = wholeNumber(interpolate(deploy.replicas, [...base, 'deploy', 'replicas']));
      if (mode === 'global') {
        error([...base, 'deploy', 'replicas'], 'deploy.replicas cannot be used with deploy.mode: global (a global service runs one task per node); remove one of them');
      } else if (replicas === null) {
        error([...base, 'deploy', 'replicas'], 'deploy.replicas must be a whole number, 0 or more');
      } else if (replicas !== undefined) {
        service.replicas = replicas;
      }
    }
    const placement = deploy.placement;
    if (placement !== undefined && placement !== null && !isObj(placement)) {
      error([...base, 'deploy', 'placement'], 'deploy.placement must be a mapping');
    } else if (isObj(placement)) {
      readPlacement(placement, [...base, 'deploy', 'placement'], mode, service, error, interpolate);
    }
  }

  const dependsOn = readDependsOn(def.depends_on, [...base, 'depends_on'], names, error);
  if (dependsOn !== undefined && dependsOn.length > 0) service.dependsOn = dependsOn.map((d) => `${stack}_${d}`);
  return { service, at: (message) => problemAt(src, [...base, 'depends_on'], message, def.depends_on === undefined ? 'key' : 'value') };
}

function readPlacement(
  placement: Obj,
  path: PathSegment[],
  mode: unknown,
  service: DesiredService,
  error: Report,
  interpolate: Interpolate,
): void {
  const result: NonNullable<DesiredService['placement']> = {};
  if (placement.constraints !== undefined) {
    const list = stringList(placement.constraints, [...path, 'constraints'], 'deploy.placement.constraints', error, interpolate);
    if (list !== undefined) {
      let ok = true;
      list.forEach((c, i) => {
        if (c === undefined) return void (ok = false);
        const problem = constraintProblem(c);
        if (problem !== undefined) {
          error([...path, 'constraints', i], problem);
          ok = false;
        }
      });
      if (ok) result.constraints = list as string[];
    }
  }
  if (placement.preferences !== undefined) {
    const prefs = placement.preferences;
    if (!Array.isArray(prefs)) {
      error([...path, 'preferences'], 'deploy.placement.preferences is a list of { spread: <descriptor> }');
    } else {
      const descriptors: string[] = [];
      prefs.forEach((p, i) => {
        const at: PathSegment[] = [...path, 'preferences', i];
        if (!isObj(p) || Object.keys(p).length !== 1 || !('spread' in p)) {
          const kinds = isObj(p) ? Object.keys(p).join(', ') : JSON.stringify(p);
          error(at, `swarm only spreads: write "- spread: node.labels.<label>" (${kinds || 'empty'} is not a placement preference swarm supports)`);
          return;
        }
        const d = interpolate(p.spread, [...at, 'spread']);
        if (d === undefined) return;
        const problem = typeof d === 'string' ? spreadProblem(d) : 'spread is a node attribute, e.g. node.labels.zone';
        if (problem !== undefined) error([...at, 'spread'], problem);
        else descriptors.push(d as string);
      });
      if (descriptors.length === prefs.length) result.preferences = descriptors;
    }
  }
  if (placement.max_replicas_per_node !== undefined) {
    const at = [...path, 'max_replicas_per_node'];
    const n = wholeNumber(interpolate(placement.max_replicas_per_node, at));
    if (mode === 'global') error(at, 'max_replicas_per_node only applies to replicated services, not deploy.mode: global');
    else if (n === null) error(at, 'max_replicas_per_node must be a whole number, 0 or more');
    else if (n !== undefined) result.maxReplicasPerNode = n;
  }
  if (Object.keys(result).length > 0) service.placement = result;
}

function readDependsOn(value: unknown, path: PathSegment[], names: string[], error: Report): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  // Two forms: a list of names, or a mapping of names to { condition, ... } (compose spec).
  const entries: Array<[string, PathSegment[]]> = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'string') entries.push([v, [...path, i]]);
      else error([...path, i], 'depends_on lists service names');
    });
  } else if (isObj(value)) {
    for (const k of Object.keys(value)) entries.push([k, [...path, k]]);
  } else {
    error(path, 'depends_on is a list of service names, or a mapping of service names to conditions');
    return undefined;
  }
  const out: string[] = [];
  for (const [dep, at] of entries) {
    if (!names.includes(dep)) {
      error(at, `depends_on names ${JSON.stringify(dep)}, which is not a service of this file`, Array.isArray(value) ? 'value' : 'key');
    } else {
      out.push(dep);
    }
  }
  return out;
}

function stringList(
  value: unknown,
  path: PathSegment[],
  what: string,
  error: Report,
  interpolate: Interpolate,
): Array<string | undefined> | undefined {
  if (!Array.isArray(value)) {
    error(path, `${what} is a list of strings`);
    return undefined;
  }
  return value.map((v, i) => {
    const s = interpolate(v, [...path, i]);
    if (s === undefined) return undefined;
    if (typeof s !== 'string') {
      error([...path, i], `${what} holds strings, not ${typeof s}`);
      return undefined;
    }
    return s;
  });
}

// Substituted as docker/cli substitutes (./compose/template.ts), with the stack's env; a variable with
// neither a value nor a default cannot be known offline, so the field is skipped with a warning (an
// explicit services entry can set it).
function interpolate(value: unknown, path: PathSegment[], lookup: Lookup, warn: Report, error: Report): unknown {
  if (typeof value !== 'string' || !value.includes('$')) return value;
  try {
    return substitute(value, lookup);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    if (err.kind === 'missing') {
      const v = err.variable ?? '';
      warn(path, `\${${v}} has no default, and warden does not read the deploying shell's environment: this value is ignored (set it in the stack's env, give a default, \${${v}:-value}, or set it in spec.services)`);
    } else {
      error(path, err.message);
    }
    return undefined;
  }
}

// undefined: skipped (warned); null: not a whole number.
function wholeNumber(value: unknown): number | null | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : null;
}
