// Checks for the strings of the desired-state file that carry their own small languages: durations,
// octal modes, cron schedules, hostname globs, Docker placement constraints and spread descriptors.
// Each returns an error message a person can act on, or undefined when the value is good; the zod
// schema (./schema.ts) and the compose reader (./stacks.ts) share them so both files say the same thing.
import picomatch from 'picomatch';
import { validateDetailed } from 'node-cron';

const DURATION_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];
// Units in decreasing order, each at most once, like Go's time.ParseDuration output ("1h30m").
const DURATION_RE = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/;

/** parseDuration turns "30s", "5m", "2h", "1h30m" or "1d" into milliseconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m || text.trim() === '') return undefined;
  let ms = 0;
  for (let i = 0; i < DURATION_UNITS.length; i++) {
    const digits = m[i + 1];
    if (digits !== undefined) ms += Number(digits) * DURATION_UNITS[i]![1];
  }
  return ms;
}

/** durationProblem explains why a string is not a duration; undefined when it is one. */
export function durationProblem(text: string): string | undefined {
  if (parseDuration(text) !== undefined) return undefined;
  if (/^\d+$/.test(text.trim())) return `"${text}" has no unit: write ${text.trim()}s, ${text.trim()}m or ${text.trim()}h`;
  if (/\d\.\d/.test(text)) return `"${text}" is not a duration: fractions are not allowed, write 1h30m rather than 1.5h`;
  return `"${text}" is not a duration: write a number and a unit (ms, s, m, h, d), largest first, e.g. 30s, 5m, 2h or 1h30m`;
}

/** parseOctalMode turns "0700", "700" or "2775" into the numeric mode; undefined when it is not one. */
export function parseOctalMode(text: string): number | undefined {
  if (!/^0?[0-7]{3,4}$/.test(text)) return undefined;
  const n = Number.parseInt(text, 8);
  return n <= 0o7777 ? n : undefined;
}

/** modeProblem explains why a string is not an octal mode; undefined when it is one. */
export function modeProblem(text: string): string | undefined {
  if (parseOctalMode(text) !== undefined) return undefined;
  return `"${text}" is not an octal mode: write three or four octal digits in quotes, e.g. "0700", "0750" or "2775"`;
}

/** cronProblem explains why a string is not a cron schedule (5 fields, or 6 with seconds first). */
export function cronProblem(text: string): string | undefined {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `"${text}" is not a cron schedule: it has ${fields.length} field${fields.length === 1 ? '' : 's'}, ` +
      'expected 5 (minute hour day-of-month month day-of-week) or 6 (seconds first), e.g. "0 2 * * *"';
  }
  const result = validateDetailed(text.trim());
  if (result.valid) return undefined;
  const details = (result.errors ?? []).map((e) => `${e.value} is not valid for the ${fieldName(e.field)} field`);
  return `"${text}" is not a cron schedule: ${details.join('; ') || 'not understood'}`;
}

function fieldName(field: string): string {
  return field.replace(/([A-Z])/g, ' $1').toLowerCase();
}

// Hostnames are letters, digits, dots, dashes and underscores; the rest are glob syntax.
const GLOB_CHARS = /^[A-Za-z0-9._\-*?[\]!{},^]+$/;

/** globProblem explains why a string is not a hostname glob (picomatch syntax, no slashes). */
export function globProblem(text: string): string | undefined {
  if (text === '') return 'a hostname glob must not be empty';
  if (!GLOB_CHARS.test(text)) {
    const bad = [...text].find((c) => !GLOB_CHARS.test(c)) ?? '';
    return `"${text}" is not a hostname glob: ${JSON.stringify(bad)} cannot appear in a hostname (use *, ?, [a-z] or {a,b})`;
  }
  try {
    picomatch.makeRe(text, { strictBrackets: true });
  } catch (err) {
    return `"${text}" is not a hostname glob: ${(err as Error).message.replace(/ - use .*$/, '')}`;
  }
  return undefined;
}

/** labelKeyProblem explains why a string cannot be a Docker label key. */
export function labelKeyProblem(key: string): string | undefined {
  if (key === '') return 'a label key must not be empty';
  if (/[\s=]/.test(key)) return `"${key}" is not a label key: it must not contain spaces or "="`;
  return undefined;
}

// The node attributes swarm can constrain on (docs: "docker service create --constraint").
const CONSTRAINT_ATTRS = /^(?:node\.(?:id|hostname|role|platform\.os|platform\.arch)|(?:node|engine)\.labels\.[^\s=!]+)$/;

/** constraintProblem explains why a string is not a swarm placement constraint like "node.labels.x == y". */
export function constraintProblem(text: string): string | undefined {
  const m = /^\s*([^\s=!]+)\s*(==|!=)\s*(\S.*?)\s*$/.exec(text);
  if (!m) {
    return `"${text}" is not a placement constraint: write <attribute> == <value> or <attribute> != <value>, ` +
      'e.g. "node.labels.function == app"';
  }
  const attr = m[1]!;
  if (!CONSTRAINT_ATTRS.test(attr)) {
    return `"${attr}" is not a node attribute swarm can constrain on: use node.id, node.hostname, node.role, ` +
      'node.platform.os, node.platform.arch, node.labels.<key> or engine.labels.<key>';
  }
  if (attr === 'node.role' && !['manager', 'worker'].includes(m[3]!)) {
    return `node.role is manager or worker, not "${m[3]}"`;
  }
  return undefined;
}

// Spread descriptors name a node attribute; swarm spreads tasks over its distinct values.
const SPREAD_RE = /^(?:node\.(?:id|hostname|role|platform\.os|platform\.arch)|(?:node|engine)\.labels\.[^\s=!]+)$/;

/** spreadProblem explains why a string is not a spread descriptor like "node.labels.zone". */
export function spreadProblem(text: string): string | undefined {
  if (SPREAD_RE.test(text)) return undefined;
  if (text.startsWith('spread=')) return `write the descriptor alone: "${text.slice('spread='.length)}" (every preference is a spread)`;
  return `"${text}" is not a spread descriptor: name a node attribute, e.g. node.labels.zone`;
}

// Docker's own rule for service names (names are also DNS names on overlay networks).
const SERVICE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** serviceNameProblem explains why a string cannot be a swarm service name. */
export function serviceNameProblem(name: string): string | undefined {
  if (name.length > 63) return `"${name}" is too long for a service name (at most 63 characters)`;
  if (!SERVICE_NAME_RE.test(name)) {
    return `"${name}" is not a service name: letters, digits, "_", "." and "-", starting with a letter or digit`;
  }
  return undefined;
}

/** closest returns the candidate nearest to `word` when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // A third of the word's length catches transpositions and a dropped letter, not unrelated words.
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
