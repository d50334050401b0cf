// Observing the host off the pass: the last answer with its time, a deadline on every read, never two
// reads of a kind at once, and an error (never "in sync") when a read fails, hangs or is too old.
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { HostObserver, type HostPort } from '../../../src/controller/host.js';
import type { FileObservation } from '../../../src/reconcilers/types.js';
import { desired } from '../../support/desired.js';

const silent = pino({ level: 'silent' });
const volumes = [{ path: '/mnt/nas/pg', owner: 70, recursive: false }];
const dir: FileObservation = { kind: 'directory', uid: 70, gid: 0, mode: 0o700 };

function observer(host: HostPort, opts: { timeoutMs?: number; perVolumeMs?: number; maxAgeMs?: number; clock?: { t: number } } = {}) {
  const changes: number[] = [];
  const clock = opts.clock ?? { t: Date.parse('2026-11-21T10:00:00Z') };
  const o = new HostObserver({
    host, now: () => clock.t, log: silent, onChange: () => changes.push(clock.t),
    readTimeoutMs: opts.timeoutMs ?? 1_000, minIntervalMs: 0,
    ...(opts.perVolumeMs !== undefined ? { readTimeoutPerVolumeMs: opts.perVolumeMs } : {}),
    ...(opts.maxAgeMs !== undefined ? { maxAgeMs: opts.maxAgeMs } : {}),
  });
  return { o, changes, clock };
}

describe('HostObserver', () => {
  it('reads when the desired state asks, hands the answer with its time, and asks for a pass when it changes', async () => {
    let seen = dir;
    const inspectPaths = vi.fn(async () => new Map([['/mnt/nas/pg', seen]]));
    const { o, changes, clock } = observer({ inspectPaths });
    expect(o.view()).toEqual({});
    o.want(desired({ volumes }));
    await o.refresh();
    // Taken when the read started: the clock here stands still, the read took a millisecond or so.
    expect(o.view()).toEqual({ files: new Map([['/mnt/nas/pg', dir]]), filesAt: expect.closeTo(clock.t, -1) });
    expect(changes).toHaveLength(1);
    // The same answer again asks for nothing; a different one does.
    await o.refresh();
    expect(changes).toHaveLength(1);
    seen = { ...dir, uid: 0 };
    await o.refresh();
    expect(changes).toHaveLength(2);
    expect(inspectPaths).toHaveBeenCalledTimes(3);
  });

  it('reports a read that never answers as an error at its deadline, aborts it, and starts no second one meanwhile', async () => {
    const signals: AbortSignal[] = [];
    const inspectPaths = vi.fn((_v: unknown, signal?: AbortSignal) => {
      signals.push(signal!);
      return new Promise<Map<string, FileObservation>>(() => undefined); // a hard NFS mount whose server is gone
    });
    const { o, changes } = observer({ inspectPaths }, { timeoutMs: 50 });
    o.want(desired({ volumes }));
    // Before the deadline: nothing to plan on yet, and no error yet.
    expect(o.view()).toEqual({ filesPending: true });
    await o.refresh();
    expect(o.view()).toEqual({ filesError: 'the volume paths read has not answered within 0.1 s; no answer yet' });
    expect(signals[0]?.aborted).toBe(true);
    expect(changes).toHaveLength(1);
    o.nudge();
    await o.refresh();
    expect(inspectPaths).toHaveBeenCalledTimes(1);
  });

  it('gives a read of several volumes the time of each (read one after another) before it fails', async () => {
    const three = ['/mnt/nas/a', '/mnt/nas/b', '/mnt/nas/c'].map((path) => ({ path, owner: 70, recursive: true }));
    // Each volume takes 60 ms: 180 ms in all, past one volume's 100 ms, within 100 + 2 x 100.
    const inspectPaths = vi.fn(async (vs: typeof three) => {
      await new Promise((r) => setTimeout(r, 60 * vs.length));
      return new Map(vs.map((v) => [v.path, dir]));
    });
    const { o } = observer({ inspectPaths }, { timeoutMs: 100, perVolumeMs: 100 });
    o.want(desired({ volumes: three }));
    await o.refresh();
    expect(o.view().filesError).toBeUndefined();
    expect(o.view().files?.size).toBe(3);
    // One volume that takes as long fails at its 100 ms.
    inspectPaths.mockImplementationOnce(async () => {
      await new Promise((r) => setTimeout(r, 180));
      return new Map();
    });
    o.want(desired({ volumes: [{ ...three[0]!, path: '/mnt/nas/slow' }] }));
    await o.refresh();
    expect(o.view().filesError).toMatch(/has not answered within 0.1 s/);
  });

  it('reports a failed read as an error until a read answers again, keeping the age of the last answer', async () => {
    let fail = false;
    const inspectPaths = vi.fn(async () => {
      if (fail) throw new Error('EIO: i/o error, lstat');
      return new Map([['/mnt/nas/pg', dir]]);
    });
    const { o, clock } = observer({ inspectPaths });
    o.want(desired({ volumes }));
    await o.refresh();
    fail = true;
    clock.t += 5_000;
    await o.refresh();
    expect(o.view()).toEqual({ filesError: 'the volume paths read failed: EIO: i/o error, lstat; the last answer is 5 s old' });
    fail = false;
    await o.refresh();
    expect(o.view()).toEqual({ files: new Map([['/mnt/nas/pg', dir]]), filesAt: expect.closeTo(clock.t, -1) });
  });

  it('does not plan on an answer older than maxAgeMs', async () => {
    const { o, clock } = observer({ inspectPaths: async () => new Map([['/mnt/nas/pg', dir]]) }, { maxAgeMs: 60_000 });
    o.want(desired({ volumes }));
    await o.refresh();
    clock.t += 61_000;
    expect(o.view()).toEqual({ filesError: 'the last answer is 61 s old (more than 60 s): not planned on' });
  });

  it('hands a probe that fails, hangs or has not answered yet as a registry that does not answer', async () => {
    const probe = vi.fn(() => new Promise<never>(() => undefined));
    const { o, clock } = observer({ probe }, { timeoutMs: 50 });
    const registry = { service: 'registry', address: '10.0.0.5:5000', probe: 'http://10.0.0.5:5000/v2/' };
    o.want(desired({ registry }));
    expect(o.view()).toEqual({ registry: { url: registry.probe, ok: false, detail: 'not probed yet' }, registryAt: clock.t });
    await o.refresh();
    expect(o.view().registry).toEqual({ url: registry.probe, ok: false, detail: 'the registry probe read has not answered within 0.1 s' });
  });

  it('drops the answers of an old question, and asks the new one once the old read has ended', async () => {
    let release: (() => void) | undefined;
    const asked: string[][] = [];
    const inspectPaths = vi.fn((v: Array<{ path: string }>) => {
      asked.push(v.map((x) => x.path));
      return new Promise<Map<string, FileObservation>>((resolve) => {
        release = () => resolve(new Map(v.map((x) => [x.path, dir])));
      });
    });
    const { o } = observer({ inspectPaths });
    o.want(desired({ volumes }));
    o.want(desired({ volumes: [{ path: '/mnt/nas/es', owner: 1000, recursive: false }] }));
    expect(asked).toEqual([['/mnt/nas/pg']]);
    release!();
    await vi.waitFor(() => expect(asked).toEqual([['/mnt/nas/pg'], ['/mnt/nas/es']]));
    release!();
    await vi.waitFor(() => expect(o.view().files).toEqual(new Map([['/mnt/nas/es', dir]])));
    // No volumes any more: nothing is read, nothing is handed.
    o.want(desired());
    expect(o.view()).toEqual({});
  });
});
