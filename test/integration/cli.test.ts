// warden's command line against the lab, as an operator runs it: plan and apply exit codes, the
// `run` daemon scraped over real HTTP, stopped with SIGTERM, and `warden version` against real engines.
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createService, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { runWarden, startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const created: string[] = [];
const daemons: WardenDaemon[] = [];
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-cli-'));
  // Start from a healthy lab, whatever the file before left.
  await restoreLab(lab);
});

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  await removeServices(lab, ...created.splice(0));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  // The version test stops a worker's engine; whatever it left, the next file starts from a healthy lab.
  await restoreLab(lab);
});

// The checkout's own version and commit, asked independently of warden's code.
const REPO = join(import.meta.dirname, '../..');
const PACKAGE_VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const HEAD = execFileSync('git', ['-C', REPO, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();


function writeState(name: string, replicas: number): string {
  const file = join(dir, `${name}.yml`);
  writeFileSync(file, `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  services:\n    - name: ${name}\n      replicas: ${replicas}\n`);
  return file;
}

describe('warden on the command line', () => {
  it('plan exits 0 in sync and 1 on drift; apply corrects it and exits 0', async () => {
    const name = await createService(lab, uniqueName('cli-plan'), ['--replicas', '2']);
    created.push(name);
    const manager = await runningManager(lab);
    const file = writeState(name, 2);
    expect((await runWarden(['plan', '-f', file, '--host', manager.host])).code).toBe(0);

    await lab.docker(manager, ['service', 'scale', '--detach', `${name}=1`]);
    const plan = await runWarden(['plan', '-f', file, '--host', manager.host]);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain(`drift   ${name}: replicas 1 (wants 2)`);
    expect(plan.stdout).toContain(`action  scale-service ${name} {"replicas":1} -> {"replicas":2}: planned`);
    const json = await runWarden(['plan', '-f', file, '--host', manager.host, '--output', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ inSync: false, cluster: 'lab' });

    // A person's summary says what was held and why; nothing changed.
    const dry = await runWarden(['apply', '-f', file, '--host', manager.host, '--dry-run', '--log-format', 'text']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain(`held     replicas ${name}: scale-service {"replicas":1} -> {"replicas":2} (observe)`);
    expect(dry.stdout).toContain('not converged: 0 changed, 1 held, 0 failed, in 1 pass(es)');
    expect((await portFor(manager).inspectService(name)).replicas).toBe(1);
    const apply = await runWarden(['apply', '-f', file], { DOCKER_HOST: manager.host });
    expect(apply.code).toBe(0);
    const line = apply.stdout.split('\n').find((l) => l.includes('corrected drift'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      level: 'info', reconciler: 'replicas', object: name, action: 'scale-service', before: { replicas: 1 }, after: { replicas: 2 },
    });
    expect((await portFor(manager).inspectService(name)).replicas).toBe(2);
  });

  it('exits 2 with the reason when the engine cannot be reached or the file is broken, changing nothing', async () => {
    const file = writeState('whatever', 1);
    const unreachable = await runWarden(['plan', '-f', file, '--host', 'unix:///run/wlab/nothing.sock']);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/cannot read the cluster: .*ENOENT/);
    // A drifting service, and a file that would correct it but for a typo further down: nothing changes.
    const name = await createService(lab, uniqueName('cli-broken'), ['--replicas', '1']);
    created.push(name);
    const manager = await runningManager(lab);
    const broken = join(dir, 'broken.yml');
    writeFileSync(broken, `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  services:\n    - name: ${name}\n      replicas: 2\n  policy:\n    mod: enforce\n`);
    const bad = await runWarden(['apply', '-f', broken, '--host', manager.host]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/broken\.yml:9:5: unknown key "mod"/);
    expect((await portFor(manager).inspectService(name)).replicas).toBe(1);
  });

  it('--version prints the version and the checkout\'s commit', async () => {
    const { code, stdout } = await runWarden(['--version']);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^warden version ${PACKAGE_VERSION.replaceAll('.', '\\.')}, revision ${HEAD}(-dirty)?\n$`));
  });

  it('version prints warden\'s part and the engine\'s as docker version reports it, on a manager and a worker', async () => {
    for (const node of [await runningManager(lab), lab.nodes.find((n) => n.role === 'worker')!]) {
      const server = JSON.parse(await lab.docker(node, ['version', '--format', '{{json .Server}}'])) as { Version: string; ApiVersion: string; MinAPIVersion: string };
      const text = await runWarden(['version'], { WARDEN_HOST: node.host });
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(new RegExp(`^ Revision: +${HEAD}(-dirty)?$`, 'm'));
      expect(text.stdout).toMatch(new RegExp(`^ Engine: +${node.host}$`, 'm'));
      expect(text.stdout).toContain(`\n  Version:          ${server.Version}\n  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n`);
      const json = await runWarden(['version', '--host', node.host, '--output', 'json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({
        client: { version: PACKAGE_VERSION, nodeVersion: process.version, engine: node.host },
        server: { version: server.Version, apiVersion: server.ApiVersion },
      });
    }
  });

  it('version still prints warden\'s part, and exits 2 naming the engine, when that engine is down', async () => {
    const worker = lab.nodes.filter((n) => n.role === 'worker').at(-1)!;
    await lab.stopDaemon(worker);
    try {
      const { code, stdout, stderr } = await runWarden(['version', '--host', worker.host]);
      expect(code).toBe(2);
      expect(stdout).toMatch(new RegExp(`^Client: swarm-warden\n Version: +${PACKAGE_VERSION.replaceAll('.', '\\.')}\n`));
      expect(stdout).not.toContain('Server');
      expect(stderr).toMatch(new RegExp(`^warden version: cannot reach the engine at ${worker.host}: .*(ENOENT|ECONNREFUSED)`));
      const json = await runWarden(['version', '--host', worker.host, '-o', 'json']);
      expect(json.code).toBe(2);
      expect(JSON.parse(json.stdout)).toMatchObject({ client: { version: PACKAGE_VERSION }, server: null });
    } finally {
      await lab.startDaemon(worker);
    }
  });

  it('run serves metrics over HTTP, corrects drift, and stops cleanly on SIGTERM', async () => {
    const name = await createService(lab, uniqueName('cli-run'), ['--replicas', '2']);
    created.push(name);
    const manager = await runningManager(lab);
    const leader = (await portFor(manager).listNodes()).find((n) => n.manager?.leader)!;
    const host = lab.node(leader.hostname).host;
    const warden = await startWardenRun(['-f', writeState(name, 2), '--host', host]);
    daemons.push(warden);
    const url = warden.url;
    expect((await fetch(`${url}/livez`)).status).toBe(200);

    await lab.docker(manager, ['service', 'scale', '--detach', `${name}=4`]);
    const metrics = await waitUntil('the correction on /metrics', async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return text.includes('warden_corrections_total{reconciler="replicas",action="scale-service"} 1') ? text : undefined;
    });
    expect(metrics).toContain('warden_leader 1');
    expect(metrics).toContain('warden_desired_state_valid 1');
    expect(metrics).toMatch(/warden_desired_state_info\{cluster="lab",source="[^"]+",revision="[0-9a-f]+"\} 1/);
    expect(metrics).toContain('warden_swarm_managers{status="reachable"} 3');
    expect(metrics).toContain('warden_swarm_manager_fault_tolerance 1');
    expect(metrics).toContain('warden_drift_objects{reconciler="placement"} 0');
    expect(metrics).toContain('warden_actions_suppressed_total{reconciler="replicas",reason="cap"} 0');
    expect(metrics).toMatch(/warden_reconcile_duration_seconds_count\{reconciler="replicas"\} [1-9]/);
    expect(metrics).toContain('process_cpu_seconds_total');
    expect(metrics).toMatch(new RegExp(`^warden_build_info\\{version="${PACKAGE_VERSION.replaceAll('.', '\\.')}",revision="${HEAD}(-dirty)?"\\} 1$`, 'm'));
    const status = (await (await fetch(`${url}/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ leader: true, cluster: 'lab', desiredStateValid: true });
    expect(status.version).toEqual({ version: PACKAGE_VERSION, revision: expect.stringMatching(new RegExp(`^${HEAD}(-dirty)?$`)) });
    expect(Object.keys(status)[0]).toBe('version');
    expect((await portFor(manager).inspectService(name)).replicas).toBe(2);

    // Scrapers keep connections open: 100 kept alive after a request, 100 that never sent one. SIGTERM
    // must still end the process within 2 s (swarm kills a task 10 s after SIGTERM).
    const { port } = new URL(url);
    const sockets = await Promise.all(Array.from({ length: 200 }, (_, i) => new Promise<Socket>((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1', () => {
        if (i % 2 === 0) s.write('GET /livez HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
        resolve(s);
      });
      s.on('error', () => undefined);
      s.once('error', reject);
    })));
    try {
      const { code, ms } = await warden.stop();
      expect(code).toBe(0);
      expect(ms).toBeLessThan(2_000);
      expect(warden.logs()).toContain('"msg":"stopped"');
    } finally {
      for (const s of sockets) s.destroy();
    }
  });
});
