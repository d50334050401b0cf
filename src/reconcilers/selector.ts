// Node selectors (`spec.nodes[].match`, `spec.managers.eligible`): every field given must match.
import picomatch from 'picomatch';
import type { NodeSelector } from '../desired-state/types.js';
import type { SwarmNode } from '../docker/port.js';

const globs = new Map<string, (s: string) => boolean>();

/** matchesSelector tells whether a node matches every field the selector gives (hostname is a glob). */
export function matchesSelector(node: SwarmNode, sel: NodeSelector): boolean {
  if (sel.id !== undefined && node.id !== sel.id) return false;
  if (sel.role !== undefined && node.role !== sel.role) return false;
  if (sel.hostname !== undefined) {
    let match = globs.get(sel.hostname);
    if (!match) globs.set(sel.hostname, (match = picomatch(sel.hostname, { nocase: true })));
    if (!match(node.hostname)) return false;
  }
  return Object.entries(sel.labels ?? {}).every(([k, v]) => node.labels[k] === v);
}

/** describeSelector renders a selector as the file wrote it, for messages. */
export function describeSelector(sel: NodeSelector): string {
  const parts: string[] = [];
  if (sel.hostname !== undefined) parts.push(`hostname ${sel.hostname}`);
  if (sel.id !== undefined) parts.push(`id ${sel.id}`);
  if (sel.role !== undefined) parts.push(`role ${sel.role}`);
  for (const [k, v] of Object.entries(sel.labels ?? {})) parts.push(`label ${k}=${v}`);
  return parts.join(', ');
}
