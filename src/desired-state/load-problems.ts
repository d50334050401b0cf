// The desired-state file's schema errors as problems a person can act on: zod's issues in plain words
// ("expected a list, got the string "x"", "unknown key "replica": did you mean replicas?"), each at the
// FILE:LINE:COL of the value or key at fault, and a required key that is absent at the mapping that lacks it.
import type { z } from 'zod';
import type { Problem } from './source.js';
import { closest } from './validators.js';
import { formatPath, nodeAt, problemAt, type PathSegment, type YamlSource } from './yaml-source.js';

type RawIssue = Parameters<Exclude<z.core.ParseContext<z.core.$ZodIssue>['error'], undefined>>[0];

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `the string ${JSON.stringify(v)}`;
    case 'number':
      return `the number ${v}`;
    case 'boolean':
      return `${v}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

function describeType(t: string): string {
  switch (t) {
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'boolean':
      return 'true or false';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    default:
      return t;
  }
}

/**
 * friendlyMessage is the per-parse error map: plain-language messages for zod's generic issues (undefined:
 * zod's own). Messages set on a schema (./schema.ts) take precedence over these.
 */
export function friendlyMessage(iss: RawIssue, knownKeys: Map<unknown, string[]>): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      return `expected ${describeType(iss.expected)}, got ${describeValue(iss.input)}`;
    case 'invalid_value': {
      const values = iss.values.map((v) => String(v));
      const got = describeValue(iss.input);
      if (values.length === 1) return `must be ${values[0]}, not ${got}`;
      const hint = typeof iss.input === 'string' ? closest(iss.input, values) : undefined;
      return `must be one of ${values.join(', ')}, not ${got}${hint ? ` (did you mean ${hint}?)` : ''}`;
    }
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
      if (shape) knownKeys.set(iss.input, Object.keys(shape));
      return 'unknown key';
    }
    case 'too_small':
      if (iss.origin === 'array') return `must hold at least ${String(iss.minimum)} item${iss.minimum === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return 'must not be empty';
      return `must be at least ${String(iss.minimum)}`;
    case 'too_big':
      return `must be at most ${String(iss.maximum)}`;
    default:
      return undefined;
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) {
      return { found: false, value: undefined };
    }
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return { found: true, value: cur };
}

/** issuesToProblems turns a failed parse's issues into problems at their positions in `src`. */
export function issuesToProblems(issues: z.core.$ZodIssue[], src: YamlSource, data: unknown, knownKeys: Map<unknown, string[]>): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const p = issue.path.filter((s): s is PathSegment => typeof s === 'string' || typeof s === 'number');
    const where = formatPath(p);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys.get(valueAt(data, p).value) ?? [];
      for (const key of issue.keys) {
        const hint = closest(key, known);
        const help = hint !== undefined ? `did you mean ${hint}?` : known.length > 0 ? `expected one of ${known.join(', ')}` : '';
        const message = `unknown key ${JSON.stringify(key)}${where ? ` in ${where}` : ''}${help ? `: ${help}` : ''}`;
        problems.push(problemAt(src, [...p, key], message, 'key'));
      }
      continue;
    }
    // A required key that is absent: point at the mapping that should hold it.
    if (issue.code === 'invalid_type' && p.length > 0 && !valueAt(data, p).found && valueAt(data, p.slice(0, -1)).found) {
      const parent = formatPath(p.slice(0, -1));
      const key = String(p[p.length - 1]);
      const node = nodeAt(src, p.slice(0, -1));
      const message = `${parent ? `${parent}: ` : ''}missing required key ${JSON.stringify(key)} (${describeType(issue.expected)})`;
      problems.push(node ? problemAt(src, p.slice(0, -1), message) : { file: src.file, line: 1, col: 1, message });
      continue;
    }
    problems.push(problemAt(src, p, where ? `${where}: ${issue.message}` : issue.message));
  }
  return problems;
}
