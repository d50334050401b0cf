// The resolved desired state: what the controller and the reconcilers consume. The loader
// (./load.ts) produces it from the operator's file: defaults applied, durations in milliseconds,
// stacks merged into `services`, paths resolved. Reconcilers never see the YAML or the zod schema.
// This file imports no reconciler: the reconcilers read it, so it must not read them (the registry of
// reconcilers, ../reconcilers/index.ts, is what the schema checks policy.reconcilers against). It reads
// only the types of a deployed stack (./compose/types.ts), which read only the Docker port's types.
import type { DesiredStack } from './compose/types.js';
import type { NotifyEvent, NotifyFormat } from './schema-notify.js';
import type { SealedValues } from './sops/sealed.js';
import type { WebhookUrl } from './webhook-url.js';

/** NodeSelector picks nodes; every field given must match (hostname is a glob). */
export interface NodeSelector {
  hostname?: string;
  id?: string;
  role?: 'manager' | 'worker';
  labels?: Record<string, string>;
}

/** DesiredManagers is spec.managers. */
export interface DesiredManagers {
  count: number;
  eligible?: NodeSelector;
  spreadLabel?: string;
  /** replaceUnreachableAfterMs is null for "never"; default 5 minutes. */
  replaceUnreachableAfterMs: number | null;
}

/** DesiredNode is one entry of spec.nodes. */
export interface DesiredNode {
  match: NodeSelector;
  labels?: Record<string, string>;
  availability?: 'active' | 'pause' | 'drain';
}

/** DesiredPlacement is a service's placement; absent fields are left alone. */
export interface DesiredPlacement {
  constraints?: string[];
  preferences?: string[];
  maxReplicasPerNode?: number;
}

/** DesiredService is one entry of spec.services, or one derived from a stack. */
export interface DesiredService {
  name: string;
  replicas?: number;
  placement?: DesiredPlacement;
  dependsOn?: string[];
  /** rebalance turns forced rebalancing on or off for this service; absent: policy.rebalance. */
  rebalance?: boolean;
  /** origin says where the entry came from: `services` or `stack:<name>`. */
  origin: string;
  /** deployed is true for a service of a `deploy: true` stack: the stacks reconciler creates it when missing (default false). */
  deployed?: boolean;
}

/** DesiredVolume is one entry of spec.volumes. */
export interface DesiredVolume {
  path: string;
  /** mount is the mount point the path must be on (absent: warden only refuses to create on the host root's own disk). */
  mount?: string;
  /**
   * root is the entry of policy.volumeRoots the path lies at or below (the longest one), absent when none:
   * only there may warden change a directory on the host root's own file system.
   */
  root?: string;
  owner: number;
  group?: number;
  /** mode is the numeric mode (e.g. 0o700), parsed from the octal string. */
  mode?: number;
  recursive: boolean;
}

/** DesiredRegistry is spec.registry. */
export interface DesiredRegistry {
  service: string;
  address: string;
  /** probe defaults to http://<address>/v2/. */
  probe: string;
}

/** DesiredNotify is one entry of spec.notify, its URL read from urlFile. */
export interface DesiredNotify {
  /** urlFile is the path the URL was read from, as resolved (shown in logs instead of the URL). */
  urlFile: string;
  /** url is the webhook URL: a secret, shown as "(secret)" wherever it is printed. */
  url: WebhookUrl;
  format: NotifyFormat;
  /** events lists the events to send (every NotifyEvent when the file leaves it out). */
  events: NotifyEvent[];
}

/** PolicyMode is enforce (correct drift) or observe (report only). */
export type PolicyMode = 'enforce' | 'observe';

/** DesiredPolicy is spec.policy with its defaults applied. */
export interface DesiredPolicy {
  mode: PolicyMode;
  /** reconcilers overrides mode by reconciler id; the schema admits only the registry's ids (default none). */
  reconcilers: Partial<Record<string, PolicyMode>>;
  maxActionsPerPass: number;
  resync: string;
  disruptiveWindow?: { cron: string; durationMs: number };
  ignoreLabel: string;
  /** rebalance is the default for services[].rebalance (default false). */
  rebalance: boolean;
  /** volumeRoots lists the local directories below which volumes may be changed off a share (absent: none). */
  volumeRoots?: string[];
  /**
   * rollbackGraceMs is how long after a service's update completed the configs and secrets of its
   * previous spec are kept, so that swarm can still roll back to them (default 10 min when absent).
   */
  rollbackGraceMs?: number;
}

/** DesiredState is one loaded, valid desired-state file. Sections absent from the file are undefined. */
export interface DesiredState {
  cluster: string;
  managers?: DesiredManagers;
  nodes?: DesiredNode[];
  services?: DesiredService[];
  /** stacks holds the stacks with `deploy: true`, converted as stack deploy converts them (absent: none). */
  stacks?: DesiredStack[];
  volumes?: DesiredVolume[];
  registry?: DesiredRegistry;
  /** notify lists the webhooks to tell of events (absent: none). */
  notify?: DesiredNotify[];
  policy: DesiredPolicy;
  /**
   * sealed holds the values the stacks' sops files held encrypted, so that nothing shown carries one
   * (absent: no sops file). Its values are private: the state serializes and logs without them.
   */
  sealed?: SealedValues;
}

export type { DesiredStack };
