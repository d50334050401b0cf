// Issue 18 item 1 on the lab swarm: a service swarm gave up on (restart attempts spent, its image missing)
// is stuck however old its last failure is. The age cannot be waited for in a test, so the warden here
// runs with a clock three hours ahead of the engine's: to it, the failure is three hours old (the
// RECENT_FAILURE_MS rule of before ignored such a failure and left the service dead). Once the image is
// there, ordering restarts it; the same dead service outside any restart order is in sync, and degraded.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort } from '../../src/docker/port.js';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const created: string[] = [];
// An image no node has: its tasks are rejected at once ("No such image"), the nodes having no route out.
const IMAGE = `busybox:stuck-${process.pid.toString(36)}`;
const THREE_HOURS = 3 * 3_600_000;

beforeAll(() => restoreLab(lab));

afterEach(async () => {
  await removeServices(lab, ...created.splice(0));
  for (const n of lab.nodes) if (lab.isRunning(n)) await lab.docker(n, ['image', 'rm', IMAGE]).catch(() => undefined);
});

afterAll(() => restoreLab(lab));

function yaml(services: string[]): string {
  return ['apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:', '  services:', ...services.map((s) => `    - ${s}`),
    '  policy:', '    resync: "*/2 * * * * *"', ''].join('\n');
}

/** createDead creates a 1-replica service of the missing image that may restart once, and waits until swarm gave up on it. */
async function createDead(port: DockerPort): Promise<string> {
  const name = uniqueName('dead');
  created.push(name);
  const manager = await runningManager(lab);
  await lab.docker(manager, [
    'service', 'create', '--detach', '--quiet', '--no-resolve-image', '--name', name,
    '--restart-max-attempts', '1', '--restart-delay', '1s', IMAGE, 'sleep', '86400',
  ]);
  const svc = await port.inspectService(name);
  // Given up: a rejected task, and none that still wants to run (desired running, or ready while swarm waits out the delay).
  await waitUntil(`swarm to give up on ${name}`, async () => {
    const tasks = await port.listTasks({ serviceId: svc.id });
    return tasks.some((t) => t.state === 'rejected') && !tasks.some((t) => t.desiredState === 'running' || t.desiredState === 'ready');
  }, { timeoutMs: 60_000, intervalMs: 500 });
  return name;
}

function controller(port: DockerPort, metrics: Metrics): Controller {
  return new Controller({
    port,
    logger: pino({ level: 'silent' }),
    metrics,
    leaderOnly: false,
    settleTimeoutMs: 60_000,
    // Three hours ahead of the engine: every failure the engine shows is three hours old to this warden.
    clock: { now: () => Date.now() + THREE_HOURS },
  });
}

describe('a service swarm gave up on, long ago', () => {
  it('is restarted by ordering once its image is there, though its last failure reads three hours old', async () => {
    const manager = await runningManager(lab);
    const port = createDockerPort({ host: manager.host, requestTimeoutMs: 10_000 });
    const dep = await createService(lab, uniqueName('dep'));
    created.push(dep);
    const dead = await createDead(port);
    // The image arrives (as a registry that came back late would bring it): swarm alone does nothing.
    for (const n of lab.nodes) await lab.docker(n, ['tag', 'busybox:lab', IMAGE]);
    const running = async (): Promise<number> => (await port.listServices()).find((s) => s.name === dead)?.status?.runningTasks ?? -1;
    expect(await running()).toBe(0);

    const metrics = new Metrics({ processMetrics: false });
    const c = controller(port, metrics);
    c.setDesired(await loadDesiredStateText(yaml([`{ name: ${dep} }`, `{ name: ${dead}, dependsOn: [${dep}] }`]), 'stuck.yml'));
    const ac = new AbortController();
    const done = c.start(ac.signal);
    try {
      await waitUntil(`${dead} to run again`, async () => (await running()) === 1, { timeoutMs: 120_000, intervalMs: 500 });
    } finally {
      ac.abort();
      await done;
    }
    const restarts = (await metrics.corrections.get()).values.find((v) => v.labels.reconciler === 'ordering' && v.labels.action === 'force-restart')?.value;
    expect(restarts).toBe(1);
    expect((await port.inspectService(dead)).forceUpdate).toBe(1);
  }, 240_000);

  it('outside any restart order, is in sync (no pass can change it) and degraded with the engine\'s reason', async () => {
    const manager = await runningManager(lab);
    const port = createDockerPort({ host: manager.host, requestTimeoutMs: 10_000 });
    const dead = await createDead(port);
    const metrics = new Metrics({ processMetrics: false });
    const c = controller(port, metrics);
    c.setDesired(await loadDesiredStateText(yaml([`{ name: ${dead} }`]), 'stuck-alone.yml'));
    const result = await c.pass(['test']);
    expect(result.results.flatMap((r) => r.drift)).toEqual([]);
    expect(result.results.flatMap((r) => r.actions)).toEqual([]);
    expect(result.health).toEqual([expect.objectContaining({ service: dead, health: 'degraded', running: 0, desired: 1, reason: expect.stringMatching(/^No such image: busybox:stuck-/) })]);
    expect((await metrics.driftObjects.get()).values.find((v) => v.labels.reconciler === 'replicas')?.value).toBe(0);
    expect((await metrics.serviceHealth.get()).values.find((v) => v.labels.service === dead && v.labels.health === 'degraded')?.value).toBe(1);
    // Nothing changed it.
    expect((await portFor(manager).inspectService(dead)).forceUpdate).toBe(0);
  }, 120_000);
});
