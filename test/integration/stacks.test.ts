// The stacks reconciler on the lab, through the real command line: a stack deployed by `docker stack
// deploy` is in sync for warden (no write); warden deploys a stack and a second apply writes nothing; a
// change in the files (env, a config's content, the image) rolls out once; a deleted service comes back;
// prune removes what the file no longer has, and holds the removal of more than half of a stack.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/lab/exec.js';
import { leaderNode, restoreLab, runningManager, testLab } from '../support/lab.js';
import { cliDeploy, removeStack, stackObjects, stackPort } from '../support/stacks.js';
import { startSocketProxy } from '../support/socket-proxy.js';
import { waitUntil } from '../support/wait.js';
import { runWarden, startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const NAME = 'st';
const ENV = { GREETING: 'hello', WEB_PORT: '18080' };
let dir: string;
const daemons: WardenDaemon[] = [];

beforeAll(async () => {
  await restoreLab(lab);
  // A second tag of the lab image on every node, for an image change that can run.
  for (const n of lab.nodes) await run('docker', ['-H', n.host, 'tag', 'busybox:lab', 'busybox:lab2']);
});
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop();
  await removeStack(await runningManager(lab), NAME);
  if (dir) rmSync(dir, { recursive: true, force: true });
});
afterAll(() => restoreLab(lab));

/** setup copies the every-key fixture into a fresh directory with a desired-state file naming it. */
function setup(opts: { prune?: boolean; env?: Record<string, string> } = {}): string {
  dir = mkdtempSync(path.join(tmpdir(), 'warden-stacks-'));
  for (const f of ['every-key.compose.yml', 'every-key.env', 'every-key.secret', 'every-key.conf']) cpSync(path.join('examples/stacks', f), path.join(dir, f));
  writeDesired(opts);
  return path.join(dir, 'warden.yml');
}

// The rollback grace is off here: these tests are about the rollout itself, which removes what it replaced
// once swarm cannot roll back to it (the grace has its own test below).
function writeDesired(opts: { prune?: boolean; env?: Record<string, string>; resync?: string } = {}): void {
  const env = Object.entries(opts.env ?? ENV).map(([k, v]) => `${k}: "${v}"`).join(', ');
  const resync = opts.resync ? `, resync: "${opts.resync}"` : '';
  writeFileSync(path.join(dir, 'warden.yml'), `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: lab }
spec:
  stacks:
    - name: ${NAME}
      file: every-key.compose.yml
      deploy: true
      prune: ${opts.prune ?? false}
      resolveImage: never
      env: { ${env} }
  policy: { rollbackGrace: 0s${resync} }
`);
}

function edit(file: string, from: string | RegExp, to: string): void {
  const p = path.join(dir, file);
  const text = readFileSync(p, 'utf8');
  const next = text.replace(from, to);
  expect(next).not.toBe(text);
  writeFileSync(p, next);
}

async function versions(): Promise<Record<string, number>> {
  const objects = await stackObjects(await runningManager(lab), NAME);
  return Object.fromEntries(objects.services.map((s) => [s.spec.Name, s.version]));
}

/**
 * apply runs `warden apply` with JSON lines and returns its exit code, the changes it logged, and the
 * write calls it sent the engine (a recording proxy sits between them: the engine's own status writes bump
 * a service's version too, so versions alone cannot say that warden wrote nothing).
 */
async function apply(file: string): Promise<{ code: number | null; changes: Array<{ action: string; object: string }>; writes: string[]; stderr: string }> {
  const manager = await runningManager(lab);
  const proxy = await startSocketProxy(manager.socket);
  const r = await runWarden(['apply', '-f', file, '--host', `unix://${proxy.socket}`, '--log-format', 'json']).finally(() => proxy.close());
  const writes = proxy.paths.filter((p) => !p.startsWith('GET ') && !p.startsWith('HEAD '));
  const changes = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { action?: string; object?: string; msg?: string })
    .filter((l) => l.action !== undefined && l.object !== undefined && l.msg !== 'action suppressed')
    .map((l) => ({ action: l.action!, object: l.object! }));
  // What went wrong, for assertion messages: the warnings and errors it logged, and its final plan.
  const problems = r.stdout.split('\n').filter((l) => l.startsWith('{') && !l.includes('desired state'));
  return { code: r.code, changes, writes, stderr: [r.stderr, ...problems, ...r.stdout.split('\n').filter((l) => !l.startsWith('{'))].join('\n') };
}

/**
 * removedOnceDone returns whether `object` was removed by the apply given or, once swarm's update is done
 * with it (a replaced config or secret goes only when no update may return to it), by a later apply.
 */
// A rollout test waits for the update to be done (up to 150 s on a loaded machine) before the removal.
const ROLLOUT_TIMEOUT_MS = 300_000;

async function removedOnceDone(file: string, first: Array<{ action: string; object: string }>, object: string): Promise<boolean> {
  const removes = (changes: Array<{ action: string; object: string }>): boolean => changes.some((c) => c.action === 'remove-stack-object' && c.object === object);
  if (removes(first)) return true;
  return waitUntil(`${object} removed once the update is done with it`, async () => removes((await apply(file)).changes), { timeoutMs: 150_000, intervalMs: 2_000 })
    .catch(async (err: Error) => {
      throw new Error(`${err.message}\nwarden plan says:\n${(await plan(file)).stdout}`);
    });
}

async function plan(file: string): Promise<{ code: number | null; stdout: string }> {
  const manager = await runningManager(lab);
  const r = await runWarden(['plan', '-f', file, '--host', manager.host]);
  return { code: r.code, stdout: r.stdout + r.stderr };
}

describe('stacks with deploy: true on the lab', () => {
  it('adopts a stack docker stack deploy made: in sync but for one label on its secret, then writes nothing', async () => {
    const file = setup();
    const manager = await runningManager(lab);
    await cliDeploy(manager, path.join(dir, 'every-key.compose.yml'), NAME, ENV);
    const p = await plan(file);
    expect(p.stdout).toContain('in sync  service st_web');
    // A secret's content cannot be read back: the file's hash is recorded on it, with a labels-only write.
    expect(p.stdout).toMatch(/label\s+secret st_api_key/);
    expect(p.code, p.stdout).toBe(1);
    const a = await apply(file);
    expect(a.changes).toEqual([{ action: 'label-secret', object: 'st_api_key' }]);
    expect(a.writes).toEqual([expect.stringMatching(/^POST \/v[\d.]+\/secrets\/\w+\/update\?version=\d+$/)]);
    expect(a.code, a.stderr).toBe(0);
    const secret = (await stackObjects(manager, NAME)).secrets.find((x) => x.name === 'st_api_key')!;
    expect(secret.labels).toMatchObject({ 'com.docker.stack.namespace': NAME, 'com.example.secret': 'api', 'warden.content-sha256': expect.stringMatching(/^[0-9a-f]{64}$/) });
    const again = await apply(file);
    expect(again.writes).toEqual([]);
    expect(again.code, again.stderr).toBe(0);
  });

  it('rolls a new content of an adopted secret out: a new secret, the services moved to it, the old one removed', async () => {
    const file = setup();
    const manager = await runningManager(lab);
    await cliDeploy(manager, path.join(dir, 'every-key.compose.yml'), NAME, ENV);
    expect((await apply(file)).code).toBe(0);
    writeFileSync(path.join(dir, 'every-key.secret'), 'a new key\n');
    const a = await apply(file);
    expect(a.code, a.stderr).toBe(0);
    expect(await removedOnceDone(file, a.changes, 'st_api_key')).toBe(true);
    const objects = await stackObjects(manager, NAME);
    const secrets = objects.secrets.map((x) => x.name);
    expect(secrets).toEqual([expect.stringMatching(/^st_api_key_[0-9a-f]{8}$/)]);
    expect(a.changes).toContainEqual({ action: 'create-file-object', object: secrets[0] });
    const web = objects.services.find((x) => x.spec.Name === 'st_web')!;
    const refs = (web.spec.TaskTemplate!.ContainerSpec as { Secrets: Array<{ SecretName: string }> }).Secrets.map((r) => r.SecretName);
    expect(new Set(refs)).toEqual(new Set(secrets));
    expect((await apply(file)).writes).toEqual([]);
  }, ROLLOUT_TIMEOUT_MS);

  it('deploys a stack, and a second apply writes nothing', async () => {
    const file = setup();
    const first = await apply(file);
    expect(first.code, first.stderr).toBe(0);
    expect(first.changes.filter((c) => c.action === 'create-service').map((c) => c.object).sort()).toEqual(['st_agent', 'st_plain', 'st_web']);
    expect(first.changes.filter((c) => c.action === 'create-network').map((c) => c.object).sort()).toEqual(['st_back', 'st_default', 'st_front']);
    const objects = await stackObjects(await runningManager(lab), NAME);
    expect(objects.configs.map((c) => c.name)).toEqual([expect.stringMatching(/^st_web_conf_[0-9a-f]{8}$/)]);
    expect(objects.secrets.map((c) => c.name)).toEqual([expect.stringMatching(/^st_api_key_[0-9a-f]{8}$/)]);
    const second = await apply(file);
    expect(second.changes).toEqual([]);
    expect(second.writes).toEqual([]);
    expect(second.code, second.stderr).toBe(0);
  });

  it('rolls a change of env, config content and image out once, and removes the old config', async () => {
    const file = setup();
    expect((await apply(file)).code).toBe(0);
    const oldConfig = (await stackObjects(await runningManager(lab), NAME)).configs[0]!.name;
    writeDesired({ env: { ...ENV, GREETING: 'changed' } });
    writeFileSync(path.join(dir, 'every-key.conf'), 'listen 8080;\n');
    edit('every-key.compose.yml', '  plain:\n    image: busybox:lab\n', '  plain:\n    image: busybox:lab2\n');
    const p = await plan(file);
    expect(p.code).toBe(1);
    expect(p.stdout).toMatch(/update\s+service st_web, tasks restart: planned/);
    expect(p.stdout).toContain('TaskTemplate.ContainerSpec.Env[GREETING]: "GREETING=hello" -> "GREETING=changed" (restarts)');
    const a = await apply(file);
    expect(a.code, a.stderr).toBe(0);
    expect(a.changes.filter((c) => c.action === 'update-service').map((c) => c.object).sort()).toEqual(['st_plain', 'st_web']);
    expect(await removedOnceDone(file, a.changes, oldConfig)).toBe(true);
    const web = (await stackObjects(await runningManager(lab), NAME)).services.find((s) => s.spec.Name === 'st_web')!;
    expect((web.spec.TaskTemplate!.ContainerSpec as { Env: string[] }).Env).toContain('GREETING=changed');
    const again = await apply(file);
    expect(again.changes).toEqual([]);
  }, ROLLOUT_TIMEOUT_MS);

  it('brings back a service deleted by hand', async () => {
    const file = setup();
    expect((await apply(file)).code).toBe(0);
    const manager = await runningManager(lab);
    await run('docker', ['-H', manager.host, 'service', 'rm', `${NAME}_plain`]);
    const a = await apply(file);
    expect(a.changes).toEqual([{ action: 'create-service', object: `${NAME}_plain` }]);
    expect(Object.keys(await versions()).sort()).toEqual(['st_agent', 'st_plain', 'st_web']);
  });

  it('prunes a service the file no longer has, and holds a prune of more than half of the stack', async () => {
    const file = setup({ prune: true });
    expect((await apply(file)).code).toBe(0);
    edit('every-key.compose.yml', /  plain:\n    image: busybox:lab\n    command: \["sleep", "86400"\]\n/, '');
    const pruned = await apply(file);
    expect(pruned.changes).toContainEqual({ action: 'remove-stack-object', object: `${NAME}_plain` });
    expect(Object.keys(await versions()).sort()).toEqual(['st_agent', 'st_web']);

    // A file with neither web nor agent: removing both would remove all of the stack's services. (other
    // joins the back network that exists: a network removed moments ago can linger in a node's list.)
    writeFileSync(
      path.join(dir, 'every-key.compose.yml'),
      'version: "3.8"\nservices:\n  other:\n    image: busybox:lab\n    command: ["sleep", "86400"]\n    networks: [back]\nnetworks:\n  back: { internal: true }\n',
    );
    const held = await apply(file);
    expect(held.code).toBe(1);
    expect(held.stderr).toMatch(/held\s+held: pruning stack st would remove 2 of its \d services at once/);
    expect(Object.keys(await versions()).sort(), held.stderr).toEqual(['st_agent', 'st_other', 'st_web']);
  });

  it('under warden run, deploys the stack, reverts a hand edit and brings back a deleted service (one create) from the events alone', async () => {
    const file = setup();
    const leader = await leaderNode(lab);
    // A resync once a year: what finds the edits below is the events stream (and the services cache).
    writeDesired({ resync: '0 0 1 1 *' });
    const daemon = await startWardenRun(['-f', file, '--host', leader.host], { readyTimeoutMs: 60_000 });
    daemons.push(daemon);
    const writes = (): number => daemon.logs().split('\n').filter((l) => l.includes('"corrected drift"')).length;
    await waitUntil('the stack deployed', async () => Object.keys(await versions()).length === 3, { timeoutMs: 60_000 });
    const inSync = async (): Promise<boolean> => (await plan(file)).code === 0;
    await waitUntil('the stack in sync', inSync, { timeoutMs: 60_000 });

    // A hand edit of a field the file sets: reverted once.
    const before = writes();
    await run('docker', ['-H', leader.host, 'service', 'update', '--detach', '--env-add', 'HAND=edit', `${NAME}_plain`]);
    await waitUntil('the hand edit reverted', async () => writes() > before && (await inSync()), { timeoutMs: 30_000 });
    const env = (await stackObjects(leader, NAME)).services.find((s) => s.spec.Name === `${NAME}_plain`)?.spec.TaskTemplate?.ContainerSpec?.Env as string[] | undefined;
    expect(env ?? []).not.toContain('HAND=edit');

    // A service removed by hand comes back, with one write: the create (the cache drops the removed
    // service at its event, and learns of the new one from the create's).
    const beforeDelete = writes();
    await run('docker', ['-H', leader.host, 'service', 'rm', `${NAME}_plain`]);
    await waitUntil('the deleted service back', async () => Object.keys(await versions()).includes(`${NAME}_plain`) && (await inSync()), { timeoutMs: 30_000 });
    const lines = daemon.logs().split('\n').filter((l) => l.includes('"corrected drift"')).slice(beforeDelete);
    expect(lines.map((l) => (JSON.parse(l) as { action: string; object: string })).map((l) => `${l.action} ${l.object}`)).toEqual([`create-service ${NAME}_plain`]);
  });

  it('reverts an image changed by hand with docker service update --image (its stack label unchanged)', async () => {
    const file = setup();
    expect((await apply(file)).code).toBe(0);
    const manager = await runningManager(lab);
    await run('docker', ['-H', manager.host, 'service', 'update', '--detach', '--image', 'busybox:lab2', `${NAME}_plain`]);
    const a = await apply(file);
    expect(a.changes).toEqual([{ action: 'update-service', object: `${NAME}_plain` }]);
    const plain = (await stackObjects(manager, NAME)).services.find((s) => s.spec.Name === `${NAME}_plain`)!;
    expect(plain.spec.TaskTemplate!.ContainerSpec!.Image).toBe('busybox:lab');
    expect((await apply(file)).changes).toEqual([]);
  });
});

// A secret rotated by an update that fails: swarm rolls back to the previous spec, which names the old
// secret, so the old one must outlive the update (and policy.rollbackGrace after it completed).
describe('stacks: a rotation swarm rolls back', () => {
  const STACK = 'rb';
  const GRACE_S = 15;
  afterEach(async () => removeStack(await runningManager(lab), STACK));

  function setupRollback(): string {
    dir = mkdtempSync(path.join(tmpdir(), 'warden-rollback-'));
    // The task checks its secret some seconds after it starts, inside the update's monitor: content without
    // "good" makes it fail, and failure_action rollback returns the service to its previous spec.
    writeFileSync(path.join(dir, 'rb.compose.yml'), `version: "3.8"
services:
  app:
    image: busybox:lab
    command: ["sh", "-c", "sleep 10; grep -q good /run/secrets/token || exit 1; exec sleep 86400"]
    secrets: [token]
    deploy:
      update_config: { failure_action: rollback, monitor: 20s, order: stop-first }
      rollback_config: { monitor: 5s }
      restart_policy: { condition: on-failure, delay: 1s }
secrets:
  token: { file: token.txt }
`);
    writeFileSync(path.join(dir, 'token.txt'), 'good-1\n');
    writeFileSync(path.join(dir, 'warden.yml'), `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: lab }
spec:
  stacks:
    - { name: ${STACK}, file: rb.compose.yml, deploy: true, resolveImage: never }
  policy: { rollbackGrace: ${GRACE_S}s }
`);
    return path.join(dir, 'warden.yml');
  }

  async function service(): Promise<{ state: string | undefined; completedAt: string; running: number; secrets: string[] }> {
    const s = (await stackPort(await runningManager(lab)).listServices({ status: true })).find((x) => x.name === `${STACK}_app`)!;
    const refs = ((s.spec.TaskTemplate?.ContainerSpec as { Secrets?: Array<{ SecretName: string }> }).Secrets ?? []).map((r) => r.SecretName);
    return { state: s.updateStatus?.state, completedAt: s.updateStatus?.completedAt ?? '', running: s.status?.runningTasks ?? 0, secrets: refs };
  }

  async function secretNames(): Promise<string[]> {
    return (await stackObjects(await runningManager(lab), STACK)).secrets.map((x) => x.name);
  }

  it('keeps the old secret through a failed update\'s rollback, and removes it only once the grace after completion ran out', async () => {
    const file = setupRollback();
    expect((await apply(file)).code).toBe(0);
    await waitUntil('the service running', async () => (await service()).running === 1, { timeoutMs: 60_000 });
    const [first] = await secretNames();

    // The bad content: a new secret, and an update that will fail and roll back.
    writeFileSync(path.join(dir, 'token.txt'), 'bad\n');
    const rotate = await apply(file);
    expect(rotate.changes).toContainEqual({ action: 'update-service', object: `${STACK}_app` });
    // A pass while the update is under way: the current spec no longer names the old secret, the previous does.
    const during = await apply(file);
    expect((await service()).state, 'the second pass ran while the update was under way').toBe('updating');
    expect(during.changes.filter((c) => c.action === 'remove-stack-object')).toEqual([]);
    expect(await secretNames()).toContain(first);
    // swarm rolls back to the spec with the old secret, and its task runs again.
    await waitUntil('the rollback completed, its task running', async () => {
      const s = await service();
      return s.state === 'rollback_completed' && s.running === 1 && s.secrets.includes(first!);
    }, { timeoutMs: 120_000, intervalMs: 1_000 });
    expect(await secretNames()).toContain(first);

    // A good content rolls out; the secret it replaced stays for the grace after the update completed.
    writeFileSync(path.join(dir, 'token.txt'), 'good-2\n');
    expect((await apply(file)).changes).toContainEqual({ action: 'update-service', object: `${STACK}_app` });
    const done = await waitUntil('the update completed', async () => {
      const s = await service();
      return s.state === 'completed' && s.running === 1 ? s : undefined;
    }, { timeoutMs: 120_000, intervalMs: 1_000 });
    const after = await apply(file);
    expect(after.changes.map((c) => c.object)).not.toContain(first);
    expect(await secretNames()).toContain(first);
    await waitUntil('the old secret removed after the grace', async () => {
      await apply(file);
      return !(await secretNames()).includes(first!);
    }, { timeoutMs: 120_000, intervalMs: 2_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(done.completedAt) + GRACE_S * 1000);
    expect((await secretNames()).length).toBe(1);
  }, 420_000);
});
