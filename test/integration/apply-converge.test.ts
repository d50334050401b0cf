// One `warden apply` converges what takes several passes (issue 24, 0.2), through the real command line on
// the shared lab (3 managers + 2 workers): two promotions, one per pass, each awaited before the next; a
// label on a node being promoted and a placement on a service being scaled, each the second action on its
// object, deferred to the pass after. apply exits 0 only when a fresh `warden plan` exits 0 too.
//
// The MSactivator case of the issue (8 nodes, 1 manager, 3 wanted) failed for a reason this smaller lab
// shows as well: between passes apply waits for the promotion, and that wait held nothing open, so Node
// ended the process there with exit code 0, after one pass, before the final check.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { runWarden } from '../support/warden.js';

const lab = testLab();
const dir = mkdtempSync(join(tmpdir(), 'warden-apply-converge-'));
const created: string[] = [];

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await removeServices(lab, ...created);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

function writeState(service: string): string {
  const file = join(dir, 'state.yml');
  writeFileSync(file, [
    'apiVersion: swarm-warden/v1',
    'kind: ClusterState',
    'metadata: { name: lab }',
    'spec:',
    '  managers: { count: 5 }',
    '  nodes:',
    '    - match: { hostname: "worker-*" }',
    '      labels: { tier: db }',
    '  services:',
    `    - name: ${service}`,
    '      replicas: 1',
    '      placement: { constraints: ["node.labels.tier==db"] }',
    '',
  ].join('\n'));
  return file;
}

describe('warden apply converges in one call', () => {
  it('promotes both workers, labels them, scales and places the service; a fresh plan then exits 0', async () => {
    // As the msa_db: scaled by hand, its constraint removed.
    const name = await createService(lab, uniqueName('apply-db'), ['--replicas', '2']);
    created.push(name);
    const manager = await runningManager(lab);
    const file = writeState(name);
    const before = await runWarden(['plan', '-f', file, '--host', manager.host]);
    expect(before.code, before.stdout + before.stderr).toBe(1);

    const apply = await runWarden(['apply', '-f', file, '--host', manager.host, '--log-format', 'text']);
    const said = `apply said:\n${apply.stdout}${apply.stderr}`;
    // The summary is apply's last word: without it, the process ended before its final check.
    expect(apply.stdout, said).toMatch(/^converged: 6 changed, 0 held, 0 failed, in \d+ pass\(es\)$/m);
    for (const worker of ['worker-1', 'worker-2']) {
      expect(apply.stdout, said).toContain(`changed  managers ${worker}: promote-node`);
      expect(apply.stdout, said).toContain(`changed  nodes ${worker}: update-node`);
    }
    expect(apply.stdout, said).toContain(`changed  placement ${name}: update-placement`);
    expect(apply.code, said).toBe(0);

    // What apply's 0 promises: a fresh read by another process finds nothing left.
    const after = await runWarden(['plan', '-f', file, '--host', manager.host]);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const nodes = await portFor(manager).listNodes();
    expect(nodes.filter((n) => n.manager?.reachability === 'reachable').map((n) => n.hostname).sort())
      .toEqual(['manager-1', 'manager-2', 'manager-3', 'worker-1', 'worker-2']);
    const svc = await portFor(manager).inspectService(name);
    expect({ replicas: svc.replicas, constraints: svc.constraints }).toEqual({ replicas: 1, constraints: ['node.labels.tier==db'] });
  });
});
