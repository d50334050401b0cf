// SealedValues: what a revision's sops files decrypted to, and how a shown value is checked and masked
// with it. Long values are found anywhere in a text; short ones (a port, an int, `7a`) only as a whole
// value or token, so that masking does not eat every "1" of a plan.
import { describe, expect, it } from 'vitest';
import { SealedValues } from '../../../src/desired-state/sops/sealed.js';
import { sealFields, sealPlan, shownError } from '../../../src/reconcilers/seal.js';
import type { Plan } from '../../../src/reconcilers/types.js';

function sealed(values: string[], typed: string[] = []): SealedValues {
  const s = new SealedValues();
  for (const v of values) s.add(v);
  for (const v of typed) s.add(v, true);
  return s;
}

describe('SealedValues', () => {
  const s = sealed(['hunter2-long', 'ab', 'node.labels.tier==gold'], ['5432', 'true']);

  it.each([
    ['hunter2-long', true],
    ['DB_PASSWORD=hunter2-long', true],
    ['postgres://u:hunter2-long@db/x', true],
    ['SHORT=ab', true],
    ['--flag=ab', true],
    ['node.labels.zone==ab', true],
    ['serve ab now', true],
    ['abc', false],
    ['crab', false],
    [5432, true],
    [54321, false],
    ['port 5432', true],
    [true, true],
    ['untrue', false],
    [['x', ['y', 'ab']], true],
    [{ 'team.contact': 'ab' }, true],
    [{ 'hunter2-long': 1 }, true],
    [{ a: 'b' }, false],
    [null, false],
    [undefined, false],
  ] as const)('holds(%j) is %s', (value, expected) => {
    expect(s.holds(value)).toBe(expected);
  });

  it('masks a whole value, a NAME=value value, a token and a long value inside text; leaves the rest', () => {
    expect(s.mask('ab')).toBe('(encrypted)');
    expect(s.mask('SHORT=ab')).toBe('SHORT=(encrypted)');
    expect(s.mask(['serve', '--port', 5432, 'crab'])).toEqual(['serve', '--port', '(encrypted)', 'crab']);
    expect(s.mask({ url: 'postgres://u:hunter2-long@db/x', n: 1 })).toEqual({ url: 'postgres://u:(encrypted)@db/x', n: 1 });
    expect(s.scrub('invalid value "hunter2-long" (ab)')).toBe('invalid value "(encrypted)" (ab)');
  });

  it('serializes, and clones, without its values', () => {
    expect(JSON.stringify({ sealed: s })).toBe('{"sealed":{}}');
    expect(JSON.stringify(structuredClone({ sealed: s }))).not.toContain('hunter2');
  });

  it('carries the previous revision\'s own values, and only those: one revision back', () => {
    const one = sealed(['revision-one-value']);
    const two = sealed(['revision-two-value']).following(one);
    const three = sealed(['revision-three-value']).following(two);
    expect([two.holds('revision-one-value'), two.holds('revision-two-value')]).toEqual([true, true]);
    expect([three.holds('revision-one-value'), three.holds('revision-two-value'), three.holds('revision-three-value')]).toEqual([false, true, true]);
    expect(three.size).toBe(1);
  });
});

describe('sealing a plan', () => {
  const s = sealed(['secret-value-1', 'gold']);

  it('marks the fields that hold a value on either side, drops their values, and hides a list item named by one', () => {
    const fields = sealFields([
      { field: 'TaskTemplate.ContainerSpec.Env[A]', live: 'A=secret-value-1', desired: 'A=other', restarts: true },
      { field: 'TaskTemplate.ContainerSpec.Env[B]', live: 'B=1', desired: 'B=2', restarts: true },
      { field: 'TaskTemplate.Placement.Constraints[node.labels.tier==gold]', live: undefined, desired: 'node.labels.tier==gold', restarts: true },
    ], s);
    expect(fields).toEqual([
      { field: 'TaskTemplate.ContainerSpec.Env[A]', live: undefined, desired: undefined, restarts: true, encrypted: true },
      { field: 'TaskTemplate.ContainerSpec.Env[B]', live: 'B=1', desired: 'B=2', restarts: true },
      { field: 'TaskTemplate.Placement.Constraints[(encrypted)]', live: undefined, desired: undefined, restarts: true, encrypted: true },
    ]);
  });

  it('scrubs drift messages, notes and held reasons, and gives every action the values', () => {
    const plan: Plan = {
      drift: [{ object: 'x', message: 'option a=secret-value-1 differs' }],
      actions: [{ kind: 'scale-service', serviceId: 's', replicas: 2, reconciler: 'replicas', object: 'x', before: 1, after: 2, disruptive: false, ignored: false, held: 'because secret-value-1' }],
      objects: [{ stack: 'st', kind: 'network', name: 'n', state: 'drift', note: 'label l=secret-value-1' }],
    };
    sealPlan(plan, s);
    expect(JSON.stringify(plan)).not.toContain('secret-value-1');
    expect(plan.actions[0]!.sealed).toBe(s);
  });

  it('shows an error without the values in its message, stack or cause, keeping its name and code', () => {
    const err = Object.assign(new Error('bad env A=secret-value-1', { cause: new Error('from secret-value-1') }), { name: 'EngineError', code: 'refused' });
    const shown = shownError(err, s);
    expect(shown).toMatchObject({ name: 'EngineError', code: 'refused', message: 'bad env A=(encrypted)' });
    expect(`${shown.stack} ${(shown.cause as Error).message}`).not.toContain('secret-value-1');
    const clean = new Error('nothing here');
    expect(shownError(clean, s)).toBe(clean);
  });
});
