// The file port: the narrow interface through which the apply path changes directories under the host
// root. One file (./files.ts) implements it, and re-checks every safety rule itself before it writes,
// because the file system may have changed since the pass observed it; ./isolated.ts runs that
// implementation in the host worker process, with a deadline on each call.
import type { Action } from '../reconcilers/types.js';

/** VolumeFix is a fix-volume action: what a directory (and, when recursive, its tree) must become. */
export type VolumeFix = Extract<Action, { kind: 'fix-volume' }>;

/** Ownership is what a change sets, and what was there before it. */
export interface Ownership {
  owner: number;
  group: number;
  /** mode is the permission bits as an octal string, e.g. "0700". */
  mode: string;
}

/** FileChange is one entry the fix changed, for its log line. */
export interface FileChange {
  /** path is the entry's path as the host sees it (without the host root). */
  path: string;
  /** created is true when the entry did not exist before. */
  created: boolean;
  before: Ownership | undefined;
  after: Ownership;
}

/** FixResult says what one fix did within its budget. */
export interface FixResult {
  /** changed counts the entries changed or created. */
  changed: number;
  /** remaining is true when the budget ran out before the tree was done: the next pass continues. */
  remaining: boolean;
}

/** FixOptions carry the pass's abort signal and the change callback. */
export interface FixOptions {
  signal?: AbortSignal;
  /** onChange is told of each change, below the directory too (one log line each). */
  onChange?: (change: FileChange) => void;
}

/** FilePort changes directories under the host root: create, chown, chmod, never through a symlink. */
export interface FilePort {
  /** fix makes a volume's directory (and its tree, within a budget) what the action asks for. */
  fix(action: VolumeFix, opts?: FixOptions): Promise<FixResult>;
}

/** FileRefusedError is a fix that warden will not do (a symlink, a mount that is gone): the operator must act. */
export class FileRefusedError extends Error {
  override readonly name = 'FileRefusedError';
}
