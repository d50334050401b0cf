// Rollout outcomes and health changes from pass to pass (./rollouts.ts): a write of warden's followed by
// its UpdateStatus to its end, counted once, told once per revision; degraded once per spell, recovered.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ActionOutcome } from '../../../src/controller/act.js';
import type { KeptServiceHealth } from '../../../src/controller/health.js';
import { Metrics } from '../../../src/controller/metrics.js';
import type { Transition } from '../../../src/controller/notify.js';
import type { PassResult } from '../../../src/controller/pass.js';
import { ROLLOUT_START_MS, Rollouts } from '../../../src/controller/rollouts.js';
import { heldServices } from '../../../src/controller/service-status.js';
import type { Action } from '../../../src/reconcilers/types.js';

const write = (object: string): ActionOutcome => ({
  action: { kind: 'force-restart', reconciler: 'stacks', object, serviceId: `id-${object}`, before: {}, after: {}, disruptive: false, ignored: false } as unknown as Action,
  outcome: 'applied',
});
type Update = NonNullable<KeptServiceHealth['update']>;
const upd = (state: string, startedAt: string, message = ''): Update => ({ state, startedAt, completedAt: state === 'updating' ? '' : '2026-12-06T01:00:30Z', message });
const h = (over: Partial<KeptServiceHealth> = {}): KeptServiceHealth => ({ stack: 'shop', service: 'shop_api', health: 'healthy', reason: '', running: 1, desired: 1, ...over });
const pass = (health: KeptServiceHealth[], actions: ActionOutcome[] = [], revision = 'r1', leader = true): PassResult => ({
  passId: 1, reasons: [], startedAt: '', durationMs: 0, leader, revision, health,
  results: [{ id: 'stacks', drift: [], actions }],
});

function setup(): { r: Rollouts; told: Transition[]; metrics: Metrics; count: (result: string) => Promise<number> } {
  const metrics = new Metrics({ processMetrics: false });
  const told: Transition[] = [];
  const r = new Rollouts({ metrics, logger: pino({ level: 'silent' }), notify: (t) => told.push(t) });
  const count = async (result: string): Promise<number> =>
    (await metrics.rollouts.get()).values.find((v) => v.labels.service === 'shop_api' && v.labels.result === result)?.value ?? 0;
  return { r, told, metrics, count };
}

describe('Rollouts', () => {
  it('follows a write to completed: updating first, then counted once and told once', async () => {
    const { r, told, count } = setup();
    const before = upd('completed', '2026-12-05T00:00:00Z');
    r.track(pass([h({ update: before })], [write('shop_api')]), 0);
    // The next pass still shows the old status: not started.
    const p1 = pass([h({ update: before })]);
    r.track(p1, 1_000);
    expect(p1.health![0]!.rollout).toBeUndefined();
    const p2 = pass([h({ health: 'progressing', update: upd('updating', '2026-12-06T01:00:00Z', 'update in progress') })]);
    r.track(p2, 2_000);
    expect(p2.health![0]!.rollout).toEqual({ result: 'updating', revision: 'r1', reason: 'update in progress', at: '2026-12-06T01:00:00Z' });
    for (const t of [3_000, 4_000]) r.track(pass([h({ update: upd('completed', '2026-12-06T01:00:00Z', 'update completed') })]), t);
    expect(await count('completed')).toBe(1);
    expect(told.map((t) => [t.event, t.object, t.stack, t.reason, t.revision])).toEqual([['rollout-completed', 'shop_api', 'shop', 'update completed', 'r1']]);
  });

  it('a rollback keeps the engine\'s words from rollback_started, tells rollout-failed once per revision, and a flapping hold says it was rolled back', async () => {
    const { r, told, count } = setup();
    let at = 0;
    for (const round of [1, 2]) {
      const start = `2026-12-06T01:0${round}:00Z`;
      r.track(pass([h({ update: upd('rollback_completed', `2026-12-06T00:5${round}:00Z`, 'rollback completed') })], [write('shop_api')]), (at += 1000));
      r.track(pass([h({ health: 'progressing', update: upd('updating', start, 'update in progress') })]), (at += 1000));
      // The pass that finds the rollback asks before it tells: the UpdateStatus it reads says so.
      const seen = upd('rollback_started', start, `update rolled back due to failure or early termination of task t${round}`);
      expect(r.rolledBack('shop_api', seen)).toEqual({ revision: 'r1', reason: seen.message });
      r.track(pass([h({ update: upd('rollback_started', start, `update rolled back due to failure or early termination of task t${round}`) })]), (at += 1000));
      // Ended there: swarm put the previous spec back; its completion is not counted again.
      r.track(pass([h({ health: 'degraded', update: upd('rollback_completed', start, 'rollback completed') })]), (at += 1000));
    }
    // A third, first seen done: swarm's "rollback completed" says nothing; the earlier one's words do.
    r.track(pass([h({ update: upd('rollback_completed', '2026-12-06T01:02:00Z', 'rollback completed') })], [write('shop_api')]), (at += 1000));
    const done = upd('rollback_completed', '2026-12-06T01:03:00Z', 'rollback completed');
    expect(r.rolledBack('shop_api', done)).toEqual({ revision: 'r1', reason: 'update rolled back due to failure or early termination of task t2' });
    r.track(pass([h({ health: 'degraded', update: done })]), (at += 1000));
    expect(await count('rolled_back')).toBe(3);
    expect(told.filter((t) => t.event === 'rollout-failed').map((t) => t.reason)).toEqual(['update rolled back due to failure or early termination of task t1']);
    expect(r.rolledBack('shop_api')).toEqual({ revision: 'r1', reason: 'update rolled back due to failure or early termination of task t2' });
    const held = heldServices([{ id: 'stacks', drift: [], actions: [{ ...write('shop_api'), outcome: 'suppressed', reason: 'flapping' }] }], () => 'corrected 3 times', (s) => r.rolledBack(s));
    expect(held.get('shop_api')).toBe('rolled back by swarm at revision r1; fix the file (update rolled back due to failure or early termination of task t2)');
  });

  it('a pause is paused; a write that starts no rolling update (a scale) is forgotten, never counted', async () => {
    const { r, told, count } = setup();
    r.track(pass([h()], [write('shop_api')]), 0);
    r.track(pass([h()]), ROLLOUT_START_MS + 1);
    r.track(pass([h({ update: upd('paused', '2026-12-06T01:00:00Z', 'update paused due to failure or early termination of task x') })]), ROLLOUT_START_MS + 2);
    expect(await count('paused')).toBe(0);
    r.track(pass([h({ update: upd('paused', '2026-12-06T01:00:00Z') })], [write('shop_api')], 'r2'), ROLLOUT_START_MS + 3);
    r.track(pass([h({ update: upd('paused', '2026-12-06T01:05:00Z', 'update paused due to failure') })]), ROLLOUT_START_MS + 4);
    expect(await count('paused')).toBe(1);
    expect(told).toEqual([{ event: 'rollout-failed', object: 'shop_api', stack: 'shop', reason: 'update paused due to failure', revision: 'r2' }]);
  });

  it('tells degraded once per spell (progressing between is the same spell), recovered when healthy again; a standby tells nothing', () => {
    const { r, told } = setup();
    const seq: Array<[KeptServiceHealth['health'], boolean]> = [['healthy', true], ['degraded', true], ['progressing', true], ['degraded', true], ['healthy', true], ['healthy', true], ['degraded', false], ['degraded', true]];
    seq.forEach(([health, leader], i) => r.track(pass([h({ health, reason: health === 'degraded' ? 'task: non-zero exit (1)' : '' })], [], 'r1', leader), i));
    expect(told.map((t) => [t.event, t.health, t.reason])).toEqual([
      ['degraded', 'degraded', 'task: non-zero exit (1)'], ['recovered', 'healthy', 'running 1/1'], ['degraded', 'degraded', 'task: non-zero exit (1)'],
    ]);
  });
});
