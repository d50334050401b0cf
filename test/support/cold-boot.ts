// The cold-boot scenario of issue 9 on a lab swarm, shared by the integration test and the bench: a
// registry running as a swarm service on worker-2 (Debian's docker-registry, data in a named volume),
// two application services whose image exists only in that registry and is absent from worker-1's cache,
// where their tasks run, with restart_policy.max_attempts set. Every dockerd stops, then starts again with
// the registry's node last; swarm spends the applications' attempts while the registry is away.
// No vitest import here: the bench uses it too.
import type { Lab, LabNode } from '../../src/lab/lab.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort, SwarmTask } from '../../src/docker/port.js';
import { waitUntil } from './wait.js';

/** Scenario names what one run of the scenario created. */
export interface Scenario {
  registry: string;
  /** apps are the two applications; apps[1] depends on apps[0] (dependsOn). */
  apps: [string, string];
  volume: string;
  /** address is the registry's host:port; image is the applications' image in it. */
  address: string;
  image: string;
  registryNode: LabNode;
  appNode: LabNode;
  /** yaml is the desired-state file for warden. */
  yaml: string;
}

/** REPLICAS is each application's replica count (4 tasks in all, as in the issue). */
export const REPLICAS = 2;

function port(node: LabNode): DockerPort {
  return createDockerPort({ host: node.host, requestTimeoutMs: 10_000 });
}

/** anyManager returns a manager whose engine answers as a manager with quorum. */
export async function anyManager(lab: Lab, timeoutMs = 120_000): Promise<LabNode> {
  return waitUntil('a manager that answers with quorum', async () => {
    for (const m of lab.managers) {
      if (!lab.isRunning(m)) continue;
      if (await port(m).listNodes().then(() => true, () => false)) return m;
    }
    return undefined;
  }, { timeoutMs, intervalMs: 250 });
}

/** scenarioFor names what the scenario creates (nothing is created yet, so a failed setUp can be torn down). */
export function scenarioFor(lab: Lab, prefix: string, resync = '*/5 * * * * *'): Scenario {
  const registryNode = lab.node('worker-2');
  const appNode = lab.node('worker-1');
  const address = `${registryNode.ip}:5000`;
  const s: Scenario = {
    registry: `${prefix}-registry`,
    apps: [`${prefix}-api`, `${prefix}-web`],
    volume: `${prefix}-registry-data`,
    address,
    image: `${address}/${prefix}-app:1`,
    registryNode,
    appNode,
    yaml: '',
  };
  s.yaml = [
    'apiVersion: swarm-warden/v1',
    'kind: ClusterState',
    'metadata: { name: cold-boot }',
    'spec:',
    '  services:',
    `    - { name: ${s.apps[0]} }`,
    `    - { name: ${s.apps[1]}, dependsOn: [${s.apps[0]}] }`,
    '  registry:',
    `    service: ${s.registry}`,
    `    address: "${address}"`,
    '  policy:',
    `    resync: "${resync}"`,
    '',
  ].join('\n');
  return s;
}

/** setUp creates the registry, pushes the image, creates the applications and empties worker-1's cache of it. */
export async function setUp(lab: Lab, s: Scenario): Promise<void> {
  const { registryNode, appNode, address } = s;
  const m = await anyManager(lab);
  await lab.docker(m, [
    'service', 'create', '--detach', '--quiet', '--name', s.registry,
    '--constraint', `node.hostname==${registryNode.name}`,
    '--mount', `type=volume,source=${s.volume},target=/var/lib/registry`,
    '--publish', 'mode=host,target=5000,published=5000',
    'registry:lab',
  ]);
  await waitUntil('the registry to answer', () => probeOk(address), { timeoutMs: 60_000, intervalMs: 250 });
  await lab.docker(registryNode, ['tag', 'busybox:lab', s.image]);
  await lab.docker(registryNode, ['push', s.image]);
  await lab.docker(registryNode, ['image', 'rm', s.image]);
  for (const app of s.apps) {
    await lab.docker(m, [
      'service', 'create', '--detach', '--quiet', '--name', app, '--replicas', String(REPLICAS),
      '--constraint', `node.hostname==${appNode.name}`,
      '--restart-max-attempts', '2', '--restart-delay', '1s',
      s.image, 'sleep', '86400',
    ]);
  }
  await waitUntil('the applications to run', async () => (await runningOf(lab, s.apps)).every((r) => r === REPLICAS), { timeoutMs: 90_000, intervalMs: 500 });
}

// Removes the image's references (tag and digest), never the layers by id: the same layers are busybox:lab's.
async function dropImage(lab: Lab, node: LabNode, s: Scenario): Promise<void> {
  const repo = s.image.replace(/:[^:/]+$/, '');
  const refs = (await lab.docker(node, ['images', '--digests', '--format', '{{.Tag}} {{.Digest}}', repo])).trim();
  for (const line of refs ? refs.split('\n') : []) {
    const [tag, digest] = line.split(' ');
    if (tag && tag !== '<none>') await lab.docker(node, ['image', 'rm', '-f', `${repo}:${tag}`]).catch(() => undefined);
    if (digest && digest !== '<none>') await lab.docker(node, ['image', 'rm', '-f', `${repo}@${digest}`]).catch(() => undefined);
  }
}

/** probeOk tells whether the registry answers /v2/. */
export async function probeOk(address: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${address}/v2/`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** runningOf reads the running task counts of services. */
export async function runningOf(lab: Lab, names: readonly string[]): Promise<number[]> {
  const m = await anyManager(lab);
  const services = await port(m).listServices();
  return names.map((n) => services.find((s) => s.name === n)?.status?.runningTasks ?? -1);
}

/** ColdBoot is what the cold boot measured. */
export interface ColdBoot {
  /** lastStartAt is when the registry's node (the last) answered again (ms since the epoch). */
  lastStartAt: number;
  /** spentAt is when swarm had given up on every application task (ms since the epoch). */
  spentAt: number;
}

/**
 * coldBoot stops every dockerd, starts all but the registry's node, waits until swarm has spent the
 * applications' restart attempts (no task of theirs wants to run), then starts the registry's node.
 */
export async function coldBoot(lab: Lab, s: Scenario, log: (m: string) => void = () => undefined): Promise<ColdBoot> {
  // A node that ran the applications has their image: it must pull it again after the boot.
  await dropImage(lab, s.appNode, s);
  const bootAt = Date.now();
  await Promise.all(lab.nodes.map((n) => lab.stopDaemon(n)));
  log('every dockerd stopped');
  await Promise.all(lab.nodes.filter((n) => n !== s.registryNode).map((n) => lab.startDaemon(n)));
  log('managers and worker-1 started');
  await waitSpent(lab, s, bootAt);
  const spentAt = Date.now();
  log('applications rejected, attempts spent');
  await lab.startDaemon(s.registryNode);
  const lastStartAt = Date.now();
  log('registry node started');
  return { lastStartAt, spentAt };
}

/**
 * LONG_WAIT_MS is how long the long cold boot of issue 24 (0.1) leaves the swarm alone after the registry's
 * node is back: 11 minutes with WARDEN_LONG=1 (outside CI), else none (CI: the same state, sooner).
 */
export const LONG_WAIT_MS = process.env.WARDEN_LONG === '1' ? 11 * 60_000 : 0;

/**
 * longColdBoot is issue 24's order: every dockerd stops; manager-2, manager-3 and the applications' worker
 * (its cache emptied of their image) start first, so the applications' tasks are rejected with "No such
 * image" until their restart attempts are spent; 20 s later (or once spent, if later) the registry's node
 * and manager-1 start; then the swarm is left alone for `waitMs`, the registry answering.
 */
export async function longColdBoot(lab: Lab, s: Scenario, waitMs: number, log: (m: string) => void = () => undefined): Promise<ColdBoot> {
  await dropImage(lab, s.appNode, s);
  const bootAt = Date.now();
  await Promise.all(lab.nodes.map((n) => lab.stopDaemon(n)));
  log('every dockerd stopped');
  await Promise.all(['manager-2', 'manager-3', s.appNode.name].map((n) => lab.startDaemon(lab.node(n))));
  const firstAt = Date.now();
  log('manager-2, manager-3 and the applications\' worker started');
  await waitSpent(lab, s, bootAt);
  const spentAt = Date.now();
  log('applications rejected, attempts spent');
  // The rest of the 20 s after the first nodes, measured by the engine's own state above, not a sleep.
  await waitUntil('20 s since the first nodes started', () => Date.now() - firstAt >= 20_000, { timeoutMs: 30_000, intervalMs: 250 });
  await Promise.all([lab.startDaemon(s.registryNode), lab.startDaemon(lab.node('manager-1'))]);
  const lastStartAt = Date.now();
  log('the registry\'s node and manager-1 started');
  await waitUntil('the registry to answer', () => probeOk(s.address), { timeoutMs: 90_000, intervalMs: 250 });
  // Left alone: nothing the test does may change the swarm meanwhile; it only reads.
  await waitUntil(`${Math.round(waitMs / 1000)} s of the swarm alone`, async () => {
    if (Date.now() - lastStartAt < waitMs) return false;
    return true;
  }, { timeoutMs: waitMs + 10_000, intervalMs: 1_000 });
  log('the swarm was left alone');
  return { lastStartAt, spentAt };
}

/**
 * waitSpent waits until swarm has given up on every application: no task of theirs wants to run, and one
 * was rejected since the boot. At the deadline the error lists every task (state, desired, error, node),
 * so that a scenario that went otherwise says how.
 */
async function waitSpent(lab: Lab, s: Scenario, bootAt: number): Promise<void> {
  const p = port(await anyManager(lab));
  const ids = new Map((await p.listServices()).map((svc) => [svc.name, svc.id]));
  let seen = '';
  await waitUntil('swarm to give up on the applications (attempts spent)', async () => {
    const all = await Promise.all(s.apps.map(async (app) => ({ app, tasks: await p.listTasks({ serviceId: ids.get(app)! }) })));
    seen = all.map(({ app, tasks }) => `${app}: ${tasks.map((t) => `${t.state}/${t.desiredState} ${t.timestamp} on ${t.nodeId.slice(0, 6)} ${t.err || t.message}`).join('; ')}`).join(' | ');
    // Rejections of an earlier boot do not count.
    return all.every(({ tasks }) => !tasks.some((t) => t.desiredState === 'running' || t.state === 'running') &&
      tasks.some((t) => t.state === 'rejected' && Date.parse(t.timestamp) > bootAt));
  }, { timeoutMs: 180_000, intervalMs: 1_000 }).catch((err: Error) => {
    throw new Error(`${err.message}; the tasks since the boot at ${new Date(bootAt).toISOString()}: ${seen}`);
  });
}

/** runningTasks returns the running tasks of a service, read from the engine. */
export async function runningTasks(lab: Lab, name: string): Promise<SwarmTask[]> {
  const m = await anyManager(lab);
  const p = port(m);
  const svc = await p.inspectService(name);
  return (await p.listTasks({ serviceId: svc.id, desiredState: 'running' })).filter((t) => t.state === 'running');
}

/** stuckWithoutTask tells whether swarm has nothing left to try for an application: 0 running, no task that wants to run. */
export async function stuckWithoutTask(lab: Lab, name: string): Promise<boolean> {
  const m = await anyManager(lab);
  const p = port(m);
  const svc = await p.inspectService(name);
  const tasks = await p.listTasks({ serviceId: svc.id });
  return !tasks.some((t) => t.desiredState === 'running');
}

/** tearDown removes the scenario's services, the registry's volume and the image from every node. */
export async function tearDown(lab: Lab, s: Scenario): Promise<void> {
  const m = await anyManager(lab).catch(() => undefined);
  if (m) await lab.docker(m, ['service', 'rm', s.registry, ...s.apps]).catch(() => undefined);
  // The volume is free once the registry's containers are gone.
  await waitUntil('the registry volume to be removed', async () =>
    lab.docker(s.registryNode, ['volume', 'rm', '-f', s.volume]).then(() => true, () => false), { timeoutMs: 60_000, intervalMs: 500 }).catch(() => undefined);
  for (const n of lab.nodes) {
    if (!lab.isRunning(n)) continue;
    // Containers of removed tasks hold the image until the agent removes them.
    await waitUntil(`the image to leave ${n.name}`, async () => {
      await dropImage(lab, n, s);
      return (await lab.docker(n, ['images', '-q', s.image.replace(/:[^:/]+$/, '')])).trim() === '';
    }, { timeoutMs: 60_000, intervalMs: 500 }).catch(() => undefined);
  }
}
