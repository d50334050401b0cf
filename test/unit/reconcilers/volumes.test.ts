import { describe, expect, it } from 'vitest';
import type { DesiredVolume } from '../../../src/desired-state/types.js';
import { volumes } from '../../../src/reconcilers/volumes.js';
import type { FileObservation, Observed } from '../../../src/reconcilers/types.js';
import { desired, planContext } from '../../support/desired.js';

function observed(files: Record<string, FileObservation> | undefined): Observed {
  return {
    info: { nodeId: 'm1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 1, nodes: 1 },
    nodes: [], services: [], tasks: [], at: 0,
    ...(files ? { files: new Map(Object.entries(files)) } : {}),
  };
}

const db: DesiredVolume = { path: '/mnt/nas/db', owner: 70, group: 70, mode: 0o700, recursive: false };
const kafka: DesiredVolume = { path: '/mnt/nas/kafka', owner: 1001, group: 0, recursive: true };
const dir = (uid: number, gid: number, mode: number, below?: Extract<FileObservation, { kind: 'directory' }>['below']): FileObservation =>
  ({ kind: 'directory', uid, gid, mode, ...(below ? { below } : {}) });

describe('volumes.plan', () => {
  it.each([
    { name: 'in sync', want: [db], files: { '/mnt/nas/db': dir(70, 70, 0o700) }, drift: [], actions: [] },
    { name: 'wrong owner, group and mode', want: [db], files: { '/mnt/nas/db': dir(0, 0, 0o755) },
      drift: ['/mnt/nas/db: owner 0 (wants 70), group 0 (wants 70), mode 0755 (wants 0700)'],
      actions: ['fix-volume /mnt/nas/db {"owner":0,"group":0,"mode":"0755"} -> {"owner":70,"group":70,"mode":"0700"}'] },
    { name: 'only the mode', want: [db], files: { '/mnt/nas/db': dir(70, 70, 0o750) },
      drift: ['/mnt/nas/db: mode 0750 (wants 0700)'], actions: ['fix-volume /mnt/nas/db {"mode":"0750"} -> {"mode":"0700"}'] },
    { name: 'group and mode left alone when absent', want: [{ path: '/mnt/nas/es', owner: 1000, recursive: false }],
      files: { '/mnt/nas/es': dir(1000, 5, 0o777) }, drift: [], actions: [] },
    { name: 'set-id bits count', want: [{ ...db, mode: 0o2770 }], files: { '/mnt/nas/db': dir(70, 70, 0o770) },
      drift: ['/mnt/nas/db: mode 0770 (wants 2770)'], actions: ['fix-volume /mnt/nas/db {"mode":"0770"} -> {"mode":"2770"}'] },
    { name: 'missing: created', want: [db], files: { '/mnt/nas/db': { kind: 'missing' } },
      drift: ['/mnt/nas/db: missing: warden creates it'],
      actions: ['fix-volume /mnt/nas/db {"exists":false} -> {"exists":true,"owner":70,"group":70,"mode":"0700"}'] },
    { name: 'refused (symlink, share gone): drift, no action', want: [db], files: { '/mnt/nas/db': { kind: 'refused', why: '/mnt/nas is a symlink' } },
      drift: ['/mnt/nas/db: refused: /mnt/nas is a symlink'], actions: [] },
    { name: 'recursive: entries below differ', want: [kafka], files: { '/mnt/nas/kafka': dir(1001, 0, 0o755, { differ: 12, scanned: 300, skipped: 0, truncated: false }) },
      drift: ['/mnt/nas/kafka: 12 entries below differ (of 300)'],
      actions: ['fix-volume /mnt/nas/kafka {"below":"12 differ"} -> {"below":{"owner":1001,"group":0}}'] },
    { name: 'recursive: a truncated scan says so', want: [kafka], files: { '/mnt/nas/kafka': dir(1001, 0, 0o755, { differ: 5, scanned: 200000, skipped: 0, truncated: true }) },
      drift: ['/mnt/nas/kafka: 5 entries below differ (in the first 200000 scanned)'],
      actions: ['fix-volume /mnt/nas/kafka {"below":"5 differ"} -> {"below":{"owner":1001,"group":0}}'] },
    { name: 'recursive: in sync below', want: [kafka], files: { '/mnt/nas/kafka': dir(1001, 0, 0o755, { differ: 0, scanned: 300, skipped: 2, truncated: false }) },
      drift: [], actions: [] },
    { name: 'not observed (no host port): drift, no action', want: [db], files: {},
      drift: ['/mnt/nas/db: not observed: this warden reads no host root'], actions: [] },
  ])('$name', ({ want, files, drift, actions }) => {
    const plan = volumes.plan(desired({ volumes: want }), observed(files as Record<string, FileObservation>), planContext());
    expect(plan.drift.map((d) => `${d.object}: ${d.message}`)).toEqual(drift);
    expect(plan.actions.map((a) => `${a.kind} ${a.object} ${JSON.stringify(a.before)} -> ${JSON.stringify(a.after)}`)).toEqual(actions);
  });

  it('carries what the directory must become, mount included, and is never disruptive nor ignored', () => {
    const plan = volumes.plan(desired({ volumes: [{ ...kafka, mount: '/mnt/nas', mode: 0o750 }] }), observed({ '/mnt/nas/kafka': dir(0, 0, 0o755) }), planContext());
    expect(plan.actions).toEqual([expect.objectContaining({
      kind: 'fix-volume', reconciler: 'volumes', path: '/mnt/nas/kafka', mount: '/mnt/nas', owner: 1001, group: 0, mode: 0o750, recursive: true, disruptive: false, ignored: false,
    })]);
    expect(plan.actions[0]).not.toHaveProperty('root');
  });

  it('carries the volume root, which the host checks again before it changes a local directory', () => {
    const local: DesiredVolume = { path: '/srv/data/pg', root: '/srv/data', owner: 70, recursive: false };
    const plan = volumes.plan(desired({ volumes: [local] }), observed({ '/srv/data/pg': dir(0, 0, 0o755) }), planContext());
    expect(plan.actions).toEqual([expect.objectContaining({ kind: 'fix-volume', path: '/srv/data/pg', root: '/srv/data' })]);
  });

  it('does nothing when the volumes section is absent', () => {
    expect(volumes.plan(desired(), observed(undefined), planContext())).toEqual({ drift: [], actions: [] });
  });
});
