// Interpolating a whole compose document, as docker/cli's cli/compose/interpolation does it before
// validation: every string value (never a key) is substituted, and a substituted value at a path where
// the schema wants a number or a boolean is cast to it ("${REPLICAS:-2}" becomes 2). Problems keep the
// path of the value, so that they are reported at its line and column.
import type { PathSegment } from '../yaml-source.js';
import { substitute, TemplateError, type Lookup } from './template.js';

/** InterpolationProblem is one value that could not be substituted or cast, at its path. */
export interface InterpolationProblem {
  path: PathSegment[];
  message: string;
  /** missing is true for a variable with no value and no default (an error for deployed stacks). */
  missing: boolean;
}

type Cast = (value: string) => unknown;

const ANY = '*';
const LIST = '[]';

function toInt(value: string): unknown {
  // Go's strconv.Atoi: an optional sign and decimal digits, nothing else.
  if (!/^[+-]?\d+$/.test(value)) throw new Error(`"${value}" is not a whole number`);
  return Number(value);
}

function toFloat(value: string): unknown {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`"${value}" is not a number`);
  return n;
}

function toBoolean(value: string): unknown {
  switch (value.toLowerCase()) {
    case 'y': case 'yes': case 'true': case 'on':
      return true;
    case 'n': case 'no': case 'false': case 'off':
      return false;
    default:
      throw new Error(`"${value}" is not a boolean (true, false, yes, no, on, off)`);
  }
}

// docker/cli's interpolateTypeCastMapping (cli/compose/loader/interpolate.go), path by path.
const svc = (...parts: string[]): string[] => ['services', ANY, ...parts];
const CASTS: Array<[string[], Cast]> = [
  [svc('configs', LIST, 'mode'), toInt],
  [svc('secrets', LIST, 'mode'), toInt],
  [svc('healthcheck', 'retries'), toInt],
  [svc('healthcheck', 'disable'), toBoolean],
  [svc('deploy', 'replicas'), toInt],
  [svc('deploy', 'update_config', 'parallelism'), toInt],
  [svc('deploy', 'update_config', 'max_failure_ratio'), toFloat],
  [svc('deploy', 'rollback_config', 'parallelism'), toInt],
  [svc('deploy', 'rollback_config', 'max_failure_ratio'), toFloat],
  [svc('deploy', 'restart_policy', 'max_attempts'), toInt],
  [svc('deploy', 'placement', 'max_replicas_per_node'), toInt],
  [svc('ports', LIST, 'target'), toInt],
  [svc('ports', LIST, 'published'), toInt],
  [svc('ulimits', ANY), toInt],
  [svc('ulimits', ANY, 'hard'), toInt],
  [svc('ulimits', ANY, 'soft'), toInt],
  [svc('privileged'), toBoolean],
  [svc('oom_score_adj'), toInt],
  [svc('read_only'), toBoolean],
  [svc('stdin_open'), toBoolean],
  [svc('tty'), toBoolean],
  [svc('volumes', LIST, 'read_only'), toBoolean],
  [svc('volumes', LIST, 'volume', 'nocopy'), toBoolean],
  [['networks', ANY, 'external'], toBoolean],
  [['networks', ANY, 'internal'], toBoolean],
  [['networks', ANY, 'attachable'], toBoolean],
  [['volumes', ANY, 'external'], toBoolean],
  [['secrets', ANY, 'external'], toBoolean],
  [['configs', ANY, 'external'], toBoolean],
];

function castFor(path: readonly PathSegment[]): Cast | undefined {
  for (const [pattern, cast] of CASTS) {
    if (pattern.length !== path.length) continue;
    const match = pattern.every((p, i) => {
      const seg = path[i]!;
      if (p === LIST) return typeof seg === 'number';
      return typeof seg === 'string' && (p === ANY || p === seg);
    });
    if (match) return cast;
  }
  return undefined;
}

/**
 * interpolateDocument substitutes every string of a compose document (a copy is returned); a value that
 * fails is left as written and reported. Keys are never substituted, as in docker/cli.
 */
export function interpolateDocument(data: unknown, lookup: Lookup): { data: unknown; problems: InterpolationProblem[] } {
  const problems: InterpolationProblem[] = [];
  const walk = (value: unknown, path: PathSegment[]): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('$')) return value;
      let out: string;
      try {
        out = substitute(value, lookup);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        problems.push({ path, message: err.message, missing: err.kind === 'missing' });
        return value;
      }
      // As docker/cli: a value that did not change keeps its type (no cast of a literal "3").
      if (out === value) return value;
      const cast = castFor(path);
      if (cast === undefined) return out;
      try {
        return cast(out);
      } catch (err) {
        problems.push({ path, message: `${(err as Error).message} (substituted from ${JSON.stringify(value)})`, missing: false });
        return out;
      }
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, i]));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, [...path, k]);
      return out;
    }
    return value;
  };
  return { data: walk(data, []), problems };
}
