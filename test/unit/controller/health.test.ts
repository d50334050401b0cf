import { describe, expect, it } from 'vitest';
import type { SwarmService, SwarmTask } from '../../../src/docker/port.js';
import { rolloutWindowMs, serviceHealth, STARTUP_GRACE_MS } from '../../../src/controller/health.js';

const NOW = Date.parse('2026-12-05T10:00:00Z');
const ago = (s: number): string => new Date(NOW - s * 1000).toISOString();

function service(over: Partial<SwarmService> = {}): SwarmService {
  return {
    id: 's1', version: 10, name: 'app_web', labels: {}, mode: 'replicated', replicas: 2, image: 'busybox:lab',
    constraints: [], preferences: [], maxReplicasPerNode: 0, forceUpdate: 0, updatedAt: ago(3600),
    spec: { Name: 'app_web' }, ...over,
  };
}

function task(over: Partial<SwarmTask> = {}): SwarmTask {
  return {
    id: `t${Math.random()}`, serviceId: 's1', nodeId: 'n1', slot: 1, desiredState: 'running', state: 'running',
    message: 'started', err: '', timestamp: ago(600), image: 'busybox:lab', ...over,
  };
}

describe('serviceHealth', () => {
  it.each([
    ['missing when absent', undefined, [], undefined, 'missing', 'not in the swarm'],
    ['healthy at running = desired', service(), [task(), task({ slot: 2 })], undefined, 'healthy', ''],
    ['suspended when held', service(), [task()], 'flapping: rolled back by swarm at revision abc; fix the file', 'suspended', 'flapping: rolled back by swarm at revision abc; fix the file'],
    [
      'degraded with the task error past the window',
      service(),
      [task(), task({ slot: 2, state: 'rejected', desiredState: 'shutdown', err: 'No such image: app:1', timestamp: ago(300) })],
      undefined, 'degraded', 'No such image: app:1',
    ],
    [
      'degraded when no node is suitable',
      service({ replicas: 1 }),
      [task({ state: 'pending', message: 'pending task scheduling', err: 'no suitable node (scheduling constraints not satisfied on 3 nodes)', timestamp: ago(200) })],
      undefined, 'degraded', 'no suitable node (scheduling constraints not satisfied on 3 nodes)',
    ],
    [
      'progressing within the window of a new service',
      service({ updatedAt: ago(10) }),
      [task({ state: 'preparing', message: 'preparing', timestamp: ago(5) })],
      undefined, 'progressing', 'preparing',
    ],
    [
      'degraded: update paused, with the engine message',
      service({ updateStatus: { state: 'paused', startedAt: ago(100), completedAt: '', message: 'update paused due to failure or early termination of task x' } }),
      [task(), task({ slot: 2 })],
      undefined, 'degraded', 'update paused: update paused due to failure or early termination of task x',
    ],
    [
      'degraded: rolled back',
      service({ updateStatus: { state: 'rollback_completed', startedAt: ago(100), completedAt: ago(50), message: 'rollback completed' } }),
      [task(), task({ slot: 2 })],
      undefined, 'degraded', 'rolled back: rollback completed',
    ],
    [
      'progressing while an update runs in its window',
      service({ updateStatus: { state: 'updating', startedAt: ago(5), completedAt: '', message: 'update in progress' } }),
      [task(), task({ slot: 2 })],
      undefined, 'progressing', 'update updating',
    ],
    [
      'degraded when an update outlives its window',
      service({ updateStatus: { state: 'updating', startedAt: ago(3000), completedAt: '', message: 'update in progress' } }),
      [task(), task({ slot: 2, state: 'failed', desiredState: 'shutdown', err: 'task: non-zero exit (1)', timestamp: ago(30) })],
      undefined, 'degraded', 'task: non-zero exit (1)',
    ],
  ])('%s', (_name, svc, tasks, suspended, health, reason) => {
    const h = serviceHealth({ service: svc, tasks, now: NOW, suspended });
    expect(h.health).toBe(health);
    expect(h.reason).toBe(reason);
  });

  it('counts a global service against its nodes', () => {
    const svc = service({ mode: 'global', replicas: undefined });
    expect(serviceHealth({ service: svc, tasks: [task()], now: NOW, nodes: 1 }).health).toBe('healthy');
    expect(serviceHealth({ service: svc, tasks: [task()], now: NOW, nodes: 2 })).toMatchObject({ health: 'degraded', running: 1, desired: 2 });
  });
});

describe('rolloutWindowMs', () => {
  it.each([
    ['no update_config: one at a time, 5 s monitor', undefined, 3, 3 * 5000 + STARTUP_GRACE_MS],
    ['an update_config without parallelism: all at once', {}, 3, 5000 + STARTUP_GRACE_MS],
    ['parallelism 2, delay 10 s, monitor 30 s', { Parallelism: 2, Delay: 10e9, Monitor: 30e9 }, 5, 3 * 40_000 + STARTUP_GRACE_MS],
    ['parallelism 0 means all at once', { Parallelism: 0, Monitor: 5e9 }, 10, 5000 + STARTUP_GRACE_MS],
  ])('%s', (_n, cfg, desired, ms) => {
    expect(rolloutWindowMs(service({ spec: cfg === undefined ? { Name: 'x' } : { Name: 'x', UpdateConfig: cfg } }), desired)).toBe(ms);
  });
});
