import { describe, expect, it } from 'vitest';
import type { SwarmService, SwarmTask } from '../../../src/docker/port.js';
import { healthNeed, passHealth, rolloutWindowMs, serviceHealth, STARTUP_GRACE_MS } from '../../../src/controller/health.js';
import { desired } from '../../support/desired.js';

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
      'healthy once a rollback is a rollout time old and all its tasks run (the file reverted to the running spec)',
      service({ updateStatus: { state: 'rollback_completed', startedAt: ago(3100), completedAt: ago(3000), message: 'rollback completed' } }),
      [task(), task({ slot: 2 })],
      undefined, 'healthy', '',
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

describe('serviceHealth past the rollout window', () => {
  const old = service({ replicas: 1, updatedAt: ago(3600) });
  it.each([
    ['tasks not read: its counts say it runs', service({ status: { runningTasks: 2, desiredTasks: 2 } }), undefined, 'healthy', ''],
    ['a crash loop: a failure a moment ago, the next task starting', old,
      [task({ state: 'failed', desiredState: 'shutdown', err: 'task: non-zero exit (1)', timestamp: ago(8) }), task({ slot: 1, state: 'starting', message: 'starting', timestamp: ago(2) })],
      'degraded', 'task: non-zero exit (1)'],
    ['a node lost: its task rescheduled, on its way, no failure', old,
      [task({ state: 'orphaned', desiredState: 'shutdown', message: 'node down', timestamp: ago(20) }), task({ state: 'preparing', message: 'preparing', timestamp: ago(3) })],
      'progressing', 'preparing'],
    ['a task stuck preparing for longer than a rollout may take', old, [task({ state: 'preparing', message: 'preparing', timestamp: ago(900) })], 'degraded', 'preparing'],
    ['a crash loop caught as its next task starts (running for an instant): not healthy', old,
      [task({ state: 'failed', desiredState: 'shutdown', err: 'task: non-zero exit (1)', timestamp: ago(6) }), task({ timestamp: ago(0) })],
      'progressing', 'restarted: task: non-zero exit (1)'],
    ['one restart that has held longer than its restart delay and monitor: healthy', old,
      [task({ state: 'failed', desiredState: 'shutdown', err: 'task: non-zero exit (1)', timestamp: ago(60) }), task({ timestamp: ago(54) })],
      'healthy', ''],
    ['a failure hours ago, nothing on its way', old, [task({ state: 'rejected', desiredState: 'shutdown', err: 'No such image: x:1', timestamp: ago(7200) })], 'degraded', 'No such image: x:1'],
  ] as const)('%s', (_n, svc, tasks, health, reason) => {
    expect(serviceHealth({ service: svc, tasks, now: NOW })).toMatchObject({ health, reason });
  });
});

describe('healthNeed and passHealth', () => {
  const kept = (names: string[]) => desired({ services: names.map((name) => ({ name, origin: name.startsWith('app_') ? 'stack:app' : 'services' })) });
  const settledSvc = (name: string, over: Partial<SwarmService> = {}) => service({ id: `id-${name}`, name, status: { runningTasks: 2, desiredTasks: 2 }, ...over });

  it('reads the tasks of the kept services its counts do not show settled, and of no other', () => {
    const services = [
      settledSvc('app_web'),
      settledSvc('app_db', { status: { runningTasks: 1, desiredTasks: 2 } }),
      settledSvc('api', { status: undefined }),
      settledSvc('worker', { updateStatus: { state: 'updating', startedAt: ago(5), completedAt: '', message: '' } }),
      settledSvc('other', { status: { runningTasks: 0, desiredTasks: 2 } }),
      // Scaled to 3 since the list its counts come from (a cached service): its counts are older than its spec.
      settledSvc('scaled', { replicas: 3 }),
      // Created a moment ago: its counts may have caught a crash-looping task as it started.
      settledSvc('fresh', { updatedAt: ago(10) }),
    ];
    expect([...healthNeed(kept(['app_web', 'app_db', 'api', 'worker', 'scaled', 'fresh']), services, NOW)].sort())
      .toEqual(['id-api', 'id-app_db', 'id-fresh', 'id-scaled', 'id-worker']);
  });

  it('gives every kept service a health, its stack, and suspended where warden holds it', () => {
    const services = [settledSvc('app_web'), settledSvc('api', { labels: { 'com.docker.stack.namespace': 'ops' } })];
    const observed = { info: {} as never, nodes: [], services, tasks: [], at: NOW };
    const got = passHealth(kept(['app_web', 'api', 'gone']), observed, (name) => (name === 'api' ? 'observe mode' : undefined));
    expect(got).toEqual([
      { stack: 'app', service: 'app_web', health: 'healthy', reason: '', running: 2, desired: 2, updated: ago(3600) },
      { stack: 'ops', service: 'api', health: 'suspended', reason: 'observe mode', running: 2, desired: 2, updated: ago(3600) },
      { stack: '', service: 'gone', health: 'missing', reason: 'not in the swarm', running: 0, desired: 0 },
    ]);
  });
});
