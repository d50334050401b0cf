// Which engine to talk to, resolved as the docker CLI resolves it (docker/cli cli/command/cli.go
// resolveContextName, defaultcontextstore.go, cli/context/store, cli/context/docker/load.go): --host, else
// --context, else DOCKER_HOST, else DOCKER_CONTEXT, else the docker config's currentContext, else the
// default context (the environment's DOCKER_HOST and TLS variables, or the local socket).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from './errors.js';

/** DEFAULT_SOCKET is where the engine listens when nothing else is said. */
export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** DEFAULT_CONTEXT is the name of the docker CLI's virtual context made of the environment (default "default"). */
export const DEFAULT_CONTEXT = 'default';

/** TlsMaterial is the PEM files of a TLS endpoint; any of them may be absent (no client certificate, system CAs). */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** EngineEndpoint is where the engine is and how to reach it, once resolved. */
export interface EngineEndpoint {
  /** host is the engine's address: unix:///path, tcp://host:port, http(s)://host:port or ssh://[user@]host[:port][/socket]. */
  host: string;
  /** tls is the TLS material when TLS is on (tcp:// only); undefined means plain HTTP. */
  tls?: TlsMaterial;
  /** skipTLSVerify turns off the server certificate check (a context's SkipTLSVerify); default false. */
  skipTLSVerify: boolean;
  /** context is the context used: "default" for the environment's, else the named one. */
  context: string;
  /** source says what chose the endpoint, for messages: "--host", "DOCKER_HOST", "--context", ... */
  source: string;
}

/** ResolveOptions are what decides the endpoint; what is absent comes from `env`, as for the docker CLI. */
export interface ResolveOptions {
  /** host is --host (or WARDEN_HOST); default none. */
  host?: string;
  /** context is --context; default none (then DOCKER_CONTEXT, then the config's currentContext). */
  context?: string;
  /** env defaults to process.env (DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, HOME). */
  env?: NodeJS.ProcessEnv;
}

/** dockerConfigDir is DOCKER_CONFIG, else ~/.docker, as the docker CLI finds it. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
}

/** contextDirName is the directory a context's files live in: the sha256 of its name, as `docker context create` writes it. */
export function contextDirName(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/** resolveEndpoint finds the engine as the docker CLI does; every failure is an EngineError('unreachable'). */
export function resolveEndpoint(opts: ResolveOptions = {}): EngineEndpoint {
  const env = opts.env ?? process.env;
  if (opts.host && opts.context) {
    throw new EngineError('unreachable', 'conflicting options: cannot specify both --host and --context', undefined);
  }
  // The order of docker/cli's resolveContextName. An empty variable counts as unset, as os.Getenv != "".
  if (opts.context) return contextEndpoint(opts.context, env, '--context');
  if (opts.host) return defaultEndpoint(opts.host, env, '--host');
  if (env.DOCKER_HOST) return defaultEndpoint(env.DOCKER_HOST, env, 'DOCKER_HOST');
  if (env.DOCKER_CONTEXT) return contextEndpoint(env.DOCKER_CONTEXT, env, 'DOCKER_CONTEXT');
  const current = currentContext(env);
  if (current) return contextEndpoint(current.name, env, `currentContext in ${current.file}`);
  return defaultEndpoint(undefined, env, 'the default');
}

// The docker config's currentContext. A missing file is no context; a file that cannot be read is an
// error, where the docker CLI only warns and goes on with the local socket: a plan run against the local
// engine when the operator meant a remote one would be a wrong answer, not a degraded one.
function currentContext(env: NodeJS.ProcessEnv): { name: string; file: string } | undefined {
  const file = join(dockerConfigDir(env), 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EngineError('unreachable', `cannot read the docker config ${file}: ${(err as Error).message}`, undefined, { cause: err });
  }
  let config: unknown;
  try {
    config = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new EngineError('unreachable', `cannot parse the docker config ${file}: ${(err as Error).message}`, undefined, { cause: err });
  }
  const name = (config as { currentContext?: unknown } | null)?.currentContext;
  return typeof name === 'string' && name !== '' ? { name, file } : undefined;
}

// The default context: the address given (or DOCKER_HOST), with TLS from DOCKER_TLS_VERIFY, DOCKER_TLS and
// DOCKER_CERT_PATH, as the CLI's flags read them (cli/flags/options.go): any non-empty DOCKER_TLS_VERIFY
// turns TLS on with verification, "0" and "false" included; DOCKER_TLS alone turns it on without
// verification; with TLS on and no address the default is tcp://localhost:2376, not the socket. With
// verification ca.pem must be readable; without it ca.pem is not read at all (nothing would check the
// server against it, and the CLI does not ask for it either); cert.pem and key.pem are left out when they
// do not exist (a server check without a client certificate).
function defaultEndpoint(given: string | undefined, env: NodeJS.ProcessEnv, source: string): EngineEndpoint {
  const verify = Boolean(env.DOCKER_TLS_VERIFY);
  const tlsOn = verify || Boolean(env.DOCKER_TLS);
  const host = normalizeHost(given?.trim() || (tlsOn ? 'tcp://localhost:2376' : `unix://${DEFAULT_SOCKET}`), source);
  const endpoint: EngineEndpoint = { host, skipTLSVerify: tlsOn && !verify, context: DEFAULT_CONTEXT, source };
  if (!tlsOn || !isTcp(host)) return endpoint;
  const certPath = env.DOCKER_CERT_PATH || dockerConfigDir(env);
  const variable = verify ? 'DOCKER_TLS_VERIFY' : 'DOCKER_TLS';
  const optional = (file: string): Buffer | undefined => {
    try {
      return readFileSync(join(certPath, file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  try {
    const cert = optional('cert.pem');
    const key = optional('key.pem');
    const ca = verify ? readFileSync(join(certPath, 'ca.pem')) : undefined;
    endpoint.tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  } catch (err) {
    throw new EngineError('unreachable', `${variable} is set but the certificates in ${certPath} cannot be read: ${(err as Error).message}`, undefined, { cause: err });
  }
  return endpoint;
}

// A named context from the store: contexts/meta/<sha256>/meta.json holds Endpoints.docker.{Host,
// SkipTLSVerify}; contexts/tls/<sha256>/docker/ holds ca.pem, cert.pem and key.pem when it has TLS.
function contextEndpoint(name: string, env: NodeJS.ProcessEnv, source: string): EngineEndpoint {
  if (name === DEFAULT_CONTEXT) return defaultEndpoint(env.DOCKER_HOST, env, `${source} ${DEFAULT_CONTEXT}`);
  const store = join(dockerConfigDir(env), 'contexts');
  const dir = contextDirName(name);
  const metaFile = join(store, 'meta', dir, 'meta.json');
  let text: string;
  try {
    text = readFileSync(metaFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new EngineError('unreachable', `context "${name}" (${source}): cannot read ${metaFile}: ${(err as Error).message}`, undefined, { cause: err });
    }
    const fix = source.startsWith('currentContext')
      ? `; choose another with docker context use NAME, or remove currentContext from that file`
      : `; docker context ls lists the contexts there`;
    throw new EngineError('unreachable', `context "${name}" (${source}) does not exist in ${store}: no ${metaFile}${fix}`, undefined);
  }
  let meta: { Endpoints?: { docker?: { Host?: unknown; SkipTLSVerify?: unknown } } };
  try {
    meta = JSON.parse(text) as typeof meta;
  } catch (err) {
    throw new EngineError('unreachable', `context "${name}": cannot parse ${metaFile}: ${(err as Error).message}`, undefined, { cause: err });
  }
  const docker = meta?.Endpoints?.docker;
  if (!docker || typeof docker !== 'object') {
    throw new EngineError('unreachable', `context "${name}": ${metaFile} has no docker endpoint (Endpoints.docker)`, undefined);
  }
  // An empty Host makes the docker client use its built-in default, the local socket.
  const rawHost = typeof docker.Host === 'string' && docker.Host !== '' ? docker.Host : `unix://${DEFAULT_SOCKET}`;
  const host = normalizeHost(rawHost, `context "${name}"`);
  const skipTLSVerify = docker.SkipTLSVerify === true;
  const endpoint: EngineEndpoint = { host, skipTLSVerify, context: name, source };
  // TLS data only matters for tcp://; the CLI ignores it for sockets and ssh too.
  const tls = isTcp(host) ? readContextTls(join(store, 'tls', dir, 'docker'), name) : undefined;
  if (tls || (skipTLSVerify && isTcp(host))) endpoint.tls = tls ?? {};
  return endpoint;
}

function readContextTls(dir: string, name: string): TlsMaterial | undefined {
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EngineError('unreachable', `context "${name}": cannot list its TLS files in ${dir}: ${(err as Error).message}`, undefined, { cause: err });
  }
  const tls: TlsMaterial = {};
  for (const [file, field] of [['ca.pem', 'ca'], ['cert.pem', 'cert'], ['key.pem', 'key']] as const) {
    if (!files.includes(file)) continue;
    try {
      tls[field] = readFileSync(join(dir, file));
    } catch (err) {
      throw new EngineError('unreachable', `context "${name}": cannot read ${join(dir, file)}: ${(err as Error).message}`, undefined, { cause: err });
    }
  }
  return tls;
}

function isTcp(host: string): boolean {
  return /^(tcp|https?):\/\//.test(host);
}

// As docker/cli opts.ParseHost: an address without a scheme is tcp://, tcp:// gets its default port
// later; unix://, ssh://, http(s):// pass as they are. npipe:// and fd:// have no meaning here.
function normalizeHost(host: string, source: string): string {
  // A bare path is a socket: warden took it so before it read contexts, and a path is never a TCP address.
  if (host.startsWith('/')) return `unix://${host}`;
  if (!host.includes('://')) return `tcp://${host}`;
  if (/^(unix|tcp|https?|ssh):\/\//.test(host)) return host;
  throw new EngineError('unreachable', `cannot use engine address ${host} (${source}): expected unix:///path, tcp://host:port or ssh://[user@]host[:port]`, undefined);
}
