// The walk from the host root to a volume's path: one component at a time, each opened relative to its
// parent's descriptor with O_NOFOLLOW, so that a symlink anywhere is refused, never followed, and a
// directory swapped for a symlink between two steps is never followed either.
import { constants, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { cannotRead, inDir, notADirectory, O_PATH, WALK_FLAGS } from './descriptors.js';

/** Base is the host root, held open for one call. */
export interface Base {
  dir: FileHandle;
  stat: Stats;
}

/** Walked is what a walk found. `dir` and `parent` are O_PATH descriptors that the caller closes (closeWalked). */
export type Walked =
  | { kind: 'directory'; dir: FileHandle; stat: Stats; parentStat: Stats }
  | { kind: 'missing'; ancestor: string; parent: FileHandle; parentStat: Stats; missing: string[] }
  | { kind: 'refused'; why: string };

/** Missing is a walk that ended at a component that does not exist. */
export type Missing = Extract<Walked, { kind: 'missing' }>;

/** OnStep is called after each path component is opened or created (its host path), before the next step. */
export type OnStep = ((hostPath: string) => void | Promise<void>) | undefined;

/**
 * withBase opens the host root for one call. The root itself may be a symlink (e.g. /host -> /mnt/host):
 * that one is resolved, once per call, and held open while the call walks below it.
 */
export async function withBase<T>(root: string, fn: (base: Base) => Promise<T>): Promise<T> {
  const dir = await open(await realpath(root), O_PATH | constants.O_DIRECTORY);
  try {
    return await fn({ dir, stat: await dir.stat() });
  } finally {
    await dir.close();
  }
}

/**
 * walkPath opens each component of a host path below the root relative to the one above it, refusing
 * symlinks and non-directories. Only the last descriptor (or, for a missing path, the nearest existing
 * parent's) stays open, for the caller.
 */
export async function walkPath(base: Base, hostPath: string, onStep: OnStep): Promise<Walked> {
  const parts = hostPath.split('/').filter((p) => p !== '');
  if (parts.length === 0) return { kind: 'refused', why: 'warden will not manage the host root itself' };
  if (parts.some((p) => p === '..' || p === '.')) return { kind: 'refused', why: `${hostPath} is not a normalized path` };
  let prefix = '';
  let parent = base.dir;
  let parentStat = base.stat;
  const release = async (): Promise<void> => {
    if (parent !== base.dir) await parent.close();
  };
  try {
    for (let i = 0; i < parts.length; i += 1) {
      const part = parts[i]!;
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
      await onStep?.(here);
    }
  } catch (err) {
    await release();
    throw err;
  }
  throw new Error('unreachable');
}

/** closeWalked closes what a walk left open; closing twice is harmless. */
export async function closeWalked(walked: Walked): Promise<void> {
  if (walked.kind === 'directory') await walked.dir.close().catch(() => undefined);
  if (walked.kind === 'missing') await walked.parent.close().catch(() => undefined);
}

/** unmounted says why a volume's mount is not there (undefined when it is, or when none is named). */
export async function unmounted(base: Base, mount: string | undefined, onStep: OnStep): Promise<string | undefined> {
  if (mount === undefined) return undefined;
  const walked = await walkPath(base, mount, onStep);
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
