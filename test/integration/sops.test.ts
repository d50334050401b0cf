// A stack kept in sops files, on the lab, through the real command line: its compose file (environment
// encrypted), envFile, a service's env_file, a config and a secret are all sops files for an age key. It
// deploys; the service sees the plaintext; a changed plaintext rotates once; a re-encryption of the same
// plaintext rotates nothing; without the key nothing changes; nothing warden prints holds a plaintext.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/lab/exec.js';
import { restoreLab, runningManager, testLab } from '../support/lab.js';
import { AGE_KEYS, sopsEncrypt } from '../support/sops.js';
import { removeStack, stackObjects } from '../support/stacks.js';
import { startSocketProxy } from '../support/socket-proxy.js';
import { waitUntil } from '../support/wait.js';
import { runWarden } from '../support/warden.js';

const lab = testLab();
const NAME = 'sp';
const recipients = [AGE_KEYS.key1.recipient];
// Every plaintext of the test: none may appear in anything warden prints.
const SECRET = { token: 'tok-lab-5f1c2e', envFile: 'envfile-lab-77a1', stackEnv: 'stackenv-lab-93b0', conf: 'conf-lab-0c4d', rotated: 'tok-lab-rotated-2b' };
let dir: string;
const printed: string[] = [];

function compose(node: string): string {
  return `version: "3.8"
services:
  app:
    image: busybox:lab
    command: ["sleep", "86400"]
    env_file: [app.env]
    environment:
      FROM_STACK_ENV: \${NOTE}
    secrets: [token]
    configs: [{ source: conf, target: /app.conf }]
    deploy:
      placement: { constraints: ["node.hostname == ${node}"] }
secrets:
  token: { file: token.secret }
configs:
  conf: { file: app.conf }
`;
}

function writeFiles(node: string, token = SECRET.token): void {
  const enc = (text: string, format: 'yaml' | 'dotenv' | 'binary', more = {}): string => sopsEncrypt(text, { format, recipients, ...more });
  writeFileSync(path.join(dir, 'warden.yml'), `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: lab }
spec:
  stacks: [{ name: ${NAME}, file: stack.yml, envFile: stack.env, deploy: true, resolveImage: never }]
  # The rotation below removes the old secret at once: swarm's rollback grace is the stacks test's subject.
  policy: { rollbackGrace: 0s }
`);
  writeFileSync(path.join(dir, 'stack.yml'), enc(compose(node), 'yaml', { encryptedRegex: '^environment$' }));
  writeFileSync(path.join(dir, 'stack.env'), enc(`NOTE=${SECRET.stackEnv}\n`, 'dotenv'));
  writeFileSync(path.join(dir, 'app.env'), enc(`FROM_ENV_FILE=${SECRET.envFile}\n`, 'dotenv'));
  writeFileSync(path.join(dir, 'token.secret'), enc(token, 'binary'));
  writeFileSync(path.join(dir, 'app.conf'), enc(`password ${SECRET.conf}\n`, 'binary'));
}

/** apply runs `warden apply` (JSON lines) through a recording proxy: its exit code, changes and writes. */
async function apply(keyFile: string | undefined): Promise<{ code: number | null; changes: string[]; writes: string[]; out: string }> {
  const manager = await runningManager(lab);
  const proxy = await startSocketProxy(manager.socket);
  const args = ['apply', '-f', path.join(dir, 'warden.yml'), '--host', `unix://${proxy.socket}`, '--log-format', 'json'];
  // Not warden's own environment's keys: the test says which key warden has.
  const env = { SOPS_AGE_KEY_FILE: '', SOPS_AGE_KEY: '', WARDEN_SOPS_PGP_KEY_FILE: '' };
  const r = await runWarden(keyFile ? [...args, '--sops-age-key-file', keyFile] : args, env).finally(() => proxy.close());
  printed.push(r.stdout, r.stderr);
  const changes = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { action?: string; object?: string; msg?: string })
    .filter((l) => l.action !== undefined && l.object !== undefined && l.msg !== 'action suppressed').map((l) => `${l.action} ${l.object}`);
  return { code: r.code, changes, writes: proxy.paths.filter((p) => !p.startsWith('GET ') && !p.startsWith('HEAD ')), out: r.stdout + r.stderr };
}

async function inContainer(args: string[]): Promise<string> {
  const node = await runningManager(lab);
  const container = await waitUntil('the app task running', async () => {
    const id = (await run('docker', ['-H', node.host, 'ps', '-q', '--filter', `label=com.docker.swarm.service.name=${NAME}_app`])).trim().split('\n')[0];
    return id ? id : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
  return (await run('docker', ['-H', node.host, 'exec', container, ...args]));
}

beforeAll(async () => {
  await restoreLab(lab);
  dir = mkdtempSync(path.join(tmpdir(), 'warden-sops-'));
});
afterAll(async () => {
  await removeStack(await runningManager(lab), NAME);
  rmSync(dir, { recursive: true, force: true });
  await restoreLab(lab);
});

describe('a stack kept in sops files on the lab', () => {
  it('deploys, shows the service its plaintext, rotates on a change only, and changes nothing without the key', async () => {
    const manager = await runningManager(lab);
    const key = AGE_KEYS.key1.file;
    writeFiles(manager.name);

    const first = await apply(key);
    expect(first.code, first.out).toBe(0);
    expect(first.changes).toContain(`create-service ${NAME}_app`);
    // The task sees the plaintext: its secret, its config, its env_file and the stack's envFile.
    await waitUntil('the app running with the rotated-in plaintext', async () =>
      (await inContainer(['cat', '/run/secrets/token']).catch(() => '')) === SECRET.token, { timeoutMs: 90_000, intervalMs: 1000 });
    expect(await inContainer(['cat', '/app.conf'])).toBe(`password ${SECRET.conf}\n`);
    const env = await inContainer(['env']);
    expect(env).toContain(`FROM_ENV_FILE=${SECRET.envFile}`);
    expect(env).toContain(`FROM_STACK_ENV=${SECRET.stackEnv}`);
    const before = await stackObjects(manager, NAME);

    // The same plaintexts encrypted again (new data keys, new IVs): nothing rotates, nothing is written.
    writeFiles(manager.name);
    const again = await apply(key);
    expect([again.code, again.changes, again.writes], again.out).toEqual([0, [], []]);

    // A changed secret: a new secret, the service moved to it, the old one removed, once.
    writeFiles(manager.name, SECRET.rotated);
    const rotated = await apply(key);
    expect(rotated.code, rotated.out).toBe(0);
    const old = before.secrets[0]!.name;
    const fresh = (await stackObjects(manager, NAME)).secrets.find((s) => s.name !== old)!.name;
    expect(rotated.changes).toEqual(expect.arrayContaining([`create-file-object ${fresh}`, `update-service ${NAME}_app`]));
    // The old secret goes once the update is done with it (swarm could roll back to it until then).
    if (!rotated.changes.includes(`remove-stack-object ${old}`)) {
      await waitUntil('the old secret removed once the update is done with it', async () =>
        (await apply(key)).changes.includes(`remove-stack-object ${old}`), { timeoutMs: 120_000, intervalMs: 2_000 });
    }
    const after = await stackObjects(manager, NAME);
    expect(after.secrets.map((s) => s.name)).toEqual([fresh]);
    expect(after.configs.map((c) => c.name)).toEqual(before.configs.map((c) => c.name));
    expect((await apply(key)).writes).toEqual([]);
    await waitUntil('the app running with the rotated secret', async () =>
      (await inContainer(['cat', '/run/secrets/token']).catch(() => '')) === SECRET.rotated, { timeoutMs: 90_000, intervalMs: 1000 });

    // Without the key (and with a change waiting), warden refuses: exit 2, the file named, no write.
    writeFiles(manager.name);
    for (const k of [undefined, AGE_KEYS.other.file]) {
      const refused = await apply(k);
      expect(refused.code, refused.out).toBe(2);
      expect(refused.out).toContain(`${path.join(dir, 'stack.yml')}: sops: cannot decrypt`);
      expect(refused.out).toContain(`age ${recipients[0]}`);
      expect(refused.writes).toEqual([]);
    }
    expect((await stackObjects(manager, NAME)).secrets.map((s) => s.name)).toEqual(after.secrets.map((s) => s.name));

    // Nothing any command printed holds a plaintext.
    const all = printed.join('\n');
    for (const s of Object.values(SECRET)) expect(all).not.toContain(s);
  }, 600_000);
});
