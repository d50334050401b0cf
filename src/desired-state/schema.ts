// The zod schema of the operator's desired-state file (contract §1). Every object is strict, so a
// typo is an error with a line and column rather than a silently ignored key. The schema describes
// the file as written (strings for durations and modes); ./load.ts resolves it into the
// DesiredState of ./types.ts. The same schema generates the JSON Schema editors use (`warden schema`),
// so descriptions here are what an operator sees when hovering a key.
import { z } from 'zod';
import { RECONCILER_IDS, type ReconcilerId } from '../reconcilers/ids.js';
import { checked, durationString, quoteHint } from './schema-fields.js';
import { NotifyEntry } from './schema-notify.js';
import { VolumeEntry, volumePathProblem } from './schema-volumes.js';
import {
  constraintProblem,
  cronProblem,
  globProblem,
  labelKeyProblem,
  parseDuration,
  serviceNameProblem,
  spreadProblem,
} from './validators.js';

export { SYSTEM_DIRS, SYSTEM_TREES, VolumeEntry, volumePathProblem } from './schema-volumes.js';
export { NOTIFY_EVENTS, NotifyEntry, type NotifyEvent, type NotifyFormat } from './schema-notify.js';

/** Labels is a map of Docker label keys to string values. */
export const Labels = z
  .record(checked(labelKeyProblem), z.string({ error: quoteHint('a label value') }))
  .describe('Docker labels: key to string value (quote values like "true" or "1.10")');
/** Labels is the inferred type of the Labels schema. */
export type Labels = z.infer<typeof Labels>;

/** Selector picks nodes: every field given must match; an empty selector is refused. */
export const Selector = z
  .strictObject({
    hostname: checked(globProblem).describe('hostname glob, e.g. "db-*" or "worker-[0-9]"').optional(),
    id: z.string().min(1).describe('node ID (as `docker node ls` shows it)').optional(),
    role: z.enum(['manager', 'worker']).describe('node role').optional(),
    labels: Labels.describe('node labels the node must carry (all of them)').optional(),
  })
  .superRefine((sel, ctx) => {
    if (Object.values(sel).every((v) => v === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'an empty selector would match every node: give hostname, id, role or labels' });
    }
  })
  .describe('node selector: hostname (glob), id, role, labels; all given must match');
/** Selector is the inferred type of the Selector schema. */
export type Selector = z.infer<typeof Selector>;

function faultTolerance(n: number): number {
  return Math.floor((n - 1) / 2);
}

function managerCountProblem(n: number): string | undefined {
  if (n > 7) {
    return `${n} managers is more than 7: every manager joins each Raft write, so more slow the swarm down, and 7 ` +
      'already tolerate 3 failures; use 3, 5 or 7';
  }
  if (n % 2 === 0) {
    const t = faultTolerance(n);
    const plural = t === 1 ? 'failure' : 'failures';
    return `${n} managers tolerate no more failures than ${n - 1}: both tolerate ${t} ${plural} (a majority of ` +
      `${n} is ${n / 2 + 1}); an even count only adds a node that can fail, so use ${n - 1}` +
      (n + 1 <= 7 ? ` or ${n + 1}` : '');
  }
  return undefined;
}

/** ManagersSection is spec.managers: how many Raft managers and which nodes may become one. */
export const ManagersSection = z
  .strictObject({
    count: z
      .number()
      .int('must be a whole number')
      .min(1, 'a swarm needs at least 1 manager')
      .superRefine((n, ctx) => {
        const message = managerCountProblem(n);
        if (message !== undefined) ctx.addIssue({ code: 'custom', message });
      })
      .describe('desired number of managers: 1, 3, 5 or 7 (odd, so that a majority survives failures)')
      // Editors check the count against the same rule the loader enforces.
      .meta({ enum: [1, 3, 5, 7] }),
    eligible: Selector.describe('which workers may be promoted (default: any ready, active worker)').optional(),
    spreadLabel: checked(labelKeyProblem)
      .describe('prefer managers on distinct values of this node label, e.g. zone')
      .optional(),
    replaceUnreachableAfter: durationString(
      'an unreachable manager is replaced after this long, e.g. 5m; "never" disables replacement',
      (v) => (parseDuration(v) === 0 ? 'use "never" to disable replacement; 0s would replace a manager at its first missed heartbeat' : undefined),
      true,
    )
      .default('5m'),
  })
  .describe('spec.managers: the Raft managers');
/** ManagersSection is the inferred type of the ManagersSection schema. */
export type ManagersSection = z.infer<typeof ManagersSection>;

/** NodeEntry is one entry of spec.nodes: labels and availability for the nodes a selector picks. */
export const NodeEntry = z
  .strictObject({
    match: Selector,
    labels: Labels.describe('labels the node must carry; labels not named here are left alone').optional(),
    availability: z.enum(['active', 'pause', 'drain']).describe('scheduling availability').optional(),
  })
  .describe('labels and availability for the nodes that match');
/** NodeEntry is the inferred type of the NodeEntry schema. */
export type NodeEntry = z.infer<typeof NodeEntry>;

const ServiceName = checked(serviceNameProblem);

/** Placement is a service's placement; absent fields are left alone. */
export const Placement = z
  .strictObject({
    constraints: z
      .array(checked(constraintProblem))
      .describe('placement constraints, e.g. "node.labels.function == app" (compared as a set)')
      .optional(),
    preferences: z
      .array(checked(spreadProblem))
      .describe('spread descriptors in order, e.g. node.labels.zone')
      .optional(),
    maxReplicasPerNode: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be 0 (no limit) or more')
      .describe('at most this many tasks on one node; 0 means no limit')
      .optional(),
  })
  .describe('placement: constraints, spread preferences, max replicas per node');
/** Placement is the inferred type of the Placement schema. */
export type Placement = z.infer<typeof Placement>;

/** ServiceEntry is one entry of spec.services, naming a swarm service by its full name. */
export const ServiceEntry = z
  .strictObject({
    name: ServiceName.describe("the swarm service's full name, stack prefix included, e.g. msa_api"),
    replicas: z
      .number()
      .int('must be a whole number')
      .min(0, 'must be 0 or more')
      .describe('replica count of a replicated service')
      .optional(),
    placement: Placement.optional(),
    dependsOn: z
      .array(ServiceName)
      .describe('restart ordering: start after these services are healthy')
      .optional(),
    rebalance: z
      .boolean()
      .describe('spread running tasks again (one forced rolling update) when they are uneven, e.g. after a node returns (default: policy.rebalance)')
      .optional(),
  })
  .describe('a swarm service');
/** ServiceEntry is the inferred type of the ServiceEntry schema. */
export type ServiceEntry = z.infer<typeof ServiceEntry>;

/** StackEntry names a compose v3 file whose services (named <stack>_<service>) join spec.services. */
export const StackEntry = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a stack name is letters, digits, "_", "." and "-"')
      .describe('stack name, as in `docker stack deploy ... NAME`: services become NAME_<service>'),
    file: z
      .string()
      .min(1, 'give the path of the compose file')
      .describe('compose file, relative to this file (inside the repository for a git source)'),
    deploy: z
      .boolean()
      .default(false)
      .describe('deploy and keep the whole stack as `docker stack deploy` would (default false: read only replicas, placement and depends_on)'),
    prune: z
      .boolean()
      .default(false)
      .describe('with deploy: remove the services, networks, configs and secrets of this stack that the file no longer has'),
    resolveImage: z
      .enum(['always', 'changed', 'never'])
      .default('changed')
      .describe('when to ask the registry for image digests, as `docker stack deploy --resolve-image`'),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name is letters, digits and "_", not starting with a digit'),
        z.union([z.string(), z.number(), z.boolean()]).transform(String),
      )
      .describe('values for ${VAR} in the compose file (warden does not read its own environment for them)')
      .optional(),
    envFile: z
      .string()
      .min(1, 'give the path of the env file')
      .describe('a file of VAR=value lines, relative like file; env wins over it')
      .optional(),
  })
  .superRefine((s, ctx) => {
    if (s.prune && !s.deploy) ctx.addIssue({ code: 'custom', path: ['prune'], message: 'prune needs deploy: true (only a deployed stack has objects to remove)' });
  })
  .describe('a docker-compose v3 stack');
/** StackEntry is the inferred type of the StackEntry schema. */
export type StackEntry = z.infer<typeof StackEntry>;

// host:port or host, where host is a DNS name, IPv4 or [IPv6].
const ADDRESS_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$/;

/** RegistrySection is spec.registry: the private registry that other services' images come from. */
export const RegistrySection = z
  .strictObject({
    service: ServiceName.describe('the swarm service that serves the private registry'),
    address: z
      .string()
      .superRefine((a, ctx) => {
        const m = ADDRESS_RE.exec(a);
        if (!m || (m[1] !== undefined && Number(m[1]) > 65535)) {
          ctx.addIssue({ code: 'custom', message: `"${a}" is not a registry address: write host:port, e.g. 10.0.0.5:5000 (no scheme, no path)` });
        }
      })
      .describe('host:port; images named <address>/... depend on the registry'),
    probe: z
      .url({ protocol: /^https?$/, error: 'probe is an http:// or https:// URL, e.g. http://10.0.0.5:5000/v2/' })
      .describe('URL that answers when the registry is up (default http://<address>/v2/)')
      .optional(),
  })
  .describe('the private registry, restarted first after an outage');
/** RegistrySection is the inferred type of the RegistrySection schema. */
export type RegistrySection = z.infer<typeof RegistrySection>;

/** PolicyMode is enforce (correct drift) or observe (report only). */
export const PolicyMode = z.enum(['enforce', 'observe']).describe('enforce corrects drift; observe only reports it');
/** PolicyMode is the inferred type of the PolicyMode schema. */
export type PolicyMode = z.infer<typeof PolicyMode>;

/** PolicySection is spec.policy: how boldly warden acts. */
export const PolicySection = z
  .strictObject({
    mode: PolicyMode.default('enforce'),
    reconcilers: z
      // One optional key per reconciler in the registry.
      .strictObject(Object.fromEntries(RECONCILER_IDS.map((id) => [id, PolicyMode.optional()])) as Record<ReconcilerId, z.ZodOptional<typeof PolicyMode>>)
      .describe('per-reconciler override of mode, e.g. { volumes: observe }')
      .default({}),
    maxActionsPerPass: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1 (use mode: observe to change nothing)')
      .default(20)
      .describe('safety cap on changes in one pass'),
    resync: checked(cronProblem)
      .default('*/30 * * * * *')
      .describe('cron schedule (a seconds field first is allowed) of full passes, besides events'),
    disruptiveWindow: z
      .strictObject({
        cron: checked(cronProblem).describe('when the window opens, e.g. "0 2 * * *"'),
        duration: durationString('how long the window stays open, e.g. 2h', (v) =>
          parseDuration(v) === 0 ? 'the window must last longer than 0s' : undefined,
        ),
      })
      .describe('demote, drain and forced restarts only inside this window (default: at any time)')
      .optional(),
    ignoreLabel: checked(labelKeyProblem)
      .default('warden.ignore')
      .describe('a service or node labelled <ignoreLabel>=true is never touched'),
    rebalance: z
      .boolean()
      .default(false)
      .describe('default for services[].rebalance'),
    rollbackGrace: durationString('stacks: a replaced config or secret is removed only this long after the update that replaced it completed, since swarm rolls back to the previous spec (e.g. 10m)')
      .default('10m'),
    volumeRoots: z
      .array(
        z.string().superRefine((p, ctx) => {
          const problem = volumePathProblem(p, 'volume root');
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .describe('local directories below which volumes may be changed even though they are not on a mounted share (default: none)')
      .optional(),
  })
  .describe('spec.policy: mode, caps and schedule');
/** PolicySection is the inferred type of the PolicySection schema. */
export type PolicySection = z.infer<typeof PolicySection>;

/** Spec is the file's spec: every section is optional, and a reconciler whose section is absent does nothing. */
export const Spec = z
  .strictObject({
    managers: ManagersSection.optional(),
    nodes: z.array(NodeEntry).describe('spec.nodes: node labels and availability').optional(),
    services: z.array(ServiceEntry).describe('spec.services: replicas, placement and ordering').optional(),
    stacks: z.array(StackEntry).describe('spec.stacks: services taken from compose v3 files').optional(),
    volumes: z.array(VolumeEntry).describe('spec.volumes: directories on shared mounts').optional(),
    registry: RegistrySection.optional(),
    notify: z.array(NotifyEntry).describe('spec.notify: webhooks told of rollouts, health, holds and a desired state that fails to load').optional(),
    policy: PolicySection.default({
      mode: 'enforce',
      reconcilers: {},
      maxActionsPerPass: 20,
      resync: '*/30 * * * * *',
      ignoreLabel: 'warden.ignore',
      rebalance: false,
      rollbackGrace: '10m',
    }),
  })
  .describe('the desired state; every section is optional');
/** Spec is the inferred type of the Spec schema. */
export type Spec = z.infer<typeof Spec>;

/** API_VERSION is the only apiVersion this warden reads. */
export const API_VERSION = 'swarm-warden/v1';

/** ClusterState is the whole desired-state file (contract §1). */
export const ClusterState = z
  .strictObject({
    apiVersion: z.literal(API_VERSION).describe('always swarm-warden/v1'),
    kind: z.literal('ClusterState').describe('always ClusterState'),
    metadata: z
      .strictObject({
        name: z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'metadata.name is letters, digits, "_", "." and "-"')
          .max(63, 'metadata.name is at most 63 characters')
          .describe("the cluster's name: label `cluster` on warden_desired_state_info"),
      })
      .describe('metadata'),
    spec: Spec,
  })
  .describe('swarm-warden desired state (reference: docs/desired-state.md)');
/** ClusterState is the inferred type of the ClusterState schema. */
export type ClusterState = z.infer<typeof ClusterState>;

/** desiredStateJsonSchema is the JSON Schema of the file as an operator writes it (defaults optional). */
export function desiredStateJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ClusterState, { io: 'input', unrepresentable: 'any', target: 'draft-7' }) as Record<string, unknown>;
  return { ...schema, title: 'swarm-warden ClusterState' };
}
