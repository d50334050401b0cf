// Helpers for integration tests on the lab swarm: the lab of this run, services made for a test and
// removed after it, nodes stopped for a test and started again after it.
import { existsSync, readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { Lab, labUp, type LabNode } from '../../src/lab/lab.js';
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
 * swarmDiagnostics describes each running manager's swarm as its engine sees it (`docker info`'s Swarm
 * part) and the last Raft lines of its dockerd log: what a test prints when the swarm does not do what
 * it waits for (no leader elected, a node that does not rejoin).
 */
export async function swarmDiagnostics(lab: Lab): Promise<string> {
  const parts: string[] = [];
  for (const m of lab.managers) {
    if (!lab.isRunning(m)) {
      parts.push(`${m.name}: stopped`);
      continue;
    }
    const swarm = await lab.docker(m, ['info', '--format', '{{json .Swarm}}'], 10_000).catch((err: Error) => err.message);
    const raft = existsSync(m.logFile)
      ? readFileSync(m.logFile, 'utf8').split('\n').filter((l) => /raft|leader|quorum|election/i.test(l)).slice(-8).join('\n')
      : '(no log)';
    parts.push(`${m.name}: ${swarm.trim()}\n${raft}`);
  }
  return parts.join('\n');
}

/** leaderNode returns the lab node that is the Raft leader now, as a running manager reports it. */
export async function leaderNode(lab: Lab): Promise<LabNode> {
  const nodes = await portFor(await runningManager(lab)).listNodes();
  const leader = nodes.find((n) => n.manager?.leader);
  if (!leader) throw new Error('no leader');
  return lab.node(leader.hostname);
}

/**
 * restoreLab brings the lab back to the healthy state every integration file starts from and leaves:
 * every engine running, every node ready and active with no labels, the lab's managers (and only they)
 * reachable Raft members, no services. Each file calls it before its first test and after its last, so a
 * file that stopped daemons, changed roles or was killed halfway cannot break the next one. A lab that
 * cannot be healed within RESTORE_BUDGET_MS (an engine bug can leave a node unable to rejoin) is torn down
 * and brought up again, with the same names.
 */
export async function restoreLab(lab: Lab): Promise<void> {
  const abandoned = { value: false };
  const healing = heal(lab, abandoned);
  healing.catch(() => undefined); // a heal abandoned at the budget must not surface later
  const budget = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), RESTORE_BUDGET_MS).unref());
  const outcome = await Promise.race([healing.then(() => 'healed' as const, (err: unknown) => err as Error), budget]);
  if (outcome === 'healed') return;
  // The abandoned heal stops at its next step: it must not touch the lab being rebuilt.
  abandoned.value = true;
  const why = outcome === 'late' ? `not healthy within ${RESTORE_BUDGET_MS / 1000} s` : outcome.message;
  process.stderr.write(`lab ${lab.layout.id}: ${why}; rebuilding it\n`);
  await labUp({ id: lab.layout.id, managers: lab.managers.length, workers: lab.workers.length, engine: lab.engine });
}

/** RESTORE_BUDGET_MS is how long restoreLab tries to heal the lab before it rebuilds it (default 150 s). */
export const RESTORE_BUDGET_MS = 150_000;

async function heal(lab: Lab, abandoned: { value: boolean }): Promise<void> {
  const step = (): void => {
    if (abandoned.value) throw new Error('abandoned');
  };
  for (const n of lab.nodes) if (!lab.isRunning(n)) await lab.startDaemon(n);
  // A node whose swarm is in error (a promotion that crash-loops on the lab's Docker 20.10,
  // moby/moby#47854) only recovers by leaving and joining again: rebuild instead of waiting.
  for (const n of lab.nodes) {
    const state = (await portFor(n).info().catch(() => undefined))?.localNodeState;
    if (state === 'error') throw new Error(`${n.name}'s swarm is in error`);
  }
  const wantManagers = new Set(lab.managers.map((m) => m.name));
  const settle = { timeoutMs: 60_000, intervalMs: 250 };
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
      step();
      await port.updateNode(wrong.id, wrong.version, { ...wrong.spec, Role: phase === 'promote' ? 'manager' : 'worker' }).catch((err: Error) => {
        // A promotion that never finished (moby/moby#47854 on 20.10): the engine will not set it back, and
        // the node only recovers by leaving and joining again: rebuild instead of waiting.
        if (/can't find manager in raft memberlist/.test(err.message)) throw new Error(`${wrong.hostname}'s promotion never finished: ${err.message}`);
      });
      await waitUntil(`${wrong.hostname} to be ${phase}d`, async () => {
        const n = await portFor(await runningManager(lab)).inspectNode(wrong.id);
        // The role asked for, and the Raft membership that goes with it (a refused demotion leaves the role).
        return phase === 'promote' ? n.role === 'manager' && n.manager?.reachability === 'reachable' : n.role === 'worker' && n.manager === undefined;
      }, settle);
    }
  }
  await waitUntil('no labels and every node active', async () => {
    const p = portFor(await runningManager(lab));
    const nodes = await p.listNodes();
    const dirty = nodes.filter((n) => Object.keys(n.labels).length > 0 || n.availability !== 'active');
    step();
    for (const n of dirty) await p.updateNode(n.id, n.version, { ...n.spec, Labels: {}, Availability: 'active' }).catch(() => undefined);
    return dirty.length === 0;
  }, settle);
  await waitUntil('no services left', async () => {
    const p = portFor(await runningManager(lab));
    const services = await p.listServices();
    step();
    if (services.length > 0) await removeServices(lab, ...services.map((s) => s.name));
    return services.length === 0;
  }, settle);
  // Only the lab's managers are Raft members, all reachable: a member left unreachable (a promotion that
  // never finished) would cost the next file its quorum when it stops one manager.
  await waitUntil('every lab node ready and only the lab managers Raft members, reachable', async () => {
    const nodes = await portFor(await runningManager(lab)).listNodes();
    return nodes.length === lab.nodes.length &&
      nodes.every((n) => n.state === 'ready') &&
      nodes.every((n) => (n.manager !== undefined) === wantManagers.has(n.hostname) && (n.manager?.reachability === 'reachable') === wantManagers.has(n.hostname));
  }, settle);
}
