// The host worker: a small process that warden forks to read and change files under the host root
// (./isolated.ts drives it). A hard NFS mount whose server is gone blocks lstat for ever, and each
// blocked call holds one of libuv's four pool threads; here it holds one of the worker's, which warden
// can kill and replace, never one of warden's own (its fs calls, DNS lookups and zlib need them).
// It answers one request at a time, and exits when warden goes away.
import { HostFiles } from './files.js';
import type { FileChange } from './port.js';
import type { WorkerConfig, WorkerError, WorkerMessage, WorkerRequest } from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const files = new HostFiles({
  root: config.root,
  ...(config.scanBudget ? { scanBudget: config.scanBudget } : {}),
  ...(config.fixBudget ? { fixBudget: config.fixBudget } : {}),
});
const inFlight = new Map<number, AbortController>();

/** CHANGE_BATCH is how many changes of a fix go in one message (default 200), at least every CHANGE_FLUSH_MS (100 ms). */
const CHANGE_BATCH = 200;
const CHANGE_FLUSH_MS = 100;

function say(message: WorkerMessage): void {
  // A send after warden went away fails: there is no one left to tell.
  if (process.connected) process.send?.(message);
}

function wire(err: unknown): WorkerError {
  const e = err as NodeJS.ErrnoException;
  return { name: e.name ?? 'Error', message: e.message ?? String(err), ...(e.code !== undefined ? { code: e.code } : {}) };
}

async function serve(req: Exclude<WorkerRequest, { op: 'abort' }>): Promise<void> {
  const ac = new AbortController();
  inFlight.set(req.id, ac);
  try {
    if (req.op === 'inspect') {
      const seen = await files.inspectPaths([req.volume], ac.signal);
      say({ kind: 'observed', id: req.id, observation: seen.get(req.volume.path)! });
    } else {
      // Changes go in batches: a message each would cost the fix a good part of its time budget. A batch
      // leaves at least every 100 ms, which also tells warden the fix is making progress.
      let batch: FileChange[] = [];
      let timer: NodeJS.Timeout | undefined;
      const flush = (): void => {
        clearTimeout(timer);
        timer = undefined;
        if (batch.length > 0) say({ kind: 'changes', id: req.id, changes: batch });
        batch = [];
      };
      try {
        const result = await files.fix(req.action, {
          signal: ac.signal,
          onChange: (change) => {
            batch.push(change);
            if (batch.length >= CHANGE_BATCH) flush();
            else timer ??= setTimeout(flush, CHANGE_FLUSH_MS);
          },
        });
        flush();
        say({ kind: 'fixed', id: req.id, result });
      } finally {
        // A failed fix still reports what it changed before it failed.
        flush();
      }
    }
  } catch (err) {
    say({ kind: 'failed', id: req.id, error: wire(err) });
  } finally {
    inFlight.delete(req.id);
  }
}

process.on('message', (req: WorkerRequest) => {
  if (req.op === 'abort') inFlight.get(req.id)?.abort();
  else void serve(req);
});
// warden exited or let go of this worker: nothing is waiting for an answer any more.
process.on('disconnect', () => process.exit(0));
say({ kind: 'ready' });
