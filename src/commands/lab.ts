// `warden lab up | down | status`: the local multi-node swarm (see docs/lab.md).
import { labDown, labStatus, labUp, LabError } from '../lab/lab.js';

/** LabCommandOptions are the flags of `warden lab`. */
export interface LabCommandOptions {
  lab: string;
  managers?: number;
  workers?: number;
  /** engine is `lab up --engine`: newest (default), a major.minor such as 28.5, or system. */
  engine?: string;
}

/** labCommand runs a lab subcommand and returns its exit code: 0, or 2 with the reason on stderr. */
export async function labCommand(action: 'up' | 'down' | 'status', opts: LabCommandOptions): Promise<number> {
  const id = Number.parseInt(opts.lab, 10);
  try {
    if (action === 'up') {
      const started = Date.now();
      await labUp({
        id,
        managers: opts.managers ?? 3,
        workers: opts.workers ?? 2,
        engine: opts.engine ?? 'newest',
        log: (line) => process.stderr.write(`lab: ${line}\n`),
      });
      process.stderr.write(`lab: up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      await printStatus(id);
    } else if (action === 'down') {
      await labDown(id);
      process.stderr.write(`lab: lab ${id} is down\n`);
    } else {
      await printStatus(id);
    }
    return 0;
  } catch (err) {
    const prefix = err instanceof LabError ? '' : 'unexpected: ';
    process.stderr.write(`warden lab ${action}: ${prefix}${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

async function printStatus(id: number): Promise<void> {
  const { engine, nodes, dockerHost } = await labStatus(id);
  const rows = [['NODE', 'ROLE', 'IP', 'ENGINE', 'VERSION', 'DOCKER_HOST'], ...nodes.map((n) => [n.name, n.role, n.ip, n.engine, n.version || '-', n.host])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
  const from = engine.name === 'system' ? 'the dockerd on PATH' : `Debian's docker.io ${engine.pkg}, docker CLI ${engine.docker}`;
  process.stdout.write(`\nengine: ${engine.name} (${from})\n`);
  process.stdout.write(dockerHost ? `export DOCKER_HOST=${dockerHost}\n` : 'no manager engine is running\n');
}
