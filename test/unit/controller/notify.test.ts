// The notifier: dedupe (one POST per object and change of state), the leader gate, the bounded queue
// (drops counted), the retry bounds, and the URL kept out of what it logs. A recording Sender stands in
// for the receiver; the real HTTP path is test/integration/notify.test.ts's.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { NOTIFY_EVENTS } from '../../../src/desired-state/schema.js';
import type { DesiredNotify } from '../../../src/desired-state/types.js';
import { WebhookUrl } from '../../../src/desired-state/webhook-url.js';
import { Metrics } from '../../../src/controller/metrics.js';
import { Notifier, type Sender, type Transition } from '../../../src/controller/notify.js';

const URL_A = 'https://hooks.example.test/services/T1/B1/secret-a';
const URL_B = 'https://hooks.example.test/services/T1/B1/secret-b';

function target(url: string, over: Partial<DesiredNotify> = {}): DesiredNotify {
  return { urlFile: `/run/secrets/hook-${url === URL_A ? 'a' : 'b'}`, url: new WebhookUrl(url), format: 'json', events: [...NOTIFY_EVENTS], ...over };
}

interface Harness {
  notifier: Notifier;
  posts: { url: string; body: Record<string, unknown> }[];
  logs: string[];
  count(event: string, result: 'sent' | 'failed'): Promise<number>;
}

const stops: AbortController[] = [];
afterEach(() => {
  for (const s of stops.splice(0)) s.abort();
});

// status answers each POST: a number, or a function of the attempt; 'hang' never answers (until aborted).
function harness(answer: (n: number) => number | 'hang' | 'refuse' = () => 200, opts: { queueCap?: number; retries?: number } = {}): Harness {
  const posts: Harness['posts'] = [];
  const logs: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => { logs.push(String(chunk)); cb(); } });
  const metrics = new Metrics({ registry: new Registry(), processMetrics: false });
  const send: Sender = (url, text, signal) => {
    posts.push({ url, body: JSON.parse(text) as Record<string, unknown> });
    const a = answer(posts.length);
    if (a === 'refuse') return Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED', message: `connect ECONNREFUSED ${url}` } }));
    if (a === 'hang') return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    return Promise.resolve(a);
  };
  const notifier = new Notifier({ logger: pino({ level: 'debug' }, sink), metrics, send, timeoutMs: 50, backoffMs: 1, now: () => Date.parse('2025-01-02T03:04:05Z'), ...opts });
  notifier.configure('lab', 'rev1', [target(URL_A)]);
  notifier.leader = true;
  const stop = new AbortController();
  stops.push(stop);
  void notifier.start(stop.signal);
  const count = async (event: string, result: string): Promise<number> =>
    (await metrics.notifications.get()).values.find((v) => v.labels.event === event && v.labels.result === result)?.value ?? -1;
  return { notifier, posts, logs, count };
}

const held: Transition = { event: 'held', object: 'demo_web', stack: 'demo', reason: 'flapping: corrected 3 times in 10 min' };

describe('present: level-triggered conditions', () => {
  it('sends a condition once while it lasts, and again after it was gone', async () => {
    const h = harness();
    h.notifier.present('pass:stacks', [held]);
    h.notifier.present('pass:stacks', [held, held]);
    await h.notifier.idle();
    h.notifier.present('pass:stacks', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(1);
    expect(h.posts[0]).toEqual({
      url: URL_A,
      body: { event: 'held', cluster: 'lab', stack: 'demo', object: 'demo_web', health: null, reason: 'flapping: corrected 3 times in 10 min', revision: 'rev1', time: '2025-01-02T03:04:05.000Z' },
    });
    h.notifier.present('pass:stacks', []);
    h.notifier.present('pass:stacks', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(2);
    expect(await h.count('held', 'sent')).toBe(2);
  });

  it('a new reason for the same object is a change of state; sources are apart', async () => {
    const h = harness();
    h.notifier.present('a', [held]);
    h.notifier.present('a', [{ ...held, reason: 'refused: no such image' }]);
    h.notifier.present('b', [held]);
    await h.notifier.idle();
    expect(h.posts.map((p) => p.body.reason)).toEqual([held.reason, 'refused: no such image', held.reason]);
  });

  it('a standby sends nothing and records nothing: on taking over it sends what is true then, once', async () => {
    const h = harness();
    h.notifier.leader = false;
    h.notifier.present('a', [held]);
    h.notifier.transition({ event: 'degraded', object: 'x', reason: 'r' });
    await h.notifier.idle();
    expect(h.posts).toHaveLength(0);
    h.notifier.leader = true;
    h.notifier.present('a', [held]);
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(1);
  });
});

describe('transition: the API health and rollout tracking call', () => {
  it('drops a repeat of the last transition of the same object, sends every change', async () => {
    const h = harness();
    const degraded: Transition = { event: 'degraded', object: 'demo_api', stack: 'demo', health: 'degraded', reason: 'task: non-zero exit (1)' };
    h.notifier.transition(degraded);
    h.notifier.transition(degraded);
    h.notifier.transition({ event: 'recovered', object: 'demo_api', stack: 'demo', health: 'healthy', reason: 'running 1/1' });
    h.notifier.transition(degraded);
    await h.notifier.idle();
    expect(h.posts.map((p) => [p.body.event, p.body.health])).toEqual([['degraded', 'degraded'], ['recovered', 'healthy'], ['degraded', 'degraded']]);
  });

  it('rollouts are apart from health, and a rollout of a new revision is a new state', async () => {
    const h = harness();
    const done: Transition = { event: 'rollout-completed', object: 'demo_api', reason: 'update completed' };
    h.notifier.transition(done);
    h.notifier.transition({ event: 'degraded', object: 'demo_api', reason: 'r' });
    h.notifier.transition(done);
    h.notifier.configure('lab', 'rev2', [target(URL_A)]);
    h.notifier.transition(done);
    await h.notifier.idle();
    expect(h.posts.map((p) => [p.body.event, p.body.revision])).toEqual([['rollout-completed', 'rev1'], ['degraded', 'rev1'], ['rollout-completed', 'rev2']]);
  });
});

describe('webhooks and formats', () => {
  it('sends each event only to the webhooks that list it, in their format', async () => {
    const h = harness();
    h.notifier.configure('lab', 'rev1', [target(URL_A, { events: ['blocked'] }), target(URL_B, { format: 'slack' })]);
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(1);
    expect(h.posts[0]!.url).toBe(URL_B);
    expect(h.posts[0]!.body.text).toBe(':double_vertical_bar: *held by warden*: `demo_web`\nflapping: corrected 3 times in 10 min');
  });

  it('sends nothing without webhooks', async () => {
    const h = harness();
    h.notifier.configure('lab', 'rev1', undefined);
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(0);
  });
});

describe('retries and the queue', () => {
  it('tries a 5xx again, retries+1 times in all, then counts it failed', async () => {
    const h = harness(() => 500, { retries: 2 });
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(3);
    expect(await h.count('held', 'failed')).toBe(1);
    expect(await h.count('held', 'sent')).toBe(0);
  });

  it('is delivered by a retry after a failure', async () => {
    const h = harness((n) => (n === 1 ? 503 : 204));
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(2);
    expect(await h.count('held', 'sent')).toBe(1);
  });

  it.each([[400], [404], [410]])('does not try a %i again: the receiver refuses the request itself', async (status) => {
    const h = harness(() => status);
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    expect(h.posts).toHaveLength(1);
    expect(await h.count('held', 'failed')).toBe(1);
  });

  it('gives a receiver that hangs timeoutMs per try, and a refused connection its retries', async () => {
    const hang = harness(() => 'hang', { retries: 1 });
    const started = performance.now();
    hang.notifier.present('a', [held]);
    await hang.notifier.idle();
    expect(hang.posts).toHaveLength(2);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await hang.count('held', 'failed')).toBe(1);
    const refused = harness(() => 'refuse', { retries: 1 });
    refused.notifier.present('a', [held]);
    await refused.notifier.idle();
    expect(refused.posts).toHaveLength(2);
    expect(await refused.count('held', 'failed')).toBe(1);
  });

  it('holds at most queueCap messages per webhook: the oldest are dropped and counted failed', async () => {
    const h = harness(() => 'hang', { queueCap: 2, retries: 0 });
    for (let i = 0; i < 6; i++) h.notifier.present('a', [{ ...held, object: `s${i}` }]);
    await h.notifier.idle();
    // The first went out at once; of the five queued behind it, the two newest stayed.
    expect(h.posts.map((p) => p.body.object)).toEqual(['s0', 's4', 's5']);
    expect(await h.count('held', 'failed')).toBe(6);
    expect(h.logs.filter((l) => l.includes('queue is full') && l.includes('"level":40'))).toHaveLength(1);
  });

  it('never hands the pass a wait: present and transition return at once while the receiver hangs', () => {
    const h = harness(() => 'hang');
    const started = performance.now();
    for (let i = 0; i < 500; i++) h.notifier.present('a', [{ ...held, object: `s${i}` }]);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('logs the webhook by its urlFile, never the URL or the client\'s message', async () => {
    const h = harness(() => 'refuse', { retries: 1 });
    h.notifier.present('a', [held]);
    await h.notifier.idle();
    const all = h.logs.join('');
    expect(all).toContain('cannot reach the webhook: ECONNREFUSED');
    expect(all).toContain('/run/secrets/');
    expect(all).not.toContain('hooks.example.test');
    expect(all).not.toContain('secret-a');
  });

  it('stops: start resolves once the POST in flight was aborted; what was queued is dropped', async () => {
    const h = harness(() => 'hang');
    const stop = stops.at(-1)!;
    h.notifier.present('a', [held, { ...held, object: 'other' }]);
    stop.abort();
    await h.notifier.idle();
    expect(h.posts).toHaveLength(1);
  });
});
