// A real Docker port that counts its calls by method, so that tests can say "no write call was made".
import type { DockerPort } from '../../src/docker/port.js';

/** CountingPort is a port with per-method call counts. */
export type CountingPort = DockerPort & { counts: Map<string, number>; writes(): number };

/** counting wraps a port; every call is forwarded unchanged and counted. */
export function counting(port: DockerPort): CountingPort {
  const counts = new Map<string, number>();
  const count = (name: string): void => {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  };
  return {
    counts,
    writes: () => (counts.get('updateService') ?? 0) + (counts.get('updateNode') ?? 0),
    info: () => (count('info'), port.info()),
    listNodes: () => (count('listNodes'), port.listNodes()),
    inspectNode: (id) => (count('inspectNode'), port.inspectNode(id)),
    updateNode: (id, version, spec) => (count('updateNode'), port.updateNode(id, version, spec)),
    listServices: (opts) => (count('listServices'), port.listServices(opts)),
    inspectService: (id) => (count('inspectService'), port.inspectService(id)),
    updateService: (id, version, spec) => (count('updateService'), port.updateService(id, version, spec)),
    listTasks: (filter) => (count('listTasks'), port.listTasks(filter)),
    events: (signal) => (count('events'), port.events(signal)),
  };
}
