// Issue 24, 2.8: an event that arrives while the services cache lists is not lost. The list is the
// engine's own, held on its way back until a change made after it was answered has reached the events
// stream: the cache must read that service again rather than trust the older list.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceCache } from '../../src/controller/cache.js';
import { Echoes, followEvents } from '../../src/controller/events.js';
import type { DockerPort, SwarmService } from '../../src/docker/port.js';
import { createService, portFor, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const names: string[] = [];

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await removeServices(lab, ...names);
  await restoreLab(lab);
});

/** holdingLists wraps a port so that, while `hold` is set, a list's answer is kept until it is released. */
function holdingLists(port: DockerPort): { port: DockerPort; hold(): void; answered: Promise<void>; release(): void } {
  let held: Promise<void> | undefined;
  let release = (): void => undefined;
  let answered = (): void => undefined;
  const answeredP = new Promise<void>((resolve) => (answered = resolve));
  const wrapped = new Proxy(port, {
    get(t, prop) {
      if (prop !== 'listServices') return Reflect.get(t, prop, t) as unknown;
      return async (opts?: { status?: boolean }): Promise<SwarmService[]> => {
        const gate = held;
        const list = await t.listServices(opts);
        if (gate) {
          answered();
          await gate;
        }
        return list;
      };
    },
  });
  return {
    port: wrapped,
    hold: () => {
      held = new Promise<void>((resolve) => (release = resolve));
    },
    answered: answeredP,
    release: () => release(),
  };
}

describe('the services cache while it lists', () => {
  it('reads again a service whose event arrived after the list was answered', async () => {
    const name = uniqueName('relist');
    names.push(await createService(lab, name, ['--replicas', '0']));
    const real = portFor(lab.managers[0]!);
    const gate = holdingLists(real);
    const cache = new ServiceCache(gate.port);
    const ac = new AbortController();
    const triggers: string[] = [];
    const following = followEvents(gate.port, ac.signal, new Echoes(), (r) => triggers.push(r), pino({ level: 'silent' }), cache);
    try {
      await waitUntil('the events stream to connect', () => triggers.includes('events-connected'));
      gate.hold();
      const listing = cache.services();
      await gate.answered;
      // The change comes after the list's answer: only the event can tell of it.
      const before = (await real.listServices({ status: false })).find((s) => s.name === name)!;
      const other = portFor(lab.managers[1]!);
      await other.updateService(before.id, before.version, { ...before.spec, Labels: { ...before.spec.Labels, during: 'list' } });
      await waitUntil('the change to reach the events stream', () => triggers.includes('service-update'), { timeoutMs: 15_000 });
      gate.release();
      const planned = (await listing).find((s) => s.name === name);
      expect(planned?.labels.during).toBe('list');
      // And the cache keeps it: the next pass, which lists nothing, plans on the change too.
      expect(cache.synced).toBe(true);
      expect((await cache.services()).find((s) => s.name === name)?.labels.during).toBe('list');
    } finally {
      gate.release();
      ac.abort();
      await following;
    }
  });
});
