// The nodes reconciler on the lab swarm, through the real `warden run`: labels and availability
// converge, a manual label removal is reverted, a node labelled warden.ignore=true is left alone, and a
// selector that matches no node is reported. Every assertion reads the engine's own view of the nodes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SwarmNode } from '../../src/docker/port.js';
import { portFor, restoreLab, runningManager, testLab } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const dir = mkdtempSync(join(tmpdir(), 'warden-nodes-'));
let warden: WardenDaemon | undefined;

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await warden?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

async function byName(): Promise<Map<string, SwarmNode>> {
  return new Map((await portFor(await runningManager(lab)).listNodes()).map((n) => [n.hostname, n]));
}

describe('the nodes reconciler on the lab swarm', () => {
  it('converges labels and availability, reverts a manual label removal, leaves an ignored node alone', async () => {
    const [w1, w2] = lab.workers;
    const m3 = lab.managers[2]!;
    // worker-2 carries the ignore label and a wrong value: warden must leave it so.
    await lab.docker(lab.managers[0]!, ['node', 'update', '--label-add', 'warden.ignore=true', '--label-add', 'worker=wrong', w2!.name]);
    await lab.docker(lab.managers[0]!, ['node', 'update', '--label-add', 'keep=me', w1!.name]);
    const file = join(dir, 'state.yml');
    writeFileSync(file, [
      'apiVersion: swarm-warden/v1',
      'kind: ClusterState',
      'metadata: { name: lab }',
      'spec:',
      '  nodes:',
      '    - match: { role: worker }',
      '      labels: { worker: app, function: production }',
      `    - match: { hostname: "${m3.name}" }`,
      '      availability: drain',
      '    - match: { hostname: "db-*" }',
      '      labels: { worker: db }',
      '  policy:',
      '    resync: "*/2 * * * * *"',
      '',
    ].join('\n'));
    const leader = [...(await byName()).values()].find((n) => n.manager?.leader)!;
    warden = await startWardenRun(['-f', file, '--host', lab.node(leader.hostname).host], { stderr: 'ignore' });

    await waitUntil('labels and availability to converge', async () => {
      const n = await byName();
      return n.get(w1!.name)?.labels.worker === 'app' && n.get(w1!.name)?.labels.function === 'production' && n.get(m3.name)?.availability === 'drain';
    }, { timeoutMs: 60_000, intervalMs: 250 });
    let nodes = await byName();
    expect(nodes.get(w1!.name)?.labels).toEqual({ keep: 'me', worker: 'app', function: 'production' });
    expect(nodes.get(w2!.name)?.labels).toEqual({ 'warden.ignore': 'true', worker: 'wrong' });

    // A person removes a label by hand: warden puts it back.
    await lab.docker(lab.node(leader.hostname), ['node', 'update', '--label-rm', 'function', w1!.name]);
    await waitUntil('the removed label to be back', async () => (await byName()).get(w1!.name)?.labels.function === 'production', { timeoutMs: 30_000, intervalMs: 250 });

    const status = (await (await fetch(`${warden.url}/status`)).json()) as { drift: Record<string, Array<{ object: string; message: string }>> };
    expect(status.drift.nodes).toContainEqual({ object: 'nodes[2]', message: 'the selector (hostname db-*) matches no node' });
    nodes = await byName();
    expect(nodes.get(w2!.name)?.labels.worker).toBe('wrong');
    const metrics = await (await fetch(`${warden.url}/metrics`)).text();
    expect(metrics).toContain('warden_object_drift{reconciler="nodes",object="nodes[2]"} 1');
    expect(metrics).toMatch(/warden_actions_suppressed_total\{reconciler="nodes",reason="ignored"\} [1-9]/);
  });
});
