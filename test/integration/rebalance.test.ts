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

function yaml(name: string, rebalance: boolean, replicas = 6): string {
  return [
    'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:',
    '  services:', `    - { name: ${name}, replicas: ${replicas}, rebalance: ${rebalance} }`,
  ].join('\n');
}

/** labelNodes gives each node the test's labels (removed again after the test). */
async function labelNodes(leader: LabNode, labels: Array<[LabNode, Record<string, string>]>): Promise<void> {
  for (const [n, l] of labels) {
    if (!labelled.includes(n)) labelled.push(n);
    await lab.docker(leader, ['node', 'update', ...Object.entries(l).flatMap(([k, v]) => ['--label-add', `${k}=${v}`]), n.name]);
  }
}

/** runController starts a controller on the leader's engine with rebalance on for `name`. */
async function runController(leader: LabNode, name: string, replicas: number): Promise<{ controller: Controller; metrics: Metrics; port: ReturnType<typeof counting> }> {
  const port = counting(createDockerPort({ host: leader.host, requestTimeoutMs: 10_000 }));
  const metrics = new Metrics({ processMetrics: false });
  const controller = new Controller({ port, logger: pino({ level: 'silent' }), metrics, settleTimeoutMs: 180_000 });
  controller.setDesired(await loadDesiredStateText(yaml(name, true, replicas), 'rebalance.yml'));
  const ac = new AbortController();
  stops.push(ac);
  void controller.start(ac.signal);
  return { controller, metrics, port };
}

async function forcedBy(metrics: Metrics): Promise<number> {
  return (await metrics.corrections.get()).values.find((v) => v.labels.reconciler === 'rebalance' && v.labels.action === 'force-restart')?.value ?? 0;
}

/** passes waits for `n` more passes, each asked for. */
async function passes(controller: Controller, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const seen = controller.status().lastPass?.passId ?? 0;
    controller.trigger('test');
    await waitUntil('another pass', () => (controller.status().lastPass?.passId ?? 0) > seen, { timeoutMs: 60_000 });
  }
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

  // Issue 18 item 3. One node in zone a, three in zone b, spread over zones: the scheduler puts 3 tasks on
  // the node of zone a and 1 on each node of zone b, and no update can do better. Judged node by node
  // (3 against 1), the rebalance of before forced an update at once, and again after every settle period.
  it('leaves alone a service whose spread preference makes 3/1/1/1 the best spread the scheduler can reach', async () => {
    const all = await nodes();
    const leaderHost = all.find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderHost);
    const [a, ...b] = [lab.managers.find((m) => m.name !== leaderHost)!, ...lab.workers, lab.managers.filter((m) => m.name !== leaderHost)[1]!] as [LabNode, LabNode, LabNode, LabNode];
    const zone = `${LABEL}-zone`;
    await labelNodes(leader, [[a, { [LABEL]: 'yes', [zone]: 'a' }], ...b.map((n): [LabNode, Record<string, string>] => [n, { [LABEL]: 'yes', [zone]: 'b' }])]);
    const hosts = [a, ...b].map((n) => n.name);
    const name = await createService(lab, uniqueName('rb-zones'), [
      '--replicas', '6', '--constraint', `node.labels.${LABEL}==yes`, '--placement-pref', `spread=node.labels.${zone}`, '--stop-grace-period', '1s',
    ]);
    created.push(name);
    const real = createDockerPort({ host: leader.host, requestTimeoutMs: 10_000 });
    await waitUntil('6 tasks spread 3 in zone a, 1 on each node of zone b', async () => (await spread(real, name, hosts)).join('/') === '3/1/1/1', { timeoutMs: 90_000, intervalMs: 500 });
    const before = await real.inspectService(name);

    const { controller, metrics, port } = await runController(leader, name, 6);
    await passes(controller, 3);
    expect(controller.status().drift.rebalance).toEqual([]);
    expect(await forcedBy(metrics)).toBe(0);
    expect(port.writes()).toBe(0);
    expect((await real.inspectService(name)).forceUpdate).toBe(before.forceUpdate);
    expect((await spread(real, name, hosts)).join('/')).toBe('3/1/1/1');
    note('zones: 3/1/1/1 left alone over 3 passes');
  }, 240_000);

  // What warden cannot see keeps the scheduler from a more even spread: worker-2's CPUs are all reserved by
  // another service, so the 4 tasks (each reserving some CPU) run 2/2/0 and no update can change that.
  // warden sees 2/2/0 with room on worker-2 and forces one update; the update leaves them 2/2/0 with the
  // nodes as they were, so it is held, and said so, instead of being forced again after every settle period.
  it('forces one update where reservations it does not see keep the spread uneven, then holds it and says why', async () => {
    const all = await nodes();
    const leaderHost = all.find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderHost);
    const manager = lab.managers.find((m) => m.name !== leaderHost)!;
    const [w1, w2] = lab.workers as [LabNode, LabNode];
    const three = [manager, w1, w2];
    const hosts = three.map((n) => n.name);
    await labelNodes(leader, three.map((n): [LabNode, Record<string, string>] => [n, { [LABEL]: 'yes' }]));
    // Every CPU worker-2 reports, reserved by one task pinned there.
    const nano = Number((await lab.docker(leader, ['node', 'inspect', w2.name, '--format', '{{.Description.Resources.NanoCPUs}}'])).trim());
    const hog = await createService(lab, uniqueName('rb-hog'), ['--constraint', `node.hostname==${w2.name}`, '--reserve-cpu', String(nano / 1e9)]);
    created.push(hog);
    const port = createDockerPort({ host: leader.host, requestTimeoutMs: 10_000 });
    // The hog's reservation first: created together, the service's tasks could take worker-2's CPU first.
    await waitUntil('the hog to run on worker-2', async () => (await listed(port, hog))?.status?.runningTasks === 1, { timeoutMs: 60_000, intervalMs: 250 });
    const name = await createService(lab, uniqueName('rb-reserved'), [
      '--replicas', '4', '--constraint', `node.labels.${LABEL}==yes`, '--reserve-cpu', '0.1', '--stop-grace-period', '1s', '--update-delay', '0s', '--update-monitor', '1s',
    ]);
    created.push(name);
    await waitUntil('4 tasks spread 2/2/0', async () => {
      const s = (await spread(port, name, hosts)).join('/');
      if (s === '2/2/0') return true;
      throw new Error(`the service's tasks run ${s} on ${hosts.join('/')}`);
    }, { timeoutMs: 90_000, intervalMs: 500 });

    const { controller, metrics } = await runController(leader, name, 4);
    await waitUntil('one forced update, completed', async () => {
      const svc = await listed(port, name);
      return (await forcedBy(metrics)) === 1 && svc?.updateStatus?.state === 'completed' && svc.status?.runningTasks === 4;
    }, { timeoutMs: 180_000, intervalMs: 500 });
    expect((await spread(port, name, hosts)).join('/')).toBe('2/2/0');
    await passes(controller, 3);
    const drift = controller.status().drift.rebalance ?? [];
    expect(drift).toEqual([{ object: name, message: expect.stringMatching(/^running tasks per node .*=0 .*; held: the update that began .* left them so: the scheduler can do no better .*; held until a node that may run it changes$/) }]);
    expect(controller.status().suppressed).toContainEqual({ reconciler: 'rebalance', object: name, action: 'force-restart', reason: 'held' });
    expect(await forcedBy(metrics)).toBe(1);
    expect((await port.inspectService(name)).forceUpdate).toBe(1);
    const held = (await metrics.suppressed.get()).values.find((v) => v.labels.reconciler === 'rebalance' && v.labels.reason === 'held')?.value ?? 0;
    expect(held).toBeGreaterThanOrEqual(3);
    note('reserved: one forced update, then held');
  }, 300_000);
});
