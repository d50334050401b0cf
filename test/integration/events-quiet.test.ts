// Issue 24, 2.8: the events stream over tcp:// is followed anew when it goes quiet. The engine is reached
// through a TCP proxy whose open connections then stop passing bytes (as a connection that died without a
// word): warden must notice within the quiet time, connect again, and relist, so that a change made while
// the old connection was dead is planned on.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceCache } from '../../src/controller/cache.js';
import { Echoes, followEvents } from '../../src/controller/events.js';
import { createDockerPort } from '../../src/docker/engine.js';
import { createService, portFor, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const names: string[] = [];

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await removeServices(lab, ...names);
  await restoreLab(lab);
});

describe('the events stream over tcp://', () => {
  it('is followed anew when it says nothing for the quiet time, and the change it missed is planned on', async () => {
    const name = uniqueName('quiet');
    names.push(await createService(lab, name, ['--replicas', '0']));
    const node = lab.managers[0]!;
    const proxy = await startTcpProxy(node.host.replace(/^unix:\/\//, ''));
    const port = createDockerPort({ host: proxy.host, requestTimeoutMs: 10_000 });
    const cache = new ServiceCache(port);
    const ac = new AbortController();
    const triggers: string[] = [];
    const connections = (): number => triggers.filter((r) => r === 'events-connected').length;
    const following = followEvents(port, ac.signal, new Echoes(), (r) => triggers.push(r), pino({ level: 'silent' }), cache, 3_000);
    try {
      await waitUntil('the events stream to connect', () => connections() === 1);
      await cache.services();
      expect(cache.synced).toBe(true);
      proxy.freeze();
      // Made while the stream is dead: no event of it reaches warden.
      const before = (await portFor(node).listServices({ status: false })).find((s) => s.name === name)!;
      await portFor(node).updateService(before.id, before.version, { ...before.spec, Labels: { ...before.spec.Labels, missed: 'yes' } });
      const frozenAt = performance.now();
      await waitUntil('the events stream to be followed anew', () => connections() >= 2, { timeoutMs: 15_000, intervalMs: 100 });
      expect(performance.now() - frozenAt).toBeLessThan(10_000);
      expect(triggers).not.toContain('service-update');
      // The reconnection made the cache list again: the missed change is there.
      expect((await cache.services()).find((s) => s.name === name)?.labels.missed).toBe('yes');
    } finally {
      ac.abort();
      await following;
      await proxy.close();
    }
  });
});
