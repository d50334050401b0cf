import { describe, expect, it } from 'vitest';
import type { DesiredManagers } from '../../../src/desired-state/types.js';
import type { SwarmNode } from '../../../src/docker/port.js';
import { managers } from '../../../src/reconcilers/managers.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import { desired, planContext } from '../../support/desired.js';

const NOW = Date.parse('2026-11-21T10:00:00Z');
const MIN = 60_000;

// A node as the engine lists it: m = reachable manager, L = leader, u = unreachable manager, w = worker,
// p = promotion in progress (spec manager, not yet a Raft member), d = demotion in progress.
function node(spec: string, labels: Record<string, string> = {}, over: Partial<SwarmNode> = {}): SwarmNode {
  const [hostname, kind] = spec.split(':') as [string, string];
  const role = kind === 'w' || kind === 'd' ? 'worker' : 'manager';
  const member = kind === 'm' || kind === 'L' || kind === 'u' || kind === 'd';
  return {
    id: `id-${hostname}`, version: 3, hostname, role, availability: 'active', state: kind === 'u' ? 'down' : 'ready', addr: '', labels,
    engineLabels: {}, platform: { os: 'linux', arch: 'x86_64' }, spec: { Role: role, Availability: 'active', Labels: labels },
    ...(member ? { manager: { leader: kind === 'L', reachability: kind === 'u' ? 'unreachable' as const : 'reachable' as const, addr: '' } } : {}),
    ...over,
  };
}

function plan(want: Partial<DesiredManagers>, nodes: SwarmNode[], unreachable: Record<string, number> = {}) {
  const observed: Observed = {
    info: { nodeId: 'id-m1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 0, nodes: nodes.length },
    nodes, services: [], tasks: [], at: NOW,
  };
  const unreachableSince = new Map(Object.entries(unreachable).map(([h, ago]) => [`id-${h}`, NOW - ago]));
  return managers.plan(
    desired({ managers: { count: 3, replaceUnreachableAfterMs: 5 * MIN, ...want } }),
    observed,
    planContext({ now: NOW, unreachableSince }),
  );
}

function actions(p: ReturnType<typeof plan>): string[] {
  return p.actions.map((a) => `${a.kind} ${a.object}`);
}

describe('managers.plan', () => {
  it('does nothing without spec.managers', () => {
    expect(managers.plan(desired(), { info: {} as Observed['info'], nodes: [node('w1:w')], services: [], tasks: [], at: 0 }, planContext()))
      .toEqual({ drift: [], actions: [] });
  });

  it.each([
    ['in sync at 3', 3, ['m1:L', 'm2:m', 'm3:m', 'w1:w'], []],
    ['1 -> 3 promotes one worker at a time, in a stable order', 3, ['m1:L', 'w2:w', 'w1:w', 'w3:w'], ['promote-node w1']],
    ['5 -> 3 demotes one manager at a time, never the leader', 3, ['m5:L', 'm1:m', 'm2:m', 'm3:m', 'm4:m'], ['demote-node m4']],
    ['3 -> 1 keeps the leader', 1, ['m1:m', 'm2:L', 'm3:m'], ['demote-node m3']],
    ['waits while a promotion is in progress', 3, ['m1:L', 'w1:p', 'w2:w'], []],
    ['waits while a demotion is in progress', 1, ['m1:L', 'm2:d', 'm3:m'], []],
  ])('%s', (_name, count, nodes, want) => {
    expect(actions(plan({ count }, nodes.map((n) => node(n))))).toEqual(want);
  });

  it('sets back a promotion that took the node down, or that never finished, and says what to do', () => {
    const down = plan({ count: 3 }, [node('m1:L'), node('m2:m'), node('w1:p', {}, { state: 'down' })]);
    expect(actions(down)).toEqual(['demote-node w1']);
    expect(down.actions[0]?.disruptive).toBe(false);
    expect(down.drift[0]?.message).toMatch(/^promotion failed \(node down\): its role is set back to worker; restart its engine/);
    const asked = NOW - 4 * MIN;
    const slow = managers.plan(
      desired({ managers: { count: 3, replaceUnreachableAfterMs: 5 * MIN } }),
      { info: {} as Observed['info'], nodes: [node('m1:L'), node('m2:m'), node('w1:p')], services: [], tasks: [], at: NOW },
      planContext({ now: NOW, lastApplied: (kind, object) => (kind === 'promote-node' && object === 'w1' ? { at: asked, count: 1 } : undefined) }),
    );
    expect(actions(slow)).toEqual(['demote-node w1']);
  });

  it('promotes only eligible, ready, active, not ignored workers', () => {
    const p = plan({ count: 3, eligible: { labels: { 'manager-eligible': 'true' } } }, [
      node('m1:L'),
      node('a:w'),
      node('b:w', { 'manager-eligible': 'true' }, { state: 'down' }),
      node('c:w', { 'manager-eligible': 'true' }, { availability: 'drain' }),
      node('d:w', { 'manager-eligible': 'true', 'warden.ignore': 'true' }),
      node('e:w', { 'manager-eligible': 'true' }),
    ]);
    expect(actions(p)).toEqual(['promote-node e']);
  });

  it('says so when no worker can be promoted', () => {
    const p = plan({ count: 3, eligible: { hostname: 'db-*' } }, [node('m1:L'), node('w1:w')]);
    expect(p.actions).toEqual([]);
    expect(p.drift).toEqual([{ object: 'swarm', message: '1 of 3 managers, and no ready, active worker matching (hostname db-*) to promote' }]);
  });

  it('prefers a spreadLabel value no reachable manager holds yet', () => {
    const p = plan({ count: 3, spreadLabel: 'zone' }, [
      node('m1:L', { zone: 'a' }),
      node('m2:m', { zone: 'b' }),
      node('w1:w', { zone: 'a' }),
      node('w2:w', { zone: 'b' }),
      node('w3:w', { zone: 'c' }),
    ]);
    expect(actions(p)).toEqual(['promote-node w3']);
  });

  it('demotes a manager that shares a failure domain before one that does not', () => {
    const p = plan({ count: 3, spreadLabel: 'zone' }, [
      node('m1:L', { zone: 'a' }), node('m2:m', { zone: 'b' }), node('m3:m', { zone: 'c' }), node('m4:m', { zone: 'a' }), node('m0:m', { zone: 'c' }),
    ]);
    expect(actions(p)).toEqual(['demote-node m4']);
  });

  it('counts an unreachable manager until replaceUnreachableAfter, then promotes a replacement first', () => {
    const nodes = [node('m1:L'), node('m2:m'), node('m3:u'), node('w1:w')];
    const early = plan({ count: 3 }, nodes, { m3: 4 * MIN });
    expect(early.actions).toEqual([]);
    expect(early.drift).toEqual([{ object: 'm3', message: 'manager unreachable for 4m (replaced after 5m)' }]);
    expect(actions(plan({ count: 3 }, nodes, { m3: 5 * MIN }))).toEqual(['promote-node w1']);
  });

  it('then demotes the dead manager, outside the window too: it restores fault tolerance', () => {
    const p = plan({ count: 3 }, [node('m1:L'), node('m2:m'), node('m3:u'), node('w1:m')], { m3: 6 * MIN });
    expect(actions(p)).toEqual(['demote-node m3']);
    expect(p.actions[0]?.disruptive).toBe(false);
  });

  it('never replaces with replaceUnreachableAfter: never', () => {
    const p = plan({ count: 3, replaceUnreachableAfterMs: null }, [node('m1:L'), node('m2:m'), node('m3:u'), node('w1:w')], { m3: 60 * MIN });
    expect(p.actions).toEqual([]);
  });

  it('demotes an unreachable extra before a live one, and a live demotion is disruptive', () => {
    expect(actions(plan({ count: 3 }, [node('m1:L'), node('m2:m'), node('m3:m'), node('m4:m'), node('m5:u')], { m5: MIN }))).toEqual(['demote-node m5']);
    expect(plan({ count: 3 }, [node('m1:L'), node('m2:m'), node('m3:m'), node('m4:m')]).actions[0]?.disruptive).toBe(true);
  });

  it('never demotes when Raft would refuse it or fault tolerance would drop', () => {
    // 5 members, 2 unreachable (not dead yet): demoting a live one leaves 2 of 4 reachable, no majority.
    const p = plan({ count: 3 }, [node('m1:L'), node('m2:m'), node('m3:m'), node('m4:u'), node('m5:u')], { m4: MIN, m5: MIN });
    expect(actions(p)).toEqual(['demote-node m5']);
    // 4 members, 1 unreachable, count 1: removing a live one leaves 2 of 3 reachable (allowed), but a
    // live member is never chosen over the unreachable one.
    expect(actions(plan({ count: 1 }, [node('m1:L'), node('m2:m'), node('m3:m'), node('m4:u')], { m4: MIN }))).toEqual(['demote-node m4']);
    // The unreachable ones are ignored: a live one would leave 2 of 4 reachable, so nothing is demoted.
    const ignore = { 'warden.ignore': 'true' };
    const held = plan({ count: 3 }, [node('m1:L'), node('m2:m'), node('m3:m'), node('m4:u', ignore), node('m5:u', ignore)], { m4: MIN, m5: MIN });
    expect(held.actions).toEqual([]);
    expect(held.drift).toContainEqual({ object: 'swarm', message: '5 managers (wants 3): demoting m2 would lose quorum (2 of 4 reachable)' });
  });

  it('changes nothing and says why when quorum is lost', () => {
    const p = plan({ count: 3 }, [node('m1:L'), node('m2:u'), node('m3:u'), node('w1:w')]);
    expect(p.actions).toEqual([]);
    expect(p.blocked).toMatchObject({ reason: 'quorum' });
    expect(p.blocked?.message).toContain('--force-new-cluster');
  });
});
