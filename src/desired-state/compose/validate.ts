// Validating a compose document against the v3 schema with ajv, and turning ajv's errors into problems
// at a path. ajv reports every branch of a oneOf; like docker/cli, the most specific error of a value
// wins (a deeper path over the shallower one that only says "does not match any"), and the type errors
// of the branches at one place are joined into one message ("must be a string or a list").
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { closest } from '../validators.js';
import type { PathSegment } from '../yaml-source.js';
import { durationProblem, parsePortSpec } from './parse.js';
import { COMPOSE_SCHEMA, compareVersions, EXTENSIONS_SINCE, KEY_SINCE } from './schema.js';

/** SchemaProblem is one schema violation at a path; `key` says to point at the key rather than its value. */
export interface SchemaProblem {
  path: PathSegment[];
  message: string;
  key?: boolean;
}

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (compiled) return compiled;
  // verbose: each error carries its schema, whose properties are the keys to suggest for a typo.
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true, verbose: true });
  ajv.addFormat('duration', { type: 'string', validate: (s: string) => durationProblem(s) === undefined });
  ajv.addFormat('ports', {
    type: 'string',
    validate: (s: string) => {
      try {
        parsePortSpec(s);
        return true;
      } catch {
        return false;
      }
    },
  });
  ajv.addFormat('expose', { type: 'string', validate: () => true });
  compiled = ajv.compile(COMPOSE_SCHEMA);
  return compiled;
}

function toPath(instancePath: string): PathSegment[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** describePath renders a path as compose users write it: services.web.ports[0]. */
export function describePath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

function typeName(t: string): string {
  switch (t) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'null':
      return 'empty';
    case 'integer':
      return 'a whole number';
    case 'boolean':
      return 'true or false';
    default:
      return `a ${t}`;
  }
}

function joinOr(items: string[]): string {
  const unique = [...new Set(items)];
  return unique.length <= 1 ? (unique[0] ?? '') : `${unique.slice(0, -1).join(', ')} or ${unique[unique.length - 1]}`;
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function knownKeys(e: ErrorObject): string[] {
  const props = (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props ? Object.keys(props) : [];
}

/** validateSchema checks a (interpolated) compose document against the v3 schema of its version. */
export function validateSchema(data: unknown, version: string): SchemaProblem[] {
  const validate = validator();
  const problems: SchemaProblem[] = [];
  if (!validate(data)) {
    const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if');
    const all = validate.errors ?? [];
    // Keep an error only when no other error lies deeper inside the same value.
    const deepest = errors.filter(
      (e) => !errors.some((o) => o !== e && o.instancePath.startsWith(`${e.instancePath}/`)),
    );
    const byPlace = new Map<string, ErrorObject[]>();
    for (const e of deepest) byPlace.set(e.instancePath, [...(byPlace.get(e.instancePath) ?? []), e]);
    for (const [place, list] of byPlace) {
      const path = toPath(place);
      const where = describePath(path) || 'the file';
      const types = list.filter((e) => e.keyword === 'type').flatMap((e) => String(e.params.type).split(','));
      // A value that matched no branch of a oneOf only by type: name every type it could have had.
      if (types.length > 0 && list.every((e) => e.keyword === 'type')) {
        problems.push({ path, message: `${where} must be ${joinOr(types.map(typeName))}` });
        continue;
      }
      for (const e of list) {
        if (e.keyword === 'type') continue;
        problems.push(...describe(e, path, where, data));
      }
    }
    if (problems.length === 0 && all.length > 0) {
      problems.push({ path: toPath(all[0]!.instancePath), message: `${describePath(toPath(all[0]!.instancePath)) || 'the file'} ${all[0]!.message ?? 'is invalid'}` });
    }
  }
  problems.push(...versionProblems(data, version));
  return problems;
}

function describe(e: ErrorObject, path: PathSegment[], where: string, data: unknown): SchemaProblem[] {
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const hint = key.startsWith('x-') ? undefined : closest(key, knownKeys(e));
      return [{
        path: [...path, key],
        key: true,
        message: `${key.startsWith('x-') ? 'extension' : 'unknown key'} ${JSON.stringify(key)} in ${where}: stack deploy refuses it` +
          `${hint ? ` (did you mean ${hint}?)` : ''}`,
      }];
    }
    case 'required':
      return [{ path, message: `${where}: missing required key ${JSON.stringify(String(e.params.missingProperty))}` }];
    case 'format': {
      const value = valueAt(data, path);
      if (e.params.format === 'duration') return [{ path, message: `${where}: ${durationProblem(String(value))}` }];
      if (e.params.format === 'ports') {
        let why = '';
        try {
          parsePortSpec(String(value));
        } catch (err) {
          why = (err as Error).message;
        }
        return [{ path, message: `${where}: ${JSON.stringify(value)} is not a port: ${why}` }];
      }
      return [{ path, message: `${where} ${e.message ?? 'has a bad format'}` }];
    }
    case 'enum':
      return [{ path, message: `${where} must be one of ${(e.params.allowedValues as unknown[]).join(', ')}, not ${JSON.stringify(valueAt(data, path))}` }];
    case 'uniqueItems':
      return [{ path: [...path, Number(e.params.i)], message: `${where} lists ${JSON.stringify(valueAt(data, [...path, Number(e.params.i)]))} twice (items ${e.params.j} and ${e.params.i})` }];
    case 'minimum':
      return [{ path, message: `${where} must be ${String(e.params.limit)} or more` }];
    default:
      return [{ path, message: `${where} ${e.message ?? 'is invalid'}` }];
  }
}

// A key that an older version's schema does not have is refused by stack deploy for a file of that version.
function versionProblems(data: unknown, version: string): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const older = (since: string): boolean => compareVersions(version, since) < 0;
  const visit = (value: unknown, path: PathSegment[], pattern: string[]): void => {
    if (value === null || typeof value !== 'object') return;
    const entries: Array<[PathSegment, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    for (const [k, v] of entries) {
      const here = [...pattern, typeof k === 'number' ? '[]' : k];
      const p = [...path, k];
      if (typeof k === 'string' && k.startsWith('x-')) {
        // Extensions are allowed at the top and in a service, network, volume, secret or config; the schema
        // itself refuses them anywhere else.
        const nested = path.length === 2 && ['services', 'networks', 'volumes', 'secrets', 'configs'].includes(String(path[0]));
        const since = path.length === 0 ? EXTENSIONS_SINCE.top : nested ? EXTENSIONS_SINCE.nested : undefined;
        if (since !== undefined && older(since)) {
          problems.push({ path: p, key: true, message: `${describePath(p)}: extension fields need compose version ${since} or later (this file is ${version})` });
        }
        continue;
      }
      for (const [keyPattern, since] of KEY_SINCE) {
        if (older(since) && matches(keyPattern.split('.'), here)) {
          problems.push({ path: p, key: typeof k === 'string', message: `${describePath(p)} needs compose version ${since} or later (this file is ${version}): stack deploy refuses it` });
        }
      }
      visit(v, p, here);
    }
  };
  visit(data, [], []);
  return problems;
}

function matches(pattern: string[], path: string[]): boolean {
  return pattern.length === path.length && pattern.every((p, i) => p === '*' ? path[i] !== '[]' : p === path[i]);
}
