import { describe, expect, it } from 'vitest';
import type { DesiredNode } from '../../../src/desired-state/types.js';
import type { SwarmNode } from '../../../src/docker/port.js';
import { nodes } from '../../../src/reconcilers/nodes.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeNode } from '../../support/fake-port.js';

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
