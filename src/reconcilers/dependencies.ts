// The restart-ordering graph: which services wait for which, from `dependsOn` and the registry. The
// ordering reconciler restarts along it, `warden recover` walks it in waves, and `replicas` reads it to
// leave to ordering the stuck services ordering reports, so that each is counted once.
import type { DesiredState } from '../desired-state/types.js';
import type { SwarmService } from '../docker/port.js';

/** DependencyGraph maps each service warden orders to the services it waits for. */
export type DependencyGraph = Map<string, Set<string>>;

/** ordersRestarts tells whether ordering has a graph at all: a registry, or a dependsOn somewhere. */
export function ordersRestarts(desired: DesiredState): boolean {
  return desired.registry !== undefined || (desired.services ?? []).some((s) => (s.dependsOn?.length ?? 0) > 0);
}

/** orderable tells whether ordering may restart a service: replicated or global; a forced update of a job runs it again. */
export function orderable(svc: SwarmService): boolean {
  return svc.mode === 'replicated' || svc.mode === 'global';
}

/**
 * dependencyGraph builds the graph from `dependsOn` (compose `depends_on` is already folded into it by
 * the loader) and the registry: every service whose image is `<registry.address>/...` depends on
 * `registry.service`. Its nodes are the desired services, the registry, and the registry's dependents
 * (`warden recover` restarts them all; the ordering reconciler only when ordersRestarts).
 */
export function dependencyGraph(desired: DesiredState, services: readonly SwarmService[]): DependencyGraph {
  const graph: DependencyGraph = new Map();
  const node = (name: string): Set<string> => {
    let deps = graph.get(name);
    if (!deps) graph.set(name, (deps = new Set()));
    return deps;
  };
  for (const s of desired.services ?? []) {
    const deps = node(s.name);
    for (const d of s.dependsOn ?? []) deps.add(d);
  }
  const registry = desired.registry;
  if (registry) {
    node(registry.service);
    for (const svc of services) {
      // The registry itself runs from a local image; it never waits for itself.
      if (svc.name !== registry.service && fromRegistry(svc.image, registry.address)) node(svc.name).add(registry.service);
    }
  }
  return graph;
}

/** fromRegistry tells whether an image reference names the registry at `address` (`address/repo[:tag][@digest]`). */
export function fromRegistry(image: string, address: string): boolean {
  return image.toLowerCase().startsWith(`${address.toLowerCase()}/`);
}

/**
 * findCycle returns one cycle of the graph as a path that ends where it starts, or undefined. The loader
 * refuses `dependsOn` cycles; a cycle through the registry (the registry depends on a service whose image
 * it serves) can only be seen with the live services, so the plan reports it.
 */
export function findCycle(graph: DependencyGraph): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  let found: string[] | undefined;
  const visit = (name: string, trail: string[]): void => {
    if (found || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      found = [...trail.slice(trail.indexOf(name)), name];
      return;
    }
    state.set(name, 'visiting');
    for (const dep of graph.get(name) ?? []) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of graph.keys()) visit(name, []);
  return found;
}

/** waves orders the graph into levels: each service comes one wave after the last of its dependencies (the graph must have no cycle). */
export function waves(graph: DependencyGraph): string[][] {
  const level = new Map<string, number>();
  const levelOf = (name: string): number => {
    const known = level.get(name);
    if (known !== undefined) return known;
    level.set(name, 0); // a cycle would recurse forever; callers check findCycle first
    let l = 0;
    for (const dep of graph.get(name) ?? []) if (graph.has(dep)) l = Math.max(l, levelOf(dep) + 1);
    level.set(name, l);
    return l;
  };
  const out: string[][] = [];
  for (const name of [...graph.keys()].sort()) {
    const l = levelOf(name);
    (out[l] ??= []).push(name);
  }
  return out.filter((w) => w !== undefined);
}
