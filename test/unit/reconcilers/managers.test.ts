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

  describe('a promotion under way', () => {
    // w1 was promoted (spec manager, not a Raft member yet); m1 and m2 are the managers; m3 has been
    // unreachable for an hour (to be replaced: the one other role change warden wants here).
    function pendingPlan(over: Partial<SwarmNode>, opts: { seenAgo?: number; askedAgo?: number; labels?: Record<string, string> } = {}) {
      const nodes = [node('m1:L'), node('m2:m'), node('m3:u'), node('w1:p', opts.labels ?? {}, over), node('w2:w')];
      return managers.plan(
        desired({ managers: { count: 3, replaceUnreachableAfterMs: 5 * MIN } }),
        { info: {} as Observed['info'], nodes, services: [], tasks: [], at: NOW },
        planContext({
          now: NOW,
          unreachableSince: new Map([['id-m3', NOW - 60 * MIN]]),
          roleChangeSince: new Map(opts.seenAgo === undefined ? [] : [['id-w1', NOW - opts.seenAgo]]),
          lastApplied: (kind, object) => (opts.askedAgo !== undefined && kind === 'promote-node' && object === 'w1' ? { at: NOW - opts.askedAgo, count: 1 } : undefined),
        }),
      );
    }
    const w1 = (p: ReturnType<typeof pendingPlan>): string | undefined => p.drift.find((d) => d.object === 'w1')?.message;

    it.each([
      { name: 'a person\'s promotion of a node that is down, seen a minute ago: waits (it may be rebooting), nothing else changes', over: { state: 'down' as const }, seenAgo: MIN,
        message: 'promotion in progress (node down, seen 1m ago); no other role change until it is done, or for 2m more', requeue: 2 * MIN },
      { name: 'seen for the first time: the grace starts now', over: { state: 'down' as const },
        message: 'promotion in progress (node down, seen 0s ago); no other role change until it is done, or for 3m more', requeue: 3 * MIN },
      { name: 'warden\'s own, asked 30 s ago, not yet a member', over: {}, askedAgo: 30_000,
        message: 'promotion in progress (node ready, not yet a Raft member, asked by warden 30s ago); no other role change until it is done, or for 2m30s more', requeue: 150_000 },
    ])('$name', ({ over, seenAgo, askedAgo, message, requeue }) => {
      const p = pendingPlan(over, { ...(seenAgo !== undefined ? { seenAgo } : {}), ...(askedAgo !== undefined ? { askedAgo } : {}) });
      expect(p.actions).toEqual([]);
      expect(p.drift).toEqual([{ object: 'w1', message }]);
      expect(p.requeueAfterMs).toBe(requeue);
    });

    // Past the deadline warden never asks the engine to set the role back: it refuses to demote a node
    // that is not a Raft member ("can't find manager in raft memberlist", 404, seen on the lab). It says
    // what a person must do, and goes on with the other role changes (here: replacing the dead m3).
    it.each([
      { name: 'down on Docker 20.10: the crash loop of moby/moby#47854 is named, with its remedy', over: { state: 'down' as const, engineVersion: '20.10.24+dfsg1' },
        message: /^promotion not done \(node down, 3m after it began; engine 20\.10\.24\+dfsg1, before 26\.1\.4, .*moby\/moby#47854\): restart its engine, and if its swarm stays in error, make it leave .*; warden goes on with other role changes meanwhile$/ },
      { name: 'down on an engine of unknown version: taken as affected', over: { state: 'down' as const },
        message: /^promotion not done \(node down, 3m after it began; engine of unknown version, before 26\.1\.4/ },
      { name: 'down on Docker 26.1.5: just a node that is down, its promotion finishes when it is back', over: { state: 'down' as const, engineVersion: '26.1.5+dfsg1' },
        message: /^promotion not done \(node down, 3m after it began\): its promotion finishes when it is back; if it will not come back, `docker node rm --force w1`; warden goes on with other role changes meanwhile$/ },
      { name: 'ready but never a member, whatever the engine', over: { engineVersion: '20.10.24' },
        message: /^promotion not done \(node ready, not yet a Raft member, 3m after it began\): restart its engine; the engine will not set its role back/ },
    ])('$name', ({ over, message }) => {
      const p = pendingPlan(over, { seenAgo: 3 * MIN });
      expect(w1(p)).toMatch(message);
      expect(actions(p)).toEqual(['promote-node w2']);
    });

    it('counts warden\'s own promotion from when warden asked, not from when it first saw it pending', () => {
      expect(w1(pendingPlan({ state: 'down' }, { askedAgo: 4 * MIN, seenAgo: MIN }))).toMatch(/^promotion not done \(node down, 4m after it began/);
    });

    it('reports a node with the ignore label under swarm, and never touches it', () => {
      const ignore = { 'warden.ignore': 'true' };
      const early = pendingPlan({ state: 'down' }, { seenAgo: MIN, labels: ignore });
      expect(early.actions).toEqual([]);
      expect(early.drift).toEqual([{ object: 'swarm', message: 'w1 (ignore label): promotion in progress (node down, seen 1m ago); no other role change until it is done, or for 2m more' }]);
      const late = pendingPlan({ state: 'down', engineVersion: '28.5.2' }, { seenAgo: 60 * MIN, labels: ignore });
      expect(actions(late)).toEqual(['promote-node w2']);
      expect(late.drift).toContainEqual({ object: 'swarm', message: expect.stringMatching(/^w1 \(ignore label\): promotion not done \(node down, 60m after it began\)/) });
    });
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
