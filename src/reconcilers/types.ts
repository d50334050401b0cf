// What every reconciler shares: the observed snapshot it reads, the drift it reports and the actions it
// asks for. A reconciler is a pure `plan`; the controller applies the actions through one path.
import type { DesiredPlacement, DesiredState, ReconcilerId } from '../desired-state/types.js';
import type { EngineInfo, NodeAvailability, SwarmNode, SwarmService, SwarmTask } from '../docker/port.js';

/** Observed is one snapshot of the cluster, read at the start of a pass with a fixed number of list calls. */
export interface Observed {
  info: EngineInfo;
  nodes: SwarmNode[];
  services: SwarmService[];
  tasks: SwarmTask[];
  /** at is when the snapshot was read (ms since the epoch). */
  at: number;
}

/** PlanContext is what a plan may read besides desired and observed state. */
export interface PlanContext {
  /** now is the pass's clock reading (ms since the epoch); plans read no other clock. */
  now: number;
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
}

/** Action is one change a reconciler asks for; the controller's apply path carries it out. */
export type Action =
  | (ActionBase & { kind: 'scale-service'; serviceId: string; replicas: number })
  | (ActionBase & { kind: 'update-placement'; serviceId: string; placement: DesiredPlacement })
  | (ActionBase & { kind: 'force-restart'; serviceId: string })
  | (ActionBase & { kind: 'update-node'; nodeId: string; labels?: Record<string, string>; availability?: NodeAvailability })
  | (ActionBase & { kind: 'promote-node'; nodeId: string })
  | (ActionBase & { kind: 'demote-node'; nodeId: string })
  | (ActionBase & { kind: 'fix-volume'; path: string; owner: number; group?: number; mode?: number; recursive: boolean });

/** Plan is what a reconciler found: the drift, and the actions that would correct it. */
export interface Plan {
  drift: Drift[];
  actions: Action[];
}

/** Reconciler compares one section of the desired state with the observed snapshot. */
export interface Reconciler {
  id: ReconcilerId;
  /** plan is pure: no I/O, no clock but ctx.now; it returns no drift when its section is absent. */
  plan(desired: DesiredState, observed: Observed, ctx: PlanContext): Plan;
}

/** isIgnored tells whether an object's labels carry `<ignoreLabel>=true`. */
export function isIgnored(labels: Record<string, string> | undefined, ignoreLabel: string): boolean {
  return labels?.[ignoreLabel]?.toLowerCase() === 'true';
}
