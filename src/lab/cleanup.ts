// Finding and ending what a lab left behind: its dockerd processes (only ours, by pid file and command
// line), the processes in its namespaces and cgroups, its mounts and directories.
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryRun } from './exec.js';
import { CGROUP_ROOT, DAEMON_STOP_TIMEOUT_MS, LabError, type LabNode } from './layout.js';

/** stopDaemon stops a node's dockerd (only ours: by its pid file and command line), SIGKILL past DAEMON_STOP_TIMEOUT_MS. */
export async function stopDaemon(n: LabNode, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
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

/** readPid reads a pid file; undefined when it is missing or unreadable. */
export function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** alive tells whether a process still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is not alive for our purposes.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** signal sends a signal, ignoring a process that is gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** netnsPids lists the processes in a network namespace. */
export async function netnsPids(netns: string): Promise<number[]> {
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

/** cgroupPids lists the processes in a cgroup and below it. */
export function cgroupPids(parent: string): number[] {
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
export async function removeTree(dirs: string[]): Promise<void> {
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

/** removeCgroup removes a cgroup and the groups below it, deepest first. */
export function removeCgroup(parent: string): void {
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
