// exportDesiredState over a cluster as read, and readLiveCluster against a small fake of the Docker port
// that fails on any call export must not make.
import { describe, expect, it } from 'vitest';
import type { DockerPort, EngineInfo, SwarmNode, SwarmService } from '../../../src/docker/port.js';
import { readLiveCluster } from '../../../src/commands/export.js';
import { exportDesiredState } from '../../../src/desired-state/export.js';
import { loadDesiredStateText } from '../../../src/desired-state/load.js';

function node(hostname: string, role: 'manager' | 'worker', labels: Record<string, string> = {}, availability: SwarmNode['availability'] = 'active'): SwarmNode {
  return {
    id: `id-${hostname}`, version: 1, hostname, role, availability, state: 'ready', addr: '10.0.0.1', labels,
    engineLabels: {}, platform: { os: 'linux', arch: 'x86_64' }, spec: { Role: role, Availability: availability, Labels: labels },
  };
}

function service(name: string, extra: Partial<SwarmService> = {}): SwarmService {
  return {
    id: `id-${name}`, version: 1, name, labels: {}, mode: 'replicated', replicas: 1, image: 'busybox', constraints: [],
    preferences: [], maxReplicasPerNode: 0, forceUpdate: 0, updatedAt: '', spec: { Name: name }, ...extra,
  };
}

function fakePort(nodes: SwarmNode[], services: SwarmService[], info: Partial<EngineInfo> = {}): DockerPort {
  const unexpected = (call: string) => (): never => {
    throw new Error(`export must not call ${call}`);
  };
  return {
    info: async () => ({ nodeId: 'id-m1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '28', managers: 3, nodes: nodes.length, ...info }),
    listNodes: async () => nodes,
    listServices: async () => services,
    inspectNode: unexpected('inspectNode'),
    updateNode: unexpected('updateNode'),
    inspectService: unexpected('inspectService'),
    updateService: unexpected('updateService'),
    listTasks: unexpected('listTasks'),
    events: unexpected('events'),
  };
}

describe('exportDesiredState', () => {
  it('writes managers, nodes and services as the swarm runs them, and the result loads', async () => {
    const port = fakePort(
      [node('w2', 'worker', { function: 'database' }, 'drain'), node('m1', 'manager'), node('w1', 'worker', { zone: 'a', function: 'app' }), node('m2', 'manager'), node('m3', 'manager')],
      [
        service('msa_api', { replicas: 3, constraints: ['node.labels.function == app'], preferences: ['node.labels.zone'], maxReplicasPerNode: 1 }),
        service('agent', { mode: 'global', replicas: undefined }),
        service('migrate', { mode: 'replicated-job' }),
        service('hands_off', { labels: { 'warden.ignore': 'true' } }),
      ],
    );
    const text = await exportDesiredState(await readLiveCluster(port), 'lab');
    expect(text).toMatch(/^# yaml-language-server: \$schema=\.\/desired-state\.schema\.json\n/);
    const { state } = await loadDesiredStateText(text, 'export.yml');
    expect(state.cluster).toBe('lab');
    expect(state.managers?.count).toBe(3);
    expect(state.policy.mode).toBe('observe');
    expect(state.nodes).toEqual([
      { match: { hostname: 'm1' }, availability: 'active' },
      { match: { hostname: 'm2' }, availability: 'active' },
      { match: { hostname: 'm3' }, availability: 'active' },
      { match: { hostname: 'w1' }, labels: { function: 'app', zone: 'a' }, availability: 'active' },
      { match: { hostname: 'w2' }, labels: { function: 'database' }, availability: 'drain' },
    ]);
    expect(state.services).toEqual([
      { name: 'agent', origin: 'services' },
      { name: 'msa_api', origin: 'services', replicas: 3, placement: { constraints: ['node.labels.function == app'], preferences: ['node.labels.zone'], maxReplicasPerNode: 1 } },
    ]);
    expect(text).toContain('    - match: { hostname: w1 }\n      labels: { function: app, zone: a }\n');
  });

  it('writes the odd count below an even manager count, and says why', async () => {
    const text = await exportDesiredState(await readLiveCluster(fakePort(['a', 'b', 'c', 'd'].map((h) => node(h, 'manager')), [])), 'even');
    expect(text).toContain('count: 3 # the swarm runs 4 managers; 3 tolerate as many failures');
    expect((await loadDesiredStateText(text, 'e.yml')).state.managers?.count).toBe(3);
  });

  it('matches nodes with a shared hostname by id', async () => {
    const text = await exportDesiredState(await readLiveCluster(fakePort([node('m1', 'manager'), { ...node('dup', 'worker'), id: 'aaa' }, { ...node('dup', 'worker'), id: 'bbb' }], [])), 'x');
    const { state } = await loadDesiredStateText(text, 'x.yml');
    expect(state.nodes?.map((n) => n.match)).toEqual([{ hostname: 'm1' }, { id: 'aaa' }, { id: 'bbb' }]);
  });

  it('refuses a worker engine', async () => {
    await expect(readLiveCluster(fakePort([], [], { controlAvailable: false, hostname: 'w1' }))).rejects.toThrow('w1 is not a swarm manager');
  });
});
