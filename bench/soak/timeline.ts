// The soak's record of what happened: the engine polled every few hundred milliseconds (nodes, roles,
// leadership, services, forced-update counters), each fault as the soak injected it, and every line the
// warden instances logged. The invariants are checked over it, and a violation prints the part of it
// around the moment.
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort } from '../../src/docker/port.js';
import type { Lab, LabNode } from '../../src/lab/lab.js';
import type { Variant } from './desired.js';
import { formatOffset } from './schedule.js';

/** NodeView is one node as a manager reported it. */
export interface NodeView {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  state: string;
  availability: string;
  labels: Record<string, string>;
  /** reachability is the Raft member's reachability, undefined for a node that is no Raft member. */
  reachability?: string;
  leader: boolean;
}

/** ServiceView is one service as a manager reported it. */
export interface ServiceView {
  name: string;
  replicas: number | undefined;
  running: number | undefined;
  desired: number | undefined;
  forceUpdate: number;
}

/** Sample is one poll of the engine: what a manager that answered showed, or why none did. */
export interface Sample {
  at: number;
  /** via is the manager whose answer this is (undefined when none answered). */
  via?: string;
  /** leader is the hostname of the Raft leader as `via` reported it. */
  leader?: string;
  nodes: NodeView[];
  services: ServiceView[];
  /** errors are the managers asked that did not answer, with the error's code. */
  errors: Record<string, string>;
}

/** LogLine is a line a warden instance logged, with the instance and its node. */
export interface LogLine {
  at: number;
  instance: string;
  node: string;
  line: Record<string, unknown>;
}

/** SoakEvent is something the soak did (a fault's start or end, a step of one). */
export interface SoakEvent {
  at: number;
  fault?: number;
  text: string;
}

/** DownInterval is a node the soak stopped: from its stop until it was back (ready, and reachable if a manager). */
export interface DownInterval {
  node: string;
  from: number;
  to?: number;
  /** manager: the node was a manager (a Raft member) when the soak stopped it. */
  manager: boolean;
}

/** Timeline is everything the soak recorded. */
export class Timeline {
  readonly samples: Sample[] = [];
  readonly logs: LogLine[] = [];
  readonly events: SoakEvent[] = [];
  readonly down: DownInterval[] = [];
  /** variants are the desired state's variants on the git server, each from when it was pushed. */
  readonly variants: Array<{ at: number; variant: Variant }> = [];

  /** startedAt is the time offsets are written from: the soak sets it to the faults' start. */
  constructor(public startedAt: number) {}

  /** latest is the newest sample that some manager answered. */
  latest(): Sample | undefined {
    for (let i = this.samples.length - 1; i >= 0; i--) if (this.samples[i]!.via) return this.samples[i];
    return undefined;
  }

  /** event records (and returns) a step of the soak. */
  event(text: string, fault?: number): SoakEvent {
    const e: SoakEvent = { at: Date.now(), text, ...(fault !== undefined ? { fault } : {}) };
    this.events.push(e);
    return e;
  }

  /** offset writes a time as +mm:ss.s after the soak's start. */
  offset(at: number): string {
    return formatOffset(at - this.startedAt);
  }

  /**
   * around renders the timeline from `from` to `to`: the soak's steps, the warden lines that matter
   * (writes, leadership, errors) and the samples where something changed (leader, reachability, roles,
   * replicas, forced updates).
   */
  around(from: number, to: number): string {
    const rows: Array<{ at: number; text: string }> = [];
    for (const e of this.events) if (e.at >= from && e.at <= to) rows.push({ at: e.at, text: `soak    ${e.fault !== undefined ? `#${e.fault} ` : ''}${e.text}` });
    for (const l of this.logs) {
      if (l.at < from || l.at > to || !interesting(l.line)) continue;
      const f = l.line;
      const fields = ['reconciler', 'object', 'action', 'code', 'leader', 'checkedLeader', 'revision', 'reason']
        .filter((k) => f[k] !== undefined).map((k) => `${k}=${typeof f[k] === 'object' ? JSON.stringify(f[k]) : String(f[k])}`);
      rows.push({ at: l.at, text: `warden  ${l.instance}@${l.node} ${String(f.msg)}${fields.length ? ` ${fields.join(' ')}` : ''}` });
    }
    let previous = '';
    for (const s of this.samples) {
      if (s.at < from - 5_000 || s.at > to) continue;
      const text = describeSample(s);
      if (text === previous) continue;
      previous = text;
      if (s.at >= from) rows.push({ at: s.at, text: `engine  ${text}` });
    }
    rows.sort((a, b) => a.at - b.at);
    return rows.map((r) => `    ${this.offset(r.at)} ${r.text}`).join('\n');
  }
}

function interesting(line: Record<string, unknown>): boolean {
  const msg = String(line.msg ?? '');
  if (msg === 'pass done') return false;
  if (msg === 'action suppressed') return false;
  return line.level !== 'debug';
}

/** describeSample is one line about a sample: leader, managers' reachability, roles, services. */
export function describeSample(s: Sample): string {
  if (!s.via) return `no manager answered (${Object.entries(s.errors).map(([n, e]) => `${n}: ${e}`).join(', ')})`;
  const nodes = s.nodes
    .slice()
    .sort((a, b) => a.hostname.localeCompare(b.hostname))
    .map((n) => `${n.hostname}${n.leader ? '*' : ''}:${n.role === 'manager' ? `M${n.reachability ? `/${n.reachability.slice(0, 5)}` : '/none'}` : 'W'}:${n.state}`)
    .join(' ');
  const services = s.services
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((x) => `${x.name}=${x.running ?? '?'}/${x.replicas ?? x.desired ?? '?'}f${x.forceUpdate}`)
    .join(' ');
  return `via ${s.via} leader ${s.leader ?? 'none'} | ${nodes} | ${services}`;
}

/** POLL_INTERVAL_MS is how often the soak polls the engine (default 400 ms; a slow answer delays the next poll). */
export const POLL_INTERVAL_MS = 400;
/** POLL_TIMEOUT_MS bounds each poll's calls (default 3 s). */
export const POLL_TIMEOUT_MS = 3_000;

/**
 * pollEngine polls the lab's managers until the signal aborts: the nodes from every running manager (so
 * that a manager without a leader is seen as such), the services with their task counts from the first
 * that shows a leader. The managers asked are the lab nodes that the last sample showed as managers.
 */
export async function pollEngine(lab: Lab, timeline: Timeline, signal: AbortSignal): Promise<void> {
  const ports = new Map<string, DockerPort>(lab.nodes.map((n) => [n.name, createDockerPort({ host: n.host, requestTimeoutMs: POLL_TIMEOUT_MS })]));
  while (!signal.aborted) {
    const started = Date.now();
    const last = timeline.latest();
    const managers = lab.nodes.filter((n) => lab.isRunning(n) && (last ? last.nodes.some((v) => v.hostname === n.name && v.role === 'manager') : n.role === 'manager'));
    timeline.samples.push(await poll(managers, ports));
    const wait = POLL_INTERVAL_MS - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

async function poll(managers: LabNode[], ports: Map<string, DockerPort>): Promise<Sample> {
  const errors: Record<string, string> = {};
  const answers = await Promise.all(managers.map(async (m) => {
    try {
      return { m, nodes: await ports.get(m.name)!.listNodes() };
    } catch (err) {
      errors[m.name] = (err as { code?: string }).code ?? (err as Error).message;
      return undefined;
    }
  }));
  const at = Date.now();
  const withLeader = answers.find((a) => a?.nodes.some((n) => n.manager?.leader));
  if (!withLeader) return { at, nodes: [], services: [], errors };
  const { m, nodes } = withLeader;
  let services: ServiceView[] = [];
  try {
    services = (await ports.get(m.name)!.listServices({ status: true })).map((s) => ({
      name: s.name, replicas: s.replicas, running: s.status?.runningTasks, desired: s.status?.desiredTasks, forceUpdate: s.forceUpdate,
    }));
  } catch (err) {
    errors[`${m.name}/services`] = (err as { code?: string }).code ?? (err as Error).message;
    return { at, nodes: [], services: [], errors };
  }
  const views: NodeView[] = nodes.map((n) => ({
    id: n.id, hostname: n.hostname, role: n.role, state: n.state, availability: n.availability, labels: n.labels,
    ...(n.manager ? { reachability: n.manager.reachability } : {}),
    leader: n.manager?.leader === true,
  }));
  return { at, via: m.name, leader: views.find((v) => v.leader)?.hostname, nodes: views, services, errors };
}
