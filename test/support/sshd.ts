// A real OpenSSH server (Debian's openssh-server) in a lab node's network namespace, so that the node
// can be reached as ssh://root@NODE_IP as a production manager is. Its own config in a temp dir: port 22
// on the node's IP only (the namespace has no other address the host shares), its own host key, one
// authorized key, no PAM, and DOCKER_HOST set to that node's engine for `docker system dial-stdio`.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabNode } from '../../src/lab/lab.js';
import { waitUntil } from './wait.js';

/** SSHD is Debian's OpenSSH server binary. */
export const SSHD = '/usr/sbin/sshd';

/** LabSshd is an sshd serving one lab node; stop() ends it and every session it forked. */
export interface LabSshd {
  node: LabNode;
  /** url is ssh://root@NODE_IP. */
  url: string;
  dir: string;
  /** hostKeyLine is the host key as known_hosts wants it: `TYPE BASE64`. */
  hostKeyLine: string;
  /** caKeyLine is the CA that signed the host key's certificate (HostCertificate), as known_hosts wants it: `TYPE BASE64`. */
  caKeyLine: string;
  /** hostFingerprint is `SHA256:...`, as ssh-keygen -l prints it. */
  hostFingerprint: string;
  /** clientKey is the private key its authorized_keys accepts. */
  clientKey: string;
  /** accepted counts the logins it accepted so far (one per SSH connection). */
  accepted(): number;
  /** netns is the network namespace inode it runs in (net:[N]). */
  netns(): string;
  /** running tells whether it runs. */
  running(): boolean;
  /** authorize rewrites authorized_keys with these options before the key (sshd reads it at each login). */
  authorize(options: string): void;
  stop(): Promise<void>;
  /** start starts it again, same keys, same config. */
  start(): Promise<void>;
}

/** startLabSshd starts an sshd in `node`'s network namespace and waits until it answers on NODE_IP:22. */
export async function startLabSshd(node: LabNode): Promise<LabSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-sshd-'));
  const keygen = (file: string): void => {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  };
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'client_key'));
  // The host key also has an OpenSSH host certificate signed by a CA (ssh-keygen -s -h), served with
  // HostCertificate: a client that offers *-cert-v01@openssh.com gets it, others the plain key.
  keygen(join(dir, 'host_ca'));
  execFileSync('ssh-keygen', ['-q', '-s', join(dir, 'host_ca'), '-h', '-I', 'lab-host', '-n', node.ip, join(dir, 'host_key.pub')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
  const log = join(dir, 'sshd.log');
  const config = join(dir, 'sshd_config');
  writeFileSync(config, [
    `ListenAddress ${node.ip}:22`,
    `HostKey ${join(dir, 'host_key')}`,
    `HostCertificate ${join(dir, 'host_key-cert.pub')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'UsePAM no',
    // The temp dir is not root's home: its modes are not what StrictModes wants.
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    `SetEnv DOCKER_HOST=${node.host}`,
    '',
  ].join('\n'));
  // sshd's privilege separation directory is fixed at build time; Debian's service creates it at boot.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  execFileSync(SSHD, ['-t', '-f', config]);
  const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'host_key.pub')], { encoding: 'utf8' }).split(/\s+/)[1]!;

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async (): Promise<void> => {
    // nsenter execs sshd: the child's pid is sshd's. -D keeps it in the foreground (ours to stop), -E logs.
    child = spawn('nsenter', [`--net=/var/run/netns/${node.netns}`, SSHD, '-D', '-f', config, '-E', log], { stdio: 'ignore' });
    const c = child;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    await waitUntil(`sshd on ${node.ip}:22`, async () => {
      if (c.exitCode !== null) throw new Error(`sshd exited ${c.exitCode}: ${existsSync(log) ? readFileSync(log, 'utf8') : ''}`);
      return banner(node.ip);
    }, { timeoutMs: 20_000 });
  };
  const stop = async (): Promise<void> => {
    const pid = child?.pid;
    if (pid === undefined || child?.exitCode !== null || child.signalCode !== null) return;
    // Each connection is served by a process sshd forked: stop those too, so that connections drop as
    // when the host goes away. All are descendants of the sshd this helper started.
    const tree = descendants(pid);
    for (const p of [...tree, pid]) {
      try {
        process.kill(p, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    await exited;
    await waitUntil('the sshd sessions to exit', () => tree.every((p) => !existsSync(`/proc/${p}`)), { timeoutMs: 10_000 });
  };
  await start();
  return {
    node,
    url: `ssh://root@${node.ip}`,
    dir,
    hostKeyLine: `${hostPub[0]} ${hostPub[1]}`,
    caKeyLine: readFileSync(join(dir, 'host_ca.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' '),
    hostFingerprint: fingerprint,
    clientKey: join(dir, 'client_key'),
    accepted: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('Accepted publickey for root')).length : 0),
    netns: () => readlinkSync(`/proc/${child!.pid}/ns/net`),
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    authorize: (options: string) => {
      const key = readFileSync(join(dir, 'client_key.pub'), 'utf8');
      writeFileSync(join(dir, 'authorized_keys'), options ? `${options} ${key}` : key);
    },
    stop,
    start,
  };
}

/** removeLabSshd stops it and removes its directory. */
export async function removeLabSshd(sshd: LabSshd | undefined): Promise<void> {
  if (!sshd) return;
  await sshd.stop();
  rmSync(sshd.dir, { recursive: true, force: true });
}

// True once something on ip:22 speaks SSH.
function banner(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(22, ip);
    s.setTimeout(2_000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('data', (d: Buffer) => {
      s.destroy();
      resolve(d.toString().startsWith('SSH-2.0-'));
    });
    s.once('error', () => resolve(false));
  });
}

function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((c) => [...descendants(c), c]);
}
