// A real hung share (root, FUSE): test/support/host-hang.ts mounts FUSE and never answers it, so that
// lstat below it blocks in the kernel as on a hard NFS mount whose server is gone, and measures warden's
// process while a scan hangs. It runs in a private mount namespace (unshare -m): nothing else on the
// machine sees the hung mount, and it is gone when the script exits, however it exits.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canFuse } from '../../support/host-fs.js';

const SCRIPT = join(import.meta.dirname, '../../support/host-hang.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function hang(mode: 'isolated' | 'in-process'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-m', '--propagation', 'private', process.execPath, '--import', TSX, SCRIPT, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // The script ends its own hang; this only keeps a broken run from holding the suite.
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`host-hang ${mode} exited ${code}: ${stderr}`));
      process.stderr.write(`host-hang ${mode}: ${stdout}`);
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>);
    });
  });
}

describe.runIf(canFuse)('a hung share (FUSE that never answers)', { timeout: 90_000 }, () => {
  it('through the host worker: warden\'s timers and fs calls run while the scan hangs; the scan fails at its deadline; the killed worker exits', async () => {
    const r = await hang('isolated');
    expect(r.timerLateMs).toBeLessThan(500);
    // Eight fs calls at once, twice the pool's threads: all complete while the worker's lstat hangs.
    expect(r.fsCallMs).toHaveLength(8);
    for (const ms of r.fsCallMs as unknown[]) expect(ms).toBeLessThan(1_000);
    expect(r.rejectedAfterMs).toBeGreaterThanOrEqual(2_900);
    expect(r.rejectedAfterMs).toBeLessThan(6_000);
    expect(r.error).toMatch(/^HostTimeoutError: \/mnt\/nas\/db: reading it: the host gave no answer within 3 s \(is a share hung\?\); warden killed its host worker \(pid \d+\)/);
    expect(r.killedWorkerExitMs).toBeLessThan(5_000);
    expect(r.second).toMatchObject({ error: 'HostTimeoutError' });
    expect(r.afterAbort).toEqual({ kind: 'refused', why: 'cannot read /mnt/nas: ENOTCONN' });
  });

  it('in warden\'s own process (the old way), four scans left hanging take every pool thread: no fs call completes until the share answers', async () => {
    const r = await hang('in-process');
    // The event loop itself runs (timers), but nothing that needs the pool does.
    expect(r.timerLateMs).toBeLessThan(500);
    expect(r.fsCallMs).toEqual(Array(8).fill('pending'));
    expect((r.fsCallAfterAbortMs as number[]).every((ms) => ms < 2_000)).toBe(true);
  });
});
