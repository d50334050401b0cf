// The stacks reconciler's plan, with its actions applied through the one apply path on the recording fake
// engine: a stack is deployed object by object, then in sync (no write), hand edits are reverted field by
// field, configs rotate by content, prune removes under its cap, stack deploy's own objects are adopted.
import { describe, expect, it } from 'vitest';
import { applyAction } from '../../../src/controller/apply.js';
import { loadComposeStack } from '../../../src/desired-state/compose/load.js';
import type { DesiredStack } from '../../../src/desired-state/compose/types.js';
import { formatProblem } from '../../../src/desired-state/source.js';
import type { DesiredService, DesiredState } from '../../../src/desired-state/types.js';
import { imagesToResolve, stacks } from '../../../src/reconcilers/stacks.js';
import type { Observed, Plan, StackObjectState } from '../../../src/reconcilers/types.js';
import { FakePort, fakeNode } from '../../support/fake-port.js';

const COMPOSE = `version: "3.8"
services:
  web:
    image: busybox:lab
    environment: { A: "1" }
    secrets: [key]
    configs: [{ source: conf, target: /etc/web.conf }]
    networks: [front]
    deploy: { replicas: 2 }
  worker:
    image: busybox:lab
    command: ["sleep", "1d"]
networks:
  front: { attachable: true }
secrets:
  key: { file: key.txt }
configs:
  conf: { file: web.conf }
`;

async function stackOf(text = COMPOSE, files: Record<string, string> = { 'key.txt': 'k1', 'web.conf': 'listen 80;' }, opts: Partial<DesiredStack> = {}): Promise<DesiredStack> {
  const read = await loadComposeStack(text, {
    stack: 'app', file: 'app.yml', env: {}, prune: opts.prune ?? false, resolveImage: opts.resolveImage ?? 'never',
    readFile: async (f) => Buffer.from(files[f] ?? (() => { throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); })()),
  });
  expect(read.problems.map(formatProblem)).toEqual([]);
  return read.stack!;
}

function desiredOf(stack: DesiredStack, services: DesiredService[] = []): DesiredState {
  return {
    cluster: 't', stacks: [stack], services,
    policy: { mode: 'enforce', reconcilers: {}, maxActionsPerPass: 20, resync: '*/30 * * * * *', ignoreLabel: 'warden.ignore', rebalance: false },
  };
}

async function observed(port: FakePort, images = new Map()): Promise<Observed> {
  return {
    info: await port.info(), nodes: port.nodes, services: await port.listServices(), tasks: [], at: 0,
    stackObjects: { networks: await port.listNetworks(), configs: await port.listConfigs(), secrets: await port.listSecrets(), images },
  };
}

const ctx = { now: 0, unreachableSince: new Map(), roleChangeSince: new Map(), lastApplied: () => undefined };

async function plan(port: FakePort, desired: DesiredState): Promise<Plan> {
  return stacks.plan(desired, await observed(port), ctx);
}

/** pass plans and applies every action, as a pass does. */
async function pass(port: FakePort, desired: DesiredState): Promise<Plan> {
  const p = await plan(port, desired);
  const snapshot = await observed(port);
  for (const a of p.actions) if (!a.ignored) await applyAction(port, a, snapshot, { retries: 0 });
  return p;
}

function states(p: Plan): string[] {
  return (p.objects ?? []).map((o: StackObjectState) => `${o.kind} ${o.name} ${o.state}`);
}

describe('stacks plan', () => {
  it('deploys a stack object by object (networks, secrets, configs, then services), and is then in sync', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const desired = desiredOf(await stackOf());
    const first = await pass(port, desired);
    expect(first.actions.map((a) => `${a.kind} ${a.object}`)).toEqual([
      'create-network app_default', 'create-network app_front',
      expect.stringMatching(/^create-file-object app_key_[0-9a-f]{8}$/),
      expect.stringMatching(/^create-file-object app_conf_[0-9a-f]{8}$/),
      'create-service app_web', 'create-service app_worker',
    ]);
    expect(port.services.map((s) => s.name)).toEqual(['app_web', 'app_worker']);
    // The engine got IDs for the secret and config, and keeps the networks by ID.
    const web = port.services[0]!.spec.TaskTemplate!;
    expect((web.ContainerSpec as { Secrets: Array<{ SecretID: string }> }).Secrets[0]!.SecretID).toMatch(/^sec-/);
    expect((web.Networks as Array<{ Target: string }>)[0]!.Target).toMatch(/^net-/);

    port.calls = [];
    const second = await pass(port, desired);
    expect(second.actions).toEqual([]);
    expect(second.drift).toEqual([]);
    expect(port.writes).toBe(0);
    expect(states(second)).toEqual([
      'network app_default in_sync', 'network app_front in_sync',
      expect.stringMatching(/^secret app_key_\w+ in_sync$/), expect.stringMatching(/^config app_conf_\w+ in_sync$/),
      'service app_web in_sync', 'service app_worker in_sync',
    ]);
  }, 20_000);

  it('reverts a hand edit with the fields that differ, keyed by identity, saying whether tasks restart', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const desired = desiredOf(await stackOf());
    await pass(port, desired);
    const web = port.services.find((s) => s.name === 'app_web')!;
    const c = web.spec.TaskTemplate!.ContainerSpec as { Env: string[] };
    c.Env = ['A=2', 'B=extra'];
    web.spec.Mode = { Replicated: { Replicas: 5 } };
    const p = await plan(port, desired);
    expect(p.actions).toHaveLength(1);
    const update = p.actions[0]!;
    expect(update).toMatchObject({ kind: 'update-service', object: 'app_web', restarts: true });
    expect(update.kind === 'update-service' && update.fields.map((f) => [f.field, f.live, f.desired, f.restarts])).toEqual([
      ['Mode.Replicated.Replicas', 5, 2, false],
      ['TaskTemplate.ContainerSpec.Env[A]', 'A=2', 'A=1', true],
      ['TaskTemplate.ContainerSpec.Env[B]', 'B=extra', undefined, true],
    ]);
    expect(p.drift).toEqual([{ object: 'app_web', message: expect.stringMatching(/^spec differs: Mode.Replicated.Replicas, TaskTemplate.ContainerSpec.Env\[A\].* \(tasks restart\)$/) }]);
    await pass(port, desired);
    expect((await plan(port, desired)).actions).toEqual([]);
  });

  it('keeps the replicas and placement of a services entry, and a forced restart\'s counter', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const entry: DesiredService = { name: 'app_web', origin: 'services', replicas: 4, placement: { constraints: ['node.role == worker'] } };
    const desired = desiredOf(await stackOf(), [entry]);
    await pass(port, desired);
    const web = port.services.find((s) => s.name === 'app_web')!;
    expect(web.spec.Mode).toEqual({ Replicated: { Replicas: 4 } });
    expect(web.spec.TaskTemplate!.Placement!.Constraints).toEqual(['node.role == worker']);
    web.spec.TaskTemplate!.ForceUpdate = 3;
    expect((await plan(port, desired)).actions).toEqual([]);
  });

  it('rotates a config by content: new object, services moved, the old one removed once unused', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port, desiredOf(await stackOf()));
    const old = port.configs[0]!.name;
    const changed = desiredOf(await stackOf(COMPOSE, { 'key.txt': 'k1', 'web.conf': 'listen 8080;' }));
    const p = await pass(port, changed);
    expect(p.actions.map((a) => `${a.kind} ${a.object}`)).toEqual([expect.stringMatching(/^create-file-object app_conf_/), 'update-service app_web']);
    expect(p.actions.find((a) => a.kind === 'create-file-object')!.object).not.toBe(old);
    const next = await pass(port, changed);
    expect(next.actions.map((a) => `${a.kind} ${a.object}`)).toEqual([`remove-stack-object ${old}`]);
    expect(port.configs.map((c) => c.name)).not.toContain(old);
    expect((await plan(port, changed)).actions).toEqual([]);
  });

  it('prunes what the file no longer has, and holds a prune of more than half of the services', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port, desiredOf(await stackOf()));
    const onlyWeb = COMPOSE.replace(/  worker:\n    image: busybox:lab\n    command: \["sleep", "1d"\]\n/, '');
    const kept = await pass(port, desiredOf(await stackOf(onlyWeb)));
    expect(kept.actions).toEqual([]);
    expect(kept.drift).toEqual([{ object: 'app_worker', message: 'service is not in app.yml (prune is off: left alone)' }]);
    const pruned = await pass(port, desiredOf(await stackOf(onlyWeb, undefined, { prune: true })));
    expect(pruned.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['remove-stack-object app_worker']);
    expect(port.services.map((s) => s.name)).toEqual(['app_web']);

    const port2 = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port2, desiredOf(await stackOf()));
    const none = await plan(port2, desiredOf(await stackOf('services:\n  other: { image: busybox:lab }\n', {}, { prune: true })));
    expect(none.blocked).toEqual({ reason: 'cap', message: expect.stringMatching(/^held: pruning stack app would remove 2 of its 2 services at once/) });
    expect(none.actions.filter((a) => a.kind === 'remove-stack-object' && a.objectKind === 'service')).toEqual([]);
  });

  it('adopts what docker stack deploy made: its config by content, its secret by name, a pinned image by label', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const stack = await stackOf();
    await pass(port, desiredOf(stack));
    // Make it look like the CLI's: objects named <stack>_<key> without warden's label, an image with a digest.
    const digest = `sha256:${'b'.repeat(64)}`;
    for (const [list, kind] of [[port.configs, 'conf'], [port.secrets, 'key']] as const) {
      for (const o of list) {
        o.name = `app_${kind}`;
        delete o.labels['warden.content-sha256'];
      }
    }
    for (const s of port.services) {
      const c = s.spec.TaskTemplate!.ContainerSpec as Record<string, unknown>;
      c.Image = `busybox:lab@${digest}`;
      for (const r of (c.Secrets as Array<Record<string, unknown>> | undefined) ?? []) r.SecretName = 'app_key';
      for (const r of (c.Configs as Array<Record<string, unknown>> | undefined) ?? []) r.ConfigName = 'app_conf';
    }
    port.calls = [];
    // The secret cannot be read back: it is taken as the file's, that content's hash is recorded on it, and
    // it is marked unverified, which plan says on every pass.
    const p = await pass(port, desiredOf(stack));
    expect(p.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['label-secret app_key']);
    expect(port.calls.filter((c) => /^(update|create|remove)/.test(c))).toEqual(['updateSecretLabels app_key']);
    expect(states(p)).toContain('secret app_key drift');
    expect(states(p)).toContain('config app_conf in_sync');
    expect(port.secrets[0]!.labels).toEqual({ 'com.docker.stack.namespace': 'app', 'warden.content-sha256': stack.secrets[0]!.hash, 'warden.content-unverified': 'true' });
    const q = await pass(port, desiredOf(stack));
    expect(q.actions).toEqual([]);
    expect(states(q)).toContain('secret app_key in_sync');
    expect(q.objects!.find((o) => o.name === 'app_key')!.note).toMatch(/content cannot be compared/);
  });

  it('rolls out a secret\'s new content after adopting stack deploy\'s, then removes the adopted one once unused', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const stack = await stackOf();
    await pass(port, desiredOf(stack));
    const secret = port.secrets[0]!;
    secret.name = 'app_key';
    delete secret.labels['warden.content-sha256'];
    for (const s of port.services) {
      for (const r of ((s.spec.TaskTemplate!.ContainerSpec as Record<string, unknown>).Secrets as Array<Record<string, unknown>> | undefined) ?? []) r.SecretName = 'app_key';
    }
    await pass(port, desiredOf(stack));
    const changed = await stackOf(COMPOSE, { 'key.txt': 'k2', 'web.conf': 'listen 80;' });
    const p = await pass(port, desiredOf(changed));
    expect(p.actions.map((a) => `${a.kind} ${a.object}`)).toEqual([`create-file-object ${changed.secrets[0]!.name}`, 'update-service app_web']);
    expect(changed.secrets[0]!.name).toMatch(/^app_key_[0-9a-f]{8}$/);
    const next = await pass(port, desiredOf(changed));
    expect(next.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['remove-stack-object app_key']);
    expect((await plan(port, desiredOf(changed))).actions).toEqual([]);
  });

  it('is in sync with what the engine stored for a job and a restart policy without condition; says a job runs again', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const text = (cmd: string): string => `services:\n  once:\n    image: busybox:lab\n    command: ${cmd}\n    deploy: { mode: replicated-job, restart_policy: { delay: 5s } }\n`;
    await pass(port, desiredOf(await stackOf(text('["true"]'), {})));
    // What moby stores: the job's counts defaulted, the empty condition as "any".
    const live = port.services[0]!.spec;
    live.Mode = { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } };
    live.TaskTemplate!.RestartPolicy = { Condition: 'any', Delay: 5e9, MaxAttempts: 0 };
    expect((await plan(port, desiredOf(await stackOf(text('["true"]'), {})))).actions).toEqual([]);
    const changed = await plan(port, desiredOf(await stackOf(text('["false"]'), {})));
    expect(changed.drift).toEqual([{ object: 'app_once', message: 'spec differs: TaskTemplate.ContainerSpec.Args (the job runs again)' }]);
    expect(changed.actions).toMatchObject([{ kind: 'update-service', restarts: true }]);
  });

  it('waits for a missing external network, and says a network cannot be changed', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const text = 'services:\n  web: { image: busybox:lab, networks: [ext, own] }\nnetworks:\n  ext: { external: true, name: shared }\n  own: { driver: overlay }\n';
    const p = await pass(port, desiredOf(await stackOf(text, {})));
    expect(p.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['create-network app_own']);
    expect(p.drift).toContainEqual({ object: 'app_web', message: 'cannot be deployed without network shared' });
    port.networks[0]!.attachable = true;
    const q = await plan(port, desiredOf(await stackOf(text, {})));
    expect(q.drift).toContainEqual({ object: 'app_own', message: expect.stringMatching(/^network differs \(attachable true\); swarm cannot change a network/) });
  });

  it('takes host, bridge and none as present (stack deploy does not check networks that are not user-defined), an existing external network as in sync', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    port.networks.push({ id: 'n-shared', name: 'shared', scope: 'swarm', driver: 'overlay', labels: {}, options: {}, internal: false, attachable: true, ipam: { driver: 'default', config: [] } });
    const text = 'services:\n  web: { image: busybox:lab, networks: [outside] }\n  api: { image: busybox:lab, networks: [ext] }\n' +
      'networks:\n  outside: { external: true, name: host }\n  ext: { external: true, name: shared }\n';
    const p = await pass(port, desiredOf(await stackOf(text, {})));
    expect(p.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['create-service app_api', 'create-service app_web']);
    expect(states(p)).toEqual(expect.arrayContaining(['network host in_sync', 'network shared in_sync']));
  });

  it('counts a missing external config or secret as missing, as a missing external network', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const text = 'services:\n  web: { image: busybox:lab, secrets: [s], configs: [c], networks: [n] }\n' +
      'secrets:\n  s: { external: true, name: outer_s }\nconfigs:\n  c: { external: true, name: outer_c }\nnetworks:\n  n: { external: true, name: outer_n }\n';
    const p = await plan(port, desiredOf(await stackOf(text, {})));
    expect(states(p)).toEqual(['network outer_n missing', 'secret outer_s missing', 'config outer_c missing', 'service app_web missing']);
    expect(p.actions).toEqual([]);
  });

  it('takes as rotated only the names of a key with its hash: key conf does not claim conf_tls\'s objects', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port, desiredOf(await stackOf()));
    // A config of a key the file no longer has, named like a rotation of `conf`'s by a prefix match.
    await port.createConfig({ Name: 'app_conf_tls_0123abcd', Labels: { 'com.docker.stack.namespace': 'app', 'warden.content-sha256': '0123abcd'.padEnd(64, '0') }, Data: '' });
    await port.createConfig({ Name: 'app_conf_89abcdef', Labels: { 'com.docker.stack.namespace': 'app', 'warden.content-sha256': '89abcdef'.padEnd(64, '0') }, Data: '' });
    const p = await plan(port, desiredOf(await stackOf()));
    expect(p.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['remove-stack-object app_conf_89abcdef']);
    expect(states(p)).toEqual(expect.arrayContaining(['config app_conf_tls_0123abcd extra', 'config app_conf_89abcdef extra']));
  });

  it('pins a changed image to the digest the registry gave, and lists only images to resolve', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const stack = await stackOf(undefined, undefined, { resolveImage: 'changed' });
    const desired = desiredOf(stack);
    expect(imagesToResolve(desired, [])).toEqual(['busybox:lab']);
    const digest = `sha256:${'c'.repeat(64)}`;
    const images = new Map([['busybox:lab', { digest, platforms: [{ os: 'linux', architecture: 'amd64' }] }]]);
    const p = stacks.plan(desired, await observed(port, images), ctx);
    const create = p.actions.find((a) => a.kind === 'create-service' && a.object === 'app_web');
    expect(create?.kind === 'create-service' && create.spec.TaskTemplate).toMatchObject({
      ContainerSpec: { Image: `busybox:lab@${digest}` }, Placement: { Platforms: [{ Architecture: 'amd64', OS: 'linux' }] },
    });
    await pass(port, desired);
    expect(imagesToResolve(desired, await port.listServices())).toEqual([]);
  });

  it.each([
    ['an update under way', 'updating', 0, false],
    ['a paused update', 'paused', -3_600_000, false],
    ['a rollback under way', 'rollback_started', 0, false],
    ['an update completed within the grace', 'completed', -60_000, false],
    ['an update completed longer ago than the grace', 'completed', -11 * 60_000, true],
  ])('keeps a rotated secret the previous spec names during %s (removed: %s)', async (_what, state, completedAgo, removed) => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port, desiredOf(await stackOf()));
    const old = port.secrets[0]!;
    const web = port.services.find((s) => s.name === 'app_web')!;
    const before = structuredClone(web.spec);
    const changed = desiredOf(await stackOf(COMPOSE, { 'key.txt': 'k2', 'web.conf': 'listen 80;' }));
    await pass(port, changed);
    // What the engine keeps after the write: the spec a rollback returns to, and the update's state.
    const now = Date.parse('2026-12-05T08:00:00Z');
    const at = new Date(now + completedAgo).toISOString();
    Object.assign(port.services.find((s) => s.name === 'app_web')!, { previousSpec: before, updatedAt: at, updateStatus: { state, startedAt: at, completedAt: state === 'completed' ? at : '', message: '' } });
    const p = stacks.plan(changed, await observed(port), { ...ctx, now });
    expect(p.actions.some((a) => a.kind === 'remove-stack-object' && a.object === old.name)).toBe(removed);
    if (!removed && state === 'completed') expect(p.requeueAfterMs).toBe(10 * 60_000 + completedAgo + 1_000);
  });

  it('keeps a rotated secret another stack\'s service still uses, and honours policy.rollbackGrace', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port, desiredOf(await stackOf()));
    const old = port.secrets[0]!;
    const web = port.services.find((s) => s.name === 'app_web')!;
    // Another stack names it as external: the engine would refuse the removal.
    port.services.push({ ...structuredClone(web), id: 'other', name: 'other_web', labels: { 'com.docker.stack.namespace': 'other' } });
    const before = structuredClone(web.spec);
    const changed = desiredOf(await stackOf(COMPOSE, { 'key.txt': 'k2', 'web.conf': 'listen 80;' }));
    await pass(port, changed);
    expect((await plan(port, changed)).actions.map((a) => a.object)).not.toContain(old.name);
    port.services.pop();
    const now = Date.parse('2026-12-05T08:00:00Z');
    Object.assign(port.services.find((s) => s.name === 'app_web')!, { previousSpec: before, updatedAt: new Date(now - 30_000).toISOString() });
    expect(stacks.plan(changed, await observed(port), { ...ctx, now }).actions.map((a) => a.object)).not.toContain(old.name);
    const short = { ...changed, policy: { ...changed.policy, rollbackGraceMs: 20_000 } };
    expect(stacks.plan(short, await observed(port), { ...ctx, now }).actions.map((a) => a.object)).toContain(old.name);
  });

  it('reverts an image changed by hand although the stack\'s image label still names the file\'s', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const desired = desiredOf(await stackOf());
    await pass(port, desired);
    const web = port.services.find((s) => s.name === 'app_web')!;
    web.spec.TaskTemplate!.ContainerSpec!.Image = 'busybox:hotfix';
    const p = await plan(port, desired);
    expect(p.actions).toMatchObject([{ kind: 'update-service', object: 'app_web', fields: [{ field: 'TaskTemplate.ContainerSpec.Image', live: 'busybox:hotfix', desired: 'busybox:lab' }] }]);
    // A digest stack deploy pinned is not a change.
    web.spec.TaskTemplate!.ContainerSpec!.Image = `busybox:lab@sha256:${'d'.repeat(64)}`;
    expect((await plan(port, desired)).actions).toEqual([]);
  });

  it('makes an image change across more than half of a stack\'s services disruptive, not one of two', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    await pass(port, desiredOf(await stackOf()));
    const one = await plan(port, desiredOf(await stackOf(COMPOSE.replace('image: busybox:lab\n    environment', 'image: busybox:lab2\n    environment'))));
    expect(one.actions).toMatchObject([{ kind: 'update-service', object: 'app_web', disruptive: false }]);
    const both = await plan(port, desiredOf(await stackOf(COMPOSE.replaceAll('busybox:lab', 'busybox:lab2'))));
    expect(both.actions.map((a) => [a.object, a.disruptive])).toEqual([['app_web', true], ['app_worker', true]]);
  });

  it('refuses a fixed-name secret whose content changed in the file, and adopts an unlabelled one to see a later change', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const text = COMPOSE.replace('key: { file: key.txt }', 'key: { file: key.txt, name: fixed_key }');
    await pass(port, desiredOf(await stackOf(text)));
    expect(port.secrets.map((s) => s.name)).toEqual(['fixed_key']);
    // As stack deploy makes it: no hash label.
    delete port.secrets[0]!.labels['warden.content-sha256'];
    const adopt = await pass(port, desiredOf(await stackOf(text)));
    expect(adopt.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['label-secret fixed_key']);
    const changed = await plan(port, desiredOf(await stackOf(text, { 'key.txt': 'k2', 'web.conf': 'listen 80;' })));
    expect(changed.drift).toContainEqual({ object: 'fixed_key', message: expect.stringMatching(/^error: secret fixed_key exists with other content/) });
    expect(changed.drift).toContainEqual({ object: 'app_web', message: 'cannot be deployed without secret fixed_key' });
    expect(changed.actions).toEqual([]);
  });

  it('keeps every held prune\'s reason in plan.blocked', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const a = await stackOf();
    const b = { ...(await stackOf()), name: 'bpp' };
    b.services = b.services.map((s) => ({ ...s, name: s.name.replace('app_', 'bpp_'), spec: { ...s.spec, Name: s.spec.Name.replace('app_', 'bpp_'), Labels: { ...s.spec.Labels, 'com.docker.stack.namespace': 'bpp' } } }));
    await pass(port, { ...desiredOf(a), stacks: [a, b] });
    const empty = 'services:\n  other: { image: busybox:lab }\n';
    const pruneA = await stackOf(empty, {}, { prune: true });
    const pruneB = { ...(await stackOf(empty, {}, { prune: true })), name: 'bpp' };
    const p = await plan(port, { ...desiredOf(pruneA), stacks: [pruneA, pruneB] });
    expect(p.blocked?.message).toMatch(/pruning stack app would remove 2 of its 2 services[\s\S]*\nheld: pruning stack bpp would remove 2 of its 2 services/);
  });
});
