// `warden export`: write a desired-state file from the live cluster (stdout, or --output FILE).
import { writeFile } from 'node:fs/promises';
import { createDockerPort, type EngineOptions } from '../docker/engine.js';
import type { DockerPort } from '../docker/port.js';
import { exportDesiredState, type LiveCluster } from '../desired-state/export.js';

/** readLiveCluster reads what export describes, from a manager's engine (a worker's is refused). */
export async function readLiveCluster(port: DockerPort): Promise<LiveCluster> {
  const info = await port.info();
  if (!info.controlAvailable) {
    throw new Error(`${info.hostname || 'this engine'} is not a swarm manager: export reads the swarm from a manager`);
  }
  const [nodes, services] = await Promise.all([port.listNodes(), port.listServices({ status: false })]);
  return { hostname: info.hostname, nodes, services };
}

/** exportCommand writes a desired-state file from the live cluster: 0 written, 2 error; --name defaults to "swarm". */
export async function exportCommand(opts: EngineOptions & { output?: string; name?: string }): Promise<number> {
  const name = opts.name ?? 'swarm';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    process.stderr.write(`warden: --name ${JSON.stringify(name)}: letters, digits, "_", "." and "-", at most 63\n`);
    return 2;
  }
  try {
    const port = createDockerPort({ host: opts.host, context: opts.context });
    const text = await exportDesiredState(await readLiveCluster(port), name);
    if (opts.output !== undefined) {
      await writeFile(opts.output, text);
      process.stderr.write(`wrote ${opts.output}; check it with: warden validate ${opts.output}\n`);
    } else {
      process.stdout.write(text);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`warden: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}
