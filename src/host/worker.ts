// The host worker: a small process that warden forks to read and change files under the host root
// (./isolated.ts drives it). A hard NFS mount whose server is gone blocks lstat for ever, and each
// blocked call holds one of libuv's four pool threads; here it holds one of the worker's, which warden
// can kill and replace, never one of warden's own (its fs calls, DNS lookups and zlib need them).
// It answers one request at a time, and exits when warden goes away.
import { HostFiles } from './files.js';
import type { WorkerConfig, WorkerError, WorkerMessage, WorkerRequest } from './protocol.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const files = new HostFiles({
  root: config.root,
  ...(config.scanBudget ? { scanBudget: config.scanBudget } : {}),
  ...(config.fixBudget ? { fixBudget: config.fixBudget } : {}),
});
const inFlight = new Map<number, AbortController>();

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
      const result = await files.fix(req.action, { signal: ac.signal, onChange: (change) => say({ kind: 'change', id: req.id, change }) });
      say({ kind: 'fixed', id: req.id, result });
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
