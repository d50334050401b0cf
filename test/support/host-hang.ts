// A real hung share, measured: run as root in a private mount namespace by test/unit/host/hang.test.ts,
//   unshare -m --propagation private node --import tsx test/support/host-hang.ts isolated|in-process
// It mounts FUSE on HOST_ROOT/mnt/nas and never answers it, so that every lookup below blocks in the
// kernel as on a hard NFS mount whose server is gone; then it scans a volume there, either through the
// host worker (`isolated`, what warden runs) or in this process (`in-process`, the old way: each scan
// left behind by a deadline keeps one of libuv's four pool threads). While the scans hang it measures a
// timer and fs calls of this process, then aborts the connection (every blocked lookup fails at once)
// and prints one JSON line. The mount lives only in this namespace: it goes when this process exits,
// however it exits, and the kernel aborts the connection when the device closes.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFiles } from '../../src/host/files.js';
import { IsolatedHostFiles } from '../../src/host/isolated.js';
import { mountHung, unmount } from './host-fs.js';
import { waitUntil } from './wait.js';

const mode = process.argv[2];
const DEADLINE_MS = 3_000;
const volume = { path: '/mnt/nas/db', owner: 70, recursive: false };

// timer measures how late a 200 ms timer fires.
async function timer(): Promise<number> {
  const started = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  return Math.round(performance.now() - started - 200);
}

// fsCalls runs 8 fs calls at once (twice the pool's 4 threads) and says how long each took, or that it
// had not completed after 2 s.
async function fsCalls(): Promise<Array<number | 'pending'>> {
  const calls = Array.from({ length: 8 }, async (_, i) => {
    const started = performance.now();
    await (i % 2 === 0 ? stat('/') : readFile('/proc/self/stat'));
    return Math.round(performance.now() - started);
  });
  const limit = new Promise<'pending'>((r) => setTimeout(() => r('pending'), 2_000));
  return Promise.all(calls.map((c) => Promise.race([c, limit])));
}

async function main(): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'warden-hang-'));
  chmodSync(root, 0o755);
  const share = join(root, 'mnt/nas');
  const hung = mountHung(share);
  const out: Record<string, unknown> = { mode };
  try {
    if (mode === 'isolated') {
      const host = new IsolatedHostFiles({ root, timeoutMs: DEADLINE_MS });
      // The worker's start (a second or two from the TypeScript sources) is not what is measured.
      await host.inspectPaths([{ path: '/srv/warm', owner: 0, recursive: false }]);
      const started = performance.now();
      const scan = host.inspectPaths([volume]).then(() => 'resolved', (e: Error) => e);
      out.timerLateMs = await timer();
      out.fsCallMs = await fsCalls();
      const settled = await scan;
      out.rejectedAfterMs = Math.round(performance.now() - started);
      out.error = settled instanceof Error ? `${settled.name}: ${settled.message}` : settled;
      // The lookup waits killably, as NFS's does: the killed worker exits, nothing is left stuck.
      const killed = performance.now();
      await waitUntil('the killed worker to exit', () => host.stuckWorkers().length === 0, { timeoutMs: 10_000, intervalMs: 20 });
      out.killedWorkerExitMs = Math.round(performance.now() - killed);
      // The share still hangs: the next pass's scan times out the same way, on a fresh worker.
      const again = performance.now();
      const second = await host.inspectPaths([volume]).then(() => 'resolved', (e: Error) => e.name);
      out.second = { error: second, afterMs: Math.round(performance.now() - again) };
      hung.abort();
      // The connection aborted, the share answers at once (ENOTCONN): an error of the volume, not a hang.
      out.afterAbort = (await host.inspectPaths([volume])).get(volume.path);
      host.close();
    } else {
      const files = new HostFiles({ root });
      // Four passes, each giving up on its scan at a deadline, as an in-process timeout would: each
      // leaves a thread blocked in the kernel.
      const scans = Array.from({ length: 4 }, () => files.inspectPaths([volume]).then((m) => m.get(volume.path)));
      out.timerLateMs = await timer();
      out.fsCallMs = await fsCalls();
      const aborted = performance.now();
      hung.abort();
      // Released, the blocked threads return and the queued fs calls run.
      const late = await Promise.all(Array.from({ length: 2 }, async () => {
        await stat('/');
        return Math.round(performance.now() - aborted);
      }));
      out.fsCallAfterAbortMs = late;
      out.scans = await Promise.all(scans);
    }
  } finally {
    hung.abort();
    unmount(share);
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}

main().then(
  (out) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
