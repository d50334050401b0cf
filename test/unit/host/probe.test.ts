import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeRegistry } from '../../../src/host/probe.js';

// A real HTTP server on loopback: /v2/ answers with the status its path asks for; /hang never answers.
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/hang/') return;
    res.statusCode = Number(req.url?.split('/')[1] ?? 200);
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('probeRegistry', () => {
  it.each([
    { status: 200, ok: true },
    { status: 401, ok: true }, // a registry that wants credentials is up
    { status: 503, ok: false },
    { status: 404, ok: false },
  ])('HTTP $status: ok $ok', async ({ status, ok }) => {
    expect(await probeRegistry(`${base}/${status}/`)).toEqual({ url: `${base}/${status}/`, ok, detail: `HTTP ${status}` });
  });

  it('reports a registry that does not answer within the timeout', async () => {
    const r = await probeRegistry(`${base}/hang/`, undefined, 200);
    expect(r).toEqual({ url: `${base}/hang/`, ok: false, detail: 'no answer within 200 ms' });
  });

  it('reports a refused connection with its code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await probeRegistry(`http://127.0.0.1:${port}/v2/`);
    expect(r.ok).toBe(false);
    expect(r.detail).toBe('ECONNREFUSED');
  });

  it('stops at once when the pass is aborted', async () => {
    const ac = new AbortController();
    const started = performance.now();
    const pending = probeRegistry(`${base}/hang/`, ac.signal, 10_000);
    ac.abort();
    const r = await pending;
    expect(r.ok).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
