// `warden run` whose host reads never answer, as lstat on a hard NFS mount does once its server is gone
// (a real one needs a NAS, which this machine has not). The rest is the real daemon: the engine, the
// desired-state file, the HTTP endpoints, SIGTERM. The registry probe is the real one.
// Usage: node --import tsx test/support/hung-host-run.ts run -f FILE --host URL --listen ADDR
import { runCommand } from '../../src/commands/controller.js';
import { probeRegistry } from '../../src/host/probe.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const file = flag('-f');
const listen = flag('--listen');
if (args[0] !== 'run' || !file || !listen) {
  process.stderr.write('usage: hung-host-run.ts run -f FILE --host URL --listen ADDR\n');
  process.exit(2);
}
const host = flag('--host');
const code = await runCommand(
  { file, listen, logLevel: 'info', gitRef: 'main', gitPath: 'warden.yml', gitInterval: '60s', ...(host ? { host } : {}) },
  // The read ignores its abort signal, as a process blocked in the kernel does.
  { host: { inspectPaths: () => new Promise<never>(() => undefined), probe: probeRegistry } },
);
process.exitCode = code;
// As the real entry point: output gets a moment, then the process exits whatever is still pending.
setTimeout(() => process.exit(code), 200).unref();
