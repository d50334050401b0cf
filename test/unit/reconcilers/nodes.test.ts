import { describe, expect, it } from 'vitest';
import type { DesiredNode } from '../../../src/desired-state/types.js';
import type { SwarmNode, SwarmService, SwarmTask } from '../../../src/docker/port.js';
import { nodes } from '../../../src/reconcilers/nodes.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeNode, fakeService } from '../../support/fake-port.js';

function n(hostname: string, labels: Record<string, string> = {}, availability: SwarmNode['availability'] = 'active'): SwarmNode {
  const base = fakeNode(`id-${hostname}`, 'worker');
  return { ...base, hostname, labels, availability, spec: { ...base.spec, Labels: labels, Availability: availability } };
}

function plan(entries: DesiredNode[], have: SwarmNode[]) {
  const observed: Observed = { info: {} as Observed['info'], nodes: have, services: [], tasks: [], at: 0 };
  return nodes.plan(desired({ nodes: entries }), observed, planContext());
}

describe('nodes.plan', () => {
  it('does nothing without spec.nodes', () => {
    expect(nodes.plan(desired(), { info: {} as Observed['info'], nodes: [n('a')], services: [], tasks: [], at: 0 }, planContext())).toEqual({ drift: [], actions: [] });
  });

  it.each([
    ['in sync, other labels left alone', [{ match: { hostname: 'db-*' }, labels: { function: 'database' } }], [n('db-1', { function: 'database', other: 'x' })], []],
    ['adds a missing label', [{ match: { hostname: 'db-*' }, labels: { function: 'database' } }], [n('db-1'), n('app-1')], ['db-1 labels {"function":"database"}']],
    ['changes a wrong value', [{ match: { labels: { worker: 'app' } }, labels: { function: 'production' } }], [n('a', { worker: 'app', function: 'test' })], ['a labels {"function":"production"}']],
    ['later entries win', [{ match: { hostname: '*' }, labels: { tier: 'a' } }, { match: { hostname: 'x' }, labels: { tier: 'b' } }], [n('x', { tier: 'b' }), n('y', { tier: 'a' })], []],
    ['availability apart from labels', [{ match: { hostname: 'a' }, labels: { k: 'v' }, availability: 'drain' as const }], [n('a')], ['a labels {"k":"v"}', 'a availability drain']],
  ])('%s', (_name, entries, have, want) => {
    const p = plan(entries as DesiredNode[], have);
    expect(p.actions.map((a) => (a.kind === 'update-node' ? `${a.object} ${a.labels ? `labels ${JSON.stringify(a.labels)}` : `availability ${a.availability}`}` : ''))).toEqual(want);
  });

  it('drain and pause are disruptive, a return to active is not', () => {
    expect(plan([{ match: { hostname: 'a' }, availability: 'drain' }], [n('a')]).actions[0]?.disruptive).toBe(true);
    expect(plan([{ match: { hostname: 'a' }, availability: 'pause' }], [n('a')]).actions[0]?.disruptive).toBe(true);
    expect(plan([{ match: { hostname: 'a' }, availability: 'active' }], [n('a', {}, 'drain')]).actions[0]?.disruptive).toBe(false);
  });

  it('plans an ignored node as ignored and reports no drift for it', () => {
    const p = plan([{ match: { hostname: 'a' }, labels: { k: 'v' } }], [n('a', { 'warden.ignore': 'true' })]);
    expect(p.actions[0]?.ignored).toBe(true);
    expect(p.drift).toEqual([]);
  });

  it('reports a selector that matches no node', () => {
    const p = plan([{ match: { hostname: 'db-*', labels: { zone: 'a' } }, labels: { k: 'v' } }], [n('app-1')]);
    expect(p.drift).toEqual([{ object: 'nodes[0]', message: 'the selector (hostname db-*, label zone=a) matches no node' }]);
  });
});

describe('nodes.plan: blast radius', () => {
  // The lab's shape: three managers (m1 is where warden runs), two workers.
  function cluster(): SwarmNode[] {
    return [...['m1', 'm2', 'm3'].map((h): SwarmNode => ({ ...n(h), role: 'manager' })), n('w1'), n('w2')];
  }
  const drainAll: DesiredNode[] = [{ match: { hostname: '*' }, availability: 'drain' }];

  function blast(entries: DesiredNode[], have: SwarmNode[], services: SwarmService[] = [], tasks: SwarmTask[] = [], registry?: string) {
    const observed: Observed = {
      info: { nodeId: 'id-m1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 3, nodes: have.length },
      nodes: have, services, tasks, at: 0,
    };
    const state = desired({ nodes: entries, ...(registry ? { registry: { service: registry, address: '10.0.0.5:5000', probe: 'http://10.0.0.5:5000/v2/' } } : {}) });
    const plan = nodes.plan(state, observed, planContext());
    return {
      plan,
      drained: plan.actions.filter((a) => a.kind === 'update-node' && a.availability && !a.held).map((a) => a.object),
      held: Object.fromEntries(plan.actions.filter((a) => a.held).map((a) => [a.object, a.held])),
    };
  }

  it('drains every node a "*" selector matches but the one warden runs on, when no service needs them', () => {
    const { drained, held, plan } = blast(drainAll, cluster());
    expect(drained).toEqual(['m2', 'm3', 'w1', 'w2']);
    expect(held).toEqual({ m1: 'it is the node of the engine warden reads (where warden runs), and warden never takes its own node out of service' });
    expect(plan.drift).toContainEqual({ object: 'm1', message: 'availability active (wants drain); held: it is the node of the engine warden reads (where warden runs), and warden never takes its own node out of service' });
  });

  it('never drains or pauses the node that runs the registry', () => {
    const reg = fakeService('registry', 1);
    const task: SwarmTask = { id: 't1', serviceId: reg.id, nodeId: 'id-w2', slot: 1, desiredState: 'running', state: 'running', message: '', err: '', timestamp: '', image: 'registry:lab' };
    const { drained, held } = blast([{ match: { role: 'worker' }, availability: 'pause' }], cluster(), [reg], [task], 'registry');
    expect(drained).toEqual(['w1']);
    expect(held).toEqual({ w2: 'it runs the registry (registry), which every node pulls its images from' });
  });

  it('asks for the registry\'s tasks only when some entry may take a node out of service', () => {
    const reg = fakeService('registry', 1);
    const registry = { service: 'registry', address: '10.0.0.5:5000', probe: 'http://10.0.0.5:5000/v2/' };
    expect(nodes.tasks!(desired({ nodes: drainAll, registry }), [reg])).toEqual({ services: new Set(['id-registry']) });
    expect(nodes.tasks!(desired({ nodes: [{ match: { hostname: '*' }, labels: { a: 'b' } }], registry }), [reg])).toEqual({});
    expect(nodes.tasks!(desired({ nodes: drainAll }), [reg])).toEqual({});
  });

  it.each([
    { name: 'a service on the workers keeps the last of them', svc: fakeService('app', 2, { constraints: ['node.role == worker'] }),
      drained: ['m2', 'm3', 'w1'], held: { w2: 'services would be left without the nodes they need: app needs 1 node(s) its placement allows and would have 0' } },
    { name: 'two per node at most, 4 replicas: two managers kept', svc: fakeService('api', 4, { constraints: ['node.role == manager'], maxReplicasPerNode: 2 }),
      drained: ['m2', 'w1', 'w2'], held: { m3: 'services would be left without the nodes they need: api needs 2 node(s) its placement allows and would have 1' } },
    { name: 'a global service keeps one node', svc: { ...fakeService('agent', 0), mode: 'global' as const, replicas: undefined, constraints: ['node.role == worker'] },
      drained: ['m2', 'm3', 'w1'], held: { w2: 'services would be left without the nodes they need: agent needs 1 node(s) its placement allows and would have 0' } },
    { name: 'a service scaled to 0 needs no node', svc: fakeService('idle', 0, { constraints: ['node.role == worker'] }), drained: ['m2', 'm3', 'w1', 'w2'], held: {} },
    { name: 'a job needs no node', svc: { ...fakeService('batch', 1), mode: 'replicated-job' as const, constraints: ['node.role == worker'] }, drained: ['m2', 'm3', 'w1', 'w2'], held: {} },
  ])('$name', ({ svc, drained, held }) => {
    const got = blast(drainAll, cluster(), [svc]);
    expect(got.drained).toEqual(drained);
    const { m1: _self, ...others } = got.held;
    expect(others).toEqual(held);
  });

  it('counts nodes already drained, paused or down as gone', () => {
    const have = cluster().map((x) => (x.hostname === 'w1' ? { ...x, availability: 'pause' as const } : x));
    const svc = fakeService('app', 2, { constraints: ['node.role == worker'] });
    const { drained, held } = blast([{ match: { hostname: 'w2' }, availability: 'drain' }], have, [svc]);
    expect(drained).toEqual([]);
    expect(held).toEqual({ w2: 'services would be left without the nodes they need: app needs 1 node(s) its placement allows and would have 0' });
    // w1 paused: its drain is allowed (it takes no new tasks already).
    expect(blast([{ match: { hostname: 'w1' }, availability: 'drain' }], have, [svc]).drained).toEqual(['w1']);
  });

  it('a held drain is planned, not applied, and an ignored node is ignored first', () => {
    const { plan } = blast([{ match: { hostname: 'm1' }, availability: 'drain' }], cluster().map((x) => (x.hostname === 'm1' ? { ...x, labels: { 'warden.ignore': 'true' } } : x)));
    expect(plan.actions[0]).toMatchObject({ ignored: true, disruptive: true });
    expect(plan.actions[0]?.held).toBeUndefined();
    expect(plan.drift).toEqual([]);
  });

  it('a return to active is never held', () => {
    const have = cluster().map((x) => (x.hostname === 'm1' ? { ...x, availability: 'drain' as const } : x));
    const { plan } = blast([{ match: { hostname: 'm1' }, availability: 'active' }], have);
    expect(plan.actions.map((a) => [a.object, a.held])).toEqual([['m1', undefined]]);
  });
});
