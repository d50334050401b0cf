import { describe, expect, it } from 'vitest';
import { replicas } from '../../../src/reconcilers/replicas.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import type { SwarmService } from '../../../src/docker/port.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeService } from '../../support/fake-port.js';

function observed(services: SwarmService[]): Observed {
  return {
    info: { nodeId: 'm1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 1, nodes: 1 },
    nodes: [], services, tasks: [], at: 0,
  };
}

const global = (name: string): SwarmService => ({ ...fakeService(name, 0), mode: 'global', replicas: undefined });

describe('replicas.plan', () => {
  it.each([
    { name: 'in sync', want: [{ name: 'api', replicas: 3 }], have: [fakeService('api', 3)], drift: [], actions: [] },
    { name: 'scaled down by hand', want: [{ name: 'api', replicas: 3 }], have: [fakeService('api', 1)],
      drift: ['api: replicas 1 (wants 3)'], actions: ['scale-service api 3'] },
    { name: 'scaled up by hand', want: [{ name: 'api', replicas: 2 }], have: [fakeService('api', 5)],
      drift: ['api: replicas 5 (wants 2)'], actions: ['scale-service api 2'] },
    { name: 'scaled to zero is a count like any other', want: [{ name: 'api', replicas: 0 }], have: [fakeService('api', 2)],
      drift: ['api: replicas 2 (wants 0)'], actions: ['scale-service api 0'] },
    { name: 'missing service: drift, no action', want: [{ name: 'gone', replicas: 1 }], have: [],
      drift: ['gone: service is missing from the cluster (warden does not create services)'], actions: [] },
    { name: 'missing service without a replicas key: still reported, once, here', want: [{ name: 'gone' }], have: [],
      drift: ['gone: service is missing from the cluster (warden does not create services)'], actions: [] },
    { name: 'global service given a count: reported, untouched', want: [{ name: 'agent', replicas: 2 }], have: [global('agent')],
      drift: ['agent: service is global: a replica count does not apply to it (wants 2)'], actions: [] },
    { name: 'no replicas key: not this reconciler\'s business', want: [{ name: 'api' }], have: [fakeService('api', 7)], drift: [], actions: [] },
    { name: 'services not in the desired state are left alone', want: [], have: [fakeService('other', 9)], drift: [], actions: [] },
    { name: 'ignored service: no drift, an ignored action', want: [{ name: 'auto', replicas: 2 }],
      have: [fakeService('auto', 6, { labels: { 'warden.ignore': 'true' } })], drift: [], actions: ['scale-service auto 2 ignored'] },
  ])('$name', ({ want, have, drift, actions }) => {
    const plan = replicas.plan(desired({ services: want.map((w) => ({ ...w, origin: 'services' })) }), observed(have), planContext());
    expect(plan.drift.map((d) => `${d.object}: ${d.message}`)).toEqual(drift);
    expect(plan.actions.map((a) => `${a.kind} ${a.object} ${a.kind === 'scale-service' ? a.replicas : ''}${a.ignored ? ' ignored' : ''}`)).toEqual(actions);
  });

  it('does nothing when the services section is absent', () => {
    expect(replicas.plan(desired(), observed([fakeService('api', 1)]), planContext())).toEqual({ drift: [], actions: [] });
  });

  it('honours a custom ignore label', () => {
    const d = desired({ services: [{ name: 'a', replicas: 1, origin: 'services' }], policy: { ignoreLabel: 'autoscale' } });
    const plan = replicas.plan(d, observed([fakeService('a', 4, { labels: { autoscale: 'TRUE' } })]), planContext());
    expect(plan.actions[0]?.ignored).toBe(true);
  });
});
