// `warden lab`: up and down leave nothing behind, also after an `up` killed halfway. Runs on its own lab
// number (1), so that it never touches the lab the other integration tests share.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandError, run } from '../../src/lab/exec.js';
import { labDown, labUp, ping } from '../../src/lab/lab.js';
import { waitUntil } from '../support/wait.js';
import { WARDEN_BIN } from '../support/warden.js';

const LAB = 1;

/** leftovers lists everything of lab 1 still on the machine: it must be empty after `down`. */
async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  for (const ns of (await run('ip', ['netns', 'list'])).split('\n')) if (ns.startsWith(`wlab${LAB}-`)) found.push(`netns ${ns}`);
  for (const l of (await run('ip', ['-o', 'link', 'show'])).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(l)?.[1];
    if (name?.startsWith(`wlab${LAB}`)) found.push(`link ${name}`);
  }
  for (const m of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    if (m.includes(`/run/wlab/${LAB}`) || m.includes(`/var/lib/wlab/${LAB}`)) found.push(`mount ${m}`);
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmd.includes(`/run/wlab/${LAB}/`) || cmd.includes(`/var/lib/wlab/${LAB}/`)) found.push(`process ${pid} ${cmd.slice(0, 80)}`);
  }
  for (const d of [`/run/wlab/${LAB}`, `/var/lib/wlab/${LAB}`]) if (existsSync(d)) found.push(`directory ${d}`);
  for (const c of readdirSync('/sys/fs/cgroup')) {
    const base = join('/sys/fs/cgroup', c);
    if (existsSync(join(base, `wlab${LAB}-n1`))) found.push(`cgroup ${base}/wlab${LAB}-n1`);
  }
  const forward = (await run('iptables', ['-S', 'FORWARD']).catch(() => '')).split('\n');
  if (forward.some((r) => r.includes(`wlab${LAB} `))) found.push('iptables FORWARD rule');
  return found;
}

describe('warden lab', () => {
  it('up builds a swarm with running containers; down leaves nothing behind', async () => {
    const started = Date.now();
    const lab = await labUp({ id: LAB, managers: 1, workers: 1 });
    expect(Date.now() - started).toBeLessThan(60_000); // a bound against hangs; speed is in the README's claim
    const [m] = lab.managers;
    await lab.docker(m!, ['service', 'create', '--detach', '--quiet', '--name', 'lab-test', '--replicas', '2', 'busybox:lab', 'sleep', '86400']);
    await waitUntil('2 running tasks', async () =>
      (await lab.docker(m!, ['service', 'ps', '-q', '--filter', 'desired-state=running', '--filter', 'desired-state=running', 'lab-test'])).trim().split('\n').length === 2 &&
      (await lab.docker(m!, ['service', 'ls', '--format', '{{.Replicas}}'])).trim() === '2/2');
    expect((await leftovers()).length).toBeGreaterThan(0);
    await labDown(LAB);
    expect(await leftovers()).toEqual([]);
  });

  it('down cleans up after an up killed halfway, and the next up works', async () => {
    const child = spawn(process.execPath, [WARDEN_BIN, 'lab', 'up', '--lab', String(LAB), '--managers', '1', '--workers', '1'], { stdio: 'ignore' });
    // Halfway: the engines run, the swarm is not formed yet (or just).
    await waitUntil('an engine of the killed run to answer', () => ping(`/run/wlab/${LAB}/n1/docker.sock`), { timeoutMs: 60_000, intervalMs: 20 });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    expect((await leftovers()).length).toBeGreaterThan(0);

    const down = spawn(process.execPath, [WARDEN_BIN, 'lab', 'down', '--lab', String(LAB)], { stdio: 'ignore' });
    expect(await new Promise((resolve) => down.on('exit', resolve))).toBe(0);
    expect(await leftovers()).toEqual([]);

    // And an up straight after another killed one: it tears down first.
    const again = spawn(process.execPath, [WARDEN_BIN, 'lab', 'up', '--lab', String(LAB), '--managers', '1', '--workers', '0'], { stdio: 'ignore' });
    await waitUntil('an engine of the second killed run', () => ping(`/run/wlab/${LAB}/n1/docker.sock`), { timeoutMs: 60_000, intervalMs: 20 });
    again.kill('SIGKILL');
    await new Promise((resolve) => again.on('exit', resolve));
    const lab = await labUp({ id: LAB, managers: 1, workers: 1 });
    expect((await lab.docker(lab.managers[0]!, ['node', 'ls', '-q'])).trim().split('\n')).toHaveLength(2);
    await labDown(LAB);
    expect(await leftovers()).toEqual([]);
  });

  it('up --engine runs the engine asked for on every node, and names the engines there are when asked for one there is not', async () => {
    // The oldest supported engine, whatever the run's default: lab status must show it on every node.
    await run(process.execPath, [WARDEN_BIN, 'lab', 'up', '--lab', String(LAB), '--managers', '1', '--workers', '1', '--engine', '20.10'], { timeoutMs: 300_000 });
    const status = await run(process.execPath, [WARDEN_BIN, 'lab', 'status', '--lab', String(LAB)]);
    const versions = status.split('\n').filter((l) => /^(manager|worker)-/.test(l)).map((l) => l.split(/\s+/)[4]);
    expect(versions).toHaveLength(2);
    expect(versions.every((v) => v?.startsWith('20.10.'))).toBe(true);
    expect(status).toMatch(/^engine: 20\.10 \(Debian's docker\.io 20\.10\./m);

    const refused = await run(process.execPath, [WARDEN_BIN, 'lab', 'up', '--lab', String(LAB), '--engine', '1.0']).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CommandError);
    expect((refused as CommandError).exitCode).toBe(2);
    expect((refused as CommandError).stderr).toMatch(/engine 1\.0 is not available; available: 20\.10, .*26\.1, .*28\.5/);
    // A refused choice is decided before anything is torn down: the lab that was up is still up.
    expect((await run(process.execPath, [WARDEN_BIN, 'lab', 'status', '--lab', String(LAB)])).split('\n').filter((l) => / running /.test(l))).toHaveLength(2);
    await labDown(LAB);
    expect(await leftovers()).toEqual([]);
  });
});
