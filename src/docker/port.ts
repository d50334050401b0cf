// The Docker port: the narrow interface through which warden talks to the engine. Exactly one file
// (./engine.ts) implements it with dockerode; tests may implement it with a recording fake. Types here
// carry only the fields warden reads, plus the raw spec that updates must send back whole.

/** NodeRole is a node's role in the swarm. */
export type NodeRole = 'manager' | 'worker';
/** NodeAvailability is a node's scheduling availability (Spec.Availability). */
export type NodeAvailability = 'active' | 'pause' | 'drain';
/** NodeState is the node's status as the managers see it (Status.State). */
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';
/** Reachability is a Raft member's reachability (ManagerStatus.Reachability). */
export type Reachability = 'unknown' | 'unreachable' | 'reachable';

/** NodeSpec is the engine's NodeSpec; an update replaces it whole, so send back what was read. */
export interface NodeSpec {
  Name?: string;
  Labels?: Record<string, string>;
  Role: NodeRole;
  Availability: NodeAvailability;
  [key: string]: unknown;
}

/** SwarmNode is one node of `GET /nodes`. */
export interface SwarmNode {
  id: string;
  version: number;
  hostname: string;
  role: NodeRole;
  availability: NodeAvailability;
  state: NodeState;
  addr: string;
  labels: Record<string, string>;
  engineLabels: Record<string, string>;
  platform: { os: string; arch: string };
  /**
   * engineVersion is the node's Docker Engine version (Description.Engine.EngineVersion, e.g. "20.10.24+dfsg1");
   * absent when the engine did not report it. What differs by version is decided in ./engine-versions.ts.
   */
  engineVersion?: string;
  /**
   * updatedAt is when the engine last changed the node's object (Meta.UpdatedAt): its spec (labels,
   * availability, role), its status (ready, down) or its description; absent when not reported.
   */
  updatedAt?: string;
  /** manager is present only for Raft members. */
  manager?: { leader: boolean; reachability: Reachability; addr: string };
  spec: NodeSpec;
}

/** ServiceMode is the kind of a service's Mode (its replica count lives on SwarmService). */
export type ServiceMode = 'replicated' | 'global' | 'replicated-job' | 'global-job';

/** ServiceSpec is the engine's ServiceSpec, kept whole so that updates send back every field. */
export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate?: {
    ContainerSpec?: { Image?: string; [key: string]: unknown };
    Placement?: {
      Constraints?: string[];
      Preferences?: Array<{ Spread?: { SpreadDescriptor: string } }>;
      MaxReplicas?: number;
      [key: string]: unknown;
    };
    RestartPolicy?: { Condition?: string; Delay?: number; MaxAttempts?: number; Window?: number };
    ForceUpdate?: number;
    [key: string]: unknown;
  };
  Mode?: {
    Replicated?: { Replicas?: number };
    Global?: Record<string, never>;
    ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number };
    GlobalJob?: Record<string, never>;
  };
  [key: string]: unknown;
}

/** SwarmService is one service of `GET /services` (`status=true` for its task counts). */
export interface SwarmService {
  id: string;
  version: number;
  name: string;
  labels: Record<string, string>;
  mode: ServiceMode;
  /** replicas is the desired count of a replicated service, undefined for other modes. */
  replicas: number | undefined;
  image: string;
  constraints: string[];
  preferences: string[];
  /** maxReplicasPerNode is Placement.MaxReplicas; 0 means no limit. */
  maxReplicasPerNode: number;
  forceUpdate: number;
  /**
   * updateStatus is UpdateStatus, present once the service was updated in a way that replaced tasks:
   * state is updating, paused, completed, rollback_started, rollback_paused or rollback_completed.
   */
  updateStatus?: { state: string; startedAt: string; completedAt: string; message: string };
  /** status is ServiceStatus; absent when it was not asked for, or the engine did not report it. */
  status?: { runningTasks: number; desiredTasks: number };
  updatedAt: string;
  spec: ServiceSpec;
  /** previousSpec is PreviousSpec: what a rollback (failure_action or `docker service rollback`) returns to. */
  previousSpec?: ServiceSpec;
}

/** TaskState is a task's state; states only move forward. */
export type TaskState =
  | 'new' | 'allocated' | 'pending' | 'assigned' | 'accepted' | 'preparing' | 'ready' | 'starting'
  | 'running' | 'complete' | 'shutdown' | 'failed' | 'rejected' | 'remove' | 'orphaned';

/** SwarmTask is one task of `GET /tasks`. */
export interface SwarmTask {
  id: string;
  serviceId: string;
  nodeId: string;
  slot: number | undefined;
  desiredState: TaskState;
  state: TaskState;
  message: string;
  err: string;
  timestamp: string;
  image: string;
  /** forceUpdate is the task spec's ForceUpdate: a task made after a forced restart carries the service's new value. */
  forceUpdate?: number;
}

/** EngineInfo is the part of `GET /info` warden uses. */
export interface EngineInfo {
  /** nodeId is Swarm.NodeID: the swarm node this engine is ("" outside a swarm). */
  nodeId: string;
  nodeAddr: string;
  /** localNodeState is Swarm.LocalNodeState: inactive, pending, active, error, locked. */
  localNodeState: string;
  /** controlAvailable is true only on a manager. */
  controlAvailable: boolean;
  hostname: string;
  serverVersion: string;
  managers: number;
  nodes: number;
}

/** EngineVersion is `GET /version`: what `docker version` shows under Server, for `warden version`. */
export interface EngineVersion {
  /** platform is Platform.Name, e.g. "Docker Engine - Community" ("" when the engine does not say). */
  platform: string;
  version: string;
  apiVersion: string;
  minApiVersion: string;
  gitCommit: string;
  goVersion: string;
  os: string;
  arch: string;
  kernelVersion: string;
  buildTime: string;
  experimental: boolean;
  /** components are the engine's parts as it reports them (Engine, containerd, runc, docker-init). */
  components: Array<{ name: string; version: string; details: Record<string, string> }>;
}

/** VersionPort is `GET /version`, apart from DockerPort: only `warden version` asks it, never a pass. */
export interface VersionPort {
  version(): Promise<EngineVersion>;
}

/** EngineEvent is one event of the engine's events stream (type service or node). */
export interface EngineEvent {
  type: 'service' | 'node';
  action: string;
  id: string;
  attributes: Record<string, string>;
  /** timeMs is the engine's timestamp in milliseconds since the epoch. */
  timeMs: number;
}

/**
 * StreamItem is what the events stream yields: events, `connected` after each (re)connection (events may
 * have been missed: the consumer must re-list), and `disconnected` when the stream broke.
 */
export type StreamItem = EngineEvent | { type: 'connected' } | { type: 'disconnected'; error: Error };

/** TaskFilter narrows `GET /tasks`. */
export interface TaskFilter {
  serviceId?: string;
  desiredState?: 'running' | 'shutdown' | 'accepted';
}

/** SwarmNetwork is one network of `GET /networks` (the fields stacks compare). */
export interface SwarmNetwork {
  id: string;
  name: string;
  /** scope is swarm for the networks services may attach to; local for a node's own. */
  scope: string;
  driver: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  internal: boolean;
  attachable: boolean;
  ipam: { driver: string; config: Array<{ subnet: string }> };
}

/** NetworkCreateSpec is the body of `POST /networks/create`. */
export interface NetworkCreateSpec {
  Name: string;
  Driver: string;
  Options?: Record<string, string>;
  Labels: Record<string, string>;
  Internal?: boolean;
  Attachable?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet: string }> };
}

/** SwarmConfig is one config of `GET /configs`, with its content (base64, as the engine returns it). */
export interface SwarmConfig {
  id: string;
  version: number;
  name: string;
  labels: Record<string, string>;
  data: string;
  templating?: string;
}

/** SwarmSecret is one secret of `GET /secrets`: the engine never returns a secret's content. */
export interface SwarmSecret {
  id: string;
  version: number;
  name: string;
  labels: Record<string, string>;
  driver?: string;
  templating?: string;
}

/** FileObjectSpec is the body of `POST /configs/create` or `POST /secrets/create` (Data in base64). */
export interface FileObjectSpec {
  Name: string;
  Labels: Record<string, string>;
  Data: string;
  Templating?: { Name: string };
  /** Driver is for secrets only: the content then comes from the driver. */
  Driver?: { Name: string; Options?: Record<string, string> };
}

/** ImageDistribution is `GET /distribution/{image}/json`: what the registry says an image is. */
export interface ImageDistribution {
  /** digest is the manifest's digest, sha256:... */
  digest: string;
  platforms: Array<{ os: string; architecture: string; variant?: string }>;
}

/** WriteOptions carry what a service create or update sends besides the spec. */
export interface WriteOptions {
  /** registryAuth is the X-Registry-Auth header (base64url JSON), as `--with-registry-auth` sends it; default none. */
  registryAuth?: string;
}

/** DockerPort is every engine call warden makes. */
export interface DockerPort {
  /** info is `GET /info`. */
  info(): Promise<EngineInfo>;
  listNodes(): Promise<SwarmNode[]>;
  inspectNode(id: string): Promise<SwarmNode>;
  /** updateNode sends the whole spec with the version it was read at. */
  updateNode(id: string, version: number, spec: NodeSpec): Promise<void>;
  /**
   * listServices lists every service, with its ServiceStatus unless `status` is false: the task counts
   * make the managers count every service's tasks, about twice the work of the list itself.
   */
  listServices(opts?: { status?: boolean }): Promise<SwarmService[]>;
  inspectService(id: string): Promise<SwarmService>;
  /** updateService sends the whole spec with the version it was read at. */
  updateService(id: string, version: number, spec: ServiceSpec, opts?: WriteOptions): Promise<void>;
  listTasks(filter?: TaskFilter): Promise<SwarmTask[]>;
  /**
   * events follows node and service events until the signal aborts, reconnecting (with backoff)
   * after the engine restarts. It yields `connected` after every successful (re)connection.
   */
  events(signal: AbortSignal): AsyncIterable<StreamItem>;
}

/**
 * StackPort is what deploying stacks adds to the DockerPort: creating and removing services, and the
 * networks, configs and secrets they use. Apart from DockerPort, so that what only reads and corrects
 * services (and its test fakes) need not implement it.
 */
export interface StackPort {
  /** createService creates a service and returns its id. */
  createService(spec: ServiceSpec, opts?: WriteOptions): Promise<string>;
  /** removeService removes a service (its tasks stop). */
  removeService(id: string): Promise<void>;
  /** listNetworks lists every network the engine knows (swarm and local). */
  listNetworks(): Promise<SwarmNetwork[]>;
  /**
   * inspectNetwork reads one network by id. The swarm's own `host` and `bridge` networks (the targets of a
   * service on the host network) are not in the list, where the node's local ones of those names are.
   */
  inspectNetwork(id: string): Promise<SwarmNetwork>;
  /** createNetwork creates a network and returns its id. */
  createNetwork(spec: NetworkCreateSpec): Promise<string>;
  removeNetwork(id: string): Promise<void>;
  listConfigs(): Promise<SwarmConfig[]>;
  /** createConfig creates a config and returns its id. */
  createConfig(spec: FileObjectSpec): Promise<string>;
  removeConfig(id: string): Promise<void>;
  listSecrets(): Promise<SwarmSecret[]>;
  /** createSecret creates a secret and returns its id. */
  createSecret(spec: FileObjectSpec): Promise<string>;
  /**
   * updateSecretLabels sets a secret's labels, with the version it was read at. The engine lets a secret's
   * labels change and nothing else: the name is sent as it is and the content (Data) is not sent.
   */
  updateSecretLabels(id: string, version: number, name: string, labels: Record<string, string>): Promise<void>;
  removeSecret(id: string): Promise<void>;
  /** inspectDistribution asks the image's registry, through the engine, for its digest and platforms. */
  inspectDistribution(image: string, registryAuth?: string): Promise<ImageDistribution>;
  /** apiVersion is the Engine API version negotiated with the engine (what it stores of a spec); a fake without it stores everything. */
  apiVersion?(): Promise<string>;
}
