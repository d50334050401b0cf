// The rebalance reconciler on the lab swarm. A service of 6 replicas is constrained to three nodes (two
// workers and a manager that is not the leader); one worker's engine stops, swarm moves its tasks to the
// other two, and the worker comes back to an empty share: 3/3/0. Swarm never moves them back. Without
// `rebalance` warden leaves it so, pass after pass; with `rebalance: true` it forces one rolling update
// and the tasks end 2/2/2.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort, SwarmNode, SwarmService } from '../../src/docker/port.js';
import type { LabNode } from '../../src/lab/lab.js';
import { counting } from '../support/counting-port.js';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const created: string[] = [];
const labelled: LabNode[] = [];
const stops: AbortController[] = [];
const LABEL = `wtest-rebalance-${process.pid.toString(36)}`;

beforeAll(() => restoreLab(lab));

afterEach(async () => {
  for (const ac of stops.splice(0)) ac.abort();
  await removeServices(lab, ...created.splice(0));
  // A stopped engine must run again before its label can be removed.
  await restoreLab(lab);
  const manager = await runningManager(lab);
  for (const n of labelled.splice(0)) await lab.docker(manager, ['node', 'update', '--label-rm', LABEL, n.name]).catch(() => undefined);
});

afterAll(() => restoreLab(lab));

async function nodes(): Promise<SwarmNode[]> {
  return portFor(await runningManager(lab)).listNodes();
}

// spread counts the service's running tasks (desired and observed running) by hostname.
async function spread(port: DockerPort, name: string, hosts: readonly string[]): Promise<number[]> {
  const [svc, all, ns] = await Promise.all([port.inspectService(name), port.listTasks({ desiredState: 'running' }), port.listNodes()]);
  const byId = new Map(ns.map((n) => [n.id, n.hostname]));
  const counts = new Map(hosts.map((h) => [h, 0]));
  for (const t of all) {
    if (t.serviceId !== svc.id || t.state !== 'running') continue;
    const host = byId.get(t.nodeId) ?? '';
    if (counts.has(host)) counts.set(host, counts.get(host)! + 1);
  }
  return hosts.map((h) => counts.get(h)!);
}

// note prints how long each phase took, for the record (the numbers the docs quote).
const t0 = Date.now();
function note(what: string): void {
  process.stderr.write(`rebalance test +${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);
}

// listed reads a service from `GET /services?status=true`: inspecting one service gives no ServiceStatus.
async function listed(port: DockerPort, name: string): Promise<SwarmService | undefined> {
  return (await port.listServices()).find((s) => s.name === name);
}

function yaml(name: string, rebalance: boolean): string {
  return [
    'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:',
    '  services:', `    - { name: ${name}, replicas: 6, rebalance: ${rebalance} }`,
  ].join('\n');
}

describe('rebalance on the lab swarm', () => {
  it('leaves a skewed service alone without rebalance, and spreads it 2/2/2 again with it', async () => {
    const all = await nodes();
    const leaderHost = all.find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderHost);
    const manager = lab.managers.find((m) => m.name !== leaderHost)!;
    const [w1, w2] = lab.workers as [LabNode, LabNode];
    const three = [manager, w1, w2];
    const hosts = three.map((n) => n.name);
    for (const n of three) {
      labelled.push(n);
      await lab.docker(leader, ['node', 'update', '--label-add', `${LABEL}=yes`, n.name]);
    }
    const name = await createService(lab, uniqueName('rb-api'), [
      '--replicas', '6', '--constraint', `node.labels.${LABEL}==yes`, '--stop-grace-period', '1s', '--update-delay', '0s',
      '--update-monitor', '1s', '--restart-delay', '1s',
    ]);
    created.push(name);
    const real = createDockerPort({ host: leader.host, requestTimeoutMs: 10_000 });
    await waitUntil('6 tasks spread 2/2/2 at creation', async () => (await spread(real, name, hosts)).join('/') === '2/2/2', { timeoutMs: 90_000, intervalMs: 500 });

    const port = counting(real);
    const metrics = new Metrics({ processMetrics: false });
    const controller = new Controller({ port, logger: pino({ level: 'silent' }), metrics, settleTimeoutMs: 180_000 });
    controller.setDesired(await loadDesiredStateText(yaml(name, false), 'rebalance-off.yml'));
    const ac = new AbortController();
    stops.push(ac);
    const done = controller.start(ac.signal);
    const forced = async (): Promise<number> =>
      (await metrics.corrections.get()).values.find((v) => v.labels.reconciler === 'rebalance' && v.labels.action === 'force-restart')?.value ?? 0;

    // worker-2's engine stops: swarm moves its two tasks to the other two nodes.
    note('2/2/2 at creation; stopping worker-2');
    await lab.stopDaemon(w2);
    const skewed = await waitUntil('swarm to move every task off the stopped node', async () => {
      const s = await spread(real, name, hosts);
      return s[2] === 0 && s[0]! + s[1]! === 6 ? s : undefined;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    note(`tasks moved off worker-2: ${skewed.join('/')}; starting it again`);
    await lab.startDaemon(w2);
    await waitUntil('worker-2 ready again, the service converged and still skewed', async () => {
      const n = (await real.listNodes()).find((x) => x.hostname === w2.name);
      const svc = await listed(real, name);
      const s = await spread(real, name, hosts);
      return n?.state === 'ready' && svc?.status?.runningTasks === 6 && s[2] === 0;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    expect(skewed.join('/')).toMatch(/^(3\/3|4\/2|2\/4)\/0$/);

    note('worker-2 ready, still skewed');
    // Without rebalance: several passes later, still skewed, nothing forced.
    const startPass = controller.status().lastPass?.passId ?? 0;
    for (let i = 0; i < 3; i++) {
      const seen = controller.status().lastPass?.passId ?? 0;
      controller.trigger('test');
      await waitUntil('another pass', () => (controller.status().lastPass?.passId ?? 0) > seen, { timeoutMs: 30_000 });
    }
    expect(controller.status().lastPass!.passId - startPass).toBeGreaterThanOrEqual(3);
    expect((await spread(real, name, hosts))[2]).toBe(0);
    expect(await forced()).toBe(0);
    expect(controller.status().drift.rebalance).toEqual([]);
    const writesBefore = port.writes();
    note(`${controller.status().lastPass!.passId - startPass} passes without rebalance: still skewed, nothing forced`);

    // With rebalance: one forced rolling update, and the tasks end 2/2/2.
    const before = await real.inspectService(name);
    controller.setDesired(await loadDesiredStateText(yaml(name, true), 'rebalance-on.yml'));
    await waitUntil('one forced update', async () => (await forced()) === 1, { timeoutMs: 60_000, intervalMs: 250 });
    const final = await waitUntil('the tasks spread 2/2/2 and the update completed', async () => {
      const svc = await listed(real, name);
      const s = await spread(real, name, hosts);
      return svc?.updateStatus?.state === 'completed' && svc?.status?.runningTasks === 6 && s.join('/') === '2/2/2' ? s : undefined;
    }, { timeoutMs: 240_000, intervalMs: 500 });
    note(`forced update done: ${final.join('/')}`);
    expect(final).toEqual([2, 2, 2]);
    const after = await real.inspectService(name);
    expect(after.forceUpdate).toBe(before.forceUpdate + 1);
    expect(port.writes() - writesBefore).toBe(1);

    // Later passes find it even and force nothing more.
    const seen = controller.status().lastPass!.passId;
    controller.trigger('test');
    await waitUntil('a pass after the rebalance', () => controller.status().lastPass!.passId > seen, { timeoutMs: 200_000 });
    expect(controller.status().drift.rebalance).toEqual([]);
    expect(await forced()).toBe(1);
    ac.abort();
    await done;
    note('done');
  }, 540_000);
});
