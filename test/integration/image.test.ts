// The Dockerfile, built and run on a lab node that reaches no registry: the base image is made here
// (a root file system of busybox, this machine's node and git, with their libraries, `docker import`ed),
// the npm install and compile happen outside the build (prebuilt/ in the context), and the image must
// then run as its unprivileged user, reach the engine through the socket's group and report healthy. It
// says which warden it holds: OCI labels and the revision passed as a build argument, baked in.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError } from '../../src/lab/exec.js';
import { buildImageOffline } from '../support/image.js';
import { restoreLab, testLab } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const tag = `${process.pid.toString(36)}`;
const BASE = `warden-base:t${tag}`;
const IMAGE = `swarm-warden:t${tag}`;
const CONTAINER = `warden-image-${tag}`;
const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;
// Not this checkout's commit: what the image reports must be what the build was given.
const REVISION = `${'0123456789abcdef'.repeat(2)}${process.pid.toString(16).padStart(8, '0')}`;
let dir: string;
let share: string | undefined;

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-image-'));
});

afterAll(async () => {
  const node = lab.nodes[0]!;
  await lab.docker(node, ['rm', '-f', CONTAINER]).catch(() => undefined);
  await lab.docker(node, ['rmi', '-f', IMAGE, `${IMAGE}-wrong`, BASE]).catch(() => undefined);
  if (share) execFileSync('umount', [share]);
  if (dir) rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

describe('the image', () => {
  // An offline build compiles and copies the whole tree: about 45 s on a quiet lab of 20.10, longer on 28.5
  // (its builder is about 1.6 times slower here) and on a loaded machine. The bound is against a hang.
  it('builds offline on a lab node with a local base, runs unprivileged and reports healthy', async () => {
    const node = lab.nodes[0]!;
    const started = Date.now();
    const build = await buildImageOffline(lab, node, dir, BASE, IMAGE, { VERSION, REVISION, SOURCE: 'https://example.com/swarm-warden' });
    process.stderr.write(`image: built offline on ${node.name} in ${Date.now() - started} ms\n`);
    expect(build).toMatch(/Successfully tagged|naming to/);

    const config = JSON.parse(await lab.docker(node, ['image', 'inspect', '--format', '{{json .Config}}', IMAGE])) as {
      User: string; Healthcheck: { Test: string[] }; Entrypoint: string[]; Labels: Record<string, string>;
    };
    expect(config.User).toBe('10001:10001');
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'swarm-warden',
      'org.opencontainers.image.version': VERSION,
      'org.opencontainers.image.revision': REVISION,
      'org.opencontainers.image.source': 'https://example.com/swarm-warden',
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
    // Baked in: the image has no .git and no git call to make; the build's file says it.
    const version = await lab.docker(node, ['run', '--rm', IMAGE, '--version']);
    expect(version).toBe(`warden version ${VERSION}, revision ${REVISION}\n`);
    expect(config.Healthcheck.Test.join(' ')).toContain('/livez');
    // Production dependencies only: no compiler, no test runner.
    const modules = await lab.docker(node, ['run', '--rm', '--entrypoint', 'ls', IMAGE, '/app/node_modules']);
    expect(modules).toContain('dockerode');
    expect(modules).not.toMatch(/^(typescript|vitest|tsx)$/m);

    const file = join(dir, 'warden.yml');
    writeFileSync(file, 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec: {}\n');
    const socketGroup = statSync(node.socket).gid;
    await lab.docker(node, [
      'run', '-d', '--name', CONTAINER, '--health-interval', '1s',
      '-v', `${node.socket}:/var/run/docker.sock`, '--group-add', String(socketGroup),
      '-v', `${file}:/etc/warden/warden.yml:ro`,
      IMAGE, 'run', '-f', '/etc/warden/warden.yml',
    ]);
    const health = await waitUntil('the container to be healthy', async () => {
      const s = (await lab.docker(node, ['inspect', '--format', '{{.State.Health.Status}}', CONTAINER])).trim();
      if (s === 'unhealthy') throw new Error(await lab.docker(node, ['logs', CONTAINER]));
      return s === 'healthy' ? s : undefined;
    }, { timeoutMs: 90_000, intervalMs: 500 });
    expect(health).toBe('healthy');
    // /readyz: the desired state is loaded and the engine answered, through the socket's group, as 10001.
    const ready = await lab.docker(node, ['exec', CONTAINER, 'node', '-e',
      "fetch('http://127.0.0.1:9095/readyz').then(async r=>console.log(r.status, process.getuid()))"]);
    expect(ready.trim()).toBe('200 10001');
    const reported = await lab.docker(node, ['exec', CONTAINER, 'node', '-e',
      "Promise.all(['/status','/metrics'].map(p=>fetch('http://127.0.0.1:9095'+p).then(r=>r.text()))).then(([s,m])=>console.log(JSON.stringify(JSON.parse(s).version), m.split('\\n').find(l=>l.startsWith('warden_build_info{'))))"]);
    expect(reported.trim()).toBe(`${JSON.stringify({ version: VERSION, revision: REVISION })} warden_build_info{version="${VERSION}",revision="${REVISION}"} 1`);
    const git = await lab.docker(node, ['exec', CONTAINER, 'git', '--version']);
    expect(git).toMatch(/^git version/);
  }, 300_000);

  it('refuses to build a VERSION other than package.json\'s, saying which', async () => {
    const node = lab.nodes[0]!;
    // The context of the first build, and the base it imported: this build stops at its first RUN. The
    // legacy builder prints a step's stderr on its stdout: read both.
    const wrong = await promisify(execFile)('docker', [
      '-H', node.host, 'build', '--build-arg', `BASE=${BASE}`, '--build-arg', 'VERSION=9.9.9', '--build-arg', `REVISION=${REVISION}`,
      '-t', `${IMAGE}-wrong`, join(dir, 'ctx'),
    ], { timeout: 300_000 }).then(() => undefined, (err: { code?: unknown; stdout?: string; stderr?: string }) => err);
    expect(wrong?.code).toBe(1);
    expect(`${wrong?.stdout}${wrong?.stderr}`).toContain(`VERSION=9.9.9 but package.json says ${VERSION}: build the version the context holds`);
  });

  it('changes volumes as root with only CHOWN, FOWNER and DAC_OVERRIDE, and cannot without them', async () => {
    const node = lab.nodes[0]!;
    // The host's view, as the stack mounts it: a tmpfs "NAS" at /mnt/nas under the host root.
    const hostRoot = join(dir, 'host');
    share = join(hostRoot, 'mnt/nas');
    mkdirSync(share, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'warden-test-nas', share]);
    mkdirSync(join(share, 'pg'));
    chmodSync(join(share, 'pg'), 0o755);
    // A tree root cannot enter without DAC_OVERRIDE: 0700, owned by 70.
    mkdirSync(join(share, 'kafka/locked'), { recursive: true });
    writeFileSync(join(share, 'kafka/locked/0.log'), 'x');
    chownSync(join(share, 'kafka/locked'), 70, 70);
    chmodSync(join(share, 'kafka/locked'), 0o700);
    const file = join(dir, 'volumes.yml');
    writeFileSync(file, [
      'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:', '  volumes:',
      '    - { path: /mnt/nas/pg, mount: /mnt/nas, owner: 70, group: 70, mode: "0700" }',
      '    - { path: /mnt/nas/kafka, mount: /mnt/nas, owner: 1001, group: 0, recursive: true }',
      '',
    ].join('\n'));
    const apply = (caps: string[]): Promise<string> => lab.docker(node, [
      'run', '--rm', '--user', '0', '--cap-drop', 'ALL', ...caps.flatMap((c) => ['--cap-add', c]),
      '-v', `${node.socket}:/var/run/docker.sock`, '-v', `${hostRoot}:/host`, '-v', `${file}:/etc/warden/warden.yml:ro`,
      IMAGE, 'apply', '-f', '/etc/warden/warden.yml', '--host-root', '/host',
    ]);
    const own = (p: string): string => {
      const st = lstatSync(join(share!, p));
      return `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
    };

    // Without the capabilities, root in the container can change nothing: drift remains, exit 1.
    const denied = await apply([]).then(() => undefined, (err: unknown) => err);
    expect(denied).toBeInstanceOf(CommandError);
    expect((denied as CommandError).exitCode).toBe(1);
    expect(own('pg')).toBe('0:0 0755');
    expect(own('kafka/locked/0.log')).toMatch(/^0:0 /);

    await apply(['CHOWN', 'FOWNER', 'DAC_OVERRIDE']);
    expect(own('pg')).toBe('70:70 0700');
    expect(own('kafka')).toMatch(/^1001:0 /);
    expect(own('kafka/locked')).toBe('1001:0 0700');
    expect(own('kafka/locked/0.log')).toMatch(/^1001:0 /);
  });
});
