// sops files where a stack reads files: the compose file (encrypted in part), envFile, a service's
// env_file, a config's and a secret's file. Loaded with keys they are their plaintext twins; without the
// right key the load fails naming the file; `warden validate` decrypts with keys and checks without.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateCommand } from '../../../src/commands/validate.js';
import { loadDesiredStateFile } from '../../../src/desired-state/load.js';
import { openSource } from '../../../src/desired-state/open-source.js';
import { loadSopsKeys } from '../../../src/desired-state/sops/keys.js';
import { DesiredStateError, formatProblem } from '../../../src/desired-state/source.js';
import { AGE_KEYS, sopsEncrypt } from '../../support/sops.js';

// Each age file is written by the age CLI, a process apiece: slow on a busy machine.
vi.setConfig({ testTimeout: 30_000 });

const recipients = [AGE_KEYS.key1.recipient];
const COMPOSE = `version: "3.8"
services:
  api:
    image: busybox:lab
    env_file: [api.env]
    environment:
      API_TOKEN: tok-in-compose-7781
      REPLICAS_NOTE: \${NOTE}
    secrets: [db_password]
    configs: [app_conf]
secrets:
  db_password: { file: db_password.bin }
configs:
  app_conf: { file: app.conf }
`;
const PLAIN: Record<string, string> = {
  'api.env': 'ENV_FILE_SECRET=from-env-file-5512\n',
  'stack.env': 'NOTE=note-from-envfile-3309\n',
  'db_password.bin': 'db-password-0042',
  'app.conf': 'listen 8080\npassword conf-secret-9931\n',
};
const SECRETS = ['tok-in-compose-7781', 'from-env-file-5512', 'note-from-envfile-3309', 'db-password-0042', 'conf-secret-9931'];
const WARDEN = `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: t }
spec:
  stacks: [{ name: app, file: stack.yml, envFile: stack.env, deploy: true }]
`;

let dir: string;

function writeAll(encrypted: boolean): void {
  const enc = (text: string, format: 'yaml' | 'dotenv' | 'binary', more = {}): string =>
    encrypted ? sopsEncrypt(text, { format, recipients, ...more }) : text;
  writeFileSync(path.join(dir, 'warden.yml'), WARDEN);
  writeFileSync(path.join(dir, 'stack.yml'), enc(COMPOSE, 'yaml', { encryptedRegex: '^environment$' }));
  writeFileSync(path.join(dir, 'api.env'), enc(PLAIN['api.env']!, 'dotenv'));
  writeFileSync(path.join(dir, 'stack.env'), enc(PLAIN['stack.env']!, 'dotenv'));
  writeFileSync(path.join(dir, 'db_password.bin'), enc(PLAIN['db_password.bin']!, 'binary'));
  writeFileSync(path.join(dir, 'app.conf'), enc(PLAIN['app.conf']!, 'binary'));
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'warden-sops-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function stackOf(keyName: 'key1' | 'other' = 'key1') {
  const sops = await loadSopsKeys({ ageKeyFile: AGE_KEYS[keyName].file });
  const loaded = await loadDesiredStateFile(path.join(dir, 'warden.yml'), { sops });
  return loaded.state.stacks![0]!;
}

describe('a stack kept in sops files', () => {
  it('loads as its plaintext twin: same services, configs, secrets and names', async () => {
    writeAll(false);
    const twin = await stackOf();
    writeAll(true);
    const stack = await stackOf();
    expect(stack.services).toEqual(twin.services);
    expect(stack.secrets).toEqual(twin.secrets);
    expect(stack.configs).toEqual(twin.configs);
    const env = (stack.services[0]!.spec.TaskTemplate?.ContainerSpec as { Env?: string[] }).Env;
    expect(env).toEqual(expect.arrayContaining(['API_TOKEN=tok-in-compose-7781', 'ENV_FILE_SECRET=from-env-file-5512', 'REPLICAS_NOTE=note-from-envfile-3309']));
    expect(Buffer.from(stack.secrets[0]!.data!, 'base64').toString()).toBe(PLAIN['db_password.bin']);
    // The name is over the plaintext, as for the plaintext twin.
    const hash = createHash('sha256').update(PLAIN['db_password.bin']!).digest('hex');
    expect(stack.secrets[0]!.name).toBe(`app_db_password_${hash.slice(0, 8)}`);
  });

  it('a re-encryption of the same plaintext keeps every name; a changed plaintext changes its own', async () => {
    writeAll(true);
    const first = await stackOf();
    writeAll(true);
    const again = await stackOf();
    expect(again.secrets.map((s) => s.name)).toEqual(first.secrets.map((s) => s.name));
    expect(again.configs.map((c) => c.name)).toEqual(first.configs.map((c) => c.name));
    writeFileSync(path.join(dir, 'db_password.bin'), sopsEncrypt('db-password-0043', { format: 'binary', recipients }));
    const changed = await stackOf();
    expect(changed.secrets[0]!.name).not.toBe(first.secrets[0]!.name);
    expect(changed.configs.map((c) => c.name)).toEqual(first.configs.map((c) => c.name));
  });

  it('without the right key the load fails, naming each file and its recipient, and no plaintext', async () => {
    writeAll(true);
    const err = await stackOf('other').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DesiredStateError);
    const text = (err as DesiredStateError).problems.map(formatProblem).join('\n');
    // The compose file is read first, and its failure stops the stack there.
    expect(text).toContain(`cannot read compose file ${path.join(dir, 'stack.yml')}: sops: cannot decrypt: no key opens its data key: age ${recipients[0]}: none of the given age identities is this recipient`);
    for (const s of SECRETS) expect(text).not.toContain(s);
  });

  it('an encrypted secret file with no key at all names that file', async () => {
    writeAll(false);
    writeFileSync(path.join(dir, 'db_password.bin'), sopsEncrypt(PLAIN['db_password.bin']!, { format: 'binary', recipients }));
    const err = await loadDesiredStateFile(path.join(dir, 'warden.yml')).then(() => undefined, (e: unknown) => e);
    expect((err as DesiredStateError).problems.map(formatProblem)).toEqual([
      expect.stringContaining(`stack.yml:12:24: cannot read the file of secret ${path.join(dir, 'db_password.bin')}: sops: cannot decrypt: no key opens its data key: age ${recipients[0]}: no age identity was given`),
    ]);
  });
});

describe('the values a revision seals', () => {
  async function sealedOf(): Promise<NonNullable<Awaited<ReturnType<typeof loadDesiredStateFile>>['state']['sealed']>> {
    const sops = await loadSopsKeys({ ageKeyFile: AGE_KEYS.key1.file });
    const loaded = await loadDesiredStateFile(path.join(dir, 'warden.yml'), { sops });
    expect(loaded.state.sealed).toBeDefined();
    return loaded.state.sealed!;
  }

  it('are every value its sops files held encrypted, and nothing they kept in clear', async () => {
    writeAll(true);
    const sealed = await sealedOf();
    for (const s of ['tok-in-compose-7781', 'from-env-file-5512', 'note-from-envfile-3309']) expect(sealed.holds(s), s).toBe(true);
    // The compose file's image and names were left in clear by encrypted_regex.
    expect(sealed.holds('busybox:lab')).toBe(false);
    expect(sealed.holds('db_password')).toBe(false);
  });

  it('are none for a stack in clear', async () => {
    writeAll(false);
    const sops = await loadSopsKeys({ ageKeyFile: AGE_KEYS.key1.file });
    expect((await loadDesiredStateFile(path.join(dir, 'warden.yml'), { sops })).state.sealed).toBeUndefined();
  });

  it('hold every value of an env file and of a compose file encrypted as binary files', async () => {
    writeAll(false);
    writeFileSync(path.join(dir, 'api.env'), sopsEncrypt('BIN_ENV=binary-env-value-8801\n', { format: 'binary', recipients }));
    writeFileSync(path.join(dir, 'stack.env'), sopsEncrypt('NOTE=binary-note-8802\n', { format: 'binary', recipients }));
    // sops reads a .yml file as YAML: a compose file encrypted as binary bears another name.
    writeFileSync(path.join(dir, 'warden.yml'), WARDEN.replace('file: stack.yml', 'file: stack.yml.enc'));
    writeFileSync(path.join(dir, 'stack.yml.enc'), sopsEncrypt(COMPOSE, { format: 'binary', recipients }));
    const sealed = await sealedOf();
    for (const s of ['binary-env-value-8801', 'binary-note-8802', 'tok-in-compose-7781', 'busybox:lab']) expect(sealed.holds(s), s).toBe(true);
    // Keys are names, never sealed.
    expect(sealed.holds('API_TOKEN')).toBe(false);
  });
});

describe('the file source', () => {
  it('opens sops files with the keys its flags name, and fails without them', async () => {
    writeAll(true);
    const flags = { file: path.join(dir, 'warden.yml'), gitRef: 'main', gitPath: 'warden.yml', gitInterval: '60s' };
    const loaded = await openSource({ ...flags, sopsAgeKeyFile: AGE_KEYS.key1.file }).load();
    expect(Buffer.from(loaded.state.stacks![0]!.secrets[0]!.data!, 'base64').toString()).toBe(PLAIN['db_password.bin']);
    await expect(openSource({ ...flags, sopsAgeKeyFile: AGE_KEYS.other.file }).load()).rejects.toThrow(DesiredStateError);
  });
});

describe('warden validate', () => {
  const run = async (flags = {}): Promise<{ code: number; out: string }> => {
    let out = '';
    const io = { out: (t: string) => void (out += t), err: (t: string) => void (out += t) };
    return { code: await validateCommand(path.join(dir, 'warden.yml'), io, flags), out };
  };

  it('decrypts with keys; checks recipients without; fails with a wrong key; never prints plaintext', async () => {
    writeAll(true);
    const withKey = await run({ sopsAgeKeyFile: AGE_KEYS.key1.file });
    const without = await run();
    const wrong = await run({ sopsAgeKeyFile: AGE_KEYS.other.file });
    expect([withKey.code, without.code, wrong.code]).toEqual([0, 0, 1]);
    expect(wrong.out).toContain('none of the given age identities is this recipient');
    for (const s of SECRETS) expect(withKey.out + without.out + wrong.out).not.toContain(s);
  });

  it('without keys, an encrypted file that names no recipient is invalid', async () => {
    writeAll(true);
    const text = sopsEncrypt(PLAIN['app.conf']!, { format: 'binary', recipients: [] });
    writeFileSync(path.join(dir, 'app.conf'), text);
    const got = await run();
    expect(got.code).toBe(1);
    expect(got.out).toContain('the file names no recipient');
  });
});
