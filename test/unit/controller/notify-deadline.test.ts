// The deadline of one POST survives a garbage collection. With AbortSignal.any([stop, AbortSignal.timeout()])
// a collection while a receiver hung lost the timeout on Node 20, and that webhook's queue stalled for ever
// (the lab's notify test, src/deadline.ts). A real receiver on loopback that never answers, the real sender
// (fetch), and a collection forced while the POST waits.
import { createServer, type Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../../../src/controller/metrics.js';
import { Notifier } from '../../../src/controller/notify.js';
import { NOTIFY_EVENTS } from '../../../src/desired-state/schema.js';
import { WebhookUrl } from '../../../src/desired-state/webhook-url.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

// hanging starts a receiver that reads each request and never answers; `open` counts requests with no end yet.
async function hanging(): Promise<{ url: string; requests: () => number; open: () => number }> {
  let requests = 0;
  let open = 0;
  const server: Server = createServer((req, res) => {
    requests += 1;
    open += 1;
    res.on('close', () => (open -= 1));
    req.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, requests: () => requests, open: () => open };
}

describe('a POST to a receiver that hangs', () => {
  it('ends at timeoutMs though the garbage collector ran while it waited, and the next message is sent', async () => {
    const receiver = await hanging();
    const metrics = new Metrics({ registry: new Registry(), processMetrics: false });
    const notifier = new Notifier({ logger: pino({ level: 'silent' }), metrics, timeoutMs: 1_000, retries: 0 });
    notifier.configure('lab', 'rev1', [{ urlFile: '/run/secrets/hook', url: new WebhookUrl(receiver.url), format: 'json', events: [...NOTIFY_EVENTS] }]);
    notifier.leader = true;
    const stop = new AbortController();
    cleanup.push(() => stop.abort());
    void notifier.start(stop.signal);
    const failed = async (): Promise<number> => (await metrics.notifications.get()).values.find((v) => v.labels.event === 'held' && v.labels.result === 'failed')?.value ?? 0;

    notifier.present('holds', [{ event: 'held', object: 'a', reason: 'flapping' }, { event: 'held', object: 'b', reason: 'flapping' }]);
    await vi.waitFor(() => expect(receiver.open()).toBe(1), { timeout: 2_000 });
    gc();
    await vi.waitFor(async () => expect(await failed()).toBe(1), { timeout: 4_000 });
    await vi.waitFor(() => expect(receiver.requests()).toBe(2), { timeout: 2_000 });
    gc();
    await vi.waitFor(async () => expect(await failed()).toBe(2), { timeout: 4_000 });
    expect(receiver.open()).toBe(0);
  });
});
