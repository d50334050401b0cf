// The nodes reconciler on the lab swarm, through the real `warden run`: labels and availability
// converge, a manual label removal is reverted, a node labelled warden.ignore=true is left alone, and a
// selector that matches no node is reported. Every assertion reads the engine's own view of the nodes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { SwarmNode } from '../../src/docker/port.js';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const dir = mkdtempSync(join(tmpdir(), 'warden-nodes-'));
let warden: WardenDaemon | undefined;
const created: string[] = [];

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await warden?.stop('SIGKILL');
  await removeServices(lab, ...created);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

async function byName(): Promise<Map<string, SwarmNode>> {
  return new Map((await portFor(await runningManager(lab)).listNodes()).map((n) => [n.hostname, n]));
}

describe('the nodes reconciler on the lab swarm', () => {
  it('converges labels and availability, reverts a manual label removal, leaves an ignored node alone', async () => {
    const [w1, w2] = lab.workers;
    const leader = [...(await byName()).values()].find((n) => n.manager?.leader)!;
    // A manager warden may drain: not the leader's node, where warden runs (it never drains its own).
    const m3 = lab.managers.filter((m) => m.name !== leader.hostname).at(-1)!;
    // worker-2 carries the ignore label and a wrong value: warden must leave it so.
    await lab.docker(lab.managers[0]!, ['node', 'update', '--label-add', 'warden.ignore=true', '--label-add', 'worker=wrong', w2!.name]);
    await lab.docker(lab.managers[0]!, ['node', 'update', '--label-add', 'keep=me', w1!.name]);
    const file = join(dir, 'state.yml');
    writeFileSync(file, [
      'apiVersion: swarm-warden/v1',
      'kind: ClusterState',
      'metadata: { name: lab }',
      'spec:',
      '  nodes:',
      '    - match: { role: worker }',
      '      labels: { worker: app, function: production }',
      `    - match: { hostname: "${m3.name}" }`,
      '      availability: drain',
      '    - match: { hostname: "db-*" }',
      '      labels: { worker: db }',
      '  policy:',
      '    resync: "*/2 * * * * *"',
      '',
    ].join('\n'));
    warden = await startWardenRun(['-f', file, '--host', lab.node(leader.hostname).host], { stderr: 'ignore' });

    await waitUntil('labels and availability to converge', async () => {
      const n = await byName();
      return n.get(w1!.name)?.labels.worker === 'app' && n.get(w1!.name)?.labels.function === 'production' && n.get(m3.name)?.availability === 'drain';
    }, { timeoutMs: 60_000, intervalMs: 250 });
    let nodes = await byName();
    expect(nodes.get(w1!.name)?.labels).toEqual({ keep: 'me', worker: 'app', function: 'production' });
    expect(nodes.get(w2!.name)?.labels).toEqual({ 'warden.ignore': 'true', worker: 'wrong' });

    // A person removes a label by hand: warden puts it back.
    await lab.docker(lab.node(leader.hostname), ['node', 'update', '--label-rm', 'function', w1!.name]);
    await waitUntil('the removed label to be back', async () => (await byName()).get(w1!.name)?.labels.function === 'production', { timeoutMs: 30_000, intervalMs: 250 });

    const status = (await (await fetch(`${warden.url}/status`)).json()) as { drift: Record<string, Array<{ object: string; message: string }>> };
    expect(status.drift.nodes).toContainEqual({ object: 'nodes[2]', message: 'the selector (hostname db-*) matches no node' });
    nodes = await byName();
    expect(nodes.get(w2!.name)?.labels.worker).toBe('wrong');
    const metrics = await (await fetch(`${warden.url}/metrics`)).text();
    expect(metrics).toContain('warden_object_drift{reconciler="nodes",object="nodes[2]"} 1');
    expect(metrics).toMatch(/warden_actions_suppressed_total\{reconciler="nodes",reason="ignored"\} [1-9]/);
  });

  // Issue 18 item 6: a selector that matches every node, with availability drain. warden drains what it
  // may and holds the rest, saying why: its own node (the leader's, where it runs), the registry's node,
  // and a manager a service needs (4 replicas, at most 2 per manager: two managers must stay).
  it('drains every node "*" matches except its own, the registry\'s and those a service needs, and says why', async () => {
    await restoreLab(lab);
    await warden?.stop('SIGKILL');
    warden = undefined;
    const leader = [...(await byName()).values()].find((n) => n.manager?.leader)!;
    const [, w2] = lab.workers as [typeof lab.workers[number], typeof lab.workers[number]];
    const registry = await createService(lab, uniqueName('nodes-registry'), ['--constraint', `node.hostname==${w2.name}`]);
    const managed = await createService(lab, uniqueName('nodes-managed'), ['--replicas', '4', '--constraint', 'node.role==manager', '--replicas-max-per-node', '2']);
    created.push(registry, managed);
    await waitUntil('the services to run', async () => {
      const services = await portFor(await runningManager(lab)).listServices();
      return [registry, managed].every((name) => { const s = services.find((x) => x.name === name); return s?.status?.runningTasks === s?.status?.desiredTasks && (s?.status?.desiredTasks ?? 0) > 0; });
    }, { timeoutMs: 60_000, intervalMs: 250 });

    const yaml = [
      'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:',
      '  nodes:', '    - match: { hostname: "*" }', '      availability: drain',
      '  registry:', `    service: ${registry}`, `    address: "${w2.ip}:5000"`,
      '  policy:', '    resync: "*/2 * * * * *"', '',
    ].join('\n');
    const metrics = new Metrics({ processMetrics: false });
    const controller = new Controller({ port: createDockerPort({ host: lab.node(leader.hostname).host, requestTimeoutMs: 10_000 }), logger: pino({ level: 'silent' }), metrics });
    controller.setDesired(await loadDesiredStateText(yaml, 'drain-all.yml'));
    const ac = new AbortController();
    const done = controller.start(ac.signal);
    try {
      // In hostname order: the leader is held (warden's own node); of the two other managers the first is
      // drained and the second held (the service needs two); worker-1 drained; worker-2 held (registry).
      const others = lab.managers.map((m) => m.name).filter((h) => h !== leader.hostname).sort() as [string, string];
      const drained = [others[0], lab.workers[0]!.name].sort();
      await waitUntil('the nodes warden may drain to be drained', async () => {
        const nodes = await byName();
        return drained.every((h) => nodes.get(h)?.availability === 'drain');
      }, { timeoutMs: 60_000, intervalMs: 250 });
      // Several passes more: the others stay active.
      for (let i = 0; i < 3; i++) {
        const seen = controller.status().lastPass?.passId ?? 0;
        controller.trigger('test');
        await waitUntil('another pass', () => (controller.status().lastPass?.passId ?? 0) > seen, { timeoutMs: 30_000 });
      }
      const nodes = await byName();
      expect([...nodes.values()].filter((n) => n.availability === 'drain').map((n) => n.hostname).sort()).toEqual(drained);
      const drift = new Map((controller.status().drift.nodes ?? []).map((d) => [d.object, d.message]));
      expect(drift.get(leader.hostname)).toMatch(/^availability active \(wants drain\); held: it is the node of the engine warden reads \(where warden runs\)/);
      expect(drift.get(w2.name)).toBe(`availability active (wants drain); held: it runs the registry (${registry}), which every node pulls its images from`);
      expect(drift.get(others[1])).toBe(`availability active (wants drain); held: services would be left without the nodes they need: ${managed} needs 2 node(s) its placement allows and would have 1`);
      expect(controller.status().suppressed.filter((x) => x.reason === 'held').map((x) => x.object).sort()).toEqual([leader.hostname, others[1], w2.name].sort());
      // The service that needs two managers still runs all its tasks, on the two left.
      const svc = (await portFor(await runningManager(lab)).listServices()).find((x) => x.name === managed);
      expect(svc?.status).toEqual({ runningTasks: 4, desiredTasks: 4 });
    } finally {
      ac.abort();
      await done;
    }
  }, 180_000);
});
