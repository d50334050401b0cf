import { describe, expect, it } from 'vitest';
import { placement } from '../../../src/reconcilers/placement.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import type { DesiredPlacement } from '../../../src/desired-state/types.js';
import type { SwarmService } from '../../../src/docker/port.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeService } from '../../support/fake-port.js';

function observed(services: SwarmService[]): Observed {
  return {
    info: { nodeId: 'm1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 1, nodes: 1 },
    nodes: [], services, tasks: [], at: 0,
  };
}

const svc = (over: Partial<SwarmService> = {}): SwarmService => fakeService('api', 2, over);

describe('placement.plan', () => {
  it.each<{ name: string; want: DesiredPlacement | undefined; have: SwarmService[]; drift: string[]; actions: string[] }>([
    { name: 'in sync', want: { constraints: ['node.labels.a == b'], preferences: ['node.labels.zone'], maxReplicasPerNode: 2 },
      have: [svc({ constraints: ['node.labels.a==b'], preferences: ['node.labels.zone'], maxReplicasPerNode: 2 })], drift: [], actions: [] },
    { name: 'constraints are a set, whitespace-insensitive', want: { constraints: ['node.role == worker', 'node.labels.a == b'] },
      have: [svc({ constraints: ['node.labels.a==b', 'node.role==worker'] })], drift: [], actions: [] },
    { name: 'a constraint added by hand is removed', want: { constraints: ['node.labels.a == b'] },
      have: [svc({ constraints: ['node.labels.a==b', 'node.role==manager'] })],
      drift: ['api: constraints ["node.labels.a==b","node.role==manager"] (wants ["node.labels.a == b"])'],
      actions: ['update-placement api {"constraints":["node.labels.a == b"]}'] },
    { name: 'an empty list is a wish: no constraints', want: { constraints: [] }, have: [svc({ constraints: ['node.role==worker'] })],
      drift: ['api: constraints ["node.role==worker"] (wants [])'], actions: ['update-placement api {"constraints":[]}'] },
    { name: 'preferences are ordered', want: { preferences: ['node.labels.zone', 'node.labels.rack'] },
      have: [svc({ preferences: ['node.labels.rack', 'node.labels.zone'] })],
      drift: ['api: preferences ["node.labels.rack","node.labels.zone"] (wants ["node.labels.zone","node.labels.rack"])'],
      actions: ['update-placement api {"preferences":["node.labels.zone","node.labels.rack"]}'] },
    { name: 'max replicas per node, 0 is no limit', want: { maxReplicasPerNode: 0 }, have: [svc({ maxReplicasPerNode: 1 })],
      drift: ['api: maxReplicasPerNode 1 (wants 0)'], actions: ['update-placement api {"maxReplicasPerNode":0}'] },
    { name: 'only the fields that differ are sent', want: { constraints: ['node.labels.a==b'], maxReplicasPerNode: 3 },
      have: [svc({ constraints: ['node.labels.a == b'], maxReplicasPerNode: 1 })],
      drift: ['api: maxReplicasPerNode 1 (wants 3)'], actions: ['update-placement api {"maxReplicasPerNode":3}'] },
    { name: 'fields absent from the file are left alone', want: {}, have: [svc({ constraints: ['node.role==worker'], maxReplicasPerNode: 4 })], drift: [], actions: [] },
    { name: 'no placement key: not this reconciler\'s business', want: undefined, have: [svc({ constraints: ['node.role==worker'] })], drift: [], actions: [] },
    { name: 'a missing service is the replicas reconciler\'s to report', want: { constraints: [] }, have: [], drift: [], actions: [] },
    { name: 'global services are placed too', want: { constraints: ['node.role == worker'] },
      have: [svc({ mode: 'global', replicas: undefined })],
      drift: ['api: constraints [] (wants ["node.role == worker"])'], actions: ['update-placement api {"constraints":["node.role == worker"]}'] },
    { name: 'a cap on a global service is reported, never sent', want: { constraints: [], maxReplicasPerNode: 1 },
      have: [svc({ mode: 'global', replicas: undefined })],
      drift: ['api: maxReplicasPerNode 1 does not apply to a global service'], actions: [] },
    { name: 'a job is reported, never updated', want: { constraints: ['node.role == worker'] },
      have: [svc({ mode: 'replicated-job', replicas: undefined })],
      drift: ['api: constraints [] (wants ["node.role == worker"]); the service is a replicated-job, and warden never updates a job (every update runs it again)'], actions: [] },
    { name: 'ignored service: no drift, an ignored action', want: { maxReplicasPerNode: 1 }, have: [svc({ labels: { 'warden.ignore': 'true' } })],
      drift: [], actions: ['update-placement api {"maxReplicasPerNode":1} ignored'] },
  ])('$name', ({ want, have, drift, actions }) => {
    const d = desired({ services: [{ name: 'api', origin: 'services', ...(want ? { placement: want } : {}) }] });
    const plan = placement.plan(d, observed(have), planContext());
    expect(plan.drift.map((x) => `${x.object}: ${x.message}`)).toEqual(drift);
    expect(plan.actions.map((a) => `${a.kind} ${a.object} ${a.kind === 'update-placement' ? JSON.stringify(a.placement) : ''}${a.ignored ? ' ignored' : ''}`)).toEqual(actions);
    for (const a of plan.actions) expect(a.disruptive).toBe(false);
  });

  it('does nothing when the services section is absent', () => {
    expect(placement.plan(desired(), observed([svc({ constraints: ['x==y'] })]), planContext())).toEqual({ drift: [], actions: [] });
  });
});
