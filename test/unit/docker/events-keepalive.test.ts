// The events stream over tcp:// is a connection that waits: the kernel must probe it (TCP keepalive), or a
// NAT that forgot it or a peer that vanished leaves warden waiting forever. Checked on real sockets: a
// loopback HTTP(S) server answers as an engine would, and `ss` reads the client socket's timer off the kernel.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDockerPort, EVENTS_KEEPALIVE_MS } from '../../../src/docker/engine.js';

// The kernel's view of the client's end: `ss -tno` prints `timer:(keepalive,<due>,0)` for a socket with
// SO_KEEPALIVE set and nothing in flight; the due time in ms, or undefined without keepalive.
function keepaliveDueMs(serverPort: number): number | undefined {
  const line = execFileSync('ss', ['-tnoH', 'state', 'established', 'dport', '=', `:${serverPort}`], { encoding: 'utf8' });
  const due = /timer:\(keepalive,(?:(\d+)min)?(?:(\d+(?:\.\d+)?)(ms|sec))?/.exec(line);
  if (!due) return undefined;
  return Number(due[1] ?? 0) * 60_000 + Number(due[2] ?? 0) * (due[3] === 'ms' ? 1 : 1000);
}

// An engine that answers /version and then holds /events open without a word, as one between changes.
function engine(req: IncomingMessage, res: ServerResponse, open: ServerResponse[]): void {
  if (req.url?.endsWith('/version')) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ApiVersion: '1.51', Version: '28.5.2' }));
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.flushHeaders();
  open.push(res);
}

describe('the events stream over tcp://', () => {
  let dir: string;
  let tls: { key: Buffer; cert: Buffer };
  let server: Server | undefined;
  const open: ServerResponse[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-keepalive-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
      '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const res of open.splice(0)) res.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  // Plain, and TLS without verification (DOCKER_TLS alone: its own HTTPS agent, which Node does not give
  // keepalive by default); Node's global agents set a 1 s one of their own, so the due time tells warden's.
  it.each([
    ['plain', false],
    ['TLS without verification', true],
  ])('has TCP keepalive, probing after 15 s of quiet (%s)', async (_name, secure) => {
    server = secure ? createHttpsServer(tls, (req, res) => engine(req, res, open)) : createHttpServer((req, res) => engine(req, res, open));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const env = secure ? { DOCKER_TLS: '1', DOCKER_CERT_PATH: join(dir, 'none'), HOME: dir } : { HOME: dir };
    const docker = createDockerPort({ host: `tcp://127.0.0.1:${port}`, env });
    const abort = new AbortController();
    const stream = docker.events(abort.signal)[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value).toEqual({ type: 'connected' });
      const due = keepaliveDueMs(port);
      expect(due).toBeDefined();
      expect(due!).toBeGreaterThan(EVENTS_KEEPALIVE_MS - 5_000);
      expect(due!).toBeLessThanOrEqual(EVENTS_KEEPALIVE_MS);
    } finally {
      abort.abort();
      await stream.return?.(undefined);
    }
  });
});
