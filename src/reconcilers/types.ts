// What every reconciler shares: the observed snapshot it reads, the drift it reports and the actions it
// asks for. A reconciler is a pure `plan`; the controller gathers every observation before the pass
// (the engine's snapshot, the hosts' files, the registry's probe, its own memory of earlier passes) and
// applies the actions through one path.
import type { DesiredPlacement, DesiredState } from '../desired-state/types.js';
import type { FieldDiff } from '../desired-state/compose/normalize.js';
import type { SealedValues } from '../desired-state/sops/sealed.js';
import type {
  EngineInfo, FileObjectSpec, ImageDistribution, NetworkCreateSpec, NodeAvailability, ServiceSpec, SwarmConfig, SwarmNetwork,
  SwarmNode, SwarmSecret, SwarmService, SwarmTask,
} from '../docker/port.js';
import type { ReconcilerId } from './ids.js';

export type { ReconcilerId } from './ids.js';

/** FileObservation is what warden saw of one desired volume path under the host root. */
export type FileObservation =
  /** a directory, with its owner, group and permission bits (mode & 0o7777). */
  | { kind: 'directory'; uid: number; gid: number; mode: number; /** below counts entries below it that differ (recursive only). */ below?: BelowObservation }
  /** nothing there yet, and the nearest existing parent is on the expected mount. */
  | { kind: 'missing' }
  /** something warden must not touch: a symlink, a file, a path that escapes the host root, a mount that is gone. */
  | { kind: 'refused'; why: string };

/** BelowObservation is what a recursive volume's scan found below the directory, within its budget. */
export interface BelowObservation {
  /** differ counts entries whose owner, group or (directories only) mode differ. */
  differ: number;
  scanned: number;
  /** skipped counts entries warden never changes: hard-linked files, other mounts nested below. */
  skipped: number;
  /** truncated is true when the scan stopped at its budget before the end of the tree. */
  truncated: boolean;
}

/** ProbeObservation is the registry probe's answer this pass. */
export interface ProbeObservation {
  url: string;
  ok: boolean;
  /** detail is the HTTP status or the error, for drift messages. */
  detail: string;
}

/** Observed is one snapshot of the cluster, read at the start of a pass with a fixed number of calls. */
export interface Observed {
  info: EngineInfo;
  nodes: SwarmNode[];
  services: SwarmService[];
  /** tasks holds only what the reconcilers in force asked for (see Reconciler.tasks); often empty. */
  tasks: SwarmTask[];
  /** files maps each spec.volumes path to what the host root shows (absent without spec.volumes). */
  files?: ReadonlyMap<string, FileObservation>;
  /** filesAt is when `files` was read (ms since the epoch): the host is read off the pass. */
  filesAt?: number;
  /** registry is the registry probe's answer (absent without spec.registry). */
  registry?: ProbeObservation;
  /** registryAt is when `registry` was read (ms since the epoch). */
  registryAt?: number;
  /** stackObjects is what deployed stacks need besides services (absent without a `deploy: true` stack). */
  stackObjects?: StackObservation;
  /** at is when the snapshot was read (ms since the epoch). */
  at: number;
}

/** StackObservation is the networks, configs and secrets the engine has, and the image digests asked for. */
export interface StackObservation {
  networks: SwarmNetwork[];
  configs: SwarmConfig[];
  secrets: SwarmSecret[];
  /** images maps an image (as the file writes it) to its registry's answer; absent when not asked or not found. */
  images: ReadonlyMap<string, ImageDistribution>;
  /** unresolved maps an image whose registry did not answer to why: it is deployed by its tag. */
  unresolved?: ReadonlyMap<string, string>;
  /** apiVersion is the Engine API version spoken with the engine: what it can store of a service spec. */
  apiVersion?: string;
}

/** StackObjectKind is the kind of a stack's object, as the warden_stack_objects metric labels it. */
export type StackObjectKind = 'service' | 'network' | 'config' | 'secret';

/** StackObjectState is one object of a deployed stack as a plan found it. */
export interface StackObjectState {
  stack: string;
  kind: StackObjectKind;
  name: string;
  state: 'in_sync' | 'drift' | 'missing' | 'extra';
  /** fields lists what differs for a service in drift, keyed by identity, with whether tasks restart. */
  fields?: FieldDiff[];
  /** note says why an object is in drift without an action (a network swarm cannot change, ...). */
  note?: string;
}

/** ActionRecord is the controller's memory of the last time an action was applied to an object. */
export interface ActionRecord {
  /** at is when it was last applied (ms since the epoch). */
  at: number;
  /** count is how many times in a row it was applied without the object leaving the state that asked for it. */
  count: number;
}

/**
 * PlanContext is what a plan may read besides desired and observed state: the pass's clock and what the
 * controller remembers between passes. Memory starts empty when warden starts, which errs on the side of
 * waiting longer, never of acting sooner.
 */
export interface PlanContext {
  /** now is the pass's clock reading (ms since the epoch); plans read no other clock. */
  now: number;
  /** unreachableSince maps a manager's node id to when warden first saw it unreachable, without a break. */
  unreachableSince: ReadonlyMap<string, number>;
  /**
   * roleChangeSince maps a node's id to when warden first saw its role change pending (its spec's role
   * and its Raft membership disagree), without a break: how long a promotion warden did not ask for has
   * been under way (empty after a restart, so the grace starts again).
   */
  roleChangeSince: ReadonlyMap<string, number>;
  /** lastApplied tells when this reconciler last applied `kind` to `object` (undefined: not since start). */
  lastApplied(kind: ActionKind, object: string): ActionRecord | undefined;
}

/** Drift is one object that differs from its desired state. */
export interface Drift {
  /** object names the service, node or path. */
  object: string;
  /** message says what differs, for logs, `plan` and /status. */
  message: string;
}

/** ActionKind names what an action does to the cluster. */
export type ActionKind = Action['kind'];

interface ActionBase {
  reconciler: ReconcilerId;
  /** object names the service, node or path, as in Drift. */
  object: string;
  /** before and after describe the change for the log line and `plan` (only the fields that change). */
  before: unknown;
  after: unknown;
  /** disruptive actions (demote, drain, forced restarts) run only inside the disruptive window. */
  disruptive: boolean;
  /** ignored is true when the object carries the ignore label: the action is planned, never applied. */
  ignored: boolean;
  /**
   * held says why the reconciler itself will not have this action applied now (a drain that would leave
   * services without nodes, a rebalance the scheduler cannot improve): it is planned, shown and counted as
   * suppressed `held`, never applied. Absent: nothing holds it.
   */
  held?: string;
  /**
   * sealed are the values of the revision's sops files, which the action's view masks (set by the pass,
   * ./seal.ts sealPlan; absent: no sops file). Private values: an action serializes without them.
   */
  sealed?: SealedValues;
}

/** Action is one change a reconciler asks for; the controller's apply path carries it out. */
export type Action =
  | (ActionBase & { kind: 'scale-service'; serviceId: string; replicas: number })
  | (ActionBase & { kind: 'update-placement'; serviceId: string; placement: DesiredPlacement })
  | (ActionBase & { kind: 'force-restart'; serviceId: string })
  | (ActionBase & { kind: 'update-node'; nodeId: string; labels?: Record<string, string>; availability?: NodeAvailability })
  | (ActionBase & { kind: 'promote-node'; nodeId: string })
  | (ActionBase & { kind: 'demote-node'; nodeId: string })
  | (ActionBase & { kind: 'fix-volume'; path: string; mount?: string; root?: string; owner: number; group?: number; mode?: number; recursive: boolean })
  | (ActionBase & { kind: 'create-network'; spec: NetworkCreateSpec })
  | (ActionBase & { kind: 'create-file-object'; objectKind: 'config' | 'secret'; spec: FileObjectSpec })
  /** create-service and update-service carry the spec by names: the apply path puts in config and secret IDs. */
  /** networks are the specs of the stack's own networks the service uses, to create again if the engine lost one. */
  | (ActionBase & { kind: 'create-service'; spec: ServiceSpec; image: string; networks: NetworkCreateSpec[] })
  | (ActionBase & { kind: 'update-service'; serviceId: string; spec: ServiceSpec; image: string; networks: NetworkCreateSpec[]; fields: FieldDiff[]; restarts: boolean })
  | (ActionBase & { kind: 'remove-stack-object'; objectKind: StackObjectKind; id: string })
  /** label-secret adds labels to a secret (only labels can change): the content hash of an adopted one. */
  | (ActionBase & { kind: 'label-secret'; id: string; labels: Record<string, string> });

/** Plan is what a reconciler found: the drift, and the actions that would correct it. */
export interface Plan {
  drift: Drift[];
  actions: Action[];
  /**
   * blocked says why the reconciler holds back actions it would otherwise take, with the suppression
   * reason to count (today only `quorum`): the controller counts and shows it like a suppressed action.
   */
  blocked?: { reason: 'quorum' | 'cap'; message: string };
  /** objects lists every object of the deployed stacks with its state (the stacks reconciler only). */
  objects?: StackObjectState[];
  /**
   * requeueAfterMs asks for another pass within this long even if no event comes: for what the engine
   * announces with no event (a task that started, a grace period that ran out, a probe that answers).
   */
  requeueAfterMs?: number;
}

/** TaskNeed is which tasks a reconciler reads: none, the running ones, or every task of some services. */
export type TaskNeed = { running: boolean; services: ReadonlySet<string> };

/** Reconciler compares one section of the desired state with the observed snapshot. */
export interface Reconciler<Id extends string = string> {
  id: Id;
  /** actions lists the action kinds it may ask for (their counters are created at zero). */
  actions: readonly ActionKind[];
  /**
   * tasks says which tasks the reconciler reads from this desired state and service list (default: none).
   * Tasks are the largest response of a pass, so the snapshot reads only what someone asked for.
   */
  tasks?(desired: DesiredState, services: readonly SwarmService[]): Partial<TaskNeed>;
  /**
   * counts says whether the reconciler reads the services' task counts (`SwarmService.status`) under
   * this desired state (default: no): `fresh` when it acts on them (every pass lists the services with
   * them), `recent` when it only reports from them (the counts of the last list that had them do: every
   * resync and reconnection lists with them). The managers count every service's tasks for them, which
   * doubles the cost of the services list, so a pass asks for them only when a reconciler in force reads
   * them, and fresh only when one acts on them.
   */
  counts?(desired: DesiredState): CountsNeed;
  /** plan is pure: no I/O, no clock but ctx.now; it returns no drift when its section is absent. */
  plan(desired: DesiredState, observed: Observed, ctx: PlanContext): Plan;
}

/** CountsNeed is how fresh the task counts a reconciler reads must be (false: it reads none). */
export type CountsNeed = false | 'recent' | 'fresh';

/** isIgnored tells whether an object's labels carry `<ignoreLabel>=true`. */
export function isIgnored(labels: Record<string, string> | undefined, ignoreLabel: string): boolean {
  return labels?.[ignoreLabel]?.toLowerCase() === 'true';
}
