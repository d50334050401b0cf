// The nodes reconciler (contract §2, `spec.nodes`): the labels matched nodes must carry and their
// availability. Labels the file does not name are left alone. Drain and pause are disruptive (they move
// or freeze tasks), so they wait for the disruptive window; labels and a return to active do not.
//
// Blast radius: a selector can match every node (`hostname: "*"` with `availability: drain`), so a drain
// or pause is held, and says why, when it would take away
// - the node of the engine warden talks to (where warden runs: draining it stops warden's own task);
// - a node running the registry's task (`spec.registry`): every node pulls its images from it;
// - a node some service cannot do without: a service that runs tasks (replicated with replicas > 0, or
//   global) needs at least one ready, active node that its constraints and platforms allow, and as many as
//   its replicas need at its per-node limit (maxReplicasPerNode, one per node with a host-mode port):
//   ceil(replicas / limit). A drain or pause that would leave it fewer is held.
// Drains are judged in hostname order, each against the cluster as the ones let through before it leave
// it, so that one pass cannot take several nodes that only together a service needs.
import type { DesiredState } from '../desired-state/types.js';
import type { NodeAvailability, SwarmNode, SwarmService } from '../docker/port.js';
import { perNodeLimit, placementAllows } from './constraints.js';
import { describeSelector, matchesSelector } from './selector.js';
import { isIgnored, type Action, type Drift, type Observed, type Reconciler } from './types.js';

/** nodes keeps the labels and availability that `spec.nodes` asks of the nodes its selectors match. */
export const nodes: Reconciler<'nodes'> = {
  id: 'nodes',
  actions: ['update-node'],
  tasks(desired, services) {
    // Where the registry runs matters only when some entry may take a node out of service.
    const registry = desired.registry && takesNodesOut(desired) ? services.find((s) => s.name === desired.registry!.service) : undefined;
    return registry ? { services: new Set([registry.id]) } : {};
  },
  plan(desired, observed) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    const entries = desired.nodes ?? [];
    // What each node must be, with later entries winning where two name the same label.
    const wants = new Map<string, { labels: Record<string, string>; availability?: NodeAvailability }>();
    entries.forEach((entry, i) => {
      const matched = observed.nodes.filter((n) => matchesSelector(n, entry.match));
      if (matched.length === 0) {
        drift.push({ object: `nodes[${i}]`, message: `the selector (${describeSelector(entry.match)}) matches no node` });
        return;
      }
      for (const n of matched) {
        const want = wants.get(n.id) ?? { labels: {} };
        Object.assign(want.labels, entry.labels ?? {});
        if (entry.availability) want.availability = entry.availability;
        wants.set(n.id, want);
      }
    });
    const guard = new BlastRadius(desired, observed);
    for (const node of [...observed.nodes].sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id))) {
      const want = wants.get(node.id);
      if (!want) continue;
      const labels = Object.fromEntries(Object.entries(want.labels).filter(([k, v]) => node.labels[k] !== v));
      const availability = want.availability !== undefined && want.availability !== node.availability ? want.availability : undefined;
      if (Object.keys(labels).length === 0 && !availability) continue;
      const ignored = isIgnored(node.labels, desired.policy.ignoreLabel);
      const what: string[] = [];
      if (Object.keys(labels).length > 0) {
        what.push(`labels ${Object.entries(labels).map(([k, v]) => `${k}=${node.labels[k] ?? '(none)'} (wants ${v})`).join(', ')}`);
        const before = Object.fromEntries(Object.keys(labels).map((k) => [k, node.labels[k] ?? null]));
        actions.push({
          kind: 'update-node', reconciler: 'nodes', object: node.hostname, nodeId: node.id, labels,
          before: { labels: before }, after: { labels }, disruptive: false, ignored,
        });
      }
      if (availability) {
        // Leaving active moves tasks away (drain) or stops new ones landing (pause); returning is harmless.
        const leaving = availability !== 'active';
        const held = leaving && !ignored ? guard.take(node) : undefined;
        what.push(`availability ${node.availability} (wants ${availability})${held ? `; held: ${held}` : ''}`);
        actions.push({
          kind: 'update-node', reconciler: 'nodes', object: node.hostname, nodeId: node.id, availability,
          before: { availability: node.availability }, after: { availability }, disruptive: leaving, ignored,
          ...(held ? { held } : {}),
        });
      }
      if (!ignored) drift.push({ object: node.hostname, message: what.join('; ') });
    }
    return { drift, actions };
  },
};

function takesNodesOut(desired: DesiredState): boolean {
  return (desired.nodes ?? []).some((e) => e.availability === 'drain' || e.availability === 'pause');
}

/**
 * BlastRadius decides, drain by drain, whether a node may leave active: it remembers the ones it let
 * through in this pass, so that each is judged against the cluster as the earlier ones leave it.
 */
class BlastRadius {
  private readonly out = new Set<string>();
  private readonly registryNodes: Set<string>;
  private readonly services: SwarmService[];

  constructor(
    private readonly desired: DesiredState,
    private readonly observed: Observed,
  ) {
    const registry = desired.registry ? observed.services.find((s) => s.name === desired.registry!.service) : undefined;
    this.registryNodes = new Set(
      registry ? observed.tasks.filter((t) => t.serviceId === registry.id && t.state === 'running' && t.desiredState === 'running').map((t) => t.nodeId) : [],
    );
    // The services that run tasks; a job finishes, and a service scaled to 0 needs no node.
    this.services = observed.services.filter((s) => s.mode === 'global' || (s.mode === 'replicated' && (s.replicas ?? 0) > 0));
  }

  /** take returns why `node` must not leave active now, or undefined and counts it as gone for the drains after it. */
  take(node: SwarmNode): string | undefined {
    const why = this.why(node);
    if (why === undefined) this.out.add(node.id);
    return why;
  }

  private why(node: SwarmNode): string | undefined {
    if (node.id === this.observed.info.nodeId) return 'it is the node of the engine warden reads (where warden runs), and warden never takes its own node out of service';
    if (this.registryNodes.has(node.id)) return `it runs the registry (${this.desired.registry!.service}), which every node pulls its images from`;
    const available = (n: SwarmNode): boolean => n.state === 'ready' && n.availability === 'active' && !this.out.has(n.id);
    if (!available(node)) return undefined;
    const short: string[] = [];
    for (const svc of this.services) {
      if (!placementAllows(node, svc)) continue;
      const left = this.observed.nodes.filter((n) => n.id !== node.id && available(n) && placementAllows(n, svc)).length;
      const need = needs(svc);
      if (left < need) short.push(`${svc.name} needs ${need} node(s) its placement allows and would have ${left}`);
    }
    if (short.length === 0) return undefined;
    const more = short.length > 3 ? ` and ${short.length - 3} more` : '';
    return `services would be left without the nodes they need: ${short.slice(0, 3).join('; ')}${more}`;
  }
}

// How many ready, active nodes a service needs to run every task: one, or as many as its per-node limit asks.
function needs(svc: SwarmService): number {
  if (svc.mode === 'global') return 1;
  const limit = perNodeLimit(svc);
  return Number.isFinite(limit) ? Math.ceil((svc.replicas ?? 0) / limit) : 1;
}
