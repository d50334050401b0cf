import { describe, expect, it } from 'vitest';
import { ServiceCache } from '../../../src/controller/cache.js';
import { EngineError } from '../../../src/docker/errors.js';
import type { DockerPort, SwarmService } from '../../../src/docker/port.js';
import { fakeService } from '../../support/fake-port.js';

/** A port whose reads answer only when the test says so, in any order: every read waits on a gate. */
class GatedPort {
  calls: string[] = [];
  private gates: Array<{ call: string; open: (v: unknown) => void; fail: (e: unknown) => void }> = [];

  listServices(opts: { status?: boolean } = {}): Promise<SwarmService[]> {
    return this.gate(`listServices${opts.status ? ' status' : ''}`) as Promise<SwarmService[]>;
  }

  inspectService(id: string): Promise<SwarmService> {
    return this.gate(`inspectService ${id}`) as Promise<SwarmService>;
  }

  /** answer lets the oldest waiting read of `call` return `value` (or fail with it, when it is an Error). */
  async answer(call: string, value: unknown): Promise<void> {
    const i = this.gates.findIndex((g) => g.call === call);
    if (i < 0) throw new Error(`no read of ${call} is waiting; waiting: ${this.gates.map((g) => g.call).join(', ')}`);
    const [g] = this.gates.splice(i, 1);
    if (value instanceof Error) g!.fail(value);
    else g!.open(structuredClone(value));
    // Let the cache take the answer before the test goes on.
    await new Promise((resolve) => setImmediate(resolve));
  }

  private gate(call: string): Promise<unknown> {
    this.calls.push(call);
    return new Promise((open, fail) => this.gates.push({ call, open, fail }));
  }
}

const svc = (name: string, version: number, replicas = 1): SwarmService => ({ ...fakeService(name, replicas), version });

/** cacheOn makes a cache that follows events (a stream is connected), as the daemon's does. */
function cacheOn(port: GatedPort): ServiceCache {
  const cache = new ServiceCache(port as unknown as DockerPort);
  cache.follow(true);
  return cache;
}

async function filled(port: GatedPort, cache: ServiceCache, services: SwarmService[]): Promise<void> {
  const listing = cache.services();
  await port.answer('listServices', services);
  await listing;
}

const versions = async (cache: ServiceCache): Promise<Record<string, number>> =>
  Object.fromEntries((await cache.services()).map((s) => [s.name, s.version]).sort());

describe('the services cache', () => {
  it('is filled by one list, then reads only the service an event names', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10), svc('b', 10)]);
    const refreshing = cache.refresh('id-a');
    await port.answer('inspectService id-a', svc('a', 11, 3));
    await refreshing;
    const services = await cache.services();
    expect(services.find((s) => s.name === 'a')).toMatchObject({ version: 11, replicas: 3 });
    expect(port.calls).toEqual(['listServices', 'inspectService id-a']);
  });

  it('keeps the newer version when two reads of one service answer out of order', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10)]);
    const first = cache.refresh('id-a');
    const second = cache.refresh('id-a');
    // The second read answers first, with the newer version; the first one's older answer comes after.
    const waiting = port as unknown as { gates: Array<{ call: string }> };
    waiting.gates.reverse();
    await port.answer('inspectService id-a', svc('a', 12, 5));
    await port.answer('inspectService id-a', svc('a', 11, 4));
    await Promise.all([first, second]);
    expect(await versions(cache)).toEqual({ a: 12 });
  });

  it('drops a removed service, and an answer from a read that began before the removal does not bring it back', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10), svc('b', 10)]);
    const stale = cache.refresh('id-a');
    await cache.refresh('id-a', true);
    expect(await versions(cache)).toEqual({ b: 10 });
    await port.answer('inspectService id-a', svc('a', 11));
    await stale;
    expect(await versions(cache)).toEqual({ b: 10 });
    // An inspect the engine answers "no such service" drops it too.
    const gone = cache.refresh('id-b');
    await port.answer('inspectService id-b', new EngineError('not-found', 'service b not found', 404));
    await gone;
    expect(await versions(cache)).toEqual({});
  });

  it('takes a relist over what it had: newer versions, new services, and none of those gone', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10), svc('b', 10)]);
    const relisting = cache.services({ relist: true });
    await port.answer('listServices', [svc('a', 12), svc('c', 3)]);
    await relisting;
    expect(await versions(cache)).toEqual({ a: 12, c: 3 });
  });

  it('keeps what reads that began during a relist taught it: a newer version, a service created, a removal', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10), svc('b', 10), svc('d', 10)]);
    const relisting = cache.services({ relist: true });
    // While the list is out: a is updated (read at 13), c is created (read at 1), d is removed.
    const a = cache.refresh('id-a');
    const c = cache.refresh('id-c');
    await port.answer('inspectService id-a', svc('a', 13));
    await port.answer('inspectService id-c', svc('c', 1));
    await Promise.all([a, c, cache.refresh('id-d', true)]);
    // The list was taken before all that: a at 12, no c yet, d still there.
    await port.answer('listServices', [svc('a', 12), svc('b', 10), svc('d', 10)]);
    await relisting;
    expect(await versions(cache)).toEqual({ a: 13, b: 10, c: 1 });
  });

  it('lists again after invalidate, and always when the task counts are asked for', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10)]);
    cache.invalidate();
    expect(cache.synced).toBe(false);
    const again = cache.services();
    await port.answer('listServices', [svc('a', 11)]);
    await again;
    const counted = cache.services({ counts: 'fresh' });
    await port.answer('listServices status', [{ ...svc('a', 11), status: { runningTasks: 1, desiredTasks: 1 } }]);
    expect((await counted)[0]?.status).toEqual({ runningTasks: 1, desiredTasks: 1 });
    expect(port.calls).toEqual(['listServices', 'listServices', 'listServices status']);
  });

  it('is not synced by a list that was out when the stream broke: the events it lost may be after the list', async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    const listing = cache.services();
    // The stream breaks and reconnects while the list is out.
    cache.follow(false);
    cache.follow(true);
    await port.answer('listServices', [svc('a', 10)]);
    await listing;
    expect(cache.synced).toBe(false);
    const again = cache.services();
    await port.answer('listServices', [svc('a', 11)]);
    await again;
    expect(cache.synced).toBe(true);
    expect(port.calls).toEqual(['listServices', 'listServices']);
  });

  it('lists again once the last list is older than its bound, though the stream still looks followed', async () => {
    const port = new GatedPort();
    const cache = new ServiceCache(port as unknown as DockerPort, port as unknown as DockerPort, 30);
    cache.follow(true);
    await filled(port, cache, [svc('a', 10)]);
    await cache.services();
    expect(port.calls).toEqual(['listServices']);
    await new Promise((r) => setTimeout(r, 40));
    const again = cache.services();
    await port.answer('listServices', [svc('a', 11)]);
    expect((await again)[0]?.version).toBe(11);
  });

  it("reads what events name through the events' port, and what a pass needs through the pass's", async () => {
    const passPort = new GatedPort();
    const eventsPort = new GatedPort();
    const cache = new ServiceCache(passPort as unknown as DockerPort, eventsPort as unknown as DockerPort);
    cache.follow(true);
    await filled(passPort, cache, [svc('a', 10)]);
    const refreshing = cache.refresh('id-a');
    await eventsPort.answer('inspectService id-a', svc('a', 11));
    await refreshing;
    cache.wrote('id-a');
    const planning = cache.services();
    await passPort.answer('inspectService id-a', svc('a', 12));
    expect((await planning)[0]?.version).toBe(12);
    expect([passPort.calls, eventsPort.calls]).toEqual([['listServices', 'inspectService id-a'], ['inspectService id-a']]);
  });

  it("keeps the last list's task counts for `recent`, through an inspect, until a list with counts again", async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    const first = cache.services({ counts: 'recent' });
    await port.answer('listServices status', [{ ...svc('a', 10), status: { runningTasks: 1, desiredTasks: 3 } }]);
    await first;
    const event = cache.refresh('id-a');
    await port.answer('inspectService id-a', svc('a', 11, 3));
    await event;
    const planned = await cache.services({ counts: 'recent' });
    expect(planned[0]).toMatchObject({ version: 11, replicas: 3, status: { runningTasks: 1, desiredTasks: 3 } });
    // A resync lists with them again.
    const resync = cache.services({ counts: 'recent', relist: true });
    await port.answer('listServices status', [{ ...svc('a', 11, 3), status: { runningTasks: 3, desiredTasks: 3 } }]);
    expect((await resync)[0]?.status).toEqual({ runningTasks: 3, desiredTasks: 3 });
    expect(port.calls).toEqual(['listServices status', 'inspectService id-a', 'listServices status']);
  });

  it('lists at every call while no events stream is followed (plan, apply, a broken stream)', async () => {
    const port = new GatedPort();
    const cache = new ServiceCache(port as unknown as DockerPort);
    for (const version of [10, 11]) {
      const listing = cache.services();
      await port.answer('listServices', [svc('a', version)]);
      expect((await listing)[0]?.version).toBe(version);
    }
    cache.follow(true);
    await filled(port, cache, [svc('a', 12)]);
    expect(cache.synced).toBe(true);
    cache.follow(false);
    const again = cache.services();
    await port.answer('listServices', [svc('a', 13)]);
    expect((await again)[0]?.version).toBe(13);
    expect(port.calls).toEqual(['listServices', 'listServices', 'listServices', 'listServices']);
  });

  it("reads a service warden wrote again before a pass plans on it, unless its event's read came after the write", async () => {
    const port = new GatedPort();
    const cache = cacheOn(port);
    await filled(port, cache, [svc('a', 10), svc('b', 10)]);
    cache.wrote('id-a');
    const planning = cache.services();
    await port.answer('inspectService id-a', svc('a', 11, 3));
    expect((await planning).find((s) => s.name === 'a')?.version).toBe(11);
    // The write's own event was read after the write: nothing more to read.
    cache.wrote('id-b');
    const echo = cache.refresh('id-b');
    await port.answer('inspectService id-b', svc('b', 11));
    await echo;
    await cache.services();
    expect(port.calls).toEqual(['listServices', 'inspectService id-a', 'inspectService id-b']);
  });
});
