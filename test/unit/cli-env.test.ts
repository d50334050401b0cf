// Environment variables the way operators write them.
import { describe, expect, it } from 'vitest';
import { envFlag } from '../../src/main.js';

describe('envFlag', () => {
  it.each([
    [undefined, undefined], ['', undefined], ['1', true], ['true', true], ['TRUE', true], ['yes', true], ['on', true],
    ['0', false], ['false', false], ['False', false], ['no', false], ['off', false],
  ])('WARDEN_DRY_RUN=%s is %s', (value, want) => {
    expect(envFlag('WARDEN_DRY_RUN', value === undefined ? {} : { WARDEN_DRY_RUN: value })).toBe(want);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => envFlag('WARDEN_DRY_RUN', { WARDEN_DRY_RUN: 'maybe' })).toThrow('WARDEN_DRY_RUN=maybe: expected true or false');
  });
});
