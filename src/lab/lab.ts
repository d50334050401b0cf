// The lab: a real multi-node Docker Swarm on one Linux machine, one dockerd per network namespace
// (see docs/lab.md). Every name the lab creates carries its number (0-9), so several labs can run side by
// side and a teardown finds everything a killed run left behind without a state file.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveEngine, type LabEngine } from './engines.js';
import { run, tryRun } from './exec.js';
import { alive, cgroupPids, netnsPids, readPid, removeCgroup, removeTree, signal, stopDaemon } from './cleanup.js';
import { DAEMON_STOP_TIMEOUT_MS, LabError, labLayout, labNode, type LabLayout, type LabNode } from './layout.js';
import { addNamespace, buildImageTars, checkHost, engineVersion, importImages, startDaemon, waitForNodesReady } from './nodes.js';

export { LabError, labLayout, type LabLayout, type LabNode } from './layout.js';
export { engineVersion, ping } from './nodes.js';

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
