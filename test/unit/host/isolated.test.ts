// The host worker for real (root: mounts, another uid, a cgroup freezer): HostFiles in a child process,
// its answers and refusals across the channel, a worker squashed to nobody as on a root-squashed NFS
// export, and workers that do not answer (frozen in the kernel, where even SIGKILL waits): the deadline,
// the kill, the abandonment and the cap. The real hung share is test/unit/host/hang.test.ts.
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forkHostWorker, HostTimeoutError, HostWorkerError, IsolatedHostFiles } from '../../../src/host/isolated.js';
import { FileRefusedError, type FileChange, type VolumeFix } from '../../../src/host/port.js';
import { canFreeze, createFreezer, isRoot, mountTmpfs, unmount } from '../../support/host-fs.js';
import { waitUntil } from '../../support/wait.js';

let root: string;
let nas: string;
const hosts: IsolatedHostFiles[] = [];

function fixOf(v: Partial<VolumeFix> & { path: string }): VolumeFix {
  return { kind: 'fix-volume', reconciler: 'volumes', object: v.path, owner: 70, recursive: false, before: {}, after: {}, disruptive: false, ignored: false, ...v };
}

function host(opts: ConstructorParameters<typeof IsolatedHostFiles>[0] = {}): IsolatedHostFiles {
  // A worker started from the TypeScript sources takes a second or two on a loaded machine.
  const h = new IsolatedHostFiles({ root, timeoutMs: 8_000, ...opts });
  hosts.push(h);
  return h;
}

// state reads a process's state letter and whether SIGKILL is pending on it (signalled, not yet dead).
function state(pid: number): { state: string; killPending: boolean } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const pending = BigInt(`0x${/^ShdPnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`) | BigInt(`0x${/^SigPnd:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
    return { state: /^State:\s*(\S)/m.exec(status)?.[1] ?? '?', killPending: (pending & (1n << 8n)) !== 0n };
  } catch {
    return undefined;
  }
}

describe.runIf(isRoot)('IsolatedHostFiles: HostFiles in a worker process', { timeout: 90_000 }, () => {
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'warden-isolated-'));
    // nobody must be able to walk down to the share.
    chmodSync(root, 0o755);
    nas = join(root, 'mnt/nas');
    mountTmpfs(nas);
  });

  afterAll(() => {
    for (const h of hosts) h.close();
    unmount(nas);
    rmSync(root, { recursive: true, force: true });
  });

  it('observes and fixes in the worker: changes come back one by one, a refusal stays a FileRefusedError', async () => {
    symlinkSync('/etc', join(nas, 'evil'));
    const h = host();
    const changes: FileChange[] = [];
    expect(await h.fix(fixOf({ path: '/mnt/nas/new/db', mount: '/mnt/nas', mode: 0o700 }), { onChange: (c) => changes.push(c) })).toEqual({ changed: 2, remaining: false });
    expect(changes).toEqual([{ path: '/mnt/nas/new', created: true, before: undefined, after: { owner: 0, group: 0, mode: '0755' } }]);
    const seen = await h.inspectPaths([
      { path: '/mnt/nas/new/db', owner: 70, recursive: false },
      { path: '/mnt/nas/evil/ssl', owner: 70, recursive: false },
    ]);
    expect(seen.get('/mnt/nas/new/db')).toEqual({ kind: 'directory', uid: 70, gid: 0, mode: 0o700 });
    expect(seen.get('/mnt/nas/evil/ssl')).toEqual({ kind: 'refused', why: '/mnt/nas/evil is a symlink: warden never follows one, nor changes anything through it' });
    const refused = await h.fix(fixOf({ path: '/mnt/nas/evil/ssl' })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FileRefusedError);
    expect((refused as Error).message).toBe('/mnt/nas/evil is a symlink: warden never follows one, nor changes anything through it');
    // One worker served every call.
    expect(h.workerPid()).toBeGreaterThan(0);
    expect(h.stuckWorkers()).toEqual([]);
  });

  it('squashed to nobody (uid 65534, as root is on a root-squashed NFS export): an unreadable directory below is an error, a chown a refusal', async () => {
    mkdirSync(join(nas, 'sq/private'), { recursive: true });
    writeFileSync(join(nas, 'sq/private/data'), 'x');
    chownSync(join(nas, 'sq'), 65534, 65534);
    chmodSync(join(nas, 'sq/private'), 0o700);
    mkdirSync(join(nas, 'sq2'));
    chownSync(join(nas, 'sq2'), 65534, 65534);
    const h = host({ spawn: (config) => forkHostWorker(config, { uid: 65534, gid: 65534 }) });
    const seen = await h.inspectPaths([{ path: '/mnt/nas/sq', owner: 65534, recursive: true }]);
    // The old walk passed over what it could not list: "0 entries differ" below a tree it never read.
    expect(seen.get('/mnt/nas/sq')).toEqual({ kind: 'refused', why: 'cannot read /mnt/nas/sq/private: EACCES' });
    const refused = await h.fix(fixOf({ path: '/mnt/nas/sq2', owner: 70 })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FileRefusedError);
    expect((refused as Error).message).toMatch(/^cannot change \/mnt\/nas\/sq2: the host refused it \(EPERM\); on a root-squashed NFS share/);
    expect(lstatSync(join(nas, 'sq2')).uid).toBe(65534);
  });

  it.runIf(canFreeze)('a worker that does not answer: rejected at the deadline and killed; one SIGKILL does not end is abandoned; at the cap no more start', async () => {
    const freezer = createFreezer('warden-host-test');
    // Frozen in the kernel, a worker never answers, and SIGKILL stays pending until it is thawed: once it
    // said it is ready (the call's deadline), or from its start (the start's deadline).
    let freezing: 'after-ready' | 'at-start' | 'no' = 'after-ready';
    try {
      const h = host({
        timeoutMs: 2_500,
        maxStuck: 2,
        spawn: (config) => {
          const child = forkHostWorker(config);
          if (freezing === 'at-start') freezer.freeze(child.pid!);
          // This listener runs before the host's own: the worker is frozen before the request goes.
          if (freezing === 'after-ready') child.once('message', () => freezer.freeze(child.pid!));
          return child;
        },
      });
      // `mount` names the tmpfs share: without it, a tmpfs is a local file system, where nothing is created.
      const volume = { path: '/mnt/nas/x', mount: '/mnt/nas', owner: 70, recursive: false };

      let started = performance.now();
      const first = await h.inspectPaths([volume]).catch((e: unknown) => e);
      const firstMs = performance.now() - started;
      expect(first).toBeInstanceOf(HostTimeoutError);
      expect((first as Error).message).toMatch(/^\/mnt\/nas\/x: reading it: the host gave no answer within 2.5 s \(is a share hung\?\); warden killed its host worker \(pid \d+\)/);
      // The deadline runs from the moment the worker was ready (its start took a second or two here).
      expect(firstMs).toBeGreaterThanOrEqual(2_400);
      expect(firstMs).toBeLessThan(8_000);
      const [stuck] = h.stuckWorkers();
      expect(state(stuck!)).toEqual({ state: 'D', killPending: true });

      // An abort rejects the caller at once; the worker still gets its deadline (here the start's) and its kill.
      freezing = 'at-start';
      const ac = new AbortController();
      started = performance.now();
      const aborted = h.fix(fixOf({ path: '/mnt/nas/x' }), { signal: ac.signal }).catch((e: unknown) => e);
      await waitUntil('a second worker', () => h.workerPid() !== undefined && h.workerPid() !== stuck);
      ac.abort(new Error('SIGTERM'));
      expect(await aborted).toEqual(new Error('SIGTERM'));
      expect(performance.now() - started).toBeLessThan(2_500);
      await waitUntil('the second worker killed and stuck', () => h.stuckWorkers().length === 2, { timeoutMs: 10_000 });

      // Two are stuck: warden starts no third one, and says why, at once.
      started = performance.now();
      const third = await h.inspectPaths([volume]).catch((e: unknown) => e);
      expect(third).toBeInstanceOf(HostWorkerError);
      expect((third as Error).message).toMatch(/^2 host workers did not exit after SIGKILL \(pids \d+, \d+\): they are stuck in the kernel, most likely on a hung share; warden starts no more/);
      expect(performance.now() - started).toBeLessThan(500);

      // Once they can die, they do, and a fresh worker serves the next call.
      freezing = 'no';
      await freezer.thaw();
      await waitUntil('the stuck workers to exit', () => h.stuckWorkers().length === 0, { timeoutMs: 10_000 });
      const served = await new IsolatedHostFiles({ root, timeoutMs: 8_000 }).inspectPaths([volume]);
      expect(served.get('/mnt/nas/x')).toEqual({ kind: 'missing' });
      expect(await h.inspectPaths([volume]).then((m) => m.get('/mnt/nas/x'))).toEqual({ kind: 'missing' });
    } finally {
      freezing = 'no';
      await freezer.thaw();
    }
  });

  it('a fix that keeps reporting changes runs past the deadline: it is bounded by its budget, not cut mid-way', async () => {
    const top = join(nas, 'long');
    for (let d = 0; d < 40; d += 1) {
      mkdirSync(join(top, `d${d}`), { recursive: true });
      for (let f = 0; f < 250; f += 1) writeFileSync(join(top, `d${d}`, `f${f}`), '');
    }
    const h = host({ timeoutMs: 1_000, startTimeoutMs: 8_000, fixBudget: { entries: 100_000, ms: 60_000 } });
    const changes: FileChange[] = [];
    const started = performance.now();
    const result = await h.fix(fixOf({ path: '/mnt/nas/long', owner: 1001, recursive: true }), { onChange: (c) => changes.push(c) });
    const ms = performance.now() - started;
    expect(result).toEqual({ changed: 10_041, remaining: false });
    expect(changes).toHaveLength(10_040);
    // Only meaningful when the fix outlasted the deadline (10,040 chowns and messages: it does here).
    process.stderr.write(`isolated: a fix of 10,041 entries took ${Math.round(ms)} ms with a 1,000 ms deadline\n`);
    expect(ms).toBeGreaterThan(1_000);
  });

  it('a worker that cannot start is an error of the call at once, and counts as nothing stuck', async () => {
    const h = host({ spawn: (config) => forkHostWorker(config, { execPath: '/nonexistent/node' }) });
    const started = performance.now();
    const err = await h.inspectPaths([{ path: '/mnt/nas/z', owner: 70, recursive: false }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostWorkerError);
    expect((err as Error).message).toBe('/mnt/nas/z: reading it: the host worker could not start: spawn /nonexistent/node ENOENT');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(h.stuckWorkers()).toEqual([]);
  });

  it('a worker that dies mid-call is an error of that call, and the next call gets a fresh one', async () => {
    const h = host();
    const volume = { path: '/mnt/nas/y', mount: '/mnt/nas', owner: 70, recursive: false };
    expect((await h.inspectPaths([volume])).get('/mnt/nas/y')).toEqual({ kind: 'missing' });
    const pid = h.workerPid()!;
    process.kill(pid, 'SIGKILL');
    await waitUntil('the worker gone', () => h.workerPid() === undefined);
    expect((await h.inspectPaths([volume])).get('/mnt/nas/y')).toEqual({ kind: 'missing' });
    expect(h.workerPid()).not.toBe(pid);
  });
});
