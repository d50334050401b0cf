// The volumes reconciler end to end: the real command line against the lab swarm, on the real file
// system (as root) under a temporary host root with a real tmpfs as the "NAS". Symlink escapes must leave
// /etc untouched, a share that is unmounted must not get directories created on the disk beneath it, and
// a large tree is fixed over several passes.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { restoreLab, runningManager, testLab } from '../support/lab.js';
import { HostFiles } from '../../src/host/files.js';
import type { VolumeFix } from '../../src/host/port.js';
import { runWarden, startWardenRun, type WardenDaemon } from '../support/warden.js';
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
      '    - { path: /mnt/nas/es/data, owner: 1000, group: 1000, mode: "0770" }',
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
    const passes: Array<{ code: number | null; ms: number; changed: number; progress: boolean }> = [];
    for (let i = 0; i < 12; i += 1) {
      const started = Date.now();
      const r = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
      const lines = logLines(r.stdout);
      passes.push({
        code: r.code,
        ms: Date.now() - started,
        changed: lines.filter((l) => l.msg === 'changed a file').length,
        progress: lines.some((l) => l.msg === 'correction in progress; the next pass continues' && l.object === '/mnt/nas/big'),
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
    // Mounted again, the same file creates the directory on the share.
    const back = await runWarden(['apply', '-f', file, '--host', host, '--host-root', root]);
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
});
