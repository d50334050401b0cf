// HostFiles on real file systems (root: mounts and chown): a host root in a temporary directory on the
// machine's own disk, a tmpfs below it standing for the NAS, a decoy directory outside the root standing
// for /etc. The races are made real with the onStep hook, which changes the tree between two steps of a
// walk exactly as a container that owns the volume could.
import { chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DesiredVolume } from '../../../src/desired-state/types.js';
import { HostFiles } from '../../../src/host/files.js';
import { FileRefusedError, type VolumeFix } from '../../../src/host/port.js';
import { canFuse, isRoot, mountDead, mountTmpfs, unmount } from '../../support/host-fs.js';

let root: string;
let nas: string;
let outside: string;
const nested: string[] = [];

function own(path: string): string {
  const st = lstatSync(path);
  return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
}

function fixOf(v: Partial<VolumeFix> & { path: string }): VolumeFix {
  return { kind: 'fix-volume', reconciler: 'volumes', object: v.path, owner: 70, recursive: false, before: {}, after: {}, disruptive: false, ignored: false, ...v };
}

// swap replaces the directory `dir` by a symlink to `target`, keeping the original as dir-moved.
function swap(dir: string, target: string): void {
  renameSync(dir, `${dir}-moved`);
  symlinkSync(target, dir);
}

describe.runIf(isRoot)('HostFiles on a real file system', () => {
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'warden-files-'));
    nas = join(root, 'mnt/nas');
    mountTmpfs(nas);
  });

  afterEach(() => {
    for (const d of nested.splice(0)) unmount(d);
    for (const e of readdirSync(nas)) {
      spawnSync('chattr', ['-R', '-i', join(nas, e)]);
      rmSync(join(nas, e), { recursive: true, force: true });
    }
    rmSync(join(root, 'srv'), { recursive: true, force: true });
    if (outside) rmSync(outside, { recursive: true, force: true });
    outside = mkdtempSync(join(tmpdir(), 'warden-outside-'));
    mkdirSync(join(outside, 'b/c'), { recursive: true });
  });

  beforeAll(() => {
    outside = mkdtempSync(join(tmpdir(), 'warden-outside-'));
    mkdirSync(join(outside, 'b/c'), { recursive: true });
  });

  afterAll(() => {
    unmount(nas);
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('walks by descriptors: a middle directory swapped for a symlink between two steps leads nowhere outside the root', async () => {
    mkdirSync(join(nas, 'a/b/c'), { recursive: true });
    writeFileSync(join(outside, 'b/c/secret'), 'x');
    const before = [own(outside), own(join(outside, 'b')), own(join(outside, 'b/c')), own(join(outside, 'b/c/secret'))];
    const steps: string[] = [];
    const files = new HostFiles({
      root,
      onStep: (p) => {
        steps.push(p);
        // After warden opened /mnt/nas/a and before it opens b in it: a becomes a symlink to the decoy.
        if (p === '/mnt/nas/a') swap(join(nas, 'a'), outside);
      },
    });
    const result = await files.fix(fixOf({ path: '/mnt/nas/a/b/c', mode: 0o700, recursive: true }));
    expect(steps).toEqual(['/mnt', '/mnt/nas', '/mnt/nas/a', '/mnt/nas/a/b', '/mnt/nas/a/b/c']);
    expect(lstatSync(join(nas, 'a')).isSymbolicLink()).toBe(true);
    // The directory warden held open is the one it changed, wherever it was moved to.
    expect(own(join(nas, 'a-moved/b/c'))).toBe('70:0 0700');
    expect(result).toEqual({ changed: 1, remaining: false });
    expect([own(outside), own(join(outside, 'b')), own(join(outside, 'b/c')), own(join(outside, 'b/c/secret'))]).toEqual(before);
    // The next walk from the root meets the symlink and refuses it.
    const seen = await new HostFiles({ root }).inspectPaths([{ path: '/mnt/nas/a/b/c', owner: 70, recursive: false }]);
    expect(seen.get('/mnt/nas/a/b/c')).toEqual({ kind: 'refused', why: '/mnt/nas/a is a symlink: warden never follows one, nor changes anything through it' });
  });

  it('creates by descriptors: a directory it just made, swapped for a symlink, gets nothing created through it', async () => {
    const files = new HostFiles({
      root,
      onStep: (p) => {
        if (p === '/mnt/nas/x') swap(join(nas, 'x'), outside);
      },
    });
    await files.fix(fixOf({ path: '/mnt/nas/x/b/new', mount: '/mnt/nas', mode: 0o700 }));
    expect(readdirSync(join(outside, 'b')).sort()).toEqual(['c']);
    expect(own(join(nas, 'x-moved/b/new'))).toBe('70:0 0700');
  });

  it('changes an existing local directory only below a volume root; one on the share always', async () => {
    mkdirSync(join(root, 'srv/app/db'), { recursive: true });
    mkdirSync(join(root, 'srv/other'), { recursive: true });
    mkdirSync(join(nas, 'pg'));
    const files = new HostFiles({ root });
    const volumes: DesiredVolume[] = [
      { path: '/srv/other', owner: 70, recursive: false },
      { path: '/srv/app/db', owner: 70, recursive: false, root: '/srv/app' },
      { path: '/mnt/nas/pg', owner: 70, recursive: false },
    ];
    const seen = await files.inspectPaths(volumes);
    expect(seen.get('/srv/other')).toEqual({
      kind: 'refused',
      why: "/srv/other is on the host root's own file system, not on a mounted share: warden changes an existing local directory only below policy.volumeRoots (is the share down? or list its root there)",
    });
    expect(seen.get('/srv/app/db')).toMatchObject({ kind: 'directory', uid: 0 });
    expect(seen.get('/mnt/nas/pg')).toMatchObject({ kind: 'directory', uid: 0 });
    await expect(files.fix(fixOf({ path: '/srv/other' }))).rejects.toThrow(FileRefusedError);
    expect(own(join(root, 'srv/other'))).toBe('0:0 0755');
    await files.fix(fixOf({ path: '/srv/app/db', root: '/srv/app' }));
    expect(own(join(root, 'srv/app/db'))).toMatch(/^70:0 /);
    // A root given for a path outside it counts for nothing (the loader never makes one, the host checks).
    await expect(files.fix(fixOf({ path: '/srv/other', root: '/srv/app' }))).rejects.toThrow(/only below policy.volumeRoots/);
  });

  it('creates below an existing volume root, never the root itself', async () => {
    mkdirSync(join(root, 'srv/app'), { recursive: true });
    const files = new HostFiles({ root });
    const seen = await files.inspectPaths([
      { path: '/srv/app/new/db', owner: 70, recursive: false, root: '/srv/app' },
      { path: '/srv/gone/db', owner: 70, recursive: false, root: '/srv/gone' },
    ]);
    expect(seen.get('/srv/app/new/db')).toEqual({ kind: 'missing' });
    expect(seen.get('/srv/gone/db')).toEqual({
      kind: 'refused', why: '/srv/gone/db is missing and so is its volume root /srv/gone: warden creates directories below a volume root, never the root itself',
    });
    await files.fix(fixOf({ path: '/srv/app/new/db', root: '/srv/app', mode: 0o700 }));
    expect(own(join(root, 'srv/app/new/db'))).toBe('70:0 0700');
    await expect(files.fix(fixOf({ path: '/srv/gone/db', root: '/srv/gone' }))).rejects.toThrow(FileRefusedError);
  });

  it('a chown the host refuses (EPERM: an immutable directory) is a FileRefusedError, below too', async () => {
    mkdirSync(join(nas, 'locked'));
    mkdirSync(join(nas, 'tree/sub'), { recursive: true });
    for (const d of ['locked', 'tree/sub']) {
      const r = spawnSync('chattr', ['+i', join(nas, d)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    const files = new HostFiles({ root });
    const refused = await files.fix(fixOf({ path: '/mnt/nas/locked' })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FileRefusedError);
    expect((refused as Error).message).toMatch(/^cannot change \/mnt\/nas\/locked: the host refused it \(EPERM\)/);
    const below = await files.fix(fixOf({ path: '/mnt/nas/tree', recursive: true })).catch((e: unknown) => e);
    expect(below).toBeInstanceOf(FileRefusedError);
    expect((below as Error).message).toMatch(/^cannot change \/mnt\/nas\/tree\/sub: the host refused it \(EPERM\)/);
    expect(own(join(nas, 'locked'))).toBe('0:0 0755');
  });

  it.runIf(canFuse)('an entry below a recursive volume that cannot be read (a dead mount: ENOTCONN) is an error, never "nothing differs"', async () => {
    mkdirSync(join(nas, 'kafka/logs'), { recursive: true });
    chownSync(join(nas, 'kafka'), 1001, 0);
    chownSync(join(nas, 'kafka/logs'), 1001, 0);
    const dead = join(nas, 'kafka/logs/stale');
    mountDead(dead);
    nested.push(dead);
    const files = new HostFiles({ root });
    const seen = await files.inspectPaths([{ path: '/mnt/nas/kafka', owner: 1001, group: 0, recursive: true }]);
    expect(seen.get('/mnt/nas/kafka')).toEqual({ kind: 'refused', why: 'cannot read /mnt/nas/kafka/logs/stale: ENOTCONN' });
    await expect(files.fix(fixOf({ path: '/mnt/nas/kafka', owner: 1001, group: 0, recursive: true }))).rejects.toThrow(
      'cannot read /mnt/nas/kafka/logs/stale: ENOTCONN',
    );
  });

  it('in a recursive walk, an entry removed meanwhile is passed over and one swapped for a symlink is never entered', async () => {
    for (const d of ['d1', 'd2', 'd3']) mkdirSync(join(nas, 'tree', d, 'sub'), { recursive: true });
    const before = [own(outside), own(join(outside, 'b')), own(join(outside, 'b/c'))];
    const files = new HostFiles({
      root,
      onStep: (p) => {
        // Inside d1: d2 goes, d3 becomes a symlink to the decoy (the listing of tree was read already).
        if (p === '/mnt/nas/tree/d1') {
          rmSync(join(nas, 'tree/d2'), { recursive: true });
          swap(join(nas, 'tree/d3'), outside);
        }
      },
    });
    const result = await files.fix(fixOf({ path: '/mnt/nas/tree', owner: 70, mode: 0o700, recursive: true }));
    // tree, d1, d1/sub, and the symlink d3 itself (lchown: the link, not what it points to).
    expect(result).toEqual({ changed: 4, remaining: false });
    expect(own(join(nas, 'tree/d1/sub'))).toBe('70:0 0700');
    expect(lstatSync(join(nas, 'tree/d3')).isSymbolicLink()).toBe(true);
    expect(own(join(nas, 'tree/d3'))).toMatch(/^70:0 /);
    expect(own(join(nas, 'tree/d3-moved/sub'))).toBe('0:0 0755');
    expect([own(outside), own(join(outside, 'b')), own(join(outside, 'b/c'))]).toEqual(before);
  });
});
