// End to end, as an operator deploys it (docs/operations.md): warden's image built on a lab node, the
// committed stack file deployed on the lab's managers with the desired state from git and the git
// credentials as a Docker secret, a real Prometheus (Debian's) scraping every instance through
// dockerswarm_sd_configs with the committed scrape job, the committed alert rules loaded and unit-tested
// by promtool, every dashboard panel's query answered; then the leader's engine stops, and the instance on
// the new leader takes over and reverts a manual scale.
//
// What the test replaces in the committed files, and only that: the image, the git URL, the engine socket
// and the NAS's source directory in the stack (the lab's engines have their own sockets, and the lab's
// hosts share one file system); the engine and the intervals in the Prometheus configuration.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { run } from '../../src/lab/exec.js';
import type { LabNode } from '../../src/lab/lab.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { buildImageOffline } from '../support/image.js';
import { createService, portFor, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { waitUntil } from '../support/wait.js';
import { freePort } from '../support/warden.js';

const lab = testLab();
const REPO = join(import.meta.dirname, '../..');
const tag = process.pid.toString(36);
const BASE = `warden-base:e2e${tag}`;
const IMAGE = `swarm-warden:e2e${tag}`;
const STACK = 'warden';
const WARDEN_SERVICE = `${STACK}_warden`;
const SECRET = 'warden_git_credentials';
const SERVICE = uniqueName('e2e-web');
// Seconds the machine is given for what the swarm does asynchronously: 2 shared cores, several labs.
const SLOW = { timeoutMs: 150_000, intervalMs: 1_000 };

let dir: string;
let git: GitServer | undefined;
let prometheus: { child: ChildProcess; url: string; exited: Promise<unknown> } | undefined;
let share: string | undefined;
let revision: string;
const natOn: LabNode[] = [];

// The lab's engines run with --iptables=false, so nothing NATs a container's traffic out of its node: add
// the masquerade a normal dockerd adds, in the node's own namespace, so that warden's git fetch from a
// container reaches the git server on the lab's bridge.
const MASQUERADE = ['-t', 'nat', '!', '-s', `10.77.${lab.layout.id}.0/24`, '-o', 'eth0', '-j', 'MASQUERADE'];
function iptables(node: LabNode, op: '-A' | '-D'): Promise<string> {
  return run('nsenter', [`--net=/var/run/netns/${node.netns}`, 'iptables', op, 'POSTROUTING', ...MASQUERADE]);
}

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-deploy-'));
  // A real Prometheus (Debian's package, with promtool), installed as the lab installs the engine.
  if (!existsSync('/usr/bin/promtool')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = (): Promise<string> => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'prometheus'], { timeoutMs: 600_000, env });
    await install().catch(async () => {
      await run('apt-get', ['update', '-q'], { timeoutMs: 600_000, env });
      return install();
    });
  }
}, 900_000);

afterAll(async () => {
  if (prometheus) {
    prometheus.child.kill('SIGTERM');
    await prometheus.exited;
  }
  // Every engine back (the failover stopped one) and every service gone, the stack's included.
  await restoreLab(lab);
  const manager = await runningManager(lab);
  await waitUntil('the stack network and the secret removed', async () => {
    await lab.docker(manager, ['network', 'rm', `${STACK}_default`]).catch(() => undefined);
    await lab.docker(manager, ['secret', 'rm', SECRET]).catch(() => undefined);
    const left = await lab.docker(manager, ['secret', 'ls', '-q', '--filter', `name=${SECRET}`]);
    return left.trim() === '';
  }, SLOW);
  for (const m of lab.managers) await lab.docker(m, ['rmi', '-f', IMAGE, BASE]).catch(() => undefined);
  for (const m of natOn) await iptables(m, '-D').catch(() => undefined);
  if (share) execFileSync('umount', ['-R', join(dir, 'mnt')]);
  await git?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
}, 240_000);

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(expr: string): Promise<PromSample[]> {
  const res = await fetch(`${prometheus!.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromSample[] | [number, string] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  const data = body.data!;
  // A scalar (e.g. time() - ...) is one sample without labels.
  if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
  return data.result as PromSample[];
}

async function leaderNode(exclude?: LabNode): Promise<LabNode> {
  return waitUntil('a Raft leader', async () => {
    const running = lab.managers.filter((m) => m !== exclude && lab.isRunning(m));
    for (const m of running) {
      const nodes = await portFor(m).listNodes().catch(() => undefined);
      const leader = nodes?.find((n) => n.manager?.leader);
      if (leader && leader.hostname !== exclude?.name) return lab.node(leader.hostname);
    }
    return undefined;
  }, SLOW);
}

/** WardenStatus is the part of GET /status these tests read. */
interface WardenStatus {
  leader: boolean;
  revision?: string;
  lastPass?: { revision?: string; error?: string };
  drift: Record<string, { object: string }[]>;
}

async function wardenStatus(node: LabNode): Promise<WardenStatus | undefined> {
  const res = await fetch(`http://${node.ip}:9095/status`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
  return res?.ok ? ((await res.json()) as WardenStatus) : undefined;
}

describe('warden deployed on the swarm it keeps', () => {
  it('deploys from the committed stack file: global on the managers, desired state from git, credentials as a secret, the NAS under --host-root', async () => {
    const builder = lab.managers[0]!;
    let started = Date.now();
    const build = await buildImageOffline(lab, builder, join(dir, 'image'), BASE, IMAGE);
    expect(build).toMatch(/Successfully tagged|naming to/);
    // Images live per node: the image goes to the other managers as `docker save | docker load`.
    await Promise.all(lab.managers.filter((m) => m !== builder).map((m) =>
      run('sh', ['-c', `docker -H ${builder.host} save ${IMAGE} | docker -H ${m.host} load -q`], { timeoutMs: 300_000 })));
    process.stderr.write(`deploy: image built and on ${lab.managers.length} managers in ${Date.now() - started} ms\n`);

    for (const m of lab.managers) {
      await iptables(m, '-A');
      natOn.push(m);
    }
    // The NAS: a tmpfs at <dir>/mnt/nas, below a shared mount (the stack binds the parent with rslave
    // propagation, which the engine allows only from a shared or slave mount). One volume is in sync
    // (owned by 70), one drifts (owned by root): that split is seen only through the share.
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    execFileSync('mount', ['--bind', mnt, mnt]);
    execFileSync('mount', ['--make-rshared', mnt]);
    share = join(mnt, 'nas');
    mkdirSync(share);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'warden-e2e-nas', share]);
    mkdirSync(join(share, 'in-sync'));
    chownSync(join(share, 'in-sync'), 70, 70);
    mkdirSync(join(share, 'drifting'));

    await createService(lab, SERVICE, ['--replicas', '2']);
    git = await startGitServer({ host: lab.layout.gateway });
    revision = await git.push({
      'cluster.yml': [
        'apiVersion: swarm-warden/v1',
        'kind: ClusterState',
        'metadata: { name: e2e }',
        'spec:',
        '  services:',
        `    - { name: ${SERVICE}, replicas: 2 }`,
        '  volumes:',
        '    - { path: /mnt/nas/in-sync, mount: /mnt/nas, owner: 70, group: 70 }',
        '    - { path: /mnt/nas/drifting, mount: /mnt/nas, owner: 70, group: 70 }',
        '  policy:',
        '    mode: enforce',
        '    reconcilers: { volumes: observe }',
        '    resync: "*/5 * * * * *"',
        '',
      ].join('\n'),
    }, 'the desired state');

    // The committed stack file, with the lab's specifics substituted (and each checked to be there first,
    // so that a change to the committed file cannot make this test pass on something else).
    const stack = parse(readFileSync(join(REPO, 'deploy/warden-stack.yml'), 'utf8')) as {
      services: { warden: { image: string; command: string[]; environment: Record<string, string>; volumes: (string | { source: string; target: string })[]; secrets: string[] } };
      secrets: Record<string, { external: boolean }>;
    };
    const svc = stack.services.warden;
    expect(svc.command).toEqual(['run', '--host-root', '/host']);
    expect(svc.secrets).toContain(SECRET);
    expect(stack.secrets[SECRET]).toEqual({ external: true });
    expect(svc.environment.WARDEN_GIT_CREDENTIALS_FILE).toBe(`/run/secrets/${SECRET}`);
    svc.image = IMAGE;
    expect(svc.environment.WARDEN_GIT_URL).toMatch(/^https:/);
    svc.environment.WARDEN_GIT_URL = git.url;
    // Each lab engine has its own socket: a per-node link, chosen by swarm's {{.Node.Hostname}} template.
    const socks = join(dir, 'socks');
    mkdirSync(socks);
    for (const m of lab.managers) symlinkSync(m.socket, join(socks, `${m.name}.sock`));
    const sockAt = svc.volumes.indexOf('/var/run/docker.sock:/var/run/docker.sock');
    expect(sockAt).toBeGreaterThanOrEqual(0);
    svc.volumes[sockAt] = `${socks}/{{.Node.Hostname}}.sock:/var/run/docker.sock`;
    const nas = svc.volumes.find((v): v is { source: string; target: string } => typeof v === 'object' && v.target === '/host/mnt');
    expect(nas?.source).toBe('/mnt');
    nas!.source = mnt;
    const stackFile = join(dir, 'warden-stack.yml');
    writeFileSync(stackFile, stringify(stack));

    const manager = await runningManager(lab);
    // A secret a killed run left would make `secret create` fail.
    await lab.docker(manager, ['secret', 'rm', SECRET]).catch(() => undefined);
    // Dummy credentials: this git server asks for none, but the secret's wiring (the file warden reads) is real.
    const credentials = join(dir, 'credentials');
    writeFileSync(credentials, 'warden:not-a-real-token\n');
    await lab.docker(manager, ['secret', 'create', SECRET, credentials]);
    started = Date.now();
    await lab.docker(manager, ['stack', 'deploy', '-c', stackFile, STACK]);
    // As docs/operations.md says: the socket's group, which the stack format cannot give. The test also
    // shortens the image's 30 s health interval (a task is running only once healthy) and updates every
    // task at once, so that the rolling update takes seconds; production keeps both defaults.
    const socketGroup = statSync(manager.socket).gid;
    // Right after the deploy the engine's own writes bump the service's version: "update out of
    // sequence" means run it again, as an operator would.
    await waitUntil('the socket group added to the service', () =>
      lab.docker(manager, ['service', 'update', '--detach', '--quiet', '--group-add', String(socketGroup),
        '--health-interval', '2s', '--update-parallelism', '0', WARDEN_SERVICE]).then(() => true, (err: Error) => {
        if (!/update out of sequence/.test(err.message)) throw err;
        return false;
      }), SLOW);

    // One instance per manager, none on a worker, each with a pass done on the revision pushed: an
    // instance that has loaded it but not yet passed on it does not know yet whether it leads. The volume
    // paths are read off the pass (controller/host.ts): a pass before their first answer has the volumes
    // pending, with no drift yet, so the wait is for a pass that planned on them.
    const statuses = await waitUntil('a pass on the pushed revision, planned on the volume paths, on every manager', async () => {
      const all = await Promise.all(lab.managers.map(wardenStatus));
      return all.every((s) => s?.revision === revision && s.lastPass?.revision === revision && s.lastPass.error === undefined &&
        (s.drift.volumes?.length ?? 0) > 0) ? all : undefined;
    }, SLOW);
    process.stderr.write(`deploy: stack deployed, ${lab.managers.length} instances on the pushed revision in ${Date.now() - started} ms\n`);
    const tasks = (await lab.docker(manager, ['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}}', WARDEN_SERVICE])).trim().split('\n').sort();
    expect(tasks).toEqual(lab.managers.map((m) => m.name).sort());
    expect(statuses.filter((s) => s!.leader)).toHaveLength(1);
    // The NAS as the host sees it: the volume owned by 70 is in sync, the other drifts.
    for (const s of statuses) expect(s!.drift.volumes?.map((d) => d.object)).toEqual(['/mnt/nas/drifting']);
    // The secret is where WARDEN_GIT_CREDENTIALS_FILE says, readable by warden's user.
    const container = (await lab.docker(manager, ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${WARDEN_SERVICE}`])).trim();
    expect(await lab.docker(manager, ['exec', container, 'cat', `/run/secrets/${SECRET}`])).toBe('warden:not-a-real-token\n');
  }, 420_000);

  it('is scraped by a real Prometheus with the committed scrape job, alert rules and dashboard', async () => {
    // Discovery asks an engine that stays up during the failover below: a manager that is not the leader.
    const leader = await leaderNode();
    const sd = lab.managers.find((m) => m !== leader)!;
    const config = parse(readFileSync(join(REPO, 'deploy/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { job_name: string; dockerswarm_sd_configs: { host: string; role: string; refresh_interval: string }[] }[];
    };
    config.global.scrape_interval = '2s';
    config.global.evaluation_interval = '2s';
    const job = config.scrape_configs.find((j) => j.job_name === 'warden')!;
    expect(job.dockerswarm_sd_configs).toHaveLength(1);
    expect(job.dockerswarm_sd_configs[0]!.role).toBe('tasks');
    job.dockerswarm_sd_configs[0]!.host = sd.host;
    job.dockerswarm_sd_configs[0]!.refresh_interval = '2s';
    const promDir = join(dir, 'prometheus');
    mkdirSync(promDir);
    writeFileSync(join(promDir, 'prometheus.yml'), stringify(config));
    expect(config.rule_files).toEqual(['alerts.yml']);
    copyFileSync(join(REPO, 'deploy/alerts.yml'), join(promDir, 'alerts.yml'));
    copyFileSync(join(REPO, 'deploy/alerts.test.yml'), join(promDir, 'alerts.test.yml'));

    // promtool: the rules are valid and their unit tests pass (each throws on a non-zero exit).
    expect(await run('promtool', ['check', 'rules', join(promDir, 'alerts.yml')])).toMatch(/SUCCESS: 10 rules found/);
    expect(await run('promtool', ['test', 'rules', join(promDir, 'alerts.test.yml')])).toMatch(/SUCCESS/);
    await run('promtool', ['check', 'config', join(promDir, 'prometheus.yml')]);

    const port = await freePort();
    const log = openSync(join(promDir, 'prometheus.log'), 'a');
    const child = spawn('prometheus', [
      `--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: ['ignore', log, log] });
    closeSync(log);
    prometheus = { child, url: `http://127.0.0.1:${port}`, exited: new Promise((resolve) => child.on('exit', resolve)) };
    const promLog = (): string => readFileSync(join(promDir, 'prometheus.log'), 'utf8').split('\n').slice(-10).join('\n');

    const started = Date.now();
    // Every instance discovered and up, under the manager's hostname, at its node's address.
    const targets = await waitUntil('Prometheus to scrape every warden instance', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${promLog()}`);
      const res = await fetch(`${prometheus!.url}/api/v1/targets?state=active`);
      const body = (await res.json()) as { data: { activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string }[] } };
      const warden = body.data.activeTargets.filter((t) => t.labels.job === 'warden');
      return warden.length === lab.managers.length && warden.every((t) => t.health === 'up') ? warden : undefined;
    }, SLOW);
    process.stderr.write(`deploy: Prometheus scrapes ${targets.length} instances ${Date.now() - started} ms after its start\n`);
    expect(targets.map((t) => t.labels.instance).sort()).toEqual(lab.managers.map((m) => m.name).sort());
    expect(targets.map((t) => t.scrapeUrl).sort()).toEqual(lab.managers.map((m) => `http://${m.ip}:9095/metrics`).sort());

    // warden_leader 1 on exactly one instance: the one on the Raft leader's node.
    const leaders = await waitUntil('warden_leader on every instance', async () => {
      const r = await promQuery('warden_leader{job="warden"}');
      return r.length === lab.managers.length ? r : undefined;
    }, SLOW);
    expect(leaders.filter((s) => s.value[1] === '1').map((s) => s.metric.instance)).toEqual([leader.name]);

    // The rules load and evaluate in Prometheus itself.
    const rules = await waitUntil('the alert rules evaluated', async () => {
      const body = (await (await fetch(`${prometheus!.url}/api/v1/rules`)).json()) as { data: { groups: { name: string; rules: { name: string; health: string; lastEvaluation: string }[] }[] } };
      const group = body.data.groups.find((g) => g.name === 'swarm-warden');
      return group?.rules.every((r) => r.health === 'ok' && !r.lastEvaluation.startsWith('0001')) ? group.rules : undefined;
    }, SLOW);
    expect(rules.map((r) => r.name)).toContain('WardenNoLeaderInstance');

    // Every panel of the dashboard has a query, and every query returns data from this Prometheus.
    const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const panel of dashboard.panels) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets!) {
        // Grafana's $__rate_interval: at least four scrape intervals.
        const q = expr.replaceAll('$__rate_interval', '20s');
        const samples = await waitUntil(`data for the panel "${panel.title}": ${q}`, async () => {
          const r = await promQuery(q);
          return r.some((s) => Number.isFinite(Number(s.value[1]))) ? r : undefined;
        }, SLOW);
        expect(samples.length, panel.title).toBeGreaterThan(0);
      }
    }
    const drifting = await promQuery('warden_object_drift{job="warden"}');
    expect(drifting.map((s) => `${s.metric.instance} ${s.metric.reconciler} ${s.metric.object}`).sort())
      .toEqual(lab.managers.map((m) => `${m.name} volumes /mnt/nas/drifting`).sort());
  }, 300_000);

  it('fails over: the leader engine stops, another instance takes over and reverts a manual scale', async () => {
    const old = await leaderNode();
    await lab.stopDaemon(old);
    let started = Date.now();
    const leader = await leaderNode(old);
    process.stderr.write(`deploy: ${old.name} stopped; ${leader.name} is the Raft leader after ${Date.now() - started} ms\n`);

    // The new leader's instance knows it leads (at its next pass: an event, or the 5 s resync here).
    await waitUntil(`the instance on ${leader.name} to lead`, async () => (await wardenStatus(leader))?.leader === true, SLOW);
    started = Date.now();
    await lab.docker(leader, ['service', 'scale', '--detach', `${SERVICE}=5`]);
    await waitUntil(`${SERVICE} scaled back to 2`, async () => {
      const replicas = (await lab.docker(leader, ['service', 'inspect', '--format', '{{.Spec.Mode.Replicated.Replicas}}', SERVICE])).trim();
      return replicas === '2';
    }, SLOW);
    process.stderr.write(`deploy: manual scale to 5 reverted to 2 by the instance on ${leader.name} in ${Date.now() - started} ms\n`);

    // Prometheus sees it: exactly one instance with warden_leader 1, the new leader's, and its correction.
    await waitUntil('Prometheus: warden_leader 1 on the new leader only', async () => {
      const ones = await promQuery('warden_leader{job="warden"} == 1');
      return ones.length === 1 && ones[0]!.metric.instance === leader.name;
    }, SLOW);
    const corrections = await waitUntil('Prometheus: the correction counted on the new leader', async () => {
      const r = await promQuery(`warden_corrections_total{job="warden",reconciler="replicas",action="scale-service",instance="${leader.name}"} > 0`);
      return r.length === 1 ? r : undefined;
    }, SLOW);
    expect(Number(corrections[0]!.value[1])).toBeGreaterThanOrEqual(1);
    // The stopped node's instance, while still discovered, is down, and counts for nothing above.
    const down = await promQuery(`up{job="warden",instance="${old.name}"}`);
    expect(down.every((s) => s.value[1] === '0')).toBe(true);
  }, 300_000);
});
