// When a forced restart counts as converged: its restarted tasks run, not the old ones that still count
// right after the write, and not an update that "completed" while its new tasks were rejected.
import { describe, expect, it } from 'vitest';
import { restartProgress, settleState } from '../../../src/controller/apply.js';
import type { SwarmTask, TaskFilter } from '../../../src/docker/port.js';
import type { Action } from '../../../src/reconcilers/types.js';
import { fakeService, FakePort } from '../../support/fake-port.js';

/** TaskPort is the fake engine with tasks (the fake itself lists none). */
class TaskPort extends FakePort {
  override tasks: SwarmTask[] = [];
  override async listTasks(filter?: TaskFilter): Promise<SwarmTask[]> {
    this.calls.push('listTasks');
    return this.tasks.filter((t) => (!filter?.serviceId || t.serviceId === filter.serviceId) && (!filter?.desiredState || t.desiredState === filter.desiredState));
  }
}

function task(n: number, state: SwarmTask['state'], forceUpdate: number, desiredState: SwarmTask['desiredState'] = 'running'): SwarmTask {
  return { id: `t${n}`, serviceId: 'id-api', nodeId: 'w1', slot: n, desiredState, state, message: '', err: state === 'rejected' ? 'No such image: r/app:1' : '', timestamp: '', image: 'r/app:1', forceUpdate };
}

const svc = fakeService('api', 2, { forceUpdate: 1, status: { runningTasks: 2, desiredTasks: 2 }, updateStatus: { state: 'completed', startedAt: '', completedAt: '', message: '' } });

describe('restartProgress', () => {
  it.each([
    { name: 'the old tasks still run and count: not yet', tasks: [task(1, 'running', 0), task(2, 'running', 0)], done: false, state: 'update completed, 0/2 restarted tasks running' },
    { name: 'half of the tasks restarted', tasks: [task(1, 'running', 1), task(2, 'running', 0)], done: false, state: 'update completed, 1/2 restarted tasks running' },
    { name: 'every task restarted and running', tasks: [task(1, 'running', 1), task(2, 'running', 1)], done: true, state: 'update completed, 2/2 restarted tasks running' },
    { name: 'the update completed but its tasks were rejected', tasks: [task(1, 'rejected', 1, 'shutdown'), task(2, 'rejected', 1, 'shutdown')], done: false, state: 'update completed, 0/2 restarted tasks running' },
  ])('$name', async ({ tasks, done, state }) => {
    const port = new TaskPort([svc], [], 'm1');
    port.tasks = tasks;
    expect(await restartProgress(port, svc)).toEqual({ done, state, running: state.split(' ')[2] });
  });

  it('keeps settleState from calling a restart whose tasks are rejected done', async () => {
    const port = new TaskPort([svc], [], 'm1');
    port.tasks = [task(1, 'rejected', 1, 'shutdown')];
    const action: Action = { kind: 'force-restart', reconciler: 'ordering', object: 'api', serviceId: svc.id, before: {}, after: {}, disruptive: false, ignored: false };
    expect(await settleState(port, action)).toEqual({ done: false, state: 'update completed, 0/2 restarted tasks running', running: '0/2' });
  });
});
