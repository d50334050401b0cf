// A local desired-state file as a source: re-read when it or one of its compose stacks changes.
// fs.watch on their directories gives prompt reloads (editors save by rename, so the directory is
// watched, not the file); a slow poll of the files' metadata catches what fs.watch misses (network
// file systems, bind mounts, directories created later).
import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { loadDesiredStateFile } from './load.js';
import type { DesiredStateSource, LoadedState, SourceHandlers } from './source.js';

/** FileSourceOptions tune how a file source notices changes. */
export interface FileSourceOptions {
  /** debounceMs waits for a burst of change events to settle before re-reading; default 300. */
  debounceMs?: number;
  /** pollMs is the interval of the fallback poll of the files' size and mtime; default 10 000. */
  pollMs?: number;
}

/** createFileSource returns the source for a local desired-state file (and the stacks it names). */
export function createFileSource(file: string, opts: FileSourceOptions = {}): DesiredStateSource {
  const debounceMs = opts.debounceMs ?? 300;
  const pollMs = opts.pollMs ?? 10_000;
  const absolute = path.resolve(file);
  // Every file the last load read: the desired-state file and its compose files.
  let files = new Set<string>([absolute]);
  let lastRevision: string | undefined;
  // The files' metadata as of the start of the last load: taken before reading, so a change made
  // during a load shows as a difference at the next check, never as a missed change.
  let lastPrint: string | undefined;

  async function load(): Promise<LoadedState> {
    lastPrint = await fingerprint();
    const read = new Set<string>([absolute]);
    try {
      const loaded = await loadDesiredStateFile(file, {
        readFile: async (f) => {
          read.add(path.resolve(f));
          return readFile(f);
        },
      });
      lastRevision = loaded.revision;
      return loaded;
    } finally {
      files = read;
    }
  }

  async function fingerprint(): Promise<string> {
    const parts = await Promise.all(
      [...files].sort().map(async (f) => {
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

  async function watchFiles(signal: AbortSignal, handlers: SourceHandlers): Promise<void> {
    if (signal.aborted) return;
    let reported = lastRevision;
    let running: Promise<void> | undefined;
    let again = false;
    const watchers = new Map<string, FSWatcher>();
    let debounce: NodeJS.Timeout | undefined;

    const check = async (): Promise<void> => {
      // Nothing this source reads has changed since the last attempt: neither reload nor re-report.
      if (lastPrint !== undefined && (await fingerprint()) === lastPrint) return;
      try {
        const loaded = await load();
        if (loaded.revision !== reported) {
          reported = loaded.revision;
          handlers.onLoad(loaded);
        }
      } catch (err) {
        handlers.onError(err as Error);
      }
      // The set of files may have changed (a stack added): watch their directories too.
      syncWatchers();
    };
    // One check at a time; a trigger during a check runs one more afterwards.
    const trigger = (): void => {
      if (signal.aborted) return;
      if (running) {
        again = true;
        return;
      }
      running = check().finally(() => {
        running = undefined;
        if (again) {
          again = false;
          trigger();
        }
      });
    };
    const onEvent = (dir: string) => (_event: string, name: string | Buffer | null): void => {
      if (name !== null && !files.has(path.join(dir, name.toString()))) return;
      clearTimeout(debounce);
      debounce = setTimeout(trigger, debounceMs);
    };
    const syncWatchers = (): void => {
      if (signal.aborted) return;
      const dirs = new Set([...files].map((f) => path.dirname(f)));
      for (const [dir, w] of watchers) {
        if (!dirs.has(dir)) {
          w.close();
          watchers.delete(dir);
        }
      }
      for (const dir of dirs) {
        if (watchers.has(dir)) continue;
        try {
          const w = watch(dir, { persistent: false }, onEvent(dir));
          // A removed directory ends its watcher; the poll covers it until it is back.
          w.on('error', () => {
            w.close();
            watchers.delete(dir);
          });
          watchers.set(dir, w);
        } catch {
          // The directory does not exist (yet): the poll covers it.
        }
      }
    };

    // When watch starts right after load(), the first check finds nothing changed and reports nothing.
    syncWatchers();
    trigger();
    const poll = setInterval(trigger, pollMs);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(poll);
    clearTimeout(debounce);
    for (const w of watchers.values()) w.close();
    await running;
  }

  return {
    kind: 'file',
    description: absolute,
    load: () => load(),
    watch: watchFiles,
  };
}
