// A recording HTTP proxy on a unix socket in front of a lab engine's socket: tests see the paths warden
// asks for, and may rewrite an answer (an engine that says it is older than it is).
import { request, createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** SocketProxy is a proxy listening on `socket`; `paths` lists every request's method and path, in order, and `times` when each came (performance.now()). */
export interface SocketProxy {
  socket: string;
  paths: string[];
  times: number[];
  close(): Promise<void>;
}

/** startSocketProxy forwards every request to `target` (a unix socket path); `rewrite` may change a JSON answer by path. */
export async function startSocketProxy(target: string, rewrite?: (path: string, body: unknown) => unknown): Promise<SocketProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-proxy-'));
  const socket = join(dir, 'engine.sock');
  const paths: string[] = [];
  const times: number[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    paths.push(`${req.method} ${req.url}`);
    times.push(performance.now());
    const upstream = request({ socketPath: target, path: req.url, method: req.method, headers: req.headers }, (up) => {
      const changed = rewrite && (up.headers['content-type'] ?? '').includes('application/json') && !(req.url ?? '').includes('/events');
      if (!changed) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      let body = '';
      up.setEncoding('utf8');
      up.on('data', (c: string) => (body += c));
      up.on('end', () => {
        const out = JSON.stringify(rewrite(req.url ?? '', JSON.parse(body)));
        const { 'content-length': _, 'transfer-encoding': __, ...headers } = up.headers;
        res.writeHead(up.statusCode ?? 502, { ...headers, 'content-length': Buffer.byteLength(out) });
        res.end(out);
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    paths,
    times,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
