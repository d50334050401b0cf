// Real file systems for the host tests (root only): a tmpfs standing for the NAS, a FUSE mount whose
// server never answers (a hung share: every lookup in it blocks until the connection is aborted) or
// is gone (every lookup fails at once with ENOTCONN, as on a stale NFS handle), and a cgroup v1 freezer
// that holds a process in the kernel so that even SIGKILL does not end it until it is thawed.
// Why FUSE and not NFS: the kernel of the project's machines has no NFS client (no `nfs` in
// /proc/filesystems, no modules to load), so neither a hard NFS mount nor a stopped nfsd can be made
// here; a FUSE mount nobody serves blocks lookups the same way (a killable wait in the kernel, as NFS's
// hard mounts use), and needs no package.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { waitUntil } from './wait.js';

/** isRoot is true when the tests run as root (mounts and chown need it). */
export const isRoot = process.getuid?.() === 0;

/** canFuse is true when this kernel offers FUSE to root (/dev/fuse). */
export const canFuse = isRoot && existsSync('/dev/fuse');

/** FREEZER is the cgroup v1 freezer hierarchy, when the machine has one. */
export const FREEZER = '/sys/fs/cgroup/freezer';

/** canFreeze is true when a cgroup v1 freezer is mounted and writable. */
export const canFreeze = isRoot && existsSync(`${FREEZER}/cgroup.procs`);

function run(cmd: string, args: string[], fds?: number[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', ...(fds ?? [])] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
}

/** mounted tells whether `dir` is a mount point (its device differs from its parent's). */
export function mounted(dir: string): boolean {
  try {
    return statSync(dir).dev !== statSync(dirname(dir)).dev;
  } catch (err) {
    // A dead FUSE mount answers ENOTCONN: it is mounted.
    return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}

/** mountTmpfs mounts a small tmpfs on `dir` (created if missing). */
export function mountTmpfs(dir: string, name = 'warden-test-nas'): void {
  mkdirSync(dir, { recursive: true });
  run('mount', ['-t', 'tmpfs', '-o', 'size=64m', name, dir]);
}

/** canBindfs is true when bindfs (Debian's `bindfs`, a FUSE file system) can stand for a network share. */
export const canBindfs = canFuse && spawnSync('bindfs', ['--version']).status === 0;

/**
 * mountShare mounts `backing` on `dir` with bindfs: a FUSE file system (mountinfo's fstype `fuse`), which
 * warden counts as a share as it does NFS or CIFS, served by a real daemon on this machine.
 */
export function mountShare(backing: string, dir: string): void {
  mkdirSync(backing, { recursive: true });
  mkdirSync(dir, { recursive: true });
  run('bindfs', [backing, dir]);
}

/**
 * mountPartition loop-mounts a fresh 16 MiB ext4 image (`image`, made here) on `dir`: a separate local
 * partition, another device than the host root's, as `/srv` on its own disk.
 */
export function mountPartition(image: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  run('truncate', ['-s', '16M', image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  run('mount', ['-o', 'loop', image, dir]);
}

/** HungMount is a FUSE mount that nobody serves; abort() ends the connection (every lookup then fails at once). */
export interface HungMount {
  dir: string;
  abort(): void;
}

/**
 * mountHung mounts FUSE on `dir` with this process holding the device and never answering: any lookup
 * below `dir` (lstat, open) blocks in the kernel, as on a hard NFS mount whose server is gone, until
 * abort() closes the device (or this process exits). Never lstat it from the test's own process while
 * it hangs. Unmount with unmount(dir) after abort().
 */
export function mountHung(dir: string): HungMount {
  mkdirSync(dir, { recursive: true });
  const fd = openSync('/dev/fuse', 'r+');
  try {
    // -i: no mount.fuse helper; the kernel takes the open device as fd 3 of `mount`, inherited from here.
    run('mount', ['-i', '-t', 'fuse', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0', 'warden-test-hung', dir], [fd]);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let open = true;
  return {
    dir,
    abort() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** mountDead mounts FUSE on `dir` and aborts it at once: every lookup in it fails with ENOTCONN. */
export function mountDead(dir: string): void {
  mountHung(dir).abort();
}

/** unmount detaches whatever is mounted on `dir` (lazily, so that a busy or dead mount goes too). */
export function unmount(dir: string): void {
  // No stat first: on a mount that still hangs, it would block. umount -l says "not mounted" otherwise.
  spawnSync('umount', ['-l', dir], { encoding: 'utf8' });
}

/** Freezer is a cgroup v1 freezer group: processes put in it stop in the kernel until thawed. */
export interface Freezer {
  freeze(pid: number): void;
  /** thaw lets every frozen process run again (a killed one then exits), and removes the group once empty. */
  thaw(): Promise<void>;
}

/** createFreezer makes a frozen cgroup named for this test process. */
export function createFreezer(name: string): Freezer {
  const dir = `${FREEZER}/${name}-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/freezer.state`, 'FROZEN');
  return {
    freeze(pid) {
      // A task moved into a frozen group is frozen with it.
      writeFileSync(`${dir}/cgroup.procs`, String(pid));
    },
    async thaw() {
      // Thawing twice (the test, then its finally) is harmless.
      if (!existsSync(dir)) return;
      writeFileSync(`${dir}/freezer.state`, 'THAWED');
      // Killed processes exit once thawed; give them the time to.
      await waitUntil('the thawed processes to exit', () => readFileSync(`${dir}/cgroup.procs`, 'utf8').trim() === '', { timeoutMs: 10_000, intervalMs: 50 })
        .catch(() => undefined);
      // A process still there was not killed: it goes back to the root group, alive, and the group goes.
      for (const pid of readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter((l) => l !== '')) {
        writeFileSync(`${FREEZER}/cgroup.procs`, pid);
      }
      rmdirSync(dir);
    },
  };
}
