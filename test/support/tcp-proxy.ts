// A TCP proxy in front of a lab engine's unix socket, as an engine reached over tcp:// is: `freeze()`
// stops passing bytes on the connections open now and keeps them open, as a connection that died without
// a word (a peer gone, a NAT entry dropped) looks from the client's side. New connections pass again.
import { connect, createServer, type Server, type Socket } from 'node:net';

/** TcpProxy listens on 127.0.0.1:`port`; `connections` counts the connections accepted. */
export interface TcpProxy {
  host: string;
  connections(): number;
  freeze(): void;
  close(): Promise<void>;
}

function pair(client: Socket, upstream: Socket): { client: Socket; upstream: Socket } {
  return { client, upstream };
}

/** startTcpProxy forwards each connection to the unix socket `target`. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const open = new Set<{ client: Socket; upstream: Socket }>();
  const frozen = new Set<{ client: Socket; upstream: Socket }>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted += 1;
    const upstream = connect(target);
    const pair = { client, upstream };
    open.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    host: `tcp://127.0.0.1:${port}`,
    connections: () => accepted,
    freeze() {
      for (const { client, upstream } of open) {
        upstream.unpipe(client);
        client.unpipe(upstream);
        upstream.pause();
        client.pause();
        frozen.add(pair(client, upstream));
      }
      // Frozen pairs stay open: only the client may give up on them (and close() ends them).
      open.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const { client, upstream } of [...open, ...frozen]) {
          client.destroy();
          upstream.destroy();
        }
      }),
  };
}
