import { describe, expect, it } from 'vitest';
import { REBALANCE_SETTLE_MS, rebalance } from '../../../src/reconcilers/rebalance.js';
import type { ActionRecord, Observed } from '../../../src/reconcilers/types.js';
import type { DesiredService } from '../../../src/desired-state/types.js';
import type { SwarmNode, SwarmService, SwarmTask } from '../../../src/docker/port.js';
import { desired, planContext } from '../../support/desired.js';
import { fakeNode, fakeService } from '../../support/fake-port.js';

const NOW = planContext().now;

// Every node last changed a minute ago (it came back): after any update these tests show.
function node(id: string, over: Partial<SwarmNode> = {}): SwarmNode {
  return { ...fakeNode(id, 'worker'), labels: { pool: 'app' }, updatedAt: new Date(NOW - 60_000).toISOString(), ...over };
}

// tasks puts `counts[i]` running tasks of service api on node n<i+1>, running since `since` (8.5 min ago:
// after the updates these tests show began).
function tasks(counts: number[], serviceId = 'id-api', since = NOW - 510_000): SwarmTask[] {
  return counts.flatMap((c, i) => Array.from({ length: c }, (_, j) => ({
    id: `t${i}-${j}`, serviceId, nodeId: `n${i + 1}`, slot: j + 1, desiredState: 'running' as const, state: 'running' as const,
    message: '', err: '', timestamp: new Date(since).toISOString(), image: 'busybox:lab',
  })));
}

function observed(services: SwarmService[], nodes: SwarmNode[], ts: SwarmTask[]): Observed {
  return {
    info: { nodeId: 'n1', nodeAddr: '', localNodeState: 'active', controlAvailable: true, hostname: 'n1', serverVersion: '', managers: 1, nodes: nodes.length },
    nodes, services, tasks: ts, at: NOW,
  };
}

const three = [node('n1'), node('n2'), node('n3')];
const api = (over: Partial<SwarmService> = {}): SwarmService =>
  fakeService('api', 6, { constraints: ['node.labels.pool == app'], status: { runningTasks: 6, desiredTasks: 6 }, ...over });

describe('rebalance.plan', () => {
  it.each<{ name: string; svc?: SwarmService | undefined; nodes?: SwarmNode[]; counts: number[]; since?: number; want?: Partial<DesiredService>; policy?: boolean; last?: number; drift: string[]; actions: string[] }>([
    { name: '3/3/0 after a node returned: one forced update', counts: [3, 3, 0],
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'even', counts: [2, 2, 2], drift: [], actions: [] },
    { name: 'a difference of one is even enough', counts: [3, 2, 2], svc: api({ replicas: 7, status: { runningTasks: 7, desiredTasks: 7 } }), drift: [], actions: [] },
    { name: 'off unless asked', counts: [3, 3, 0], want: { rebalance: undefined }, drift: [], actions: [] },
    { name: 'policy.rebalance is the default', counts: [3, 3, 0], want: { rebalance: undefined }, policy: true,
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'the entry overrides the policy', counts: [3, 3, 0], want: { rebalance: false }, policy: true, drift: [], actions: [] },
    { name: 'nodes the constraints exclude do not count', counts: [3, 3, 0], nodes: [node('n1'), node('n2'), node('n3', { labels: {} })], drift: [], actions: [] },
    { name: 'a node that may run it is down: wait', counts: [3, 3, 0, 0],
      nodes: [...three, node('n4', { state: 'down' })],
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least); waiting: node n4 is down'], actions: [] },
    { name: 'a drained or paused node is not one that may run it: left out, no reason to wait', counts: [3, 3, 0, 0, 0],
      nodes: [...three, node('n4', { availability: 'drain' }), node('n5', { availability: 'pause' })],
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'the tasks a paused node still runs do not count either', counts: [3, 3, 3],
      nodes: [node('n1'), node('n2'), node('n3', { availability: 'pause' })], drift: [], actions: [] },
    { name: 'a down node the constraints exclude is no reason to wait', counts: [3, 3, 0, 0],
      nodes: [...three, node('n4', { state: 'down', labels: {} })],
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'still converging: wait', counts: [3, 2, 0], svc: api({ status: { runningTasks: 5, desiredTasks: 6 } }),
      drift: ['api: running tasks per node n1=3, n2=2, n3=0 (the most loaded holds 3 more than the least); waiting: the service is converging (5/6 running)'], actions: [] },
    { name: 'an update in progress: wait', counts: [3, 3, 0],
      svc: api({ updateStatus: { state: 'updating', startedAt: new Date(NOW - 20 * 60_000).toISOString(), completedAt: '', message: '' } }),
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least); waiting: the service\'s update is updating'], actions: [] },
    { name: 'warden forced one a minute ago: wait out the settle period', counts: [3, 3, 0], last: NOW - 60_000,
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least); waiting: the last update was 60 s ago; rebalancing waits 5 min after one'], actions: [] },
    { name: 'the engine finished an update two minutes ago (warden restarted since): wait', counts: [3, 3, 0],
      svc: api({ updateStatus: { state: 'completed', startedAt: new Date(NOW - 3 * 60_000).toISOString(), completedAt: new Date(NOW - 2 * 60_000).toISOString(), message: '' } }),
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least); waiting: the last update was 120 s ago; rebalancing waits 5 min after one'], actions: [] },
    { name: 'after the settle period: again', counts: [3, 3, 0], last: NOW - REBALANCE_SETTLE_MS,
      svc: api({ forceUpdate: 4, updateStatus: { state: 'completed', startedAt: new Date(NOW - 9 * 60_000).toISOString(), completedAt: new Date(NOW - 8 * 60_000).toISOString(), message: '' } }),
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 5'] },
    { name: 'maxReplicasPerNode: a node at the cap is not the least loaded with room', counts: [2, 2, 0],
      svc: api({ replicas: 4, maxReplicasPerNode: 2, status: { runningTasks: 4, desiredTasks: 4 } }),
      drift: ['api: running tasks per node n1=2, n2=2, n3=0 (the most loaded holds 2 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'maxReplicasPerNode: every node at the cap is as even as it gets', counts: [1, 1, 1],
      svc: api({ replicas: 3, maxReplicasPerNode: 1, status: { runningTasks: 3, desiredTasks: 3 } }), drift: [], actions: [] },
    { name: 'tasks that are not running do not count', counts: [3, 3, 0], svc: api({ id: 'other' }), drift: [], actions: [] },
    { name: 'a single eligible node cannot be uneven', counts: [6], nodes: [node('n1')], drift: [], actions: [] },
    { name: 'global services are spread by definition', counts: [3, 3, 0], svc: api({ mode: 'global', replicas: undefined }),
      drift: ['api: service is global: rebalance applies to replicated services only'], actions: [] },
    { name: 'a missing service is the replicas reconciler\'s to report', counts: [], svc: undefined, drift: [], actions: [] },
    { name: 'an update began after the last change of every node that may run it, and left them uneven: held', counts: [3, 3, 0],
      nodes: three.map((n) => ({ ...n, updatedAt: new Date(NOW - 20 * 60_000).toISOString() })),
      svc: api({ forceUpdate: 1, updateStatus: { state: 'completed', startedAt: new Date(NOW - 9 * 60_000).toISOString(), completedAt: new Date(NOW - 8 * 60_000).toISOString(), message: '' } }),
      drift: [`api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least); held: the update that began ${new Date(NOW - 9 * 60_000).toISOString()} scheduled every task again on the nodes as they are and left them so: the scheduler can do no better (reservations, ports or plugins warden does not see); held until a node that may run it changes`],
      actions: ['force-restart api 2 held'] },
    { name: 'held, and a node that may not run it changed since: still held', counts: [3, 3, 0, 0],
      nodes: [...three.map((n) => ({ ...n, updatedAt: new Date(NOW - 20 * 60_000).toISOString() })), node('n4', { labels: {} })],
      svc: api({ updateStatus: { state: 'completed', startedAt: new Date(NOW - 9 * 60_000).toISOString(), completedAt: new Date(NOW - 8 * 60_000).toISOString(), message: '' } }),
      drift: [`api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least); held: the update that began ${new Date(NOW - 9 * 60_000).toISOString()} scheduled every task again on the nodes as they are and left them so: the scheduler can do no better (reservations, ports or plugins warden does not see); held until a node that may run it changes`],
      actions: ['force-restart api 1 held'] },
    { name: 'an update of the constraints alone left the tasks that comply where they were: not held, the scheduler did not place them all', counts: [3, 3, 0],
      nodes: three.map((n) => ({ ...n, updatedAt: new Date(NOW - 20 * 60_000).toISOString() })), since: NOW - 15 * 60_000,
      svc: api({ updateStatus: { state: 'completed', startedAt: new Date(NOW - 9 * 60_000).toISOString(), completedAt: new Date(NOW - 8 * 60_000).toISOString(), message: '' } }),
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'held, then a node that may run it changed (it came back, a label moved): tried again after the settle period', counts: [3, 3, 0],
      nodes: [...three.slice(0, 2).map((n) => ({ ...n, updatedAt: new Date(NOW - 20 * 60_000).toISOString() })), node('n3', { updatedAt: new Date(NOW - 7 * 60_000).toISOString() })],
      svc: api({ updateStatus: { state: 'completed', startedAt: new Date(NOW - 9 * 60_000).toISOString(), completedAt: new Date(NOW - 8 * 60_000).toISOString(), message: '' } }),
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'a spread preference: one node in zone a, three in zone b, 3/1/1/1 is as even as zones allow', counts: [3, 1, 1, 1],
      nodes: [node('n1', { labels: { pool: 'app', zone: 'a' } }), ...['n2', 'n3', 'n4'].map((id) => node(id, { labels: { pool: 'app', zone: 'b' } }))],
      svc: api({ preferences: ['node.labels.zone'] }), drift: [], actions: [] },
    { name: 'a spread preference: zones 4 and 2 are uneven', counts: [4, 2, 0],
      nodes: [node('n1', { labels: { pool: 'app', zone: 'a' } }), node('n2', { labels: { pool: 'app', zone: 'b' } }), node('n3', { labels: { pool: 'app', zone: 'b' } })],
      svc: api({ preferences: ['node.labels.zone'] }),
      drift: ['api: running tasks per node.labels.zone a=4, b=2 (the most loaded holds 2 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'a spread preference: zones even, uneven within one', counts: [3, 0, 2, 1],
      nodes: [node('n1', { labels: { pool: 'app', zone: 'a' } }), node('n2', { labels: { pool: 'app', zone: 'a' } }), node('n3', { labels: { pool: 'app', zone: 'b' } }), node('n4', { labels: { pool: 'app', zone: 'b' } })],
      svc: api({ preferences: ['node.labels.zone'] }),
      drift: ['api: running tasks per node within node.labels.zone=a n1=3, n2=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'a spread preference: nodes without the label are one more value', counts: [1, 1, 4],
      nodes: [node('n1', { labels: { pool: 'app', zone: 'a' } }), node('n2', { labels: { pool: 'app', zone: 'b' } }), node('n3')],
      svc: api({ preferences: ['node.labels.zone'] }),
      drift: ['api: running tasks per node.labels.zone (none)=4, a=1, b=1 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'a descriptor the scheduler does not spread on is skipped, as it skips it', counts: [3, 3, 0], svc: api({ preferences: ['node.hostname'] }),
      drift: ['api: running tasks per node n1=3, n2=3, n3=0 (the most loaded holds 3 more than the least): a forced rolling update will spread them again'],
      actions: ['force-restart api 1'] },
    { name: 'platforms: a node of another architecture may not run it', counts: [3, 3, 0],
      nodes: [node('n1'), node('n2'), node('n3', { platform: { os: 'linux', arch: 'aarch64' } })],
      svc: api({ spec: { ...api().spec, TaskTemplate: { ...api().spec.TaskTemplate, Placement: { Platforms: [{ OS: 'linux', Architecture: 'amd64' }] } } } }),
      drift: [], actions: [] },
    { name: 'ignored service: no drift, an ignored action', counts: [3, 3, 0], svc: api({ labels: { 'warden.ignore': 'true' } }),
      drift: [], actions: ['force-restart api 1 ignored'] },
  ])('$name', (c) => {
    const svc = 'svc' in c ? c.svc : api();
    const d = desired({ services: [{ name: 'api', origin: 'services', rebalance: true, ...c.want }], policy: { rebalance: c.policy ?? false } });
    const ctx = planContext({ lastApplied: (kind, object): ActionRecord | undefined => (c.last !== undefined && kind === 'force-restart' && object === 'api' ? { at: c.last, count: 1 } : undefined) });
    const plan = rebalance.plan(d, observed(svc ? [svc] : [], c.nodes ?? three, tasks(c.counts, 'id-api', c.since)), ctx);
    expect(plan.drift.map((x) => `${x.object}: ${x.message}`)).toEqual(c.drift);
    expect(plan.actions.map((a) => `${a.kind} ${a.object} ${a.after && (a.after as { forceUpdate: number }).forceUpdate}${a.ignored ? ' ignored' : ''}${a.held ? ' held' : ''}`)).toEqual(c.actions);
    for (const a of plan.actions) expect(a.disruptive).toBe(true);
  });

  it.each([
    { name: 'no services section', services: undefined, policy: true, running: false },
    { name: 'rebalance off everywhere', services: [{ name: 'api', origin: 'services' }], policy: false, running: false },
    { name: 'on for an existing service', services: [{ name: 'api', origin: 'services', rebalance: true }], policy: false, running: true },
    { name: 'on by policy', services: [{ name: 'api', origin: 'services' }], policy: true, running: true },
    { name: 'on only for a missing service', services: [{ name: 'gone', origin: 'services', rebalance: true }], policy: false, running: false },
  ])('reads the running tasks only when needed: $name', ({ services, policy, running }) => {
    const d = desired({ ...(services ? { services } : {}), policy: { rebalance: policy } });
    expect(rebalance.tasks!(d, [api()])).toEqual({ running });
  });
});
