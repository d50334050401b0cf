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
//   point is mounted; without it, only when the nearest existing parent is on another file system than
//   the host root: an unmounted NAS leaves an empty directory on the local disk, which must stay empty),
//   or below an existing volume root;
// - a recursive fix never crosses into another mount below the directory, never changes a hard-linked
//   file (its other name may be anywhere on that file system), and stops at a budget, to go on next pass;
// - what cannot be read below a recursive volume is an error of that volume, never "nothing differs";
//   a change the host refuses (EPERM, EACCES, EROFS: a root-squashed NFS share) is a FileRefusedError,
//   which the controller holds with a backoff instead of retrying every pass.
import { constants, type Stats } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import type { DesiredVolume } from '../desired-state/types.js';
import type { BelowObservation, FileObservation } from '../reconcilers/types.js';
import { FileRefusedError, type FileChange, type FilePort, type FixOptions, type FixResult, type Ownership, type VolumeFix } from './port.js';

/** DEFAULT_SCAN_BUDGET bounds one observation below a recursive volume: 100,000 entries or 5 s (a NAS answers slowly). */
export const DEFAULT_SCAN_BUDGET = { entries: 100_000, ms: 5_000 };
/** DEFAULT_FIX_BUDGET bounds one recursive fix: 5,000 changed entries or 2 s, whichever comes first. */
export const DEFAULT_FIX_BUDGET = { entries: 5_000, ms: 2_000 };

// O_PATH (Linux): a descriptor that names a directory without opening it for reading, enough to walk
// through it and to fstat it (like lstat, it needs search permission only). Node does not export it.
const O_PATH = 0o10000000;
const WALK_FLAGS = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;

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

type Wanted = Pick<DesiredVolume, 'owner' | 'group' | 'mode'>;
type Target = { path: string; mount?: string; root?: string };

// The host root, held open for one call.
interface Base {
  dir: FileHandle;
  stat: Stats;
}

// What a walk found. `dir` and `parent` are O_PATH descriptors that the caller closes (closeWalked).
type Walked =
  | { kind: 'directory'; dir: FileHandle; stat: Stats; parentStat: Stats }
  | { kind: 'missing'; ancestor: string; parent: FileHandle; parentStat: Stats; missing: string[] }
  | { kind: 'refused'; why: string };

/** octal renders permission bits as the file does, e.g. "0700" or "2775". */
export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
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
    return this.withBase(async (base) => {
      const unmounted = await this.unmounted(base, v.mount);
      if (unmounted) return { kind: 'refused', why: unmounted };
      const walked = await this.walk(base, v.path);
      try {
        switch (walked.kind) {
          case 'refused':
            return walked;
          case 'missing': {
            const why = cannotCreate(base, v, walked);
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
    return this.withBase(async (base) => {
      const unmounted = await this.unmounted(base, action.mount);
      if (unmounted) throw new FileRefusedError(unmounted);
      const walked = await this.walk(base, action.path);
      let dir: FileHandle | undefined;
      try {
        let changed = 0;
        let created = false;
        switch (walked.kind) {
          case 'refused':
            throw new FileRefusedError(walked.why);
          case 'missing': {
            const why = cannotCreate(base, action, walked);
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
  private async create(walked: Extract<Walked, { kind: 'missing' }>, hostPath: string, opts: FixOptions, count: () => void): Promise<FileHandle> {
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

  // The host root itself may be a symlink (e.g. /host -> /mnt/host): that one is resolved, once per call,
  // and held open while the call walks below it.
  private async withBase<T>(fn: (base: Base) => Promise<T>): Promise<T> {
    const dir = await open(await realpath(this.root), O_PATH | constants.O_DIRECTORY);
    try {
      return await fn({ dir, stat: await dir.stat() });
    } finally {
      await dir.close();
    }
  }

  // walk opens each component of a host path below the root relative to the one above it, refusing
  // symlinks and non-directories. Only the last descriptor (or, for a missing path, the nearest existing
  // parent's) stays open, for the caller.
  private async walk(base: Base, hostPath: string): Promise<Walked> {
    const parts = hostPath.split('/').filter((p) => p !== '');
    if (parts.length === 0) return { kind: 'refused', why: 'warden will not manage the host root itself' };
    let prefix = '';
    let parent = base.dir;
    let parentStat = base.stat;
    const release = async (): Promise<void> => {
      if (parent !== base.dir) await parent.close();
    };
    try {
      for (let i = 0; i < parts.length; i += 1) {
        const part = parts[i]!;
        if (part === '..' || part === '.') {
          await release();
          return { kind: 'refused', why: `${hostPath} is not a normalized path` };
        }
        const here = `${prefix}/${part}`;
        let child: FileHandle;
        try {
          child = await open(inDir(parent, part), WALK_FLAGS);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') {
            // The caller holds the parent (a new descriptor of the root when nothing exists below it).
            const held = parent === base.dir ? await open(`/proc/self/fd/${base.dir.fd}`, O_PATH | constants.O_DIRECTORY) : parent;
            return { kind: 'missing', ancestor: prefix || '/', parent: held, parentStat, missing: parts.slice(i) };
          }
          if (code === 'ENOTDIR' || code === 'ELOOP') {
            const why = await notADirectory(parent, part, here);
            await release();
            return { kind: 'refused', why };
          }
          throw Object.assign(new Error(`cannot read ${here}: ${code ?? (err as Error).message}`), { code });
        }
        await release();
        parent = child;
        const st = await child.stat().catch((err: unknown) => {
          throw cannotRead(here, err);
        });
        if (i === parts.length - 1) return { kind: 'directory', dir: child, stat: st, parentStat };
        parentStat = st;
        prefix = here;
        await this.onStep?.(here);
      }
    } catch (err) {
      await release();
      throw err;
    }
    throw new Error('unreachable');
  }

  // unmounted says why a volume's mount is not there (undefined when it is, or when none is named).
  private async unmounted(base: Base, mount: string | undefined): Promise<string | undefined> {
    if (mount === undefined) return undefined;
    const walked = await this.walk(base, mount);
    try {
      if (walked.kind === 'refused') return `mount ${mount}: ${walked.why}`;
      if (walked.kind === 'missing') return `mount ${mount} does not exist: warden changes nothing under it`;
      if (walked.parentStat.dev === walked.stat.dev) {
        return `mount ${mount} is not mounted (it is on the same file system as its parent; is the share down?): warden changes nothing under it`;
      }
      return undefined;
    } finally {
      await closeWalked(walked);
    }
  }
}

// underRoot tells whether the path lies at or below its volume root (checked again here: the root
// comes from the desired state, which load.ts already matched against policy.volumeRoots).
function underRoot(v: Target): boolean {
  return v.root !== undefined && (v.path === v.root || v.path.startsWith(`${v.root}/`));
}

// notOnShare says why an existing directory must not be changed (undefined when it may be): on the host
// root's own file system, only below a volume root the operator listed.
function notOnShare(base: Base, v: Target, st: Stats): string | undefined {
  if (st.dev !== base.stat.dev || underRoot(v)) return undefined;
  return `${v.path} is on the host root's own file system, not on a mounted share: warden changes an existing local ` +
    'directory only below policy.volumeRoots (is the share down? or list its root there)';
}

// cannotCreate says why a missing path must not be created (undefined when it may be).
function cannotCreate(base: Base, v: Target, walked: Extract<Walked, { kind: 'missing' }>): string | undefined {
  // With a mount named, unmounted() has already checked that it is mounted, and the path is below it.
  if (v.mount !== undefined) return undefined;
  if (walked.parentStat.dev !== base.stat.dev) return undefined;
  if (underRoot(v)) {
    // Below a volume root, but only once the root itself exists: warden never creates the root.
    const ancestor = walked.ancestor;
    if (ancestor === v.root || ancestor.startsWith(`${v.root}/`)) return undefined;
    return `${v.path} is missing and so is its volume root ${v.root}: warden creates directories below a volume root, never the root itself`;
  }
  return `${v.path} is missing and its nearest parent ${walked.ancestor} is on the host root's own file system, not on a mounted share ` +
    '(is the share down?): warden will not create it on the local disk; name the share in `mount`, or create it by hand';
}

async function closeWalked(walked: Walked): Promise<void> {
  if (walked.kind === 'directory') await walked.dir.close().catch(() => undefined);
  if (walked.kind === 'missing') await walked.parent.close().catch(() => undefined);
}

// inDir names `name` inside the directory held open by `dir`: resolving it is openat(dir, name), since
// the kernel's magic link /proc/self/fd/N leads to that very directory, wherever it now is.
function inDir(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

// openStep opens one more component below `dir` without following a symlink, as an O_PATH descriptor.
async function openStep(dir: FileHandle, name: string, hostPath: string): Promise<FileHandle> {
  try {
    return await open(inDir(dir, name), WALK_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new FileRefusedError(`${hostPath} became a symlink or a file: warden changes nothing through it`);
    if (code === 'ENOENT') throw new FileRefusedError(`${hostPath} vanished while warden changed it`);
    throw err;
  }
}

// notADirectory words why a component that would not open as a directory is refused.
async function notADirectory(parent: FileHandle, name: string, here: string): Promise<string> {
  const st = await lstat(inDir(parent, name)).catch(() => undefined);
  if (st?.isSymbolicLink() ?? true) return `${here} is a symlink: warden never follows one, nor changes anything through it`;
  return `${here} is not a directory`;
}

// unreadable words an error that kept warden from reading a volume.
function unreadable(err: NodeJS.ErrnoException): string {
  return err.message.startsWith('cannot read ') ? err.message : `cannot read it: ${err.code ?? err.message}`;
}

// refusedByHost turns the host's refusal of a change (a root-squashed share answers EPERM to a chown,
// EACCES to a mkdir; a read-only mount EROFS) into a FileRefusedError: retrying every pass cannot help.
function refusedByHost(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') {
    return new FileRefusedError(`${what}: the host refused it (${code}); on a root-squashed NFS share root may not chown or create: ` +
      'fix the export (no_root_squash for warden\'s host) or the ownership by hand', { cause: err });
  }
  return err;
}

/** differs tells whether an entry's owner, group or (directories only) mode differ from what is wanted. */
function differs(st: Pick<Stats, 'uid' | 'gid' | 'mode' | 'isDirectory'>, want: Wanted): boolean {
  if (st.uid !== want.owner) return true;
  if (want.group !== undefined && st.gid !== want.group) return true;
  return st.isDirectory() && want.mode !== undefined && (st.mode & 0o7777) !== want.mode;
}

function ownership(st: { uid: number; gid: number; mode: number }): Ownership {
  return { owner: st.uid, group: st.gid, mode: octal(st.mode) };
}

// changeDirectory changes the directory held by `dir` (an O_PATH descriptor) through a descriptor
// reopened from it: /proc/self/fd/N reopens that very inode, so nothing is resolved by path again.
async function changeDirectory(dir: FileHandle, hostPath: string, want: Wanted, created: boolean, onChange?: (c: FileChange) => void): Promise<boolean> {
  let fh: FileHandle;
  try {
    fh = await open(`/proc/self/fd/${dir.fd}`, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    throw refusedByHost(err, `cannot open ${hostPath}`);
  }
  try {
    const st = await fh.stat();
    const group = want.group ?? st.gid;
    const mode = want.mode ?? st.mode & 0o7777;
    const changeOwner = st.uid !== want.owner || st.gid !== group;
    const changeMode = (st.mode & 0o7777) !== mode;
    if (!changeOwner && !changeMode && !created) return false;
    try {
      // chown first: on some systems it clears set-id bits, which the chmod then puts back.
      if (changeOwner) await fh.chown(want.owner, group);
      if (changeMode || changeOwner) await fh.chmod(mode);
    } catch (err) {
      throw refusedByHost(err, `cannot change ${hostPath}`);
    }
    onChange?.({ path: hostPath, created, before: created ? undefined : ownership(st), after: { owner: want.owner, group, mode: octal(mode) } });
    return true;
  } finally {
    await fh.close();
  }
}

type Step = 'next' | 'stop';

/** EntryRef names one entry of a walk: its name inside the directory the walk holds open. */
interface EntryRef {
  dir: FileHandle;
  name: string;
}

/**
 * walkTree visits every entry below the directory `top` (an open descriptor) depth-first in name order,
 * with its lstat, resuming at `from` (the relative path of the entry to start at). Every directory is
 * opened with O_NOFOLLOW relative to its parent's descriptor: a directory swapped for a symlink while the
 * walk runs is never entered, and nothing is reached through it. Entries on another file system, and
 * hard-linked files, go to onSkip. An entry that vanishes or is swapped meanwhile is passed over; any
 * other error (EACCES, EIO, ESTALE, ENOTCONN) ends the walk with an error naming the entry, so that what
 * cannot be read is never counted as in order. It returns where it stopped (undefined when done).
 */
async function walkTree(
  top: FileHandle,
  topPath: string,
  dev: number,
  from: readonly string[] | undefined,
  onStep: ((hostPath: string) => void | Promise<void>) | undefined,
  visit: (ref: EntryRef, rel: string[], st: Stats) => Promise<Step> | Step,
  onSkip?: () => void,
): Promise<string[] | undefined> {
  return walkOpen(top, { topPath, dev, onStep, visit, onSkip }, [], from);
}

interface TreeWalk {
  topPath: string;
  dev: number;
  onStep: ((hostPath: string) => void | Promise<void>) | undefined;
  visit: (ref: EntryRef, rel: string[], st: Stats) => Promise<Step> | Step;
  onSkip: (() => void) | undefined;
}

async function walkOpen(dir: FileHandle, w: TreeWalk, rel: string[], from: readonly string[] | undefined): Promise<string[] | undefined> {
  const { topPath, dev, visit, onSkip } = w;
  const here = rel.length === 0 ? topPath : `${topPath}/${rel.join('/')}`;
  await w.onStep?.(here);
  let names: string[];
  try {
    // readdir opens the directory afresh through the magic link: the same inode the walk holds.
    names = (await readdir(`/proc/self/fd/${dir.fd}`)).sort();
  } catch (err) {
    if (gone(err)) return undefined;
    throw cannotRead(here, err);
  }
  let resumeAt = from;
  for (const name of names) {
    // Resuming: skip what comes before the cursor; the directory on the cursor's path was visited already.
    let below: readonly string[] | undefined;
    if (resumeAt) {
      if (name < resumeAt[0]!) continue;
      if (name === resumeAt[0] && resumeAt.length > 1) below = resumeAt.slice(1);
      resumeAt = undefined;
    }
    const path = [...rel, name];
    const ref = { dir, name };
    let st: Stats;
    try {
      st = await lstat(inDir(dir, name));
    } catch (err) {
      if (gone(err)) continue;
      throw cannotRead(`${topPath}/${path.join('/')}`, err);
    }
    if (st.dev !== dev || (st.isFile() && st.nlink > 1)) {
      onSkip?.();
      continue;
    }
    if (!below && (await visit(ref, path, st)) === 'stop') return path;
    if (!st.isDirectory()) continue;
    const child = await openDirectory(dir, name, `${topPath}/${path.join('/')}`, dev);
    if (!child) continue;
    try {
      const stopped = await walkOpen(child, w, path, below);
      if (stopped) return stopped;
    } finally {
      await child.close();
    }
  }
  return undefined;
}

// gone tells whether an error means the entry is no longer there as it was seen (removed, or swapped
// for a symlink or a file): passed over, the next pass sees what replaced it.
function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR';
}

function cannotRead(hostPath: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return Object.assign(new Error(`cannot read ${hostPath}: ${code ?? (err as Error).message}`, { cause: err }), { code });
}

// openDirectory opens a directory entry relative to its parent without following a symlink; undefined
// when it is gone, was swapped for something else, or lies on another file system.
async function openDirectory(parent: FileHandle, name: string, hostPath: string, dev: number): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(inDir(parent, name), WALK_FLAGS);
  } catch (err) {
    if (gone(err)) return undefined;
    throw cannotRead(hostPath, err);
  }
  const st = await fh.stat();
  if (!st.isDirectory() || st.dev !== dev) {
    await fh.close();
    return undefined;
  }
  return fh;
}

function assertNever(x: never): never {
  throw new Error(`unhandled ${JSON.stringify(x)}`);
}
