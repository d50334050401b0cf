import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { compareVersions, EngineChoiceError, engineName, engineOffers, parseMadison, pickOffer, processIdentity, withLock } from '../../../src/lab/engines.js';

// What `apt-cache madison docker.io containerd docker-cli` printed on 2026-12-01 with the lab's suites.
const MADISON = `
 docker.io | 28.5.2+dfsg4-5 | http://deb.debian.org/debian sid/main amd64 Packages
 docker.io | 26.1.5+dfsg1-9+deb13u1+b1 | http://deb.debian.org/debian trixie/main amd64 Packages
 docker.io | 26.1.5+dfsg1-9+deb13u1+b1 | http://deb.debian.org/debian forky/main amd64 Packages
 docker.io | 20.10.24+dfsg1-1+deb12u1+b6 | http://deb.debian.org/debian bookworm/main amd64 Packages
containerd | 2.1.9+ds1-5 | http://deb.debian.org/debian sid/main amd64 Packages
containerd | 1.7.24~ds1-6+deb13u1 | http://deb.debian.org/debian trixie/main amd64 Packages
containerd | 1.7.24~ds1-6+deb13u1 | http://deb.debian.org/debian forky/main amd64 Packages
containerd | 1.6.20~ds1-1+deb12u3 | http://deb.debian.org/debian bookworm/main amd64 Packages
docker-cli | 28.5.2+dfsg4-5 | http://deb.debian.org/debian sid/main amd64 Packages
docker-cli | 26.1.5+dfsg1-9+deb13u1+b1 | http://deb.debian.org/debian trixie/main amd64 Packages
`;

describe('lab engines from the archive', () => {
  it('reads madison lines with their suite', () => {
    expect(parseMadison(MADISON)[0]).toEqual({ pkg: 'docker.io', version: '28.5.2+dfsg4-5', suite: 'sid' });
    expect(parseMadison('N: Unable to locate package docker.io\n')).toEqual([]);
  });

  it.each([
    ['28.5.2+dfsg4-5', '28.5'],
    ['20.10.24+dfsg1-1+deb12u1+b6', '20.10'],
    ['1:29.0.1-1', '29.0'],
  ])('names %s %s', (version, name) => {
    expect(engineName(version)).toBe(name);
  });

  it('orders versions numerically, not as text', () => {
    expect(compareVersions('20.10.24', '26.1.5')).toBeLessThan(0);
    expect(compareVersions('28.5.10', '28.5.2')).toBeGreaterThan(0);
    expect(compareVersions('26.1.5+dfsg1-9', '26.1.5+dfsg1-9')).toBe(0);
  });

  it('pairs each docker.io with its suite containerd and CLI, once per version', () => {
    expect(engineOffers(parseMadison(MADISON))).toEqual([
      { name: '20.10', pkg: '20.10.24+dfsg1-1+deb12u1+b6', suite: 'bookworm', packages: ['docker.io=20.10.24+dfsg1-1+deb12u1+b6', 'containerd=1.6.20~ds1-1+deb12u3'] },
      { name: '26.1', pkg: '26.1.5+dfsg1-9+deb13u1+b1', suite: 'trixie', packages: ['docker.io=26.1.5+dfsg1-9+deb13u1+b1', 'containerd=1.7.24~ds1-6+deb13u1', 'docker-cli=26.1.5+dfsg1-9+deb13u1+b1'] },
      { name: '28.5', pkg: '28.5.2+dfsg4-5', suite: 'sid', packages: ['docker.io=28.5.2+dfsg4-5', 'containerd=2.1.9+ds1-5', 'docker-cli=28.5.2+dfsg4-5'] },
    ]);
  });

  it('picks the newest, or the newest of a major.minor, and names what there is otherwise', () => {
    const offers = engineOffers(parseMadison(MADISON));
    expect(pickOffer('newest', offers).pkg).toBe('28.5.2+dfsg4-5');
    expect(pickOffer('26.1', offers).suite).toBe('trixie');
    expect(() => pickOffer('24.0', offers)).toThrow(EngineChoiceError);
    expect(() => pickOffer('24.0', offers)).toThrow('engine 24.0 is not available; available: 20.10, 26.1, 28.5 (or system: the dockerd on PATH)');
    expect(() => pickOffer('newest', [])).toThrow(/no engine is available/);
  });
});

describe('the lock of the engines cache', () => {
  it('names a process by pid, boot and start time: a reused pid is another process', () => {
    const me = processIdentity(process.pid);
    expect(me).toMatch(new RegExp(`^${process.pid} [0-9a-f-]{36} \\d+$`));
    expect(processIdentity(2 ** 22 + 1)).toBe('');
  });

  it('lets one holder in at a time, takes over a lock whose owner is gone, and leaves a lock that is not its own', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'warden-lock-')), 'lock');
    // An owner from another boot (or a pid since reused): gone.
    mkdirSync(lock);
    writeFileSync(join(lock, 'owner'), `${process.pid} 00000000-0000-0000-0000-000000000000 1`);
    const inside: string[] = [];
    const hold = (name: string) => withLock(lock, async () => {
      inside.push(`${name} in`);
      await sleep(50);
      inside.push(`${name} out`);
    });
    await Promise.all([hold('a'), hold('b')]);
    expect(inside).toEqual(['a in', 'a out', 'b in', 'b out']);
    // A holder whose lock was taken from it (it hung, a person removed it) does not remove the new one.
    await withLock(lock, async () => {
      writeFileSync(join(lock, 'owner'), 'someone else');
    });
    expect(readFileSync(join(lock, 'owner'), 'utf8')).toBe('someone else');
  });
});
