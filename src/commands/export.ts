// `warden export`: write a desired-state file from the live cluster (stdout, or --output FILE).
import { writeFile } from 'node:fs/promises';
import { createDockerPort, type EngineOptions } from '../docker/engine.js';
import { exportDesiredState } from '../desired-state/export.js';

/** exportCommand writes a desired-state file from the live cluster: 0 written, 2 error; --name defaults to "swarm". */
export async function exportCommand(opts: EngineOptions & { output?: string; name?: string }): Promise<number> {
  const name = opts.name ?? 'swarm';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    process.stderr.write(`warden: --name ${JSON.stringify(name)}: letters, digits, "_", "." and "-", at most 63\n`);
    return 2;
  }
  try {
    const port = createDockerPort({ host: opts.host, context: opts.context });
    const text = await exportDesiredState(port, name);
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
