import { describe, expect, it } from 'vitest';
import { inWindow, effectiveMode, Safety } from '../../../src/controller/safety.js';
import type { Action } from '../../../src/reconcilers/types.js';
import { desired } from '../../support/desired.js';

const at = (iso: string): number => new Date(iso).getTime();

describe('inWindow (local time: the tests run with TZ as the process has it)', () => {
  const local = (h: number, m: number): number => new Date(2026, 10, 21, h, m, 0).getTime();
  it.each([
    ['02:00, just opened', '0 2 * * *', 2 * 3_600_000, local(2, 0), true],
    ['03:59, still open', '0 2 * * *', 2 * 3_600_000, local(3, 59), true],
    ['04:00, closed', '0 2 * * *', 2 * 3_600_000, local(4, 0), false],
    ['01:59, not yet', '0 2 * * *', 2 * 3_600_000, local(1, 59), false],
    ['weekdays only, on a Saturday', '0 2 * * 1-5', 2 * 3_600_000, local(2, 30), false],
    ['a window crossing midnight', '30 23 * * *', 60 * 60_000, local(0, 15) + 86_400_000, true],
    ['every 15 minutes for 5', '*/15 * * * *', 5 * 60_000, local(10, 33), true],
    ['every 15 minutes for 5, between', '*/15 * * * *', 5 * 60_000, local(10, 37), false],
  ])('%s', (_name, cron, durationMs, now, expected) => {
    expect(inWindow({ cron, durationMs }, now)).toBe(expected);
  });
});

const scale = (over: Partial<Action> = {}): Action => ({
  kind: 'scale-service', reconciler: 'replicas', object: 'api', serviceId: 'id', replicas: 3,
  before: {}, after: {}, disruptive: false, ignored: false, ...over,
} as Action);

describe('Safety.suppression', () => {
  it('reports the first reason that holds, in order', () => {
    const s = new Safety();
    const now = at('2026-11-21T12:00:00Z');
    const observe = desired({ policy: { mode: 'observe' } });
    expect(s.suppression(scale({ ignored: true }), observe, now, false)).toBe('ignored');
    expect(s.suppression(scale(), observe, now, false)).toBe('observe');
    expect(s.suppression(scale(), desired(), now, true)).toBe('observe');
    const windowed = desired({ policy: { disruptiveWindow: { cron: '0 2 * * *', durationMs: 60_000 } } });
    expect(s.suppression(scale({ disruptive: true }), windowed, new Date(2026, 10, 21, 12, 0).getTime(), false)).toBe('window');
    expect(s.suppression(scale({ disruptive: true }), windowed, new Date(2026, 10, 21, 2, 0, 30).getTime(), false)).toBeUndefined();
    expect(s.suppression(scale({ disruptive: false }), windowed, now, false)).toBeUndefined();
  });

  it('holds a refused action with a doubling backoff, and forgets it on a new revision', () => {
    const s = new Safety();
    const now = at('2026-11-21T12:00:00Z');
    s.onRevision('r1');
    expect(s.recordRefusal(scale(), now, 'bad').until).toBe('2026-11-21T12:01:00.000Z');
    expect(s.suppression(scale(), desired(), now + 59_000, false)).toBe('backoff');
    expect(s.suppression(scale(), desired(), now + 61_000, false)).toBeUndefined();
    expect(s.recordRefusal(scale(), now + 61_000, 'bad').until).toBe('2026-11-21T12:03:01.000Z');
    s.onRevision('r2');
    expect(s.suppression(scale(), desired(), now + 62_000, false)).toBeUndefined();
  });

  it('counts corrections in a sliding window before calling an object flapping', () => {
    const s = new Safety({ threshold: 3, windowMs: 600_000, backoffMs: 300_000, maxBackoffMs: 3_600_000 });
    const t = at('2026-11-21T12:00:00Z');
    expect(s.recordCorrection(scale(), t)).toBeUndefined();
    expect(s.recordCorrection(scale(), t + 100_000)).toBeUndefined();
    // The first correction has left the window: two in ten minutes, not three.
    expect(s.recordCorrection(scale(), t + 650_000)).toBeUndefined();
    const hold = s.recordCorrection(scale(), t + 690_000);
    expect(hold).toMatchObject({ key: 'replicas/api', reason: 'flapping', until: new Date(t + 990_000).toISOString() });
    expect(s.suppression(scale(), desired(), t + 989_000, false)).toBe('flapping');
    expect(s.held(t + 989_000)).toHaveLength(1);
    expect(s.held(t + 990_001)).toHaveLength(0);
  });

  it('takes the per-reconciler override over the policy mode', () => {
    expect(effectiveMode(desired({ policy: { mode: 'observe', reconcilers: { replicas: 'enforce' } } }), 'replicas', false)).toBe('enforce');
    expect(effectiveMode(desired({ policy: { reconcilers: { replicas: 'observe' } } }), 'replicas', false)).toBe('observe');
    expect(effectiveMode(desired({ policy: { reconcilers: { replicas: 'enforce' } } }), 'replicas', true)).toBe('observe');
  });
});
