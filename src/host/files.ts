// The hosts' file system as warden sees it under --host-root: the observation of spec.volumes before a
// pass (HostPort.inspectPaths) and the one implementation of the file port (fix). In `warden run` and
// `apply` it runs inside the host worker (./worker.ts, driven by ./isolated.ts), so that a hung share
// blocks that process, never warden's own threads. Safety rules, kept by both sides because the tree may
// change between observing and fixing:
// - a path is walked by directory descriptors, one component at a time, each opened relative to its
//   parent's descriptor (`/proc/self/fd/N/<name>`, which is openat(N, name)) with O_NOFOLLOW: a symlink
//   anywhere is refused, never followed, and a directory swapped for a symlink between two steps is never
//   followed either, since no step resolves the path from the root again; mkdir, chown and chmod go
//   through the same descriptors;
// - an existing directory is changed only on a mounted share (another file system than the host root's
//   own) or below one of policy.volumeRoots, so that a local directory such as /root/.ssh can never be
//   taken for a volume; a missing one is created only on a share (with `mount` set, only while that mount
//   point is mounted; without it, only when the nearest existing parent is on a network or FUSE file
//   system, ./mounts.ts: an unmounted NAS leaves an empty directory on the local disk, or on a separate
//   local partition such as /srv, which must stay empty), or below an existing volume root;
// - a recursive fix never crosses into another mount below the directory, never changes a hard-linked
//   file (its other name may be anywhere on that file system), and stops at a budget, to go on next pass;
// - what cannot be read below a recursive volume is an error of that volume, never "nothing differs";
//   a change the host refuses (EPERM, EACCES, EROFS: a root-squashed NFS share) is a FileRefusedError,
//   which the controller holds with a backoff instead of retrying every pass.
import { lchown, mkdir, type FileHandle } from 'node:fs/promises';
import type { DesiredVolume } from '../desired-state/types.js';
import type { BelowObservation, FileObservation } from '../reconcilers/types.js';
import { changeDirectory, differs, inDir, openStep, ownership, refusedByHost, unreadable, type Wanted } from './descriptors.js';
import { FileRefusedError, type FilePort, type FixOptions, type FixResult, type VolumeFix } from './port.js';
import { cannotCreate, notOnShare } from './rules.js';
import { walkTree } from './tree.js';
import { closeWalked, unmounted, walkPath, withBase, type Missing } from './walk.js';

/** DEFAULT_SCAN_BUDGET bounds one observation below a recursive volume: 100,000 entries or 5 s (a NAS answers slowly). */
export const DEFAULT_SCAN_BUDGET = { entries: 100_000, ms: 5_000 };
/** DEFAULT_FIX_BUDGET bounds one recursive fix: 5,000 changed entries or 2 s, whichever comes first. */
export const DEFAULT_FIX_BUDGET = { entries: 5_000, ms: 2_000 };

export { octal } from './descriptors.js';

/** HostFilesOptions configure the host root and the budgets. */
export interface HostFilesOptions {
  /** root is where the hosts' `/` is seen (--host-root; default `/`). */
  root?: string;
  /** scanBudget is DEFAULT_SCAN_BUDGET unless given. */
  scanBudget?: { entries: number; ms: number };
  /** fixBudget is DEFAULT_FIX_BUDGET unless given. */
  fixBudget?: { entries: number; ms: number };
  /**
   * onStep is called after each path component is opened or created (its host path), before the next
   * step; none by default. Tests use it to change the tree between two steps, as a racing container would.
   */
  onStep?: (hostPath: string) => void | Promise<void>;
}

/** HostFiles observes and fixes spec.volumes under one host root. */
export class HostFiles implements FilePort {
  private readonly root: string;
  private readonly scanBudget: { entries: number; ms: number };
  private readonly fixBudget: { entries: number; ms: number };
  private readonly onStep: ((hostPath: string) => void | Promise<void>) | undefined;

  constructor(opts: HostFilesOptions = {}) {
    this.root = opts.root ?? '/';
    this.scanBudget = opts.scanBudget ?? DEFAULT_SCAN_BUDGET;
    this.fixBudget = opts.fixBudget ?? DEFAULT_FIX_BUDGET;
    this.onStep = opts.onStep;
  }

  /** inspectPaths reports each volume path under the host root; it never follows a symlink and never writes. */
  async inspectPaths(volumes: readonly DesiredVolume[], signal?: AbortSignal): Promise<Map<string, FileObservation>> {
    const out = new Map<string, FileObservation>();
    for (const v of volumes) {
      signal?.throwIfAborted();
      out.set(v.path, await this.inspect(v, signal).catch((err: NodeJS.ErrnoException) => ({ kind: 'refused' as const, why: unreadable(err) })));
    }
    return out;
  }

  private async inspect(v: DesiredVolume, signal?: AbortSignal): Promise<FileObservation> {
    return withBase(this.root, async (base) => {
      const gone = await unmounted(base, v.mount, this.onStep);
      if (gone) return { kind: 'refused', why: gone };
      const walked = await walkPath(base, v.path, this.onStep);
      try {
        switch (walked.kind) {
          case 'refused':
            return walked;
          case 'missing': {
            const why = await cannotCreate(base, v, walked);
            return why ? { kind: 'refused', why } : { kind: 'missing' };
          }
          case 'directory': {
            const why = notOnShare(base, v, walked.stat);
            if (why) return { kind: 'refused', why };
            const { uid, gid, mode } = walked.stat;
            const obs: FileObservation = { kind: 'directory', uid, gid, mode: mode & 0o7777 };
            if (v.recursive) obs.below = await this.scan(walked.dir, v.path, walked.stat.dev, v, signal);
            return obs;
          }
          default:
            return assertNever(walked);
        }
      } finally {
        await closeWalked(walked);
      }
    });
  }

  /** fix makes the directory (and, recursively, its tree within the budget) what the action asks for. */
  async fix(action: VolumeFix, opts: FixOptions = {}): Promise<FixResult> {
    return withBase(this.root, async (base) => {
      const gone = await unmounted(base, action.mount, this.onStep);
      if (gone) throw new FileRefusedError(gone);
      const walked = await walkPath(base, action.path, this.onStep);
      let dir: FileHandle | undefined;
      try {
        let changed = 0;
        let created = false;
        switch (walked.kind) {
          case 'refused':
            throw new FileRefusedError(walked.why);
          case 'missing': {
            const why = await cannotCreate(base, action, walked);
            if (why) throw new FileRefusedError(why);
            dir = await this.create(walked, action.path, opts, () => (changed += 1));
            created = true;
            break;
          }
          case 'directory': {
            const why = notOnShare(base, action, walked.stat);
            if (why) throw new FileRefusedError(why);
            dir = walked.dir;
            break;
          }
          default:
            return assertNever(walked);
        }
        // The volume's own directory is not reported through onChange: the controller's one line for the
        // action says it.
        if (await changeDirectory(dir, action.path, action, created)) changed += 1;
        if (!action.recursive) return { changed, remaining: false };
        const below = await this.fixBelow(dir, action, opts);
        return { changed: changed + below.changed, remaining: below.remaining };
      } finally {
        if (dir && dir !== (walked.kind === 'directory' ? walked.dir : undefined)) await dir.close();
        await closeWalked(walked);
      }
    });
  }

  // create makes the missing components one at a time (mkdir -p), each relative to the descriptor of
  // the one above it, and returns the new volume directory's O_PATH descriptor. A component that
  // appeared meanwhile is used if it is a real directory; mkdir never follows a symlink in its last
  // component, and the open after it refuses one.
  private async create(walked: Missing, hostPath: string, opts: FixOptions, count: () => void): Promise<FileHandle> {
    let parent = walked.parent;
    let here = walked.ancestor === '/' ? '' : walked.ancestor;
    try {
      for (const name of walked.missing) {
        here = `${here}/${name}`;
        try {
          await mkdir(inDir(parent, name), { mode: 0o755 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw refusedByHost(err, `cannot create ${here}`);
        }
        const child = await openStep(parent, name, here);
        if (parent !== walked.parent) await parent.close();
        parent = child;
        if (here !== hostPath) {
          count();
          opts.onChange?.({ path: here, created: true, before: undefined, after: ownership(await child.stat()) });
        }
        await this.onStep?.(here);
      }
      return parent;
    } catch (err) {
      if (parent !== walked.parent) await parent.close();
      throw err;
    }
  }

  private async fixBelow(top: FileHandle, want: VolumeFix, opts: FixOptions): Promise<FixResult> {
    // The time budget starts at the first change: re-walking what is already right (a fresh process has
    // no cursor) must not use it up, or a loaded machine would make no progress at all. That re-walk is
    // bounded like a scan.
    const skipDeadline = performance.now() + this.scanBudget.ms;
    let deadline: number | undefined;
    let changed = 0;
    const topStat = await top.stat();
    const stopped = await walkTree(top, want.path, topStat.dev, this.cursors.get(want.path), this.onStep, async (ref, rel, st) => {
      const now = performance.now();
      if (changed >= this.fixBudget.entries || now >= (deadline ?? skipDeadline) || opts.signal?.aborted) return 'stop';
      if (!differs(st, want)) return 'next';
      deadline ??= now + this.fixBudget.ms;
      const hostPath = `${want.path}/${rel.join('/')}`;
      if (st.isDirectory()) {
        const fh = await openStep(ref.dir, ref.name, hostPath);
        try {
          if (await changeDirectory(fh, hostPath, want, false, opts.onChange)) changed += 1;
        } finally {
          await fh.close();
        }
      } else {
        // lchown changes a symlink itself; the entry is named inside the directory warden holds open.
        try {
          await lchown(inDir(ref.dir, ref.name), want.owner, want.group ?? st.gid);
        } catch (err) {
          throw refusedByHost(err, `cannot chown ${hostPath}`);
        }
        changed += 1;
        opts.onChange?.({ path: hostPath, created: false, before: ownership(st), after: ownership({ uid: want.owner, gid: want.group ?? st.gid, mode: st.mode }) });
      }
      return 'next';
    });
    // The cursor lets the next pass start where this one stopped (in `run`; a one-shot apply starts over).
    if (stopped) this.cursors.set(want.path, stopped);
    else this.cursors.delete(want.path);
    return { changed, remaining: stopped !== undefined };
  }

  private async scan(top: FileHandle, hostPath: string, dev: number, want: Wanted, signal?: AbortSignal): Promise<BelowObservation> {
    const below: BelowObservation = { differ: 0, scanned: 0, skipped: 0, truncated: false };
    const deadline = performance.now() + this.scanBudget.ms;
    const stopped = await walkTree(top, hostPath, dev, undefined, this.onStep, (_ref, _rel, st) => {
      if (below.scanned >= this.scanBudget.entries || performance.now() >= deadline || signal?.aborted) return 'stop';
      below.scanned += 1;
      if (differs(st, want)) below.differ += 1;
      return 'next';
    }, () => {
      below.skipped += 1;
    });
    below.truncated = stopped !== undefined;
    return below;
  }

  // Where each recursive fix stopped (relative path components of the next entry), by volume path.
  private readonly cursors = new Map<string, string[]>();
}

function assertNever(x: never): never {
  throw new Error(`unhandled ${JSON.stringify(x)}`);
}
