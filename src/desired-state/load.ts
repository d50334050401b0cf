// Loading the desired-state file: YAML with positions, the strict zod schema, cross-references
// (duplicates, dependency cycles), the compose stacks it names, and finally the resolved DesiredState
// the controller consumes. Every problem found is collected and thrown together as one
// DesiredStateError, each at FILE:LINE:COL, so an operator fixes the file in one go.
import { createHash } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { ClusterState, type ServiceEntry, type StackEntry } from './schema.js';
import { DesiredStateError, type LoadedState, type Problem } from './source.js';
import { loadComposeStack } from './compose/load.js';
import { parseEnvFile } from './compose/parse.js';
import { readStack } from './stacks.js';
import { decryptingReader, type SopsMode } from './sops/reader.js';
import type { DesiredService, DesiredStack, DesiredState } from './types.js';
import { closest, parseDuration, parseOctalMode } from './validators.js';
import { formatPath, nodeAt, parseYamlSource, problemAt, type PathSegment, type YamlSource } from './yaml-source.js';

/** LoadOptions say how to read the files a desired-state file refers to. */
export interface LoadOptions {
  /**
   * readFile reads a file the desired-state file refers to (a compose file: the desired-state file's
   * directory joined with stacks[].file; an env file; a config's or secret's file) as bytes, since configs
   * and secrets may be binary; text is decoded as UTF-8 where it is read. Default: the local file system.
   */
  readFile?: (file: string) => Promise<Buffer>;
  /** confine requires stack files to be relative paths that stay inside the file's tree (a git repository); default false. */
  confine?: boolean;
  /** revision overrides the content hash (a git source passes the commit SHA). */
  revision?: string;
  /** source overrides the description in LoadedState; default: the file name. */
  source?: string;
  /** sops opens the sops-encrypted files among those: keys, or 'check' (validate without keys); default no keys. */
  sops?: SopsMode;
}

/** loadDesiredStateFile reads and loads a local desired-state file; an unreadable file is an Error with its code, a bad one a DesiredStateError. */
export async function loadDesiredStateFile(file: string, opts: LoadOptions = {}): Promise<LoadedState> {
  let text: string;
  try {
    text = await fsReadFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw Object.assign(new Error(`${file}: cannot read the desired-state file: ${readError(e)}`, { cause: err }), { code: e.code });
  }
  return loadDesiredStateText(text, file, opts);
}

/** loadDesiredStateText loads a desired-state file's text; `file` names it in problems and locates its stacks. */
export async function loadDesiredStateText(text: string, file: string, opts: LoadOptions = {}): Promise<LoadedState> {
  try {
    return await loadText(text, file, opts);
  } catch (err) {
    // Say which content failed, so that /status and the metrics can tell it from the one in force.
    if (err instanceof DesiredStateError) err.revision ??= opts.revision ?? createHash('sha256').update(text).digest('hex').slice(0, 12);
    throw err;
  }
}

async function loadText(text: string, file: string, opts: LoadOptions): Promise<LoadedState> {
  const hash = createHash('sha256').update(text);
  const parsed = parseYamlSource(text, file);
  const src = parsed.source;
  if (parsed.problems.length > 0) throw new DesiredStateError(parsed.problems);
  if (parsed.data === null || parsed.data === undefined) {
    throw new DesiredStateError([
      { file, line: 1, col: 1, message: 'the file is empty: a desired-state file has apiVersion, kind, metadata and spec' },
    ]);
  }

  const knownKeys = new Map<unknown, string[]>();
  const result = ClusterState.safeParse(parsed.data, { error: (iss) => friendlyMessage(iss, knownKeys) });
  if (!result.success) {
    throw new DesiredStateError(sortProblems(issuesToProblems(result.error.issues, src, parsed.data, knownKeys)));
  }
  const doc = result.data;
  const problems: Problem[] = crossCheck(doc, src);
  const warnings: Problem[] = [...parsed.warnings];

  // Stacks: each compose file is read relative to this file; its problems point into it.
  const fromStacks: Array<{ service: DesiredService; at: (m: string) => Problem }> = [];
  const deployed: DesiredStack[] = [];
  // Bytes, never text: a config or secret may be binary, and decoding it as UTF-8 would corrupt it.
  // Any of them may be a sops file: it reads as its plaintext, or fails as a problem naming it.
  const readBytes = decryptingReader(opts.readFile ?? ((f: string) => fsReadFile(f)), opts.sops);
  const readFile = async (f: string): Promise<string> => (await readBytes(f)).toString('utf8');
  for (const [i, stack] of (doc.spec.stacks ?? []).entries()) {
    const at: PathSegment[] = ['spec', 'stacks', i, 'file'];
    const stackFile = stackPath(file, stack.file, opts.confine ?? false);
    if (typeof stackFile !== 'string') {
      problems.push(problemAt(src, at, stackFile.problem));
      continue;
    }
    let composeText: string;
    try {
      composeText = await readFile(stackFile);
    } catch (err) {
      problems.push(problemAt(src, at, `cannot read compose file ${stackFile}: ${readError(err as NodeJS.ErrnoException)}`));
      continue;
    }
    hash.update(`\0${stackFile}\0`).update(composeText);
    const env = await stackEnv(stack, i, file, opts, src, readFile, hash, problems);
    if (env === undefined) continue;
    const read = readStack(stack.name, composeText, stackFile, env);
    if (!stack.deploy) {
      problems.push(...read.problems);
      warnings.push(...read.warnings);
      fromStacks.push(...read.services);
      continue;
    }
    // A deployed stack is read whole, as stack deploy reads it; its services still join spec.services
    // (replicas, placement, depends_on) for the reconcilers that read those.
    const hashing = async (f: string): Promise<Buffer> => {
      const bytes = await readBytes(f);
      hash.update(`\0${f}\0`).update(bytes);
      return bytes;
    };
    const full = await loadComposeStack(composeText, {
      stack: stack.name,
      file: stackFile,
      env,
      prune: stack.prune,
      resolveImage: stack.resolveImage,
      readFile: hashing,
      resolvePath: (ref) => stackPath(stackFile, ref, opts.confine ?? false),
    });
    problems.push(...full.problems);
    warnings.push(...full.warnings);
    if (full.stack) {
      deployed.push(full.stack);
      fromStacks.push(...read.services.map((s) => ({ ...s, service: { ...s.service, deployed: true } })));
    }
  }

  const explicit = doc.spec.services ?? [];
  const services = mergeServices(explicit, fromStacks, src, problems);
  if (services !== undefined) problems.push(...dependencyCycles(services));
  if (problems.length > 0) throw new DesiredStateError(sortProblems(problems));

  const state = resolve(doc, services?.map((s) => s.service));
  if (deployed.length > 0) state.stacks = deployed;
  const loaded: LoadedState = {
    state,
    revision: opts.revision ?? hash.digest('hex').slice(0, 12),
    source: opts.source ?? file,
  };
  if (warnings.length > 0) loaded.warnings = sortProblems(warnings);
  return loaded;
}

// The values of a stack's ${VAR}: its envFile, then its env over it. Never warden's own environment.
async function stackEnv(
  stack: StackEntry,
  i: number,
  file: string,
  opts: LoadOptions,
  src: YamlSource,
  readFile: (f: string) => Promise<string>,
  hash: ReturnType<typeof createHash>,
  problems: Problem[],
): Promise<Record<string, string> | undefined> {
  const env: Record<string, string> = {};
  if (stack.envFile !== undefined) {
    const at: PathSegment[] = ['spec', 'stacks', i, 'envFile'];
    const envPath = stackPath(file, stack.envFile, opts.confine ?? false);
    if (typeof envPath !== 'string') {
      problems.push(problemAt(src, at, envPath.problem));
      return undefined;
    }
    let text: string;
    try {
      text = await readFile(envPath);
    } catch (err) {
      problems.push(problemAt(src, at, `cannot read env file ${envPath}: ${readError(err as NodeJS.ErrnoException)}`));
      return undefined;
    }
    hash.update(`\0${envPath}\0`).update(text);
    try {
      for (const [k, v] of parseEnvFile(text, () => undefined)) env[k] = v;
    } catch (err) {
      problems.push(problemAt(src, at, `${envPath}: ${(err as Error).message}`));
      return undefined;
    }
  }
  return { ...env, ...(stack.env ?? {}) };
}

function readError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return e.message;
  }
}

function stackPath(file: string, ref: string, confine: boolean): string | { problem: string } {
  if (confine) {
    if (path.posix.isAbsolute(ref)) return { problem: `"${ref}" must be relative to the desired-state file, inside the repository` };
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref));
    if (joined === '..' || joined.startsWith('../')) return { problem: `"${ref}" points outside the repository` };
    return joined;
  }
  return path.isAbsolute(ref) ? ref : path.join(path.dirname(file), ref);
}

type Located = { service: DesiredService; at: (message: string) => Problem };

// Services named in spec.services win over the same name derived from a stack, whole: the explicit
// entry is what the operator wrote last and most deliberately.
function mergeServices(explicit: ServiceEntry[], fromStacks: Located[], src: YamlSource, problems: Problem[]): Located[] | undefined {
  const byName = new Map<string, Located>();
  explicit.forEach((s, i) => {
    const service: DesiredService = { name: s.name, origin: 'services' };
    if (s.replicas !== undefined) service.replicas = s.replicas;
    if (s.placement !== undefined) service.placement = { ...s.placement };
    if (s.dependsOn !== undefined) service.dependsOn = [...s.dependsOn];
    if (s.rebalance !== undefined) service.rebalance = s.rebalance;
    byName.set(s.name, { service, at: (m) => problemAt(src, ['spec', 'services', i, 'dependsOn'], m) });
  });
  for (const s of fromStacks) {
    const prior = byName.get(s.service.name);
    if (prior === undefined) byName.set(s.service.name, s);
    else if (prior.service.origin !== 'services') {
      problems.push(s.at(`${s.service.name} is also defined by ${prior.service.origin}: two stacks cannot deploy the same service name`));
    }
  }
  return byName.size > 0 || explicit.length > 0 ? [...byName.values()] : undefined;
}

function dependencyCycles(services: Located[]): Problem[] {
  const byName = new Map(services.map((s) => [s.service.name, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const problems: Problem[] = [];
  const visit = (name: string, trail: string[]): void => {
    const s = byName.get(name);
    if (s === undefined || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const first = byName.get(cycle[0]!)!;
      problems.push(first.at(`dependency cycle ${cycle.join(' → ')}: none of these services could ever start first`));
      return;
    }
    state.set(name, 'visiting');
    for (const dep of s.service.dependsOn ?? []) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const s of services) visit(s.service.name, []);
  return problems;
}

// Checks that span entries: names listed twice, a service that depends on itself.
function crossCheck(doc: ClusterState, src: YamlSource): Problem[] {
  const problems: Problem[] = [];
  const unique = <T>(list: T[] | undefined, key: (t: T) => string, field: string, section: string, what: string): void => {
    const seen = new Map<string, number>();
    (list ?? []).forEach((item, i) => {
      const k = key(item);
      const first = seen.get(k);
      if (first === undefined) {
        seen.set(k, i);
        return;
      }
      const firstLine = problemAt(src, ['spec', section, first, field], '').line;
      problems.push(problemAt(src, ['spec', section, i, field], `${what} ${k} is already listed at line ${firstLine}: list it once`));
    });
  };
  unique(doc.spec.services, (s) => s.name, 'name', 'services', 'service');
  unique(doc.spec.stacks, (s) => s.name, 'name', 'stacks', 'stack');
  unique(doc.spec.volumes, (v) => v.path, 'path', 'volumes', 'path');
  (doc.spec.services ?? []).forEach((s, i) => {
    (s.dependsOn ?? []).forEach((d, j) => {
      if (d === s.name) problems.push(problemAt(src, ['spec', 'services', i, 'dependsOn', j], `${s.name} cannot depend on itself`));
    });
  });
  return problems;
}

function resolve(doc: ClusterState, services: DesiredService[] | undefined): DesiredState {
  const spec = doc.spec;
  const state: DesiredState = {
    cluster: doc.metadata.name,
    policy: {
      mode: spec.policy.mode,
      reconcilers: spec.policy.reconcilers,
      maxActionsPerPass: spec.policy.maxActionsPerPass,
      resync: spec.policy.resync,
      ignoreLabel: spec.policy.ignoreLabel,
      rebalance: spec.policy.rebalance,
      rollbackGraceMs: parseDuration(spec.policy.rollbackGrace)!,
    },
  };
  const roots = spec.policy.volumeRoots;
  if (roots) state.policy.volumeRoots = [...roots];
  const window = spec.policy.disruptiveWindow;
  if (window) state.policy.disruptiveWindow = { cron: window.cron, durationMs: parseDuration(window.duration)! };
  if (spec.managers) {
    const m = spec.managers;
    state.managers = {
      count: m.count,
      replaceUnreachableAfterMs: m.replaceUnreachableAfter === 'never' ? null : parseDuration(m.replaceUnreachableAfter)!,
    };
    if (m.eligible) state.managers.eligible = m.eligible;
    if (m.spreadLabel !== undefined) state.managers.spreadLabel = m.spreadLabel;
  }
  if (spec.nodes) state.nodes = spec.nodes.map((n) => ({ ...n }));
  if (services) state.services = services;
  if (spec.volumes) {
    state.volumes = spec.volumes.map((v) => {
      const out: NonNullable<DesiredState['volumes']>[number] = { path: v.path, owner: v.owner, recursive: v.recursive };
      if (v.mount !== undefined) out.mount = v.mount;
      // The longest volume root the path lies at or below: only there may a local directory be changed.
      const root = (roots ?? []).filter((r) => v.path === r || v.path.startsWith(`${r}/`)).sort((a, b) => b.length - a.length)[0];
      if (root !== undefined) out.root = root;
      if (v.group !== undefined) out.group = v.group;
      if (v.mode !== undefined) out.mode = parseOctalMode(v.mode)!;
      return out;
    });
  }
  if (spec.registry) {
    const r = spec.registry;
    state.registry = { service: r.service, address: r.address, probe: r.probe ?? `http://${r.address}/v2/` };
  }
  return state;
}

function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

// --- zod issues to problems -------------------------------------------------------------------

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

// The per-parse error map: plain-language messages for zod's generic issues. Messages set on a
// schema (./schema.ts) take precedence over these.
function friendlyMessage(iss: RawIssue, knownKeys: Map<unknown, string[]>): string | undefined {
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

function issuesToProblems(issues: z.core.$ZodIssue[], src: YamlSource, data: unknown, knownKeys: Map<unknown, string[]>): Problem[] {
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
