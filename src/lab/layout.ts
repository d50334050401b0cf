// What a lab is made of: its nodes and the names it owns, all carrying its number.

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

/** CGROUP_ROOT is where the cgroup file system is mounted. */
export const CGROUP_ROOT = '/sys/fs/cgroup';
/** DAEMON_START_TIMEOUT_MS bounds a node engine's start (30 s). */
export const DAEMON_START_TIMEOUT_MS = 30_000;
/** DAEMON_STOP_TIMEOUT_MS bounds a node engine's stop before SIGKILL (20 s). */
export const DAEMON_STOP_TIMEOUT_MS = 20_000;

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

/** labNode names one node of a lab: its namespace, address, socket and directories. */
export function labNode(layout: LabLayout, index: number, role: 'manager' | 'worker', roleIndex: number): LabNode {
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
