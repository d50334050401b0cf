// Loading the desired-state file: YAML with positions, the strict zod schema, cross-references
// (duplicates, dependency cycles), the compose stacks it names, and finally the resolved DesiredState
// the controller consumes. Every problem found is collected and thrown together as one
// DesiredStateError, each at FILE:LINE:COL, so an operator fixes the file in one go. The stacks' files
// are read in ./load-stacks.ts, and the schema's issues put in words in ./load-problems.ts.
import { createHash } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import { friendlyMessage, issuesToProblems } from './load-problems.js';
import { readNotify, type UrlFileMode } from './load-notify.js';
import { readError, readStacks, type StackFilesOptions } from './load-stacks.js';
import { ClusterState, type ServiceEntry } from './schema.js';
import { DesiredStateError, type LoadedState, type Problem } from './source.js';
import type { DesiredService, DesiredState } from './types.js';
import { parseDuration, parseOctalMode } from './validators.js';
import { parseYamlSource, problemAt, type YamlSource } from './yaml-source.js';

/**
 * LoadOptions say how to read the files a desired-state file refers to (./load-stacks.ts): readFile reads
 * one (a compose file: the desired-state file's directory joined with stacks[].file; an env file; a config's
 * or secret's file) as bytes, default the local file system; confine keeps them inside the file's tree (a
 * git repository), default false; sops opens the encrypted ones (keys, or 'check'), default no keys.
 */
export interface LoadOptions extends StackFilesOptions {
  /** revision overrides the content hash (a git source passes the commit SHA). */
  revision?: string;
  /** source overrides the description in LoadedState; default: the file name. */
  source?: string;
  /** urlFiles says how spec.notify's urlFiles are read (./load-notify.ts); default `read`. */
  urlFiles?: UrlFileMode;
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
  // Stacks: each compose file is read relative to this file; its problems point into it.
  const stacks = await readStacks(doc.spec.stacks ?? [], file, src, hash, opts);
  problems.push(...stacks.problems);
  // Webhooks: each URL read from its urlFile, a secret from here on (./webhook-url.ts).
  const notify = await readNotify(doc.spec.notify ?? [], file, src, hash, opts);
  problems.push(...notify.problems);
  const warnings: Problem[] = [...parsed.warnings, ...stacks.warnings, ...notify.warnings];

  const explicit = doc.spec.services ?? [];
  const services = mergeServices(explicit, stacks.services, src, problems);
  if (services !== undefined) problems.push(...dependencyCycles(services));
  // A message may quote a value it refuses, and the value may have come from a sops file.
  const shown = (list: Problem[]): Problem[] => sortProblems(list.map((p) => ({ ...p, message: stacks.sealed.scrub(p.message) })));
  if (problems.length > 0) throw new DesiredStateError(shown(problems));

  const state = resolve(doc, services?.map((s) => s.service));
  if (stacks.deployed.length > 0) state.stacks = stacks.deployed;
  if (stacks.sealed.size > 0) state.sealed = stacks.sealed;
  if (doc.spec.notify !== undefined) state.notify = notify.notify;
  const loaded: LoadedState = {
    state,
    revision: opts.revision ?? hash.digest('hex').slice(0, 12),
    source: opts.source ?? file,
  };
  if (warnings.length > 0) loaded.warnings = shown(warnings);
  return loaded;
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

