// `warden status --wait` on a fake clock: 0 once all are healthy, 1 at the first degraded look or at the
// timeout, 2 when a look fails; without --wait, one look.
import { describe, expect, it } from 'vitest';
import type { Health } from '../../../src/controller/health.js';
import type { ServiceStatusView } from '../../../src/controller/service-status.js';
import { STATUS_POLL_MS, watchHealth, type Look } from '../../../src/commands/status.js';

const view = (service: string, health: Health, reason = ''): ServiceStatusView =>
  ({ stack: '', service, sync: 'in_sync', drift: [], health, reason, running: health === 'healthy' ? 1 : 0, desired: 1 });

function fakeClock(): { now(): number; sleep(ms: number): Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return { now: () => t, sleep: async (ms) => void (slept.push(ms), (t += ms)), slept };
}

/** looks answers each look with the next of `answers`, the last one again once they run out. */
function looks(...answers: Array<ServiceStatusView[] | { error: string }>): Look & { count: number } {
  const look = Object.assign(async () => answers[Math.min(look.count++, answers.length - 1)]!, { count: 0 });
  return look;
}

describe('watchHealth', () => {
  it('without --wait: one look, 0 all healthy, 1 not', async () => {
    const clock = fakeClock();
    expect((await watchHealth(looks([view('a', 'healthy')]), { wait: false, timeoutMs: 60_000 }, clock, () => undefined)).code).toBe(0);
    const look = looks([view('a', 'progressing', 'preparing')]);
    expect((await watchHealth(look, { wait: false, timeoutMs: 60_000 }, clock, () => undefined)).code).toBe(1);
    expect(look.count).toBe(1);
  });

  it('--wait: looks every 2 s until all are healthy, saying each change once', async () => {
    const clock = fakeClock();
    const said: string[] = [];
    const look = looks([view('a', 'progressing', 'preparing')], [view('a', 'progressing', 'preparing')], [view('a', 'progressing', 'starting')], [view('a', 'healthy')]);
    const v = await watchHealth(look, { wait: true, timeoutMs: 60_000 }, clock, (l) => said.push(l));
    expect(v.code).toBe(0);
    expect(look.count).toBe(4);
    expect(clock.slept).toEqual([STATUS_POLL_MS, STATUS_POLL_MS, STATUS_POLL_MS]);
    expect(said).toEqual(['waiting: a progressing: preparing (0/1 running)', 'waiting: a progressing: starting (0/1 running)']);
  });

  it('--wait: 1 at the first look that finds one degraded, naming it and its reason', async () => {
    const clock = fakeClock();
    const look = looks([view('a', 'progressing'), view('b', 'missing')], [view('a', 'degraded', 'task: non-zero exit (1)'), view('b', 'missing')]);
    const v = await watchHealth(look, { wait: true, timeoutMs: 300_000 }, clock, () => undefined);
    expect(v).toMatchObject({ code: 1, said: ['warden status: a is degraded: task: non-zero exit (1)'] });
    expect(clock.now()).toBe(STATUS_POLL_MS);
  });

  it('--wait: 1 at the timeout, naming what is not healthy; the last wait cut to the deadline', async () => {
    const clock = fakeClock();
    const v = await watchHealth(looks([view('a', 'healthy'), view('b', 'suspended', 'observe mode')]), { wait: true, timeoutMs: 5_000 }, clock, () => undefined);
    expect(v).toMatchObject({ code: 1, said: ['warden status: timed out waiting for every service to be healthy (b suspended)'] });
    expect(clock.slept).toEqual([2_000, 2_000, 1_000]);
  });

  it('2 when a look fails, waiting or not', async () => {
    const v = await watchHealth(looks([view('a', 'progressing')], { error: 'cannot read the cluster: connect ENOENT' }), { wait: true, timeoutMs: 60_000 }, fakeClock(), () => undefined);
    expect(v).toEqual({ code: 2, views: [], said: ['warden status: cannot read the cluster: connect ENOENT'] });
  });
});
