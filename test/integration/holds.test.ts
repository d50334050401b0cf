// Issue 18, item 5, on the lab with a real git source: holds belong to objects, not to revisions. Under
// `warden run --git-url`, a service that something keeps scaling back gets a flapping hold; a commit that
// changes another file and another service leaves the hold in place (the service stays as the other actor
// left it); a commit that changes that service's own entry clears it, and warden corrects the service.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  dir = mkdtempSync(join(tmpdir(), 'warden-holds-'));
});

afterAll(async () => {
  await warden?.stop('SIGKILL');
  await git?.close();
  await removeServices(lab, ...created);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

// A resync every second keeps passes coming, so that "still held" is seen over real passes.
const state = (services: Array<[string, number]>): string => [
  'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:', '  services:',
  ...services.map(([name, replicas]) => `    - { name: ${name}, replicas: ${replicas} }`),
  '  policy:', '    resync: "*/1 * * * * *"', '',
].join('\n');

interface Status {
  revision?: string;
  held: Array<{ key: string; reason: string }>;
  lastPass?: { passId: number; revision?: string };
}

async function status(d: WardenDaemon): Promise<Status> {
  return (await (await fetch(`${d.url}/status`)).json()) as Status;
}

async function corrections(d: WardenDaemon): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  return [...text.matchAll(/^warden_corrections_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

describe('holds under a git source', () => {
  it('keeps a flapping hold through an unrelated commit, and clears it with a commit to that service', async () => {
    const fought = await createService(lab, uniqueName('held'), ['--replicas', '2']);
    const other = await createService(lab, uniqueName('other'), ['--replicas', '1']);
    created.push(fought, other);
    const leader = await leaderNode(lab);
    const engine = portFor(leader);
    git = await startGitServer();
    await git.push({ 'warden.yml': state([[fought, 2], [other, 1]]), 'README.md': 'the cluster\n' }, 'A');
    warden = await startWardenRun([
      '--git-url', git.url, '--git-ref', 'main', '--git-path', 'warden.yml', '--git-interval', '1s',
      '--git-cache', join(dir, 'cache'), '--host', leader.host,
    ]);
    const w = warden;

    // Another actor scales the service back after each correction: three corrections, then a hold.
    for (let round = 1; round <= 3; round++) {
      await lab.docker(leader, ['service', 'scale', '--detach', `${fought}=1`]);
      await waitUntil(`correction ${round}`, async () => (await engine.inspectService(fought)).replicas === 2 && (await corrections(w)) === round, { timeoutMs: 20_000 });
    }
    const key = `replicas/${fought}`;
    expect((await status(w)).held).toEqual([expect.objectContaining({ key, reason: 'flapping' })]);
    await lab.docker(leader, ['service', 'scale', '--detach', `${fought}=1`]);

    // A commit to another file and to another service: the hold stays, the fought service stays at 1,
    // while the other service's new count is applied.
    const b = await git.push({ 'warden.yml': state([[fought, 2], [other, 2]]), 'README.md': 'the cluster, with notes\n' }, 'B: unrelated');
    await waitUntil('B in force and applied', async () => (await status(w)).revision === b && (await engine.inspectService(other)).replicas === 2, { timeoutMs: 20_000 });
    const atB = (await status(w)).lastPass?.passId ?? 0;
    await waitUntil('three passes on B', async () => ((await status(w)).lastPass?.passId ?? 0) >= atB + 3, { timeoutMs: 15_000 });
    const onB = await status(w);
    expect(onB.lastPass?.revision).toBe(b);
    expect(onB.held).toEqual([expect.objectContaining({ key, reason: 'flapping' })]);
    expect((await engine.inspectService(fought)).replicas).toBe(1);
    expect(await corrections(w)).toBe(4);

    // A commit that changes the fought service's own entry: its hold goes, and the new count is applied.
    const c = await git.push({ 'warden.yml': state([[fought, 3], [other, 2]]), 'README.md': 'the cluster, with notes\n' }, 'C: the fought service');
    await waitUntil('C in force and applied', async () => (await status(w)).revision === c && (await engine.inspectService(fought)).replicas === 3, { timeoutMs: 20_000 });
    expect((await status(w)).held).toEqual([]);
    expect(await corrections(w)).toBe(5);
  });
});
