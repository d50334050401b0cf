// Issue 26, item 5, on the lab: `warden run` tells spec.notify's webhooks, real HTTP receivers on
// loopback. A file that would scale most running services to 0 at once is held as a whole: one `blocked`
// POST per webhook. A service that something keeps scaling back gets a flapping hold: one `held` POST per
// webhook, json and slack, with the contract's payload. A revision that fails to load: one
// `desired-state-invalid` POST. A receiver that hangs and one that answers 500 slow no pass, crash
// nothing, and count as failed in warden_notifications_total. The URLs (a token in their path) never
// appear in warden's output, /status or /metrics.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { createService, leaderNode, portFor, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const created: string[] = [];
const servers: Server[] = [];
const TOKEN = `T0KEN${randomBytes(8).toString('hex')}`;
let warden: WardenDaemon | undefined;
let dir: string;

interface Post {
  path: string;
  body: Record<string, unknown>;
}

// One receiver on 127.0.0.1: `ok` records every POST and answers 204, `fail` answers 500, `hang` reads
// the request and never answers. `requests` counts what arrived, `open` what has had no answer yet.
async function receiver(mode: 'ok' | 'fail' | 'hang'): Promise<{ url: string; posts: Post[]; requests: () => number; open: () => number }> {
  const posts: Post[] = [];
  let requests = 0;
  let open = 0;
  const server = createServer((req: IncomingMessage, res) => {
    requests += 1;
    open += 1;
    res.on('close', () => (open -= 1));
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      if (mode === 'hang') return;
      if (mode === 'ok') posts.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(mode === 'ok' ? 204 : 500).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/services/${TOKEN}`, posts, requests: () => requests, open: () => open };
}

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-notify-'));
});

afterAll(async () => {
  await warden?.stop('SIGKILL');
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  await removeServices(lab, ...created);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

// A resync every second keeps passes coming, so that "one POST, not one per pass" is seen over real passes.
const state = (service: string, zero: readonly string[], extra = ''): string => [
  'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:', extra,
  '  services:', `    - { name: ${service}, replicas: 2 }`, ...zero.map((z) => `    - { name: ${z}, replicas: 0 }`),
  '  notify:',
  '    - { urlFile: hooks/ok.url, format: json }',
  '    - { urlFile: hooks/slack.url, format: slack, events: [held, blocked] }',
  `    - { urlFile: ${join(dir, 'hooks/hang.url')} }`,
  '    - { urlFile: hooks/fail.url, events: [held, desired-state-invalid] }',
  '  policy:', '    resync: "*/1 * * * * *"', '',
].filter((l) => l !== '').join('\n');

interface Status {
  revision?: string;
  lastPass?: { passId: number; durationMs: number };
  held: Array<{ key: string; reason: string }>;
}

async function status(d: WardenDaemon): Promise<Status> {
  return (await (await fetch(`${d.url}/status`)).json()) as Status;
}

async function corrections(d: WardenDaemon): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  return [...text.matchAll(/^warden_corrections_total\{[^}]*\} (\S+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

async function notifications(d: WardenDaemon, event: string, result: 'sent' | 'failed'): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  const m = new RegExp(`^warden_notifications_total\\{event="${event}",result="${result}"\\} (\\S+)$`, 'm').exec(text);
  return Number(m?.[1] ?? NaN);
}

describe('notifications from warden run', () => {
  it('sends one blocked, one held and one desired-state-invalid per webhook; a hanging and a failing receiver slow no pass and count as failed', async () => {
    const ok = await receiver('ok');
    const hang = await receiver('hang');
    const fail = await receiver('fail');
    const hooks = join(dir, 'hooks');
    rmSync(hooks, { recursive: true, force: true });
    mkdirSync(hooks);
    writeFileSync(join(hooks, 'ok.url'), `${ok.url}/json\n`);
    writeFileSync(join(hooks, 'slack.url'), `${ok.url}/slack\n`);
    writeFileSync(join(hooks, 'hang.url'), `${hang.url}\n`);
    writeFileSync(join(hooks, 'fail.url'), `${fail.url}\n`);
    const fought = await createService(lab, uniqueName('notify'), ['--replicas', '2']);
    const zero = [await createService(lab, uniqueName('zero')), await createService(lab, uniqueName('zero'))];
    created.push(fought, ...zero);
    const file = join(dir, 'warden.yml');
    writeFileSync(file, state(fought, zero));
    const leader = await leaderNode(lab);
    const engine = portFor(leader);
    warden = await startWardenRun(['-f', file, '--host', leader.host, '--log-level', 'debug'], { stderr: 'pipe' });
    const w = warden;
    // On a failure, what warden said: its notifications, whether it led throughout, and what it did or refused.
    onTestFailed(async () => {
      const counts = (await (await fetch(`${w.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('warden_notifications_total'));
      const told = ok.posts.map((p) => `${p.path.split('/').pop()} ${String(p.body.event ?? p.body.text).slice(0, 40)} ${String(p.body.object ?? '')}`);
      const said = w.logs().split('\n').filter((l) => (l.includes('notification') || !l.includes('"level":"debug"')) && !l.includes('"reason":"cap"')).slice(-60);
      console.error([`received at ok: ${told.join(' | ')}`, `hang ${hang.requests()} (open ${hang.open()}), fail ${fail.requests()}`, ...counts, ...said].join('\n'));
    });
    const revision = (await status(w)).revision;

    // Two of the three running services to 0 at once: held as a whole, told once as blocked.
    await waitUntil('blocked at the json and the slack webhook', () => ok.posts.filter((p) => p.body.event === 'blocked' || String(p.body.text).includes('*blocked*')).length >= 2, { timeoutMs: 20_000 });
    const blocked = ok.posts.find((p) => p.body.event === 'blocked')!;
    expect(blocked.body).toMatchObject({ event: 'blocked', cluster: 'lab', stack: null, object: 'replicas', health: null, revision });
    expect(blocked.body.reason).toBe('held: this desired state would scale 2 of 3 running services to 0 at once; if that is meant, scale down at most half of them per revision (or by hand)');
    for (const z of zero) expect((await engine.inspectService(z)).replicas).toBe(1);

    // Another actor scales the service back after each correction: three corrections, then a hold.
    for (let round = 1; round <= 3; round++) {
      await lab.docker(leader, ['service', 'scale', '--detach', `${fought}=1`]);
      await waitUntil(`correction ${round}`, async () => (await engine.inspectService(fought)).replicas === 2 && (await corrections(w)) === round, { timeoutMs: 20_000 });
    }
    await waitUntil('the flapping hold', async () => (await status(w)).held.some((h) => h.key === `replicas/${fought}`), { timeoutMs: 20_000 });
    await lab.docker(leader, ['service', 'scale', '--detach', `${fought}=1`]);
    const held = (p: Post): boolean => p.body.event === 'held' || String((p.body as { text?: string }).text).includes('held by warden');
    await waitUntil('held at the json and the slack webhook', () => ok.posts.filter(held).length >= 2, { timeoutMs: 20_000 });

    // While the hanging receiver holds a POST open, passes go on at their pace, each quick.
    await waitUntil('a POST held open by the hanging receiver', () => hang.open() > 0, { timeoutMs: 10_000 });
    const before = (await status(w)).lastPass?.passId ?? 0;
    await waitUntil('three more passes', async () => ((await status(w)).lastPass?.passId ?? 0) >= before + 3, { timeoutMs: 10_000 });
    expect((await status(w)).lastPass?.durationMs).toBeLessThan(2_000);

    const json = ok.posts.filter((p) => p.path.endsWith('/json') && p.body.event === 'held');
    expect(json.map((p) => p.body)).toEqual([{
      event: 'held', cluster: 'lab', stack: null, object: fought, health: null,
      reason: expect.stringContaining('flapping (replicas): corrected 3 times in 10 min') as unknown, revision, time: expect.any(String) as unknown,
    }]);
    const slack = ok.posts.filter((p) => p.path.endsWith('/slack') && String(p.body.text).includes('held by warden'));
    expect(slack).toHaveLength(1);
    expect(slack[0]!.body.text).toBe(`:double_vertical_bar: *held by warden*: \`${fought}\`\n${json[0]!.body.reason as string}`);

    // A revision that does not load: told once, with the failed revision, while the good one stays in force.
    writeFileSync(file, state(fought, zero, '  managers: { count: 4 }'));
    await waitUntil('desired-state-invalid', () => ok.posts.some((p) => p.body.event === 'desired-state-invalid'), { timeoutMs: 20_000 });
    const invalid = ok.posts.filter((p) => p.body.event === 'desired-state-invalid');
    expect(invalid[0]!.body).toMatchObject({ event: 'desired-state-invalid', cluster: 'lab', object: file, health: null });
    expect(invalid[0]!.body.reason).toContain('4 managers tolerate no more failures than 3');
    expect(invalid[0]!.body.revision).not.toBe(revision);
    expect((await status(w)).revision).toBe(revision);

    // The hanging and the failing receiver: tried, retried within bounds, counted failed; warden lives on.
    // The hanging one takes each message in turn, up to 3 tries of 5 s: blocked, held, then desired-state-invalid.
    await waitUntil('held failed at the hanging and the failing webhook', async () => (await notifications(w, 'held', 'failed')) === 2, { timeoutMs: 90_000 });
    await waitUntil('desired-state-invalid failed at both', async () => (await notifications(w, 'desired-state-invalid', 'failed')) === 2, { timeoutMs: 60_000 });
    expect(fail.requests()).toBe(6);
    expect(hang.requests()).toBe(9);
    expect(await notifications(w, 'blocked', 'failed')).toBe(1);
    expect(await notifications(w, 'blocked', 'sent')).toBe(2);
    expect(await notifications(w, 'held', 'sent')).toBe(2);
    expect(await notifications(w, 'desired-state-invalid', 'sent')).toBe(1);
    // Still one of each, many passes later: one POST per object and change of state.
    const later = (await status(w)).lastPass?.passId ?? 0;
    await waitUntil('three more passes', async () => ((await status(w)).lastPass?.passId ?? 0) >= later + 3, { timeoutMs: 10_000 });
    const said = (p: Post): string => String(p.body.event ?? (String(p.body.text).includes('*blocked*') ? 'blocked' : 'held'));
    expect(ok.posts.map((p) => `${p.path.split('/').pop()} ${said(p)}`).sort()).toEqual(['json blocked', 'json desired-state-invalid', 'json held', 'slack blocked', 'slack held']);
    expect(w.child.exitCode).toBeNull();
    expect((await fetch(`${w.url}/livez`)).status).toBe(200);

    // The URLs are secrets: nowhere in what warden shows.
    const shown = [w.logs(), w.errors(), JSON.stringify(await status(w)), await (await fetch(`${w.url}/metrics`)).text()].join('\n');
    expect(shown).not.toContain(TOKEN);
    expect(shown).toContain('hooks/hang.url');
  }, 240_000);
});
