// The controller hands the notifier what its passes and loads saw (tier b: a recording fake of the Docker
// port, a recording Sender): a flapping service is told once per hold, a broken revision once, a standby
// tells nothing, and `warden plan` (a plan-only pass) never notifies.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Controller } from '../../../src/controller/controller.js';
import { Metrics } from '../../../src/controller/metrics.js';
import { Notifier, type Sender } from '../../../src/controller/notify.js';
import { NOTIFY_EVENTS } from '../../../src/desired-state/schema.js';
import { DesiredStateError } from '../../../src/desired-state/source.js';
import { EngineError } from '../../../src/docker/errors.js';
import { WebhookUrl } from '../../../src/desired-state/webhook-url.js';
import { desired, loaded } from '../../support/desired.js';
import { FakePort, fakeNode, fakeService } from '../../support/fake-port.js';

const silent = pino({ level: 'silent' });
const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort();
});

function setup(leader = true) {
  const port = new FakePort([fakeService('api', 3)], [fakeNode('m1', 'manager', leader), fakeNode('m2', 'manager', !leader)], 'm1');
  const metrics = new Metrics({ processMetrics: false });
  const posts: Record<string, unknown>[] = [];
  const send: Sender = async (_url, text) => {
    posts.push(JSON.parse(text) as Record<string, unknown>);
    return 200;
  };
  let now = Date.parse('2026-11-21T10:00:00Z');
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const notifier = new Notifier({ logger: silent, metrics, send, now: clock.now });
  const stop = new AbortController();
  stops.push(stop);
  void notifier.start(stop.signal);
  const controller = new Controller({ port, logger: silent, metrics, clock, notifier, scheduler: () => ({ stop: () => undefined }) });
  const notify = [{ urlFile: '/run/secrets/hook', url: new WebhookUrl('https://hooks.example.test/x'), format: 'json' as const, events: [...NOTIFY_EVENTS] }];
  controller.setDesired(loaded(desired({ cluster: 'lab', services: [{ name: 'api', replicas: 3, origin: 'services' }], notify })));
  // Another actor scales the service down again after each correction.
  const fight = async (): Promise<void> => {
    const s = port.services[0]!;
    Object.assign(s, { replicas: 1, version: s.version + 1, spec: { ...s.spec, Mode: { Replicated: { Replicas: 1 } } } });
    clock.advance(30_000);
    await controller.pass();
    await notifier.idle();
  };
  return { controller, notifier, posts, clock, fight, port };
}

describe('the controller notifies', () => {
  it('held: a flapping service once per hold', async () => {
    const { posts, clock, fight } = setup();
    for (let i = 0; i < 6; i++) await fight();
    expect(posts.map((p) => [p.event, p.object, p.cluster, p.revision])).toEqual([['held', 'api', 'lab', 'rev1']]);
    expect(posts[0]!.reason).toContain('flapping (replicas): corrected 3 times in 10 min');
    // The hold ends, warden corrects again, and the next hold is a new state.
    clock.advance(5 * 60_000);
    for (let i = 0; i < 4; i++) await fight();
    expect(posts.map((p) => p.event)).toEqual(['held', 'held']);
  });

  it('a pass that cannot read the cluster forgets nothing: what is still held is not told again', async () => {
    const { controller, notifier, posts, fight, port } = setup();
    for (let i = 0; i < 4; i++) await fight();
    expect(posts.map((p) => p.event)).toEqual(['held']);
    const list = port.listNodes.bind(port);
    port.listNodes = () => Promise.reject(new EngineError('unreachable', 'connect ECONNREFUSED /var/run/docker.sock', undefined));
    expect((await controller.pass()).error).toMatch(/cannot read the cluster/);
    port.listNodes = list;
    for (let i = 0; i < 2; i++) await fight();
    await notifier.idle();
    expect(posts.map((p) => p.event)).toEqual(['held']);
  });

  it('desired-state-invalid: once per failed revision, to the last good one\'s webhooks; a source outage is no revision', async () => {
    const { controller, notifier, posts } = setup();
    await controller.pass();
    const bad = new DesiredStateError([{ file: 'w.yml', line: 7, col: 12, message: '4 managers tolerate no more failures than 3' }], { revision: 'bad1' });
    controller.desiredStateFailed(bad, '/etc/w.yml');
    controller.desiredStateFailed(bad, '/etc/w.yml');
    controller.desiredStateFailed(new Error('cannot reach the git repository'), '/etc/w.yml');
    await notifier.idle();
    expect(posts).toEqual([{
      event: 'desired-state-invalid', cluster: 'lab', stack: null, object: '/etc/w.yml', health: null,
      reason: 'w.yml:7:12: 4 managers tolerate no more failures than 3', revision: 'bad1', time: '2026-11-21T10:00:00.000Z',
    }]);
  });

  it('nothing from a standby, nothing from a plan-only pass', async () => {
    const standby = setup(false);
    for (let i = 0; i < 5; i++) await standby.fight();
    standby.controller.desiredStateFailed(new DesiredStateError([{ file: 'w.yml', line: 1, col: 1, message: 'x' }]), 'w.yml');
    await standby.notifier.idle();
    expect(standby.posts).toEqual([]);
    const plan = setup();
    await plan.controller.pass(['manual'], undefined, true);
    plan.notifier.transition({ event: 'degraded', object: 'api', reason: 'r' });
    await plan.notifier.idle();
    // A plan-only pass does not even say who leads: transitions are sent only once a pass has.
    expect(plan.posts).toEqual([]);
  });
});
