// Manager failures on the lab: warden's manager metrics as managers become unreachable, the engine's
// no-quorum error once a majority is gone, and `warden run` stopping within 5 s with a pass stuck on a
// swarm without quorum.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/docker/errors.js';
import { portFor, restoreLab, runningManager, testLab } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const dir = mkdtempSync(join(tmpdir(), 'warden-quorum-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

describe('manager failures', () => {
  it('counts unreachable managers, answers no-quorum without a majority, and stops within 5 s mid-pass', async () => {
    const manager = await runningManager(lab);
    const leaderName = (await portFor(manager).listNodes()).find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderName);
    const [a, b] = lab.managers.filter((m) => m.name !== leaderName);
    const file = join(dir, 'state.yml');
    // A resync every 2 s, so that a pass is always under way once the swarm has lost quorum.
    writeFileSync(file, 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  policy:\n    resync: "*/2 * * * * *"\n');
    let warden: WardenDaemon | undefined;
    try {
      warden = await startWardenRun(['-f', file, '--host', leader.host]);
      const metrics = async (): Promise<string> => (await fetch(`${warden!.url}/metrics`)).text();
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
      expect(err.message).toMatch(/does not have a leader|deadline exceeded/i);

      const { code, ms } = await warden.stop();
      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);
      expect(warden.logs()).toContain('"msg":"stopped"');
      // Its passes were meeting the lost quorum, up to the one SIGTERM cut short.
      expect(warden.logs()).toContain('cannot read the cluster');
    } finally {
      await warden?.stop('SIGKILL');
    }
  });
});
