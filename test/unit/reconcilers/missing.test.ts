// A service named in `services` but missing from the cluster is drift once, whatever keys its entry has.
import { describe, expect, it } from 'vitest';
import { RECONCILERS } from '../../../src/reconcilers/index.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import type { DesiredService } from '../../../src/desired-state/types.js';
import { desired, planContext } from '../../support/desired.js';

const observed: Observed = {
  info: { nodeId: 'm1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 1, nodes: 0 },
  nodes: [], services: [], tasks: [], at: 0,
};

describe('a missing service', () => {
  it.each<{ name: string; entry: Omit<DesiredService, 'name' | 'origin'> }>([
    { name: 'replicas only', entry: { replicas: 2 } },
    { name: 'placement only', entry: { placement: { constraints: ['node.role == worker'] } } },
    { name: 'rebalance only', entry: { rebalance: true } },
    { name: 'dependsOn only', entry: { dependsOn: ['db'] } },
    { name: 'every key', entry: { replicas: 2, placement: { maxReplicasPerNode: 1 }, rebalance: true, dependsOn: ['db'] } },
    { name: 'a name alone', entry: {} },
  ])('is reported once, by replicas: $name', ({ entry }) => {
    const d = desired({ services: [{ name: 'gone', origin: 'services', ...entry }], policy: { rebalance: true } });
    // The service reconcilers of this file's concern; others (ordering) may say more about dependencies.
    const drift = RECONCILERS.filter((r) => ['replicas', 'placement', 'rebalance'].includes(r.id)).flatMap((r) => r.plan(d, observed, planContext()).drift.map((x) => ({ reconciler: r.id, ...x })));
    expect(drift).toEqual([{ reconciler: 'replicas', object: 'gone', message: 'service is missing from the cluster (warden does not create services)' }]);
  });
});
