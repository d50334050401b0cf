// Which nodes a service's placement constraints allow, judged as swarmkit's scheduler judges them
// (manager/constraint): every constraint must hold; `==` and `!=` only; attribute names are
// case-insensitive, label keys case-sensitive, values case-insensitive; a missing label or attribute is
// "". Warden uses it to know where a service may run, never to place tasks itself.
import { BlockList, isIP } from 'node:net';
import type { SwarmNode } from '../docker/port.js';

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
