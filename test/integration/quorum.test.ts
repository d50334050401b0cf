// Manager failures on the lab: warden's manager metrics as managers become unreachable, the engine's
// no-quorum error once a majority is gone, warden changing no role and saying so while quorum is lost,
// `warden run` stopping within 5 s with a pass stuck on a swarm without quorum, and nothing half-done
// once the managers return.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/docker/errors.js';
import { portFor, restoreLab, runningManager, testLab } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();

// Start from a healthy lab, whatever the file before left.
beforeAll(() => restoreLab(lab));
const dir = mkdtempSync(join(tmpdir(), 'warden-quorum-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

describe('manager failures', () => {
  it('counts unreachable managers, changes no role and says so without a majority, stops within 2 s mid-pass, and leaves nothing half-done', async () => {
    const manager = await runningManager(lab);
    const leaderName = (await portFor(manager).listNodes()).find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderName);
    const [a, b] = lab.managers.filter((m) => m.name !== leaderName);
    const file = join(dir, 'state.yml');
    // A resync every 2 s, so that a pass is always under way once the swarm has lost quorum. The
    // managers section is there so that warden would act if it were not careful; replacement waits 10m.
    writeFileSync(file, 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  managers: { count: 3, replaceUnreachableAfter: 10m }\n  policy:\n    resync: "*/2 * * * * *"\n');
    const rolesBefore = (await portFor(manager).listNodes()).map((n) => `${n.hostname}:${n.role}`).sort();
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

      // warden says so: /status, the suppressed counter, and what a person must do.
      await waitUntil('warden to report quorum lost', async () => {
        const status = (await (await fetch(`${warden!.url}/status`)).json()) as { quorum?: { lost: boolean; message?: string } };
        const text = await metrics();
        return status.quorum?.lost === true && /warden_actions_suppressed_total\{reconciler="managers",reason="quorum"\} [1-9]/.test(text) &&
          text.includes('warden_swarm_manager_fault_tolerance 0');
      }, { timeoutMs: 90_000, intervalMs: 500 });
      expect(warden.logs()).toContain('--force-new-cluster');

      const { code, ms } = await warden.stop();
      expect(code).toBe(0);
      expect(ms).toBeLessThan(2_000);
      expect(warden.logs()).toContain('"msg":"stopped"');
      expect(warden.logs()).not.toContain('corrected drift');

      // A new warden follows the managers' return; nothing is left half-done and it changes no role.
      warden = await startWardenRun(['-f', file, '--host', leader.host], { readyTimeoutMs: 60_000 });
      await lab.startDaemon(a!);
      await lab.startDaemon(b!);
      await waitUntil('quorum back, warden in sync', async () => {
        const status = (await (await fetch(`${warden!.url}/status`)).json()) as { quorum?: { lost: boolean; reachable: number }; drift: Record<string, unknown[]> };
        return status.quorum?.lost === false && status.quorum.reachable === 3 && (status.drift.managers ?? ['?']).length === 0;
      }, { timeoutMs: 120_000, intervalMs: 500 });
      const rolesAfter = (await portFor(leader).listNodes()).map((n) => `${n.hostname}:${n.role}`).sort();
      expect(rolesAfter).toEqual(rolesBefore);
      expect(await metrics()).toContain('warden_swarm_manager_fault_tolerance 1');
      expect(warden.logs()).not.toContain('corrected drift');
    } finally {
      await warden?.stop('SIGKILL');
    }
    // The sum of the waits' deadlines: an engine 20.10 takes longer to give up on a lost quorum and to regain it.
  }, 420_000);
});
