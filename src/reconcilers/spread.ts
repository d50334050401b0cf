// The spread swarmkit's scheduler can reach, for rebalance. The scheduler (manager/scheduler/nodeset.go
// `tree`, scheduler.go `scheduleNTasksOnSubtree`) spreads a service's tasks over a tree: one level per
// spread preference (`node.labels.<key>` or `engine.labels.<key>`; a node without the label is under "";
// other descriptors are skipped), its nodes at the leaves. At every level it splits the tasks evenly
// between the branches that still have room, and a branch without room takes what it can; at a leaf it
// puts each task on the node with the fewest. So the spread it reaches has, in every group of siblings,
// no branch or node two tasks below another one while it still has room. Where the running tasks break
// that somewhere, a forced rolling update (every task scheduled again) can make them more even; where they
// do not, no update can, however uneven the nodes look side by side (one node in zone a holds 3, three
// nodes in zone b hold 1 each: as even as zones allow).
import type { SwarmNode } from '../docker/port.js';

const NODE_LABEL = 'node.labels.';
const ENGINE_LABEL = 'engine.labels.';

/** SpreadGroup is one branch of the tree: a set of nodes sharing a preference's value, or one node at a leaf. */
export interface SpreadGroup {
  /** name is the node's hostname at a leaf, the preference's value above ("" for nodes without the label). */
  name: string;
  /** level names what the children differ by: a preference's descriptor, or `node` (absent at a leaf). */
  level?: string;
  /** tasks counts the service's running tasks on the group's nodes. */
  tasks: number;
  /** room is how many more tasks the group's nodes may take (Infinity without a per-node limit). */
  room: number;
  children: SpreadGroup[];
}

/**
 * preferenceValue is a node's value for a spread descriptor as swarmkit reads it: the prefix case-
 * insensitive, the label key exact, "" when the node lacks the label; undefined for a descriptor the
 * scheduler skips.
 */
export function preferenceValue(node: SwarmNode, descriptor: string): string | undefined {
  const lower = descriptor.toLowerCase();
  if (lower.startsWith(NODE_LABEL) && descriptor.length > NODE_LABEL.length) return node.labels[descriptor.slice(NODE_LABEL.length)] ?? '';
  if (lower.startsWith(ENGINE_LABEL) && descriptor.length > ENGINE_LABEL.length) return node.engineLabels[descriptor.slice(ENGINE_LABEL.length)] ?? '';
  return undefined;
}

// Whether the scheduler builds a level of its tree for a descriptor.
function spreads(descriptor: string): boolean {
  const lower = descriptor.toLowerCase();
  return (lower.startsWith(NODE_LABEL) && descriptor.length > NODE_LABEL.length) || (lower.startsWith(ENGINE_LABEL) && descriptor.length > ENGINE_LABEL.length);
}

/**
 * spreadTree builds the scheduler's tree over the nodes that may take the service's tasks (ready, active,
 * allowed by its placement), with `tasksOn(nodeId)` running tasks on each and at most `limit` per node.
 */
export function spreadTree(nodes: readonly SwarmNode[], preferences: readonly string[], tasksOn: (nodeId: string) => number, limit: number): SpreadGroup {
  const known = preferences.filter(spreads);
  const build = (name: string, members: readonly SwarmNode[], depth: number): SpreadGroup => {
    const descriptor = known[depth];
    let children: SpreadGroup[];
    if (descriptor === undefined) {
      children = members.map((n) => {
        const tasks = tasksOn(n.id);
        return { name: n.hostname || n.id, tasks, room: Math.max(0, limit - tasks), children: [] };
      });
    } else {
      const byValue = new Map<string, SwarmNode[]>();
      for (const n of members) {
        const value = preferenceValue(n, descriptor) ?? '';
        byValue.set(value, [...(byValue.get(value) ?? []), n]);
      }
      children = [...byValue].map(([value, group]) => build(value, group, depth + 1));
    }
    children.sort((a, b) => a.name.localeCompare(b.name));
    return {
      name,
      level: descriptor ?? 'node',
      tasks: children.reduce((sum, c) => sum + c.tasks, 0),
      room: children.reduce((sum, c) => sum + c.room, 0),
      children,
    };
  };
  return build('', nodes, 0);
}

/** Unevenness is where a spread is worse than the scheduler's: a group of siblings with one two or more below another, with room. */
export interface Unevenness {
  /** path names the group whose children differ, from the root: `node.labels.zone=b` (empty at the root). */
  path: string[];
  /** level is what the siblings differ by: a preference's descriptor, or `node`. */
  level: string;
  siblings: SpreadGroup[];
  /** gap is how many more tasks the most loaded sibling holds than the least loaded one with room. */
  gap: number;
}

/**
 * unevenness finds the first group of siblings, from the top, in which the most loaded holds two or more
 * tasks more than the least loaded that still has room; undefined when there is none, which is the
 * spread the scheduler reaches (a difference of one is the remainder of an uneven split).
 */
export function unevenness(root: SpreadGroup): Unevenness | undefined {
  const visit = (group: SpreadGroup, path: string[]): Unevenness | undefined => {
    if (group.children.length === 0) return undefined;
    const most = Math.max(...group.children.map((c) => c.tasks));
    const roomy = group.children.filter((c) => c.room > 0).map((c) => c.tasks);
    if (roomy.length > 0 && most - Math.min(...roomy) >= 2) {
      return { path, level: group.level ?? 'node', siblings: group.children, gap: most - Math.min(...roomy) };
    }
    for (const c of group.children) {
      const found = visit(c, group.level && group.level !== 'node' ? [...path, `${group.level}=${c.name}`] : path);
      if (found) return found;
    }
    return undefined;
  };
  return visit(root, []);
}
