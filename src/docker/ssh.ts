// The engine over ssh://, as the docker CLI reaches it (docker/cli cli/connhelper): the remote side runs
// `docker system dial-stdio`, whose stdin and stdout are a connection to its engine. Unlike the CLI (one
// ssh process per connection) and docker-modem (one SSH connection per HTTP request), warden keeps one
// SSH connection per engine and opens a dial-stdio channel on it for each HTTP connection, reused while
// it lives; the connection is made again when it drops. What OpenSSH would do, warden does: the user
// from the URL, else the local one; the SSH agent and the default identity files; the host key checked
// against known_hosts, an unknown or changed key refused (never accepted silently). ~/.ssh/config is not
// read.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, type ClientRequest, type ClientRequestArgs } from 'node:http';
import { createRequire } from 'node:module';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { clearTimeout, setTimeout } from 'node:timers';
import type { AnyAuthMethod, Client, ClientChannel } from 'ssh2';

/**
 * ssh2 loads the module at the first ssh:// use, not at start-up: loading it signs with a test key (which
 * sets up OpenSSL's signing), loads two native addons and instantiates a WebAssembly module with 16 MiB of
 * memory, about 12 MB of RSS that a warden on a unix socket never uses (docs/performance.md).
 */
const ssh2 = (): typeof import('ssh2') => createRequire(import.meta.url)('ssh2') as typeof import('ssh2');

/** SshTarget is an ssh:// address taken apart. */
export interface SshTarget {
  /** user is the URL's user, else the local user (as OpenSSH). */
  user: string;
  host: string;
  /** port defaults to 22. */
  port: number;
  /** socketPath is the URL's path: the remote engine's socket; default none (the remote docker's own default). */
  socketPath: string | undefined;
}

/** SSH_DEFAULT_PORT is ssh's port when the URL names none (default 22). */
export const SSH_DEFAULT_PORT = 22;

/** SSH_CONNECT_TIMEOUT_MS bounds the TCP connect and handshake, as the docker CLI's ConnectTimeout=30 (default 30 s). */
export const SSH_CONNECT_TIMEOUT_MS = 30_000;

/** SSH_KEEPALIVE_MS is how often an idle connection is probed; three unanswered probes end it (default 15 s). */
export const SSH_KEEPALIVE_MS = 15_000;

/**
 * SSH_MAX_CHANNELS bounds the dial-stdio channels open at once on one connection (default 8): OpenSSH's
 * sshd allows 10 sessions per connection (MaxSessions).
 */
export const SSH_MAX_CHANNELS = 8;

/** SSH_IDLE_CHANNEL_MS is how long an idle channel is kept for the next request before it is closed (default 30 s). */
export const SSH_IDLE_CHANNEL_MS = 30_000;

/** DEFAULT_IDENTITY_FILES are the keys under ~/.ssh tried after the agent's, in OpenSSH's order, those ssh2 can use. */
export const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ed25519'] as const;

/** parseSshUrl takes an ssh:// address apart with the docker CLI's rules (no password, query or fragment). */
export function parseSshUrl(address: string, localUser: string | null = currentUser() ?? null): SshTarget {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new Error(`invalid SSH URL: cannot parse ${address.replace(/:[^:@/]*@/, ':***@')}`);
  }
  // Never echo a password back into logs.
  const shown = url.password ? address.replace(`:${url.password}@`, ':***@') : address;
  const fail = (why: string): never => {
    throw new Error(`invalid SSH URL ${shown}: ${why}`);
  };
  if (url.protocol !== 'ssh:') fail(`incorrect scheme: ${url.protocol.replace(/:$/, '')}`);
  if (url.password) fail('plain-text password is not supported');
  if (url.search) fail(`query parameters are not allowed: "${url.search.slice(1)}"`);
  if (url.hash) fail(`fragments are not allowed: "${url.hash.slice(1)}"`);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!host) fail('hostname is empty');
  const port = url.port ? Number(url.port) : SSH_DEFAULT_PORT;
  const path = decodeURIComponent(url.pathname);
  // As OpenSSH, which refuses to run for a uid without a passwd entry ("No user exists for uid").
  const user = url.username ? decodeURIComponent(url.username) : localUser ?? fail('no user in the URL, and this process\'s uid has no user name: name one (ssh://user@host)');
  return {
    user,
    host,
    port,
    socketPath: path.replace(/^\/+|\/+$/g, '') === '' ? undefined : path,
  };
}

/** describeTarget is how messages name an ssh target: `ssh root@host` (and `:port` when not 22). */
export function describeTarget(t: SshTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `ssh ${t.user}@${host}${t.port === SSH_DEFAULT_PORT ? '' : `:${t.port}`}`;
}

/**
 * remoteCommand is what the remote side runs: `docker system dial-stdio`, told the socket when the URL
 * has a path (as the CLI does), each word quoted for the remote shell.
 */
export function remoteCommand(t: SshTarget): string {
  const words = t.socketPath ? ['docker', `--host=unix://${t.socketPath}`, 'system', 'dial-stdio'] : ['docker', 'system', 'dial-stdio'];
  return words.map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function currentUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (an arbitrary uid in a container): the URL must name a user.
    return undefined;
  }
}

// ---- known_hosts ----------------------------------------------------------------------------------

/** KnownHostLine is one key line of a known_hosts file. */
export interface KnownHostLine {
  /** where is FILE:LINE, for messages. */
  where: string;
  /** marker is @revoked or @cert-authority; undefined for a plain key. */
  marker: 'revoked' | 'cert-authority' | undefined;
  /** patterns is the host field as written: comma-separated patterns, or one hashed `|1|salt|hash`. */
  patterns: string;
  keyType: string;
  key: Buffer;
}

/** parseKnownHosts reads a known_hosts file's text; comments, blank and malformed lines are skipped, as sshd does. */
export function parseKnownHosts(text: string, file: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHostLine['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [patterns, keyType, base64] = fields;
    if (!patterns || !keyType || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) continue;
    lines.push({ where: `${file}:${i + 1}`, marker, patterns, keyType, key: Buffer.from(base64, 'base64') });
  }
  return lines;
}

/** knownHostName is how known_hosts names a host: `host` on port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === SSH_DEFAULT_PORT ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

/** hostMatches tells whether a known_hosts host field names `name` (hashed, wildcards, negations). */
export function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    const want = Buffer.from(hash, 'base64');
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let matched = false;
  for (const pattern of patterns.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatch(negated ? pattern.slice(1) : pattern, name)) continue;
    // A matching negation rules the line out whatever else matches, as OpenSSH's match_hostname.
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** HostKeyVerdict is what known_hosts says of the key a server showed. */
export type HostKeyVerdict =
  | { kind: 'known'; where: string }
  | { kind: 'unknown' }
  /** changed: the host is known with other keys; `where` is the first of them. */
  | { kind: 'changed'; where: string; knownTypes: string[] }
  | { kind: 'revoked'; where: string };

/** checkHostKey judges a server's host key (the raw key blob) against known_hosts lines, as OpenSSH does. */
export function checkHostKey(lines: readonly KnownHostLine[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostName(host, port);
  const revoked = lines.find((l) => l.marker === 'revoked' && l.key.equals(key));
  if (revoked) return { kind: 'revoked', where: revoked.where };
  const forHost = lines.filter((l) => l.marker === undefined && hostMatches(l.patterns, name));
  const same = forHost.find((l) => l.key.equals(key));
  if (same) return { kind: 'known', where: same.where };
  if (forHost.length === 0) return { kind: 'unknown' };
  return { kind: 'changed', where: forHost[0]!.where, knownTypes: [...new Set(forHost.map((l) => l.keyType))] };
}

/** keyFingerprint is a key's OpenSSH fingerprint, `SHA256:` and unpadded base64, as ssh and ssh-keygen -l print it. */
export function keyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** keyBlobType is the key type a raw SSH public key blob names (its first string). */
export function keyBlobType(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return len > 0 && 4 + len <= key.length ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
}

/** knownHostsFiles are OpenSSH's defaults: the user's known_hosts (and known_hosts2), then the system's. */
export function knownHostsFiles(home: string): string[] {
  return [
    join(home, '.ssh', 'known_hosts'),
    join(home, '.ssh', 'known_hosts2'),
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2',
  ];
}

function readKnownHosts(files: readonly string[]): KnownHostLine[] {
  return files.flatMap((file) => {
    try {
      return parseKnownHosts(readFileSync(file, 'utf8'), file);
    } catch {
      return []; // A missing file knows no host, as for ssh.
    }
  });
}

// The host key algorithms to offer, those of the keys known_hosts has for this host first (as OpenSSH
// orders them), so that a server with several host keys shows the one we can check.
const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
] as const;
type HostKeyAlgorithm = (typeof DEFAULT_HOST_KEY_ALGORITHMS)[number];

/** hostKeyAlgorithms orders the host key algorithms to offer: those of the host's known key types first. */
export function hostKeyAlgorithms(lines: readonly KnownHostLine[], host: string, port: number): HostKeyAlgorithm[] {
  const name = knownHostName(host, port);
  const known = new Set(lines.filter((l) => l.marker === undefined && hostMatches(l.patterns, name)).map((l) => l.keyType));
  const algorithmsOf = (type: string): readonly string[] => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]);
  const first = DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => [...known].some((t) => algorithmsOf(t).includes(a)));
  return [...first, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
}

// ---- credentials ----------------------------------------------------------------------------------

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

function hostKeyRefusal(verdict: Exclude<HostKeyVerdict, { kind: 'known' }>, t: SshTarget, key: Buffer, userFile: string): string {
  const name = knownHostName(t.host, t.port);
  const shown = `${keyBlobType(key)} ${keyFingerprint(key)}`;
  const scan = `ssh-keyscan${t.port === SSH_DEFAULT_PORT ? '' : ` -p ${t.port}`} -t ${keyBlobType(key).replace(/^ssh-/, '')} ${t.host}`;
  switch (verdict.kind) {
    case 'unknown':
      return `the host key of ${name} (${shown}) is not known, refused: no entry for ${name} in known_hosts (${userFile} and the system's). ` +
        `Check the fingerprint with the host's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), ` +
        `then add it to ${userFile} (${scan} >> ${userFile}, and compare what it prints), or connect once with ssh ${t.user}@${t.host} and accept it there`;
    case 'changed':
      return `the host key of ${name} has CHANGED, refused: the server showed ${shown}, but ${verdict.where} knows ${name} with ` +
        `another key (${verdict.knownTypes.join(', ')}). Someone may be intercepting the connection, or the host was reinstalled. ` +
        `If the change is expected, check the new fingerprint with the host's administrator, remove the old entry (ssh-keygen -R '${name}') and add the new one`;
    case 'revoked':
      return `the host key of ${name} (${shown}) is marked @revoked in ${verdict.where}, refused`;
  }
}

/**
 * ChannelSocket makes an SSH exec channel look like the socket the HTTP client expects: timeouts, the
 * keep-alive calls, and an error instead of a silent end when the remote command fails (its stderr).
 */
class ChannelSocket extends Duplex {
  /** timeout is the idle timeout in ms (0: none), as net.Socket's. */
  timeout = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private freeTimer: NodeJS.Timeout | undefined;
  private stderr = '';

  constructor(private readonly channel: ClientChannel, describe: string) {
    super({ allowHalfOpen: false });
    channel.on('data', (chunk: Buffer) => {
      this.touch();
      if (!this.push(chunk)) channel.pause();
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    channel.on('error', (err: Error) => this.fail(new Error(`${describe}: ${err.message}`)));
    // 'close' comes after the remote command's exit status and all its output: a failure of the remote
    // command (no docker there, no engine behind it) is an error with what it said.
    channel.on('close', (code: number | null | undefined, signal?: string) => {
      const failed = (typeof code === 'number' && code !== 0) || (code === null && signal);
      if (failed && !this.destroyed) {
        const said = this.stderr.trim().split('\n').slice(-3).join(' ').trim();
        const how = typeof code === 'number' ? `exit status ${code}` : `signal ${signal}`;
        this.fail(new Error(`${describe}: docker system dial-stdio ended (${how})${said ? `: ${said}` : ''}`));
        return;
      }
      this.push(null);
    });
  }

  override _read(): void {
    this.channel.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.touch();
    this.channel.write(chunk, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.channel.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.freeTimer);
    try {
      this.channel.close();
    } catch {
      // Already closed with its connection.
    }
    callback(err);
  }

  /** setTimeout is net.Socket's: emit 'timeout' after `ms` without traffic (0 turns it off). */
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.timeout = ms;
    if (onTimeout) {
      if (ms === 0) this.off('timeout', onTimeout);
      else this.once('timeout', onTimeout);
    }
    this.touch();
    return this;
  }

  setKeepAlive(): this {
    return this; // The SSH connection has its own keepalive.
  }

  setNoDelay(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // An error goes only to a listener: the HTTP client drops its own once it has given up on the socket
  // (a parse error on what a remote login shell printed), and an unheard 'error' would end the process.
  private fail(err: Error): void {
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  /** closeWhenIdle closes the channel after `ms` unless it is used again first (0 cancels). */
  closeWhenIdle(ms: number): void {
    clearTimeout(this.freeTimer);
    this.freeTimer = ms > 0 ? setTimeout(() => this.destroy(), ms).unref() : undefined;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = this.timeout > 0 && !this.destroyed ? setTimeout(() => this.emit('timeout'), this.timeout).unref() : undefined;
  }
}
