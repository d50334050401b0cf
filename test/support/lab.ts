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

/** restoreLab starts every stopped engine and waits until all nodes are ready and all managers reachable. */
export async function restoreLab(lab: Lab): Promise<void> {
  for (const n of lab.nodes) if (!lab.isRunning(n)) await lab.startDaemon(n);
  await waitUntil('every lab node ready and every manager reachable', async () => {
    const manager = await runningManager(lab);
    const nodes = await portFor(manager).listNodes();
    return nodes.length === lab.nodes.length &&
      nodes.every((n) => n.state === 'ready') &&
      nodes.filter((n) => n.manager?.reachability === 'reachable').length === lab.managers.length;
  }, { timeoutMs: 90_000, intervalMs: 250 });
}
