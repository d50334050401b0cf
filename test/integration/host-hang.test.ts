// Issue 18, item 2 (the controller's side), on the lab: the host hangs and the controller does not. A real
// `warden run` against the lab's leader, whose host reads never answer (test/support/hung-host-run.ts: what
// lstat does on a hard NFS mount whose server is gone; a real one needs a NAS). A manual scale is corrected
// at the usual latency before and after the read's deadline; at the deadline volumes is an error on
// /status, in warden_reconcile_total and in the log, never "in sync"; /livez stays 200; SIGTERM ends it
// within 2 s.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LabNode } from '../../src/lab/lab.js';
import { HOST_READ_TIMEOUT_MS } from '../../src/controller/host.js';
import { createService, leaderNode, portFor, removeServices, restoreLab, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const created: string[] = [];
let warden: WardenDaemon | undefined;
let dir: string;

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-host-hang-'));
});

afterAll(async () => {
  await warden?.stop('SIGKILL');
  await removeServices(lab, ...created);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

const FIXTURE = join(import.meta.dirname, '../support/hung-host-run.ts');

/** reverted scales a service by hand and returns how long warden took to put `want` back (ms). */
async function reverted(node: LabNode, name: string, by: number, want: number): Promise<number> {
  const engine = portFor(node);
  await lab.docker(node, ['service', 'scale', '--detach', `${name}=${by}`]);
  const t0 = performance.now();
  await waitUntil(`${name} reverted to ${want}`, async () => (await engine.inspectService(name)).replicas === want, { timeoutMs: 20_000, intervalMs: 10 });
  return Math.round(performance.now() - t0);
}

async function reconcileErrors(d: WardenDaemon, reconciler: string): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  const m = new RegExp(`^warden_reconcile_total\\{reconciler="${reconciler}",result="error"\\} (\\S+)$`, 'm').exec(text);
  return Number(m?.[1] ?? Number.NaN);
}

describe('a host that hangs', () => {
  it('does not hold the controller: scales are corrected, volumes is an error, /livez stays 200, SIGTERM ends it', async () => {
    const name = await createService(lab, uniqueName('hang'), ['--replicas', '2']);
    created.push(name);
    const leader = await leaderNode(lab);
    const file = join(dir, 'warden.yml');
    writeFileSync(file, [
      'apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: lab }', 'spec:',
      '  services:', `    - { name: ${name}, replicas: 2 }`,
      '  volumes:', '    - { path: /mnt/nas/pg, owner: 70, mode: "0700" }', '',
    ].join('\n'));
    const started = Date.now();
    warden = await startWardenRun(['-f', file, '--host', leader.host], { entry: FIXTURE, nodeFlags: ['--import', 'tsx'] });
    const w = warden;

    // Before the read's deadline: the engine's drift is corrected as usual.
    const early = await reverted(leader, name, 4, 2);
    const beforeDeadline = Date.now() - started < HOST_READ_TIMEOUT_MS;

    // At the deadline: an error of volumes, never "in sync".
    const status = await waitUntil('volumes in error on /status', async () => {
      const s = (await (await fetch(`${w.url}/status`)).json()) as { errors: Record<string, string>; drift: Record<string, unknown[]> };
      return s.errors.volumes ? s : undefined;
    }, { timeoutMs: HOST_READ_TIMEOUT_MS + 20_000 });
    expect(status.errors.volumes).toBe(`cannot observe the host: the volume paths read has not answered within ${HOST_READ_TIMEOUT_MS / 1000} s; no answer yet`);
    expect(status.errors.replicas).toBeUndefined();
    expect(await reconcileErrors(w, 'volumes')).toBeGreaterThanOrEqual(1);
    expect(await reconcileErrors(w, 'replicas')).toBe(0);
    await waitUntil('the log line', () => w.logs().includes('"msg":"cannot observe the host"'), { timeoutMs: 5_000 });
    const line = w.logs().split('\n').find((l) => l.includes('"msg":"cannot observe the host"'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 'error', reconciler: 'volumes', what: 'volume paths' });

    // The loop is alive, and still corrects.
    expect((await fetch(`${w.url}/livez`)).status).toBe(200);
    const late = await reverted(leader, name, 5, 2);
    expect((await fetch(`${w.url}/livez`)).status).toBe(200);
    process.stderr.write(`host hang: scale reverted in ${early} ms (${beforeDeadline ? 'before' : 'after'} the read's deadline) and ${late} ms (after it)\n`);
    expect(early).toBeLessThan(3_000);
    expect(late).toBeLessThan(3_000);

    const stopped = await w.stop('SIGTERM');
    warden = undefined;
    process.stderr.write(`host hang: SIGTERM to exit ${stopped.ms} ms\n`);
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(2_000);
  }, 120_000);
});
