// The placement reconciler on the lab swarm: a constraint added by hand with `docker service update
// --constraint-add` is reverted, and warden's write changes no other field of the spec it read (Platforms
// included); a pass over a service in sync makes no write call.
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { DockerPort, ServiceSpec } from '../../src/docker/port.js';
import { counting } from '../support/counting-port.js';
import { createService, leaderNode, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const created: string[] = [];
const stops: AbortController[] = [];

beforeAll(() => restoreLab(lab));

afterEach(async () => {
  for (const ac of stops.splice(0)) ac.abort();
  await removeServices(lab, ...created.splice(0));
});

afterAll(() => restoreLab(lab));


// withoutPlacement drops TaskTemplate.Placement, to compare everything else of two specs.
function withoutPlacement(spec: ServiceSpec): ServiceSpec {
  const copy = structuredClone(spec);
  if (copy.TaskTemplate) delete copy.TaskTemplate.Placement;
  return copy;
}

describe('placement on the lab swarm', () => {
  it('reverts a constraint added by hand and changes no other field of the spec', async () => {
    const name = await createService(lab, uniqueName('pl-api'), [
      '--replicas', '2', '--constraint', 'node.role==worker', '--placement-pref', 'spread=node.labels.zone',
      '--replicas-max-per-node', '2', '--env', 'A=1', '--label', 'team=ops', '--container-label', 'c=1',
      '--stop-grace-period', '1s', '--update-delay', '2s', '--restart-max-attempts', '3',
    ]);
    created.push(name);
    const leader = await leaderNode(lab);
    const real = createDockerPort({ host: leader.host, requestTimeoutMs: 10_000 });
    // Platforms is set by the CLI only when it can ask a registry; set it here so that the test shows it kept.
    const made = await real.inspectService(name);
    const platforms = [{ Architecture: 'amd64', OS: 'linux' }];
    await real.updateService(made.id, made.version, {
      ...structuredClone(made.spec),
      TaskTemplate: { ...made.spec.TaskTemplate, Placement: { ...made.spec.TaskTemplate?.Placement, Platforms: platforms } },
    });

    // Record what warden sends against what the engine held at the version it sent.
    const sent: Array<{ held: ServiceSpec; sent: ServiceSpec }> = [];
    const base = counting(real);
    const port: DockerPort = {
      ...base,
      async updateService(id, version, spec) {
        // Recorded only once the engine took it: a write that meets a version conflict (the engine's
        // own update status bumps the version between this read and the write) is not a correction.
        const held = await real.inspectService(id);
        await base.updateService(id, version, spec);
        if (held.version === version) sent.push({ held: held.spec, sent: structuredClone(spec) });
      },
    };
    const metrics = new Metrics({ processMetrics: false });
    const controller = new Controller({ port, logger: pino({ level: 'silent' }), metrics });
    const yaml = [
      'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:', '  services:',
      `    - name: ${name}`,
      '      placement:',
      // Written with spaces, as operators do: the engine holds node.role==worker, which is the same constraint.
      '        constraints: ["node.role == worker"]',
      '        preferences: [node.labels.zone]',
      '        maxReplicasPerNode: 2',
    ].join('\n');
    controller.setDesired(await loadDesiredStateText(yaml, 'placement.yml'));
    const ac = new AbortController();
    stops.push(ac);
    const done = controller.start(ac.signal);

    await waitUntil('a first pass', () => controller.status().lastPass !== undefined, { timeoutMs: 60_000 });
    expect(controller.status().drift.placement).toEqual([]);
    expect(base.writes()).toBe(0);

    const before = await real.inspectService(name);
    expect(before.spec.TaskTemplate?.Placement?.Platforms).toEqual(platforms);
    await lab.docker(leader, ['service', 'update', '--detach', '--constraint-add', 'node.hostname!=worker-1', name]);
    await waitUntil('the added constraint to be reverted', async () => {
      const now = await real.inspectService(name);
      return now.version > before.version + 1 && now.constraints.length === 1 ? now : undefined;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    const after = await real.inspectService(name);

    expect(after.constraints).toEqual(['node.role == worker']);
    expect(after.preferences).toEqual(['node.labels.zone']);
    expect(after.maxReplicasPerNode).toBe(2);
    expect(after.spec.TaskTemplate?.Placement?.Platforms).toEqual(platforms);
    // warden corrected once: one write at the version the engine held (a write that met a version
    // conflict, because the engine's own update bumped the version meanwhile, is re-read and retried),
    // and what it sent is what the engine held, but for the constraints.
    expect(sent).toHaveLength(1);
    const write = sent[0]!;
    expect(withoutPlacement(write.sent)).toEqual(withoutPlacement(write.held));
    const { Constraints: sentConstraints, ...sentRest } = write.sent.TaskTemplate!.Placement!;
    const { Constraints: heldConstraints, ...heldRest } = write.held.TaskTemplate!.Placement!;
    expect(sentRest).toEqual(heldRest);
    expect(heldConstraints).toHaveLength(2);
    expect(sentConstraints).toEqual(['node.role == worker']);
    // End to end: beside Placement, the spec is what it was before the manual change.
    expect(withoutPlacement(after.spec)).toEqual(withoutPlacement(before.spec));
    const corrections = (await metrics.corrections.get()).values.find((v) => v.labels.reconciler === 'placement' && v.labels.action === 'update-placement');
    expect(corrections?.value).toBe(1);
    ac.abort();
    await done;
  });
});
