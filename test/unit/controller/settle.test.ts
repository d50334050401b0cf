// Following asynchronous actions off the pass: done when the engine shows it, given up at the deadline,
// replaced by a newer action on the same object, and stopped at once.
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { Settling } from '../../../src/controller/settle.js';
import type { Action } from '../../../src/reconcilers/types.js';
import { fakeNode, FakePort } from '../../support/fake-port.js';

const silent = pino({ level: 'silent' });
const promote: Action = { kind: 'promote-node', reconciler: 'managers', object: 'w1', nodeId: 'w1', before: {}, after: {}, disruptive: false, ignored: false };

describe('Settling', () => {
  it('ends a promotion as done once the node is a reachable Raft member', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true), fakeNode('w1', 'worker')], 'm1');
    const settled: string[] = [];
    const s = new Settling({ port, timeoutMs: 10_000, intervalMs: 10, onSettled: (a, o) => settled.push(`${a.object} ${o}`) });
    s.follow(promote, silent);
    expect(s.size).toBe(1);
    await vi.waitFor(() => expect(port.calls.filter((c) => c === 'inspectNode w1').length).toBeGreaterThanOrEqual(2));
    port.nodes[1]!.manager = { leader: false, reachability: 'reachable', addr: '10.0.0.1:2377' };
    await s.idle();
    expect(settled).toEqual(['w1 done']);
    expect(s.size).toBe(0);
  });

  it('gives up at the deadline, and follows nothing for an action the write finishes', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true), fakeNode('w1', 'worker')], 'm1');
    const settled: string[] = [];
    const s = new Settling({ port, timeoutMs: 50, intervalMs: 10, onSettled: (a, o) => settled.push(`${a.object} ${o}`) });
    s.follow({ kind: 'update-node', reconciler: 'nodes', object: 'w1', nodeId: 'w1', before: {}, after: {}, disruptive: false, ignored: false }, silent);
    expect(s.size).toBe(0);
    s.follow(promote, silent);
    await s.idle();
    expect(settled).toEqual(['w1 timeout']);
  });

  it('replaces an action on the same object, and stops at once', async () => {
    const port = new FakePort([], [fakeNode('m1', 'manager', true), fakeNode('w1', 'worker')], 'm1');
    const s = new Settling({ port, timeoutMs: 60_000, intervalMs: 10 });
    s.follow(promote, silent);
    s.follow({ ...promote, kind: 'demote-node' } as Action, silent);
    expect(s.size).toBe(1);
    s.stop();
    const started = performance.now();
    await s.idle();
    expect(performance.now() - started).toBeLessThan(100);
    expect(s.size).toBe(0);
    s.follow(promote, silent);
    expect(s.size).toBe(0);
  });
});
