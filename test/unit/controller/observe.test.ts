// What the snapshot reads: tasks only as reconcilers ask, and one full list once many services are asked for;
// the services' task counts only when a reconciler in force reads them.
import { describe, expect, it } from 'vitest';
import { observe, PER_SERVICE_TASK_READS } from '../../../src/controller/observe.js';
import { RECONCILERS } from '../../../src/reconcilers/index.js';
import type { Reconciler } from '../../../src/reconcilers/types.js';
import { desired } from '../../support/desired.js';
import { FakePort, fakeNode, fakeService } from '../../support/fake-port.js';

function asking(need: { running?: boolean; services?: string[] }): Reconciler {
  return { id: 'x', actions: [], tasks: () => ({ ...(need.running ? { running: true } : {}), services: new Set(need.services ?? []) }), plan: () => ({ drift: [], actions: [] }) };
}

describe('observe', () => {
  const services = Array.from({ length: PER_SERVICE_TASK_READS + 2 }, (_, i) => fakeService(`s${i}`, 1));
  const port = (): FakePort => new FakePort(services, [fakeNode('m1', 'manager', true)], 'm1');

  it.each([
    ['no reconciler asks: no task call', [], []],
    ['the running tasks: one call', [asking({ running: true })], ['listTasks running']],
    ['two services: one call each', [asking({ services: ['id-s0', 'id-s1'] })], ['listTasks service=id-s0', 'listTasks service=id-s1']],
    ['more services than PER_SERVICE_TASK_READS: one full list', [asking({ services: services.map((s) => s.id) })], ['listTasks all']],
  ])('%s', async (_name, reconcilers, calls) => {
    const p = port();
    await observe(p, desired(), reconcilers as Reconciler[], () => 0);
    expect(p.calls.filter((c) => c.startsWith('listTasks')).sort()).toEqual(calls);
  });

  it.each([
    ['replicas and placement only: no task counts', {}, false],
    ['a dependsOn: ordering reads them', { services: [{ name: 's1', dependsOn: ['s0'] }] }, true],
    ['a registry: ordering reads them', { registry: { service: 's0', address: '127.0.0.1:5000', probe: 'http://127.0.0.1:5000/v2/' } }, true],
    ['a service with rebalance: true', { services: [{ name: 's1', rebalance: true }] }, true],
    ['policy.rebalance: true', { policy: { rebalance: true } }, true],
  ])('%s', async (_name, spec, counted) => {
    const counts = services.map((s) => ({ ...s, status: { runningTasks: 1, desiredTasks: 1 } }));
    const p = new FakePort(counts, [fakeNode('m1', 'manager', true)], 'm1');
    const observed = await observe(p, desired(spec as Parameters<typeof desired>[0]), RECONCILERS, () => 0);
    expect(p.calls.filter((c) => c.startsWith('listServices'))).toEqual([counted ? 'listServices status' : 'listServices']);
    expect(observed.services.every((s) => (s.status !== undefined) === counted)).toBe(true);
  });
});
