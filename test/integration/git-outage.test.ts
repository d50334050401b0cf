// Issue 12 on the lab: the git source fails under a real `warden run`. The git server stops (connection
// refused), comes back, serves a broken commit, and finally a force-push replaces its history. Through all
// of it the last good revision stays in force (a manual scale is still reverted to its replicas), nothing
// from the broken commit is written, and /status and /metrics say which revision is in force and which failed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabNode } from '../../src/lab/lab.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { createService, leaderNode, portFor, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const created: string[] = [];
let git: GitServer | undefined;
let warden: WardenDaemon | undefined;
let dir: string;

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-git-outage-'));
});

afterAll(async () => {
  await warden?.stop('SIGKILL');
  await git?.close();
  await removeServices(lab, ...created);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

// A resync every second keeps passes coming while nothing changes, so "no write" is checked over real passes.
const state = (name: string, replicas: number, extra = ''): string =>
  [
    'apiVersion: swarm-warden/v1',
    'kind: ClusterState',
    'metadata: { name: lab }',
    'spec:',
    '  services:',
    `    - name: ${name}`,
    `      replicas: ${replicas}`,
    ...(extra ? [extra] : []),
    '  policy:',
    '    resync: "*/1 * * * * *"',
    '',
  ].join('\n');

interface Status {
  revision?: string;
  failedRevision?: string;
  desiredStateValid: boolean;
  desiredStateError?: string;
  leader: boolean;
  lastPass?: { passId: number; error?: string };
}

async function status(d: WardenDaemon): Promise<Status> {
  return (await (await fetch(`${d.url}/status`)).json()) as Status;
}

/** Series is one sample of the Prometheus text format. */
interface Series {
  labels: Record<string, string>;
  value: number;
}

/** scrape reads /metrics and returns the samples of one metric. */
async function scrape(d: WardenDaemon, name: string): Promise<Series[]> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

async function corrections(d: WardenDaemon): Promise<number> {
  return (await scrape(d, 'warden_corrections_total')).reduce((n, s) => n + s.value, 0);
}

/** revert scales the service by hand, as an operator would, and waits for warden to put `want` back. */
async function revert(node: LabNode, d: WardenDaemon, name: string, by: number, want: number, before: number): Promise<void> {
  const engine = portFor(node);
  await lab.docker(node, ['service', 'scale', '--detach', `${name}=${by}`]);
  await waitUntil(`${name} scaled to ${by} and reverted to ${want}`, async () =>
    (await engine.inspectService(name)).replicas === want && (await corrections(d)) === before + 1, { timeoutMs: 20_000, intervalMs: 100 });
}

describe('the git source fails under warden run', () => {
  it('keeps the last good revision in force through an outage, a broken commit and a force-push', async () => {
    const t0 = performance.now();
    const name = await createService(lab, uniqueName('gitout'), ['--replicas', '2']);
    created.push(name);
    const leader = await leaderNode(lab);
    const engine = portFor(leader);
    git = await startGitServer();
    const a = await git.push({ 'warden.yml': state(name, 2) }, 'A: 2 replicas');
    warden = await startWardenRun([
      '--git-url', git.url, '--git-ref', 'main', '--git-path', 'warden.yml', '--git-interval', '1s',
      '--git-cache', join(dir, 'cache'), '--host', leader.host,
    ]);
    const w = warden;
    const source = `${git.url}#main:warden.yml`;

    // (a) A is in force: a manual scale is reverted to A's 2 replicas.
    expect(await status(w)).toMatchObject({ revision: a, desiredStateValid: true, leader: true });
    await revert(leader, w, name, 4, 2, 0);
    expect(await scrape(w, 'warden_desired_state_valid')).toEqual([{ labels: {}, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_info')).toEqual([{ labels: { cluster: 'lab', source, revision: a }, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_failed_info')).toEqual([]);

    // (b) The server is unreachable: the fetch fails, A stays in force and is still enforced.
    await git.stop();
    const down = await waitUntil('the failed fetch on /status', async () => {
      const s = await status(w);
      return s.desiredStateValid ? undefined : s;
    }, { timeoutMs: 15_000 });
    expect(down.revision).toBe(a);
    expect(down.failedRevision).toBeUndefined();
    expect(down.desiredStateError).toMatch(/cannot fetch: git fetch: .*(Failed to connect|Connection refused|Could not connect)/);
    expect(await scrape(w, 'warden_desired_state_valid')).toEqual([{ labels: {}, value: 0 }]);
    // Nothing could be read, so the failed revision is "unknown"; the one in force is still A.
    expect(await scrape(w, 'warden_desired_state_failed_info')).toEqual([{ labels: { source, revision: 'unknown' }, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_info')).toEqual([{ labels: { cluster: 'lab', source, revision: a }, value: 1 }]);
    await revert(leader, w, name, 5, 2, 1);
    // pino writes asynchronously: the line may trail the state /status already shows.
    await waitUntil('the failed load logged', () => w.logs().includes('"msg":"desired state failed to load; the last good one stays in force"'), { timeoutMs: 5_000 });

    // (b') The server is back with A unchanged: the error clears, though no new revision came.
    await git.start();
    const back = await waitUntil('/status to be valid again', async () => {
      const s = await status(w);
      return s.desiredStateValid ? s : undefined;
    }, { timeoutMs: 15_000 });
    expect(back).toMatchObject({ revision: a, desiredStateValid: true });
    expect(back.desiredStateError).toBeUndefined();
    expect(await scrape(w, 'warden_desired_state_valid')).toEqual([{ labels: {}, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_failed_info')).toEqual([]);

    // (c) A broken commit B, which would also scale to 4: nothing of it is written.
    const versionBefore = (await engine.inspectService(name)).version;
    const correctionsBefore = await corrections(w);
    const b = await git.push({ 'warden.yml': state(name, 4, '      restart: always') }, 'B: broken (an unknown key)');
    const failed = await waitUntil('B to fail on /status', async () => {
      const s = await status(w);
      return s.failedRevision === b ? s : undefined;
    }, { timeoutMs: 15_000 });
    expect(failed.revision).toBe(a);
    expect(failed.desiredStateValid).toBe(false);
    expect(failed.desiredStateError).toMatch(/^warden\.yml:8:7: unknown key "restart"/);
    expect(await scrape(w, 'warden_desired_state_valid')).toEqual([{ labels: {}, value: 0 }]);
    expect(await scrape(w, 'warden_desired_state_failed_info')).toEqual([{ labels: { source, revision: b }, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_info')).toEqual([{ labels: { cluster: 'lab', source, revision: a }, value: 1 }]);
    // Three more passes (the resync) run with A while B is the newest commit: still no write.
    const passAtB = failed.lastPass?.passId ?? 0;
    await waitUntil('three passes after B failed', async () => ((await status(w)).lastPass?.passId ?? 0) >= passAtB + 3, { timeoutMs: 15_000 });
    const svc = await engine.inspectService(name);
    expect(svc.replicas).toBe(2);
    expect(svc.version).toBe(versionBefore);
    expect(await corrections(w)).toBe(correctionsBefore);
    expect((await status(w)).failedRevision).toBe(b);

    // (d) A force-push replaces the history with a valid C of 3 replicas: C comes into force and is applied.
    const c = await git.forcePush({ 'warden.yml': state(name, 3) }, 'C: 3 replicas, history rewritten');
    await waitUntil('C applied', async () => (await engine.inspectService(name)).replicas === 3 && (await status(w)).revision === c, { timeoutMs: 15_000 });
    const after = await status(w);
    expect(after).toMatchObject({ revision: c, desiredStateValid: true });
    expect(after.failedRevision).toBeUndefined();
    expect(after.desiredStateError).toBeUndefined();
    expect(await scrape(w, 'warden_desired_state_valid')).toEqual([{ labels: {}, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_info')).toEqual([{ labels: { cluster: 'lab', source, revision: c }, value: 1 }]);
    expect(await scrape(w, 'warden_desired_state_failed_info')).toEqual([]);
    expect(await corrections(w)).toBe(correctionsBefore + 1);
    process.stderr.write(`git outage scenario on lab ${lab.layout.id}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  });
});
