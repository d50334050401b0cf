// The descriptor-level steps of the host's file system, shared by the walk (./walk.ts), the tree walk
// (./tree.ts) and the fix (./files.ts): every step is taken relative to a directory held open, never by
// resolving a path from the root again, so that a directory swapped for a symlink meanwhile leads nowhere.
import { constants, type Stats } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import type { DesiredVolume } from '../desired-state/types.js';
import { FileRefusedError, type FileChange, type Ownership } from './port.js';

/**
 * O_PATH (Linux) opens a descriptor that names a directory without opening it for reading, enough to
 * walk through it and to fstat it (like lstat, it needs search permission only). Node does not export it.
 */
export const O_PATH = 0o10000000;
/** WALK_FLAGS open one step of a walk: a directory, as O_PATH, never through a symlink. */
export const WALK_FLAGS = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Wanted is what a volume asks of its entries. */
export type Wanted = Pick<DesiredVolume, 'owner' | 'group' | 'mode'>;

/** octal renders permission bits as the file does, e.g. "0700" or "2775". */
export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * inDir names `name` inside the directory held open by `dir`: resolving it is openat(dir, name), since
 * the kernel's magic link /proc/self/fd/N leads to that very directory, wherever it now is.
 */
export function inDir(dir: FileHandle, name: string): string {
  return `/proc/self/fd/${dir.fd}/${name}`;
}

/** openStep opens one more component below `dir` without following a symlink, as an O_PATH descriptor. */
export async function openStep(dir: FileHandle, name: string, hostPath: string): Promise<FileHandle> {
  try {
    return await open(inDir(dir, name), WALK_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new FileRefusedError(`${hostPath} became a symlink or a file: warden changes nothing through it`);
    if (code === 'ENOENT') throw new FileRefusedError(`${hostPath} vanished while warden changed it`);
    throw err;
  }
}

/** notADirectory words why a component that would not open as a directory is refused. */
export async function notADirectory(parent: FileHandle, name: string, here: string): Promise<string> {
  const st = await lstat(inDir(parent, name)).catch(() => undefined);
  if (st?.isSymbolicLink() ?? true) return `${here} is a symlink: warden never follows one, nor changes anything through it`;
  return `${here} is not a directory`;
}

/** cannotRead is the error of an entry that could not be read, naming it and the errno code. */
export function cannotRead(hostPath: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return Object.assign(new Error(`cannot read ${hostPath}: ${code ?? (err as Error).message}`, { cause: err }), { code });
}

/** unreadable words an error that kept warden from reading a volume. */
export function unreadable(err: NodeJS.ErrnoException): string {
  return err.message.startsWith('cannot read ') ? err.message : `cannot read it: ${err.code ?? err.message}`;
}

/**
 * refusedByHost turns the host's refusal of a change (a root-squashed share answers EPERM to a chown,
 * EACCES to a mkdir; a read-only mount EROFS) into a FileRefusedError: retrying every pass cannot help.
 */
export function refusedByHost(err: unknown, what: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EPERM' || code === 'EACCES' || code === 'EROFS') {
    return new FileRefusedError(`${what}: the host refused it (${code}); on a root-squashed NFS share root may not chown or create: ` +
      'fix the export (no_root_squash for warden\'s host) or the ownership by hand', { cause: err });
  }
  return err;
}

/** differs tells whether an entry's owner, group or (directories only) mode differ from what is wanted. */
export function differs(st: Pick<Stats, 'uid' | 'gid' | 'mode' | 'isDirectory'>, want: Wanted): boolean {
  if (st.uid !== want.owner) return true;
  if (want.group !== undefined && st.gid !== want.group) return true;
  return st.isDirectory() && want.mode !== undefined && (st.mode & 0o7777) !== want.mode;
}

/** ownership is what a stat says of owner, group and mode, as a change reports it. */
export function ownership(st: { uid: number; gid: number; mode: number }): Ownership {
  return { owner: st.uid, group: st.gid, mode: octal(st.mode) };
}

/**
 * changeDirectory changes the directory held by `dir` (an O_PATH descriptor) through a descriptor
 * reopened from it: /proc/self/fd/N reopens that very inode, so nothing is resolved by path again.
 * It returns whether anything changed (always true for a directory just created).
 */
export async function changeDirectory(dir: FileHandle, hostPath: string, want: Wanted, created: boolean, onChange?: (c: FileChange) => void): Promise<boolean> {
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
