// Issue 26, items 4 and 5, on the lab: `warden run` follows each update it makes to a deployed stack's
// service to its end, from the UpdateStatus its passes read. A good update: rollout-completed, counted
// completed. An update whose new tasks exit 1 with `failure_action: rollback`: swarm rolls it back,
// counted rolled_back, told once as rollout-failed with the engine's reason, however often warden applies
// it again until the flapping hold; the service then shows suspended, "rolled back by swarm at revision
// X; fix the file". One with `failure_action: pause`: paused, degraded; the file fixed, rollout-completed
// and recovered. Each told once, to a real HTTP receiver on loopback.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { leaderNode, restoreLab, runningManager, testLab } from '../support/lab.js';
import { removeStack } from '../support/stacks.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const stack = `ro${process.pid.toString(36)}`;
let warden: WardenDaemon | undefined;
let server: Server | undefined;
let dir: string;
const posts: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-rollouts-'));
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      posts.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await warden?.stop('SIGKILL');
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await removeStack(await runningManager(lab), stack);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

// Small update and rollback times, so that each rollout ends within seconds; `sh` as PID 1 ignores SIGTERM,
// so a short stop_grace_period spares each replaced task the default 10 s.
const service = (name: string, failure: 'rollback' | 'pause', command: string): string[] => [
  `  ${name}:`, '    image: busybox:lab', `    command: ["sh", "-c", "${command}"]`, '    stop_grace_period: 1s',
  '    deploy:', '      update_config: { parallelism: 1, delay: 0s, monitor: 3s, failure_action: ' + failure + ' }',
  '      rollback_config: { parallelism: 1, delay: 0s, monitor: 3s }',
];
const SLEEP = 'sleep 86400';
const EXIT = 'sleep 1; exit 1';

function write(web: string, back: string, paused: string): void {
  writeFileSync(join(dir, 'compose.yml'), ['version: "3.8"', 'services:', ...service('web', 'rollback', web), ...service('back', 'rollback', back), ...service('paused', 'pause', paused), ''].join('\n'));
  const { port } = server!.address() as { port: number };
  writeFileSync(join(dir, 'hook.url'), `http://127.0.0.1:${port}/hook\n`);
  writeFileSync(join(dir, 'warden.yml'), ['apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:', '  stacks:',
    `    - { name: ${stack}, file: compose.yml, deploy: true, resolveImage: never }`, '  notify:', '    - { urlFile: hook.url, format: json }',
    '  policy:', '    resync: "*/2 * * * * *"', `# ${web} ${back} ${paused}`, ''].join('\n'));
}

interface Row { service: string; health: string; reason: string; rollout?: { result: string; revision?: string; reason: string; at: string } }
interface Status { revision?: string; services: Row[] }

async function status(): Promise<Status> {
  return (await (await fetch(`${warden!.url}/status`)).json()) as Status;
}
const row = async (name: string): Promise<Row | undefined> => (await status()).services.find((r) => r.service === `${stack}_${name}`);

async function rollouts(name: string, result: string): Promise<number> {
  const text = await (await fetch(`${warden!.url}/metrics`)).text();
  const m = new RegExp(`^warden_rollouts_total\\{stack="${stack}",service="${stack}_${name}",result="${result}"\\} (\\S+)$`, 'm').exec(text);
  return Number(m?.[1] ?? 0);
}

const told = (event: string, name: string): Array<Record<string, unknown>> => posts.filter((p) => p.event === event && p.object === `${stack}_${name}`);

describe('rollout outcomes and their notifications', () => {
  it('completed, rolled back (then held, suspended) and paused (degraded, then fixed and recovered), each told once', async () => {
    // On the leader's node: only the instance there acts, and an earlier file may have moved the leadership.
    const manager = await leaderNode(lab);
    write(SLEEP, SLEEP, SLEEP);
    warden = await startWardenRun(['-f', join(dir, 'warden.yml'), '--host', manager.host], { stderr: 'pipe' });
    // On a failure, what warden said: whether it led throughout (a leadership moved mid-test stops it acting), its notifications.
    onTestFailed(() => console.error(`warden's log, last 60 lines:\n${warden!.logs().split('\n').slice(-60).join('\n')}\n${warden!.errors().split('\n').slice(-20).join('\n')}`));
    await waitUntil('the stack running', async () => {
      const s = await status();
      return s.services.length === 3 && s.services.every((r) => r.health === 'healthy');
    }, { timeoutMs: 90_000, intervalMs: 1_000 });

    // One revision: web gets a good update, back and paused ones whose new tasks exit 1.
    const started = Date.now();
    write(`${SLEEP} # v2`, EXIT, EXIT);
    await waitUntil('the new revision', async () => (await status()).revision !== undefined && told('rollout-completed', 'web').length > 0, { timeoutMs: 60_000, intervalMs: 500 });
    const revision = (await status()).revision!;
    const completedMs = Date.now() - started;
    expect(told('rollout-completed', 'web')[0]).toMatchObject({ cluster: 'lab', stack, revision, reason: 'update completed' });
    expect(await rollouts('web', 'completed')).toBe(1);

    await waitUntil('back rolled back', async () => (await rollouts('back', 'rolled_back')) >= 1, { timeoutMs: 60_000, intervalMs: 500 });
    const rolledBackMs = Date.now() - started;
    await waitUntil('rollout-failed told', () => told('rollout-failed', 'back').length > 0, { timeoutMs: 10_000 });
    expect(told('rollout-failed', 'back')[0]).toMatchObject({ stack, revision, reason: expect.stringContaining('update rolled back due to failure or early termination of task') as unknown });
    expect(warden.logs()).toContain('swarm rolled back warden\'s change');

    await waitUntil('paused', async () => (await rollouts('paused', 'paused')) === 1, { timeoutMs: 60_000, intervalMs: 500 });
    await waitUntil('degraded told', () => told('degraded', 'paused').length > 0, { timeoutMs: 10_000 });
    expect(told('rollout-failed', 'paused')[0]).toMatchObject({ revision, reason: expect.stringContaining('update paused due to failure or early termination of task') as unknown });
    expect(told('degraded', 'paused')[0]).toMatchObject({ health: 'degraded', reason: expect.stringContaining('update paused') as unknown });
    expect((await row('paused'))?.rollout).toMatchObject({ result: 'paused', revision });

    // warden applies back's change again at each pass that finds it rolled back, until the flapping hold
    // (3 corrections): then it is suspended, and says why.
    await waitUntil('back held and suspended', async () => (await row('back'))?.health === 'suspended', { timeoutMs: 150_000, intervalMs: 1_000 });
    const held = (await row('back'))!;
    const heldMs = Date.now() - started;
    expect(held.reason).toMatch(new RegExp(`^rolled back by swarm at revision ${revision}; fix the file \\(update rolled back due to failure`));
    expect(held.rollout).toMatchObject({ result: 'rolled_back', revision });
    expect(await rollouts('back', 'rolled_back')).toBeGreaterThanOrEqual(2);
    expect(told('rollout-failed', 'back')).toHaveLength(1);

    // The file fixed: paused's update completes, and it recovers.
    const fixed = Date.now();
    write(`${SLEEP} # v2`, EXIT, `${SLEEP} # v3`);
    await waitUntil('paused recovered', () => told('recovered', 'paused').length > 0, { timeoutMs: 60_000, intervalMs: 500 });
    const recoveredMs = Date.now() - fixed;
    expect(told('rollout-completed', 'paused')).toHaveLength(1);
    expect(await rollouts('paused', 'completed')).toBe(1);
    // Once each, many passes later.
    const pass = async (): Promise<number> => ((await (await fetch(`${warden!.url}/status`)).json()) as { lastPass?: { passId: number } }).lastPass?.passId ?? 0;
    const later = await pass();
    await waitUntil('three more passes', async () => (await pass()) >= later + 3, { timeoutMs: 15_000 });
    expect(told('degraded', 'paused')).toHaveLength(1);
    expect(told('recovered', 'paused')).toHaveLength(1);
    expect(told('rollout-failed', 'back')).toHaveLength(1);
    expect(told('rollout-completed', 'web')).toHaveLength(1);
    console.log(`rollouts: completed told after ${completedMs} ms, rolled back after ${rolledBackMs} ms, held after ${heldMs} ms, recovered ${recoveredMs} ms after the fix`);
  }, 400_000);
});
