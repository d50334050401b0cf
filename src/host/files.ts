// The hosts' file system as warden sees it under --host-root: the observation of spec.volumes before a
// pass (HostPort.inspectPaths) and the one implementation of the file port (fix). Safety rules, kept by
// both sides because the tree may change between observing and fixing:
// - every component of a path below the host root is lstat'ed: a symlink anywhere is refused, never
//   followed, and nothing is changed through it (directories are opened with O_NOFOLLOW and changed
//   through the descriptor; other entries with lchown);
// - a missing directory is created only on a shared mount: with `mount` set, only while that mount point
//   is mounted; without it, only when the nearest existing parent is on another file system than the
//   host root (an unmounted NAS leaves an empty directory on the local disk, which must stay empty);
// - a recursive fix never crosses into another mount below the directory, never changes a hard-linked
//   file (its other name may be anywhere on that file system), and stops at a budget, to go on next pass.
import { constants, type Stats } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { DesiredVolume } from '../desired-state/types.js';
import type { BelowObservation, FileObservation } from '../reconcilers/types.js';
import { FileRefusedError, type FileChange, type FilePort, type FixOptions, type FixResult, type Ownership, type VolumeFix } from './port.js';

/** DEFAULT_SCAN_BUDGET bounds one observation below a recursive volume: 100,000 entries or 5 s (a NAS answers slowly). */
export const DEFAULT_SCAN_BUDGET = { entries: 100_000, ms: 5_000 };
/** DEFAULT_FIX_BUDGET bounds one recursive fix: 5,000 changed entries or 2 s, whichever comes first. */
export const DEFAULT_FIX_BUDGET = { entries: 5_000, ms: 2_000 };

/** HostFilesOptions configure the host root and the budgets. */
export interface HostFilesOptions {
  /** root is where the hosts' `/` is seen (--host-root; default `/`). */
  root?: string;
  /** scanBudget is DEFAULT_SCAN_BUDGET unless given. */
  scanBudget?: { entries: number; ms: number };
  /** fixBudget is DEFAULT_FIX_BUDGET unless given. */
  fixBudget?: { entries: number; ms: number };
}

type Wanted = Pick<DesiredVolume, 'owner' | 'group' | 'mode'>;

type Walked =
  | { kind: 'directory'; abs: string; stat: Stats }
  | { kind: 'missing'; ancestor: string; ancestorStat: Stats; missing: string[] }
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

  constructor(opts: HostFilesOptions = {}) {
    this.root = opts.root ?? '/';
    this.scanBudget = opts.scanBudget ?? DEFAULT_SCAN_BUDGET;
    this.fixBudget = opts.fixBudget ?? DEFAULT_FIX_BUDGET;
  }

  /** inspectPaths reports each volume path under the host root; it never follows a symlink and never writes. */
  async inspectPaths(volumes: readonly DesiredVolume[], signal?: AbortSignal): Promise<Map<string, FileObservation>> {
    const out = new Map<string, FileObservation>();
    for (const v of volumes) {
      signal?.throwIfAborted();
      out.set(v.path, await this.inspect(v, signal).catch((err: NodeJS.ErrnoException) => ({ kind: 'refused' as const, why: `cannot read it: ${err.code ?? err.message}` })));
    }
    return out;
  }

  private async inspect(v: DesiredVolume, signal?: AbortSignal): Promise<FileObservation> {
    const base = await this.base();
    const unmounted = await this.unmounted(base, v.mount);
    if (unmounted) return { kind: 'refused', why: unmounted };
    const walked = await this.walk(base, v.path);
    switch (walked.kind) {
      case 'refused':
        return walked;
      case 'missing': {
        const why = this.cannotCreate(base, v, walked);
        return why ? { kind: 'refused', why } : { kind: 'missing' };
      }
      case 'directory': {
        const { uid, gid, mode } = walked.stat;
        const obs: FileObservation = { kind: 'directory', uid, gid, mode: mode & 0o7777 };
        if (v.recursive) obs.below = await this.scan(walked.abs, walked.stat.dev, v, signal);
        return obs;
      }
      default:
        return assertNever(walked);
    }
  }

  /** fix makes the directory (and, recursively, its tree within the budget) what the action asks for. */
  async fix(action: VolumeFix, opts: FixOptions = {}): Promise<FixResult> {
    const base = await this.base();
    const unmounted = await this.unmounted(base, action.mount);
    if (unmounted) throw new FileRefusedError(unmounted);
    let walked = await this.walk(base, action.path);
    let changed = 0;
    if (walked.kind === 'missing') {
      const why = this.cannotCreate(base, action, walked);
      if (why) throw new FileRefusedError(why);
      // mkdir -p, one level at a time: each parent was just seen to be a real directory, and mkdir
      // itself never follows a symlink in its last component.
      for (const p of walked.missing) {
        await mkdir(path.join(base.root, p), { mode: 0o755 });
        const st = await lstat(path.join(base.root, p));
        if (p !== action.path) {
          changed += 1;
          opts.onChange?.({ path: p, created: true, before: undefined, after: ownership(st) });
        }
      }
      walked = await this.walk(base, action.path);
      const made = await this.fixDirectory(walked, action, action.path, true);
      changed += made ? 1 : 0;
    } else {
      changed += (await this.fixDirectory(walked, action, action.path, false)) ? 1 : 0;
    }
    if (!action.recursive || walked.kind !== 'directory') return { changed, remaining: false };
    const below = await this.fixBelow(walked.abs, walked.stat.dev, action, opts);
    return { changed: changed + below.changed, remaining: below.remaining };
  }

  private async fixDirectory(walked: Walked, want: Wanted, hostPath: string, created: boolean): Promise<boolean> {
    if (walked.kind === 'refused') throw new FileRefusedError(walked.why);
    if (walked.kind === 'missing') throw new FileRefusedError(`${hostPath} vanished while warden created it`);
    // The volume's own directory is not reported here: the controller's one line for the action says it.
    return changeDirectory(walked.abs, hostPath, want, created);
  }

  private async fixBelow(top: string, dev: number, want: VolumeFix, opts: FixOptions): Promise<FixResult> {
    // The time budget starts at the first change: re-walking what is already right (a fresh process has
    // no cursor) must not use it up, or a loaded machine would make no progress at all. That re-walk is
    // bounded like a scan.
    const skipDeadline = performance.now() + this.scanBudget.ms;
    let deadline: number | undefined;
    let changed = 0;
    const stopped = await walkTree(top, dev, this.cursors.get(want.path), async (ref, rel, st) => {
      const now = performance.now();
      if (changed >= this.fixBudget.entries || now >= (deadline ?? skipDeadline) || opts.signal?.aborted) return 'stop';
      if (!differs(st, want)) return 'next';
      deadline ??= now + this.fixBudget.ms;
      const hostPath = `${want.path}/${rel.join('/')}`;
      if (st.isDirectory()) {
        if (await changeDirectory(ref, hostPath, want, false, opts.onChange)) changed += 1;
      } else {
        // lchown changes a symlink itself; ref names the entry inside the directory warden holds open.
        await lchown(ref, want.owner, want.group ?? st.gid);
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

  private async scan(top: string, dev: number, want: Wanted, signal?: AbortSignal): Promise<BelowObservation> {
    const below: BelowObservation = { differ: 0, scanned: 0, skipped: 0, truncated: false };
    const deadline = performance.now() + this.scanBudget.ms;
    const stopped = await walkTree(top, dev, undefined, (_ref, _rel, st) => {
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

  // The host root itself may be a symlink (e.g. /host -> /mnt/host): that one is resolved, once per call.
  private async base(): Promise<{ root: string; stat: Stats }> {
    const root = await realpath(this.root);
    return { root, stat: await lstat(root) };
  }

  // walk lstats each component of a host path below the root, refusing symlinks and non-directories.
  private async walk(base: { root: string }, hostPath: string): Promise<Walked> {
    const parts = hostPath.split('/').filter((p) => p !== '');
    let prefix = '';
    let parentStat = await lstat(base.root);
    for (let i = 0; i < parts.length; i += 1) {
      const part = parts[i]!;
      if (part === '..' || part === '.') return { kind: 'refused', why: `${hostPath} is not a normalized path` };
      const here = `${prefix}/${part}`;
      const abs = path.join(base.root, here);
      let st: Stats;
      try {
        st = await lstat(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        const missing: string[] = [];
        for (let j = i; j < parts.length; j += 1) missing.push(`/${parts.slice(0, j + 1).join('/')}`);
        return { kind: 'missing', ancestor: prefix || '/', ancestorStat: parentStat, missing };
      }
      if (st.isSymbolicLink()) return { kind: 'refused', why: `${here} is a symlink: warden never follows one, nor changes anything through it` };
      if (!st.isDirectory()) return { kind: 'refused', why: `${here} is not a directory` };
      prefix = here;
      parentStat = st;
      if (i === parts.length - 1) return { kind: 'directory', abs, stat: st };
    }
    return { kind: 'refused', why: 'warden will not manage the host root itself' };
  }

  // unmounted says why a volume's mount is not there (undefined when it is, or when none is named).
  private async unmounted(base: { root: string; stat: Stats }, mount: string | undefined): Promise<string | undefined> {
    if (mount === undefined) return undefined;
    const walked = await this.walk(base, mount);
    if (walked.kind === 'refused') return `mount ${mount}: ${walked.why}`;
    if (walked.kind === 'missing') return `mount ${mount} does not exist: warden changes nothing under it`;
    const parent = path.dirname(walked.abs);
    const parentStat = await lstat(parent);
    if (parentStat.dev === walked.stat.dev) {
      return `mount ${mount} is not mounted (it is on the same file system as its parent; is the share down?): warden changes nothing under it`;
    }
    return undefined;
  }

  // cannotCreate says why a missing path must not be created (undefined when it may be).
  private cannotCreate(base: { stat: Stats }, v: { path: string; mount?: string }, walked: Extract<Walked, { kind: 'missing' }>): string | undefined {
    // With a mount named, unmounted() has already checked that it is mounted, and the path is below it.
    if (v.mount !== undefined) return undefined;
    if (walked.ancestorStat.dev === base.stat.dev) {
      return `${v.path} is missing and its nearest parent ${walked.ancestor} is on the host root's own file system, not on a mounted share ` +
        '(is the share down?): warden will not create it on the local disk; name the share in `mount`, or create it by hand';
    }
    return undefined;
  }
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

// changeDirectory opens the directory without following a symlink and changes it through the
// descriptor, so that a directory swapped for a symlink since it was observed is refused (ELOOP).
async function changeDirectory(abs: string, hostPath: string, want: Wanted, created: boolean, onChange?: (c: FileChange) => void): Promise<boolean> {
  let fh;
  try {
    fh = await open(abs, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new FileRefusedError(`${hostPath} became a symlink or a file: warden changes nothing through it`);
    throw err;
  }
  try {
    const st = await fh.stat();
    const group = want.group ?? st.gid;
    const mode = want.mode ?? st.mode & 0o7777;
    const changeOwner = st.uid !== want.owner || st.gid !== group;
    const changeMode = (st.mode & 0o7777) !== mode;
    if (!changeOwner && !changeMode && !created) return false;
    // chown first: on some systems it clears set-id bits, which the chmod then puts back.
    if (changeOwner) await fh.chown(want.owner, group);
    if (changeMode || changeOwner) await fh.chmod(mode);
    onChange?.({ path: hostPath, created, before: created ? undefined : ownership(st), after: { owner: want.owner, group, mode: octal(mode) } });
    return true;
  } finally {
    await fh.close();
  }
}

type Step = 'next' | 'stop';

/**
 * walkTree visits every entry below the directory `top` depth-first in name order, with its lstat,
 * resuming at `from` (the relative path of the entry to start at). Every directory is opened with
 * O_NOFOLLOW and its entries are reached through /proc/self/fd/N/<name>, as openat would: a directory
 * swapped for a symlink while the walk runs is never entered, and nothing is reached through it. Entries
 * on another file system, and hard-linked files, go to onSkip. It returns where it stopped (undefined when
 * done).
 */
async function walkTree(
  top: string,
  dev: number,
  from: readonly string[] | undefined,
  visit: (ref: string, rel: string[], st: Stats) => Promise<Step> | Step,
  onSkip?: () => void,
): Promise<string[] | undefined> {
  const fh = await openDirectory(top, dev);
  if (!fh) return undefined;
  try {
    return await walkOpen(`/proc/self/fd/${fh.fd}`, [], dev, from, visit, onSkip);
  } finally {
    await fh.close();
  }
}

async function walkOpen(
  dir: string,
  rel: string[],
  dev: number,
  from: readonly string[] | undefined,
  visit: (ref: string, rel: string[], st: Stats) => Promise<Step> | Step,
  onSkip?: () => void,
): Promise<string[] | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return undefined;
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
    const ref = `${dir}/${name}`;
    let st: Stats;
    try {
      st = await lstat(ref);
    } catch {
      continue;
    }
    if (st.dev !== dev || (st.isFile() && st.nlink > 1)) {
      onSkip?.();
      continue;
    }
    const path = [...rel, name];
    if (!below && (await visit(ref, path, st)) === 'stop') return path;
    if (!st.isDirectory()) continue;
    const child = await openDirectory(ref, dev);
    if (!child) continue;
    try {
      const stopped = await walkOpen(`/proc/self/fd/${child.fd}`, path, dev, below, visit, onSkip);
      if (stopped) return stopped;
    } finally {
      await child.close();
    }
  }
  return undefined;
}

// openDirectory opens a directory without following a symlink; undefined when it is gone, was swapped
// for something else, or lies on another file system.
async function openDirectory(ref: string, dev: number): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(ref, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
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
