// `warden export`: a desired-state file written from what the swarm runs today, so an operator
// starts from the live cluster instead of a blank page. The result is checked with the loader
// before it is returned: an export that `warden validate` would refuse is a bug, not an output.
// Pure over what the command read from the engine (src/commands/export.ts reads it).
import { Document, isMap, isSeq, type Node } from 'yaml';
import type { SwarmNode, SwarmService } from '../docker/port.js';
import { loadDesiredStateText } from './load.js';
import { API_VERSION } from './schema.js';
import { DesiredStateError } from './source.js';

/** ExportOptions tune what exportDesiredState writes. */
export interface ExportOptions {
  /** ignoreLabel: nodes and services labelled <ignoreLabel>=true are left out; default warden.ignore. */
  ignoreLabel?: string;
  /** schemaUrl goes in the yaml-language-server comment; default ./desired-state.schema.json (write it with `warden schema`). */
  schemaUrl?: string;
}

/** LiveCluster is what export reads from a manager's engine: its hostname, the nodes and the services. */
export interface LiveCluster {
  /** hostname is the engine's, for the file's header comment ("" when unknown). */
  hostname: string;
  nodes: readonly SwarmNode[];
  services: readonly SwarmService[];
}

// Hostnames the selector can match literally: no glob characters.
const LITERAL_HOSTNAME = /^[A-Za-z0-9._-]+$/;

/** exportDesiredState returns a valid desired-state file named `name` that describes `cluster`. */
export async function exportDesiredState(cluster: LiveCluster, name: string, opts: ExportOptions = {}): Promise<string> {
  const ignoreLabel = opts.ignoreLabel ?? 'warden.ignore';
  const { nodes, services } = cluster;
  const keptNodes = nodes
    .filter((n) => n.labels[ignoreLabel] !== 'true')
    .sort((a, b) => (a.role === b.role ? a.hostname.localeCompare(b.hostname) : a.role === 'manager' ? -1 : 1));
  const keptServices = services
    .filter((s) => s.labels[ignoreLabel] !== 'true' && (s.mode === 'replicated' || s.mode === 'global'))
    .sort((a, b) => a.name.localeCompare(b.name));

  const managers = nodes.filter((n) => n.role === 'manager').length;
  // An even count adds no fault tolerance (4 tolerate 1 failure, as 3 do), and the file must be valid:
  // write the odd count below, which keeps the same tolerance and needs no spare worker.
  const count = Math.min(7, managers % 2 === 0 ? Math.max(1, managers - 1) : managers);

  const hostnames = new Map<string, number>();
  for (const n of nodes) hostnames.set(n.hostname, (hostnames.get(n.hostname) ?? 0) + 1);
  const match = (n: SwarmNode): Record<string, string> =>
    hostnames.get(n.hostname) === 1 && LITERAL_HOSTNAME.test(n.hostname) ? { hostname: n.hostname } : { id: n.id };

  const spec: Record<string, unknown> = {
    managers: { count },
    nodes: keptNodes.map((n) => ({
      match: match(n),
      ...(Object.keys(n.labels).length > 0 ? { labels: sortedLabels(n.labels) } : {}),
      availability: n.availability,
    })),
    services: keptServices.map(serviceEntry),
    // Observe first: the operator reviews the file and `warden plan` before warden changes anything.
    policy: { mode: 'observe' },
  };
  if (keptNodes.length === 0) delete spec.nodes;
  if (keptServices.length === 0) delete spec.services;

  const doc = new Document({ apiVersion: API_VERSION, kind: 'ClusterState', metadata: { name }, spec });
  doc.commentBefore = [
    ` yaml-language-server: $schema=${opts.schemaUrl ?? './desired-state.schema.json'}`,
    ` Exported by \`warden export\` from ${cluster.hostname || 'the swarm'} (${nodes.length} nodes, ${services.length} services).`,
    ' Review it, add what the swarm cannot tell (managers.eligible, dependsOn, volumes, registry),',
    ' check it with `warden plan`, then set policy.mode to enforce.',
  ].join('\n');
  if (count !== managers) {
    const countNode = doc.getIn(['spec', 'managers', 'count'], true) as Node;
    countNode.comment = ` the swarm runs ${managers} managers; ${count} tolerate as many failures`;
  }
  flowSmallCollections(doc);
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: true });

  try {
    await loadDesiredStateText(text, 'export.yml');
  } catch (err) {
    if (err instanceof DesiredStateError) {
      throw new Error(`the exported file would not validate (a bug in warden export):\n${err.message}`, { cause: err });
    }
    throw err;
  }
  return text;
}

function serviceEntry(s: SwarmService): Record<string, unknown> {
  const placement: Record<string, unknown> = {};
  if (s.constraints.length > 0) placement.constraints = [...s.constraints];
  if (s.preferences.length > 0) placement.preferences = [...s.preferences];
  if (s.maxReplicasPerNode > 0) placement.maxReplicasPerNode = s.maxReplicasPerNode;
  return {
    name: s.name,
    // A global service has no replica count: one task per eligible node.
    ...(s.mode === 'replicated' && s.replicas !== undefined ? { replicas: s.replicas } : {}),
    ...(Object.keys(placement).length > 0 ? { placement } : {}),
  };
}

function sortedLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
}

// Selectors, label maps and constraint lists read best on one line, as in the contract's example.
function flowSmallCollections(doc: Document): void {
  for (const section of ['nodes', 'services'] as const) {
    const list = doc.getIn(['spec', section], true);
    if (!isSeq(list)) continue;
    for (const item of list.items) {
      if (!isMap(item)) continue;
      for (const key of ['match', 'labels']) {
        const n = item.get(key, true);
        if (isMap(n)) n.flow = true;
      }
      const placement = item.get('placement', true);
      if (isMap(placement)) {
        for (const key of ['constraints', 'preferences']) {
          const n = placement.get(key, true);
          if (isSeq(n)) n.flow = true;
        }
      }
    }
  }
}
