// Where a missing volume directory may be created without `mount`: only on a network or FUSE file system.
// Real mounts (root): a loop-mounted ext4 image standing for a separate local partition (/srv on its own
// disk, with the NAS's mount point /srv/nas on it, not mounted yet), a tmpfs (local too), and bindfs
// standing for the NAS (FUSE, as sshfs or glusterfs; NFS cannot be mounted on this kernel).
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostFiles } from '../../../src/host/files.js';
import { fsTypeOf, isShareType } from '../../../src/host/mounts.js';
import { FileRefusedError, type VolumeFix } from '../../../src/host/port.js';
import { canBindfs, isRoot, mountPartition, mountShare, mountTmpfs, unmount } from '../../support/host-fs.js';

function fixOf(v: Partial<VolumeFix> & { path: string }): VolumeFix {
  return { kind: 'fix-volume', reconciler: 'volumes', object: v.path, owner: 70, recursive: false, before: {}, after: {}, disruptive: false, ignored: false, ...v };
}

describe('isShareType', () => {
  it.each([
    ['nfs', true], ['nfs4', true], ['cifs', true], ['smb3', true], ['ceph', true], ['9p', true], ['virtiofs', true],
    ['fuse', true], ['fuse.sshfs', true], ['fuse.glusterfs', true], ['fuseblk', true],
    ['ext4', false], ['xfs', false], ['btrfs', false], ['zfs', false], ['tmpfs', false], ['overlay', false], ['fusectl', false],
  ])('%s: %s', (fstype, share) => {
    expect(isShareType(fstype)).toBe(share);
  });
});

describe('fsTypeOf', () => {
  it('finds the type by device in a mount table, whatever optional fields come before " - "', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-mountinfo-'));
    try {
      const file = join(dir, 'mountinfo');
      writeFileSync(file, [
        '22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw',
        '98 22 0:52 / /srv/nas rw,relatime shared:45 master:3 - nfs4 nas:/export rw,vers=4.2',
        '99 22 0:53 / /mnt/backup\\040disk rw - fuse.sshfs backup: rw,user_id=0',
        '',
      ].join('\n'));
      // st_dev as glibc encodes it: major 259, minor 2 -> (259 << 8) | 2.
      expect(await fsTypeOf((259 << 8) | 2, file)).toBe('ext4');
      expect(await fsTypeOf(52, file)).toBe('nfs4');
      expect(await fsTypeOf(53, file)).toBe('fuse.sshfs');
      expect(await fsTypeOf(54, file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(isRoot)("names this process's own mounts: the root's and a tmpfs's", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-fstype-'));
    try {
      mountTmpfs(join(dir, 't'));
      expect(await fsTypeOf(statSync(join(dir, 't')).dev)).toBe('tmpfs');
    } finally {
      unmount(join(dir, 't'));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(isRoot)('creating a missing volume directory without `mount`', () => {
  let root: string;
  let backing: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'warden-shares-'));
    backing = mkdtempSync(join(tmpdir(), 'warden-share-backing-'));
    mountPartition(join(tmpdir(), `warden-srv-${process.pid}.img`), join(root, 'srv'));
    // The NAS's mount point on the local partition: the NAS is not mounted yet (a boot before the network).
    mkdirSync(join(root, 'srv/nas'));
    mountTmpfs(join(root, 'mnt/tmp'));
  });

  afterAll(() => {
    for (const d of ['mnt/share', 'mnt/tmp', 'srv']) unmount(join(root, d));
    rmSync(join(tmpdir(), `warden-srv-${process.pid}.img`), { force: true });
    rmSync(root, { recursive: true, force: true });
    rmSync(backing, { recursive: true, force: true });
  });

  it('on a separate local partition (ext4), the NAS not mounted beneath: drift with the reason, nothing created', async () => {
    const files = new HostFiles({ root });
    const seen = await files.inspectPaths([{ path: '/srv/nas/db', owner: 70, recursive: false }]);
    expect(seen.get('/srv/nas/db')).toEqual({
      kind: 'refused',
      why: '/srv/nas/db is missing and its nearest parent /srv/nas is on a local file system (ext4), not on a network or FUSE share ' +
        '(is the share down?): warden will not create it on a local disk; name the share in `mount`, or create it by hand',
    });
    await expect(files.fix(fixOf({ path: '/srv/nas/db', mode: 0o700 }))).rejects.toThrow(FileRefusedError);
    expect(readdirSync(join(root, 'srv/nas'))).toEqual([]);
    // Naming the mount says the same thing another way: /srv/nas is not mounted.
    await expect(files.fix(fixOf({ path: '/srv/nas/db', mount: '/srv/nas' }))).rejects.toThrow('mount /srv/nas is not mounted');
    expect(readdirSync(join(root, 'srv/nas'))).toEqual([]);
  });

  it('on a tmpfs (local memory): refused the same way, unless the volume names it as its mount', async () => {
    const files = new HostFiles({ root });
    await expect(files.fix(fixOf({ path: '/mnt/tmp/db' }))).rejects.toThrow('nearest parent /mnt/tmp is on a local file system (tmpfs)');
    expect(existsSync(join(root, 'mnt/tmp/db'))).toBe(false);
    await files.fix(fixOf({ path: '/mnt/tmp/db', mount: '/mnt/tmp', mode: 0o700 }));
    expect(lstatSync(join(root, 'mnt/tmp/db')).uid).toBe(70);
  });

  it.runIf(canBindfs)('on a FUSE share (bindfs), the missing directories are created and owned', async () => {
    mountShare(backing, join(root, 'mnt/share'));
    const files = new HostFiles({ root });
    const seen = await files.inspectPaths([{ path: '/mnt/share/new/db', owner: 70, recursive: false }]);
    expect(seen.get('/mnt/share/new/db')).toEqual({ kind: 'missing' });
    expect(await files.fix(fixOf({ path: '/mnt/share/new/db', group: 70, mode: 0o700 }))).toEqual({ changed: 2, remaining: false });
    const st = lstatSync(join(backing, 'new/db'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([70, 70, 0o700]);
  });
});
