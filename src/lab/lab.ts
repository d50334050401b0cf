// The lab: a real multi-node Docker Swarm on one Linux machine, one dockerd per network namespace
// (see docs/lab.md). Every name the lab creates carries its number (0-9), so several labs can run side by
// side and a teardown finds everything a killed run left behind without a state file.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync, symlinkSync, rmdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveEngine, type LabEngine } from './engines.js';
import { run, tryRun } from './exec.js';

/** LabError is a lab step that failed, with what to do about it. */
export class LabError extends Error {
  override readonly name = 'LabError';
}

/** LabNode is one node of a lab swarm. */
export interface LabNode {
  /** name is the node's hostname: manager-1, worker-1, ... */
  name: string;
  role: 'manager' | 'worker';
  index: number;
  netns: string;
  ip: string;
  /** host is the node engine's DOCKER_HOST value. */
  host: string;
  socket: string;
  pidfile: string;
  dataRoot: string;
  execRoot: string;
  logFile: string;
  cgroupParent: string;
}

/** LabLayout names everything a lab with a given number owns. */
export interface LabLayout {
  id: number;
  bridge: string;
  subnet: string;
  gateway: string;
  runDir: string;
  dataDir: string;
  stateFile: string;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
const DAEMON_START_TIMEOUT_MS = 30_000;
const DAEMON_STOP_TIMEOUT_MS = 20_000;

/** labLayout returns the names a lab owns; id is 0-9. */
export function labLayout(id: number): LabLayout {
  if (!Number.isInteger(id) || id < 0 || id > 9) throw new LabError(`lab number must be 0-9, got ${id}`);
  return {
    id,
    bridge: `wlab${id}`,
    subnet: `10.77.${id}.0/24`,
    gateway: `10.77.${id}.1`,
    runDir: `/run/wlab/${id}`,
    dataDir: `/var/lib/wlab/${id}`,
    stateFile: `/run/wlab/${id}/lab.json`,
  };
}

function labNode(layout: LabLayout, index: number, role: 'manager' | 'worker', roleIndex: number): LabNode {
  const dir = `${layout.runDir}/n${index}`;
  return {
    name: `${role}-${roleIndex}`,
    role,
    index,
    netns: `wlab${layout.id}-n${index}`,
    ip: `10.77.${layout.id}.${10 + index}`,
    host: `unix://${dir}/docker.sock`,
    socket: `${dir}/docker.sock`,
    pidfile: `${dir}/docker.pid`,
    dataRoot: `${layout.dataDir}/n${index}`,
    execRoot: `${dir}/exec`,
    logFile: `${layout.dataDir}/n${index}.log`,
    cgroupParent: `wlab${layout.id}-n${index}`,
  };
}

/** Lab is a lab swarm that is up: its nodes and the means to stop and start their engines. */
export class Lab {
  constructor(
    readonly layout: LabLayout,
    readonly nodes: LabNode[],
    /** engine is what every node runs (see ./engines.ts). */
    readonly engine: LabEngine,
  ) {}

  /** open reads the state of lab `id` written by `up`; it throws LabError when that lab is not up. */
  static open(id = 0): Lab {
    const layout = labLayout(id);
    if (!existsSync(layout.stateFile)) throw new LabError(`lab ${id} is not up (no ${layout.stateFile}); run: warden lab up`);
    const state = JSON.parse(readFileSync(layout.stateFile, 'utf8')) as { nodes: LabNode[]; engine?: LabEngine };
    // A lab brought up before engines were a choice ran the system's.
    return new Lab(layout, state.nodes, state.engine ?? { name: 'system', version: 'unknown', docker: 'docker' });
  }

  get managers(): LabNode[] {
    return this.nodes.filter((n) => n.role === 'manager');
  }

  get workers(): LabNode[] {
    return this.nodes.filter((n) => n.role === 'worker');
  }

  /** node returns the node with that hostname. */
  node(name: string): LabNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new LabError(`no lab node ${name}`);
    return n;
  }

  /** docker runs the docker CLI that goes with the lab's engine against a node's engine. */
  docker(node: LabNode, args: readonly string[], timeoutMs = 60_000): Promise<string> {
    return run(this.engine.docker, ['-H', node.host, ...args], { timeoutMs });
  }

  /** isRunning tells whether the node's dockerd is running. */
  isRunning(node: LabNode): boolean {
    const pid = readPid(node.pidfile);
    return pid !== undefined && alive(pid);
  }

  /** stopDaemon stops a node's dockerd (SIGTERM, as a shutdown would) and waits for it to exit. */
  async stopDaemon(node: LabNode): Promise<void> {
    await stopDaemon(node);
  }

  /** startDaemon starts a node's dockerd again and waits until it answers. */
  async startDaemon(node: LabNode): Promise<void> {
    await startDaemon(this.layout, node, this.engine);
  }
}

/** LabUpOptions size the lab. */
export interface LabUpOptions {
  id: number;
  managers: number;
  workers: number;
  /**
   * engine is what the nodes run: `newest` (the default), a major.minor the archive has (`20.10`, `26.1`,
   * `28.5`, ...), or `system` (the dockerd on PATH); see ./engines.ts.
   */
  engine?: string | LabEngine;
  /** log receives progress lines. */
  log?: (line: string) => void;
}

/** labUp tears down what lab `id` left behind, then brings up a fresh swarm and prepares its images. */
export async function labUp(opts: LabUpOptions): Promise<Lab> {
  const log = opts.log ?? (() => {});
  if (opts.managers < 1 || opts.managers > 7) throw new LabError(`--managers must be 1-7, got ${opts.managers}`);
  if (opts.workers < 0 || opts.workers + opts.managers > 20) throw new LabError(`--workers must be 0-${20 - opts.managers}, got ${opts.workers}`);
  await checkHost(log);
  const layout = labLayout(opts.id);
  const engine = typeof opts.engine === 'object'
    ? opts.engine
    : await resolveEngine(opts.engine ?? 'newest', { log }).catch((err: Error) => {
      throw new LabError(err.message, { cause: err });
    });
  await labDown(opts.id);

  const nodes: LabNode[] = [];
  for (let i = 1; i <= opts.managers; i++) nodes.push(labNode(layout, i, 'manager', i));
  for (let i = 1; i <= opts.workers; i++) nodes.push(labNode(layout, opts.managers + i, 'worker', i));
  const lab = new Lab(layout, nodes, engine);
  mkdirSync(layout.runDir, { recursive: true });
  mkdirSync(layout.dataDir, { recursive: true });
  // The state file goes first, so that a run killed from here on is torn down from it.
  writeState(lab);

  log(`network: bridge ${layout.bridge} ${layout.subnet}`);
  await run('ip', ['link', 'add', layout.bridge, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${layout.gateway}/24`, 'dev', layout.bridge]);
  await run('ip', ['link', 'set', layout.bridge, 'up']);
  // A host dockerd sets the FORWARD policy to DROP, which would cut bridged traffic between the nodes.
  await tryRun('iptables', ['-I', 'FORWARD', '-i', layout.bridge, '-o', layout.bridge, '-j', 'ACCEPT']);
  await Promise.all(nodes.map((n) => addNamespace(layout, n)));

  log(`engines: starting ${nodes.length} dockerd ${engine.version} (${engine.name === 'system' ? 'the system\'s' : `Debian ${engine.pkg}`})`);
  const images = buildImageTars(layout);
  await Promise.all(nodes.map((n) => startDaemon(layout, n, engine)));

  log('swarm: init and join');
  const [first, ...others] = nodes;
  if (!first) throw new LabError('no nodes');
  await lab.docker(first, ['swarm', 'init', '--advertise-addr', first.ip, '--listen-addr', `${first.ip}:2377`]);
  const managerToken = (await lab.docker(first, ['swarm', 'join-token', '-q', 'manager'])).trim();
  const workerToken = (await lab.docker(first, ['swarm', 'join-token', '-q', 'worker'])).trim();
  const join = (n: LabNode): Promise<string> =>
    lab.docker(n, ['swarm', 'join', '--advertise-addr', n.ip, '--listen-addr', `${n.ip}:2377`, '--token',
      n.role === 'manager' ? managerToken : workerToken, `${first.ip}:2377`]);
  // Managers join one at a time: each join is a Raft membership change that must commit first.
  for (const n of others.filter((x) => x.role === 'manager')) await join(n);
  const tars = await images;
  await Promise.all([...others.filter((x) => x.role === 'worker').map(join), ...nodes.map((n) => importImages(lab, n, tars))]);
  await waitForNodesReady(lab, nodes.length);
  log(`ready: ${opts.managers} managers, ${opts.workers} workers; DOCKER_HOST=${first.host}`);
  return lab;
}

/** labDown removes everything lab `id` made: engines and their containers, mounts, namespaces, links, data. */
export async function labDown(id: number): Promise<void> {
  const layout = labLayout(id);
  const nodeDirs = existsSync(layout.runDir) ? readdirSync(layout.runDir).filter((d) => /^n\d+$/.test(d)) : [];
  const netnsList = ((await tryRun('ip', ['netns', 'list'])) ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(`wlab${id}-n`));
  const indexes = new Set<number>([
    ...nodeDirs.map((d) => Number(d.slice(1))),
    ...netnsList.map((n) => Number(n.slice(`wlab${id}-n`.length))),
  ]);
  const nodes = [...indexes].filter((i) => Number.isInteger(i)).map((i) => labNode(layout, i, 'manager', i));

  // Everything goes, so nothing needs a graceful stop: the engines first (so that they restart no
  // container), then their containerd and shims (in the node's namespace), then the containers (in the
  // node's cgroup parent, as they have network namespaces of their own).
  await Promise.all(nodes.map((n) => stopDaemon(n, 'SIGKILL')));
  const killed: number[] = [];
  for (const n of nodes) {
    killed.push(...(await netnsPids(n.netns)), ...cgroupPids(n.cgroupParent));
  }
  for (const pid of killed) signal(pid, 'SIGKILL');
  // Wait for them to be gone: a process killed a moment ago may still finish a mount (the engine
  // mounts network namespaces under its exec root), and a mount made after the unmount keeps the
  // directory busy.
  const deadline = Date.now() + DAEMON_STOP_TIMEOUT_MS;
  while (killed.some(alive) && Date.now() < deadline) await sleep(20);
  for (const n of nodes) {
    await tryRun('ip', ['netns', 'delete', n.netns]);
    await tryRun('ip', ['link', 'delete', `wlab${id}v${n.index}`]);
    removeCgroup(n.cgroupParent);
  }
  if ((await tryRun('ip', ['link', 'show', layout.bridge])) !== undefined) {
    await tryRun('ip', ['link', 'delete', layout.bridge]);
  }
  // Remove every copy of our FORWARD rule (a killed run may have added it more than once).
  for (let i = 0; i < 10; i++) {
    if ((await tryRun('iptables', ['-D', 'FORWARD', '-i', layout.bridge, '-o', layout.bridge, '-j', 'ACCEPT'])) === undefined) break;
  }
  await removeTree([layout.runDir, layout.dataDir]);
  for (const parent of [join(layout.runDir, '..'), join(layout.dataDir, '..')]) {
    try {
      rmdirSync(parent); // only when no other lab is left in it
    } catch {
      // Another lab's, or already gone.
    }
  }
}

/** LabStatusNode is one line of `lab status`. */
export interface LabStatusNode {
  name: string;
  role: string;
  ip: string;
  engine: 'running' | 'stopped';
  /** version is what the node's engine answers on `GET /version` ("" when it does not answer). */
  version: string;
  host: string;
}

/** labStatus describes lab `id`: its engine, its nodes (each engine's version as it answers), and the DOCKER_HOST of a running manager. */
export async function labStatus(id: number): Promise<{ engine: LabEngine; nodes: LabStatusNode[]; dockerHost: string | undefined }> {
  const lab = Lab.open(id);
  const nodes = await Promise.all(lab.nodes.map(async (n) => {
    const running = lab.isRunning(n);
    return {
      name: n.name,
      role: n.role,
      ip: n.ip,
      engine: running ? ('running' as const) : ('stopped' as const),
      version: running ? ((await engineVersion(n.socket)) ?? '') : '',
      host: n.host,
    };
  }));
  const manager = nodes.find((n) => n.role === 'manager' && n.engine === 'running');
  return { engine: lab.engine, nodes, dockerHost: manager?.host };
}

function writeState(lab: Lab): void {
  writeFileSync(lab.layout.stateFile, JSON.stringify({ id: lab.layout.id, engine: lab.engine, nodes: lab.nodes }, null, 2));
}

async function checkHost(log: (line: string) => void): Promise<void> {
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

async function addNamespace(layout: LabLayout, n: LabNode): Promise<void> {
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

async function startDaemon(layout: LabLayout, n: LabNode, engine: LabEngine): Promise<void> {
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

async function stopDaemon(n: LabNode, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const pid = readPid(n.pidfile);
  if (pid === undefined || !alive(pid) || !isOurDockerd(pid, n)) return;
  signal(pid, sig);
  const deadline = Date.now() + DAEMON_STOP_TIMEOUT_MS;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    signal(pid, 'SIGKILL');
    // A process in uninterruptible sleep (a hung mount) dies only when its I/O ends: say so, not wait for ever.
    const killed = Date.now() + DAEMON_STOP_TIMEOUT_MS;
    while (alive(pid) && Date.now() < killed) await sleep(50);
    if (alive(pid)) throw new LabError(`${n.name}: dockerd (pid ${pid}) did not exit ${DAEMON_STOP_TIMEOUT_MS / 1000} s after SIGKILL (uninterruptible I/O?)`);
  }
}

// A pid file can outlive its process and the pid be reused: only signal a dockerd with our socket.
function isOurDockerd(pid: number, n: LabNode): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(n.host);
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is not alive for our purposes.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

async function netnsPids(netns: string): Promise<number[]> {
  const out = (await tryRun('ip', ['netns', 'pids', netns])) ?? '';
  return out.split('\n').map((l) => Number.parseInt(l, 10)).filter((p) => Number.isInteger(p) && p > 0 && p !== process.pid);
}

// Containers run in their own network namespaces, so they are found by the cgroup parent their engine
// put them under (one per node), in every cgroup v1 hierarchy or the v2 tree.
function cgroupDirs(parent: string): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  const roots = existsSync(join(CGROUP_ROOT, 'cgroup.controllers'))
    ? [CGROUP_ROOT]
    : readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c));
  return roots.map((r) => join(r, parent)).filter((d) => existsSync(d));
}

function cgroupPids(parent: string): number[] {
  const pids: number[] = [];
  for (const dir of cgroupDirs(parent)) {
    for (const procs of walk(dir).filter((f) => f.endsWith('/cgroup.procs'))) {
      for (const line of safeRead(procs).split('\n')) {
        const pid = Number.parseInt(line, 10);
        if (Number.isInteger(pid) && pid > 0) pids.push(pid);
      }
    }
  }
  return pids;
}

// Unmount what is under the directories, then remove them; a mount that is still busy, or one that
// appeared meanwhile, gets another round.
async function removeTree(dirs: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await unmountUnder(dirs);
    try {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      return;
    } catch (err) {
      if (attempt >= 10) throw new LabError(`cannot remove ${dirs.join(' and ')}: ${(err as Error).message}`, { cause: err });
      await sleep(100 * attempt);
    }
  }
}

function removeCgroup(parent: string): void {
  for (const dir of cgroupDirs(parent)) {
    // Children before parents: a cgroup directory can only be removed once it has no children.
    const dirs = walk(dir, true).sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      try {
        rmdirSync(d);
      } catch {
        // Still has processes exiting; the next teardown gets it.
      }
    }
  }
}

function walk(dir: string, dirsOnly = false): string[] {
  const out: string[] = dirsOnly ? [dir] : [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, dirsOnly));
    else if (!dirsOnly) out.push(p);
  }
  return out;
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function unmountUnder(prefixes: string[]): Promise<void> {
  const mounts = safeRead('/proc/mounts')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    // Lazy, so that a mount still busy for a moment does not keep the lab's directories alive.
    await tryRun('umount', ['-l', m]);
  }
}

interface ImageTars {
  busybox: string;
  registry: string;
}

// The test images, made from Debian packages: busybox:lab (a static busybox with its applets) and
// registry:lab (Debian's docker-registry with its two libraries).
async function buildImageTars(layout: LabLayout): Promise<ImageTars> {
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

async function importImages(lab: Lab, n: LabNode, tars: ImageTars): Promise<void> {
  await lab.docker(n, ['import', '--change', 'CMD ["sh"]', tars.busybox, 'busybox:lab']);
  await lab.docker(n, [
    'import',
    '--change', 'ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]',
    '--change', 'EXPOSE 5000',
    '--change', 'VOLUME /var/lib/registry',
    tars.registry, 'registry:lab',
  ]);
}

async function waitForNodesReady(lab: Lab, count: number): Promise<void> {
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

