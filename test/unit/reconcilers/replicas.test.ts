import { describe, expect, it } from 'vitest';
import { ordering } from '../../../src/reconcilers/ordering.js';
import { replicas } from '../../../src/reconcilers/replicas.js';
import type { Observed } from '../../../src/reconcilers/types.js';
import type { SwarmService, SwarmTask } from '../../../src/docker/port.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeService } from '../../support/fake-port.js';

function observed(services: SwarmService[]): Observed {
  return {
    info: { nodeId: 'm1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'm1', serverVersion: '', managers: 1, nodes: 1 },
    nodes: [], services, tasks: [], at: 0,
  };
}

const global = (name: string): SwarmService => ({ ...fakeService(name, 0), mode: 'global', replicas: undefined });

describe('replicas.plan', () => {
  it.each([
    { name: 'in sync', want: [{ name: 'api', replicas: 3 }], have: [fakeService('api', 3)], drift: [], actions: [] },
    { name: 'scaled down by hand', want: [{ name: 'api', replicas: 3 }], have: [fakeService('api', 1)],
      drift: ['api: replicas 1 (wants 3)'], actions: ['scale-service api 3'] },
    { name: 'scaled up by hand', want: [{ name: 'api', replicas: 2 }], have: [fakeService('api', 5)],
      drift: ['api: replicas 5 (wants 2)'], actions: ['scale-service api 2'] },
    { name: 'scaled to zero is a count like any other', want: [{ name: 'api', replicas: 0 }], have: [fakeService('api', 2)],
      drift: ['api: replicas 2 (wants 0)'], actions: ['scale-service api 0'] },
    { name: 'missing service: drift, no action', want: [{ name: 'gone', replicas: 1 }], have: [],
      drift: ['gone: service is missing from the cluster (warden does not create services)'], actions: [] },
    { name: 'missing service without a replicas key: still reported, once, here', want: [{ name: 'gone' }], have: [],
      drift: ['gone: service is missing from the cluster (warden does not create services)'], actions: [] },
    { name: 'global service given a count: reported, untouched', want: [{ name: 'agent', replicas: 2 }], have: [global('agent')],
      drift: ['agent: service is global: a replica count does not apply to it (wants 2)'], actions: [] },
    { name: 'no replicas key: not this reconciler\'s business', want: [{ name: 'api' }], have: [fakeService('api', 7)], drift: [], actions: [] },
    { name: 'services not in the desired state are left alone', want: [], have: [fakeService('other', 9)], drift: [], actions: [] },
    { name: 'ignored service: no drift, an ignored action', want: [{ name: 'auto', replicas: 2 }],
      have: [fakeService('auto', 6, { labels: { 'warden.ignore': 'true' } })], drift: [], actions: ['scale-service auto 2 ignored'] },
  ])('$name', ({ want, have, drift, actions }) => {
    const plan = replicas.plan(desired({ services: want.map((w) => ({ ...w, origin: 'services' })) }), observed(have), planContext());
    expect(plan.drift.map((d) => `${d.object}: ${d.message}`)).toEqual(drift);
    expect(plan.actions.map((a) => `${a.kind} ${a.object} ${a.kind === 'scale-service' ? a.replicas : ''}${a.ignored ? ' ignored' : ''}`)).toEqual(actions);
  });

  it('does nothing when the services section is absent', () => {
    expect(replicas.plan(desired(), observed([fakeService('api', 1)]), planContext())).toEqual({ drift: [], actions: [] });
  });

  it('honours a custom ignore label', () => {
    const d = desired({ services: [{ name: 'a', replicas: 1, origin: 'services' }], policy: { ignoreLabel: 'autoscale' } });
    const plan = replicas.plan(d, observed([fakeService('a', 4, { labels: { autoscale: 'TRUE' } })]), planContext());
    expect(plan.actions[0]?.ignored).toBe(true);
  });
});

const NOW = Date.parse('2026-11-21T10:00:00Z');

/** runs is a replicated service running `running` of `want` tasks, as listed with its counts. */
function runs(name: string, running: number, want: number, over: Partial<SwarmService> = {}): SwarmService {
  return fakeService(name, want, { status: { runningTasks: running, desiredTasks: want }, ...over });
}

/** task is one task of `name` in slot 1, `agoMs` before NOW. */
function task(name: string, state: SwarmTask['state'], desiredState: SwarmTask['desiredState'], agoMs: number, err = ''): SwarmTask {
  return {
    id: `t-${name}-${state}-${agoMs}`, serviceId: `id-${name}`, nodeId: 'w1', slot: 1, desiredState, state, message: '', err,
    timestamp: new Date(NOW - agoMs).toISOString(), image: 'busybox:lab',
  };
}

const HOURS = 3_600_000;
const NO_IMAGE = 'No such image: busybox:missing';
const NO_NODE = 'no suitable node (scheduling constraints not satisfied on 5 nodes)';

// Sync and health apart (contract, "Health (beside sync)"): a service at its count whose tasks fail is in
// sync; no pass can change that, and its health (../controller/health.test.ts) says why it does not work.
describe('replicas.plan: a listed service that runs fewer tasks than it wants is not drift', () => {
  it.each<{ name: string; want?: Array<{ name: string; replicas?: number; dependsOn?: string[] }>; have: SwarmService[]; tasks: SwarmTask[]; drift: string[] }>([
    { name: 'running all it wants: nothing', have: [runs('api', 3, 3)], tasks: [], drift: [] },
    { name: 'starting (a task preparing)', have: [runs('api', 1, 3)], tasks: [task('api', 'preparing', 'running', 1_000)], drift: [] },
    { name: 'given up on hours ago, outside any restart order', have: [runs('api', 0, 1)],
      tasks: [task('api', 'rejected', 'shutdown', 5 * HOURS, NO_IMAGE)], drift: [] },
    { name: 'pending for want of a node', have: [runs('api', 0, 2)], tasks: [task('api', 'pending', 'running', 60_000, NO_NODE)], drift: [] },
    { name: 'its tasks completed and nothing restarts them', have: [runs('api', 0, 1)], tasks: [task('api', 'complete', 'shutdown', 60_000)], drift: [] },
    { name: 'a global service short of a node', have: [{ ...runs('agent', 4, 5), mode: 'global', replicas: undefined }],
      tasks: [{ ...task('agent', 'pending', 'running', 60_000, 'no suitable node (insufficient resources on 1 node)'), slot: undefined }], drift: [] },
    { name: 'a count being corrected: the count only (the tasks follow it)', want: [{ name: 'api', replicas: 3 }], have: [runs('api', 0, 1)],
      tasks: [task('api', 'rejected', 'shutdown', HOURS, NO_IMAGE)], drift: ['api: replicas 1 (wants 3)'] },
  ])('$name', ({ want, have, tasks, drift }) => {
    const entries = (want ?? have.map((s) => ({ name: s.name }))).map((w) => ({ ...w, origin: 'services' }));
    const plan = replicas.plan(desired({ services: entries }), { ...observed(have), tasks, at: NOW }, planContext({ now: NOW }));
    expect(plan.drift.map((d) => `${d.object}: ${d.message}`)).toEqual(drift);
  });

  // A stuck service in ordering's graph is ordering's drift: a pass would force-restart it. Outside any
  // restart order no pass would change it: no reconciler reports it.
  it.each([
    { name: 'with a restart order', dependsOn: ['db'], want: ['ordering api', 'ordering lone'] },
    { name: 'without one', dependsOn: undefined, want: [] },
  ])('reports a stuck service only where a pass would act on it: $name', ({ dependsOn, want }) => {
    const d = desired({ services: [{ name: 'db', origin: 'services' }, { name: 'api', origin: 'services', ...(dependsOn ? { dependsOn } : {}) }, { name: 'lone', origin: 'services' }] });
    const have = [runs('db', 1, 1), runs('api', 0, 1), runs('lone', 0, 1)];
    const tasks = [task('api', 'rejected', 'shutdown', HOURS, NO_IMAGE), task('lone', 'rejected', 'shutdown', HOURS, NO_IMAGE)];
    const obs = { ...observed(have), tasks, at: NOW };
    const reported = [replicas, ordering].flatMap((r) => r.plan(d, obs, planContext({ now: NOW })).drift.map((x) => `${r.id} ${x.object}`));
    expect(reported.sort()).toEqual(want);
  });

  it('reads neither task counts nor tasks (health does, ../controller/health.ts)', () => {
    expect(replicas.counts).toBeUndefined();
    expect(replicas.tasks).toBeUndefined();
  });
});
