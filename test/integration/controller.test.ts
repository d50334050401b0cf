// The controller on the real lab swarm: corrections, the ignore label, what it only reports, zero-write
// passes, coalesced events, and leadership moving when the leader's engine stops.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort } from '../../src/docker/port.js';
import type { LabNode } from '../../src/lab/lab.js';
import { counting, type CountingPort } from '../support/counting-port.js';
import { createService, leaderNode, portFor, removeServices, restoreLab, runningManager, swarmDiagnostics, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();

// Start from a healthy lab, whatever the file before left.
beforeAll(() => restoreLab(lab));
const created: string[] = [];
const stops: AbortController[] = [];

interface Instance {
  node: LabNode;
  port: CountingPort;
  metrics: Metrics;
  controller: Controller;
  done: Promise<void>;
}

/** startInstance runs a controller against one manager's engine, as warden's global service would. */
async function startInstance(node: LabNode, yaml: string): Promise<Instance> {
  const port = counting(createDockerPort({ host: node.host, requestTimeoutMs: 5_000 }));
  const metrics = new Metrics({ processMetrics: false });
  const controller = new Controller({ port, logger: pino({ level: 'silent' }), metrics });
  controller.setDesired(await loadDesiredStateText(yaml, `${node.name}.yml`));
  const ac = new AbortController();
  stops.push(ac);
  return { node, port, metrics, controller, done: controller.start(ac.signal) };
}

function stateYaml(services: Array<{ name: string; replicas: number }>, policy = ''): string {
  return [
    'apiVersion: swarm-warden/v1',
    'kind: ClusterState',
    'metadata: { name: lab }',
    'spec:',
    '  services:',
    ...services.map((s) => `    - { name: ${s.name}, replicas: ${s.replicas} }`),
    ...(policy ? ['  policy:', ...policy.split('\n').map((l) => `    ${l}`)] : []),
  ].join('\n');
}

async function corrections(i: Instance): Promise<number> {
  const m = await i.metrics.corrections.get();
  return m.values.reduce((sum, v) => sum + v.value, 0);
}

async function replicasOf(name: string): Promise<number | undefined> {
  const manager = await runningManager(lab);
  return (await portFor(manager).inspectService(name)).replicas;
}

afterEach(async () => {
  for (const ac of stops.splice(0)) ac.abort();
  await removeServices(lab, ...created.splice(0));
});

afterAll(async () => {
  await restoreLab(lab);
});

describe('the controller on the lab swarm', () => {
  it('reverts a manual docker service scale, leaves ignored services alone and reports what it cannot fix', async () => {
    const api = await createService(lab, uniqueName('ctl-api'), ['--replicas', '2']);
    const auto = await createService(lab, uniqueName('ctl-auto'), ['--replicas', '1', '--label', 'warden.ignore=true']);
    const agent = await createService(lab, uniqueName('ctl-agent'), ['--mode', 'global']);
    created.push(api, auto, agent);
    const leader = await leaderNode(lab);
    const yaml = stateYaml([{ name: api, replicas: 2 }, { name: auto, replicas: 1 }, { name: agent, replicas: 3 }, { name: 'ctl-missing', replicas: 1 }]);
    const inst = await startInstance(leader, yaml);

    await lab.docker(leader, ['service', 'scale', '--detach', `${api}=5`]);
    await waitUntil('the scale to be reverted', async () => (await replicasOf(api)) === 2 && (await corrections(inst)) === 1);

    // An autoscaler scales the ignored service on purpose: warden leaves it.
    await lab.docker(leader, ['service', 'scale', '--detach', `${auto}=3`]);
    await waitUntil('a pass to see the ignored service', () =>
      inst.controller.status().suppressed.some((s) => s.object === auto && s.reason === 'ignored'));
    expect(await replicasOf(auto)).toBe(3);

    const drift = inst.controller.status().drift.replicas ?? [];
    expect(drift.map((d) => d.object).sort()).toEqual([agent, 'ctl-missing'].sort());
    expect(drift.find((d) => d.object === agent)?.message).toMatch(/global/);
    expect(drift.find((d) => d.object === 'ctl-missing')?.message).toMatch(/missing/);
    const agentSvc = await portFor(leader).inspectService(agent);
    expect(agentSvc.mode).toBe('global');
    expect(await corrections(inst)).toBe(1);
  });

  it('makes no write call in passes without drift, and serves a burst of 20 events with one or two passes', async () => {
    const name = await createService(lab, uniqueName('ctl-burst'), ['--replicas', '1']);
    created.push(name);
    // Twenty more services, without tasks, to update all at once: twenty update events in a burst.
    const quiet = await Promise.all(Array.from({ length: 20 }, () => createService(lab, uniqueName('ctl-quiet'), ['--replicas', '0'])));
    created.push(...quiet);
    const leader = await leaderNode(lab);
    const inst = await startInstance(leader, stateYaml([{ name, replicas: 1 }]));
    const port = portFor(leader);
    const services = await Promise.all(quiet.map((q) => port.inspectService(q)));
    await waitUntil('the first passes to settle', () => inst.controller.status().lastPass !== undefined);
    const before = inst.controller.status().lastPass!.passId;
    const listsBefore = inst.port.counts.get('listServices') ?? 0;
    const readsBefore = inst.port.counts.get('inspectService') ?? 0;

    // Real updates that are not drift (a label), all at once.
    await Promise.all(services.map((svc) =>
      port.updateService(svc.id, svc.version, { ...structuredClone(svc.spec), Labels: { ...svc.spec.Labels, burst: 'yes' } })));
    // Then one drift: the pass that corrects it proves the burst has been served.
    await lab.docker(leader, ['service', 'scale', '--detach', `${name}=3`]);
    await waitUntil('the drift to be corrected', async () => (await replicasOf(name)) === 1);
    const passes = inst.controller.status().lastPass!.passId - before;
    // The burst, the scale (perhaps in the same pass), and perhaps already the pass its own correction
    // triggers: never a pass an event. Each event's trigger follows the cache's read of its service, and the
    // engine commits twenty updates one Raft entry at a time: on a quiet machine they come within the
    // 50 ms of coalescing (one or two passes); on a loaded one, some come further apart (up to six seen at
    // a load of 17 on 2 cores). A pass that plans on the cache reads only the nodes.
    expect(passes).toBeGreaterThanOrEqual(1);
    expect(passes).toBeLessThanOrEqual(8);
    // Every pass read the nodes; the services came from the cache, kept current by one read per event (or,
    // when more than MAX_REFRESHES were out at once, by one list); only the one correction wrote.
    expect(inst.port.counts.get('listNodes')).toBeGreaterThanOrEqual(passes);
    const lists = (inst.port.counts.get('listServices') ?? 0) - listsBefore;
    const reads = (inst.port.counts.get('inspectService') ?? 0) - readsBefore;
    expect(lists).toBeLessThanOrEqual(1);
    expect(reads + lists * 20).toBeGreaterThanOrEqual(21);
    expect(inst.port.writes()).toBe(1);
  });

  it('meets a real version conflict by re-reading, keeping the other writer\'s change', async () => {
    const name = await createService(lab, uniqueName('ctl-conflict'), ['--replicas', '1']);
    created.push(name);
    const leader = await leaderNode(lab);
    const real = createDockerPort({ host: leader.host });
    let interfered = false;
    // Another writer updates the service between warden's read and warden's write.
    const port: DockerPort = {
      ...counting(real), // a plain object of bound methods, one of which this test replaces
      async updateService(id, version, spec) {
        if (!interfered) {
          interfered = true;
          const now = await real.inspectService(id);
          await real.updateService(id, now.version, { ...structuredClone(now.spec), Labels: { ...now.spec.Labels, owner: 'someone-else' } });
        }
        return real.updateService(id, version, spec);
      },
    };
    const controller = new Controller({ port, logger: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }) });
    controller.setDesired(await loadDesiredStateText(stateYaml([{ name, replicas: 3 }]), 'conflict.yml'));
    const result = await controller.pass();
    expect(interfered).toBe(true);
    expect(result.results.find((r) => r.id === 'replicas')?.actions[0]?.outcome).toBe('applied');
    const after = await real.inspectService(name);
    expect(after.replicas).toBe(3);
    expect(after.labels.owner).toBe('someone-else');
  });

  it('stops fighting a service that something keeps scaling back, and says so', async () => {
    const name = await createService(lab, uniqueName('ctl-flap'), ['--replicas', '2']);
    created.push(name);
    const leader = await leaderNode(lab);
    const inst = await startInstance(leader, stateYaml([{ name, replicas: 2 }]));
    await waitUntil('the first pass', () => inst.controller.status().lastPass !== undefined);
    // Something else scales the service to 1 each time warden has put it back.
    for (let round = 1; round <= 3; round++) {
      await lab.docker(leader, ['service', 'scale', '--detach', `${name}=1`]);
      await waitUntil(`correction ${round}`, async () => (await corrections(inst)) === round && (await replicasOf(name)) === 2);
    }
    await lab.docker(leader, ['service', 'scale', '--detach', `${name}=1`]);
    await waitUntil('warden to hold off', () => inst.controller.status().held.some((h) => h.key === `replicas/${name}` && h.reason === 'flapping'));
    await waitUntil('the suppressed action', () =>
      inst.controller.status().suppressed.some((s) => s.object === name && s.reason === 'flapping'));
    expect(await replicasOf(name)).toBe(1);
    expect(await corrections(inst)).toBe(3);
    expect((await inst.metrics.suppressed.get()).values.find((v) => v.labels.reason === 'flapping' && v.labels.reconciler === 'replicas')?.value)
      .toBeGreaterThanOrEqual(1);
    expect(inst.controller.status().drift.replicas?.map((d) => d.object)).toContain(name);
  });

  it('moves with the Raft leader: the instance on the new leader corrects, the old one does nothing, also once its engine is back', async () => {
    const name = await createService(lab, uniqueName('ctl-lead'), ['--replicas', '2']);
    created.push(name);
    const yaml = stateYaml([{ name, replicas: 2 }]);
    const instances = await Promise.all(lab.managers.map((m) => startInstance(m, yaml)));
    const oldLeader = await leaderNode(lab);
    const onOld = instances.find((i) => i.node.name === oldLeader.name)!;

    await lab.docker(oldLeader, ['service', 'scale', '--detach', `${name}=1`]);
    await waitUntil('the leader to revert the scale', async () => (await replicasOf(name)) === 2 && (await corrections(onOld)) === 1);
    for (const i of instances) if (i !== onOld) expect(await corrections(i)).toBe(0);

    await lab.stopDaemon(oldLeader);
    // A failed read or the stopped node still named leader is the last observation if this times out,
    // followed by what each manager's engine says of its swarm.
    const newLeader = await waitUntil('a new leader', async () => {
      const l = await leaderNode(lab);
      if (l.name === oldLeader.name) throw new Error(`the nodes list still names ${l.name}, stopped, as the leader`);
      return l;
    }, { timeoutMs: 60_000, intervalMs: 250 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await swarmDiagnostics(lab)}`);
    });
    const onNew = instances.find((i) => i.node.name === newLeader.name)!;

    await lab.docker(newLeader, ['service', 'scale', '--detach', `${name}=4`]);
    await waitUntil('the new leader to revert the scale', async () => (await replicasOf(name)) === 2 && (await corrections(onNew)) === 1, { timeoutMs: 60_000 });
    // Every drift was corrected exactly once, each time by the instance on the leader of the moment.
    expect(await corrections(onOld)).toBe(1);
    const total = (await Promise.all(instances.map(corrections))).reduce((a, b) => a + b, 0);
    expect(total).toBe(2);
    expect(onOld.port.writes() + onNew.port.writes()).toBe(2);

    // The old leader's engine starts again under its running instance: the events stream reconnects, the
    // instance reads the cluster (and asks its engine who it is) again, and stays a standby; the next drift
    // is corrected once, by the instance on the leader of the moment.
    const before = onOld.controller.status().lastPass!.passId;
    await lab.startDaemon(oldLeader);
    await waitUntil('the old instance to read the cluster after its engine restarted', () => {
      const last = onOld.controller.status().lastPass!;
      return last.passId > before && last.error === undefined ? last : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250 });
    expect(onOld.controller.status().leader).toBe(false);
    const leaderNow = await leaderNode(lab);
    const onLeader = instances.find((i) => i.node.name === leaderNow.name)!;
    const byOnLeader = await corrections(onLeader);
    await lab.docker(leaderNow, ['service', 'scale', '--detach', `${name}=3`]);
    await waitUntil('the leader of the moment to revert the scale', async () => (await replicasOf(name)) === 2 && (await corrections(onLeader)) === byOnLeader + 1, { timeoutMs: 60_000 });
    expect((await Promise.all(instances.map(corrections))).reduce((a, b) => a + b, 0)).toBe(3);
    await restoreLab(lab);
  });
});
