// The Docker port implemented with dockerode: the only file that imports it. It finds the engine as the
// docker CLI does, parses only the fields warden uses, and turns every failure into an EngineError.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { EngineError, classifyEngineError } from './errors.js';
import type {
  DockerPort, EngineEvent, EngineInfo, NodeSpec, ServiceMode, ServiceSpec, StreamItem, SwarmNode, SwarmService,
  SwarmTask, TaskFilter, TaskState,
} from './port.js';

/** EngineOptions say where the engine is; absent fields come from the environment as for the docker CLI. */
export interface EngineOptions {
  /** host is unix:///path, tcp://host:port or npipe-less equivalents; default DOCKER_HOST, then the local socket. */
  host?: string;
  /** env defaults to process.env (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). */
  env?: NodeJS.ProcessEnv;
  /** requestTimeoutMs bounds every call but the events stream; default 30 s. */
  requestTimeoutMs?: number;
}

/** DEFAULT_SOCKET is where the engine listens when nothing else is said. */
export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** dockerConnection turns engine options into dockerode's, as the docker CLI resolves them. */
export function dockerConnection(opts: EngineOptions = {}): Docker.DockerOptions & { describe: string } {
  const env = opts.env ?? process.env;
  const host = opts.host || env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length), describe: host };
  if (host.startsWith('/')) return { socketPath: host, describe: `unix://${host}` };
  const m = /^(tcp|https?):\/\/([^:/]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (!m) throw new EngineError('unreachable', `cannot use engine address ${host}: expected unix:///path or tcp://host:port`, undefined);
  // As the docker CLI reads it: any non-empty value turns TLS on, "0" and "false" included.
  const tls = Boolean(env.DOCKER_TLS_VERIFY);
  const base = { host: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3] ?? (tls ? 2376 : 2375)) };
  if (!tls) return { ...base, protocol: 'http', describe: host };
  const certPath = env.DOCKER_CERT_PATH || join(homedir(), '.docker');
  try {
    return {
      ...base,
      protocol: 'https',
      ca: readFileSync(join(certPath, 'ca.pem')),
      cert: readFileSync(join(certPath, 'cert.pem')),
      key: readFileSync(join(certPath, 'key.pem')),
      describe: host,
    };
  } catch (err) {
    throw new EngineError('unreachable', `DOCKER_TLS_VERIFY is set but the certificates in ${certPath} cannot be read: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** createDockerPort connects to the engine (lazily: nothing is sent until the first call). */
export function createDockerPort(opts: EngineOptions = {}): DockerPort & { readonly describe: string } {
  const { describe, ...conn } = dockerConnection(opts);
  // Two clients: calls get a timeout; the events stream gets none, since the modem's timeout is an idle
  // timeout that would cut a quiet stream.
  const docker = new Docker({ ...conn, timeout: opts.requestTimeoutMs ?? 30_000 });
  const stream = new Docker(conn);
  return new DockerodePort(docker, stream, describe);
}

class DockerodePort implements DockerPort {
  constructor(
    private readonly docker: Docker,
    private readonly stream: Docker,
    readonly describe: string,
  ) {}

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

  async updateService(id: string, version: number, spec: ServiceSpec): Promise<void> {
    await this.call(`update service ${id}`, () => this.docker.getService(id).update({ _query: { version }, _body: spec }));
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
      yield { type: 'disconnected', error };
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toEngineError(what, err);
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

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number | string;
}
