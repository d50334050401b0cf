// Issue 12 on the lab: the leader's node dies in the middle of a pass, between warden's read and its write.
// The instance on the leader has its Docker port wrapped so that, just before the update is sent, the
// test stops that node's dockerd for real; the write then meets a dead engine. It must fail cleanly, the
// instance on the new leader must correct the drift once with every other field of the spec kept, and the
// old instance, when its engine is back, must see that it is not the leader and change nothing.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { createDockerPort } from '../../src/docker/engine.js';
import { EngineError } from '../../src/docker/errors.js';
import type { ServiceSpec } from '../../src/docker/port.js';
import type { LabNode } from '../../src/lab/lab.js';
import { RECONCILERS } from '../../src/reconcilers/index.js';
import { counting, type CountingPort } from '../support/counting-port.js';
import { createService, leaderNode, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const created: string[] = [];
const stops: AbortController[] = [];
const loops: Promise<void>[] = [];

beforeAll(() => restoreLab(lab));

afterAll(async () => {
  for (const ac of stops) ac.abort();
  await Promise.all(loops);
  await removeServices(lab, ...created);
  // The stopped engine is started again, and roles and nodes are as every file expects.
  await restoreLab(lab);
});

interface Instance {
  node: LabNode;
  port: CountingPort;
  metrics: Metrics;
  controller: Controller;
  /** start runs the controller's loop (events, resync) until the test ends or stop is called. */
  start(): void;
  stop(): Promise<void>;
}

/** instance builds a controller against one manager's engine, as warden's global service would run it. */
async function instance(node: LabNode, yaml: string, port?: CountingPort, logger = pino({ level: 'silent' })): Promise<Instance> {
  const p = port ?? counting(createDockerPort({ host: node.host, requestTimeoutMs: 5_000 }));
  const metrics = new Metrics({ processMetrics: false });
  const controller = new Controller({ port: p, logger, metrics });
  controller.setDesired(await loadDesiredStateText(yaml, `${node.name}.yml`));
  const ac = new AbortController();
  stops.push(ac);
  let done: Promise<void> | undefined;
  return {
    node, port: p, metrics, controller,
    start() {
      done = controller.start(ac.signal);
      loops.push(done);
    },
    async stop() {
      ac.abort();
      await done;
    },
  };
}

// A resync every 2 s: after the leader's death no event need reach the new leader's instance.
const stateYaml = (name: string, replicas: number): string =>
  `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  services:\n    - { name: ${name}, replicas: ${replicas} }\n  policy:\n    resync: "*/2 * * * * *"\n`;

async function corrections(i: Instance): Promise<number> {
  return (await i.metrics.corrections.get()).values.reduce((sum, v) => sum + v.value, 0);
}

function withReplicas(spec: ServiceSpec, replicas: number): ServiceSpec {
  const want = structuredClone(spec);
  want.Mode = { ...want.Mode, Replicated: { ...want.Mode?.Replicated, Replicas: replicas } };
  return want;
}

describe('the leader\'s node dies in the middle of a write', () => {
  it('the write fails cleanly, the new leader\'s instance corrects once, the old one stands by when it returns', async () => {
    // A service with more in its spec than replicas, so that "every other field as before" means something.
    const name = await createService(lab, uniqueName('midwrite'), [
      '--replicas', '1', '--label', 'team=core', '--container-label', 'tier=back', '--env', 'MODE=steady',
      '--restart-max-attempts', '7', '--update-delay', '3s', '--limit-memory', '64M',
    ]);
    created.push(name);
    const spec0 = (await portFor(await runningManager(lab)).inspectService(name)).spec;
    const oldLeader = await leaderNode(lab);
    const yaml = stateYaml(name, 3);

    // The instances on the other managers run first and stand by.
    const others = await Promise.all(lab.managers.filter((m) => m.name !== oldLeader.name).map((m) => instance(m, yaml)));
    for (const i of others) i.start();
    await waitUntil('the other instances to stand by', () =>
      others.every((i) => i.controller.status().lastPass !== undefined && !i.controller.status().leader));

    // The leader's instance: its port stops the leader's dockerd just before the first update goes out.
    const real = counting(createDockerPort({ host: oldLeader.host, requestTimeoutMs: 5_000 }));
    const fault: { stoppedMs?: number; stoppedAt?: number; error?: unknown } = {};
    const port: CountingPort = {
      ...real, // a plain object of bound methods, one of which this test replaces
      async updateService(id, version, spec) {
        if (fault.stoppedMs === undefined) {
          const t = performance.now();
          await lab.stopDaemon(oldLeader);
          fault.stoppedAt = performance.now();
          fault.stoppedMs = fault.stoppedAt - t;
        }
        try {
          return await real.updateService(id, version, spec);
        } catch (err) {
          fault.error = err;
          throw err;
        }
      },
    };
    const lines: string[] = [];
    const old = await instance(oldLeader, yaml, port, pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));

    const t0 = performance.now();
    const result = await old.controller.pass(['test']);
    const passMs = performance.now() - t0;
    // The pass read the cluster as the leader, planned the scale, and its one write met a dead engine.
    expect(result.leader).toBe(true);
    expect(result.error).toBeUndefined();
    expect(fault.stoppedMs).toBeDefined();
    expect(fault.error).toBeInstanceOf(EngineError);
    expect((fault.error as EngineError).code).toBe('unreachable');
    // Every reconciler ran; only the replicas one planned anything, and its action failed, no crash.
    expect(result.results.map((r) => r.id)).toEqual(RECONCILERS.map((r) => r.id));
    for (const r of result.results) expect(r.error, r.id).toBeUndefined();
    const replicas = result.results.find((r) => r.id === 'replicas')!;
    expect(replicas.actions).toHaveLength(1);
    expect(replicas.actions[0]).toMatchObject({ outcome: 'failed', action: { kind: 'scale-service', object: name, replicas: 3 } });
    expect(result.results.flatMap((r) => r.actions)).toHaveLength(1);
    // Not retried within the pass: the engine's being gone takes longer to clear than a pass should wait.
    expect(real.counts.get('updateService')).toBe(1);
    expect(await corrections(old)).toBe(0);
    const failedLine = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'action failed; the next pass tries again');
    expect(failedLine).toMatchObject({ object: name, action: 'scale-service', code: 'unreachable' });
    process.stderr.write(`leader mid-write: dockerd stopped in ${fault.stoppedMs!.toFixed(0)} ms, the pass ended ${(passMs - fault.stoppedMs!).toFixed(0)} ms later\n`);

    // The old instance keeps running, as it would in the global service, against its dead engine.
    old.start();

    const newLeader = await waitUntil('a new leader', async () => {
      const l = await leaderNode(lab).catch(() => undefined);
      return l && l.name !== oldLeader.name ? l : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const onNew = others.find((i) => i.node.name === newLeader.name)!;
    const bystander = others.find((i) => i !== onNew)!;
    await waitUntil('the new leader\'s instance to correct the drift', async () =>
      (await portFor(newLeader).inspectService(name)).replicas === 3 && (await corrections(onNew)) === 1, { timeoutMs: 60_000, intervalMs: 100 });
    process.stderr.write(`leader mid-write: corrected by ${newLeader.name} ${((performance.now() - fault.stoppedAt!) / 1000).toFixed(1)} s after the leader's dockerd exited\n`);
    // The desired replicas, and every other field as the service was created.
    expect((await portFor(newLeader).inspectService(name)).spec).toEqual(withReplicas(spec0, 3));

    // The old engine returns: its instance sees that it is not the leader and writes nothing.
    const back = Date.now();
    await lab.startDaemon(oldLeader);
    const standby = await waitUntil('a clean pass of the old instance after its engine returned', () => {
      const s = old.controller.status();
      return s.lastPass && Date.parse(s.lastPass.startedAt) > back && s.lastPass.error === undefined ? s : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    expect(standby.leader).toBe(false);
    expect((await old.metrics.leader.get()).values[0]?.value).toBe(0);
    // Nothing moved while it came back: still one correction in all, by the new leader's instance.
    expect(await corrections(onNew)).toBe(1);
    expect(await corrections(bystander)).toBe(0);
    expect(await corrections(old)).toBe(0);

    // Drift that the old instance certainly sees: the new leader's instance is stopped first (otherwise
    // it corrects before the old one looks), then the service is scaled through the old node's engine.
    await onNew.stop();
    await lab.docker(oldLeader, ['service', 'scale', '--detach', `${name}=5`]);
    await waitUntil('the old instance to see the drift, as a standby', () => {
      const s = old.controller.status();
      return !s.leader && (s.drift.replicas ?? []).some((d) => d.object === name);
    }, { timeoutMs: 30_000 });
    expect((await portFor(oldLeader).inspectService(name)).replicas).toBe(5);
    // The one write the old instance ever sent is the one that failed; the bystander never wrote.
    expect(real.counts.get('updateService')).toBe(1);
    expect(real.writes()).toBe(1);
    expect(bystander.port.writes()).toBe(0);
    expect(onNew.port.writes()).toBe(1);
  });
});
