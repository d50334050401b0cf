// Reaching a swarm as an operator's laptop or a CI job does: over ssh:// to a manager (a real OpenSSH
// server in the manager's network namespace, `docker system dial-stdio` on the other side), and through
// docker contexts made by the docker CLI. Host keys are checked against known_hosts; `warden run` over
// ssh follows the events stream on one SSH connection, and connects again when the connection drops.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LabNode } from '../../src/lab/lab.js';
import { createService, leaderNode, portFor, removeServices, restoreLab, runningManager, testLab, uniqueName } from '../support/lab.js';
import { removeLabSshd, startLabSshd, type LabSshd } from '../support/sshd.js';
import { waitUntil } from '../support/wait.js';
import { runWarden, startWardenRun, type WardenDaemon } from '../support/warden.js';

const lab = testLab();
const created: string[] = [];
const daemons: WardenDaemon[] = [];
const sshds: LabSshd[] = [];
let dir: string;
let manager1: LabNode;
let sshd: LabSshd;

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(join(tmpdir(), 'warden-remote-'));
  manager1 = lab.managers[0]!;
  sshd = await startLabSshd(manager1);
  sshds.push(sshd);
});

afterEach(async () => {
  for (const d of daemons.splice(0)) await d.stop('SIGKILL');
  await removeServices(lab, ...created.splice(0));
  // A test that stopped an sshd leaves it running again for the next one.
  for (const s of sshds) if (!s.running()) await s.start();
});

afterAll(async () => {
  for (const s of sshds.splice(0)) await removeLabSshd(s);
  rmSync(dir, { recursive: true, force: true });
});

// A HOME as a laptop has it: ~/.ssh/id_ed25519 (the key the sshd accepts) and known_hosts.
/** home makes a HOME whose ~/.ssh has the key `server` accepts (default the first sshd's) and these known_hosts. */
function home(name: string, knownHosts: string, server: { clientKey: string } = sshd): string {
  const h = join(dir, name);
  mkdirSync(join(h, '.ssh'), { recursive: true });
  copyFileSync(server.clientKey, join(h, '.ssh', 'id_ed25519'));
  chmodSync(join(h, '.ssh', 'id_ed25519'), 0o600);
  writeFileSync(join(h, '.ssh', 'known_hosts'), knownHosts);
  return h;
}

// Only what the test says: no agent, no engine or context from this machine's environment.
function env(homeDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { HOME: homeDir, SSH_AUTH_SOCK: '', DOCKER_HOST: '', DOCKER_CONTEXT: '', WARDEN_HOST: '', DOCKER_CONFIG: join(dir, 'no-docker-config'), ...extra };
}

function stateFile(name: string, replicas: number, resync = '*/30 * * * * *'): string {
  const file = join(dir, `${name}.yml`);
  writeFileSync(file, [
    'apiVersion: swarm-warden/v1',
    'kind: ClusterState',
    'metadata: { name: lab }',
    'spec:',
    '  services:',
    `    - { name: ${name}, replicas: ${replicas} }`,
    '  policy:',
    `    resync: "${resync}"`,
    '',
  ].join('\n'));
  return file;
}

async function replicas(name: string): Promise<number | undefined> {
  return (await portFor(await runningManager(lab)).inspectService(name)).replicas;
}

describe('warden over ssh://', () => {
  it('plan reaches a manager through a real sshd on one SSH connection and prints the plan', async () => {
    // The sshd is the manager's alone: it runs in the node's network namespace, on the node's IP.
    expect(sshd.netns()).not.toBe(readlinkSync('/proc/self/ns/net'));
    expect(sshd.url).toBe(`ssh://root@${manager1.ip}`);
    const name = await createService(lab, uniqueName('remote-plan'), ['--replicas', '1']);
    created.push(name);
    const file = stateFile(name, 2);
    const plain = home('plain', `${manager1.ip} ${sshd.hostKeyLine}\n`);

    const before = sshd.accepted();
    const plan = await runWarden(['plan', '-f', file, '--host', sshd.url], env(plain));
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain(`drift   ${name}: replicas 1 (wants 2)`);
    expect(plan.stdout).toContain(`action  scale-service ${name} {"replicas":1} -> {"replicas":2}: planned`);
    // Every request of the pass went over one SSH connection.
    expect(sshd.accepted()).toBe(before + 1);

    // known_hosts hashed by ssh-keygen -H, as many distributions write it.
    const hashed = home('hashed', `${manager1.ip} ${sshd.hostKeyLine}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', join(hashed, '.ssh', 'known_hosts')], { stdio: 'ignore' });
    expect(readFileSync(join(hashed, '.ssh', 'known_hosts'), 'utf8')).toMatch(/^\|1\|/);
    const again = await runWarden(['plan', '-f', file, '--host', sshd.url, '--output', 'json'], env(hashed));
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ inSync: false, cluster: 'lab' });

    // A key restricted to dial-stdio on the manager, as operator-guide.md advises for CI, is enough.
    sshd.authorize('restrict,command="docker system dial-stdio"');
    try {
      const restricted = await runWarden(['plan', '-f', file, '--host', sshd.url], env(plain));
      expect(restricted.stderr).toBe('');
      expect(restricted.code).toBe(1);
    } finally {
      sshd.authorize('');
    }
  });

  it('refuses an unknown host key and a changed one, before logging in, and says what to do', async () => {
    const name = await createService(lab, uniqueName('remote-refused'), ['--replicas', '1']);
    created.push(name);
    const file = stateFile(name, 2);
    const before = sshd.accepted();

    const unknown = await runWarden(['apply', '-f', file, '--host', sshd.url], env(home('unknown', '')));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`ssh root@${manager1.ip}: the host key of ${manager1.ip} (ssh-ed25519 ${sshd.hostFingerprint}) is not known, refused`);
    expect(unknown.stderr).toContain(`ssh-keyscan -t ed25519 ${manager1.ip}`);

    // Another key for the same host: the client's own public key stands in for a host that changed.
    const otherKey = readFileSync(`${sshd.clientKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    const changed = await runWarden(['apply', '-f', file, '--host', sshd.url], env(home('changed', `${manager1.ip} ${otherKey}\n`)));
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain(`the host key of ${manager1.ip} has CHANGED, refused: the server showed ssh-ed25519 ${sshd.hostFingerprint}`);
    expect(changed.stderr).toContain(`ssh-keygen -R '${manager1.ip}'`);

    // Known only through a @cert-authority line whose CA signed the host's certificate: ssh2 offers no
    // certificate host key algorithm, so it can never be shown the certificate: a clear refusal.
    const certified = await runWarden(['apply', '-f', file, '--host', sshd.url], env(home('ca', `@cert-authority ${manager1.ip} ${sshd.caKeyLine}\n`)));
    expect(certified.code).toBe(2);
    expect(certified.stderr).toContain(`the host key of ${manager1.ip} (ssh-ed25519 ${sshd.hostFingerprint}) cannot be checked, refused: `);
    expect(certified.stderr).toContain("trusts a @cert-authority for " + manager1.ip + ", but warden's SSH client (ssh2) cannot verify host certificates");

    // Nobody logged in, and nothing changed.
    expect(sshd.accepted()).toBe(before);
    expect(await replicas(name)).toBe(1);
  });
});

describe('docker contexts made by the docker CLI', () => {
  let config: string;
  let laptop: string;
  const docker = (...args: string[]): string =>
    execFileSync('docker', args, { env: { PATH: process.env.PATH, DOCKER_CONFIG: config, HOME: config }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const withConfig = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => env(laptop, { DOCKER_CONFIG: config, ...extra });

  beforeAll(() => {
    config = join(dir, 'docker-config');
    docker('context', 'create', 'lab-ssh', '--docker', `host=${sshd.url}`);
    docker('context', 'create', 'lab-unix', '--docker', `host=${lab.managers[1]!.host}`);
    docker('context', 'create', 'lab-gone', '--docker', `host=unix:///run/wlab/${lab.layout.id}/gone.sock`);
    laptop = home('laptop', `${manager1.ip} ${sshd.hostKeyLine}\n`);
  });

  async function drifting(): Promise<{ file: string; drift: string }> {
    const name = await createService(lab, uniqueName('remote-ctx'), ['--replicas', '1']);
    created.push(name);
    return { file: stateFile(name, 2), drift: `drift   ${name}: replicas 1 (wants 2)` };
  }

  it('over ssh and over a socket, chosen by --context, DOCKER_CONTEXT and currentContext', async () => {
    const { file, drift } = await drifting();
    // Each context by each way of choosing it, with the other one as currentContext but in the last case:
    // only the ssh one logs in, once per run, so the logins tell which endpoint was used.
    let logins = sshd.accepted();
    for (const [context, other] of [['lab-ssh', 'lab-unix'], ['lab-unix', 'lab-ssh']] as const) {
      const overSsh = context === 'lab-ssh';
      for (const [how, args, extra, current] of [
        ['--context', ['--context', context], {}, other],
        ['DOCKER_CONTEXT', [], { DOCKER_CONTEXT: context }, other],
        ['currentContext', [], {}, context],
      ] as const) {
        docker('context', 'use', current);
        const result = await runWarden(['plan', '-f', file, ...args], withConfig(extra));
        expect(result.stdout, `${context} by ${how}: ${result.stderr}`).toContain(drift);
        expect(result.code).toBe(1);
        if (overSsh) logins += 1;
        expect(sshd.accepted(), `${context} by ${how}`).toBe(logins);
      }
    }
  });

  it('in the docker CLI\'s order, and refused as the CLI refuses', async () => {
    const { file } = await drifting();
    const plan = (args: string[], e: NodeJS.ProcessEnv) => runWarden(['plan', '-f', file, ...args], e);
    docker('context', 'use', 'lab-ssh');
    let logins = sshd.accepted();
    // DOCKER_HOST wins over currentContext; --context wins over DOCKER_HOST.
    expect((await plan([], withConfig({ DOCKER_HOST: lab.managers[1]!.host }))).code).toBe(1);
    expect(sshd.accepted()).toBe(logins);
    expect((await plan(['--context', 'lab-ssh'], withConfig({ DOCKER_HOST: lab.managers[1]!.host }))).code).toBe(1);
    expect(sshd.accepted()).toBe(++logins);

    // The context's endpoint is the one used: a context pointing nowhere fails, naming it.
    const gone = await plan([], withConfig({ DOCKER_CONTEXT: 'lab-gone' }));
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`/run/wlab/${lab.layout.id}/gone.sock`);
    const both = await plan(['--context', 'lab-ssh', '--host', lab.managers[1]!.host], withConfig());
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('conflicting options: cannot specify both --host and --context');
    const missing = await plan(['--context', 'nope'], withConfig());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`context "nope" (--context) does not exist in ${join(config, 'contexts')}`);
    expect(sshd.accepted()).toBe(logins);
  });
});

describe('warden run over ssh://', () => {
  it('follows events on one SSH connection, and connects again when it drops', async () => {
    // Only the instance on the leader acts: reach the leader's engine over ssh.
    const leader = await leaderNode(lab);
    const remote = leader.name === sshd.node.name ? sshd : await startLabSshd(leader);
    if (remote !== sshd) sshds.push(remote);
    const name = await createService(lab, uniqueName('remote-run'), ['--replicas', '2']);
    created.push(name);
    // A resync once a year: what corrects the drift below is the events stream, over ssh.
    const file = stateFile(name, 2, '0 0 1 1 *');
    // The key of the sshd on the leader's node: each sshd accepts a key of its own.
    const laptop = home('daemon', `${leader.ip} ${remote.hostKeyLine}\n`, remote);
    const before = remote.accepted();
    const daemon = await startWardenRun(['-f', file, '--host', remote.url, '--log-level', 'debug'], { env: env(laptop) });
    daemons.push(daemon);
    const connected = (): number => daemon.logs().split('\n').filter((l) => l.includes('"events stream connected"')).length;
    await waitUntil('the events stream over ssh', () => connected() >= 1);

    const corrections = (): number => daemon.logs().split('\n').filter((l) => l.includes('"corrected drift"')).length;
    const manager = await runningManager(lab);
    await lab.docker(manager, ['service', 'scale', '--detach', `${name}=1`]);
    await waitUntil('warden to scale the service back', async () => corrections() === 1 && (await replicas(name)) === 2, { timeoutMs: 20_000 });
    // The pass that corrected it was started by the service's event (its line comes once the pass ends).
    await waitUntil('the pass of the event to end', () => /"reasons":\[[^\]]*"service-update"[^\]]*\]/.test(daemon.logs()));
    expect(remote.accepted()).toBe(before + 1);

    // The connection drops (sshd and its sessions stop): warden says so and keeps trying; once sshd is
    // back it connects again, follows events again, and corrects again.
    await remote.stop();
    await waitUntil('warden to see the stream go', () => daemon.logs().includes('events stream lost; reconnecting'));
    const connections = connected();
    await remote.start();
    await waitUntil('the events stream to come back over ssh', () => connected() > connections, { timeoutMs: 30_000 });
    await lab.docker(manager, ['service', 'scale', '--detach', `${name}=1`]);
    await waitUntil('warden to scale the service back again', async () => corrections() === 2 && (await replicas(name)) === 2, { timeoutMs: 20_000 });
    expect(remote.accepted()).toBe(before + 2);
    // An open SSH connection does not hold SIGTERM up.
    const stopped = await daemon.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.ms).toBeLessThan(3_000);
  });
});
