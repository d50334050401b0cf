// Reading the cluster: one snapshot per pass, with a fixed number of list calls.
import type { DockerPort } from '../docker/port.js';
import type { Observed } from '../reconcilers/types.js';

/** observe reads info, nodes, services (with status) and tasks in parallel: four calls, whatever the cluster's size. */
export async function observe(port: DockerPort, now: () => number): Promise<Observed> {
  const [info, nodes, services, tasks] = await Promise.all([
    port.info(),
    port.listNodes(),
    port.listServices(),
    port.listTasks(),
  ]);
  return { info, nodes, services, tasks, at: now() };
}

/** leaderOf returns the id of the node that is the Raft leader, if the snapshot shows one. */
export function leaderOf(observed: Observed): string | undefined {
  return observed.nodes.find((n) => n.manager?.leader)?.id;
}

/** managerHealth counts managers by reachability and the failures the swarm can still tolerate. */
export function managerHealth(observed: Observed): { reachable: number; unreachable: number; faultTolerance: number } {
  const managers = observed.nodes.filter((n) => n.role === 'manager' && n.manager);
  const reachable = managers.filter((n) => n.manager?.reachability === 'reachable').length;
  const quorum = Math.floor(managers.length / 2) + 1;
  return { reachable, unreachable: managers.length - reachable, faultTolerance: Math.max(0, reachable - quorum) };
}
