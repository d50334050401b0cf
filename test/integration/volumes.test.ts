// The volumes reconciler end to end: the real command line against the lab swarm, on the real file
// system (as root) under a temporary host root with a real tmpfs as the "NAS". Symlink escapes must leave
// /etc untouched, a share that is unmounted must not get directories created on the disk beneath it, a
// local directory is never taken for a volume, a chown the host refuses is held, a share that hangs does
// not stall warden, and a large tree is fixed over several passes.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leaderNode, restoreLab, runningManager, testLab } from '../support/lab.js';
import { HostFiles } from '../../src/host/files.js';
import type { VolumeFix } from '../../src/host/port.js';
import { freePort, runWarden, startWardenRun, WARDEN_BIN, type WardenDaemon } from '../support/warden.js';
import { canBindfs, canFuse, mountPartition, mountShare, unmount as unmountFs } from '../support/host-fs.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const daemons: WardenDaemon[] = [];
let root: string;
let nas: string;
let host: string;

function mount(): void {
  mkdirSync(nas, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'warden-test-nas', nas], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
}

function mounted(): boolean {
  return statSync(nas).dev !== statSync(join(nas, '..')).dev;
}

function unmount(): void {
  if (existsSync(nas) && mounted()) {
    const r = spawnSync('umount', [nas], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`umount failed: ${r.stderr}`);
  }
}

beforeAll(async () => {
  await restoreLab(lab);
  host = (await runningManager(lab)).host;
  root = mkdtempSync(join(tmpdir(), 'warden-volumes-'));
  nas = join(root, 'mnt/nas');
  mount();
});

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
});

afterAll(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  if (root) {
    unmount();
    rmSync(root, { recursive: true, force: true });
  }
  await restoreLab(lab);
});


function writeState(name: string, volumes: string): string {
  const file = join(root, `${name}.yml`);
  writeFileSync(file, `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  volumes:\n${volumes}`);
  return file;
}

function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

function own(path: string): string {
  const st = lstatSync(path);
  return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
}

describe('volumes on the real file system', () => {
  it('plan shows the drift; apply creates and fixes directories on the share, one log line each, then is in sync', async () => {
    mkdirSync(join(nas, 'pg'));
    chmodSync(join(nas, 'pg'), 0o755);
    mkdirSync(join(nas, 'kafka/logs/p0'), { recursive: true });
    writeFileSync(join(nas, 'kafka/logs/p0/0.log'), 'x');
    chownSync(join(nas, 'kafka/logs'), 1001, 0);
    const file = writeState('fix', [
      '    - { path: /mnt/nas/pg, owner: 70, group: 70, mode: "0700" }',
      // The tmpfs NAS is named as the mount: without it, warden creates nothing on a local file system.
      '    - { path: /mnt/nas/es/data, mount: /mnt/nas, owner: 1000, group: 1000, mode: "0770" }',
      '    - { path: /mnt/nas/kafka, owner: 1001, group: 0, recursive: true }',
      '',
    ].join('\n'));

    const plan = await runWarden(['plan', '-f', file, '--host', host, '--host-root', root]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain('drift   /mnt/nas/pg: owner 0 (wants 70), group 0 (wants 70), mode 0755 (wants 0700)');
    expect(plan.stdout).toContain('drift   /mnt/nas/es/data: missing: warden creates it');
    expect(plan.stdout).toContain('drift   /mnt/nas/kafka: owner 0 (wants 1001), 2 entries below differ (of 3)');
    expect(own(join(nas, 'pg'))).toBe('0:0 0755');

    // The metric of the contract, from the daemon in observe mode (--dry-run): one series per path.
    const daemon = await startWardenRun(['-f', file, '--host', host, '--host-root', root, '--dry-run']);
    daemons.push(daemon);
    const metrics = await waitUntil('volume drift metrics', async () => {
      const text = await (await fetch(`${daemon.url}/metrics`)).text();
      return text.includes('warden_object_drift{reconciler="volumes",object="/mnt/nas/pg"} 1') ? text : undefined;
    }, { timeoutMs: 30_000 });
    expect(metrics).toContain('warden_drift_objects{reconciler="volumes"} 3');
    await daemon.stop();
    expect(own(join(nas, 'pg'))).toBe('0:0 0755');

    const apply = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
    expect(apply.stderr).toBe('');
    expect(apply.code).toBe(0);
    expect(own(join(nas, 'pg'))).toBe('70:70 0700');
    expect(own(join(nas, 'es/data'))).toBe('1000:1000 0770');
    expect(own(join(nas, 'es'))).toMatch(/^0:0 /);
    for (const p of ['kafka', 'kafka/logs', 'kafka/logs/p0', 'kafka/logs/p0/0.log']) expect(own(join(nas, p))).toMatch(/^1001:0 /);
    const lines = logLines(apply.stdout);
    expect(lines.find((l) => l.msg === 'corrected drift' && l.object === '/mnt/nas/pg')).toMatchObject({
      reconciler: 'volumes', action: 'fix-volume', before: { owner: 0, group: 0, mode: '0755' }, after: { owner: 70, group: 70, mode: '0700' },
    });
    expect(lines.find((l) => l.msg === 'changed a file' && l.path === '/mnt/nas/es')).toMatchObject({ object: '/mnt/nas/es/data', created: true });
    expect(lines.find((l) => l.msg === 'changed a file' && l.path === '/mnt/nas/kafka/logs/p0/0.log')).toMatchObject({
      object: '/mnt/nas/kafka', before: { owner: 0, group: 0 }, after: { owner: 1001, group: 0 },
    });
    // kafka/logs was already right: not changed, not logged.
    expect(lines.filter((l) => l.path === '/mnt/nas/kafka/logs')).toEqual([]);

    const again = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
    expect(again.code).toBe(0);
    expect(logLines(again.stdout).filter((l) => l.msg === 'corrected drift' || l.msg === 'changed a file')).toEqual([]);
  });

  it('refuses a symlink anywhere on the path and leaves /etc untouched', async () => {
    symlinkSync('/etc', join(nas, 'evil'));
    mkdirSync(join(root, 'srv'));
    symlinkSync('/etc', join(root, 'srv/data'));
    const etc = own('/etc');
    const ssl = own('/etc/ssl');
    const file = writeState('symlink', [
      '    - { path: /mnt/nas/evil, owner: 70, mode: "0700" }',
      '    - { path: /mnt/nas/evil/ssl, owner: 70, mode: "0700", recursive: true }',
      '    - { path: /srv/data/ssl, owner: 70, mode: "0700" }',
      '',
    ].join('\n'));
    const apply = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
    expect(apply.code).toBe(1);
    expect(apply.stderr).toContain('drift   /mnt/nas/evil: refused: /mnt/nas/evil is a symlink: warden never follows one');
    expect(apply.stderr).toContain('drift   /mnt/nas/evil/ssl: refused: /mnt/nas/evil is a symlink');
    expect(apply.stderr).toContain('drift   /srv/data/ssl: refused: /srv/data is a symlink');
    expect(logLines(apply.stdout).filter((l) => l.msg === 'corrected drift' || l.msg === 'changed a file')).toEqual([]);
    expect(own('/etc')).toBe(etc);
    expect(own('/etc/ssl')).toBe(ssl);
    expect(lstatSync(join(nas, 'evil')).isSymbolicLink()).toBe(true);
  });

  it('fixes a tree of 20,000 entries over several passes, reporting progress, within the budget per pass', async () => {
    const top = join(nas, 'big');
    for (let d = 0; d < 100; d += 1) {
      mkdirSync(join(top, `d${d}`), { recursive: true });
      for (let f = 0; f < 199; f += 1) writeFileSync(join(top, `d${d}`, `f${f}`), '');
    }
    const file = writeState('big', '    - { path: /mnt/nas/big, owner: 1001, group: 1001, mode: "0750", recursive: true }\n');
    const passes: Array<{ code: number | null; ms: number; changed: number; progress: boolean; failed: number }> = [];
    for (let i = 0; i < 12; i += 1) {
      const started = Date.now();
      const r = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
      const lines = logLines(r.stdout);
      passes.push({
        code: r.code,
        ms: Date.now() - started,
        changed: lines.filter((l) => l.msg === 'changed a file').length,
        progress: lines.some((l) => l.msg === 'correction in progress; the next pass continues' && l.object === '/mnt/nas/big'),
        // A fix that failed mid-way (a deadline) changed entries whose lines never came: say so.
        failed: lines.filter((l) => l.msg === 'action failed; the next pass tries again').length,
      });
      if (r.code === 0) break;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/drift {3}\/mnt\/nas\/big: .*entries below differ/);
    }
    process.stderr.write(`volumes: 20,000 entries fixed in passes ${JSON.stringify(passes)}\n`);
    expect(passes.at(-1)?.code).toBe(0);
    expect(passes.length).toBeGreaterThanOrEqual(4);
    expect(passes.slice(0, -1).every((p) => p.progress && p.changed > 0 && p.changed <= 5_000)).toBe(true);
    expect(passes.reduce((n, p) => n + p.changed, 0)).toBe(20_000);
    expect(own(join(top, 'd99/f198'))).toBe('1001:1001 0644');
    expect(own(join(top, 'd42'))).toBe('1001:1001 0750');
  });

  it.runIf(canBindfs)('never creates a directory on a separate local partition beneath a NAS not mounted yet; on the NAS it does', async () => {
    // /srv on its own ext4 partition, the NAS's mount point /srv/nas on it: another device than the host
    // root's, which the old rule took for the share.
    const srv = join(root, 'srv');
    const image = join(tmpdir(), `warden-volumes-srv-${process.pid}.img`);
    const backing = mkdtempSync(join(tmpdir(), 'warden-volumes-nas-'));
    mountPartition(image, srv);
    try {
      mkdirSync(join(srv, 'nas'));
      const file = writeState('partition', '    - { path: /srv/nas/db, owner: 70, group: 70, mode: "0700" }\n');
      const plan = await runWarden(['plan', '-f', file, '--host', host, '--host-root', root]);
      expect(plan.stdout).toContain('drift   /srv/nas/db: refused: /srv/nas/db is missing and its nearest parent /srv/nas is on a local file system (ext4), not on a network or FUSE share');
      const refused = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
      expect(refused.code).toBe(1);
      expect(readdirSync(join(srv, 'nas'))).toEqual([]);
      // The NAS comes up (bindfs: a FUSE file system, as sshfs or glusterfs): the same file creates it there.
      mountShare(backing, join(srv, 'nas'));
      const applied = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
      expect(applied.code, applied.stderr).toBe(0);
      expect(own(join(backing, 'db'))).toBe('70:70 0700');
    } finally {
      unmountFs(join(srv, 'nas'));
      unmountFs(srv);
      rmSync(image, { force: true });
      rmSync(backing, { recursive: true, force: true });
    }
  });

  it('never creates a directory on the local disk beneath a share that is unmounted', async () => {
    const file = writeState('gone', '    - { path: /mnt/nas/new/data, owner: 70, mode: "0700" }\n');
    const withMount = writeState('gone-mount', '    - { path: /mnt/nas/local, mount: /mnt/nas, owner: 70, mode: "0700" }\n');
    unmount();
    try {
      expect(mounted()).toBe(false);
      // Something already lies on the local disk beneath the mount point: with `mount`, it is left alone.
      mkdirSync(join(nas, 'local'));
      const gone = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toContain("drift   /mnt/nas/new/data: refused: /mnt/nas/new/data is missing and its nearest parent /mnt/nas is on the host root's own file system");
      expect(existsSync(join(nas, 'new'))).toBe(false);
      const named = await runWarden(['apply', '-f', withMount, '--host', host, '--host-root', root]);
      expect(named.code).toBe(1);
      expect(named.stderr).toContain('drift   /mnt/nas/local: refused: mount /mnt/nas is not mounted');
      expect(own(join(nas, 'local'))).toBe('0:0 0755');
    } finally {
      rmSync(join(nas, 'local'), { recursive: true, force: true });
      mount();
    }
    // Mounted again, the directory is created on the share (a tmpfs: only when named as the mount).
    const again = writeState('gone-again', '    - { path: /mnt/nas/new/data, mount: /mnt/nas, owner: 70, mode: "0700" }\n');
    const back = await runWarden(['apply', '-f', again, '--host', host, '--host-root', root]);
    expect(back.code).toBe(0);
    // No group in the file: the group is left as created (root's).
    expect(own(join(nas, 'new/data'))).toBe('70:0 0700');
  });

  it('in a long-running warden, resumes a recursive fix where the last pass stopped; a symlink inside is lchowned, never entered', async () => {
    const top = join(nas, 'resume');
    for (let d = 0; d < 10; d += 1) {
      mkdirSync(join(top, `d${d}`), { recursive: true });
      for (let f = 0; f < 299; f += 1) writeFileSync(join(top, `d${d}`, `f${f}`), '');
    }
    symlinkSync('/etc', join(top, 'd5/etc-link'));
    const etc = own('/etc');
    const passwd = own('/etc/passwd');
    const files = new HostFiles({ root, fixBudget: { entries: 1_000, ms: 60_000 } });
    const action: VolumeFix = {
      kind: 'fix-volume', reconciler: 'volumes', object: '/mnt/nas/resume', path: '/mnt/nas/resume', owner: 1001, group: 1001,
      recursive: true, before: {}, after: {}, disruptive: false, ignored: false,
    };
    const results = [];
    for (let i = 0; i < 5; i += 1) {
      const r = await files.fix(action);
      results.push(r);
      if (!r.remaining) break;
    }
    // 3,001 entries below (10 directories, 2,990 files, 1 symlink) and the top: 1,000 per pass, no entry twice.
    expect(results).toEqual([{ changed: 1_001, remaining: true }, { changed: 1_000, remaining: true }, { changed: 1_000, remaining: true }, { changed: 1, remaining: false }]);
    expect(own(join(top, 'd5/etc-link'))).toMatch(/^1001:1001 /);
    expect(own('/etc')).toBe(etc);
    expect(own('/etc/passwd')).toBe(passwd);
    const seen = await files.inspectPaths([{ path: '/mnt/nas/resume', owner: 1001, group: 1001, recursive: true }]);
    expect(seen.get('/mnt/nas/resume')).toMatchObject({ kind: 'directory', uid: 1001, below: { differ: 0, scanned: 3_001, truncated: false } });
  });

  it('never takes an existing local directory for a volume, unless it lies below policy.volumeRoots', async () => {
    mkdirSync(join(root, 'root/.ssh'), { recursive: true });
    chmodSync(join(root, 'root/.ssh'), 0o700);
    mkdirSync(join(root, 'srv/app/db'), { recursive: true });
    const file = writeState('local', [
      '    - { path: /root/.ssh, owner: 70, mode: "0755" }',
      '    - { path: /srv/app/db, owner: 70, mode: "0700" }',
      '',
    ].join('\n'));
    const refused = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("drift   /root/.ssh: refused: /root/.ssh is on the host root's own file system, not on a mounted share");
    expect(refused.stderr).toContain("drift   /srv/app/db: refused: /srv/app/db is on the host root's own file system, not on a mounted share");
    expect(own(join(root, 'root/.ssh'))).toBe('0:0 0700');
    expect(own(join(root, 'srv/app/db'))).toBe('0:0 0755');

    const listed = writeState('local-root', [
      '    - { path: /root/.ssh, owner: 70, mode: "0755" }',
      '    - { path: /srv/app/db, owner: 70, mode: "0700" }',
      '    - { path: /srv/app/new, owner: 70, mode: "0700" }',
      '  policy:',
      '    volumeRoots: [/srv/app]',
      '',
    ].join('\n'));
    const applied = await runWarden(['apply', '-f', listed, '--host', host, '--host-root', root]);
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain('drift   /root/.ssh: refused:');
    expect(own(join(root, 'root/.ssh'))).toBe('0:0 0700');
    expect(own(join(root, 'srv/app/db'))).toBe('70:0 0700');
    expect(own(join(root, 'srv/app/new'))).toBe('70:0 0700');
  });

  it('holds a chown the host refuses (EPERM) with the refusal backoff, not an error every pass', async () => {
    const locked = join(nas, 'locked');
    mkdirSync(locked);
    // An immutable directory: the host answers EPERM to root's chown, as a root-squashed NFS export does.
    expect(spawnSync('chattr', ['+i', locked]).status).toBe(0);
    try {
      const file = writeState('eperm', '    - { path: /mnt/nas/locked, owner: 70, mode: "0700" }\n  policy:\n    resync: "* * * * * *"\n');
      // The daemon that acts is the one on the Raft leader's engine (the file before may have moved it).
      const daemon = await startWardenRun(['-f', file, '--host', (await leaderNode(lab)).host, '--host-root', root]);
      daemons.push(daemon);
      // A pass every second: three held in a row show the hold, not a retry.
      await waitUntil('three passes holding the refused fix', async () => {
        const text = await (await fetch(`${daemon.url}/metrics`)).text();
        const held = /warden_actions_suppressed_total\{reconciler="volumes",reason="backoff"\} (\d+)/.exec(text)?.[1];
        return Number(held ?? 0) >= 3;
      }, { timeoutMs: 60_000 }).catch(async (err: Error) => {
        const status = await (await fetch(`${daemon.url}/status`)).text();
        throw new Error(`${err.message}\nstatus: ${status}\nlog: ${daemon.logs().split('\n').slice(-15).join('\n')}`);
      });
      const lines = logLines(daemon.logs()).filter((l) => l.object === '/mnt/nas/locked');
      const refusals = lines.filter((l) => l.msg === 'the engine refused the action; it needs the operator');
      expect(refusals).toHaveLength(1);
      expect((refusals[0]!.err as { message: string }).message).toMatch(/^cannot change \/mnt\/nas\/locked: the host refused it \(EPERM\)/);
      expect(lines.filter((l) => l.msg === 'action failed; the next pass tries again')).toEqual([]);
      expect(own(locked)).toBe('0:0 0755');
    } finally {
      spawnSync('chattr', ['-i', locked]);
      rmSync(locked, { recursive: true, force: true });
    }
  });

  it.runIf(canFuse)('a share that hangs every lookup does not stall warden: the scan fails at its deadline, /livez answers, SIGTERM ends it at once', async () => {
    // FUSE that nobody answers, as a hard NFS mount whose server is gone, in a mount namespace of warden's
    // own: the shell holds the device (fd 3, inherited by warden) and never reads it. The mount, and the
    // hang, end with the namespace's last process.
    const hung = join(root, 'mnt/hung');
    mkdirSync(hung, { recursive: true });
    const file = writeState('hung', '    - { path: /mnt/hung/db, owner: 70 }\n');
    const port = await freePort();
    const script = 'exec 3<>/dev/fuse && mount -i -t fuse -o fd=3,rootmode=40000,user_id=0,group_id=0 warden-test-hung "$1" && shift && exec "$@"';
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', hung,
      process.execPath, WARDEN_BIN, 'run', '-f', file, '--host', host, '--host-root', root, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    child.stderr.on('data', (d: Buffer) => (logs += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil('warden run to answer /livez', async () => (await fetch(`${url}/livez`)).status === 200, { timeoutMs: 30_000 });
      // The first pass reads the hung share: the worker's lstat blocks, warden's own threads do not.
      const timedOut = await waitUntil('the scan of the hung share to fail at its deadline', () =>
        logLines(logs).find((l) => JSON.stringify(l).includes('/mnt/hung/db: reading it: the host gave no answer within 10 s')), { timeoutMs: 40_000 });
      expect(timedOut).toBeDefined();
      expect((await fetch(`${url}/livez`)).status).toBe(200);
      expect((await fetch(`${url}/metrics`)).status).toBe(200);
      const started = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      process.stderr.write(`volumes: hung share log: ${logLines(logs).filter((l) => l.level === 'warn' || l.level === 'error').map((l) => JSON.stringify(l)).join('\n')}\n`);
    }
  });
});
