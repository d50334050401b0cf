// Environment variables the way operators write them.
import { describe, expect, it, vi } from 'vitest';
import { envFlag, main } from '../../src/main.js';

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

describe('every flag', () => {
  it.each(['validate', 'schema', 'export', 'plan', 'apply', 'run', 'status', 'recover', 'version', 'lab up', 'lab down', 'lab status'])(
    'of `warden %s` reads an environment variable too',
    async (command) => {
      let help = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        help += String(chunk);
        return true;
      });
      try {
        expect(await main([...command.split(' '), '--help'])).toBe(0);
      } finally {
        spy.mockRestore();
      }
      // Each option line of the help, but --help and --dry-run (read by envFlag, which the help names).
      // Help wraps long lines: an option is its line and the indented lines after it, whitespace folded.
      const options: string[] = [];
      for (const l of help.split('\n')) {
        if (/^\s+-/.test(l)) options.push(l.trim());
        else if (/^\s{4,}\S/.test(l) && options.length > 0) options[options.length - 1] += ` ${l.trim()}`;
      }
      options.splice(0, options.length, ...options.filter((o) => !/--help\b/.test(o)));
      for (const line of options) {
        if (/--dry-run/.test(line)) expect(line).toContain('WARDEN_DRY_RUN');
        // The contract keeps sops's own name for the age key file, as sops users already set it.
        else if (/--sops-age-key-file/.test(line)) expect(line).toContain('(env: SOPS_AGE_KEY_FILE)');
        else expect(line, `warden ${command}: ${line.trim()}`).toMatch(/\(.*env: (WARDEN|DOCKER)_[A-Z_]+/);
      }
    },
  );
});

describe('the resolve-image durations', () => {
  it.each([
    [['plan', '--resolve-image-timeout', '5'], {}, 'has no unit'],
    [['run'], { WARDEN_RESOLVE_IMAGE_INTERVAL: '0s' }, 'must be longer than 0s'],
    [['apply'], { WARDEN_RESOLVE_IMAGE_TIMEOUT: 'soon' }, 'is not a duration'],
  ])('`warden %j` with %j is an error before anything runs (exit 2)', async (args, env, problem) => {
    let said = '';
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      said += String(chunk);
      return true;
    });
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
    try {
      expect(await main(args)).toBe(2);
    } finally {
      spy.mockRestore();
      vi.unstubAllEnvs();
    }
    expect(said).toContain(problem);
  });
});
