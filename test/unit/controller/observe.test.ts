// What the snapshot reads: tasks only as reconcilers ask, and one full list once many services are asked for.
import { describe, expect, it } from 'vitest';
import { observe, PER_SERVICE_TASK_READS } from '../../../src/controller/observe.js';
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
});
