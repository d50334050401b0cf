// Which `held` and `blocked` conditions a pass shows, by source, for Notifier.present.
import { describe, expect, it } from 'vitest';
import { desiredStateInvalid, passConditions } from '../../../src/controller/notify-conditions.js';
import type { PassResult, ReconcilerResult } from '../../../src/controller/pass.js';
import type { DesiredState } from '../../../src/desired-state/types.js';
import type { Action } from '../../../src/reconcilers/types.js';

function pass(results: ReconcilerResult[], error?: string): PassResult {
  return { passId: 1, reasons: ['resync'], startedAt: '', durationMs: 0, leader: true, revision: 'r1', results, ...(error ? { error } : {}) };
}

const desired = {
  cluster: 'lab',
  policy: {},
  services: [{ name: 'demo_web', origin: 'stack:demo' }, { name: 'api', origin: 'services' }],
} as unknown as DesiredState;

const drain = { kind: 'set-availability', reconciler: 'nodes', object: 'worker-1', held: 'draining it would leave demo_web with no node' } as unknown as Action;

describe('passConditions', () => {
  it('blocked: each line of a reconciler\'s blocked message, by stack when it names one', () => {
    const got = passConditions(pass([
      { id: 'managers', drift: [], actions: [], blocked: 'quorum lost (1 of 3 managers reachable): warden changes no role.' },
      { id: 'stacks', drift: [], actions: [], blocked: 'held: pruning stack demo would remove 2 of its 3 services at once (demo_a, demo_b); remove at most half\nheld: stack other would lower the replicas of 2 of its 2 running services at once' },
    ]), [], desired);
    expect(got.get('pass:managers')).toEqual([{ event: 'blocked', object: 'swarm', reason: 'quorum lost (1 of 3 managers reachable): warden changes no role.' }]);
    expect(got.get('pass:stacks')?.map((c) => [c.object, c.stack])).toEqual([['demo', 'demo'], ['other', 'other']]);
  });

  it('held: an action its reconciler holds, once it was suppressed as held', () => {
    const got = passConditions(pass([
      { id: 'nodes', drift: [], actions: [{ action: drain, outcome: 'suppressed', reason: 'held' }, { action: drain, outcome: 'suppressed', reason: 'window' }] },
    ]), [], desired);
    expect(got.get('pass:nodes')).toEqual([{ event: 'held', object: 'worker-1', reason: 'set-availability held: draining it would leave demo_web with no node' }]);
  });

  it('held: flapping holds and refusals, with the object\'s stack, without `until` in the reason', () => {
    const got = passConditions(pass([]), [
      { key: 'stacks/demo_web', reason: 'flapping', until: '2025-01-01T00:05:00Z', why: 'corrected 3 times in 10 min: something else keeps changing it back' },
      { key: 'volumes//srv/data/db/fix-volume', reason: 'backoff', until: '2025-01-01T00:01:00Z', why: 'permission denied' },
    ], desired);
    expect(got.get('holds')).toEqual([
      { event: 'held', object: 'demo_web', stack: 'demo', reason: 'flapping (stacks): corrected 3 times in 10 min: something else keeps changing it back; warden leaves it alone for a while' },
      { event: 'held', object: '/srv/data/db', reason: 'fix-volume refused: permission denied; tried again with backoff' },
    ]);
  });

  it('leaves out a reconciler that could not plan, and everything of a pass that could not run', () => {
    const got = passConditions(pass([
      { id: 'volumes', drift: [], actions: [], error: 'cannot observe the host' },
      { id: 'rebalance', drift: [], actions: [], pending: 'first read' },
      { id: 'replicas', drift: [], actions: [] },
    ]), [], desired);
    expect([...got.keys()]).toEqual(['pass:replicas', 'holds']);
    expect(passConditions(pass([], 'cannot read the cluster'), [], desired).size).toBe(0);
  });

  it('desiredStateInvalid: the source, the problems, the failed revision', () => {
    expect(desiredStateInvalid('/etc/w.yml', 'w.yml:7:12: 4 managers', 'abc')).toEqual({ event: 'desired-state-invalid', object: '/etc/w.yml', reason: 'w.yml:7:12: 4 managers', revision: 'abc' });
  });
});
