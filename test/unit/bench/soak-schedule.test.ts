// The soak's schedule of faults: the same seed gives the same schedule, and every schedule keeps the
// soak's own rules (at most two faults at once, never two managers down, never two faults on one resource).
import { describe, expect, it } from 'vitest';
import { parseSoakArgs } from '../../../bench/soak/args.js';
import { Random } from '../../../bench/soak/random.js';
import { conflicts, EDIT_OBSERVE_MS, FIRST_FAULT_MS, KIND_RULES, MAX_AT_ONCE, planFaults, plannedEnd } from '../../../bench/soak/schedule.js';

describe('Random', () => {
  it('gives the same numbers for the same seed, and others for another', () => {
    const a = new Random(7);
    const b = new Random(7);
    const c = new Random(8);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('planFaults', () => {
  it('is a function of the seed and the length', () => {
    expect(planFaults(1234, 30)).toEqual(planFaults(1234, 30));
    expect(planFaults(1234, 30)).not.toEqual(planFaults(1235, 30));
    // A shorter soak is the longer one's beginning.
    const short = planFaults(1234, 5);
    expect(planFaults(1234, 30).slice(0, short.length)).toEqual(short);
  });

  it.each([1, 2, 3, 42, 99_999, 4_294_967_295])('seed %i: starts within the length, keeps the rules, and draws every kind over 30 min', (seed) => {
    const plan = planFaults(seed, 30);
    expect(plan.length).toBeGreaterThan(30);
    expect(plan[0]!.atMs).toBeGreaterThanOrEqual(FIRST_FAULT_MS);
    for (const f of plan) {
      expect(f.atMs).toBeLessThan(30 * 60_000);
      const [min, max] = KIND_RULES[f.kind].duration;
      expect(f.durationMs).toBeGreaterThanOrEqual(min);
      expect(f.durationMs).toBeLessThanOrEqual(max);
      const running = plan.filter((o) => o !== f && o.atMs <= f.atMs && plannedEnd(o) > f.atMs);
      expect(running.length).toBeLessThan(MAX_AT_ONCE);
      for (const o of running) expect(conflicts(f, o), `#${f.n} beside #${o.n}`).toBe(false);
    }
    expect(new Set(plan.map((f) => f.kind)).size).toBeGreaterThanOrEqual(10);
  });

  it('never lets two faults that stop managers overlap, nor a volume edit run while the NAS hangs', () => {
    const base = { n: 1, atMs: 0, durationMs: 30_000, pick: 0 };
    expect(conflicts({ ...base, kind: 'leader-stop', variant: '-' }, { ...base, kind: 'node-stop', variant: 'manager' })).toBe(true);
    expect(conflicts({ ...base, kind: 'leader-stop', variant: '-' }, { ...base, kind: 'node-stop', variant: 'worker' })).toBe(false);
    expect(conflicts({ ...base, kind: 'volume-edit', variant: 'mode' }, { ...base, kind: 'nas-hang', variant: '-' })).toBe(true);
    expect(conflicts({ ...base, kind: 'git-force-push', variant: 'same' }, { ...base, kind: 'git-down', variant: '-' })).toBe(true);
    expect(conflicts({ ...base, kind: 'registry-down', variant: 'stop-node' }, { ...base, kind: 'node-stop', variant: 'worker' })).toBe(true);
    expect(plannedEnd({ ...base, kind: 'manual-scale', variant: '-', durationMs: 0 })).toBe(EDIT_OBSERVE_MS);
  });
});

describe('parseSoakArgs', () => {
  it('reads the flags, with defaults', () => {
    expect(parseSoakArgs(['--minutes', '5', '--seed', '77', '--lab', '3'], {})).toEqual({ minutes: 5, seed: 77, lab: 3, wardens: 3, keepLab: false });
    expect(parseSoakArgs(['--wardens', '2'], {})).toMatchObject({ wardens: 2 });
    expect(parseSoakArgs(['--minutes=0.5', '--keep-lab', '--seed=0'], {})).toMatchObject({ minutes: 0.5, seed: 0, lab: 8, keepLab: true });
    const a = parseSoakArgs([], { WARDEN_BENCH_LAB: '6' });
    expect(a).toMatchObject({ minutes: 30, lab: 6 });
    expect(Number.isInteger(a.seed)).toBe(true);
  });

  it.each([
    [['--minutes', '0'], '--minutes 0: a number of minutes above 0'],
    [['--minutes'], '--minutes needs a value'],
    [['--seed', '-1'], '--seed -1: a whole number'],
    [['--seed', '1.5'], '--seed 1.5: a whole number'],
    [['--lab', '12'], '--lab 12: a lab number 0-9'],
    [['--mins', '5'], 'unknown argument --mins'],
    [['--wardens', '1'], '--wardens 1: 2 or 3 standing instances'],
  ])('refuses %j: %s', (argv, message) => {
    expect(() => parseSoakArgs(argv, {})).toThrow(message);
  });
});
