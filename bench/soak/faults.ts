// The soak's faults, injected for real: engines stopped and started, the registry taken away, manual
// scales and label edits, a competing scaler, the git server stopped and force-pushed, the NAS hung,
// warden instances added and restarted. Each fault resolves its target among the candidates of the
// moment (the plan's pick modulo their number, sorted by name), records what it did in the timeline,
// and measures warden's reaction where there is one to measure.
import { chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab, LabNode } from '../../src/lab/lab.js';
import { probeOk } from '../../test/support/cold-boot.js';
import type { GitServer } from '../../test/support/git-server.js';
import { appImage, registryAddress, volumeDrift } from './cluster.js';
import { desiredLabels, desiredReplicas, desiredYaml, REGISTRY, REGISTRY_NODE, SCALED, VOLUMES, type Variant } from './desired.js';
import { hangNas } from './nas.js';
import type { PlannedFault } from './schedule.js';
import type { DownInterval, Sample, Timeline } from './timeline.js';
import { WardenInstance, type WardenSetup } from './wardens.js';

/** EDIT_DEADLINE_MS is how long the soak waits for warden to correct an edit before it records "not corrected" (default 60 s). */
export const EDIT_DEADLINE_MS = 60_000;
/** BACK_DEADLINE_MS is how long a restarted node may take to be ready (and reachable, for a manager) again (default 180 s). */
export const BACK_DEADLINE_MS = 180_000;
/** ROOM_DEADLINE_MS is how long a fault that would stop a manager waits for the one already down to return (default 5 min). */
export const ROOM_DEADLINE_MS = 5 * 60_000;

/** FaultRecord is what became of one planned fault. */
export interface FaultRecord {
  n: number;
  kind: string;
  variant: string;
  target?: string;
  plannedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** reactionMs is how long warden took to put the edit back (edits, force-pushes, a drift before a leader stop). */
  reactionMs?: number;
  /** note says what the fault really did, or why it did not happen. */
  note?: string;
  skipped?: boolean;
}

/**
 * Wardens are the soak's warden instances: the standing ones (by default one against every manager's
 * engine, as warden's global service runs; see followManagers), an extra one at times, and each one's lifetime.
 */
export class Wardens {
  private readonly slots = new Map<string, WardenInstance>();
  private readonly starts = new Map<string, number>();
  /** lifetimes are every instance's run: its node, from its start to its stop. */
  readonly lifetimes: Array<{ id: string; node: string; from: number; to?: number }> = [];

  constructor(private readonly setup: WardenSetup) {}

  /** start runs a new instance in `slot` on `node` (the slot must be empty). */
  async start(slot: string, node: LabNode): Promise<WardenInstance> {
    if (this.slots.has(slot)) throw new Error(`warden slot ${slot} is taken`);
    const count = (this.starts.get(node.name) ?? 0) + 1;
    this.starts.set(node.name, count);
    const w = await WardenInstance.start(this.setup, node, `${node.name}#${count}`);
    this.slots.set(slot, w);
    this.lifetimes.push({ id: w.id, node: node.name, from: Date.now() });
    this.setup.timeline.event(`warden ${w.id} started (slot ${slot}) against ${node.name}'s engine`);
    return w;
  }

  /** stop stops the instance in `slot`, if any. */
  async stop(slot: string): Promise<void> {
    const w = this.slots.get(slot);
    if (!w) return;
    this.slots.delete(slot);
    const r = await w.stop();
    const life = this.lifetimes.find((l) => l.id === w.id && l.to === undefined);
    if (life) life.to = Date.now();
    this.setup.timeline.event(`warden ${w.id} stopped (slot ${slot}): exit ${r.code} in ${r.ms} ms${r.killed ? ', KILLED after SIGTERM was not enough' : ''}`);
  }

  /** standing are the slots of the instances that run all along (`standing-<hostname>`), sorted. */
  standing(): string[] {
    return [...this.slots.keys()].filter((k) => k.startsWith('standing-')).sort();
  }

  /** busy are slots a fault is working on (a restart): followManagers leaves them alone. */
  readonly busy = new Set<string>();

  /** get is the instance in a slot. */
  get(slot: string): WardenInstance | undefined {
    return this.slots.get(slot);
  }

  /** running are the instances running now. */
  running(): WardenInstance[] {
    return [...this.slots.values()];
  }

  /** on tells whether an instance runs against `hostname`'s engine. */
  on(hostname: string): boolean {
    return this.running().some((w) => w.node.name === hostname);
  }

  /** stopAll stops every instance. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((s) => this.stop(s)));
  }
}

/** Soak is what the faults act on and record into. */
export interface Soak {
  lab: Lab;
  timeline: Timeline;
  git: GitServer;
  hostRoot: string;
  nasDir: string;
  wardens: Wardens;
  /** variant is the desired state's variant on the git server now. */
  variant: Variant;
  /** revision is the git server's main now. */
  revision: string;
  /** say prints a line of the soak's progress. */
  say(line: string): void;
}

function latest(s: Soak): Sample | undefined {
  return s.timeline.latest();
}

function sorted(names: Iterable<string>): string[] {
  return [...names].sort();
}

function openDown(s: Soak): DownInterval[] {
  return s.timeline.down.filter((d) => d.to === undefined);
}

function isManager(s: Soak, hostname: string): boolean {
  const v = latest(s)?.nodes.find((n) => n.hostname === hostname);
  return v ? v.role === 'manager' || v.reachability !== undefined : s.lab.node(hostname).role === 'manager';
}

/** downManagers counts the managers the soak has stopped and not yet seen back. */
export function downManagers(s: Soak): number {
  return openDown(s).filter((d) => d.manager).length;
}

async function waitRoom(s: Soak, f: PlannedFault, what: string, ok: () => boolean): Promise<boolean> {
  const deadline = Date.now() + ROOM_DEADLINE_MS;
  const since = Date.now();
  while (!ok()) {
    if (Date.now() > deadline) {
      s.timeline.event(`skipped: ${what} for ${ROOM_DEADLINE_MS / 1000} s`, f.n);
      return false;
    }
    await sleep(500);
  }
  if (Date.now() - since > 1_000) s.timeline.event(`waited ${((Date.now() - since) / 1000).toFixed(1)} s: ${what}`, f.n);
  return true;
}

/** aManager returns a running lab node that the last sample shows as a manager (the leader if it can). */
function aManager(s: Soak): LabNode {
  const l = latest(s);
  const running = s.lab.nodes.filter((n) => s.lab.isRunning(n) && !openDown(s).some((d) => d.node === n.name));
  const leader = running.find((n) => n.name === l?.leader);
  return leader ?? running.find((n) => isManager(s, n.name)) ?? running[0]!;
}

/** cli runs the docker CLI against a running manager (retrying on another while managers come and go). */
async function cli(s: Soak, args: string[]): Promise<string> {
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await s.lab.docker(aManager(s), args, 30_000);
    } catch (err) {
      last = err;
      await sleep(1_000);
    }
  }
  throw last as Error;
}

async function stopNode(s: Soak, f: PlannedFault, name: string): Promise<DownInterval> {
  const d: DownInterval = { node: name, from: Date.now(), manager: isManager(s, name) };
  s.timeline.down.push(d);
  await s.lab.stopDaemon(s.lab.node(name));
  s.timeline.event(`${name}'s dockerd stopped${d.manager ? ' (a manager)' : ''}`, f.n);
  return d;
}

async function startNode(s: Soak, f: PlannedFault, d: DownInterval): Promise<void> {
  const node = s.lab.node(d.node);
  try {
    await s.lab.startDaemon(node);
  } catch (err) {
    s.timeline.event(`${d.node}'s dockerd did not start: ${(err as Error).message.split('\n')[0]}; trying once more`, f.n);
    await s.lab.startDaemon(node);
  }
  s.timeline.event(`${d.node}'s dockerd started`, f.n);
  const deadline = Date.now() + BACK_DEADLINE_MS;
  const started = Date.now();
  for (;;) {
    const l = latest(s);
    const v = l && l.at > started ? l.nodes.find((n) => n.hostname === d.node) : undefined;
    // Back: ready, and a reachable Raft member if it is one (a manager warden demoted meanwhile is a worker now).
    if (v && v.state === 'ready' && (v.reachability === undefined ? v.role === 'worker' : v.reachability === 'reachable')) break;
    if (Date.now() > deadline) {
      s.timeline.event(`${d.node} not back within ${BACK_DEADLINE_MS / 1000} s (still counted as down)`, f.n);
      return;
    }
    await sleep(250);
  }
  d.to = Date.now();
  s.timeline.event(`${d.node} back (ready${d.manager ? ', reachable or demoted' : ''}) ${((d.to - started) / 1000).toFixed(1)} s after its start`, f.n);
}

/** waitCorrected polls until `done` holds or the deadline passes; it returns the time it took, or undefined. */
async function waitCorrected(done: () => boolean | Promise<boolean>, since: number, deadlineMs = EDIT_DEADLINE_MS): Promise<number | undefined> {
  const deadline = since + deadlineMs;
  while (Date.now() < deadline) {
    if (await done()) return Date.now() - since;
    await sleep(200);
  }
  return undefined;
}

function replicasNow(s: Soak, service: string, after: number): number | undefined {
  const l = latest(s);
  if (!l || l.at < after) return undefined;
  return l.services.find((x) => x.name === service)?.replicas;
}

/**
 * whyNot says what may explain an edit warden did not correct in time: no instance on the leader, the
 * leader's instance inside a pass that waits for the engine to finish an earlier action, holds.
 */
async function whyNot(s: Soak): Promise<string> {
  const leader = latest(s)?.leader;
  const parts: string[] = [];
  if (leader && !s.wardens.on(leader)) parts.push(`no warden runs on the leader ${leader}`);
  const now = Date.now();
  const waiting = s.timeline.logs.filter((l) => l.node === leader && l.at > now - 10_000 && l.line.msg === 'waiting for the engine to finish').at(-1);
  if (waiting) {
    const w = waiting.line;
    parts.push(`the leader's instance ${waiting.instance} is in pass ${String(w.passId)}, waiting for the engine to finish ${String(w.action)} ${String(w.object)} (${String(w.state)}, ${Math.round(Number(w.waitedMs) / 1000)} s)`);
  }
  for (const w of s.wardens.running()) {
    const st = await w.status();
    for (const h of st?.held ?? []) parts.push(`${w.id} holds ${h.key} (${h.reason} until ${h.until})`);
  }
  return parts.join('; ') || 'no hold and a warden on the leader';
}

async function dropAppImage(s: Soak, node: LabNode): Promise<void> {
  // The tag and the digest reference, never the layers by id (those are busybox:lab's too on the registry's node).
  const repo = appImage(s.lab).replace(/:[^:/]+$/, '');
  const refs = (await s.lab.docker(node, ['images', '--digests', '--format', '{{.Tag}} {{.Digest}}', repo]).catch(() => '')).trim();
  for (const line of refs ? refs.split('\n') : []) {
    const [tag, digest] = line.split(' ');
    if (tag && tag !== '<none>') await s.lab.docker(node, ['image', 'rm', '-f', `${repo}:${tag}`]).catch(() => undefined);
    if (digest && digest !== '<none>') await s.lab.docker(node, ['image', 'rm', '-f', `${repo}@${digest}`]).catch(() => undefined);
  }
}

/** injectFault runs one fault to its end and returns its record. */
export async function injectFault(s: Soak, f: PlannedFault, t0: number): Promise<FaultRecord> {
  const rec: FaultRecord = { n: f.n, kind: f.kind, variant: f.variant, plannedAt: t0 + f.atMs };
  const start = (target: string, text: string): void => {
    rec.target = target;
    rec.startedAt = Date.now();
    s.timeline.event(`${f.kind}${f.variant !== '-' ? ` ${f.variant}` : ''}: ${text}`, f.n);
    s.say(`[${s.timeline.offset(rec.startedAt)}] fault #${f.n} ${f.kind}${f.variant !== '-' ? ` ${f.variant}` : ''}: ${text}`);
  };
  const skip = (why: string): FaultRecord => {
    rec.skipped = true;
    rec.note = why;
    s.timeline.event(`skipped: ${why}`, f.n);
    s.say(`[${s.timeline.offset(Date.now())}] fault #${f.n} ${f.kind} skipped: ${why}`);
    return rec;
  };
  switch (f.kind) {
    case 'node-stop': {
      const wantManager = f.variant === 'manager';
      const candidates = (): string[] => sorted(s.lab.nodes.map((n) => n.name).filter((n) =>
        isManager(s, n) === wantManager && n !== latest(s)?.leader && !openDown(s).some((d) => d.node === n) && s.lab.isRunning(s.lab.node(n))));
      if (wantManager && !(await waitRoom(s, f, 'another manager is down', () => downManagers(s) === 0))) return skip('another manager stayed down');
      const c = candidates();
      if (c.length === 0) return skip(`no ${f.variant} to stop`);
      const target = c[f.pick % c.length]!;
      start(target, `stop ${target}'s dockerd for ${(f.durationMs / 1000).toFixed(1)} s`);
      const d = await stopNode(s, f, target);
      await sleep(f.durationMs);
      await startNode(s, f, d);
      break;
    }
    case 'leader-stop': {
      if (!(await waitRoom(s, f, 'another manager is down', () => downManagers(s) === 0))) return skip('another manager stayed down');
      const leader = latest(s)?.leader;
      if (!leader) return skip('no leader to stop');
      const service = SCALED[f.pick % SCALED.length]!;
      const want = desiredReplicas(s.variant)[service];
      const onIt = s.wardens.running().filter((w) => w.node.name === leader).map((w) => w.id);
      start(leader, `scale ${service} to ${want + 1} on the leader ${leader} (warden there: ${onIt.join(', ') || 'none'}), then stop its dockerd at once, for ${(f.durationMs / 1000).toFixed(1)} s`);
      const drifted = Date.now();
      await s.lab.docker(s.lab.node(leader), ['service', 'scale', '--detach', `${service}=${want + 1}`], 30_000).catch((err: Error) =>
        s.timeline.event(`the scale failed: ${err.message.split('\n')[0]}`, f.n));
      const applied = Date.now();
      const d = await stopNode(s, f, leader);
      const reaction = waitCorrected(() => replicasNow(s, service, applied) === desiredReplicas(s.variant)[service], drifted, 120_000);
      await sleep(f.durationMs);
      await startNode(s, f, d);
      const ms = await reaction;
      if (ms !== undefined) rec.reactionMs = ms;
      else rec.note = `${service} not back to its replicas within 120 s: ${await whyNot(s)}`;
      break;
    }
    case 'registry-down': {
      if (f.variant === 'stop-node') {
        if (isManager(s, REGISTRY_NODE) && !(await waitRoom(s, f, 'another manager is down', () => downManagers(s) === 0))) return skip('another manager stayed down');
        if (openDown(s).some((d) => d.node === REGISTRY_NODE)) return skip(`${REGISTRY_NODE} is down already`);
        start(REGISTRY_NODE, `stop the registry's node ${REGISTRY_NODE} for ${(f.durationMs / 1000).toFixed(1)} s`);
        const d = await stopNode(s, f, REGISTRY_NODE);
        await sleep(f.durationMs);
        await startNode(s, f, d);
      } else {
        // Workers that may run the applications: the one that loses its copy of the image must pull it again.
        const workers = sorted(s.lab.nodes.map((n) => n.name).filter((n) => n !== REGISTRY_NODE && s.lab.isRunning(s.lab.node(n))));
        const drop = workers[f.pick % workers.length]!;
        start(REGISTRY, `scale ${REGISTRY} to 0 for ${(f.durationMs / 1000).toFixed(1)} s, and drop the applications' image from ${drop}`);
        await cli(s, ['service', 'scale', '--detach', `${REGISTRY}=0`]);
        await dropAppImage(s, s.lab.node(drop));
        await sleep(f.durationMs);
        await cli(s, ['service', 'scale', '--detach', `${REGISTRY}=1`]);
        s.timeline.event(`${REGISTRY} scaled to 1 again`, f.n);
      }
      const back = await waitCorrected(() => probeOk(registryAddress(s.lab)), Date.now(), 120_000);
      s.timeline.event(back === undefined ? 'the registry does not answer within 120 s' : `the registry answers again after ${(back / 1000).toFixed(1)} s`, f.n);
      break;
    }
    case 'manual-scale': {
      const service = f.service!;
      const want = desiredReplicas(s.variant)[service];
      let to = Math.max(0, want + f.delta!);
      if (to === want) to = want + 1;
      start(service, `docker service scale ${service}=${to} (wants ${want})`);
      const at = Date.now();
      await cli(s, ['service', 'scale', '--detach', `${service}=${to}`]);
      // Only a sample read after the edit returned can show it corrected; the time counts from the edit.
      const applied = Date.now();
      const ms = await waitCorrected(() => replicasNow(s, service, applied) === desiredReplicas(s.variant)[service], at);
      if (ms !== undefined) rec.reactionMs = ms;
      else rec.note = `not corrected within ${EDIT_DEADLINE_MS / 1000} s: ${await whyNot(s)}`;
      break;
    }
    case 'label-edit': {
      const node = f.node!;
      const label = f.label!;
      const want = desiredLabels(node)[label];
      const args = f.variant === 'remove' ? ['--label-rm', label] : ['--label-add', `${label}=soak-edited`];
      start(node, `docker node update ${args.join(' ')} ${node} (wants ${label}=${want})`);
      const at = Date.now();
      await cli(s, ['node', 'update', ...args, node]);
      const applied = Date.now();
      const ms = await waitCorrected(() => {
        const l = latest(s);
        return l !== undefined && l.at > applied && l.nodes.find((n) => n.hostname === node)?.labels[label] === want;
      }, at);
      if (ms !== undefined) rec.reactionMs = ms;
      else rec.note = `not corrected within ${EDIT_DEADLINE_MS / 1000} s: ${await whyNot(s)}`;
      break;
    }
    case 'volume-edit': {
      const v = VOLUMES[f.pick % VOLUMES.length]!;
      const dir = join(s.hostRoot, v.path);
      start(v.path, f.variant === 'mode' ? `chmod 0777 ${v.path}` : `chown 4321:4321 ${v.path}`);
      const at = Date.now();
      if (f.variant === 'mode') chmodSync(dir, 0o777);
      else chownSync(dir, 4321, 4321);
      const ms = await waitCorrected(() => !volumeDrift(s.hostRoot).some((d) => d.startsWith(`${v.path} `)), at);
      if (ms !== undefined) rec.reactionMs = ms;
      else rec.note = `not corrected within ${EDIT_DEADLINE_MS / 1000} s: ${await whyNot(s)}`;
      break;
    }
    case 'competing-actor': {
      const service = f.service!;
      const want = desiredReplicas(s.variant)[service];
      let value = Math.max(0, want + f.delta!);
      if (value === want) value = want + 1;
      start(service, `a competing actor keeps ${service} at ${value} replicas for ${(f.durationMs / 1000).toFixed(1)} s (warden wants ${want})`);
      const until = Date.now() + f.durationMs;
      let writes = 0;
      while (Date.now() < until) {
        const now = replicasNow(s, service, Date.now() - 2_000);
        if (now !== undefined && now !== value) {
          await cli(s, ['service', 'scale', '--detach', `${service}=${value}`]).catch(() => undefined);
          writes += 1;
        }
        await sleep(1_500);
      }
      rec.note = `the actor wrote ${writes} time(s)`;
      s.timeline.event(`the competing actor stops after ${writes} write(s)`, f.n);
      break;
    }
    case 'git-down': {
      start('git', `stop the git server for ${(f.durationMs / 1000).toFixed(1)} s`);
      await s.git.stop();
      await sleep(f.durationMs);
      await s.git.start();
      s.timeline.event('the git server serves again', f.n);
      break;
    }
    case 'git-force-push': {
      const next: Variant = f.variant === 'changed' ? (s.variant === 'A' ? 'B' : 'A') : s.variant;
      start('git', `force-push a rewritten history with ${f.variant === 'changed' ? `a changed file (variant ${next})` : `an equivalent file (variant ${next})`}`);
      const at = Date.now();
      const sha = await s.git.forcePush({ 'warden.yml': desiredYaml(next, registryAddress(s.lab)) }, `soak #${f.n}: variant ${next}`);
      s.variant = next;
      s.timeline.variants.push({ at: Date.now(), variant: next });
      s.revision = sha;
      s.timeline.event(`main is now ${sha.slice(0, 12)} (variant ${next})`, f.n);
      const loaded = await waitCorrected(async () => {
        const st = await Promise.all(s.wardens.running().map((w) => w.status()));
        return st.some((x) => x?.revision === sha);
      }, at);
      const applied = await waitCorrected(() => {
        const l = latest(s);
        const r = desiredReplicas(next);
        return l !== undefined && l.at > at && SCALED.every((n) => l.services.find((x) => x.name === n)?.replicas === r[n]);
      }, at);
      if (applied !== undefined && loaded !== undefined) rec.reactionMs = Math.max(applied, loaded);
      else rec.note = `${loaded === undefined ? 'the new revision not loaded' : 'its replicas not applied'} within ${EDIT_DEADLINE_MS / 1000} s: ${await whyNot(s)}`;
      break;
    }
    case 'nas-hang': {
      start('nas', `make the NAS hang for ${(f.durationMs / 1000).toFixed(1)} s`);
      const hang = hangNas(s.nasDir);
      rec.note = hang.kind === 'fuse-hang' ? 'a real hang: FUSE stacked on the NAS, lookups block until the connection is aborted' : 'no FUSE here: the NAS was remounted read-only (writes fail, reads work), not hung';
      s.timeline.event(`NAS ${hang.kind}`, f.n);
      const hungAt = Date.now();
      try {
        await sleep(f.durationMs);
      } finally {
        hang.end();
      }
      s.timeline.event('NAS back', f.n);
      // Did the controller go quiet meanwhile? The longest pass that overlapped the hang, per instance.
      await sleep(2_000);
      const longest = new Map<string, number>();
      for (const l of s.timeline.logs) {
        if (l.line.msg !== 'pass done' || typeof l.line.durationMs !== 'number') continue;
        if (l.at < hungAt || l.at - l.line.durationMs > hungAt + f.durationMs) continue;
        longest.set(l.instance, Math.max(longest.get(l.instance) ?? 0, l.line.durationMs));
      }
      const passes = [...longest].map(([id, ms]) => `${id} ${(ms / 1000).toFixed(1)} s`).join(', ');
      rec.note = `${rec.note}; the longest pass during it: ${passes || 'none ended'}`;
      break;
    }
    case 'warden-extra': {
      const l = latest(s);
      const onRole = sorted(s.lab.nodes.map((n) => n.name).filter((n) => isManager(s, n) === (f.variant === 'manager') && s.lab.isRunning(s.lab.node(n)) && !openDown(s).some((d) => d.node === n)));
      // A second instance against the leader's engine (two that both act, as a start-first rolling update
      // of warden's service would have for a moment), or one against a worker's engine (which must only stand by).
      const target = f.variant === 'manager' && l?.leader && onRole.includes(l.leader) ? l.leader : onRole[f.pick % Math.max(1, onRole.length)];
      if (!target) return skip(`no running ${f.variant}`);
      const there = s.wardens.running().filter((w) => w.node.name === target).map((w) => w.id);
      start(target, `an extra warden instance against ${target}'s engine (${there.length ? `beside ${there.join(', ')}` : 'none there yet'}) for ${(f.durationMs / 1000).toFixed(1)} s`);
      await s.wardens.start('extra', s.lab.node(target));
      await sleep(f.durationMs);
      await s.wardens.stop('extra');
      break;
    }
    case 'warden-restart': {
      const standing = s.wardens.standing();
      const slot = standing[f.pick % standing.length]!;
      const w = s.wardens.get(slot);
      if (!w) return skip(`no instance in slot ${slot}`);
      start(w.id, `restart warden ${w.id} (SIGTERM, ${(f.durationMs / 1000).toFixed(1)} s, start again)`);
      const node = w.node;
      s.wardens.busy.add(slot);
      try {
        await s.wardens.stop(slot);
        await sleep(f.durationMs);
        if (!s.wardens.get(slot)) await s.wardens.start(slot, node);
      } finally {
        s.wardens.busy.delete(slot);
      }
      break;
    }
    default:
      return assertNever(f.kind);
  }
  rec.endedAt = Date.now();
  return rec;
}

/** FOLLOW_INTERVAL_MS is how often followManagers compares the instances with the managers (default 2 s). */
export const FOLLOW_INTERVAL_MS = 2_000;

/**
 * followManagers keeps a standing instance against every manager's engine until the signal aborts, as
 * warden's global service (constraint node.role == manager) has swarm do: a promoted node gets one, a
 * demoted node's is stopped. A node that is down keeps its instance, as swarm keeps a down node's task.
 */
export async function followManagers(s: Soak, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const l = latest(s);
    if (l) {
      const managers = new Set(l.nodes.filter((n) => n.role === 'manager').map((n) => n.hostname));
      for (const m of sorted(managers)) {
        const slot = `standing-${m}`;
        if (s.wardens.get(slot) || s.wardens.busy.has(slot) || !s.lab.nodes.some((n) => n.name === m)) continue;
        s.timeline.event(`${m} is a manager without a warden instance: one starts there, as the global service's would`);
        await s.wardens.start(slot, s.lab.node(m)).catch((err: Error) => s.timeline.event(`cannot start a warden against ${m}: ${err.message}`));
      }
      for (const slot of s.wardens.standing()) {
        const node = slot.slice('standing-'.length);
        if (managers.has(node) || s.wardens.busy.has(slot)) continue;
        s.timeline.event(`${node} is no manager any more: its warden instance stops, as the global service's would`);
        await s.wardens.stop(slot);
      }
    }
    await sleep(FOLLOW_INTERVAL_MS, undefined, { signal }).catch(() => undefined);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled fault ${String(x)}`);
}
