// The Docker port implemented with dockerode: the only file that imports it. It finds the engine as the
// docker CLI does (./context.ts; ssh:// through ./ssh.ts), parses only the fields warden uses, and turns
// every failure into an EngineError.
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
// Before dockerode: it puts stand-ins for dockerode's unused transports in the module cache.
import './deferred-modules.js';
import Docker from 'dockerode';
import { dockerConnection, withoutModemEnv, type EngineOptions } from './connection.js';
import { negotiateApiVersion, MIN_API_VERSION } from './engine-versions.js';
import {
  parseEventLines, toEngineError, toEngineVersion, toNetwork, toNode, toService, toTask,
  type RawDistribution, type RawFileObject, type RawInfo, type RawNetwork, type RawNode, type RawService, type RawTask, type RawVersion,
} from './engine-parse.js';
import { EngineError } from './errors.js';
import type {
  DockerPort, EngineInfo, EngineVersion, FileObjectSpec, ImageDistribution, NetworkCreateSpec, NodeSpec,
  ServiceSpec, StackPort, StreamItem, SwarmConfig, SwarmNetwork, SwarmNode, SwarmSecret, SwarmService,
  SwarmTask, TaskFilter, VersionPort, WriteOptions,
} from './port.js';

export { dockerConnection, withoutModemEnv, type ConnectionOptions, type EngineOptions } from './connection.js';
export { parseEventLines, toEngineError, toEngineVersion, toNode, type RawNode, type RawVersion } from './engine-parse.js';

/** createDockerPort connects to the engine (lazily: nothing is sent until the first call). */
export function createDockerPort(opts: EngineOptions = {}): DockerPort & VersionPort & StackPort & { readonly describe: string } {
  const { describe, ...conn } = dockerConnection(opts);
  // Two clients: calls get a timeout; the events stream gets none, since the modem's timeout is an idle
  // timeout that would cut a quiet stream.
  const docker = withoutModemEnv(() => new Docker({ ...conn, timeout: opts.requestTimeoutMs ?? 30_000 }));
  const stream = withoutModemEnv(() => new Docker(conn));
  return new DockerodePort(docker, stream, describe);
}


class DockerodePort implements DockerPort, VersionPort, StackPort {
  // The API version both clients speak, asked of the engine before the first call and again after the
  // engine was unreachable (it may have been upgraded meanwhile).
  private negotiated: Promise<void> | undefined;
  private spoken = '';

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
      this.spoken = version;
    })();
    this.negotiated.catch(() => {
      this.negotiated = undefined;
    });
    return this.negotiated;
  }

  async apiVersion(): Promise<string> {
    await this.negotiate();
    return this.spoken;
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
      keepAlive(body);
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

/** EVENTS_KEEPALIVE_MS is the quiet time after which the kernel probes the events stream's TCP connection. */
export const EVENTS_KEEPALIVE_MS = 15_000;

// A TCP connection that only waits (the events stream between changes) is the one a NAT or a firewall
// forgets, and one whose peer vanished (a node powered off) would wait forever: TCP keepalive probes it
// after 15 s of quiet, as Go's default dialer does for the docker CLI's tcp:// connections. A unix socket has nothing to probe and an ssh:// channel
// lives on an SSH connection with keepalives of its own, so only a TCP or TLS socket is set.
function keepAlive(body: NodeJS.ReadableStream): void {
  const socket = (body as { socket?: unknown }).socket;
  if (socket instanceof Socket && socket.remotePort !== undefined) socket.setKeepAlive(true, EVENTS_KEEPALIVE_MS);
}
