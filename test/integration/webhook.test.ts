// The git webhook end to end: `warden run` follows a real git server on loopback with an hour between
// polls, so only the webhook can explain a prompt update. A push changes a service's replicas; unsigned
// and wrongly signed calls get 401 and change nothing; a signed call gets the lab's service scaled.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, WARDEN_BIN, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const SECRET = 'lab4-webhook-secret-0b9c';
const created: string[] = [];
const daemons: WardenDaemon[] = [];
let git: GitServer | undefined;
let dir: string;

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-webhook-'));
});

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  await git?.close();
  git = undefined;
  await removeServices(lab, ...created.splice(0));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

const state = (name: string, replicas: number): string =>
  `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  services:\n    - name: ${name}\n      replicas: ${replicas}\n`;
const sign = (body: string, key = SECRET): string => createHmac('sha256', key).update(body).digest('hex');

async function revision(url: string): Promise<string> {
  return ((await (await fetch(`${url}/status`)).json()) as { revision: string }).revision;
}

describe('the git webhook on the lab', () => {
  it('a signed push webhook gets the pushed state applied at once; bad signatures get 401 and change nothing', async () => {
    const name = await createService(lab, uniqueName('hook'), ['--replicas', '1']);
    created.push(name);
    const manager = await runningManager(lab);
    const leader = (await portFor(manager).listNodes()).find((n) => n.manager?.leader)!;
    const engine = portFor(lab.node(leader.hostname));
    git = await startGitServer();
    const first = await git.push({ 'warden.yml': state(name, 1) });
    const secretFile = join(dir, 'webhook-secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    const warden = await startWardenRun([
      '--git-url', git.url, '--git-ref', 'main', '--git-path', 'warden.yml', '--git-interval', '1h',
      '--git-cache', join(dir, 'cache'), '--webhook-secret-file', secretFile, '--host', lab.node(leader.hostname).host,
    ]);
    daemons.push(warden);
    expect(await revision(warden.url)).toBe(first);

    const second = await git.push({ 'warden.yml': state(name, 3) }, 'scale to 3');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: second });
    const fetchesBefore = git.fetches();
    const refused: Array<Record<string, string>> = [
      {},
      { 'x-hub-signature-256': `sha256=${sign(body, 'not-the-secret')}` },
      { 'x-hub-signature-256': `sha256=${sign('{"ref":"refs/heads/other"}')}` }, // a good signature of another body
      { 'x-gitlab-token': `${SECRET}-` },
    ];
    for (const headers of refused) {
      const res = await fetch(`${warden.url}/hooks/git`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      expect(res.status, JSON.stringify(headers)).toBe(401);
    }
    // Refused calls fetched nothing, so the pushed commit is not in force and the service is as it was.
    expect(git.fetches()).toBe(fetchesBefore);
    expect(await revision(warden.url)).toBe(first);
    expect((await engine.inspectService(name)).replicas).toBe(1);
    // pino writes its lines asynchronously: a 401 can reach the test before the line that logged it.
    const refusals = (): number => warden.logs().split('\n').filter((l) => l.includes('"msg":"git webhook refused"')).length;
    await waitUntil('the four refusals logged', () => refusals() >= 4, { timeoutMs: 5_000, intervalMs: 20 });
    expect(refusals()).toBe(4);

    const t0 = performance.now();
    const res = await fetch(`${warden.url}/hooks/git`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${sign(body)}` },
    });
    expect(res.status).toBe(202);
    await waitUntil(`${name} scaled to 3 by the webhook`, async () => (await engine.inspectService(name)).replicas === 3, { timeoutMs: 30_000, intervalMs: 10 });
    const ms = performance.now() - t0;
    process.stderr.write(`webhook to correction on lab ${inject('labId')}: ${ms.toFixed(0)} ms\n`);
    expect(await revision(warden.url)).toBe(second);
    const metrics = await (await fetch(`${warden.url}/metrics`)).text();
    expect(metrics).toContain('warden_webhook_requests_total{result="unauthorized"} 4');
    expect(metrics).toContain('warden_webhook_requests_total{result="accepted"} 1');
    expect(warden.logs()).toContain('"msg":"git webhook accepted; fetching the repository"');
    expect(warden.logs()).not.toContain(SECRET);

    // Other methods and paths stay read-only.
    expect((await fetch(`${warden.url}/hooks/git`)).status).toBe(405);
    expect((await fetch(`${warden.url}/status`, { method: 'POST', body, headers: { 'x-hub-signature-256': `sha256=${sign(body)}` } })).status).toBe(405);
  });

  it('run refuses a webhook secret with a file source, before touching anything', async () => {
    const file = join(dir, 'state.yml');
    writeFileSync(file, state('whatever', 1));
    const secretFile = join(dir, 'webhook-secret-2');
    writeFileSync(secretFile, `${SECRET}\n`);
    const manager = await runningManager(lab);
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [WARDEN_BIN, 'run', '-f', file, '--host', manager.host, '--listen', '127.0.0.1:0'], {
        env: { ...process.env, WARDEN_WEBHOOK_SECRET_FILE: secretFile },
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => resolve({ code, stdout }));
    });
    expect(out.code).toBe(2);
    expect(out.stdout).toContain('the git webhook needs a git source (--git-url)');
    expect(out.stdout).not.toContain(SECRET);
  });
});
