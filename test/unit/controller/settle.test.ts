// Following asynchronous actions off the pass: done when the engine shows it, given up at the deadline,
// replaced by a newer action on the same object, and stopped at once.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

  // `warden apply` awaits idle() between passes with nothing else pending: a wait that held nothing open
  // let Node end the process there, exit code 0, before the next pass and the final check (issue 24, 0.2).
  it('holds the process open while idle() is awaited, and only then', async () => {
    const script = `
      import { pino } from 'pino';
      import { Settling } from './src/controller/settle.ts';
      import { fakeNode, FakePort } from './test/support/fake-port.ts';
      const port = new FakePort([], [fakeNode('m1', 'manager', true), fakeNode('w1', 'worker')], 'm1');
      const inspect = port.inspectNode.bind(port);
      let reads = 0;
      port.inspectNode = async (id) => {
        if (++reads === 3) port.nodes[1].manager = { leader: false, reachability: 'reachable', addr: '10.0.0.1:2377' };
        return inspect(id);
      };
      const promote = { kind: 'promote-node', reconciler: 'managers', object: 'w1', nodeId: 'w1', before: {}, after: {}, disruptive: false, ignored: false };
      const s = new Settling({ port, timeoutMs: 10_000, intervalMs: 50, onSettled: (a, o) => console.log('settled', o) });
      s.follow(promote, pino({ level: 'silent' }));
      if (process.argv[1] === 'wait') { await s.idle(); console.log('idle'); }
    `;
    const root = fileURLToPath(new URL('../../..', import.meta.url));
    const run = (arg: string) => promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, arg], { cwd: root, timeout: 60_000 });
    expect((await run('wait')).stdout).toBe('settled done\nidle\n');
    // Nobody waits: the follow-up does not keep a command that is done from exiting.
    expect((await run('exit')).stdout).toBe('');
  }, 130_000);
});
