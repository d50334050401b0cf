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
import { constants, type Dirent, type Stats } from 'node:fs';
import { lchown, lstat, mkdir, open, opendir, realpath } from 'node:fs/promises';
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
    const deadline = performance.now() + this.fixBudget.ms;
    let changed = 0;
    let remaining = false;
    await walkBelow(top, dev, async (abs, st) => {
      // The clock is checked at every entry: a large tree that is mostly right must not hold the pass either.
      if (performance.now() >= deadline || opts.signal?.aborted) {
        remaining = true;
        return false;
      }
      if (!differs(st, want)) return true;
      const hostPath = this.hostPath(abs);
      if (st.isDirectory()) {
        if (await changeDirectory(abs, hostPath, want, false, opts.onChange)) changed += 1;
      } else {
        // lchown changes a symlink itself, and a file that became a symlink since the lstat stays safe.
        await lchown(abs, want.owner, want.group ?? st.gid);
        changed += 1;
        opts.onChange?.({ path: hostPath, created: false, before: ownership(st), after: ownership({ uid: want.owner, gid: want.group ?? st.gid, mode: st.mode }) });
      }
      if (changed >= this.fixBudget.entries) {
        remaining = true;
        return false;
      }
      return true;
    });
    return { changed, remaining };
  }

  private async scan(top: string, dev: number, want: Wanted, signal?: AbortSignal): Promise<BelowObservation> {
    const below: BelowObservation = { differ: 0, scanned: 0, skipped: 0, truncated: false };
    const deadline = performance.now() + this.scanBudget.ms;
    await walkBelow(top, dev, (_abs, st) => {
      below.scanned += 1;
      if (differs(st, want)) below.differ += 1;
      if (below.scanned >= this.scanBudget.entries || performance.now() >= deadline || signal?.aborted) {
        below.truncated = true;
        return false;
      }
      return true;
    }, () => {
      below.skipped += 1;
    });
    return below;
  }

  private hostPath(abs: string): string {
    const rel = path.relative(this.resolvedRoot ?? this.root, abs);
    return `/${rel}`;
  }

  private resolvedRoot: string | undefined;

  // The host root itself may be a symlink (e.g. /host -> /mnt/host): that one is resolved, once per call.
  private async base(): Promise<{ root: string; stat: Stats }> {
    const root = await realpath(this.root);
    this.resolvedRoot = root;
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

// walkBelow visits every entry below `top` depth-first with its lstat, never following a symlink and
// never entering another file system or changing a hard-linked file (those go to onSkip). `visit`
// returns false to stop.
async function walkBelow(
  top: string,
  dev: number,
  visit: (abs: string, st: Stats) => Promise<boolean> | boolean,
  onSkip?: (abs: string) => void,
): Promise<void> {
  const stack = [top];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      // The directory went away or was swapped since it was listed: the next pass sees the new tree.
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes((err as NodeJS.ErrnoException).code ?? '')) continue;
      throw err;
    }
    for await (const entry of handle as AsyncIterable<Dirent>) {
      const abs = path.join(dir, entry.name);
      let st: Stats;
      try {
        st = await lstat(abs);
      } catch {
        continue;
      }
      if (st.dev !== dev || (st.isFile() && st.nlink > 1)) {
        onSkip?.(abs);
        continue;
      }
      if (!(await visit(abs, st))) return;
      if (st.isDirectory()) stack.push(abs);
    }
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled ${JSON.stringify(x)}`);
}
