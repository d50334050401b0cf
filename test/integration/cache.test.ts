// The services cache on the lab: filled by one list, kept current from the events stream by one read per
// event, it agrees with a fresh list after a burst of 200 changes made by several clients at once.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceCache } from '../../src/controller/cache.js';
import { Echoes, followEvents, MAX_REFRESHES } from '../../src/controller/events.js';
import type { DockerPort, SwarmService } from '../../src/docker/port.js';
import { counting } from '../support/counting-port.js';
import { createService, portFor, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const names: string[] = [];

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await removeServices(lab, ...names);
  await restoreLab(lab);
});

/** change sets a label on a service through a port, reading its version first (a conflict is retried). */
async function change(port: DockerPort, name: string, value: string): Promise<void> {
  for (;;) {
    const s = (await port.listServices({ status: false })).find((x) => x.name === name);
    if (!s) return;
    try {
      await port.updateService(s.id, s.version, { ...s.spec, Labels: { ...s.spec.Labels, burst: value } });
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'version-conflict') throw err;
    }
  }
}

const byId = (services: SwarmService[]): Record<string, string> =>
  Object.fromEntries(services.map((s) => [s.id, `${s.name} v${s.version} ${s.labels.burst ?? '-'}`]).sort());

describe('the services cache on the lab', () => {
  it('agrees with a fresh list after a burst of 200 changes from several clients, having read each changed service only', async () => {
    for (let i = 0; i < 9; i++) names.push(await createService(lab, uniqueName('cache'), ['--replicas', '0']));
    const port = counting(portFor(lab.managers[0]!));
    const cache = new ServiceCache(port);
    const ac = new AbortController();
    const triggers: string[] = [];
    const following = followEvents(port, ac.signal, new Echoes(), (r) => triggers.push(r), pino({ level: 'silent' }), cache);
    try {
      await waitUntil('the events stream to connect', () => triggers.includes('events-connected'));
      await cache.services();
      expect(cache.synced).toBe(true);
      const listsBefore = port.counts.get('listServices') ?? 0;

      // Four clients, each on a manager's engine (two on the first), each changing its own services 50 times
      // one after the other; two services are created and one removed meanwhile.
      const clients = [lab.managers[0]!, lab.managers[1]!, lab.managers[2]!, lab.managers[0]!].map(portFor);
      const created = [uniqueName('cache-new'), uniqueName('cache-new')];
      await Promise.all([
        ...clients.map(async (client, c) => {
          for (let k = 0; k < 50; k++) await change(client, names[1 + c + 4 * (k % 2)]!, `c${c}-${k}`);
        }),
        (async () => {
          for (const n of created) names.push(await createService(lab, n, ['--replicas', '0']));
          await removeServices(lab, names[0]!);
        })(),
      ]);

      const fresh = async (): Promise<Record<string, string>> => byId(await portFor(lab.managers[1]!).listServices({ status: false }));
      await waitUntil('the cache to agree with a fresh list', async () => JSON.stringify(byId(cache.peek())) === JSON.stringify(await fresh()), { timeoutMs: 30_000 });
      expect(cache.synced).toBe(true); // kept current by single reads: never fell back to a list
      expect(byId(cache.peek())).toEqual(await fresh());
      // One read per event that named a changed or new service (a trigger comes once its read is done), at
      // least one per change made; the clients' own reads went through their ports, and the cache's port
      // listed nothing more.
      const read = (): number => triggers.filter((r) => r === 'service-update' || r === 'service-create').length;
      await waitUntil('every event read', () => read() >= 202 && (port.counts.get('inspectService') ?? 0) === read());
      expect(port.counts.get('listServices') ?? 0).toBe(listsBefore);
      expect(byId(cache.peek())).toEqual(await fresh());
    } finally {
      ac.abort();
      await following;
    }
  });

  it(`falls back to one list when more than ${MAX_REFRESHES} reads would be out at once, and then agrees again`, async () => {
    const port = counting(portFor(lab.managers[0]!));
    const cache = new ServiceCache(port);
    const ac = new AbortController();
    const triggers: string[] = [];
    const following = followEvents(port, ac.signal, new Echoes(), (r) => triggers.push(r), pino({ level: 'silent' }), cache);
    try {
      await waitUntil('the events stream to connect', () => triggers.includes('events-connected'));
      await cache.services();
      const live = (await port.listServices({ status: false })).filter((s) => names.includes(s.name));
      // Every service changed 8 times at once, from one client: far more events at once than reads allowed.
      const client = portFor(lab.managers[1]!);
      await Promise.all(live.flatMap((s) => Array.from({ length: 8 }, (_, k) => change(client, s.name, `all-${k}`))));
      await waitUntil('the cache to stop trusting itself or agree', async () =>
        !cache.synced || JSON.stringify(byId(cache.peek())) === JSON.stringify(byId(await client.listServices({ status: false }))));
      const planned = await cache.services();
      expect(byId(planned)).toEqual(byId(await client.listServices({ status: false })));
    } finally {
      ac.abort();
      await following;
    }
  });
});
