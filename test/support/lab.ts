// Helpers for integration tests on the lab swarm: the lab of this run, services made for a test and
// removed after it, nodes stopped for a test and started again after it.
import { inject } from 'vitest';
import { Lab, type LabNode } from '../../src/lab/lab.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort } from '../../src/docker/port.js';
import { waitUntil } from './wait.js';

/** testLab is the lab the global setup brought up. */
export function testLab(): Lab {
  return Lab.open(inject('labId'));
}

/** portFor connects a Docker port to a lab node's engine. */
export function portFor(node: LabNode): DockerPort {
  return createDockerPort({ host: node.host });
}

let counter = 0;
/** uniqueName gives a service name no other test of this run uses. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${counter}`;
}

/** createService creates a busybox:lab service that sleeps, and returns its name. */
export async function createService(lab: Lab, name: string, args: string[] = []): Promise<string> {
  const manager = await runningManager(lab);
  await lab.docker(manager, ['service', 'create', '--detach', '--quiet', '--name', name, ...args, 'busybox:lab', 'sleep', '86400']);
  return name;
}

/** removeServices removes services, ignoring those already gone. */
export async function removeServices(lab: Lab, ...names: string[]): Promise<void> {
  if (names.length === 0) return;
  const manager = await runningManager(lab);
  await lab.docker(manager, ['service', 'rm', ...names]).catch(() => undefined);
}

/** runningManager returns a manager whose engine runs and answers as a manager. */
export async function runningManager(lab: Lab): Promise<LabNode> {
  return waitUntil('a running manager', async () => {
    for (const m of lab.managers) {
      if (!lab.isRunning(m)) continue;
      const info = await portFor(m).info().catch(() => undefined);
      if (info?.controlAvailable) return m;
    }
    return undefined;
  });
}

/**
 * restoreLab brings the lab back to the healthy state every integration file starts from and leaves:
 * every engine running, every node ready and active with no labels, the lab's managers (and only they)
 * reachable Raft members, no services. Each file calls it before its first test and after its last, so a
 * file that stopped daemons, changed roles or was killed halfway cannot break the next one.
 */
export async function restoreLab(lab: Lab): Promise<void> {
  for (const n of lab.nodes) if (!lab.isRunning(n)) await lab.startDaemon(n);
  const wantManagers = new Set(lab.managers.map((m) => m.name));
  const settle = { timeoutMs: 120_000, intervalMs: 250 };
  // Every node known and ready, and a majority answering, before roles are touched.
  await waitUntil('every lab node ready', async () => {
    const nodes = await portFor(await runningManager(lab)).listNodes();
    return lab.nodes.every((l) => nodes.some((n) => n.hostname === l.name && n.state === 'ready'));
  }, settle);
  // Roles: promotions first (they only add fault tolerance), then demotions, one at a time, each awaited.
  for (const phase of ['promote', 'demote'] as const) {
    for (;;) {
      const port = portFor(await runningManager(lab));
      const nodes = (await port.listNodes()).filter((n) => lab.nodes.some((l) => l.name === n.hostname));
      const wrong = nodes.find((n) => (phase === 'promote' ? wantManagers.has(n.hostname) && n.role !== 'manager' : !wantManagers.has(n.hostname) && n.role === 'manager'));
      if (!wrong) break;
      await port.updateNode(wrong.id, wrong.version, { ...wrong.spec, Role: phase === 'promote' ? 'manager' : 'worker' }).catch(() => undefined);
      await waitUntil(`${wrong.hostname} to be ${phase}d`, async () => {
        const n = await portFor(await runningManager(lab)).inspectNode(wrong.id);
        return phase === 'promote' ? n.manager?.reachability === 'reachable' : n.manager === undefined;
      }, settle);
    }
  }
  await waitUntil('no labels and every node active', async () => {
    const p = portFor(await runningManager(lab));
    const nodes = await p.listNodes();
    const dirty = nodes.filter((n) => Object.keys(n.labels).length > 0 || n.availability !== 'active');
    for (const n of dirty) await p.updateNode(n.id, n.version, { ...n.spec, Labels: {}, Availability: 'active' }).catch(() => undefined);
    return dirty.length === 0;
  }, settle);
  await waitUntil('no services left', async () => {
    const p = portFor(await runningManager(lab));
    const services = await p.listServices();
    if (services.length > 0) await removeServices(lab, ...services.map((s) => s.name));
    return services.length === 0;
  }, settle);
  await waitUntil('every lab node ready and only the lab managers reachable', async () => {
    const nodes = await portFor(await runningManager(lab)).listNodes();
    return nodes.length === lab.nodes.length &&
      nodes.every((n) => n.state === 'ready') &&
      nodes.every((n) => (n.manager?.reachability === 'reachable') === wantManagers.has(n.hostname));
  }, settle);
}
