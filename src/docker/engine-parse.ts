// The engine's JSON as warden reads it: only the fields it uses, leniently, into the port's types; the
// events stream's lines; and every failure dockerode throws, as an EngineError with a stable code.
import { EngineError, classifyEngineError } from './errors.js';
import type {
  EngineEvent, EngineVersion, NodeSpec, ServiceMode, ServiceSpec, SwarmNetwork, SwarmNode, SwarmService, SwarmTask, TaskState,
} from './port.js';

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

/** RawInfo is the engine's JSON, only the fields warden reads. */
export interface RawInfo {
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

/** RawService is the engine's JSON, only the fields warden reads. */
export interface RawService {
  ID: string;
  Version?: { Index?: number };
  UpdatedAt?: string;
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
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

/** toService maps the engine's JSON to the port's type. */
export function toService(raw: RawService): SwarmService {
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
  if (raw.PreviousSpec) service.previousSpec = raw.PreviousSpec;
  if (raw.UpdateStatus?.State) {
    service.updateStatus = { state: raw.UpdateStatus.State, startedAt: raw.UpdateStatus.StartedAt ?? '', completedAt: raw.UpdateStatus.CompletedAt ?? '', message: raw.UpdateStatus.Message ?? '' };
  }
  if (raw.ServiceStatus) {
    service.status = { runningTasks: raw.ServiceStatus.RunningTasks ?? 0, desiredTasks: raw.ServiceStatus.DesiredTasks ?? 0 };
  }
  return service;
}

/** RawTask is the engine's JSON, only the fields warden reads. */
export interface RawTask {
  ID: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  DesiredState?: string;
  Status?: { State?: string; Message?: string; Err?: string; Timestamp?: string };
  Spec?: { ContainerSpec?: { Image?: string }; ForceUpdate?: number };
}

/** toTask maps the engine's JSON to the port's type. */
export function toTask(raw: RawTask): SwarmTask {
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

/** RawNetwork is the engine's JSON, only the fields warden reads. */
export interface RawNetwork {
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

/** toNetwork maps the engine's JSON to the port's type. */
export function toNetwork(raw: RawNetwork): SwarmNetwork {
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

/** RawFileObject is the engine's JSON, only the fields warden reads. */
export interface RawFileObject {
  ID: string;
  Version?: { Index?: number };
  Spec?: { Name?: string; Labels?: Record<string, string>; Data?: string; Driver?: { Name?: string }; Templating?: { Name?: string } };
}

/** RawDistribution is the engine's JSON, only the fields warden reads. */
export interface RawDistribution {
  Descriptor?: { digest?: string };
  Platforms?: Array<{ os?: string; architecture?: string; variant?: string }>;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number | string;
}
