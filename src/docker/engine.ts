// The Docker port implemented with dockerode: the only file that imports it. It finds the engine as the
// docker CLI does (./context.ts; ssh:// through ./ssh.ts), parses only the fields warden uses, and turns
// every failure into an EngineError.
import type { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
// Before dockerode: it puts stand-ins for dockerode's unused transports in the module cache.
import './deferred-modules.js';
import Docker from 'dockerode';
import { resolveEndpoint, type EngineEndpoint } from './context.js';
import { negotiateApiVersion, MIN_API_VERSION } from './engine-versions.js';
import { EngineError, classifyEngineError } from './errors.js';
import type {
  DockerPort, EngineEvent, EngineInfo, EngineVersion, FileObjectSpec, ImageDistribution, NetworkCreateSpec, NodeSpec,
  ServiceMode, ServiceSpec, StackPort, StreamItem, SwarmConfig, SwarmNetwork, SwarmNode, SwarmSecret, SwarmService,
  SwarmTask, TaskFilter, TaskState, VersionPort, WriteOptions,
} from './port.js';
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

/** createDockerPort connects to the engine (lazily: nothing is sent until the first call). */
export function createDockerPort(opts: EngineOptions = {}): DockerPort & VersionPort & StackPort & { readonly describe: string } {
  const { describe, ...conn } = dockerConnection(opts);
  // Two clients: calls get a timeout; the events stream gets none, since the modem's timeout is an idle
  // timeout that would cut a quiet stream.
  const docker = withoutModemEnv(() => new Docker({ ...conn, timeout: opts.requestTimeoutMs ?? 30_000 }));
  const stream = withoutModemEnv(() => new Docker(conn));
  return new DockerodePort(docker, stream, describe);
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

class DockerodePort implements DockerPort, VersionPort, StackPort {
  // The API version both clients speak, asked of the engine before the first call and again after the
  // engine was unreachable (it may have been upgraded meanwhile).
  private negotiated: Promise<void> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly stream: Docker,
    readonly describe: string,
  ) {}

  /**
   * negotiate sets both clients to the API version warden speaks with this engine (engine-versions.ts), as
   * the docker CLI negotiates: versioned paths, so that a newer engine answers in the shape warden was
   * tested with and an older one is not asked for what it cannot do.
   */
  private negotiate(): Promise<void> {
    this.negotiated ??= (async () => {
      let server: string | undefined;
      // Asked unversioned, as the CLI's ping: a version negotiated with an engine since downgraded (or
      // another one behind the same address) would be refused as too new.
      (this.docker.modem as { version?: string }).version = undefined;
      (this.stream.modem as { version?: string }).version = undefined;
      try {
        server = ((await this.docker.version()) as { ApiVersion?: string }).ApiVersion;
      } catch (err) {
        // The first call to an engine: where a wrong address, a refused key or a bad certificate shows,
        // so the message names the engine (and its context).
        throw toEngineError(`ask the engine at ${this.describe} its API version`, err);
      }
      const version = negotiateApiVersion(server ?? '');
      if (!version) {
        throw new EngineError('refused', `the engine at ${this.describe} speaks Engine API ${server ?? '(unknown)'}; warden needs ${MIN_API_VERSION} (Docker 20.10) or newer`, undefined);
      }
      (this.docker.modem as { version?: string }).version = `v${version}`;
      (this.stream.modem as { version?: string }).version = `v${version}`;
    })();
    this.negotiated.catch(() => {
      this.negotiated = undefined;
    });
    return this.negotiated;
  }

  async info(): Promise<EngineInfo> {
    const raw = (await this.call('info', () => this.docker.info())) as RawInfo;
    return {
      nodeId: raw.Swarm?.NodeID ?? '',
      nodeAddr: raw.Swarm?.NodeAddr ?? '',
      localNodeState: raw.Swarm?.LocalNodeState ?? 'inactive',
      controlAvailable: raw.Swarm?.ControlAvailable ?? false,
      hostname: raw.Name ?? '',
      serverVersion: raw.ServerVersion ?? '',
      managers: raw.Swarm?.Managers ?? 0,
      nodes: raw.Swarm?.Nodes ?? 0,
    };
  }

  async version(): Promise<EngineVersion> {
    // Not through call(): this is the question negotiation itself asks, and it must be answered by an
    // engine too old for warden too, so that `warden version` can say which version it is.
    try {
      return toEngineVersion((await this.docker.version()) as unknown as RawVersion);
    } catch (err) {
      throw toEngineError('version', err);
    }
  }

  async listNodes(): Promise<SwarmNode[]> {
    const raw = (await this.call('list nodes', () => this.docker.listNodes())) as unknown as RawNode[];
    return raw.map(toNode);
  }

  async inspectNode(id: string): Promise<SwarmNode> {
    return toNode((await this.call(`inspect node ${id}`, () => this.docker.getNode(id).inspect())) as unknown as RawNode);
  }

  async updateNode(id: string, version: number, spec: NodeSpec): Promise<void> {
    await this.call(`update node ${id}`, () => this.docker.getNode(id).update({ _query: { version }, _body: spec }));
  }

  async listServices(opts: { status?: boolean } = {}): Promise<SwarmService[]> {
    const status = opts.status ?? true;
    const raw = (await this.call('list services', () => this.docker.listServices({ status } as Docker.ServiceListOptions))) as unknown as RawService[];
    return raw.map(toService);
  }

  async inspectService(id: string): Promise<SwarmService> {
    return toService((await this.call(`inspect service ${id}`, () => this.docker.getService(id).inspect())) as unknown as RawService);
  }

  async updateService(id: string, version: number, spec: ServiceSpec, opts: WriteOptions = {}): Promise<void> {
    const auth = opts.registryAuth !== undefined ? { base64: opts.registryAuth } : undefined;
    await this.call(`update service ${id}`, () =>
      auth
        ? (this.docker.getService(id).update(auth as never, { _query: { version }, _body: spec } as never) as unknown as Promise<unknown>)
        : this.docker.getService(id).update({ _query: { version }, _body: spec }),
    );
  }

  async createService(spec: ServiceSpec, opts: WriteOptions = {}): Promise<string> {
    const auth = opts.registryAuth !== undefined ? { base64: opts.registryAuth } : undefined;
    const created = await this.call(`create service ${spec.Name}`, () =>
      // Always two arguments: with one, dockerode also sends the spec as the X-Registry-Auth header.
      this.docker.createService(auth as never, spec as never) as unknown as Promise<unknown>,
    );
    return (created as { id: string }).id;
  }

  async removeService(id: string): Promise<void> {
    await this.call(`remove service ${id}`, () => this.docker.getService(id).remove());
  }

  async listNetworks(): Promise<SwarmNetwork[]> {
    const raw = (await this.call('list networks', () => this.docker.listNetworks())) as unknown as RawNetwork[];
    return raw.map(toNetwork);
  }

  async inspectNetwork(id: string): Promise<SwarmNetwork> {
    const raw = (await this.call(`inspect network ${id}`, () => this.docker.getNetwork(id).inspect())) as unknown as RawNetwork;
    return toNetwork(raw);
  }

  async createNetwork(spec: NetworkCreateSpec): Promise<string> {
    const created = await this.call(`create network ${spec.Name}`, () => this.docker.createNetwork({ ...spec, CheckDuplicate: true } as Docker.NetworkCreateOptions));
    return created.id;
  }

  async removeNetwork(id: string): Promise<void> {
    await this.call(`remove network ${id}`, () => this.docker.getNetwork(id).remove());
  }

  async listConfigs(): Promise<SwarmConfig[]> {
    const raw = (await this.call('list configs', () => this.docker.listConfigs())) as unknown as RawFileObject[];
    return raw.map((c) => {
      const out: SwarmConfig = { id: c.ID, version: c.Version?.Index ?? 0, name: c.Spec?.Name ?? '', labels: c.Spec?.Labels ?? {}, data: c.Spec?.Data ?? '' };
      if (c.Spec?.Templating?.Name) out.templating = c.Spec.Templating.Name;
      return out;
    });
  }

  async createConfig(spec: FileObjectSpec): Promise<string> {
    const created = await this.call(`create config ${spec.Name}`, () => this.docker.createConfig(spec as never));
    return (created as { id: string }).id;
  }

  async removeConfig(id: string): Promise<void> {
    await this.call(`remove config ${id}`, () => this.docker.getConfig(id).remove());
  }

  async listSecrets(): Promise<SwarmSecret[]> {
    const raw = (await this.call('list secrets', () => this.docker.listSecrets())) as unknown as RawFileObject[];
    return raw.map((c) => {
      const out: SwarmSecret = { id: c.ID, version: c.Version?.Index ?? 0, name: c.Spec?.Name ?? '', labels: c.Spec?.Labels ?? {} };
      if (c.Spec?.Driver?.Name) out.driver = c.Spec.Driver.Name;
      if (c.Spec?.Templating?.Name) out.templating = c.Spec.Templating.Name;
      return out;
    });
  }

  async createSecret(spec: FileObjectSpec): Promise<string> {
    const created = await this.call(`create secret ${spec.Name}`, () => this.docker.createSecret(spec as never));
    return (created as { id: string }).id;
  }

  async updateSecretLabels(id: string, version: number, name: string, labels: Record<string, string>): Promise<void> {
    // POST /secrets/{id}/update: swarmkit refuses another name or any Data; Labels replace the old ones.
    await this.call(`update secret ${id}`, () => this.docker.getSecret(id).update({ _query: { version }, _body: { Name: name, Labels: labels } }));
  }

  async removeSecret(id: string): Promise<void> {
    await this.call(`remove secret ${id}`, () => this.docker.getSecret(id).remove());
  }

  async inspectDistribution(image: string, registryAuth?: string): Promise<ImageDistribution> {
    const opts = registryAuth !== undefined ? { authconfig: { base64: registryAuth } } : {};
    const raw = (await this.call(`inspect distribution ${image}`, () => this.docker.getImage(image).distribution(opts as never) as unknown as Promise<RawDistribution>));
    return {
      digest: raw.Descriptor?.digest ?? '',
      platforms: (raw.Platforms ?? []).map((p) => ({
        os: p.os ?? '',
        architecture: p.architecture ?? '',
        ...(p.variant ? { variant: p.variant } : {}),
      })),
    };
  }

  async listTasks(filter: TaskFilter = {}): Promise<SwarmTask[]> {
    const filters: Record<string, string[]> = {};
    if (filter.serviceId) filters.service = [filter.serviceId];
    if (filter.desiredState) filters['desired-state'] = [filter.desiredState];
    const raw = (await this.call('list tasks', () => this.docker.listTasks({ filters }))) as unknown as RawTask[];
    return raw.map(toTask);
  }

  async *events(signal: AbortSignal): AsyncIterable<StreamItem> {
    let backoffMs = 100;
    while (!signal.aborted) {
      let body: NodeJS.ReadableStream;
      try {
        await this.negotiate();
        body = (await this.stream.getEvents({
          filters: { type: ['service', 'node'] },
          abortSignal: signal,
        } as Docker.GetEventsOptions)) as NodeJS.ReadableStream;
      } catch (err) {
        if (signal.aborted) return;
        yield { type: 'disconnected', error: toEngineError('follow events', err) };
        await sleep(backoffMs, undefined, { signal }).catch(() => undefined);
        backoffMs = Math.min(backoffMs * 2, 5_000);
        continue;
      }
      backoffMs = 100;
      yield { type: 'connected' };
      let error: Error = new EngineError('unreachable', 'the events stream ended', undefined);
      try {
        for await (const event of parseEventLines(body)) yield event;
      } catch (err) {
        error = toEngineError('follow events', err);
      } finally {
        (body as unknown as { destroy?: () => void }).destroy?.();
      }
      if (signal.aborted) return;
      this.negotiated = undefined; // the engine may come back as another version
      yield { type: 'disconnected', error };
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.negotiate();
    try {
      return await fn();
    } catch (err) {
      const error = toEngineError(what, err);
      if (error.code === 'unreachable') this.negotiated = undefined;
      throw error;
    }
  }
}

/** parseEventLines splits the events body into events: a chunk may hold several lines or part of one. */
export async function* parseEventLines(body: AsyncIterable<Buffer | string> | NodeJS.ReadableStream): AsyncIterable<EngineEvent> {
  let buffered = '';
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    buffered += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const event = toEvent(line);
      if (event) yield event;
    }
  }
}

function toEvent(line: string): EngineEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined; // A line we cannot read says nothing a re-list will not say.
  }
  if (raw.Type !== 'service' && raw.Type !== 'node') return undefined;
  return {
    type: raw.Type,
    action: raw.Action ?? '',
    id: raw.Actor?.ID ?? '',
    attributes: raw.Actor?.Attributes ?? {},
    timeMs: Math.floor(Number(raw.timeNano ?? 0) / 1e6),
  };
}

/** toEngineError wraps anything dockerode throws into an EngineError with a stable code. */
export function toEngineError(what: string, err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { statusCode?: number; json?: unknown; reason?: string; message?: string; code?: string };
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let message: string;
  if (e.json && typeof e.json === 'object' && typeof (e.json as { message?: unknown }).message === 'string') {
    message = (e.json as { message: string }).message;
  } else if (typeof e.json === 'string' && e.json.trim()) {
    message = e.json.trim();
  } else {
    message = e.message ?? String(err);
  }
  if (status === undefined && e.code) message = `${e.code}: ${message}`;
  const code = classifyEngineError(status, message);
  return new EngineError(code, `${what}: ${message.trim()}`, status, { cause: err });
}

interface RawInfo {
  Name?: string;
  ServerVersion?: string;
  Swarm?: { NodeID?: string; NodeAddr?: string; LocalNodeState?: string; ControlAvailable?: boolean; Managers?: number; Nodes?: number };
}

/** RawVersion is `GET /version` as the engine sends it (only the fields `warden version` shows). */
export interface RawVersion {
  Platform?: { Name?: string };
  Components?: Array<{ Name?: string; Version?: string; Details?: Record<string, unknown> }>;
  Version?: string;
  ApiVersion?: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os?: string;
  Arch?: string;
  KernelVersion?: string;
  BuildTime?: string;
  Experimental?: boolean | string;
}

/** toEngineVersion reads `GET /version` leniently: a field an older engine lacks is "" (components: none). */
export function toEngineVersion(raw: RawVersion): EngineVersion {
  const text = (v: unknown): string => (typeof v === 'string' ? v : '');
  return {
    platform: text(raw.Platform?.Name),
    version: text(raw.Version),
    apiVersion: text(raw.ApiVersion),
    minApiVersion: text(raw.MinAPIVersion),
    gitCommit: text(raw.GitCommit),
    goVersion: text(raw.GoVersion),
    os: text(raw.Os),
    arch: text(raw.Arch),
    kernelVersion: text(raw.KernelVersion),
    buildTime: text(raw.BuildTime),
    // Engines before API 1.40 sent "true"/"false" as a string.
    experimental: raw.Experimental === true || raw.Experimental === 'true',
    components: (Array.isArray(raw.Components) ? raw.Components : []).map((c) => ({
      name: text(c.Name),
      version: text(c.Version),
      details: Object.fromEntries(Object.entries(c.Details && typeof c.Details === 'object' ? c.Details : {}).filter((e): e is [string, string] => typeof e[1] === 'string')),
    })),
  };
}

/** RawNode is the part of the engine's Node object that toNode reads. */
export interface RawNode {
  ID: string;
  Version?: { Index?: number };
  UpdatedAt?: string;
  Spec?: NodeSpec;
  Description?: { Hostname?: string; Platform?: { OS?: string; Architecture?: string }; Engine?: { EngineVersion?: string; Labels?: Record<string, string> } };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string };
}

/** toNode reads one node of `GET /nodes` leniently: a field the engine left out gets its default. */
export function toNode(raw: RawNode): SwarmNode {
  const spec: NodeSpec = { ...(raw.Spec ?? {}), Role: raw.Spec?.Role ?? 'worker', Availability: raw.Spec?.Availability ?? 'active' };
  const node: SwarmNode = {
    id: raw.ID,
    version: raw.Version?.Index ?? 0,
    hostname: raw.Description?.Hostname ?? '',
    role: spec.Role,
    availability: spec.Availability,
    state: (raw.Status?.State ?? 'unknown') as SwarmNode['state'],
    addr: raw.Status?.Addr ?? '',
    labels: { ...(spec.Labels ?? {}) },
    engineLabels: raw.Description?.Engine?.Labels ?? {},
    platform: { os: raw.Description?.Platform?.OS ?? '', arch: raw.Description?.Platform?.Architecture ?? '' },
    ...(raw.Description?.Engine?.EngineVersion ? { engineVersion: raw.Description.Engine.EngineVersion } : {}),
    ...(raw.UpdatedAt ? { updatedAt: raw.UpdatedAt } : {}),
    spec,
  };
  if (raw.ManagerStatus) {
    node.manager = {
      leader: raw.ManagerStatus.Leader ?? false,
      reachability: (raw.ManagerStatus.Reachability ?? 'unknown') as NonNullable<SwarmNode['manager']>['reachability'],
      addr: raw.ManagerStatus.Addr ?? '',
    };
  }
  return node;
}

interface RawService {
  ID: string;
  Version?: { Index?: number };
  UpdatedAt?: string;
  Spec: ServiceSpec;
  ServiceStatus?: { RunningTasks?: number; DesiredTasks?: number };
  UpdateStatus?: { State?: string; StartedAt?: string; CompletedAt?: string; Message?: string };
}

function serviceMode(spec: ServiceSpec): ServiceMode {
  const mode = spec.Mode ?? {};
  if (mode.Global) return 'global';
  if (mode.ReplicatedJob) return 'replicated-job';
  if (mode.GlobalJob) return 'global-job';
  return 'replicated';
}

function toService(raw: RawService): SwarmService {
  const spec = raw.Spec;
  const mode = serviceMode(spec);
  const placement = spec.TaskTemplate?.Placement ?? {};
  const service: SwarmService = {
    id: raw.ID,
    version: raw.Version?.Index ?? 0,
    name: spec.Name,
    labels: spec.Labels ?? {},
    mode,
    // An absent Replicated.Replicas means 1, as the engine treats it.
    replicas: mode === 'replicated' ? (spec.Mode?.Replicated?.Replicas ?? 1) : undefined,
    image: spec.TaskTemplate?.ContainerSpec?.Image ?? '',
    constraints: placement.Constraints ?? [],
    preferences: (placement.Preferences ?? []).flatMap((p) => (p.Spread ? [p.Spread.SpreadDescriptor] : [])),
    maxReplicasPerNode: placement.MaxReplicas ?? 0,
    forceUpdate: spec.TaskTemplate?.ForceUpdate ?? 0,
    updatedAt: raw.UpdatedAt ?? '',
    spec,
  };
  if (raw.UpdateStatus?.State) {
    service.updateStatus = { state: raw.UpdateStatus.State, startedAt: raw.UpdateStatus.StartedAt ?? '', completedAt: raw.UpdateStatus.CompletedAt ?? '', message: raw.UpdateStatus.Message ?? '' };
  }
  if (raw.ServiceStatus) {
    service.status = { runningTasks: raw.ServiceStatus.RunningTasks ?? 0, desiredTasks: raw.ServiceStatus.DesiredTasks ?? 0 };
  }
  return service;
}

interface RawTask {
  ID: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  DesiredState?: string;
  Status?: { State?: string; Message?: string; Err?: string; Timestamp?: string };
  Spec?: { ContainerSpec?: { Image?: string }; ForceUpdate?: number };
}

function toTask(raw: RawTask): SwarmTask {
  return {
    id: raw.ID,
    serviceId: raw.ServiceID ?? '',
    nodeId: raw.NodeID ?? '',
    slot: raw.Slot,
    desiredState: (raw.DesiredState ?? 'new') as TaskState,
    state: (raw.Status?.State ?? 'new') as TaskState,
    message: raw.Status?.Message ?? '',
    err: raw.Status?.Err ?? '',
    timestamp: raw.Status?.Timestamp ?? '',
    image: raw.Spec?.ContainerSpec?.Image ?? '',
    forceUpdate: raw.Spec?.ForceUpdate ?? 0,
  };
}

interface RawNetwork {
  Id?: string;
  ID?: string;
  Name?: string;
  Scope?: string;
  Driver?: string;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  Internal?: boolean;
  Attachable?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string }> | null };
}

function toNetwork(raw: RawNetwork): SwarmNetwork {
  return {
    id: raw.Id ?? raw.ID ?? '',
    name: raw.Name ?? '',
    scope: raw.Scope ?? '',
    driver: raw.Driver ?? '',
    labels: raw.Labels ?? {},
    options: raw.Options ?? {},
    internal: raw.Internal ?? false,
    attachable: raw.Attachable ?? false,
    ipam: { driver: raw.IPAM?.Driver ?? '', config: (raw.IPAM?.Config ?? []).map((c) => ({ subnet: c.Subnet ?? '' })) },
  };
}

interface RawFileObject {
  ID: string;
  Version?: { Index?: number };
  Spec?: { Name?: string; Labels?: Record<string, string>; Data?: string; Driver?: { Name?: string }; Templating?: { Name?: string } };
}

interface RawDistribution {
  Descriptor?: { digest?: string };
  Platforms?: Array<{ os?: string; architecture?: string; variant?: string }>;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number | string;
}
