// Reading the cluster: one snapshot per pass. The engine is read with a fixed number of list calls
// (tasks only as far as a reconciler in force asked for them). What the engine cannot tell (the hosts'
// files, the registry's probe) is read off the pass (./host.ts); the pass adds its last answers.
import { LABEL_NAMESPACE } from '../desired-state/compose/types.js';
import type { DesiredState } from '../desired-state/types.js';
import { EngineError } from '../docker/errors.js';
import type { DockerPort, EngineInfo, StackPort, SwarmNode, SwarmService, SwarmTask } from '../docker/port.js';
import { imagesToResolve } from '../reconcilers/stacks.js';
import type { CountsNeed, Observed, Reconciler, StackObservation, TaskNeed } from '../reconcilers/types.js';
import { healthCounts, healthNeed } from './health.js';
import { ImageDigests, type ImageResolver } from './image-digests.js';
import { isStackPort } from './stack-apply.js';

export type { HostPort } from './host.js';

/**
 * EngineIdentity remembers the engine's `GET /info` between passes. /info is the slowest read of a pass
 * (the engine walks its drivers, plugins and containers for it: about 12 ms on the lab, when nodes and
 * services take 2 to 3 ms each), and a pass needs it only to know which node its engine is, which changes
 * only when the engine leaves or joins a swarm. The controller forgets it when the events stream
 * reconnects (the engine may have restarted) and at every resync; a pass reads it again at once when the
 * nodes list does not show the remembered node as a reachable manager.
 */
export class EngineIdentity {
  private info: EngineInfo | undefined;

  /** forget makes the next pass read /info again. */
  forget(): void {
    this.info = undefined;
  }

  /** read returns /info: the remembered one while the nodes list still shows it, else a fresh read. */
  async read(port: DockerPort, nodes: Promise<SwarmNode[]>): Promise<EngineInfo> {
    const known = this.info;
    if (!known) return (this.info = await port.info());
    if (showsSelf(await nodes, known)) return known;
    return (this.info = await port.info());
  }
}

function showsSelf(nodes: readonly SwarmNode[], info: EngineInfo): boolean {
  return info.nodeId !== '' && nodes.some((n) => n.id === info.nodeId && n.manager?.reachability === 'reachable');
}

/**
 * ServiceSource gives a pass the services, with task counts as fresh as `counts` asks: listed, or from a
 * cache (./cache.ts).
 */
export type ServiceSource = (counts: CountsNeed) => Promise<SwarmService[]>;

/** countsNeed is the freshest task counts a reconciler in force, or the services' health (./health.ts), reads. */
export function countsNeed(desired: DesiredState, reconcilers: readonly Reconciler[]): CountsNeed {
  const needs = [...reconcilers.map((r) => r.counts?.(desired) ?? false), healthCounts(desired)];
  return needs.includes('fresh') ? 'fresh' : needs.includes('recent') ? 'recent' : false;
}

/**
 * observe reads info, nodes and services in parallel (info only when `identity` does not remember it;
 * the services from `services`, by default a list, with the task counts only when a reconciler reads
 * them), then the tasks the reconcilers need (the running ones in one call, every task of a few named
 * services in one call each). The nodes are always listed: their reachability and leadership change
 * without an event, and there is one per machine. For stacks with `deploy: true` it also reads the
 * networks, configs and secrets, and takes the image digests from `digests` (./image-digests.ts: kept
 * between passes, waited for at most a deadline; by default asked once for this snapshot alone).
 */
export async function observe(
  port: DockerPort,
  desired: DesiredState,
  reconcilers: readonly Reconciler[],
  now: () => number,
  identity: EngineIdentity = new EngineIdentity(),
  services: ServiceSource = (counts) => port.listServices({ status: counts !== false }),
  digests?: ImageResolver,
): Promise<Observed> {
  const listed = port.listNodes();
  // A rejected read is awaited by Promise.all below; this only keeps it from counting as unhandled first.
  listed.catch(() => undefined);
  const [info, nodes, read] = await Promise.all([identity.read(port, listed), listed, services(countsNeed(desired, reconcilers))]);
  const need = taskNeed(desired, reconcilers, read, now());
  const byId = new Map(read.map((s) => [s.id, s]));
  const [tasks, stackObjects] = await Promise.all([
    readTasks(port, need, byId),
    desired.stacks && desired.stacks.length > 0 && isStackPort(port)
      ? observeStacks(port, desired, read, digests ?? ((images) => new ImageDigests({ port, now }).lookup(images, undefined)))
      : undefined,
  ]);
  return { info, nodes, services: read, tasks, at: now(), ...(stackObjects ? { stackObjects } : {}) };
}

// Deployed stacks read networks, configs and secrets, and the digests of the images to resolve (only the
// stacks' own services', as resolveImage asks). An image the registry does not answer for is deployed by
// its tag, as docker stack deploy does after its warning.
async function observeStacks(
  port: DockerPort & StackPort,
  desired: DesiredState,
  services: Observed['services'],
  digests: ImageResolver,
): Promise<StackObservation> {
  const [networks, configs, secrets, apiVersion, { images, unresolved }] = await Promise.all([
    port.listNetworks(),
    port.listConfigs(),
    port.listSecrets(),
    port.apiVersion?.(),
    digests(imagesToResolve(desired, services)),
  ]);
  // A service on the swarm's own host (or bridge) network names it by an id the list does not have: read
  // those once each, so that the reconciler compares names, not a node's local network ids.
  const known = new Set(networks.map((n) => n.id));
  const stacks = new Set((desired.stacks ?? []).map((st) => st.name));
  const targets = new Set(services
    .filter((s) => stacks.has(s.labels[LABEL_NAMESPACE] ?? ''))
    .flatMap((s) => ((s.spec.TaskTemplate as { Networks?: Array<{ Target: string }> } | undefined)?.Networks ?? []).map((n) => n.Target))
    .filter((t) => !known.has(t)));
  const extra = await Promise.all([...targets].map((id) => port.inspectNetwork(id).catch((err: unknown) => {
    if (err instanceof EngineError && err.code === 'not-found') return undefined;
    throw err;
  })));
  for (const n of extra) if (n) networks.push(n);
  return { networks, configs, secrets, images, ...(unresolved.size > 0 ? { unresolved } : {}), ...(apiVersion ? { apiVersion } : {}) };
}

/** PER_SERVICE_TASK_READS is how many services' tasks are read one call each before one full list is cheaper (default 8). */
export const PER_SERVICE_TASK_READS = 8;

// What the reconcilers in force read, and what the services' health reads: the tasks of the kept services
// whose counts do not show them settled (none in a healthy cluster).
function taskNeed(desired: DesiredState, reconcilers: readonly Reconciler[], services: Observed['services'], now: number): TaskNeed {
  const need: TaskNeed = { running: false, services: healthNeed(desired, services, now) };
  const named = need.services as Set<string>;
  for (const r of reconcilers) {
    const n = r.tasks?.(desired, services);
    if (n?.running) need.running = true;
    for (const id of n?.services ?? []) named.add(id);
  }
  return need;
}

async function readTasks(port: DockerPort, need: TaskNeed, byId: Map<string, unknown>): Promise<SwarmTask[]> {
  const wanted = [...need.services].filter((id) => byId.has(id));
  // Many services behind at once (a cold boot): one list of every task is cheaper than a call each.
  if (wanted.length > PER_SERVICE_TASK_READS) {
    const ids = new Set(wanted);
    return (await port.listTasks()).filter((t) => ids.has(t.serviceId) || (need.running && t.desiredState === 'running'));
  }
  const reads: Array<Promise<SwarmTask[]>> = [];
  if (need.running) reads.push(port.listTasks({ desiredState: 'running' }));
  for (const id of wanted) reads.push(port.listTasks({ serviceId: id }));
  const seen = new Map<string, SwarmTask>();
  for (const t of (await Promise.all(reads)).flat()) seen.set(t.id, t);
  return [...seen.values()];
}

/** leaderOf returns the id of the node that is the Raft leader, if the snapshot shows one. */
export function leaderOf(observed: Pick<Observed, 'nodes'>): string | undefined {
  return observed.nodes.find((n) => n.manager?.leader)?.id;
}

/** ManagerHealth is the Raft membership as one snapshot shows it. */
export interface ManagerHealth {
  /** members counts the Raft members (nodes with a ManagerStatus). */
  members: number;
  reachable: number;
  unreachable: number;
  /** faultTolerance is how many more reachable members may fail before quorum is lost. */
  faultTolerance: number;
}

/** managerHealth counts managers by reachability and the failures the swarm can still tolerate. */
export function managerHealth(observed: Pick<Observed, 'nodes'>): ManagerHealth {
  const managers = observed.nodes.filter((n) => n.manager);
  const reachable = managers.filter((n) => n.manager?.reachability === 'reachable').length;
  const quorum = Math.floor(managers.length / 2) + 1;
  return { members: managers.length, reachable, unreachable: managers.length - reachable, faultTolerance: Math.max(0, reachable - quorum) };
}
