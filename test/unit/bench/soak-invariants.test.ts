// The soak's invariants over hand-made timelines: each check passes on a clean one and names the
// violation on one that breaks it, so that a soak that reports "ok" could have said otherwise.
import { describe, expect, it } from 'vitest';
import {
  checkCorrectionBackoff, checkLeaderNotDemoted, checkQuorum, checkRestartBackoff, checkWritesFromLeader, incrementsOf, replayFlap,
} from '../../../bench/soak/invariants.js';
import type { DownInterval, LogLine, NodeView, Sample, ServiceView } from '../../../bench/soak/timeline.js';

const S = 1_000;
const MIN = 60 * S;

function node(hostname: string, leader: string | undefined, reach: Record<string, string> = {}): NodeView {
  const manager = hostname.startsWith('manager-');
  return {
    id: `id-${hostname}`, hostname, role: manager ? 'manager' : 'worker', state: 'ready', availability: 'active', labels: {},
    ...(manager ? { reachability: reach[hostname] ?? 'reachable' } : {}), leader: hostname === leader,
  };
}

function sample(at: number, leader: string | undefined, opts: { reach?: Record<string, string>; force?: Record<string, number> } = {}): Sample {
  if (!leader) return { at, nodes: [], services: [], errors: { 'manager-1': 'no-quorum' } };
  const services: ServiceView[] = Object.entries(opts.force ?? {}).map(([name, f]) => ({ name, replicas: 1, running: 1, desired: 1, forceUpdate: f }));
  return {
    at, via: leader, leader, errors: {}, services,
    nodes: ['manager-1', 'manager-2', 'manager-3', 'worker-1'].map((h) => node(h, leader, opts.reach)),
  };
}

function every(from: number, to: number, step: number, f: (at: number) => Sample): Sample[] {
  const out: Sample[] = [];
  for (let at = from; at <= to; at += step) out.push(f(at));
  return out;
}

function write(at: number, instance: string, nodeName: string, fields: Record<string, unknown>, msg = 'corrected drift'): LogLine {
  return { at, instance, node: nodeName, line: { msg, revision: 'r1', ...fields } };
}

describe('checkQuorum', () => {
  it('accepts an election of a few seconds while the soak has one manager down', () => {
    const samples = [
      ...every(0, 10 * S, 400, (at) => sample(at, 'manager-1')),
      ...every(10_400, 25 * S, 400, (at) => sample(at, undefined)),
      ...every(25_400, 40 * S, 400, (at) => sample(at, 'manager-2', { reach: { 'manager-1': 'unreachable' } })),
    ];
    const down: DownInterval[] = [{ node: 'manager-1', from: 10 * S, to: 50 * S, manager: true }];
    const r = checkQuorum({ samples, down, logs: [] }, 40 * S);
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(1);
  });

  it('flags a minute without a leader with one manager down, naming warden\'s role changes before it', () => {
    const samples = [
      ...every(0, 10 * S, 400, (at) => sample(at, 'manager-1')),
      ...every(10_400, 80 * S, 400, (at) => sample(at, undefined)),
      ...every(80_400, 90 * S, 400, (at) => sample(at, 'manager-2')),
    ];
    const down: DownInterval[] = [{ node: 'manager-3', from: 0, manager: true }];
    const logs = [write(9 * S, 'manager-1#1', 'manager-1', { reconciler: 'managers', action: 'demote-node', object: 'manager-2' })];
    const r = checkQuorum({ samples, down, logs }, 90 * S);
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.message).toMatch(/no manager showed a leader for 70\.\d s while the soak had 1 manager\(s\) down; .*demote-node manager-2 by manager-1#1/);
  });

  it('flags reachable managers below a majority for longer than a member takes to join', () => {
    const short = { 'manager-2': 'unreachable', 'manager-3': 'unreachable' };
    const samples = every(0, 60 * S, 400, (at) => sample(at, 'manager-1', { reach: at > 5 * S ? short : {} }));
    expect(checkQuorum({ samples, down: [], logs: [] }, 60 * S).ok).toBe(false);
    // The soak itself stopped both: not warden's doing (the soak never does, by design; the check says so).
    const down: DownInterval[] = ['manager-2', 'manager-3'].map((n) => ({ node: n, from: 0, manager: true }));
    expect(checkQuorum({ samples, down, logs: [] }, 60 * S).ok).toBe(true);
  });
});

describe('checkLeaderNotDemoted', () => {
  it('flags a demotion of the node that led, not of another', () => {
    const samples = every(0, 20 * S, 400, (at) => sample(at, 'manager-1'));
    const ok = [write(10 * S, 'manager-1#1', 'manager-1', { action: 'demote-node', object: 'manager-3' })];
    expect(checkLeaderNotDemoted({ samples, logs: ok }).ok).toBe(true);
    const bad = [write(10 * S, 'manager-1#1', 'manager-1', { action: 'demote-node', object: 'manager-1' })];
    const r = checkLeaderNotDemoted({ samples, logs: bad });
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.message).toBe('manager-1#1@manager-1 demoted manager-1, which led then');
  });
});

describe('checkWritesFromLeader', () => {
  const samples = [...every(0, 30 * S, 400, (at) => sample(at, 'manager-1')), ...every(30_400, 90 * S, 400, (at) => sample(at, 'manager-2'))];

  it('accepts writes from the leader\'s instance, and a failed write sent before leadership moved', () => {
    const logs = [
      write(10 * S, 'manager-1#1', 'manager-1', { action: 'scale-service', object: 'a' }),
      write(60 * S, 'manager-2#1', 'manager-2', { action: 'scale-service', object: 'a' }),
      // Failed 20 s after the send: the request may have left while manager-1 still led.
      write(50 * S, 'manager-1#1', 'manager-1', { action: 'scale-service', object: 'a' }, 'action failed; the next pass tries again'),
    ];
    const r = checkWritesFromLeader({ samples, logs });
    expect(r.violations).toEqual([]);
    expect(r.checked).toBe(3);
  });

  it('flags a write by an instance whose node did not lead', () => {
    const logs = [write(60 * S, 'manager-1#1', 'manager-1', { action: 'force-restart', object: 'a' })];
    const r = checkWritesFromLeader({ samples, logs });
    expect(r.violations[0]!.message).toBe('manager-1#1@manager-1 wrote force-restart a while the samples show manager-2 leading');
  });

  it('uses the instance\'s own logged check when there is one', () => {
    const self = { node: 'id-manager-2', hostname: 'manager-2', leader: true, at: new Date(59 * S).toISOString() };
    expect(checkWritesFromLeader({ samples, logs: [write(60 * S, 'manager-2#1', 'manager-2', { action: 'scale-service', object: 'a', leaderCheck: self })] }).ok).toBe(true);
    // The check found another leader, yet the write went out.
    const other = { node: 'id-manager-1', hostname: 'manager-1', leader: true, at: new Date(59 * S).toISOString() };
    const r = checkWritesFromLeader({ samples, logs: [write(60 * S, 'manager-2#1', 'manager-2', { action: 'scale-service', object: 'a', leaderCheck: other })] });
    expect(r.violations[0]!.message).toMatch(/after its check read manager-1 leading/);
    // The check said "me", the engine around the check said someone else.
    const stale = { ...self, at: new Date(10 * S).toISOString() };
    expect(checkWritesFromLeader({ samples, logs: [write(60 * S, 'manager-2#1', 'manager-2', { action: 'scale-service', object: 'a', leaderCheck: stale })] }).ok).toBe(false);
  });

  it('counts a write with no sample in its window as unverified, not as a violation', () => {
    const r = checkWritesFromLeader({ samples, logs: [write(200 * S, 'manager-2#1', 'manager-2', { action: 'scale-service', object: 'a' })] });
    expect(r.ok).toBe(true);
    expect(r.detail).toMatch(/1 with no sample in their window/);
  });
});

describe('restart and correction backoff', () => {
  it('replays the flapping rule: three in ten minutes hold the object five minutes, then ten', () => {
    expect(replayFlap([0, 1 * MIN, 2 * MIN, 7.1 * MIN, 7.2 * MIN, 7.3 * MIN, 17.4 * MIN])).toEqual({ violations: [], holds: 2 });
    expect(replayFlap([0, 1 * MIN, 2 * MIN, 4 * MIN]).violations).toEqual([{ at: 4 * MIN, heldUntil: 7 * MIN }]);
    // The second hold is twice as long.
    expect(replayFlap([0, 1 * MIN, 2 * MIN, 7.1 * MIN, 7.2 * MIN, 7.3 * MIN, 13 * MIN]).violations).toEqual([{ at: 13 * MIN, heldUntil: 17.3 * MIN }]);
  });

  it('counts forced restarts from the engine and matches them to warden\'s lines', () => {
    const samples = [sample(0, 'manager-1', { force: { a: 0 } }), sample(10 * S, 'manager-1', { force: { a: 2 } }), sample(20 * S, 'manager-1', { force: { a: 2 } })];
    expect(incrementsOf(samples)).toEqual([{ at: 10 * S, service: 'a', to: 1 }, { at: 10 * S, service: 'a', to: 2 }]);
    const one = [write(9 * S, 'manager-1#1', 'manager-1', { reconciler: 'ordering', action: 'force-restart', object: 'a' })];
    const r = checkRestartBackoff({ samples, logs: one });
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.message).toBe('a was restarted (ForceUpdate 1 -> 2) with no warden line asking for it');
    const two = [...one, write(9.5 * S, 'manager-1#1', 'manager-1', { reconciler: 'rebalance', action: 'force-restart', object: 'a' })];
    expect(checkRestartBackoff({ samples, logs: two }).ok).toBe(true);
  });

  it('flags a fourth restart by one instance within the hold, not one by a new instance or under a new revision', () => {
    const times = [0, 1 * MIN, 2 * MIN, 3 * MIN];
    const samples = [sample(-S, 'manager-1', { force: { a: 0 } }), ...times.map((t, i) => sample(t + S, 'manager-1', { force: { a: i + 1 } }))];
    const restart = (at: number, instance: string, revision = 'r1'): LogLine =>
      write(at, instance, 'manager-1', { reconciler: 'ordering', action: 'force-restart', object: 'a', revision });
    expect(checkRestartBackoff({ samples, logs: times.map((t) => restart(t, 'manager-1#1')) }).violations[0]!.message)
      .toMatch(/^manager-1#1 r1 ordering\/a: restarted while its flapping hold ran for another 240 s$/);
    const restarted = [...times.slice(0, 3).map((t) => restart(t, 'manager-1#1')), restart(3 * MIN, 'manager-1#2')];
    expect(checkRestartBackoff({ samples, logs: restarted }).ok).toBe(true);
    const revised = [...times.slice(0, 3).map((t) => restart(t, 'manager-1#1')), restart(3 * MIN, 'manager-1#1', 'r2')];
    expect(checkRestartBackoff({ samples, logs: revised }).ok).toBe(true);
  });

  it('checks every logged correction against the same rule', () => {
    const scale = (at: number): LogLine => write(at, 'manager-1#1', 'manager-1', { reconciler: 'replicas', action: 'scale-service', object: 'a' });
    expect(checkCorrectionBackoff({ logs: [0, 10 * S, 20 * S, 6 * MIN].map(scale) })).toMatchObject({ ok: true, checked: 4 });
    expect(checkCorrectionBackoff({ logs: [0, 10 * S, 20 * S, 30 * S].map(scale) }).ok).toBe(false);
  });
});

describe('Timeline.around', () => {
  it('shows the soak\'s steps, warden\'s writes and the samples where something changed, in order', async () => {
    const { Timeline } = await import('../../../bench/soak/timeline.js');
    const t = new Timeline(0);
    t.samples.push(sample(1 * S, 'manager-1'), sample(1.4 * S, 'manager-1'), sample(5 * S, undefined), sample(9 * S, 'manager-2'));
    t.events.push({ at: 2 * S, fault: 3, text: 'manager-1\'s dockerd stopped' });
    t.logs.push(write(3 * S, 'manager-1#1', 'manager-1', { action: 'scale-service', object: 'a', reconciler: 'replicas' }));
    t.logs.push({ at: 3.5 * S, instance: 'manager-1#1', node: 'manager-1', line: { msg: 'pass done', level: 'debug' } });
    const text = t.around(0, 10 * S);
    const lines = text.split('\n').map((l) => l.trim());
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^\+00:01\.0 engine {2}via manager-1 leader manager-1 \| manager-1\*:M\/reach:ready/);
    expect(lines[1]).toBe('+00:02.0 soak    #3 manager-1\'s dockerd stopped');
    expect(lines[2]).toBe('+00:03.0 warden  manager-1#1@manager-1 corrected drift reconciler=replicas object=a action=scale-service revision=r1');
    expect(lines[3]).toBe('+00:05.0 engine  no manager answered (manager-1: no-quorum)');
    expect(lines[4]).toMatch(/^\+00:09\.0 engine {2}via manager-2 leader manager-2/);
  });
});

describe('checkNeedlessRestarts (a finding)', () => {
  const want = (): number => 1;
  const withRunning = (at: number, running: number): Sample => {
    const s = sample(at, 'manager-1', { force: { db: 0 } });
    s.services[0]!.running = running;
    return s;
  };
  const restart = (at: number): LogLine => write(at, 'manager-1#1', 'manager-1', { reconciler: 'ordering', action: 'force-restart', object: 'db' });

  it('flags a forced restart by ordering of a service that ran what the desired state wants', async () => {
    const { checkNeedlessRestarts } = await import('../../../bench/soak/invariants.js');
    const samples = every(0, 10 * S, 400, (at) => withRunning(at, 1));
    const r = checkNeedlessRestarts({ samples, logs: [restart(10 * S)] }, want);
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.message).toMatch(/force-restarted db although it ran 1 or more tasks of the 1 the desired state wants/);
  });

  it('accepts one of a service that ran fewer, and restarts by rebalance', async () => {
    const { checkNeedlessRestarts } = await import('../../../bench/soak/invariants.js');
    const samples = every(0, 10 * S, 400, (at) => withRunning(at, at > 7 * S ? 0 : 1));
    expect(checkNeedlessRestarts({ samples, logs: [restart(10 * S)] }, want).ok).toBe(true);
    const full = every(0, 10 * S, 400, (at) => withRunning(at, 1));
    const rebalance = write(10 * S, 'manager-1#1', 'manager-1', { reconciler: 'rebalance', action: 'force-restart', object: 'db' });
    expect(checkNeedlessRestarts({ samples: full, logs: [rebalance] }, want)).toMatchObject({ ok: true, checked: 0 });
  });
});
