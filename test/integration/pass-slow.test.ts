// Issue 24, 0.1: a pass that waits says so, within seconds, with what it waits for. The engine is the
// lab's; only its nodes list is held unanswered (as an engine call without an answer would be): the loop
// must report the pass at warn level after slowPassMs and name the call, rather than say nothing until
// the client's 30 s timeout, or ever.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import { Metrics } from '../../src/controller/metrics.js';
import { createLogger } from '../../src/controller/log.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import type { DockerPort } from '../../src/docker/port.js';
import { portFor, restoreLab, testLab } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();

beforeAll(() => restoreLab(lab));
afterAll(() => restoreLab(lab));

const YAML = ['apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: slow }', 'spec: {}', ''].join('\n');

describe('a pass that waits', () => {
  it('is reported at warn level within seconds, naming the call it waits for; then the first pass is said at info', async () => {
    const real = portFor(lab.managers[0]!);
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const port = new Proxy(real, {
      get(t, prop) {
        if (prop !== 'listNodes') return Reflect.get(t, prop, t) as unknown;
        return async () => {
          await held;
          return t.listNodes();
        };
      },
    }) as DockerPort;
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const controller = new Controller({ port, logger: createLogger('info', sink), metrics: new Metrics({ processMetrics: false }), slowPassMs: 1_000 });
    controller.setDesired(await loadDesiredStateText(YAML, 'slow.yml'));
    const ac = new AbortController();
    const startedAt = performance.now();
    const done = controller.start(ac.signal);
    try {
      const slow = await waitUntil('the slow pass to be reported', () => lines.find((l) => l.msg === 'pass is slow: still waiting'), { timeoutMs: 5_000 });
      expect(performance.now() - startedAt).toBeLessThan(3_000);
      expect(slow).toMatchObject({ level: 'warn', waitingFor: 'listNodes', reasons: expect.arrayContaining(['desired-state']) });
      expect(lines.some((l) => l.msg === 'first pass done')).toBe(false);
      release();
      const first = await waitUntil('the first pass to be said', () => lines.find((l) => l.msg === 'first pass done'), { timeoutMs: 10_000 });
      expect(first).toMatchObject({ level: 'info', leader: expect.any(Boolean), actions: 0 });
      expect(lines.find((l) => typeof l.msg === 'string' && (l.msg.startsWith('leading') || l.msg.startsWith('standing by')))).toMatchObject({ leaderNode: expect.any(String) });
    } finally {
      release();
      ac.abort();
      await done;
    }
  });
});
