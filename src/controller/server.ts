// The read-only HTTP endpoints (contract §5): / (the status page, ./page.ts), /metrics, /livez, /readyz, /status. Nothing here changes
// the cluster. The one POST, the git webhook (./webhook.ts), exists only when a secret is configured
// and only makes the git source fetch now.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { statusPage } from './page.js';
import { WEBHOOK_PATH, type WebhookHandler } from './webhook.js';

/** Probes are what the endpoints report. */
export interface Probes {
  registry: Registry;
  /** live is true while the controller loop runs and is not stuck; otherwise it says why not. */
  live(): true | string;
  ready(): boolean;
  status(): unknown;
  /** webhook serves `POST /hooks/git`; absent (the default) makes that path 404. */
  webhook?: WebhookHandler;
}

/** parseListen turns `:9095`, `9095`, `127.0.0.1:9095` or `[::1]:9095` into a host and a port. */
export function parseListen(listen: string): { host: string | undefined; port: number } {
  // The host, when given, is always followed by a colon: "9095" is a port, never host "909" port 5.
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(listen.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`--listen ${listen}: expected [HOST]:PORT, e.g. :9095 or 127.0.0.1:9095`);
  return { host: m[1] ?? (m[2] || undefined), port };
}

/** serve starts the endpoints on `listen` and resolves once listening; close it with server.close(). */
export async function serve(listen: string, probes: Probes): Promise<Server> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === WEBHOOK_PATH) {
      // Off unless a secret is configured: then the path does not exist, whatever the method.
      if (!probes.webhook) res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: the git webhook is off (no --webhook-secret-file)\n');
      else if (req.method === 'POST') probes.webhook(req, res);
      else res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const text = (code: number, body: string): void => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
    };
    switch (path) {
      case '/':
        // The page reads only the status view, as /status: it cannot show what /status does not.
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self'" })
          .end(statusPage(probes.status()));
        return;
      case '/metrics':
        probes.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': probes.registry.contentType }).end(body),
          (err: Error) => text(500, `${err.message}\n`),
        );
        return;
      case '/livez': {
        const live = probes.live();
        if (live === true) text(200, 'ok\n');
        else text(503, `${live}\n`);
        return;
      }
      case '/readyz':
        if (probes.ready()) text(200, 'ok\n');
        else text(503, 'not ready: the desired state is not loaded or the engine has not answered\n');
        return;
      case '/status':
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(probes.status(), null, 2)}\n`);
        return;
      default:
        text(404, 'not found: try /, /metrics, /livez, /readyz or /status\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
