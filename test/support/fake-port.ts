// A small recording fake of the Docker port for controller unit tests (style guide tier b). It keeps
// services and nodes with versions, bumps a version on every write, answers a stale version with the
// engine's conflict error, and records every call. Engine behaviour itself is tested on the lab.
import { EngineError } from '../../src/docker/errors.js';
import type {
  DockerPort, EngineInfo, FileObjectSpec, ImageDistribution, NetworkCreateSpec, NodeSpec, ServiceSpec, StackPort, StreamItem,
  SwarmConfig, SwarmNetwork, SwarmNode, SwarmSecret, SwarmService, SwarmTask, TaskFilter, WriteOptions,
} from '../../src/docker/port.js';

/** FakeService builds a replicated service as the engine would list it. */
export function fakeService(name: string, replicas: number, over: Partial<SwarmService> = {}): SwarmService {
  const spec: ServiceSpec = {
    Name: name,
    Labels: over.labels ?? {},
    TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, Placement: {}, ForceUpdate: 0 },
    Mode: { Replicated: { Replicas: replicas } },
  };
  return {
    id: `id-${name}`, version: 10, name, labels: {}, mode: 'replicated', replicas, image: 'busybox:lab',
    constraints: [], preferences: [], maxReplicasPerNode: 0, forceUpdate: 0, updatedAt: '', spec, ...over,
  };
}

/** fakeNode builds a node; the first manager given `leader` is the Raft leader. */
export function fakeNode(id: string, role: 'manager' | 'worker', leader = false): SwarmNode {
  const spec: NodeSpec = { Role: role, Availability: 'active', Labels: {} };
  return {
    id, version: 5, hostname: id, role, availability: 'active', state: 'ready', addr: '10.0.0.1', labels: {},
    engineLabels: {}, platform: { os: 'linux', arch: 'x86_64' }, spec,
    ...(role === 'manager' ? { manager: { leader, reachability: 'reachable' as const, addr: '10.0.0.1:2377' } } : {}),
  };
}

/** FakePort is the fake engine; `calls` lists every call in order. */
export class FakePort implements DockerPort, StackPort {
  networks: SwarmNetwork[] = [];
  configs: SwarmConfig[] = [];
  secrets: SwarmSecret[] = [];
  /** registryAuths records the X-Registry-Auth sent with each service create or update, by service name. */
  registryAuths: Array<[string, string | undefined]> = [];
  /** digests answers inspectDistribution by image; an image not listed is not in any registry. */
  digests = new Map<string, ImageDistribution>();
  private nextId = 1;
  calls: string[] = [];
  /** conflicts makes the next N service updates fail with "update out of sequence" (another writer). */
  conflicts = 0;
  /** refuse makes every service update fail with this error. */
  refuse: EngineError | undefined;
  private streamItems: StreamItem[] = [];
  private streamWake: (() => void) | undefined;

  constructor(
    public services: SwarmService[],
    public nodes: SwarmNode[],
    public selfNodeId: string,
  ) {}

  /** writes counts the calls that would change the cluster. */
  get writes(): number {
    return this.calls.filter((c) => /^(update|create|remove)/.test(c)).length;
  }

  async info(): Promise<EngineInfo> {
    this.calls.push('info');
    return {
      nodeId: this.selfNodeId, nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: this.selfNodeId,
      serverVersion: '20.10', managers: 1, nodes: this.nodes.length,
    };
  }

  async listNodes(): Promise<SwarmNode[]> {
    this.calls.push('listNodes');
    return structuredClone(this.nodes);
  }

  async inspectNode(id: string): Promise<SwarmNode> {
    this.calls.push(`inspectNode ${id}`);
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new EngineError('not-found', `node ${id} not found`, 404);
    return structuredClone(n);
  }

  async updateNode(id: string, version: number, spec: NodeSpec): Promise<void> {
    this.calls.push(`updateNode ${id}`);
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new EngineError('not-found', `node ${id} not found`, 404);
    if (n.version !== version) throw new EngineError('version-conflict', 'update out of sequence', 500);
    Object.assign(n, { version: n.version + 1, spec, role: spec.Role, availability: spec.Availability, labels: spec.Labels ?? {} });
  }

  async listServices(opts: { status?: boolean } = {}): Promise<SwarmService[]> {
    this.calls.push(opts.status === false ? 'listServices' : 'listServices status');
    const listed = structuredClone(this.services);
    // As the engine does: no task counts unless asked for.
    if (opts.status === false) for (const s of listed) delete s.status;
    return listed;
  }

  async inspectService(id: string): Promise<SwarmService> {
    this.calls.push(`inspectService ${id}`);
    const s = this.services.find((x) => x.id === id || x.name === id);
    if (!s) throw new EngineError('not-found', `service ${id} not found`, 404);
    return structuredClone(s);
  }

  async updateService(id: string, version: number, spec: ServiceSpec, opts: WriteOptions = {}): Promise<void> {
    this.calls.push(`updateService ${id}`);
    this.registryAuths.push([spec.Name, opts.registryAuth]);
    const s = this.services.find((x) => x.id === id);
    if (!s) throw new EngineError('not-found', `service ${id} not found`, 404);
    if (this.refuse) throw this.refuse;
    if (this.conflicts > 0) {
      this.conflicts -= 1;
      s.version += 1; // someone else wrote first
      throw new EngineError('version-conflict', 'rpc error: code = Unknown desc = update out of sequence', 500);
    }
    if (s.version !== version) throw new EngineError('version-conflict', 'rpc error: code = Unknown desc = update out of sequence', 500);
    Object.assign(s, {
      version: s.version + 1,
      spec: this.stored(spec),
      labels: spec.Labels ?? {},
      image: spec.TaskTemplate?.ContainerSpec?.Image ?? '',
      replicas: spec.Mode?.Replicated?.Replicas,
      constraints: spec.TaskTemplate?.Placement?.Constraints ?? [],
      forceUpdate: spec.TaskTemplate?.ForceUpdate ?? 0,
    });
  }

  async createService(spec: ServiceSpec, opts: WriteOptions = {}): Promise<string> {
    this.calls.push(`createService ${spec.Name}`);
    if (this.services.some((s) => s.name === spec.Name)) throw new EngineError('refused', `service ${spec.Name} already exists`, 409);
    this.registryAuths.push([spec.Name, opts.registryAuth]);
    const id = `id-${spec.Name}`;
    const replicas = spec.Mode?.Replicated ? (spec.Mode.Replicated.Replicas ?? 1) : undefined;
    this.services.push({
      ...fakeService(spec.Name, replicas ?? 0), id, version: 1, labels: spec.Labels ?? {}, replicas,
      mode: spec.Mode?.Global ? 'global' : 'replicated', image: spec.TaskTemplate?.ContainerSpec?.Image ?? '', spec: this.stored(spec),
    });
    return id;
  }

  // As the engine does: a spec is kept as sent, but networks named by name are kept by ID.
  private stored(spec: ServiceSpec): ServiceSpec {
    const out = structuredClone(spec);
    for (const n of (out.TaskTemplate?.Networks as Array<{ Target: string }> | undefined) ?? []) {
      n.Target = this.networks.find((x) => x.name === n.Target || x.id === n.Target)?.id ?? n.Target;
    }
    return out;
  }

  async removeService(id: string): Promise<void> {
    this.calls.push(`removeService ${id}`);
    const i = this.services.findIndex((s) => s.id === id);
    if (i < 0) throw new EngineError('not-found', `service ${id} not found`, 404);
    this.services.splice(i, 1);
  }

  async listNetworks(): Promise<SwarmNetwork[]> {
    this.calls.push('listNetworks');
    return structuredClone(this.networks);
  }

  async inspectNetwork(id: string): Promise<SwarmNetwork> {
    this.calls.push(`inspectNetwork ${id}`);
    const found = this.networks.find((n) => n.id === id);
    if (!found) throw new EngineError('not-found', `network ${id} not found`, 404);
    return structuredClone(found);
  }

  async createNetwork(spec: NetworkCreateSpec): Promise<string> {
    this.calls.push(`createNetwork ${spec.Name}`);
    const id = `net-${this.nextId++}`;
    this.networks.push({
      id, name: spec.Name, scope: 'swarm', driver: spec.Driver, labels: spec.Labels, options: spec.Options ?? {},
      internal: spec.Internal ?? false, attachable: spec.Attachable ?? false, ipam: { driver: 'default', config: [] },
    });
    return id;
  }

  async removeNetwork(id: string): Promise<void> {
    this.calls.push(`removeNetwork ${id}`);
    this.networks = this.networks.filter((n) => n.id !== id);
  }

  async listConfigs(): Promise<SwarmConfig[]> {
    this.calls.push('listConfigs');
    return structuredClone(this.configs);
  }

  async createConfig(spec: FileObjectSpec): Promise<string> {
    this.calls.push(`createConfig ${spec.Name}`);
    const id = `cfg-${this.nextId++}`;
    this.configs.push({ id, version: 1, name: spec.Name, labels: spec.Labels, data: spec.Data, ...(spec.Templating ? { templating: spec.Templating.Name } : {}) });
    return id;
  }

  async removeConfig(id: string): Promise<void> {
    this.calls.push(`removeConfig ${id}`);
    this.configs = this.configs.filter((c) => c.id !== id);
  }

  async listSecrets(): Promise<SwarmSecret[]> {
    this.calls.push('listSecrets');
    return structuredClone(this.secrets);
  }

  async createSecret(spec: FileObjectSpec): Promise<string> {
    this.calls.push(`createSecret ${spec.Name}`);
    const id = `sec-${this.nextId++}`;
    this.secrets.push({ id, version: 1, name: spec.Name, labels: spec.Labels });
    return id;
  }

  async updateSecretLabels(id: string, version: number, name: string, labels: Record<string, string>): Promise<void> {
    this.calls.push(`updateSecretLabels ${name}`);
    const s = this.secrets.find((x) => x.id === id);
    if (!s) throw new EngineError('not-found', `secret ${id} not found`, 404);
    if (s.name !== name) throw new EngineError('unknown', 'rpc error: code = InvalidArgument desc = only updates to Labels are allowed', 400);
    if (s.version !== version) throw new EngineError('version-conflict', 'rpc error: code = Unknown desc = update out of sequence', 500);
    s.labels = { ...labels };
    s.version += 1;
  }

  async removeSecret(id: string): Promise<void> {
    this.calls.push(`removeSecret ${id}`);
    this.secrets = this.secrets.filter((c) => c.id !== id);
  }

  async inspectDistribution(image: string): Promise<ImageDistribution> {
    this.calls.push(`inspectDistribution ${image}`);
    const d = this.digests.get(image);
    if (!d) throw new EngineError('unknown', `inspect distribution ${image}: no such image in any registry`, 500);
    return structuredClone(d);
  }

  async listTasks(filter: TaskFilter = {}): Promise<SwarmTask[]> {
    this.calls.push(`listTasks ${filter.serviceId ? `service=${filter.serviceId}` : filter.desiredState ?? 'all'}`);
    return structuredClone(this.tasks.filter((t) => (!filter.serviceId || t.serviceId === filter.serviceId) && (!filter.desiredState || t.desiredState === filter.desiredState)));
  }

  /** tasks are what listTasks answers, filtered as the engine filters them (default none). */
  tasks: SwarmTask[] = [];

  /** emit delivers stream items to whoever follows events. */
  emit(...items: StreamItem[]): void {
    this.streamItems.push(...items);
    this.streamWake?.();
  }

  async *events(signal: AbortSignal): AsyncIterable<StreamItem> {
    this.calls.push('events');
    const onAbort = (): void => this.streamWake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const item = this.streamItems.shift();
        if (item) {
          yield item;
          continue;
        }
        await new Promise<void>((resolve) => {
          this.streamWake = resolve;
        });
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}
