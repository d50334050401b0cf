// The Docker port against the real lab swarm: listing, versioned updates, conflicts, events, node faults.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDockerPort } from '../../src/docker/engine.js';
import { compareApiVersions, MAX_API_VERSION, negotiateApiVersion } from '../../src/docker/engine-versions.js';
import { EngineError } from '../../src/docker/errors.js';
import type { EngineEvent, StreamItem } from '../../src/docker/port.js';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { startSocketProxy } from '../support/socket-proxy.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();

// Start from a healthy lab, whatever the file before left.
beforeAll(() => restoreLab(lab));
const created: string[] = [];

afterEach(async () => {
  await removeServices(lab, ...created.splice(0));
});

afterAll(async () => {
  await restoreLab(lab);
});

/** follow collects a port's stream items in the background until the returned stop is called. */
function follow(port: ReturnType<typeof portFor>): { items: StreamItem[]; stop: () => void } {
  const ac = new AbortController();
  const items: StreamItem[] = [];
  void (async () => {
    for await (const item of port.events(ac.signal)) items.push(item);
  })();
  return { items, stop: () => ac.abort() };
}

describe('the Docker port on a 3-manager, 2-worker lab', () => {
  it('lists the nodes with their roles, states and the one leader', async () => {
    const port = portFor(lab.managers[0]!);
    const nodes = await port.listNodes();
    expect(nodes.map((n) => n.hostname).sort()).toEqual(['manager-1', 'manager-2', 'manager-3', 'worker-1', 'worker-2']);
    expect(nodes.filter((n) => n.role === 'manager')).toHaveLength(3);
    expect(nodes.filter((n) => n.manager?.leader)).toHaveLength(1);
    expect(nodes.every((n) => n.state === 'ready' && n.availability === 'active')).toBe(true);
    const info = await port.info();
    expect(info.controlAvailable).toBe(true);
    expect(nodes.find((n) => n.id === info.nodeId)?.hostname).toBe('manager-1');
  });

  it('answers not-manager from a worker', async () => {
    const err = await portFor(lab.workers[0]!).listServices().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'not-manager', status: 503 });
    expect((await portFor(lab.workers[0]!).info()).controlAvailable).toBe(false);
  });

  it('answers unreachable for an engine that is not there', async () => {
    const err = await portFor({ ...lab.managers[0]!, host: 'unix:///run/wlab/none.sock' }).info().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unreachable', status: undefined });
  });

  it('changes replicas with the version read, and refuses a stale version as a version conflict', async () => {
    const name = await createService(lab, uniqueName('port-scale'), ['--replicas', '1']);
    created.push(name);
    const port = portFor(await runningManager(lab));
    const before = await port.inspectService(name);
    expect(before).toMatchObject({ name, mode: 'replicated', replicas: 1, image: 'busybox:lab' });

    const spec = structuredClone(before.spec);
    spec.Mode = { Replicated: { Replicas: 3 } };
    await port.updateService(before.id, before.version, spec);
    const after = await port.inspectService(before.id);
    expect(after.replicas).toBe(3);
    expect(after.version).toBeGreaterThan(before.version);
    // The rest of the spec went back as it was read.
    expect(after.spec.TaskTemplate?.ContainerSpec).toEqual(before.spec.TaskTemplate?.ContainerSpec);
    await waitUntil('3 running tasks', async () => {
      const s = (await port.listServices()).find((x) => x.id === before.id);
      return s?.status?.runningTasks === 3;
    });

    const stale = structuredClone(before.spec);
    stale.Mode = { Replicated: { Replicas: 2 } };
    const err = await port.updateService(before.id, before.version, stale).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'version-conflict', status: 500 });
    expect((err as Error).message).toMatch(/update out of sequence/);
    expect((await port.inspectService(before.id)).replicas).toBe(3);
  });

  it('answers refused when the engine will not take a spec (a change of mode)', async () => {
    const name = await createService(lab, uniqueName('port-mode'), ['--replicas', '1']);
    created.push(name);
    const port = portFor(await runningManager(lab));
    const svc = await port.inspectService(name);
    const err = await port.updateService(svc.id, svc.version, { ...structuredClone(svc.spec), Mode: { Global: {} } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'refused' });
    expect((err as EngineError).status).toBeGreaterThanOrEqual(400);
    expect((await port.inspectService(name)).mode).toBe('replicated');
  });

  it('refuses an unknown service as not-found', async () => {
    const err = await portFor(lab.managers[0]!).inspectService('no-such-service').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'not-found', status: 404 });
  });

  it('sees a scale change arrive on the events stream', async () => {
    const name = await createService(lab, uniqueName('port-events'), ['--replicas', '1']);
    created.push(name);
    const manager = await runningManager(lab);
    const port = portFor(manager);
    const stream = follow(port);
    try {
      await waitUntil('the stream to connect', () => stream.items.some((i) => i.type === 'connected'));
      const svc = await port.inspectService(name);
      await lab.docker(manager, ['service', 'scale', '--detach', `${name}=2`]);
      const event = await waitUntil('the scale event', () =>
        stream.items.find((i): i is EngineEvent =>
          i.type === 'service' && i.action === 'update' && i.id === svc.id && i.attributes['replicas.new'] === '2'));
      expect(event.attributes).toMatchObject({ name, 'replicas.old': '1', 'replicas.new': '2' });
      expect(Math.abs(event.timeMs - Date.now())).toBeLessThan(60_000);
    } finally {
      stream.stop();
    }
  });

  it('sees a node go down when its engine stops, and ready when it starts', async () => {
    const worker = lab.node('worker-2');
    const port = portFor(lab.managers[0]!);
    await lab.stopDaemon(worker);
    const down = await waitUntil('worker-2 down', async () => (await port.listNodes()).find((n) => n.hostname === 'worker-2' && n.state === 'down'), { timeoutMs: 60_000, intervalMs: 250 });
    expect(down.role).toBe('worker');
    await lab.startDaemon(worker);
    await waitUntil('worker-2 ready', async () => (await port.listNodes()).some((n) => n.hostname === 'worker-2' && n.state === 'ready'), { timeoutMs: 60_000, intervalMs: 250 });
  });

  it('keeps following events across its own engine restart', async () => {
    const manager = lab.node('manager-3');
    const port = portFor(manager);
    const stream = follow(port);
    const name = await createService(lab, uniqueName('port-restart'), ['--replicas', '1']);
    created.push(name);
    try {
      await waitUntil('the stream to connect', () => stream.items.some((i) => i.type === 'connected'));
      await lab.stopDaemon(manager);
      await waitUntil('the stream to notice', () => stream.items.some((i) => i.type === 'disconnected'));
      await lab.startDaemon(manager);
      await waitUntil('the stream to reconnect', () => stream.items.filter((i) => i.type === 'connected').length >= 2, { timeoutMs: 30_000 });
      // A restarted manager serves the swarm API again only once it has rejoined Raft.
      const svc = await waitUntil('manager-3 to answer as a manager', () => port.inspectService(name).catch(() => undefined), { timeoutMs: 60_000, intervalMs: 250 });
      await lab.docker(manager, ['service', 'scale', '--detach', `${name}=2`]);
      await waitUntil('the scale event after the restart', () =>
        stream.items.some((i) => i.type === 'service' && i.id === svc.id && i.attributes['replicas.new'] === '2'));
    } finally {
      stream.stop();
    }
  });

  it("speaks the engine's own API version, capped at the newest warden knows, and refuses one older than 20.10's", async () => {
    const m = lab.managers[0]!;
    const server = { APIVersion: (await lab.docker(m, ['version', '--format', '{{.Server.APIVersion}}'])).trim() };
    const proxy = await startSocketProxy(m.socket);
    try {
      const port = createDockerPort({ host: `unix://${proxy.socket}` });
      await port.listServices();
      await port.listNodes();
      const speaks = negotiateApiVersion(server.APIVersion)!;
      expect(speaks).toBe(compareApiVersions(server.APIVersion, MAX_API_VERSION) <= 0 ? server.APIVersion : MAX_API_VERSION);
      // One question of its version first, then every call on that version's paths.
      expect(proxy.paths[0]).toBe('GET /version');
      expect(proxy.paths.slice(1)).toEqual([`GET /v${speaks}/services?status=true`, `GET /v${speaks}/nodes`]);
    } finally {
      await proxy.close();
    }

    const old = await startSocketProxy(m.socket, (path, body) => (path === '/version' ? { ...(body as object), ApiVersion: '1.40' } : body));
    try {
      const err = await createDockerPort({ host: `unix://${old.socket}` }).listServices().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).message).toBe(`the engine at unix://${old.socket} speaks Engine API 1.40; warden needs 1.41 (Docker 20.10) or newer`);
      expect(old.paths).toEqual(['GET /version']);
    } finally {
      await old.close();
    }
  });
});
