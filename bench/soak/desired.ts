// The soak's desired state: what warden keeps while faults are injected. Two variants, A and B, differ
// in one replica count, so that a force-push can rewrite history to an equivalent file (same variant) or
// a changed one (the other variant). Pure: the soak pushes the text to its git server.

/** Variant names a version of the desired state: B wants one replica of soak-web fewer than A. */
export type Variant = 'A' | 'B';

/** REGISTRY is the registry's swarm service (registry:lab on worker-2, not scaled by warden). */
export const REGISTRY = 'soak-registry';

/** SCALED are the services whose replicas warden keeps, and which the soak scales by hand. */
export const SCALED = ['soak-api', 'soak-web', 'soak-db'] as const;

/** ScaledService is one of SCALED. */
export type ScaledService = (typeof SCALED)[number];

/** REGISTRY_NODE is the node the registry is pinned to (its data lives in a volume there). */
export const REGISTRY_NODE = 'worker-2';

/** LAB_NODES are the lab's hostnames, 3 managers and 2 workers, as the soak brings it up. */
export const LAB_NODES = ['manager-1', 'manager-2', 'manager-3', 'worker-1', 'worker-2'] as const;

/** VOLUMES are the directories warden keeps on the NAS (path under the host root, owner, group, mode). */
export const VOLUMES = [
  { path: '/mnt/nas/soak/db', owner: 70, group: 70, mode: 0o700 },
  { path: '/mnt/nas/soak/web', owner: 1000, group: 1000, mode: 0o750 },
] as const;

/** NAS is where the NAS is mounted, under the host root. */
export const NAS = '/mnt/nas';

/** desiredReplicas is each scaled service's replica count in a variant. */
export function desiredReplicas(variant: Variant): Record<ScaledService, number> {
  return { 'soak-api': 2, 'soak-web': variant === 'A' ? 3 : 2, 'soak-db': 1 };
}

/** desiredLabels is the labels each node must carry (other labels are left alone). */
export function desiredLabels(hostname: string): Record<string, string> {
  if (hostname.startsWith('manager-')) return { tier: 'control' };
  if (hostname === 'worker-1') return { tier: 'app', 'manager-eligible': 'true' };
  return { tier: 'app' };
}

/** SOAK_RESYNC is the resync schedule: volumes have no events, so a NAS edit is seen at the next resync. */
export const SOAK_RESYNC = '*/5 * * * * *';

/** REPLACE_UNREACHABLE_AFTER is short enough that a long manager outage of the soak gets it replaced. */
export const REPLACE_UNREACHABLE_AFTER = '60s';

/** desiredYaml is the desired-state file of a variant, for a registry at `registryAddress` (host:port). */
export function desiredYaml(variant: Variant, registryAddress: string): string {
  const r = desiredReplicas(variant);
  const vol = (v: (typeof VOLUMES)[number]): string =>
    `    - { path: ${v.path}, owner: ${v.owner}, group: ${v.group}, mode: "0${v.mode.toString(8)}" }`;
  return [
    'apiVersion: swarm-warden/v1',
    'kind: ClusterState',
    `metadata: { name: soak }  # variant ${variant}`,
    'spec:',
    '  managers:',
    '    count: 3',
    '    eligible: { labels: { manager-eligible: "true" } }',
    `    replaceUnreachableAfter: ${REPLACE_UNREACHABLE_AFTER}`,
    '  nodes:',
    '    - { match: { hostname: "manager-*" }, labels: { tier: control } }',
    '    - { match: { hostname: "worker-*" }, labels: { tier: app } }',
    '    - { match: { hostname: worker-1 }, labels: { manager-eligible: "true" } }',
    '  services:',
    `    - { name: ${REGISTRY} }`,
    `    - { name: soak-api, replicas: ${r['soak-api']}, placement: { constraints: ["node.labels.tier == app"] } }`,
    `    - { name: soak-web, replicas: ${r['soak-web']}, placement: { maxReplicasPerNode: 2 }, dependsOn: [soak-api], rebalance: true }`,
    `    - { name: soak-db, replicas: ${r['soak-db']}, placement: { constraints: ["node.labels.tier == control"] } }`,
    '  volumes:',
    ...VOLUMES.map(vol),
    '  registry:',
    `    service: ${REGISTRY}`,
    `    address: "${registryAddress}"`,
    '  policy:',
    `    resync: "${SOAK_RESYNC}"`,
    '',
  ].join('\n');
}
