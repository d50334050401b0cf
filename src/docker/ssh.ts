// The engine over ssh://, as the docker CLI reaches it (docker/cli cli/connhelper): the remote side runs
// `docker system dial-stdio`, whose stdin and stdout are a connection to its engine. Unlike the CLI (one
// ssh process per connection) and docker-modem (one SSH connection per HTTP request), warden keeps one
// SSH connection per engine and opens a dial-stdio channel on it for each HTTP connection, reused while
// it lives; the connection is made again when it drops. What OpenSSH would do, warden does: the user
// from the URL, else the local one; the SSH agent and the default identity files; the host key checked
// against known_hosts, an unknown or changed key refused (never accepted silently). ~/.ssh/config is not
// read.
import { readFileSync } from 'node:fs';
import { Agent, type ClientRequest, type ClientRequestArgs } from 'node:http';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { clearTimeout, setTimeout } from 'node:timers';
import type { AnyAuthMethod, Client } from 'ssh2';
import { checkHostKey, hostKeyAlgorithms, hostKeyRefusal, knownHostsFiles, readKnownHosts } from './known-hosts.js';
import { ChannelSocket } from './ssh-channel.js';
import {
  describeTarget, remoteCommand, SSH_CONNECT_TIMEOUT_MS, SSH_IDLE_CHANNEL_MS, SSH_KEEPALIVE_MS, SSH_MAX_CHANNELS, type SshTarget,
} from './ssh-target.js';

export * from './known-hosts.js';
export * from './ssh-target.js';

/**
 * ssh2 loads the module at the first ssh:// use, not at start-up: loading it signs with a test key (which
 * sets up OpenSSL's signing), loads two native addons and instantiates a WebAssembly module with 16 MiB of
 * memory, about 12 MB of RSS that a warden on a unix socket never uses (docs/performance.md). This is the
 * one module that loads it (the others import only its types).
 */
const ssh2 = (): typeof import('ssh2') => createRequire(import.meta.url)('ssh2') as typeof import('ssh2');

/** DEFAULT_IDENTITY_FILES are the keys under ~/.ssh tried after the agent's, in OpenSSH's order, those ssh2 can use. */
export const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ed25519'] as const;

/** SshCredentials are the authentication methods to try, in order, and what was passed over and why. */
export interface SshCredentials {
  methods: AnyAuthMethod[];
  /** tried names each method for messages: "the agent at ...", "~/.ssh/id_ed25519". */
  tried: string[];
  /** skipped names the identity files that exist but cannot be used, with the reason. */
  skipped: string[];
}

/** sshCredentials gathers what OpenSSH would offer: the agent's keys (SSH_AUTH_SOCK), then the default identity files. */
export function sshCredentials(user: string, env: NodeJS.ProcessEnv, home: string): SshCredentials {
  const creds: SshCredentials = { methods: [], tried: [], skipped: [] };
  if (env.SSH_AUTH_SOCK) {
    creds.methods.push({ type: 'agent', username: user, agent: env.SSH_AUTH_SOCK });
    creds.tried.push(`the agent at ${env.SSH_AUTH_SOCK}`);
  }
  for (const name of DEFAULT_IDENTITY_FILES) {
    const file = join(home, '.ssh', name);
    let text: Buffer;
    try {
      text = readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') creds.skipped.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    const key = ssh2().utils.parseKey(text);
    if (key instanceof Error) {
      // No prompt for a passphrase here: warden runs unattended. The agent is the way to use such a key.
      const why = /passphrase|encrypted/i.test(key.message) ? 'it is encrypted: add it to ssh-agent (ssh-add)' : key.message;
      creds.skipped.push(`${file}: ${why}`);
      continue;
    }
    creds.methods.push({ type: 'publickey', username: user, key: text });
    creds.tried.push(file);
  }
  return creds;
}

// ---- the connection -------------------------------------------------------------------------------

/** SshOptions say where the SSH material is; absent fields come from the environment, as for OpenSSH. */
export interface SshOptions {
  /** env gives HOME and SSH_AUTH_SOCK; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** knownHosts are the known_hosts files; default knownHostsFiles(HOME). */
  knownHosts?: string[];
  /** connectTimeoutMs defaults to SSH_CONNECT_TIMEOUT_MS. */
  connectTimeoutMs?: number;
}

/**
 * SshEngineAgent is an HTTP agent whose connections are `docker system dial-stdio` channels on one SSH
 * connection to the target, made when first needed and again after it drops. Pass it to the HTTP client
 * as its agent; destroy() closes the SSH connection.
 */
export class SshEngineAgent extends Agent {
  private readonly session: SshSession;

  constructor(readonly target: SshTarget, opts: SshOptions = {}) {
    // Keep-alive: a channel (one remote process) serves request after request, as the CLI's HTTP client
    // reuses its ssh connections; lifo, so that the channels not needed time out.
    super({ keepAlive: true, maxSockets: SSH_MAX_CHANNELS, maxFreeSockets: SSH_MAX_CHANNELS, scheduling: 'lifo' });
    this.session = new SshSession(target, opts);
  }

  override createConnection(_options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    this.session.dial().then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): boolean {
    const keep = (super.keepSocketAlive(socket) as unknown) !== false;
    // The default keepSocketAlive turns the socket's timeout off while it waits: close it ourselves after
    // a while, so that channels do not pile up on the server.
    if (keep && socket instanceof ChannelSocket) socket.closeWhenIdle(SSH_IDLE_CHANNEL_MS);
    return keep;
  }

  override reuseSocket(socket: Duplex, request: ClientRequest): void {
    if (socket instanceof ChannelSocket) socket.closeWhenIdle(0);
    super.reuseSocket(socket, request);
  }

  override destroy(): void {
    super.destroy();
    this.session.end();
  }
}

class SshSession {
  private client: Client | undefined;
  private ready: Promise<Client> | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly home: string;
  private readonly describe: string;

  constructor(private readonly target: SshTarget, private readonly opts: SshOptions) {
    this.env = opts.env ?? process.env;
    this.home = this.env.HOME || homedir();
    this.describe = describeTarget(target);
  }

  end(): void {
    this.client?.end();
    this.client = undefined;
    this.ready = undefined;
  }

  /** dial opens a dial-stdio channel, connecting first when there is no live connection. */
  async dial(): Promise<ChannelSocket> {
    const client = await this.connect();
    try {
      return await this.exec(client);
    } catch (err) {
      // The connection died between our last use and now (the server restarted, the network dropped
      // it): one fresh connection, then the error stands.
      if (this.client === client) throw err;
      return this.exec(await this.connect());
    }
  }

  private exec(client: Client): Promise<ChannelSocket> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.describe}: the server did not open a channel within ${this.connectTimeoutMs / 1000} s`));
        this.drop(client);
      }, this.connectTimeoutMs);
      try {
        client.exec(remoteCommand(this.target), (err, channel) => {
          clearTimeout(timer);
          if (err) {
            reject(new Error(`${this.describe}: cannot run docker system dial-stdio: ${err.message}`));
            return;
          }
          resolve(new ChannelSocket(channel, this.describe));
        });
      } catch (err) {
        clearTimeout(timer);
        this.drop(client);
        reject(new Error(`${this.describe}: ${(err as Error).message}`));
      }
    });
  }

  private get connectTimeoutMs(): number {
    return this.opts.connectTimeoutMs ?? SSH_CONNECT_TIMEOUT_MS;
  }

  private drop(client: Client): void {
    if (this.client === client) {
      this.client = undefined;
      this.ready = undefined;
    }
    client.end();
  }

  // One connection at a time: callers that come while it is being made wait for the same one.
  private connect(): Promise<Client> {
    if (this.ready) return this.ready;
    const { target, describe } = this;
    // Read the credentials and known_hosts at each connection: an operator who fixes them need not
    // restart `warden run`.
    const creds = sshCredentials(target.user, this.env, this.home);
    const knownFiles = this.opts.knownHosts ?? knownHostsFiles(this.home);
    const known = readKnownHosts(knownFiles);
    if (creds.methods.length === 0) {
      const why = [
        'no SSH credentials to offer: SSH_AUTH_SOCK is not set and none of',
        DEFAULT_IDENTITY_FILES.map((f) => join(this.home, '.ssh', f)).join(', '),
        'can be used',
      ].join(' ');
      return Promise.reject(new Error(`${describe}: ${why}${creds.skipped.length ? ` (${creds.skipped.join('; ')})` : ''}`));
    }
    const client = new (ssh2().Client)();
    this.client = client;
    let refusal: string | undefined;
    let agentError: string | undefined;
    const ready = new Promise<Client>((resolve, reject) => {
      client.once('ready', () => resolve(client));
      client.on('error', (err: Error & { level?: string }) => {
        // An agent that cannot be reached is passed over: the identity files are tried next.
        if (err.level === 'agent') {
          agentError = err.message;
          return;
        }
        reject(this.explain(err, refusal, creds, agentError));
      });
      client.once('close', () => {
        if (this.client === client) {
          this.client = undefined;
          this.ready = undefined;
        }
        reject(new Error(`${describe}: the connection closed`));
      });
      try {
        client.connect({
          host: target.host,
          port: target.port,
          username: target.user,
          authHandler: creds.methods,
          hostVerifier: (key: Buffer) => {
            const verdict = checkHostKey(known, target.host, target.port, key);
            if (verdict.kind === 'known') return true;
            refusal = hostKeyRefusal(verdict, target, key, knownFiles[0]!);
            return false;
          },
          algorithms: { serverHostKey: hostKeyAlgorithms(known, target.host, target.port) },
          readyTimeout: this.connectTimeoutMs,
          keepaliveInterval: SSH_KEEPALIVE_MS,
          keepaliveCountMax: 3,
        });
      } catch (err) {
        reject(new Error(`${describe}: ${(err as Error).message}`));
        client.end();
      }
    });
    this.ready = ready;
    // A failed attempt is not kept: the next request tries again (the events stream backs off).
    ready.catch(() => {
      if (this.ready === ready) this.drop(client);
    });
    return ready;
  }

  private explain(err: Error & { level?: string }, refusal: string | undefined, creds: SshCredentials, agentError: string | undefined): Error {
    const { describe, target } = this;
    if (refusal) return new Error(`${describe}: ${refusal}`);
    if (err.level === 'client-authentication') {
      const agent = creds.tried.find((t) => t.startsWith('the agent'));
      const tried = agentError ? creds.tried.filter((t) => t !== agent) : creds.tried;
      const notes = [...creds.skipped, ...(agentError && agent ? [`${agent}: ${agentError}`] : [])];
      return new Error(
        `${describe}: the server accepted none of the keys offered for user ${target.user} (${tried.join(', ') || 'none'})` +
          `${notes.length ? `; not offered: ${notes.join('; ')}` : ''}: add the public key to that user's authorized_keys on ${target.host}, or load the right key into ssh-agent`,
      );
    }
    const code = (err as NodeJS.ErrnoException).code;
    return new Error(`${describe}: ${code && !err.message.includes(code) ? `${code}: ` : ''}${err.message}`);
  }
}
