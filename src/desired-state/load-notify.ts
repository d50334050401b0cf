// Reading spec.notify: each entry's urlFile, relative to the desired-state file's directory (inside the
// repository for a git source) or absolute (a Docker secret under /run/secrets, read from the local file
// system for any source). The URL is a secret: it goes into a WebhookUrl, never into a problem's message,
// and only a digest of it into the revision's hash (so that a rotated URL is a new revision of a file
// source and is picked up as the other files are).
import type { Hash } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import path from 'node:path';
import { readError } from './load-stacks.js';
import { NOTIFY_EVENTS, type NotifyEntry } from './schema-notify.js';
import type { Problem } from './source.js';
import type { DesiredNotify } from './types.js';
import { WebhookUrl, webhookUrlProblem } from './webhook-url.js';
import { problemAt, type YamlSource } from './yaml-source.js';

/**
 * UrlFileMode says how urlFiles are read: `read` (default) requires each to hold a URL; `check` (`warden
 * validate`, on a machine that may not have the secrets) makes a urlFile that does not exist a warning.
 */
export type UrlFileMode = 'read' | 'check';

/** NotifyFilesOptions say how to read urlFiles: as the stacks' files are read, plus the mode. */
export interface NotifyFilesOptions {
  /** readFile reads a file as bytes; default: the local file system. */
  readFile?: (file: string) => Promise<Buffer>;
  /** confine: relative urlFiles stay inside the file's tree, read with readFile; absolute ones are local files. */
  confine?: boolean;
  /** urlFiles is the UrlFileMode (default read). */
  urlFiles?: UrlFileMode;
}

/** NotifyRead is what spec.notify gave: the webhooks, and the problems and warnings of their urlFiles. */
export interface NotifyRead {
  notify: DesiredNotify[];
  problems: Problem[];
  warnings: Problem[];
}

/** readNotify reads every urlFile of `entries` (spec.notify of `file`, parsed as `src`). */
export async function readNotify(entries: readonly NotifyEntry[], file: string, src: YamlSource, hash: Hash, opts: NotifyFilesOptions): Promise<NotifyRead> {
  const out: NotifyRead = { notify: [], problems: [], warnings: [] };
  const readLocal = opts.readFile ?? ((f: string) => fsReadFile(f));
  for (const [i, entry] of entries.entries()) {
    const at = (message: string): Problem => problemAt(src, ['spec', 'notify', i, 'urlFile'], message);
    const where = urlFilePath(file, entry.urlFile, opts.confine ?? false);
    if (typeof where !== 'string') {
      out.problems.push(at(where.problem));
      continue;
    }
    let text: string;
    try {
      // Absolute paths are this machine's own files (Docker secrets), whatever the source.
      const read = path.isAbsolute(where) && opts.confine ? (f: string) => fsReadFile(f) : readLocal;
      text = (await read(where)).toString('utf8').trim();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT' && opts.urlFiles === 'check') {
        out.warnings.push(at(`urlFile ${where} is not on this machine: not checked (warden reads it where it runs)`));
      } else {
        out.problems.push(at(`cannot read urlFile ${where}: ${readError(e)}`));
      }
      continue;
    }
    const problem = webhookUrlProblem(text);
    if (problem !== undefined) {
      out.problems.push(at(`urlFile ${where} ${problem}`));
      continue;
    }
    hash.update(`\0notify\0${where}\0`).update(text);
    out.notify.push({ urlFile: where, url: new WebhookUrl(text), format: entry.format, events: [...(entry.events ?? NOTIFY_EVENTS)] });
  }
  return out;
}

// Where urlFile points: absolute as written; relative to the desired-state file's directory, and with
// `confine` never outside the repository.
function urlFilePath(file: string, ref: string, confine: boolean): string | { problem: string } {
  if (path.isAbsolute(ref)) return path.normalize(ref);
  if (!confine) return path.join(path.dirname(file), ref);
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref));
  if (joined === '..' || joined.startsWith('../')) return { problem: `urlFile "${ref}" points outside the repository: use a path inside it, or an absolute path (a Docker secret)` };
  return joined;
}
