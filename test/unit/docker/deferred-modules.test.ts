// The engine port loads dockerode without the modules of features warden never uses (ssh2 through
// docker-modem's ssh transport or warden's own, gRPC and protobufjs through dockerode's BuildKit session),
// and those modules still work when something calls them. Each check runs in a fresh node process: the
// test runner's own process may have loaded anything already.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFERRED_MODULES, deferredFiles } from '../../../src/docker/deferred-modules.js';

const ROOT = join(import.meta.dirname, '../../..');
const HEAVY = /node_modules\/(ssh2|cpu-features|@grpc|protobufjs)\//;

/** inChild runs an ES module body in a new node process (TypeScript through tsx) and returns what it printed as JSON. */
function inChild(body: string): unknown {
  const script = [
    "import { createRequire } from 'node:module';",
    'const require = createRequire(import.meta.url);',
    `const heavy = () => Object.keys(require.cache).filter((f) => ${HEAVY}.test(f)).map((f) => f.replace(/.*node_modules\\//, ''));`,
    body,
  ].join('\n');
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out) as unknown;
}

// Each case starts a node process with the TypeScript loader: seconds on a busy machine.
describe('deferred modules', { timeout: 60_000 }, () => {
  it('finds every deferred file where dockerode keeps it (else it would load eagerly again)', () => {
    const files = deferredFiles();
    expect(files).toHaveLength(DEFERRED_MODULES.length);
    for (const f of files) expect(existsSync(f), f).toBe(true);
  });

  it('an engine port for a unix socket loads neither ssh2 nor gRPC', () => {
    const loaded = inChild([
      "const { createDockerPort } = await import('./src/docker/engine.ts');",
      "createDockerPort({ host: 'unix:///nonexistent/docker.sock' });",
      'console.log(JSON.stringify(heavy()));',
    ].join('\n'));
    expect(loaded).toEqual([]);
  });

  it('docker-modem\'s ssh transport loads ssh2 when called, and returns its agent', () => {
    const seen = inChild([
      "await import('./src/docker/engine.ts');",
      "const ssh = require(require.resolve('docker-modem/lib/ssh.js', { paths: [require.resolve('dockerode')] }));",
      'const before = heavy().some((f) => f.startsWith("ssh2/"));',
      "const agent = ssh({ host: '127.0.0.1', port: 1 });",
      "console.log(JSON.stringify({ before, after: heavy().some((f) => f.startsWith('ssh2/')), agent: agent.constructor.name, dials: typeof agent.createConnection }));",
    ].join('\n'));
    expect(seen).toEqual({ before: false, after: true, agent: 'Agent', dials: 'function' });
  });

  it('dockerode\'s BuildKit session loads gRPC when called, and passes its arguments through', () => {
    const seen = inChild([
      "await import('./src/docker/engine.ts');",
      "const { dirname, join } = await import('node:path');",
      "const withSession = require(join(dirname(require.resolve('dockerode')), 'session.js'));",
      'const before = heavy().some((f) => f.startsWith("@grpc/"));',
      "const docker = { modem: { dial: (_opts, cb) => cb(new Error('no engine here')) } };",
      'const err = await new Promise((resolve) => withSession(docker, undefined, (e) => resolve(e)));',
      "console.log(JSON.stringify({ before, after: heavy().some((f) => f.startsWith('@grpc/')), err: err.message }));",
    ].join('\n'));
    expect(seen).toEqual({ before: false, after: true, err: 'no engine here' });
  });
});
