// The soak's "NAS": a tmpfs mounted under the host root that warden's volumes live on, and the means to
// make it hang. A hang is real where the kernel offers FUSE: a FUSE mount stacked on the NAS whose server
// (this process, holding /dev/fuse) never answers, so that every lookup below the NAS blocks in the
// kernel as on a hard NFS mount whose server is gone; ending the hang aborts the connection (blocked
// calls fail with ENOTCONN) and unmounts it, and the tmpfs beneath is the NAS again, its data intact.
// Without FUSE the fault is weaker and says so: the NAS is remounted read-only.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

function run(cmd: string, args: string[], fds: number[] = []): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', ...fds] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
}

/** mountNas mounts a 64 MB tmpfs on `dir` (created if missing). */
export function mountNas(dir: string): void {
  mkdirSync(dir, { recursive: true });
  run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'warden-soak-nas', dir]);
}

/** isMounted tells whether `dir` is a mount point (never call it while the NAS hangs). */
export function isMounted(dir: string): boolean {
  return statSync(dir).dev !== statSync(dirname(dir)).dev;
}

/** unmountAll detaches every mount stacked on `dir` (lazily: a hung or busy one goes too). */
export function unmountAll(dir: string): void {
  for (let i = 0; i < 5; i++) {
    const r = spawnSync('umount', ['-l', dir], { encoding: 'utf8' });
    if (r.status !== 0) return;
  }
}

/** Hang is a NAS fault in progress; end() brings the NAS back. */
export interface Hang {
  /** kind says what the fault really is: `fuse-hang` (lookups block) or `read-only` (writes fail with EROFS). */
  kind: 'fuse-hang' | 'read-only';
  end(): void;
}

/** canHang is true where a real hang is possible (root and /dev/fuse). */
export function canHang(): boolean {
  return process.getuid?.() === 0 && existsSync('/dev/fuse');
}

/** hangNas makes the NAS at `dir` hang (FUSE) or, without FUSE, read-only. */
export function hangNas(dir: string): Hang {
  if (!canHang()) {
    run('mount', ['-o', 'remount,ro', dir]);
    return { kind: 'read-only', end: () => run('mount', ['-o', 'remount,rw', dir]) };
  }
  const fd = openSync('/dev/fuse', 'r+');
  try {
    // -i: no mount.fuse helper; `mount` hands the open device (its fd 3, inherited) to the kernel.
    run('mount', ['-i', '-t', 'fuse', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0', 'warden-soak-hung', dir], [fd]);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  let open = true;
  return {
    kind: 'fuse-hang',
    end() {
      // Closing the device aborts the connection: blocked lookups fail at once; then the stacked mount goes.
      if (open) closeSync(fd);
      open = false;
      spawnSync('umount', ['-l', dir], { encoding: 'utf8' });
    },
  };
}
