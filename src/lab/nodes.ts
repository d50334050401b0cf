// Bringing a lab's nodes up: the host's checks, a network namespace and a dockerd per node, the test
// images loaded into each engine, and the wait for the swarm's nodes to be ready.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LabEngine } from './engines.js';
import { run } from './exec.js';
import type { Lab } from './lab.js';
import { DAEMON_START_TIMEOUT_MS, LabError, type LabLayout, type LabNode } from './layout.js';

/** checkHost refuses a machine the lab cannot run on (not Linux, not root, commands missing), saying what to do. */
export async function checkHost(log: (line: string) => void): Promise<void> {
  if (process.platform !== 'linux') throw new LabError('the lab needs Linux (network namespaces)');
  if (process.getuid?.() !== 0) throw new LabError('the lab needs root: it creates network namespaces, a bridge and engines');
  const missing = ['dockerd', 'docker', 'busybox', 'docker-registry', 'ip', 'nsenter', 'unshare', 'tar'].filter((c) => !onPath(c));
  const packages: Record<string, string> = {
    dockerd: 'docker.io', docker: 'docker.io', busybox: 'busybox-static', 'docker-registry': 'docker-registry',
    ip: 'iproute2', nsenter: 'util-linux', unshare: 'util-linux', tar: 'tar',
  };
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => packages[m] ?? m))];
    log(`installing ${pkgs.join(' ')} (missing: ${missing.join(', ')})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      await run('apt-get', ['install', '-y', '-q', ...pkgs], { timeoutMs: 600_000, env }).catch(async () => {
        await run('apt-get', ['update', '-q'], { timeoutMs: 600_000, env });
        return run('apt-get', ['install', '-y', '-q', ...pkgs], { timeoutMs: 600_000, env });
      });
    } catch (err) {
      throw new LabError(`missing ${missing.join(', ')} and could not install ${pkgs.join(' ')}: ${(err as Error).message}`, { cause: err });
    }
  }
  try {
    await run('ip', ['netns', 'list']);
  } catch (err) {
    throw new LabError(`no network namespace support (ip netns list failed): ${(err as Error).message}`, { cause: err });
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(join(d, cmd)));
}

/** addNamespace makes a node's network namespace and plugs it into the lab's bridge. */
export async function addNamespace(layout: LabLayout, n: LabNode): Promise<void> {
  const hostEnd = `wlab${layout.id}v${n.index}`;
  await run('ip', ['netns', 'add', n.netns]);
  await run('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', `${hostEnd}p`]);
  await run('ip', ['link', 'set', `${hostEnd}p`, 'netns', n.netns]);
  await run('ip', ['link', 'set', hostEnd, 'master', layout.bridge, 'up']);
  const inNs = (args: string[]): Promise<string> => run('ip', ['-n', n.netns, ...args]);
  await inNs(['link', 'set', `${hostEnd}p`, 'name', 'eth0']);
  await inNs(['addr', 'add', `${n.ip}/24`, 'dev', 'eth0']);
  await inNs(['link', 'set', 'eth0', 'up']);
  await inNs(['link', 'set', 'lo', 'up']);
  // No default route, on purpose: the nodes reach each other and nothing else, so an absent image
  // fails at once instead of being looked up on the internet.
}

/** startDaemon starts a node's dockerd in its namespace and waits until it answers. */
export async function startDaemon(layout: LabLayout, n: LabNode, engine: LabEngine): Promise<void> {
  mkdirSync(n.execRoot, { recursive: true });
  mkdirSync(n.dataRoot, { recursive: true });
  const args = [
    `--net=/var/run/netns/${n.netns}`, 'unshare', '--uts', 'sh', '-c', `hostname ${n.name}; exec "$@"`, 'sh',
    'dockerd',
    '--data-root', n.dataRoot,
    '--exec-root', n.execRoot,
    '-H', n.host,
    '--pidfile', n.pidfile,
    '--bip', `172.${17 + n.index}.0.1/16`,
    '--iptables=false',
    '--ip-masq=false',
    '--cgroup-parent', n.cgroupParent,
    '--insecure-registry', layout.subnet,
    // Containers of a stopping node get 3 s, not 15, so that node failures and cold boots stay quick.
    '--shutdown-timeout', '3',
    '--log-level', 'warn',
  ];
  const out = openSync(n.logFile, 'a');
  // The engine's own directory first on PATH: dockerd starts the containerd, shim and docker-init it finds there.
  const env = engine.bin ? { ...process.env, PATH: `${engine.bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` } : process.env;
  const child = spawn('nsenter', args, { detached: true, stdio: ['ignore', out, out], env });
  closeSync(out);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });
  child.unref();
  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    if (await ping(n.socket)) return;
    await sleep(100);
  }
  const tail = existsSync(n.logFile) ? readFileSync(n.logFile, 'utf8').trim().split('\n').slice(-15).join('\n') : '(no log)';
  throw new LabError(
    `dockerd of ${n.name} ${exited !== undefined ? `exited (code ${exited})` : `did not answer within ${DAEMON_START_TIMEOUT_MS / 1000} s`}; ` +
      `the tail of ${n.logFile}:\n${tail}`,
  );
}

/** ImageTars are the test images, saved once per lab up, loaded into each engine. */
export interface ImageTars {
  busybox: string;
  registry: string;
}

// The test images, made from Debian packages: busybox:lab (a static busybox with its applets) and
// registry:lab (Debian's docker-registry with its two libraries).
export async function buildImageTars(layout: LabLayout): Promise<ImageTars> {
  const dir = `${layout.dataDir}/images`;
  const bb = `${dir}/busybox`;
  mkdirSync(`${bb}/bin`, { recursive: true });
  for (const d of ['tmp', 'etc', 'data', 'var/www']) mkdirSync(`${bb}/${d}`, { recursive: true });
  await run('cp', ['/bin/busybox', `${bb}/bin/busybox`]);
  const applets = (await run('/bin/busybox', ['--list'])).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', `${bb}/bin/${a}`);
  writeFileSync(`${bb}/etc/passwd`, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(`${bb}/etc/group`, 'root:x:0:\nnogroup:x:65534:\n');
  await run('tar', ['-C', bb, '-cf', `${dir}/busybox.tar`, '.']);

  const reg = `${dir}/registry`;
  for (const d of ['usr/bin', 'lib/x86_64-linux-gnu', 'lib64', 'etc/docker/registry', 'var/lib/registry', 'tmp']) {
    mkdirSync(`${reg}/${d}`, { recursive: true });
  }
  await run('cp', ['/usr/bin/docker-registry', `${reg}/usr/bin/docker-registry`]);
  const libs = (await run('ldd', ['/usr/bin/docker-registry']))
    .split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
  for (const lib of libs) {
    mkdirSync(join(reg, lib, '..'), { recursive: true });
    await run('cp', ['-L', lib, join(reg, lib)]);
  }
  writeFileSync(
    `${reg}/etc/docker/registry/config.yml`,
    'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n',
  );
  await run('tar', ['-C', reg, '-cf', `${dir}/registry.tar`, '.']);
  return { busybox: `${dir}/busybox.tar`, registry: `${dir}/registry.tar` };
}

/** importImages loads the test images into one node's engine. */
export async function importImages(lab: Lab, n: LabNode, tars: ImageTars): Promise<void> {
  await lab.docker(n, ['import', '--change', 'CMD ["sh"]', tars.busybox, 'busybox:lab']);
  await lab.docker(n, [
    'import',
    '--change', 'ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]',
    '--change', 'EXPOSE 5000',
    '--change', 'VOLUME /var/lib/registry',
    tars.registry, 'registry:lab',
  ]);
}

/** waitForNodesReady waits until the swarm lists `count` nodes, all ready. */
export async function waitForNodesReady(lab: Lab, count: number): Promise<void> {
  const first = lab.nodes[0];
  if (!first) return;
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    last = await lab.docker(first, ['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}']).catch((e: unknown) => String(e));
    const lines = last.trim().split('\n').filter(Boolean);
    const managers = lab.managers.length;
    if (
      lines.length === count &&
      lines.every((l) => l.split(' ')[1] === 'Ready') &&
      lines.filter((l) => /Leader|Reachable/.test(l)).length === managers
    ) {
      return;
    }
    await sleep(200);
  }
  throw new LabError(`the swarm did not become ready within 60 s; docker node ls:\n${last}`);
}

/** engineVersion is the engine's `GET /version` Version on its socket, undefined when it does not answer. */
export function engineVersion(socket: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/version', timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { Version?: string }).Version);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.end();
  });
}

/** ping tells whether an engine answers `GET /_ping` on its socket. */
export function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(socket)) {
      resolve(false);
      return;
    }
    const req = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
