import { describe, expect, it } from 'vitest';
import type { SwarmService, SwarmTask } from '../../../src/docker/port.js';
import type { DesiredService } from '../../../src/desired-state/types.js';
import { dependencyGraph, findCycle, waves } from '../../../src/reconcilers/dependencies.js';
import { ordering, retryBackoff } from '../../../src/reconcilers/ordering.js';
import type { ActionRecord, Observed } from '../../../src/reconcilers/types.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeService } from '../../support/fake-port.js';

const NOW = Date.parse('2026-11-21T10:00:00Z');
const REG = '10.0.0.5:5000';

/** svc is a replicated service running `running` of `want` tasks, from `image`. */
function svc(name: string, running: number, want: number, image = 'busybox:lab', over: Partial<SwarmService> = {}): SwarmService {
  return fakeService(name, want, { image, status: { runningTasks: running, desiredTasks: want }, ...over });
}

/** rejected is a task of `name` rejected `agoMs` before NOW. */
function rejected(name: string, agoMs: number, err = `No such image: ${REG}/app:1`): SwarmTask {
  return {
    id: `t-${name}-${agoMs}`, serviceId: `id-${name}`, nodeId: 'w1', slot: 1, desiredState: 'shutdown', state: 'rejected',
    message: 'preparing', err, timestamp: new Date(NOW - agoMs).toISOString(), image: `${REG}/app:1`,
  };
}

/** onItsWay is a task of `name` that swarm made to replace a failed one: waiting out its restart delay (desired ready), or starting. */
function onItsWay(name: string, state: SwarmTask['state'] = 'ready', desiredState: SwarmTask['desiredState'] = 'ready'): SwarmTask {
  return {
    id: `t-${name}-next`, serviceId: `id-${name}`, nodeId: 'w1', slot: 1, desiredState, state,
    message: '', err: '', timestamp: new Date(NOW - 1_000).toISOString(), image: `${REG}/app:1`,
  };
}

function observed(services: SwarmService[], tasks: SwarmTask[] = [], probeOk = true): Observed {
  return {
    info: { nodeId: 'm1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 1, nodes: 1 },
    nodes: [], services, tasks, at: NOW,
    registry: { url: `http://${REG}/v2/`, ok: probeOk, detail: probeOk ? 'HTTP 200' : 'ECONNREFUSED' },
  };
}

const registry = { service: 'registry', address: REG, probe: `http://${REG}/v2/` };
const app = (name: string, dependsOn?: string[]): DesiredService => ({ name, origin: 'services', ...(dependsOn ? { dependsOn } : {}) });

describe('ordering.plan', () => {
  it.each([
    { name: 'all running: nothing to do',
      have: [svc('registry', 1, 1), svc('api', 2, 2, `${REG}/app:1`)], tasks: [], drift: [], actions: [] },
    { name: 'the registry is down and stuck: it is restarted first; its dependents wait',
      have: [svc('registry', 0, 1, 'registry:lab'), svc('api', 0, 2, `${REG}/app:1`)],
      tasks: [rejected('registry', 60_000, 'task: non-zero exit (1)'), rejected('api', 60_000)], probeOk: false,
      drift: [
        `api: 0/2 running, stuck: No such image: ${REG}/app:1; waits for its dependencies: registry runs 0/1 running`,
        'registry: 0/1 running, stuck: task: non-zero exit (1)',
      ],
      actions: ['force-restart registry'] },
    { name: 'the registry runs but its probe does not answer: dependents wait',
      have: [svc('registry', 1, 1, 'registry:lab'), svc('api', 0, 2, `${REG}/app:1`)], tasks: [rejected('api', 60_000)], probeOk: false,
      drift: [`api: 0/2 running, stuck: No such image: ${REG}/app:1; waits for its dependencies: registry's probe http://${REG}/v2/ does not answer (ECONNREFUSED)`],
      actions: [] },
    { name: 'the registry is healthy: its stuck dependents are restarted in one wave',
      have: [svc('registry', 1, 1, 'registry:lab'), svc('api', 0, 2, `${REG}/app:1`), svc('web', 1, 2, `${REG}/web:1`)],
      tasks: [rejected('api', 60_000), rejected('web', 30_000)],
      drift: [`api: 0/2 running, stuck: No such image: ${REG}/app:1`, `web: 1/2 running, stuck: No such image: ${REG}/app:1`],
      actions: ['force-restart api', 'force-restart web disruptive'] },
    { name: 'dependsOn: a service waits until its dependency runs all its tasks',
      want: [app('db'), app('api', ['db'])], have: [svc('db', 1, 2), svc('api', 0, 1)], tasks: [rejected('db', 60_000), rejected('api', 60_000)],
      drift: [`api: 0/1 running, stuck: No such image: ${REG}/app:1; waits for its dependencies: db runs 1/2 running`, `db: 1/2 running, stuck: No such image: ${REG}/app:1`],
      actions: ['force-restart db disruptive'] },
    { name: 'failed, and swarm made the next task (its restart delay): swarm retries by itself',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [rejected('api', 5_000), onItsWay('api')], drift: [], actions: [] },
    { name: 'failed a moment ago, swarm not yet done with it (desired still running): not stuck',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [{ ...rejected('api', 100), desiredState: 'running' as const }], drift: [], actions: [] },
    { name: 'behind without failures (starting): not stuck',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [onItsWay('api', 'preparing', 'running')], drift: [], actions: [] },
    { name: 'pending for want of a node: a restart would not help, replicas reports it',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)],
      tasks: [{ ...onItsWay('api', 'pending', 'running'), err: 'no suitable node (scheduling constraints not satisfied on 5 nodes)' }], drift: [], actions: [] },
    { name: 'a failure 5 hours old with nothing on its way: stuck all the same',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [rejected('api', 5 * 3_600_000)],
      drift: [`api: 0/2 running, stuck: No such image: ${REG}/app:1`], actions: ['force-restart api'] },
    { name: 'a slot whose newest task failed, though an older one of it ran: stuck',
      have: [svc('registry', 1, 1), svc('api', 0, 1, `${REG}/app:1`)],
      tasks: [{ ...rejected('api', 3_600_000), state: 'shutdown' as const, err: '' }, rejected('api', 60_000)],
      drift: [`api: 0/1 running, stuck: No such image: ${REG}/app:1`], actions: ['force-restart api'] },
    { name: 'the newest task of every empty slot ended without failing (shut down): not stuck',
      have: [svc('registry', 1, 1), svc('api', 0, 1, `${REG}/app:1`)],
      tasks: [rejected('api', 3_600_000), { ...rejected('api', 60_000), state: 'shutdown' as const, err: '' }], drift: [], actions: [] },
    { name: 'an update rolling: the engine is at work, not stuck',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`, { updateStatus: { state: 'updating', startedAt: '', completedAt: '', message: '' } })],
      tasks: [rejected('api', 60_000)], drift: [], actions: [] },
    { name: 'an ignored service: no drift, an ignored action',
      have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`, { labels: { 'warden.ignore': 'true' } })],
      tasks: [rejected('api', 60_000)], drift: [], actions: ['force-restart api ignored'] },
    { name: 'a job is never restarted (that would run it again)',
      have: [svc('registry', 1, 1), svc('batch', 0, 1, `${REG}/app:1`, { mode: 'replicated-job' })],
      tasks: [rejected('batch', 60_000)], drift: [], actions: [] },
    { name: 'services outside the graph are left alone',
      have: [svc('registry', 1, 1), svc('other', 0, 2)], tasks: [rejected('other', 60_000)], drift: [], actions: [] },
  ])('$name', ({ want, have, tasks, probeOk, drift, actions }) => {
    const state = desired({ registry, ...(want ? { services: want } : {}) });
    const plan = ordering.plan(state, observed(have, tasks, probeOk ?? true), planContext({ now: NOW }));
    expect(plan.drift.map((d) => `${d.object}: ${d.message}`)).toEqual(drift);
    expect(plan.actions.map((a) => `${a.kind} ${a.object}${a.disruptive ? ' disruptive' : ''}${a.ignored ? ' ignored' : ''}`)).toEqual(actions);
  });

  it.each([
    { name: 'restarted 25 s ago and stuck again: waits (backoff 30 s)', record: { at: NOW - 25_000, count: 1 }, failedAgo: 20_000, acts: false, message: /still stuck after 1 forced restart\(s\): No such image.*next try at 2026-11-21T10:00:05/ },
    { name: 'restarted 10 s ago, failed again, swarm retrying: converging', record: { at: NOW - 10_000, count: 1 }, failedAgo: 5_000, next: true, acts: false, message: /restarted 1 time\(s\), converging/ },
    { name: 'restarted 40 s ago and still stuck: tries again', record: { at: NOW - 40_000, count: 1 }, failedAgo: 20_000, acts: true, message: /stuck/ },
    { name: 'third restart waits 2 min', record: { at: NOW - 100_000, count: 3 }, failedAgo: 90_000, acts: false, message: /next try at 2026-11-21T10:00:20/ },
    { name: 'restarted, its new task starting: converging', record: { at: NOW - 5_000, count: 1 }, failedAgo: undefined, next: true, acts: false, message: /restarted 1 time\(s\), converging/ },
  ])('$name', ({ record, failedAgo, next, acts, message }) => {
    const have = [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)];
    // The failure that asked for the restart is older than the restart; what the slot did since decides.
    const tasks = [
      rejected('api', NOW - record.at + 60_000),
      ...(failedAgo === undefined ? [] : [rejected('api', failedAgo)]),
      ...(next ? [onItsWay('api', 'preparing', 'running')] : []),
    ];
    const last = (kind: string, object: string): ActionRecord | undefined => (kind === 'force-restart' && object === 'api' ? record : undefined);
    const plan = ordering.plan(desired({ registry }), observed(have, tasks), planContext({ now: NOW, lastApplied: last }));
    expect(plan.actions.length > 0).toBe(acts);
    expect(plan.drift.find((d) => d.object === 'api')?.message).toMatch(message);
  });

  // Stuck is what the engine shows, never the age of the failure: the same snapshot gives the same plan
  // whether warden reads it a minute or a week after swarm gave up (RECENT_FAILURE_MS read it from the clock).
  it.each([
    { late: 0 }, { late: 3_600_000 }, { late: 7 * 24 * 3_600_000 },
  ])('decides stuck without the clock: the same plan $late ms later', ({ late }) => {
    const have = [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`), svc('web', 0, 1, `${REG}/web:1`)];
    const tasks = [rejected('api', 60_000), rejected('web', 30_000), onItsWay('web')];
    const plan = ordering.plan(desired({ registry }), { ...observed(have, tasks), at: NOW + late }, planContext({ now: NOW + late }));
    expect(plan.drift.map((d) => `${d.object}: ${d.message}`)).toEqual([`api: 0/2 running, stuck: No such image: ${REG}/app:1`]);
    expect(plan.actions.map((a) => `${a.kind} ${a.object}`)).toEqual(['force-restart api']);
  });

  it('does nothing without a registry or any dependsOn', () => {
    const plan = ordering.plan(desired({ services: [app('api')] }), observed([svc('api', 0, 1)], [rejected('api', 60_000)]), planContext({ now: NOW }));
    expect(plan).toEqual({ drift: [], actions: [] });
  });

  it('reports a cycle through the registry\'s images and restarts nothing', () => {
    const state = desired({ registry, services: [app('registry', ['cache'])] });
    const have = [svc('registry', 0, 1, 'registry:lab'), svc('cache', 0, 1, `${REG}/cache:1`)];
    const plan = ordering.plan(state, observed(have, [rejected('registry', 60_000), rejected('cache', 60_000)]), planContext({ now: NOW }));
    expect(plan.actions).toEqual([]);
    expect(plan.drift[0]?.message).toMatch(/dependency cycle (registry → cache → registry|cache → registry → cache)/);
  });

  it('asks for the tasks of the services that run fewer tasks than they want, and of no other', () => {
    const have = [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`), svc('web', 2, 2, `${REG}/web:1`), svc('other', 0, 1)];
    const need = ordering.tasks!(desired({ registry }), have);
    expect([...(need.services ?? [])]).toEqual(['id-api']);
    expect(need.running ?? false).toBe(false);
  });
});

describe('the dependency graph', () => {
  it.each([
    { name: 'nothing behind: no requeue', have: [svc('registry', 1, 1), svc('api', 2, 2, `${REG}/app:1`)], tasks: [], want: undefined },
    { name: 'swarm restarting it: soon, since no event says a task started or failed', have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [rejected('api', 5_000), onItsWay('api')], want: 2_000 },
    { name: 'pending for want of a node: a node event will say when that changes', have: [svc('registry', 1, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [{ ...onItsWay('api', 'pending', 'running'), err: 'no suitable node' }], want: undefined },
    { name: 'waiting on a dependency: soon, since no event says a task started', have: [svc('registry', 0, 1), svc('api', 0, 2, `${REG}/app:1`)], tasks: [rejected('api', 60_000)], probeOk: false, want: 2_000 },
  ])('asks to look again without an event: $name', ({ have, tasks, probeOk, want }) => {
    const plan = ordering.plan(desired({ registry, services: [app('api')] }), observed(have, tasks, probeOk ?? true), planContext({ now: NOW }));
    expect(plan.requeueAfterMs).toBe(want);
  });

  it('asks for no task without a registry or a dependsOn, however many services are behind', () => {
    expect(ordering.tasks!(desired({ services: [app('api')] }), [svc('api', 0, 2), svc('web', 0, 2)])).toEqual({});
  });

  it('orders waves: the registry, then its dependents, then theirs', () => {
    const state = desired({ registry, services: [app('front', ['api']), app('api'), app('cache')] });
    const graph = dependencyGraph(state, [svc('registry', 1, 1), svc('api', 1, 1, `${REG}/app:1`), svc('cache', 1, 1), svc('front', 1, 1, `${REG}/front:1`)]);
    expect(findCycle(graph)).toBeUndefined();
    expect(waves(graph)).toEqual([['cache', 'registry'], ['api'], ['front']]);
  });

  it.each([
    { count: 1, ms: 30_000 }, { count: 2, ms: 60_000 }, { count: 5, ms: 480_000 }, { count: 9, ms: 600_000 },
  ])('backs off $ms ms after $count restarts', ({ count, ms }) => {
    expect(retryBackoff(count)).toBe(ms);
  });
});
