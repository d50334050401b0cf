// A local desired-state file as a source: re-read when it or one of its compose stacks changes.
// fs.watch on their directories gives prompt reloads (editors save by rename, so the directory is
// watched, not the file); a slow poll of the files' metadata catches what fs.watch misses (network
// file systems, bind mounts, directories created later).
import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { loadDesiredStateFile } from './load.js';
import type { SopsKeyring } from './sops/keys.js';
import type { DesiredStateSource, LoadedState, SourceHandlers } from './source.js';

/** FileSourceOptions tune how a file source notices changes. */
export interface FileSourceOptions {
  /** debounceMs waits for a burst of change events to settle before re-reading; default 300. */
  debounceMs?: number;
  /** pollMs is the interval of the fallback poll of the files' size and mtime; default 10 000. */
  pollMs?: number;
  /** keyring opens sops-encrypted stack files; default none (such a file is an error). */
  keyring?: SopsKeyring;
}

/** createFileSource returns the source for a local desired-state file (and the stacks it names). */
export function createFileSource(file: string, opts: FileSourceOptions = {}): DesiredStateSource {
  return new FileSource(file, opts.debounceMs ?? 300, opts.pollMs ?? 10_000, opts.keyring);
}

class FileSource implements DesiredStateSource {
  readonly kind = 'file';
  readonly description: string;
  // Every file the last load read: the desired-state file and its compose files.
  private files: Set<string>;
  private lastRevision: string | undefined;
  // The files' metadata as of the start of the last load: taken before reading, so a change made
  // during a load shows as a difference at the next check, never as a missed change.
  private lastPrint: string | undefined;

  constructor(
    private readonly file: string,
    private readonly debounceMs: number,
    private readonly pollMs: number,
    private readonly keyring?: SopsKeyring,
  ) {
    this.description = path.resolve(file);
    this.files = new Set([this.description]);
  }

  load = async (): Promise<LoadedState> => {
    this.lastPrint = await this.fingerprint();
    const read = new Set<string>([this.description]);
    try {
      const sops = await this.keyring?.keys();
      const loaded = await loadDesiredStateFile(this.file, {
        ...(sops ? { sops } : {}),
        readFile: async (f) => {
          read.add(path.resolve(f));
          return readFile(f);
        },
      });
      this.lastRevision = loaded.revision;
      return loaded;
    } finally {
      this.files = read;
    }
  };

  watch = async (signal: AbortSignal, handlers: SourceHandlers): Promise<void> => {
    if (signal.aborted) return;
    let reported = this.lastRevision;
    let debounce: NodeJS.Timeout | undefined;
    const check = async (): Promise<void> => {
      // Nothing this source reads has changed since the last attempt: neither reload nor re-report.
      if (this.lastPrint !== undefined && (await this.fingerprint()) === this.lastPrint) return;
      try {
        const loaded = await this.load();
        if (loaded.revision !== reported) {
          reported = loaded.revision;
          handlers.onLoad(loaded);
        }
      } catch (err) {
        handlers.onError(err as Error);
      }
      // The set of files may have changed (a stack added): watch their directories too.
      watchers.sync(this.files);
    };
    const trigger = oneAtATime(check, signal);
    const watchers = new DirectoryWatchers((changed) => {
      if (changed !== undefined && !this.files.has(changed)) return;
      clearTimeout(debounce);
      debounce = setTimeout(trigger, this.debounceMs);
    });

    // When watch starts right after load(), the first check finds nothing changed and reports nothing.
    watchers.sync(this.files);
    trigger();
    const poll = setInterval(trigger, this.pollMs);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(poll);
    clearTimeout(debounce);
    watchers.close();
    await trigger.idle();
  };

  private async fingerprint(): Promise<string> {
    const parts = await Promise.all(
      [...this.files].sort().map(async (f) => {
        try {
          const s = await stat(f);
          return `${f}:${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return `${f}:missing`;
        }
      }),
    );
    return parts.join('\n');
  }
}

// oneAtATime runs fn on each call, one run at a time: a call during a run asks for one more run after it.
function oneAtATime(fn: () => Promise<void>, signal: AbortSignal): (() => void) & { idle(): Promise<void> } {
  let running: Promise<void> | undefined;
  let again = false;
  const trigger = (): void => {
    if (signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = fn().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        trigger();
      }
    });
  };
  return Object.assign(trigger, { idle: async () => void (await running) });
}

// The fs.watch watchers of the files' directories (editors save by rename, so a directory is watched, not
// a file). onChange gets the changed file's path, or undefined when the event does not name one.
class DirectoryWatchers {
  private readonly watchers = new Map<string, FSWatcher>();
  private closed = false;

  constructor(private readonly onChange: (file: string | undefined) => void) {}

  /** sync watches exactly the directories of these files. */
  sync(files: ReadonlySet<string>): void {
    if (this.closed) return;
    const dirs = new Set([...files].map((f) => path.dirname(f)));
    for (const [dir, w] of this.watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of dirs) if (!this.watchers.has(dir)) this.add(dir);
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private add(dir: string): void {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => this.onChange(name === null ? undefined : path.join(dir, name.toString())));
      // A removed directory ends its watcher; the poll covers it until it is back.
      w.on('error', () => {
        w.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, w);
    } catch {
      // The directory does not exist (yet): the poll covers it.
    }
  }
}
