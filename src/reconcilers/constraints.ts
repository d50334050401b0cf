// Which nodes a service's placement constraints allow, judged as swarmkit's scheduler judges them
// (manager/constraint): every constraint must hold; `==` and `!=` only; attribute names are
// case-insensitive, label keys case-sensitive, values case-insensitive; a missing label or attribute is
// "". Then the scheduler's other per-node filters warden can judge from what it reads (manager/scheduler/
// filter.go): platforms, max replicas per node, host-mode ports. Warden uses it to know where a service
// may run (rebalance, nodes), never to place tasks itself.
import { BlockList, isIP } from 'node:net';
import type { SwarmNode, SwarmService } from '../docker/port.js';

/** Constraint is one parsed placement constraint: `key op value`. */
export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

/** parseConstraint reads `node.labels.zone == a` (spaces optional); undefined when it is not a constraint. */
export function parseConstraint(text: string): Constraint | undefined {
  // `!=` is tried before `==` so that `a!=b` is not read as key `a!` (swarmkit tries operators in order too).
  const m = /^\s*([^\s=!]+)\s*(!=|==)\s*(.*?)\s*$/.exec(text);
  if (!m) return undefined;
  return { key: m[1]!, op: m[2] as Constraint['op'], value: m[3]! };
}

const NODE_LABEL = 'node.labels.';
const ENGINE_LABEL = 'engine.labels.';

// The node's value for a constraint key; undefined when the key names nothing swarm knows (no match).
function attribute(node: SwarmNode, key: string): string | undefined {
  const lower = key.toLowerCase();
  switch (lower) {
    case 'node.id':
      return node.id;
    case 'node.hostname':
      return node.hostname;
    case 'node.role':
      return node.role;
    case 'node.platform.os':
      return node.platform.os;
    case 'node.platform.arch':
      return node.platform.arch;
    default:
      break;
  }
  // The prefix is matched case-insensitively, the label key itself exactly (as swarmkit does).
  if (lower.startsWith(NODE_LABEL)) return node.labels[key.slice(NODE_LABEL.length)] ?? '';
  if (lower.startsWith(ENGINE_LABEL)) return node.engineLabels[key.slice(ENGINE_LABEL.length)] ?? '';
  return undefined;
}

// node.ip compares with an address or a CIDR subnet; a malformed one matches no node, whatever the operator.
function ipMatches(addr: string, c: Constraint): boolean {
  const [net, bits] = c.value.split('/');
  const family = isIP(net ?? '');
  const nodeFamily = isIP(addr);
  if (family === 0 || nodeFamily === 0) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const list = new BlockList();
  if (bits === undefined) list.addAddress(net!, type);
  else {
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) return false;
    list.addSubnet(net!, prefix, type);
  }
  const inside = list.check(addr, nodeFamily === 4 ? 'ipv4' : 'ipv6');
  return c.op === '==' ? inside : !inside;
}

/** constraintMatches tells whether one constraint holds on a node (an unknown attribute never holds). */
export function constraintMatches(node: SwarmNode, c: Constraint): boolean {
  if (c.key.toLowerCase() === 'node.ip') return ipMatches(node.addr, c);
  const have = attribute(node, c.key);
  if (have === undefined) return false;
  const equal = have.toLowerCase() === c.value.toLowerCase();
  return c.op === '==' ? equal : !equal;
}

/** nodeMatches tells whether every constraint holds on a node; text that is not a constraint matches no node. */
export function nodeMatches(node: SwarmNode, constraints: readonly string[]): boolean {
  return constraints.every((text) => {
    const c = parseConstraint(text);
    return c !== undefined && constraintMatches(node, c);
  });
}

/** Platform is one entry of a service's `Placement.Platforms` (an empty field matches any node). */
export interface Platform {
  os: string;
  arch: string;
}

/** servicePlatforms reads a service's `Placement.Platforms` leniently (empty when it lists none). */
export function servicePlatforms(svc: SwarmService): Platform[] {
  const raw = svc.spec.TaskTemplate?.Placement?.Platforms;
  if (!Array.isArray(raw)) return [];
  return raw.map((p: { OS?: unknown; Architecture?: unknown }) => ({
    os: typeof p?.OS === 'string' ? p.OS : '',
    arch: typeof p?.Architecture === 'string' ? p.Architecture : '',
  }));
}

// swarmkit's PlatformFilter reads x86_64 as amd64 and aarch64 as arm64, on both sides.
function arch(a: string): string {
  return a === 'x86_64' ? 'amd64' : a === 'aarch64' ? 'arm64' : a;
}

/** platformMatches tells whether a node's platform is one of `platforms` (any node when the list is empty), as swarmkit's PlatformFilter. */
export function platformMatches(node: SwarmNode, platforms: readonly Platform[]): boolean {
  if (platforms.length === 0) return true;
  return platforms.some((p) => (p.arch === '' || arch(p.arch) === arch(node.platform.arch)) && (p.os === '' || p.os === node.platform.os));
}

/** placementAllows tells whether a service's constraints and platforms allow a node, whatever its state and availability. */
export function placementAllows(node: SwarmNode, svc: SwarmService): boolean {
  return nodeMatches(node, svc.constraints) && platformMatches(node, servicePlatforms(svc));
}

/**
 * perNodeLimit is how many tasks of a service one node may run: `Placement.MaxReplicas` (0: no limit),
 * and 1 when it publishes a port in host mode (swarmkit's HostPortFilter: the port is taken on that node).
 * Infinity when nothing limits it. Resources are not counted: warden does not see every reservation.
 */
export function perNodeLimit(svc: SwarmService): number {
  let limit = svc.maxReplicasPerNode > 0 ? svc.maxReplicasPerNode : Infinity;
  const ports = (svc.spec.EndpointSpec as { Ports?: Array<{ PublishMode?: unknown; PublishedPort?: unknown }> } | undefined)?.Ports;
  if (Array.isArray(ports) && ports.some((p) => p?.PublishMode === 'host' && typeof p.PublishedPort === 'number' && p.PublishedPort !== 0)) limit = Math.min(limit, 1);
  return limit;
}
