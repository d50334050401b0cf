// An ssh:// engine address, as the docker CLI takes it apart (cli/connhelper), and the SSH transport's
// defaults. ./ssh.ts connects to it.
import { userInfo } from 'node:os';
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

// shellQuote quotes one word for the remote shell (POSIX single quotes unless it needs none).
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

// currentUser is the local user name, as OpenSSH takes it when the URL names none.
function currentUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (an arbitrary uid in a container): the URL must name a user.
    return undefined;
  }
}
