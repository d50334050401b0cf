// How the conversion reads a compose value: the typed views docker/cli's loader gives each kind of key
// (list_or_dict, mapping with equals, string or list), shared by every field group of ./convert-*.ts.
import type { PathSegment } from '../yaml-source.js';
import { parseGoDuration } from './parse.js';
import { LABEL_NAMESPACE } from './types.js';

/** Obj is a compose mapping as the YAML parser gives it. */
export type Obj = Record<string, unknown>;

/** Report records a problem (or a warning) at the path of the value at fault; `key` points at its key. */
export type Report = (p: PathSegment[], message: string, key?: boolean) => void;

/** isObj tells a mapping from a list, a scalar or null. */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** str is a scalar as a string; undefined for an absent or null value. */
export function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

/** durationNs reads a Go duration ("1m30s") in nanoseconds; undefined when absent. */
export function durationNs(v: unknown): number | undefined {
  return typeof v === 'string' ? parseGoDuration(v) : undefined;
}

/** mapping reads list_or_dict (labels, sysctls, driver options): a mapping, or a list of "k=v" (a bare k is ""). */
export function mapping(v: unknown, sep = '='): Record<string, string> | undefined {
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

/** mappingWithEquals reads environment: as mapping(), but a bare name (or a null value) has no value at all. */
export function mappingWithEquals(v: unknown): Map<string, string | null> {
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

/** stringList reads a string or a list of strings as a list; undefined when absent. */
export function stringList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v.map(String) : [String(v)];
}

/** namespaced adds the stack's namespace label, as stack deploy puts it on every object. */
export function namespaced(stack: string, labels: Record<string, string> | undefined): Record<string, string> {
  return { ...(labels ?? {}), [LABEL_NAMESPACE]: stack };
}

/** sortedKeys lists a mapping's keys in order, so that conversion does not depend on the file's order. */
export function sortedKeys<T>(o: Record<string, T> | undefined): string[] {
  return Object.keys(o ?? {}).sort();
}

/** byCodeUnits is Go's sort.Strings order (bytes; the same as UTF-16 code units for what names hold). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
