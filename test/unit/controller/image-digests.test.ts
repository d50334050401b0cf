// Stack images' digests kept between passes (issue 24, 2.6): the registry is asked once per image for each
// revision and interval, never twice at once, off the pass; a pass waits for an answer at most the deadline.
// Before, every pass asked for every image (calls == passes), and a registry that hung held the pass.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Controller } from '../../../src/controller/controller.js';
import { ImageDigests, RESOLVE_IMAGE_INTERVAL_MS, RESOLVE_IMAGE_TIMEOUT_MS } from '../../../src/controller/image-digests.js';
import { Metrics } from '../../../src/controller/metrics.js';
import type { PassResult } from '../../../src/controller/pass.js';
import { loadComposeStack } from '../../../src/desired-state/compose/load.js';
import type { ResolveImage } from '../../../src/desired-state/compose/types.js';
import type { ImageDistribution } from '../../../src/docker/port.js';
import { desired, loaded } from '../../support/desired.js';
import { FakePort, fakeNode } from '../../support/fake-port.js';

const APP = 'registry.example/app:1';
const WEB = 'registry.example/web:latest';
const sha = (c: string): string => `sha256:${c.repeat(64)}`;
const dist = (c: string): ImageDistribution => ({ digest: sha(c), platforms: [{ os: 'linux', architecture: 'amd64' }] });

// The fake engine with a registry that knows APP and WEB, and a way to hold its answers (a registry that
// hangs) until released.
function registry(): { port: FakePort; asks(image?: string): number; hold(): void; release(): void } {
  const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
  port.digests.set(APP, dist('a'));
  port.digests.set(WEB, dist('b'));
  const answer = port.inspectDistribution.bind(port);
  let held: Array<() => void> = [];
  return {
    port,
    asks: (image) => port.calls.filter((c) => (image ? c === `inspectDistribution ${image}` : c.startsWith('inspectDistribution'))).length,
    hold() {
      port.inspectDistribution = (image) => {
        port.calls.push(`inspectDistribution ${image}`);
        // Released: answered as the fake registry answers, without counting a second call.
        return new Promise((resolve, reject) => held.push(() => {
          const d = port.digests.get(image);
          if (d) resolve(structuredClone(d));
          else reject(new Error(`inspect distribution ${image}: no such image in any registry`));
        }));
      };
    },
    release() {
      port.inspectDistribution = answer;
      for (const go of held) go();
      held = [];
    },
  };
}

function setup(over: { intervalMs?: number; timeoutMs?: number } = {}) {
  const r = registry();
  let now = Date.parse('2026-11-21T10:00:00Z');
  const onChange = vi.fn();
  const digests = new ImageDigests({ port: r.port, now: () => now, onChange, ...over });
  return { ...r, digests, onChange, advance: (ms: number) => (now += ms) };
}

// settledWithin resolves to whether `p` settled after the fake clock moved `ms` (and not before).
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ before: boolean; after: boolean; value: T | undefined }> {
  let done = false;
  let value: T | undefined;
  void p.then((v) => {
    done = true;
    value = v;
  });
  await vi.advanceTimersByTimeAsync(ms - 1);
  const before = done;
  await vi.advanceTimersByTimeAsync(1);
  return { before, after: done, value };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ImageDigests', () => {
  it('asks the registry once per image over many passes within the interval', async () => {
    const { digests, asks } = setup();
    for (let pass = 0; pass < 10; pass++) {
      const got = await digests.lookup([APP, WEB, APP], 'rev1');
      expect(got.images.get(APP)?.digest).toBe(sha('a'));
      expect(got.images.get(WEB)?.digest).toBe(sha('b'));
      expect(got.unresolved.size).toBe(0);
    }
    expect(asks(APP)).toBe(1);
    expect(asks(WEB)).toBe(1);
  });

  it('asks again at once when the revision changes, and the pass waits for that answer', async () => {
    const { digests, asks, port, onChange } = setup();
    await digests.lookup([APP], 'rev1');
    // The tag moved with the new commit.
    port.digests.set(APP, dist('c'));
    expect((await digests.lookup([APP], 'rev2')).images.get(APP)?.digest).toBe(sha('c'));
    expect((await digests.lookup([APP], 'rev2')).images.get(APP)?.digest).toBe(sha('c'));
    expect(asks(APP)).toBe(2);
    // The pass that waited had the answer: the digest change asks for no pass of its own.
    expect(onChange).not.toHaveBeenCalled();
  });

  it('a hung registry: the pass goes on at the deadline with the image unresolved; later passes neither wait nor ask again', async () => {
    vi.useFakeTimers();
    const { digests, asks, hold, release, onChange } = setup();
    hold();
    const first = await settledWithin(digests.lookup([APP], 'rev1'), RESOLVE_IMAGE_TIMEOUT_MS);
    expect(first).toMatchObject({ before: false, after: true });
    expect(first.value?.images.size).toBe(0);
    expect(first.value?.unresolved.get(APP)).toBe('the registry has not answered within 5 s');
    // The ask is still out (the engine's own timeout is 30 s): the next pass does not wait for it again.
    const second = await settledWithin(digests.lookup([APP], 'rev1'), 1);
    expect(second.before).toBe(true);
    expect(second.value?.unresolved.get(APP)).toBe('the registry has not answered within 5 s');
    expect(asks(APP)).toBe(1);
    // The late answer changes what passes were given: it asks for a pass, which gets the digest.
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(onChange).toHaveBeenCalledTimes(1);
    expect((await digests.lookup([APP], 'rev1')).images.get(APP)?.digest).toBe(sha('a'));
    expect(asks(APP)).toBe(1);
  });

  it('after the interval: asked again in the background, the pass keeping the old digest meanwhile', async () => {
    vi.useFakeTimers();
    const { digests, asks, hold, release, port, onChange, advance } = setup();
    await digests.lookup([APP], 'rev1');
    advance(RESOLVE_IMAGE_INTERVAL_MS - 1);
    await digests.lookup([APP], 'rev1');
    expect(asks(APP)).toBe(1);
    advance(1);
    port.digests.set(APP, dist('c'));
    hold();
    // Not waited for: the pass settles without the clock moving, with the digest it had.
    const during = await settledWithin(digests.lookup([APP], 'rev1'), 1);
    expect(during.before).toBe(true);
    expect(during.value?.images.get(APP)?.digest).toBe(sha('a'));
    expect(asks(APP)).toBe(2);
    expect(onChange).not.toHaveBeenCalled();
    release();
    await vi.advanceTimersByTimeAsync(0);
    // The tag moved: a pass is asked for, and it pins the new digest.
    expect(onChange).toHaveBeenCalledTimes(1);
    expect((await digests.lookup([APP], 'rev1')).images.get(APP)?.digest).toBe(sha('c'));
    expect(asks(APP)).toBe(2);
  });

  it('an answer that gives passes the digest they had asks for no pass', async () => {
    const { digests, onChange, advance, asks } = setup();
    await digests.lookup([APP], 'rev1');
    advance(RESOLVE_IMAGE_INTERVAL_MS);
    await digests.lookup([APP], 'rev1');
    expect(asks(APP)).toBe(2);
    // The answer comes after the pass (not waited for): let it land.
    await new Promise((resolve) => setImmediate(resolve));
    expect((await digests.lookup([APP], 'rev1')).images.get(APP)?.digest).toBe(sha('a'));
    expect(onChange).not.toHaveBeenCalled();
  });

  it('a new revision whose ask passes the deadline keeps the digest of the revision before', async () => {
    vi.useFakeTimers();
    const { digests, hold } = setup();
    await digests.lookup([APP], 'rev1');
    hold();
    const next = await settledWithin(digests.lookup([APP], 'rev2'), RESOLVE_IMAGE_TIMEOUT_MS);
    expect(next).toMatchObject({ before: false, after: true });
    expect(next.value?.images.get(APP)?.digest).toBe(sha('a'));
    expect(next.value?.unresolved.size).toBe(0);
  });

  it('one ask per image at once: a revision change while one is out waits for it rather than asking again', async () => {
    vi.useFakeTimers();
    const { digests, asks, hold, release } = setup();
    hold();
    const first = digests.lookup([APP], 'rev1');
    const second = digests.lookup([APP], 'rev2');
    expect(asks(APP)).toBe(1);
    release();
    expect((await first).images.get(APP)?.digest).toBe(sha('a'));
    expect((await second).images.get(APP)?.digest).toBe(sha('a'));
    // Answered for rev1: the next pass of rev2 asks for it once more.
    await digests.lookup([APP], 'rev2');
    expect(asks(APP)).toBe(2);
  });

  it('a failed ask is the unresolved case, asked again at the next interval or revision, not at every pass', async () => {
    const { digests, asks, advance } = setup();
    const GONE = 'registry.example/gone:1';
    for (let pass = 0; pass < 3; pass++) {
      expect((await digests.lookup([GONE], 'rev1')).unresolved.get(GONE)).toMatch(/no such image in any registry/);
    }
    expect(asks(GONE)).toBe(1);
    advance(RESOLVE_IMAGE_INTERVAL_MS);
    await digests.lookup([GONE], 'rev1');
    expect(asks(GONE)).toBe(2);
    // Asked in the background (the pass had an answer for its revision): let the answer land first, or
    // the next pass would wait for this ask rather than make a second one at once.
    await new Promise((resolve) => setImmediate(resolve));
    await digests.lookup([GONE], 'rev2');
    expect(asks(GONE)).toBe(3);
  });

  it('takes its interval and deadline from its options', async () => {
    vi.useFakeTimers();
    const { digests, asks, hold, release, advance } = setup({ intervalMs: 60_000, timeoutMs: 1_000 });
    await digests.lookup([APP], 'rev1');
    advance(60_000);
    await digests.lookup([APP], 'rev1');
    expect(asks(APP)).toBe(2);
    hold();
    const late = await settledWithin(digests.lookup([WEB], 'rev1'), 1_000);
    expect(late).toMatchObject({ before: false, after: true });
    expect(late.value?.unresolved.get(WEB)).toBe('the registry has not answered within 1 s');
    release();
  });
});

// The controller's passes over a deployed stack (tier b): what a pass asks the registry for.
describe('passes over a deployed stack', () => {
  const COMPOSE = `version: "3.8"
services:
  app: { image: "${APP}" }
  web: { image: "${WEB}" }
`;

  async function stackState(resolveImage: ResolveImage) {
    const read = await loadComposeStack(COMPOSE, { stack: 'shop', file: 'shop.yml', env: {}, prune: false, resolveImage, readFile: async () => Buffer.from('') });
    return desired({ stacks: [read.stack!] });
  }

  function controllerOn(r: ReturnType<typeof registry>): Controller {
    return new Controller({
      port: r.port, logger: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }),
      scheduler: () => ({ stop: () => undefined }),
    });
  }

  function imageOf(result: PassResult, service: string): unknown {
    const action = result.results.find((x) => x.id === 'stacks')?.actions.map((a) => a.action).find((a) => a.object === service);
    return action?.kind === 'create-service' ? action.spec.TaskTemplate?.ContainerSpec?.Image : undefined;
  }

  it('resolveImage: always asks once per image over many passes, and once more for a new revision', async () => {
    const r = registry();
    const controller = controllerOn(r);
    const state = await stackState('always');
    controller.setDesired(loaded(state, 'rev1'));
    for (let pass = 0; pass < 5; pass++) {
      const result = await controller.pass(['test'], undefined, true);
      expect(imageOf(result, 'shop_app')).toBe(`${APP}@${sha('a')}`);
    }
    // Before: 5 asks for each image, one per pass.
    expect(r.asks(APP)).toBe(1);
    expect(r.asks(WEB)).toBe(1);
    controller.setDesired(loaded(state, 'rev2'));
    await controller.pass(['test'], undefined, true);
    await controller.pass(['test'], undefined, true);
    expect(r.asks(APP)).toBe(2);
    expect(r.asks(WEB)).toBe(2);
  });

  it('a hung registry: the pass ends at the deadline and deploys the image by its tag', async () => {
    vi.useFakeTimers();
    const r = registry();
    r.hold();
    const controller = controllerOn(r);
    controller.setDesired(loaded(await stackState('changed'), 'rev1'));
    // Before: the pass waited for the registry (here for ever; on an engine, its client's 30 s timeout).
    const pass = await settledWithin(controller.pass(['test'], undefined, true), RESOLVE_IMAGE_TIMEOUT_MS);
    expect(pass).toMatchObject({ before: false, after: true });
    expect(imageOf(pass.value!, 'shop_app')).toBe(APP);
    expect(imageOf(pass.value!, 'shop_web')).toBe(WEB);
    r.release();
  });
});
