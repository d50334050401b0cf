// The walk below a recursive volume: every entry, depth-first in name order, by directory descriptors,
// never crossing into another mount and never entering a directory swapped for a symlink meanwhile.
import type { Stats } from 'node:fs';
import { lstat, open, readdir, type FileHandle } from 'node:fs/promises';
import { cannotRead, inDir, WALK_FLAGS } from './descriptors.js';

/** Step is what a visit tells the walk: go on, or stop here (the walk returns where it stopped). */
export type Step = 'next' | 'stop';

/** EntryRef names one entry of a walk: its name inside the directory the walk holds open. */
export interface EntryRef {
  dir: FileHandle;
  name: string;
}

/** TreeWalk is one walk's fixed parts: where it started, its device, the hooks. */
interface TreeWalk {
  topPath: string;
  dev: number;
  onStep: ((hostPath: string) => void | Promise<void>) | undefined;
  visit: (ref: EntryRef, rel: string[], st: Stats) => Promise<Step> | Step;
  onSkip: (() => void) | undefined;
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
export async function walkTree(
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
