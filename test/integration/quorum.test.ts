// Manager failures on the lab: warden's manager metrics as managers become unreachable, the engine's
// no-quorum error once a majority is gone, and `warden run` stopping within 5 s with a pass stuck on a
// swarm without quorum.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/docker/errors.js';
import { portFor, restoreLab, runningManager, testLab } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';

const lab = testLab();
const bin = join(import.meta.dirname, '../../bin/warden.js');
const dir = mkdtempSync(join(tmpdir(), 'warden-quorum-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('manager failures', () => {
  it('counts unreachable managers, answers no-quorum without a majority, and stops within 5 s mid-pass', async () => {
    const manager = await runningManager(lab);
    const leaderName = (await portFor(manager).listNodes()).find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderName);
    const [a, b] = lab.managers.filter((m) => m.name !== leaderName);
    const file = join(dir, 'state.yml');
    // A resync every 2 s, so that a pass is always under way once the swarm has lost quorum.
    writeFileSync(file, 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  policy:\n    resync: "*/2 * * * * *"\n');
    const port = await freePort();
    const child = spawn(process.execPath, [bin, 'run', '-f', file, '--host', leader.host, '--listen', `127.0.0.1:${port}`]);
    let logs = '';
    child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    const metrics = async (): Promise<string> => (await fetch(`${url}/metrics`)).text();
    try {
      await waitUntil('readyz', async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: 30_000 });
      expect(await metrics()).toContain('warden_swarm_manager_fault_tolerance 1');

      await lab.stopDaemon(a!);
      await waitUntil('one manager unreachable on /metrics', async () => {
        const text = await metrics();
        return text.includes('warden_swarm_managers{status="unreachable"} 1') && text.includes('warden_swarm_manager_fault_tolerance 0');
      }, { timeoutMs: 60_000, intervalMs: 500 });

      await lab.stopDaemon(b!);
      const err = await waitUntil('the no-quorum error', async () => {
        const e = await portFor(leader).listNodes().then(() => undefined, (x: unknown) => x);
        return e instanceof EngineError && e.code === 'no-quorum' ? e : undefined;
      }, { timeoutMs: 90_000, intervalMs: 500 });
      expect(err.message).toMatch(/does not have a leader/);

      const started = Date.now();
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(logs).toContain('"msg":"stopped"');
      // Its passes were meeting the lost quorum, up to the one SIGTERM cut short.
      expect(logs).toContain('cannot read the cluster');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
