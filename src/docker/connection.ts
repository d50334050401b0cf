// Where the engine is and how to reach it, as the docker CLI resolves it (./context.ts): a unix socket,
// tcp:// with or without TLS, or ssh:// through ./ssh.ts. ./engine.ts makes the dockerode clients from it.
import type { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type Docker from 'dockerode';
import { resolveEndpoint, type EngineEndpoint } from './context.js';
import { EngineError } from './errors.js';
import { parseSshUrl, SshEngineAgent, type SshOptions } from './ssh.js';

/** EngineOptions say where the engine is; absent fields come from the environment as for the docker CLI. */
export interface EngineOptions {
  /** host is unix:///path, tcp://host:port or ssh://[user@]host[:port]; default: the context's, see resolveEndpoint. */
  host?: string;
  /** context is a docker context's name (--context); default DOCKER_CONTEXT, then the docker config's currentContext. */
  context?: string;
  /** env defaults to process.env (DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, HOME, SSH_AUTH_SOCK). */
  env?: NodeJS.ProcessEnv;
  /** ssh overrides where the SSH material is read (known_hosts files); default OpenSSH's places. */
  ssh?: Omit<SshOptions, 'env'>;
  /** requestTimeoutMs bounds every call but the events stream; default 30 s. */
  requestTimeoutMs?: number;
}

/** dockerConnection turns engine options into dockerode's, as the docker CLI resolves them. */
export function dockerConnection(opts: EngineOptions = {}): ConnectionOptions & { describe: string } {
  const env = opts.env ?? process.env;
  const endpoint = resolveEndpoint({ host: opts.host, context: opts.context, env });
  return { ...connectionTo(endpoint, opts, env), describe: describeEndpoint(endpoint) };
}

// What logs and errors call the engine: its address, and the context it came from when one was used.
function describeEndpoint(endpoint: EngineEndpoint): string {
  return endpoint.context === 'default' ? endpoint.host : `${endpoint.host} (context ${endpoint.context})`;
}

/** ConnectionOptions are dockerode's options, with the HTTP agent the modem also takes (ssh, TLS without verification). */
export type ConnectionOptions = Docker.DockerOptions & { agent?: HttpAgent };

function connectionTo(endpoint: EngineEndpoint, opts: EngineOptions, env: NodeJS.ProcessEnv): ConnectionOptions {
  const { host } = endpoint;
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('ssh://')) {
    let agent: SshEngineAgent;
    try {
      agent = new SshEngineAgent(parseSshUrl(host), { ...opts.ssh, env });
    } catch (err) {
      throw new EngineError('unreachable', (err as Error).message, undefined, { cause: err });
    }
    // The HTTP host is a placeholder, as the CLI's http://docker.example.com: the agent makes every
    // connection, over SSH.
    return { protocol: 'http', host: 'docker', port: 80, agent };
  }
  const m = /^(tcp|https?):\/\/([^:/]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (!m) throw new EngineError('unreachable', `cannot use engine address ${host}: expected unix:///path, tcp://host:port or ssh://[user@]host[:port]`, undefined);
  const tls = endpoint.tls;
  // No port is 2375, TLS or not, as the CLI's ParseTCPAddr with its default tcp://localhost:2375.
  const base = { host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3] ?? 2375) };
  if (!tls) return { ...base, protocol: 'http' };
  const material = { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) };
  // The modem passes only ca/cert/key on; a context's SkipTLSVerify needs an agent of its own.
  if (endpoint.skipTLSVerify) return { ...base, protocol: 'https', ...material, agent: new HttpsAgent({ ...material, rejectUnauthorized: false }) };
  return { ...base, protocol: 'https', ...material };
}

// The variables docker-modem reads on its own whenever a client is made (lib/modem.js, defaultOpts), merged
// under the options it is given: DOCKER_HOST would win over a unix socket, over --context or --host (and
// reach an ssh:// engine through the modem's own ssh, without warden's host key check), DOCKER_CERT_PATH
// would be read, DOCKER_CLIENT_TIMEOUT would cut the events stream. warden has resolved the engine from
// them already (./context.ts): the modem must see none of them.
const MODEM_ENV = ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_CLIENT_TIMEOUT', 'DOCKER_PATH_PREFIX'] as const;

/** withoutModemEnv makes a client with the modem's variables unset for the (synchronous) construction. */
export function withoutModemEnv<T>(make: () => T): T {
  const saved = MODEM_ENV.map((name) => [name, process.env[name]] as const);
  for (const [name] of saved) delete process.env[name];
  try {
    return make();
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}
