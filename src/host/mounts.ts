// Which file system holds a directory, from /proc/self/mountinfo: a missing volume directory is created
// (without `mount`) only on a network or FUSE file system, where an unmounted share cannot be mistaken for
// it. A separate local partition (`/srv` on its own disk) is another device than the host root too, and
// a NAS not mounted yet at boot leaves its mount point as a plain directory there: what warden created
// and chowned there would vanish under the NAS once mounted.
import { readFile } from 'node:fs/promises';

/**
 * SHARE_FS_TYPES are the file system types (mountinfo's fstype) that count as a share: NFS, SMB/CIFS,
 * the cluster and network file systems a NAS or a storage cluster is mounted with, and the host's share
 * in a VM (9p, virtiofs). Every FUSE type counts too (`fuse`, `fuse.<name>` such as fuse.sshfs,
 * fuse.glusterfs, fuse.rclone; `fuseblk`): see isShareType. A local disk's (ext4, xfs, btrfs, zfs),
 * tmpfs, overlay and bind mounts of those do not.
 */
export const SHARE_FS_TYPES: ReadonlySet<string> = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ceph', 'glusterfs', 'lustre', 'gpfs', 'beegfs', 'afs', 'ocfs2', 'gfs2', '9p', 'virtiofs',
]);

/** isShareType tells whether a file system type is a network or FUSE file system (SHARE_FS_TYPES, or fuse*). */
export function isShareType(fstype: string): boolean {
  return SHARE_FS_TYPES.has(fstype) || fstype === 'fuse' || fstype === 'fuseblk' || fstype.startsWith('fuse.');
}

/** MOUNTINFO is where this process's mounts are listed (its own mount namespace: the worker's view). */
export const MOUNTINFO = '/proc/self/mountinfo';

// devKey renders a stat's st_dev as mountinfo's "major:minor" (glibc's gnu_dev_major/minor encoding).
function devKey(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * fsTypeOf returns the type of the file system with device `dev` (a stat's st_dev), or undefined when
 * none of this process's mounts has it. Matching by device rather than by path needs no path resolved
 * through the host root; bind mounts of one file system share its device and its type.
 */
export async function fsTypeOf(dev: number, mountinfo = MOUNTINFO): Promise<string | undefined> {
  const key = devKey(dev);
  for (const line of (await readFile(mountinfo, 'utf8')).split('\n')) {
    // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw": the fields before " - " vary.
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.split(' ', 3)[2] !== key) continue;
    return line.slice(sep + 3).split(' ', 1)[0];
  }
  return undefined;
}
