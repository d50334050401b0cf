// The controller against a recording fake of the Docker port (tier b): the loop's own rules.
// What the engine does (conflicts, events, leadership) is tested again on the lab.
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { Controller } from '../../../src/controller/controller.js';
import { Metrics } from '../../../src/controller/metrics.js';
import { loadDesiredStateText } from '../../../src/desired-state/load.js';
import { EngineError } from '../../../src/docker/errors.js';
import type { DesiredPolicy } from '../../../src/desired-state/types.js';
import { desired, loaded } from '../../support/desired.js';
import { FakePort, fakeNode, fakeService } from '../../support/fake-port.js';
import type { Reconciler } from '../../../src/reconcilers/types.js';

const silent = pino({ level: 'silent' });

function setup(opts: { replicas?: number; policy?: Partial<DesiredPolicy>; leader?: boolean; dryRun?: boolean; services?: ReturnType<typeof fakeService>[] } = {}) {
  const services = opts.services ?? [fakeService('api', opts.replicas ?? 1)];
  const nodes = [fakeNode('m1', 'manager', opts.leader ?? true), fakeNode('m2', 'manager', !(opts.leader ?? true)), fakeNode('w1', 'worker')];
  const port = new FakePort(services, nodes, 'm1');
  const metrics = new Metrics({ processMetrics: false });
  let now = Date.parse('2026-11-21T10:00:00Z');
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const controller = new Controller({
    port, logger: silent, metrics, clock, dryRun: opts.dryRun ?? false,
    scheduler: () => ({ stop: () => undefined }),
  });
  controller.setDesired(loaded(desired({
    services: services.map((s) => ({ name: s.name, replicas: 3, origin: 'services' })),
    ...(opts.policy ? { policy: opts.policy } : {}),
  })));
  return { port, metrics, controller, clock };
}

async function value(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as Array<{ labels: Record<string, string>; value: number }> | undefined)
    ?.find((x) => Object.entries(labels).every(([k, val]) => String(x.labels[k]) === val));
  return v?.value;
}

describe('a pass', () => {
  it('reads the cluster with three list calls (no tasks unless a reconciler asks, or a service\'s counts show it unsettled) and makes no write when in sync', async () => {
    const { port, controller } = setup({ services: [fakeService('api', 3, { status: { runningTasks: 3, desiredTasks: 3 } })] });
    const result = await controller.pass();
    expect(port.calls.sort()).toEqual(['info', 'listNodes', 'listServices status']);
    expect(port.writes).toBe(0);
    expect(result.results.find((r) => r.id === 'replicas')?.drift).toEqual([]);
    expect(result.health).toEqual([{ stack: '', service: 'api', health: 'healthy', reason: '', running: 3, desired: 3 }]);
  });

  it('reads the tasks of a kept service whose counts show it short, for its health, in the same pass, and counts it in warden_service_health', async () => {
    const { port, metrics, controller } = setup({ services: [fakeService('api', 3, { status: { runningTasks: 2, desiredTasks: 3 }, updatedAt: '2026-11-21T09:00:00Z' })] });
    port.tasks = [
      { id: 't1', serviceId: 'id-api', nodeId: 'w1', slot: 1, desiredState: 'running', state: 'running', message: 'started', err: '', timestamp: '2026-11-21T09:00:00Z', image: 'busybox:lab' },
      { id: 't2', serviceId: 'id-api', nodeId: 'w1', slot: 2, desiredState: 'running', state: 'running', message: 'started', err: '', timestamp: '2026-11-21T09:00:00Z', image: 'busybox:lab' },
      { id: 't3', serviceId: 'id-api', nodeId: 'w1', slot: 3, desiredState: 'shutdown', state: 'failed', message: 'started', err: 'task: non-zero exit (1)', timestamp: '2026-11-21T09:59:50Z', image: 'busybox:lab' },
    ];
    const result = await controller.pass();
    expect(port.calls.filter((c) => c.startsWith('listTasks'))).toEqual(['listTasks service=id-api']);
    expect(result.results.flatMap((r) => r.drift)).toEqual([]);
    expect(result.health).toMatchObject([{ service: 'api', health: 'degraded', reason: 'task: non-zero exit (1)', running: 2, desired: 3 }]);
    expect(await value(metrics, 'warden_service_health', { service: 'api', health: 'degraded' })).toBe(1);
    expect(await value(metrics, 'warden_service_health', { service: 'api', health: 'healthy' })).toBe(0);
    expect(await value(metrics, 'warden_object_drift', { object: 'api' })).toBeUndefined();
  });

  it('reads /info (which node this engine is) only at the first pass, at a resync, after the events stream reconnects, and when the nodes list stops showing it', async () => {
    const { port, controller } = setup({ replicas: 3 });
    const infos = (): number => port.calls.filter((c) => c === 'info').length;
    await controller.pass(['update']);
    await controller.pass(['service-update']);
    expect(infos()).toBe(1);
    await controller.pass(['resync']);
    expect(infos()).toBe(2);
    await controller.pass(['events-connected']);
    expect(infos()).toBe(3);
    // The engine left the swarm and joined again as another node: the remembered id is gone from the list.
    port.nodes[0]!.id = 'm1-again';
    port.selfNodeId = 'm1-again';
    const result = await controller.pass(['node-update']);
    expect(infos()).toBe(4);
    expect(result.leader).toBe(true);
    // A remembered id that is no longer a reachable manager is asked again, and not taken as the leader.
    port.nodes[0]!.manager = { leader: false, reachability: 'unreachable', addr: '10.0.0.1:2377' };
    port.nodes[1]!.manager = { leader: true, reachability: 'reachable', addr: '10.0.0.2:2377' };
    expect((await controller.pass(['node-update'])).leader).toBe(false);
    expect(infos()).toBe(5);
  });

  it('corrects drift with the version it read, and counts it', async () => {
    const { port, controller, metrics } = setup({ replicas: 1 });
    const result = await controller.pass();
    expect(port.calls.filter((c) => c.startsWith('update'))).toEqual(['updateService id-api']);
    // The first write uses the snapshot: no extra read of the service, only the leadership check of
    // this engine's own node just before the write.
    expect(port.calls.filter((c) => c.startsWith('inspect'))).toEqual(['inspectNode m1']);
    expect(port.calls.slice(-2)).toEqual(['inspectNode m1', 'updateService id-api']);
    expect(port.services[0]?.replicas).toBe(3);
    expect(result.results.find((r) => r.id === 'replicas')?.actions[0]?.outcome).toBe('applied');
    expect(await value(metrics, 'warden_corrections_total', { reconciler: 'replicas', action: 'scale-service' })).toBe(1);
    expect(await value(metrics, 'warden_drift_objects', { reconciler: 'replicas' })).toBe(1);
    const again = await controller.pass();
    expect(again.results.find((r) => r.id === 'replicas')?.drift).toEqual([]);
    expect(await value(metrics, 'warden_drift_objects', { reconciler: 'replicas' })).toBe(0);
  });

  it('re-reads and retries on a version conflict', async () => {
    const { port, controller } = setup({ replicas: 1 });
    port.conflicts = 2;
    const result = await controller.pass();
    expect(result.results.find((r) => r.id === 'replicas')?.actions[0]?.outcome).toBe('applied');
    expect(port.calls.filter((c) => c.startsWith('inspectService'))).toHaveLength(2);
    expect(port.calls.filter((c) => c.startsWith('updateService'))).toHaveLength(3);
    expect(port.services[0]?.replicas).toBe(3);
  });

  it('does not retry a refusal in a hot loop: the action waits, counted as backoff', async () => {
    const { port, controller, metrics, clock } = setup({ replicas: 1 });
    port.refuse = new EngineError('refused', 'invalid spec', 400);
    const first = await controller.pass();
    expect(first.results.find((r) => r.id === 'replicas')?.actions[0]).toMatchObject({ outcome: 'failed' });
    expect(port.calls.filter((c) => c.startsWith('updateService'))).toHaveLength(1);
    const second = await controller.pass();
    expect(second.results.find((r) => r.id === 'replicas')?.actions[0]).toMatchObject({ outcome: 'suppressed', reason: 'backoff' });
    expect(port.calls.filter((c) => c.startsWith('updateService'))).toHaveLength(1);
    expect(await value(metrics, 'warden_reconcile_total', { reconciler: 'replicas', result: 'error' })).toBe(1);
    expect(await value(metrics, 'warden_actions_suppressed_total', { reconciler: 'replicas', reason: 'backoff' })).toBe(1);
    expect(controller.status().held).toMatchObject([{ key: 'replicas/api/scale-service', reason: 'backoff' }]);
    clock.advance(61_000);
    port.refuse = undefined;
    const third = await controller.pass();
    expect(third.results.find((r) => r.id === 'replicas')?.actions[0]?.outcome).toBe('applied');
  });

  it.each([
    ['policy.mode: observe', { policy: { mode: 'observe' as const } }, 'observe'],
    ['a per-reconciler override', { policy: { reconcilers: { replicas: 'observe' as const } } }, 'observe'],
    ['--dry-run', { dryRun: true }, 'observe'],
    ['the ignore label', { services: [fakeService('api', 1, { labels: { 'warden.ignore': 'true' } })] }, 'ignored'],
  ])('%s suppresses the action and counts it', async (_name, opts, reason) => {
    const { port, controller, metrics } = setup({ replicas: 1, ...opts });
    const result = await controller.pass();
    expect(port.writes).toBe(0);
    expect(result.results.find((r) => r.id === 'replicas')?.actions[0]).toMatchObject({ outcome: 'suppressed', reason });
    expect(await value(metrics, 'warden_actions_suppressed_total', { reconciler: 'replicas', reason })).toBe(1);
  });

  it('caps the actions of one pass at maxActionsPerPass', async () => {
    const services = ['a', 'b', 'c', 'd'].map((n) => fakeService(n, 1));
    const { port, controller, metrics } = setup({ services, policy: { maxActionsPerPass: 2 } });
    const result = await controller.pass();
    expect(port.writes).toBe(2);
    expect(result.results.find((r) => r.id === 'replicas')?.actions.map((a) => a.outcome)).toEqual(['applied', 'applied', 'suppressed', 'suppressed']);
    expect(await value(metrics, 'warden_actions_suppressed_total', { reconciler: 'replicas', reason: 'cap' })).toBe(2);
    await controller.pass();
    expect(port.services.every((s) => s.replicas === 3)).toBe(true);
  });

  it('only observes when its node is not the Raft leader', async () => {
    const { port, controller, metrics } = setup({ replicas: 1, leader: false });
    const result = await controller.pass();
    expect(port.writes).toBe(0);
    expect(result.leader).toBe(false);
    expect(result.results.find((r) => r.id === 'replicas')?.actions[0]?.outcome).toBe('standby');
    expect(await value(metrics, 'warden_leader')).toBe(0);
    expect(await value(metrics, 'warden_drift_objects', { reconciler: 'replicas' })).toBe(1);
  });

  it('backs off an object that something keeps changing back, and reports it', async () => {
    const { port, controller, metrics, clock } = setup({ replicas: 3 });
    const fight = async (): Promise<string | undefined> => {
      // Another actor scales the service down again after each correction.
      const s = port.services[0]!;
      Object.assign(s, { replicas: 1, version: s.version + 1, spec: { ...s.spec, Mode: { Replicated: { Replicas: 1 } } } });
      clock.advance(30_000);
      return (await controller.pass()).results.find((r) => r.id === 'replicas')?.actions[0]?.outcome;
    };
    expect([await fight(), await fight(), await fight()]).toEqual(['applied', 'applied', 'applied']);
    expect(await fight()).toBe('suppressed');
    expect(controller.status().held).toMatchObject([{ key: 'replicas/api', reason: 'flapping' }]);
    expect(await value(metrics, 'warden_actions_suppressed_total', { reconciler: 'replicas', reason: 'flapping' })).toBe(1);
    clock.advance(5 * 60_000);
    expect(await fight()).toBe('applied');
  });

  it('keeps the last good desired state when a load fails, and tells the failed revision from the one in force', async () => {
    const { controller, metrics, port } = setup({ replicas: 1 });
    const broken = await loadDesiredStateText('apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: x }\nspec: { replica: 1 }\n', 'warden.yml', { revision: 'badc0ffee' })
      .catch((e: unknown) => e as Error);
    controller.desiredStateFailed(broken as Error, 'git repo');
    expect(await value(metrics, 'warden_desired_state_valid')).toBe(0);
    expect(controller.status()).toMatchObject({ desiredStateValid: false, revision: 'rev1', failedRevision: 'badc0ffee' });
    expect(controller.status().desiredStateError).toMatch(/^warden.yml:4:9: /);
    const text = await metrics.registry.metrics();
    expect(text).toContain('warden_desired_state_info{cluster="test",source="test",revision="rev1"} 1');
    expect(text).toContain('warden_desired_state_failed_info{source="git repo",revision="badc0ffee"} 1');
    await controller.pass();
    expect(port.services[0]?.replicas).toBe(3);
    // A good load clears the failure.
    controller.setDesired(loaded(desired(), 'rev2'));
    expect(await metrics.registry.metrics()).not.toContain('warden_desired_state_failed_info{');
    expect(controller.status()).toMatchObject({ desiredStateValid: true, revision: 'rev2', failedRevision: undefined });
  });

  it('holds a revision that would scale most running services to 0 at once, and says why', async () => {
    const services = [fakeService('a', 3), fakeService('b', 3), fakeService('c', 3)];
    const port = new FakePort(services, [fakeNode('m1', 'manager', true)], 'm1');
    const metrics = new Metrics({ processMetrics: false });
    const controller = new Controller({ port, logger: silent, metrics, scheduler: () => ({ stop: () => undefined }) });
    controller.setDesired(loaded(desired({ services: ['a', 'b', 'c'].map((name) => ({ name, replicas: 0, origin: 'services' })) })));
    const result = await controller.pass();
    const r = result.results.find((x) => x.id === 'replicas')!;
    expect(port.writes).toBe(0);
    expect(r.actions.map((a) => a.reason)).toEqual(['cap', 'cap', 'cap']);
    expect(r.blocked).toBe('held: this desired state would scale 3 of 3 running services to 0 at once; if that is meant, scale down at most half of them per revision (or by hand)');
    // One of three is an ordinary change.
    controller.setDesired(loaded(desired({ services: [{ name: 'a', replicas: 0, origin: 'services' }] }), 'rev2'));
    await controller.pass();
    expect(port.writes).toBe(1);
  });

  it('reports an unreachable engine as a failed pass, changing nothing, and no longer claims to lead', async () => {
    const { port, controller, metrics } = setup({ replicas: 3 });
    expect((await controller.pass()).leader).toBe(true);
    expect(await value(metrics, 'warden_leader')).toBe(1);
    port.listServices = () => Promise.reject(new EngineError('unreachable', 'connect ENOENT', undefined));
    const result = await controller.pass();
    expect(result.error).toMatch(/cannot read the cluster: connect ENOENT/);
    expect(result.leader).toBe(false);
    expect(controller.status().leader).toBe(false);
    expect(await value(metrics, 'warden_leader')).toBe(0);
    expect(port.writes).toBe(0);
    expect(await value(metrics, 'warden_reconcile_total', { reconciler: 'replicas', result: 'error' })).toBe(1);
  });
});

describe('the loop', () => {
  it('acts at once on a trigger that finds it idle, however long the quiet window, and a burst at once is one pass', async () => {
    const port = new FakePort([fakeService('api', 3)], [fakeNode('m1', 'manager', true)], 'm1');
    // A quiet window of 3 s: a pass that waited for it could not come within the 1.5 s allowed below.
    const controller = new Controller({
      port, logger: silent, metrics: new Metrics({ processMetrics: false }), debounceMs: 3_000, maxDelayMs: 6_000,
      scheduler: () => ({ stop: () => undefined }),
    });
    const passes: string[][] = [];
    const original = controller.pass.bind(controller);
    controller.pass = async (reasons, signal, planOnly) => {
      passes.push(reasons ?? []);
      return original(reasons, signal, planOnly);
    };
    const ac = new AbortController();
    const running = controller.start(ac.signal);
    controller.setDesired(loaded(desired({ services: [{ name: 'api', replicas: 3, origin: 'services' }] })));
    await vi.waitFor(() => expect(passes).toEqual([['desired-state']]), { timeout: 1_500 });
    port.emit({ type: 'service', action: 'update', id: 'id-api', attributes: {}, timeMs: 0 });
    await vi.waitFor(() => expect(passes.length).toBe(2), { timeout: 1_500 });
    expect(passes[1]).toEqual(['service-update']);
    // A hundred events at once find it idle together: one pass for all of them.
    for (let i = 0; i < 100; i++) port.emit({ type: 'node', action: 'update', id: 'm1', attributes: {}, timeMs: 0 });
    await vi.waitFor(() => expect(passes.length).toBe(3), { timeout: 1_500 });
    ac.abort();
    await running;
    expect(passes).toEqual([['desired-state'], ['service-update'], ['node-update']]);
  });

  it('runs another pass without an event when a reconciler asks to look again', async () => {
    const { port } = setup({ replicas: 3 });
    const asking = { id: 'replicas' as const, actions: [], plan: () => ({ drift: [], actions: [], requeueAfterMs: 20 }) };
    const passes: string[][] = [];
    const controller = new Controller({
      port, logger: silent, metrics: new Metrics({ processMetrics: false }), reconcilers: [asking],
      scheduler: () => ({ stop: () => undefined }),
    });
    const original = controller.pass.bind(controller);
    controller.pass = async (reasons, signal, planOnly) => {
      passes.push(reasons ?? []);
      return original(reasons, signal, planOnly);
    };
    controller.setDesired(loaded(desired()));
    const ac = new AbortController();
    const running = controller.start(ac.signal);
    await vi.waitFor(() => expect(passes.length).toBeGreaterThanOrEqual(3));
    ac.abort();
    await running;
    expect(passes.slice(1, 3)).toEqual([['requeue'], ['requeue']]);
  });

  it('tries a pass that could not read the cluster again after 1 s, and one that threw too, without stopping', async () => {
    const { port } = setup({ replicas: 3 });
    const passes: string[][] = [];
    const controller = new Controller({
      port, logger: silent, metrics: new Metrics({ processMetrics: false }), scheduler: () => ({ stop: () => undefined }),
    });
    const original = controller.pass.bind(controller);
    let failing = 2;
    controller.pass = async (reasons, signal, planOnly) => {
      passes.push(reasons ?? []);
      // The first pass meets an engine that does not answer; the second, a bug of warden's own.
      if (failing === 1) {
        failing = 0;
        throw new TypeError('a bug');
      }
      return original(reasons, signal, planOnly);
    };
    const listServices = port.listServices.bind(port);
    port.listServices = (o) => {
      if (failing === 2) {
        failing = 1;
        return Promise.reject(new EngineError('unreachable', 'connect ENOENT', undefined));
      }
      return listServices(o);
    };
    controller.setDesired(loaded(desired({ services: [{ name: 'api', replicas: 3, origin: 'services' }] })));
    const ac = new AbortController();
    const running = controller.start(ac.signal);
    // 1 s after the first failure, 2 s after the second: then a pass that reads the cluster.
    await vi.waitFor(() => expect(passes.length).toBe(3), { timeout: 5_000 });
    ac.abort();
    await running;
    expect(passes).toEqual([['desired-state'], ['retry'], ['retry']]);
    expect(controller.status().lastPass).toBeDefined();
  });

  it('stops promptly when aborted while idle', async () => {
    const { controller } = setup({ replicas: 3 });
    const ac = new AbortController();
    const running = controller.start(ac.signal);
    ac.abort();
    await expect(running).resolves.toBeUndefined();
  });
});

describe('metrics', () => {
  it('creates every label combination at zero', async () => {
    const metrics = new Metrics({ processMetrics: false });
    const text = await metrics.registry.metrics();
    for (const r of ['managers', 'nodes', 'replicas', 'placement', 'volumes', 'ordering']) {
      expect(text).toContain(`warden_drift_objects{reconciler="${r}"} 0`);
      for (const reason of ['observe', 'window', 'cap', 'flapping', 'quorum']) {
        expect(text).toContain(`warden_actions_suppressed_total{reconciler="${r}",reason="${reason}"} 0`);
      }
      expect(text).toContain(`warden_reconcile_total{reconciler="${r}",result="success"} 0`);
      expect(text).toContain(`warden_reconcile_duration_seconds_count{reconciler="${r}"} 0`);
    }
    expect(text).toContain('warden_corrections_total{reconciler="replicas",action="scale-service"} 0');
    expect(text).toContain('warden_swarm_managers{status="unreachable"} 0');
    expect(text).toContain('warden_leader 0');
  });
});

describe('leadership, checked before every write', () => {
  // The snapshot shows m1 (this engine's node) leading; the check just before the write reads m2 leading.
  function movesBeforeTheWrite(port: FakePort): void {
    const inspect = port.inspectNode.bind(port);
    port.inspectNode = async (id) => {
      port.nodes[0]!.manager = { leader: false, reachability: 'reachable', addr: '10.0.0.1:2377' };
      port.nodes[1]!.manager = { leader: true, reachability: 'reachable', addr: '10.0.0.2:2377' };
      return inspect(id);
    };
  }

  it('sends no write once the check reads that this node no longer leads, and stands by for the rest of the pass', async () => {
    const services = ['a', 'b', 'c'].map((n) => fakeService(n, 1));
    const { port, controller, metrics } = setup({ services });
    movesBeforeTheWrite(port);
    const result = await controller.pass();
    expect(port.writes).toBe(0);
    // One check: after it, the instance no longer acts, so the other actions are not even checked.
    expect(port.calls.filter((c) => c.startsWith('inspectNode'))).toEqual(['inspectNode m1']);
    const actions = result.results.find((r) => r.id === 'replicas')!.actions;
    expect(actions.map((a) => a.outcome)).toEqual(['standby', 'standby', 'standby']);
    expect(actions[0]?.error).toBe("this engine's node m1 is no longer the Raft leader");
    expect(result.leader).toBe(false);
    expect(controller.status().leader).toBe(false);
    expect(await value(metrics, 'warden_leader')).toBe(0);
    expect(await value(metrics, 'warden_corrections_total', { reconciler: 'replicas', action: 'scale-service' })).toBe(0);
    // The next pass reads the new leader from its snapshot and stands by from the start.
    expect((await controller.pass()).leader).toBe(false);
    expect(port.writes).toBe(0);
  });

  it('sends no write when the check cannot read this engine\'s node', async () => {
    const { port, controller } = setup({ replicas: 1 });
    port.inspectNode = () => Promise.reject(new EngineError('unreachable', 'connect ECONNREFUSED', undefined));
    const result = await controller.pass();
    expect(port.writes).toBe(0);
    expect(result.results.find((r) => r.id === 'replicas')?.actions[0]).toMatchObject({
      outcome: 'standby', error: "cannot confirm that this engine's node m1 is the Raft leader: connect ECONNREFUSED",
    });
    expect(result.leader).toBe(false);
  });

  it('checks again before a retry after a version conflict, and logs the check with the write', async () => {
    const { port, metrics } = setup({ replicas: 1 });
    const lines: Array<Record<string, unknown>> = [];
    const controller = new Controller({
      port, metrics, logger: pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }),
      scheduler: () => ({ stop: () => undefined }),
    });
    controller.setDesired(loaded(desired({ services: [{ name: 'api', replicas: 3, origin: 'services' }] })));
    port.conflicts = 1;
    await controller.pass();
    expect(port.calls.filter((c) => c.startsWith('inspectNode') || c.startsWith('updateService'))).toEqual([
      'inspectNode m1', 'updateService id-api', 'inspectNode m1', 'updateService id-api',
    ]);
    expect(lines.find((l) => l.msg === 'corrected drift')).toMatchObject({
      object: 'api', leaderCheck: { node: 'm1', hostname: 'm1', leader: true, at: expect.any(String) },
    });
  });

  it('does not check when actions are not gated on leadership (warden apply)', async () => {
    const port = new FakePort([fakeService('api', 1)], [fakeNode('m1', 'manager', false), fakeNode('m2', 'manager', true)], 'm1');
    const controller = new Controller({ port, logger: silent, metrics: new Metrics({ processMetrics: false }), leaderOnly: false, scheduler: () => ({ stop: () => undefined }) });
    controller.setDesired(loaded(desired({ services: [{ name: 'api', replicas: 3, origin: 'services' }] })));
    await controller.pass();
    expect(port.calls.filter((c) => c.startsWith('inspect'))).toEqual([]);
    expect(port.writes).toBe(1);
  });
});

describe('asynchronous actions', () => {
  // A reconciler that asks for a forced restart of every service at once: one ordering wave.
  const wave = {
    id: 'ordering' as const,
    actions: ['force-restart' as const],
    plan: (_d: unknown, observed: { services: Array<{ id: string; name: string; forceUpdate: number }> }) => ({
      drift: [],
      actions: observed.services.filter((s) => s.forceUpdate === 0).map((s) => ({
        kind: 'force-restart' as const, reconciler: 'ordering' as const, object: s.name, serviceId: s.id,
        before: {}, after: {}, disruptive: false, ignored: false,
      })),
    }),
  };

  it('starts a wave\'s restarts together and does not hold the pass while the engine carries them out', async () => {
    const services = ['a', 'b', 'c'].map((n) => fakeService(n, 2, { status: { runningTasks: 0, desiredTasks: 2 } }));
    const port = new FakePort(services, [fakeNode('m1', 'manager', true)], 'm1');
    const controller = new Controller({
      port, logger: silent, metrics: new Metrics({ processMetrics: false }), reconcilers: [wave as never],
      // The fake's restarted tasks never run: each restart would hold a waiting pass for the whole minute.
      settleTimeoutMs: 60_000, scheduler: () => ({ stop: () => undefined }),
    });
    controller.setDesired(loaded(desired()));
    const started = performance.now();
    const result = await controller.pass();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result.results[0]?.actions.map((a) => a.outcome)).toEqual(['applied', 'applied', 'applied']);
    // Written one after the other in the pass, with no read of their progress in between.
    expect(port.calls.filter((c) => c.startsWith('updateService') || c.startsWith('listTasks'))).toEqual([
      'updateService id-a', 'updateService id-b', 'updateService id-c',
    ]);
    // Another pass runs at once, while the three are still followed.
    const next = await controller.pass();
    expect(next.results[0]?.actions).toEqual([]);
  });

  it('follows them off the pass and asks for a pass when the engine is done or the deadline passes', async () => {
    const services = ['a', 'b'].map((n) => fakeService(n, 2, { status: { runningTasks: 0, desiredTasks: 2 } }));
    const port = new FakePort(services, [fakeNode('m1', 'manager', true)], 'm1');
    const controller = new Controller({
      port, logger: silent, metrics: new Metrics({ processMetrics: false }), reconcilers: [wave as never],
      settleTimeoutMs: 1_500, scheduler: () => ({ stop: () => undefined }),
    });
    const passes: string[][] = [];
    const original = controller.pass.bind(controller);
    controller.pass = async (reasons, signal, planOnly) => {
      passes.push(reasons ?? []);
      return original(reasons, signal, planOnly);
    };
    controller.setDesired(loaded(desired()));
    const ac = new AbortController();
    const running = controller.start(ac.signal);
    await vi.waitFor(() => expect(port.writes).toBe(2));
    // Neither restart ever converges here (the fake lists no task): both are given up at the deadline,
    // together, one round of checks, and that asks for a pass.
    await controller.settled();
    await vi.waitFor(() => expect(passes.some((r) => r.includes('settled'))).toBe(true));
    // Each round of checks lists the services (with their task counts, which passes here do not ask
    // for) once for both restarts.
    const rounds = port.calls.filter((c) => c === 'listServices status').length;
    expect(rounds).toBeGreaterThanOrEqual(1);
    expect(port.calls.filter((c) => c.startsWith('listTasks service=')).length).toBe(rounds * 2);
    ac.abort();
    await running;
  });
});

describe('the host, observed off the pass', () => {
  const volumes = [{ path: '/mnt/nas/pg', owner: 70, recursive: false }];
  // A hard NFS mount whose server is gone: lstat never returns, and the read ignores its signal.
  const hung = { inspectPaths: () => new Promise<never>(() => undefined) };

  it('corrects the engine\'s drift without waiting for a read that hangs, and makes it an error of volumes at its deadline', async () => {
    const port = new FakePort([fakeService('api', 1)], [fakeNode('m1', 'manager', true)], 'm1');
    const metrics = new Metrics({ processMetrics: false });
    const controller = new Controller({ port, logger: silent, metrics, host: hung, hostReadTimeoutMs: 200, scheduler: () => ({ stop: () => undefined }) });
    const ac = new AbortController();
    const running = controller.start(ac.signal);
    const started = performance.now();
    controller.setDesired(loaded(desired({ services: [{ name: 'api', replicas: 3, origin: 'services' }], volumes })));
    await vi.waitFor(() => expect(port.services[0]?.replicas).toBe(3), { timeout: 150 });
    expect(performance.now() - started).toBeLessThan(150);
    // Before the deadline volumes waits for its first answer: neither an error nor in sync.
    expect(controller.status().errors).toEqual({});
    // At the deadline the observer asks for a pass: volumes is in error, never "in sync".
    await vi.waitFor(() => expect(controller.status().errors.volumes).toBe('cannot observe the host: the volume paths read has not answered within 0.2 s; no answer yet'), { timeout: 2_000 });
    expect(await value(metrics, 'warden_reconcile_total', { reconciler: 'volumes', result: 'error' })).toBeGreaterThanOrEqual(1);
    expect(controller.liveness()).toBe(true);
    ac.abort();
    const stopping = performance.now();
    await running;
    expect(performance.now() - stopping).toBeLessThan(100);
  });

  it('waits in a one-shot pass (plan, apply) for the read, up to its deadline', async () => {
    const port = new FakePort([fakeService('api', 3)], [fakeNode('m1', 'manager', true)], 'm1');
    const controller = new Controller({ port, logger: silent, metrics: new Metrics({ processMetrics: false }), host: hung, hostReadTimeoutMs: 100 });
    controller.setDesired(loaded(desired({ volumes })));
    const started = performance.now();
    const result = await controller.pass(['plan'], undefined, true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(result.results.find((r) => r.id === 'volumes')?.error).toMatch(/^cannot observe the host: the volume paths read has not answered within 0.1 s/);
  });

  it('plans volumes on the answer when it comes', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
    const host = { inspectPaths: async () => new Map([['/mnt/nas/pg', { kind: 'directory' as const, uid: 0, gid: 0, mode: 0o755 }]]) };
    const controller = new Controller({ port, logger: silent, metrics: new Metrics({ processMetrics: false }), host });
    controller.setDesired(loaded(desired({ volumes })));
    const result = await controller.pass(['plan'], undefined, true);
    expect(result.results.find((r) => r.id === 'volumes')?.drift).toEqual([{ object: '/mnt/nas/pg', message: 'owner 0 (wants 70)' }]);
  });
});

describe('liveness', () => {
  it('says the loop is stuck when a pass has had no answer for longer than stallMs, and not while it waits for triggers', async () => {
    const port = new FakePort([fakeService('api', 3)], [fakeNode('m1', 'manager', true)], 'm1');
    const controller = new Controller({ port, logger: silent, metrics: new Metrics({ processMetrics: false }), stallMs: 100, scheduler: () => ({ stop: () => undefined }) });
    controller.setDesired(loaded(desired({ services: [{ name: 'api', replicas: 3, origin: 'services' }] })));
    await controller.pass();
    expect(controller.liveness(performance.now() + 10_000)).toBe(true);
    // An engine call that never answers (the client's timeout would end it; this one has none).
    port.listServices = () => new Promise(() => undefined);
    void controller.pass();
    await new Promise((r) => setTimeout(r, 20));
    expect(controller.liveness()).toBe(true);
    expect(controller.liveness(performance.now() + 150)).toMatch(/^the pass in flight has had no answer for 0 s \(more than 0 s\): the controller loop is stuck$/);
  });
});

describe('two actions on one object in a pass', () => {
  it('sends the first and defers the second to a pass right after, planned on what the first left', async () => {
    const port = new FakePort([fakeService('api', 1)], [fakeNode('m1', 'manager', true)], 'm1');
    // One scales the service; the other wants a forced restart while the service runs short by the counts it
    // read, which the scale is about to change: the second must not go out on the first one's stale snapshot.
    const scaler: Reconciler<'replicas'> = {
      id: 'replicas', actions: ['scale-service'],
      plan: (_d, o) => {
        const api = o.services[0]!;
        return { drift: [], actions: api.replicas === 3 ? [] : [{ kind: 'scale-service', reconciler: 'replicas', object: 'api', serviceId: api.id, replicas: 3, before: {}, after: {}, disruptive: false, ignored: false }] };
      },
    };
    const seen: number[] = [];
    const restarter: Reconciler<'ordering'> = {
      id: 'ordering', actions: ['force-restart'],
      plan: (_d, o) => {
        const api = o.services[0]!;
        seen.push(api.replicas ?? 0);
        return { drift: [], actions: api.replicas === 3 ? [] : [{ kind: 'force-restart', reconciler: 'ordering', object: 'api', serviceId: api.id, before: {}, after: {}, disruptive: false, ignored: false }] };
      },
    };
    const controller = new Controller({ port, logger: silent, metrics: new Metrics({ processMetrics: false }), reconcilers: [scaler, restarter] as never, scheduler: () => ({ stop: () => undefined }) });
    controller.setDesired(loaded(desired({})));
    const first = await controller.pass();
    expect(first.results.find((r) => r.id === 'ordering')).toMatchObject({ actions: [{ outcome: 'deferred' }], requeueAfterMs: 0 });
    expect(port.calls.filter((c) => c.startsWith('update'))).toEqual(['updateService id-api']);
    expect(port.services[0]?.forceUpdate).toBe(0);
    // The next pass plans on the scaled service: nothing more to do.
    await controller.pass(['requeue']);
    expect(seen).toEqual([1, 3]);
    expect(port.calls.filter((c) => c.startsWith('update'))).toEqual(['updateService id-api']);
  });
});
