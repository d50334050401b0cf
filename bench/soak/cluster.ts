// The soak's cluster: the lab's registry as a swarm service with the applications' image pushed into
// it (as test/support/cold-boot.ts does), three services warden keeps, node labels, the NAS with its
// volume directories, and the git server that serves the desired state.
import { chmodSync, chownSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { anyManager, probeOk } from '../../test/support/cold-boot.js';
import { waitUntil } from '../../test/support/wait.js';
import { desiredLabels, desiredReplicas, REGISTRY, REGISTRY_NODE, SCALED, VOLUMES, type Variant } from './desired.js';
import type { Sample } from './timeline.js';

/** registryAddress is the registry's host:port on the lab's network (worker-2's address). */
export function registryAddress(lab: Lab): string {
  return `${lab.node(REGISTRY_NODE).ip}:5000`;
}

/** appImage is the applications' image, which exists only in the lab's registry. */
export function appImage(lab: Lab): string {
  return `${registryAddress(lab)}/soak-app:1`;
}

/**
 * setUpCluster labels the nodes, starts the registry and pushes the image into it, creates the
 * services and waits until they run: warden starts from a cluster in its desired state (variant A).
 */
export async function setUpCluster(lab: Lab, log: (m: string) => void): Promise<void> {
  const m = await anyManager(lab);
  for (const n of lab.nodes) {
    const labels = Object.entries(desiredLabels(n.name)).flatMap(([k, v]) => ['--label-add', `${k}=${v}`]);
    await lab.docker(m, ['node', 'update', ...labels, n.name]);
  }
  const address = registryAddress(lab);
  await lab.docker(m, [
    'service', 'create', '--detach', '--quiet', '--name', REGISTRY,
    '--constraint', `node.hostname==${REGISTRY_NODE}`,
    '--mount', 'type=volume,source=soak-registry-data,target=/var/lib/registry',
    '--publish', 'mode=host,target=5000,published=5000',
    'registry:lab',
  ]);
  await waitUntil('the registry to answer', () => probeOk(address), { timeoutMs: 90_000, intervalMs: 250 });
  const registryNode = lab.node(REGISTRY_NODE);
  await lab.docker(registryNode, ['tag', 'busybox:lab', appImage(lab)]);
  await lab.docker(registryNode, ['push', appImage(lab)]);
  log(`registry ${REGISTRY} on ${REGISTRY_NODE} answers at ${address}; ${appImage(lab)} pushed`);
  const r = desiredReplicas('A');
  // max attempts: a task that cannot pull while the registry is away is given up for good, as after a cold boot.
  const restart = ['--restart-max-attempts', '3', '--restart-delay', '2s'];
  await lab.docker(m, ['service', 'create', '--detach', '--quiet', '--name', 'soak-api', '--replicas', String(r['soak-api']),
    '--constraint', 'node.labels.tier==app', ...restart, appImage(lab), 'sleep', '86400']);
  await lab.docker(m, ['service', 'create', '--detach', '--quiet', '--name', 'soak-web', '--replicas', String(r['soak-web']),
    '--replicas-max-per-node', '2', ...restart, appImage(lab), 'sleep', '86400']);
  await lab.docker(m, ['service', 'create', '--detach', '--quiet', '--name', 'soak-db', '--replicas', String(r['soak-db']),
    '--constraint', 'node.labels.tier==control', ...restart, 'busybox:lab', 'sleep', '86400']);
  await waitUntil('the services to run', async () => {
    const services = await lab.docker(await anyManager(lab), ['service', 'ls', '--format', '{{.Name}} {{.Replicas}}']);
    return SCALED.every((s) => new RegExp(`^${s} (\\d+)/\\1\\b`, 'm').test(services));
  }, { timeoutMs: 180_000, intervalMs: 1_000 });
  log(`services ${SCALED.join(', ')} run (${SCALED.map((s) => r[s]).join('/')} replicas)`);
}

/** setUpVolumes creates the volume directories on the NAS as the desired state wants them. */
export function setUpVolumes(hostRoot: string): void {
  for (const v of VOLUMES) {
    const dir = join(hostRoot, v.path);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, v.owner, v.group);
    chmodSync(dir, v.mode);
  }
}

/** volumeDrift lists the volumes whose owner, group or mode differ from the desired state (never call it while the NAS hangs). */
export function volumeDrift(hostRoot: string): string[] {
  const out: string[] = [];
  for (const v of VOLUMES) {
    try {
      const st = lstatSync(join(hostRoot, v.path));
      if (st.uid !== v.owner || st.gid !== v.group || (st.mode & 0o7777) !== v.mode) out.push(`${v.path} ${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`);
    } catch (err) {
      out.push(`${v.path} ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return out;
}

/**
 * engineDrift lists what a sample shows out of the desired state (variant): replicas, running tasks,
 * node labels, manager count, a registry that does not run. Empty means in sync as far as the engine
 * alone can tell; `warden plan` confirms.
 */
export function engineDrift(s: Sample, variant: Variant): string[] {
  if (!s.via) return ['no manager answered'];
  const out: string[] = [];
  const want = desiredReplicas(variant);
  for (const name of SCALED) {
    const svc = s.services.find((x) => x.name === name);
    if (!svc) out.push(`${name} missing`);
    else if (svc.replicas !== want[name] || svc.running !== want[name]) out.push(`${name} ${svc.running ?? '?'}/${svc.replicas ?? '?'} (wants ${want[name]})`);
  }
  const registry = s.services.find((x) => x.name === REGISTRY);
  if (!registry || registry.running !== 1) out.push(`${REGISTRY} ${registry ? `${registry.running ?? '?'}/${registry.replicas ?? '?'}` : 'missing'}`);
  for (const n of s.nodes) {
    if (n.state !== 'ready') out.push(`${n.hostname} ${n.state}`);
    for (const [k, v] of Object.entries(desiredLabels(n.hostname))) if (n.labels[k] !== v) out.push(`${n.hostname} ${k}=${n.labels[k] ?? '(none)'}`);
  }
  const reachable = s.nodes.filter((n) => n.reachability === 'reachable').length;
  const members = s.nodes.filter((n) => n.reachability !== undefined).length;
  if (reachable !== 3 || members !== 3) out.push(`managers ${reachable} reachable of ${members}`);
  return out;
}
