// The sops decryptor against real sops output: the sops project's own encrypted files and OpenPGP test
// key (test/fixtures/sops/sops-project), and files written with age recipients of this project's own.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it, vi } from 'vitest';

// Each age file is written by the age CLI, a process apiece: slow on a busy machine.
vi.setConfig({ testTimeout: 30_000 });
import { checkSops, decryptSops, SopsError } from '../../../src/desired-state/sops/decrypt.js';
import { loadSopsKeys, SopsKeyring, sopsKeyOptionsFromEnv, type SopsKeys } from '../../../src/desired-state/sops/keys.js';
import { AGE_KEYS, sopsEncrypt } from '../../support/sops.js';

const dir = fileURLToPath(new URL('../../fixtures/sops/', import.meta.url));
const upstream = (f: string): Buffer => readFileSync(`${dir}sops-project/${f}`);
const own = (f: string): Buffer => readFileSync(`${dir}${f}`);
const plain = (f: string): Buffer => readFileSync(`${dir}plain/${f}`);
const PGP_FP = 'FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4';

const pgp = (): Promise<SopsKeys> => loadSopsKeys({ pgpKeyFile: `${dir}sops-project/sops_functional_tests_key.asc` });
const ageKey = (name: 'key1' | 'key2' | 'other'): Promise<SopsKeys> => loadSopsKeys({ ageKeyFile: AGE_KEYS[name].file });
const NO_KEYS: SopsKeys = { ageIdentities: [], pgpKeys: [] };

async function open(file: string, bytes: Buffer, keys: SopsKeys): Promise<string> {
  const got = await decryptSops(file, bytes, keys);
  if (got === undefined) throw new Error(`${file} was not taken for a sops file`);
  return got.plaintext.toString('utf8');
}

async function failure(file: string, bytes: Buffer | string, keys: SopsKeys): Promise<SopsError> {
  const err = await decryptSops(file, Buffer.from(bytes), keys).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SopsError);
  return err as SopsError;
}

describe('the sops project\'s own files (OpenPGP)', () => {
  it.each([
    ['format.enc.yaml', 'foo: bar\n'],
    ['format.enc.json', '{\n\t"foo": "bar"\n}'],
    ['format.enc.env', 'foo = bar\n'],
    ['format.enc.ini', '[foo]\nbar = baz\n'],
    ['format-2.enc.ini', '[foo]\nbar = baz\n'],
    ['multiple_keys.yaml', 'message: hello\n'],
    ['comments.enc.yaml', '# first comment in file\nlorem: ipsum\n# this-is-a-comment\ndolor: sit\n'],
  ])('%s decrypts, its MAC verified', async (file, want) => {
    expect(await open(file, upstream(file), await pgp())).toBe(want);
  });

  it('example.yaml: nested mappings, lists, a float, booleans, comments, _unencrypted values, two recipients', async () => {
    const text = await open('example.yaml', upstream('example.yaml'), await pgp());
    const doc = parse(text) as Record<string, unknown>;
    expect(doc).toMatchObject({
      myapp1: 't00m4nys3cr3tzupdated',
      app2: { db: { user: 'eve', password: 'c4r1b0u' } },
      number: 1.234568e9,
      an_array: ['secretuser1', 'secretuser2', expect.stringMatching(/^somelongvalueA+$/), 'some other value'],
      somebooleans: [true, false],
      this: { is: { a: { nested: { value: 'with something secret in it' } } } },
      somelist_unencrypted: ['all elements of this list', 'remain in clear text', 'because of the _unencrypted suffix in the key'],
    });
    expect(String((doc.app2 as { key: string }).key)).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(text).toContain('# private key for secret operations in app2');
    expect(text).not.toMatch(/^sops:/m);
  });

  it('example.json and example.ini: keys in the file\'s order, types kept', async () => {
    const json = JSON.parse(await open('example.json', upstream('example.json'), await pgp())) as Record<string, unknown>;
    expect(Object.keys(json)).toEqual(['firstName', 'lastName', 'age', 'address', 'phoneNumbers', 'anEmptyValue']);
    expect(json).toMatchObject({ firstName: 'John', age: 25.4, phoneNumbers: [{ number: '212 555-1234', type: 'home' }, { type: 'office' }], anEmptyValue: '' });
    const ini = await open('example.ini', upstream('example.ini'), await pgp());
    expect(ini).toContain('[name]\nfirstName = John\nlastName  = Smith\n');
    expect(ini).toContain('[not private]\nnotsecret_unencrypted = hi there!\n');
  });

  it('example.txt: a binary file is its original bytes', async () => {
    expect(await open('example.txt', upstream('example.txt'), await pgp())).toMatch(/^Welcome to SOPS!\n\nSOPS is a manager of encrypted files/);
  });

  it('no_mac.yaml: a file without a MAC is refused', async () => {
    const err = await failure('no_mac.yaml', upstream('no_mac.yaml'), await pgp());
    expect(err.message).toBe(`sops: cannot decrypt: the file has no MAC (recipients: pgp ${PGP_FP})`);
  });
});

describe('files for age recipients (written with the age CLI)', () => {
  it('nested YAML with lists for two recipients opens with either key', async () => {
    for (const k of ['key1', 'key2'] as const) {
      expect(parse(await open('nested.enc.yaml', own('age-nested.enc.yaml'), await ageKey(k)))).toEqual(parse(plain('nested.yaml').toString()));
    }
  });

  it('a compose file encrypted in part with encrypted_regex: only the environment was encrypted, and it opens', async () => {
    const enc = own('age-compose.enc.yml').toString();
    expect(enc).toContain('image: busybox:latest');
    expect(enc).not.toContain('tok-9f8e7d6c5b4a');
    expect(parse(await open('stack.yml', Buffer.from(enc), await ageKey('key1')))).toEqual(parse(plain('compose.yml').toString()));
  });

  it('dotenv, JSON, binary and mac_only_encrypted files open to their plaintext', async () => {
    const k = await ageKey('key1');
    expect(await open('app.env', own('age-app.enc.env'), k)).toBe(plain('app.env').toString());
    expect(JSON.parse(await open('config.json', own('age-config.enc.json'), k))).toEqual(JSON.parse(plain('config.json').toString()));
    const blob = await decryptSops('blob.bin', own('age-blob.enc.bin'), k);
    expect(blob?.format).toBe('binary');
    expect(blob?.plaintext.equals(plain('blob.bin'))).toBe(true);
    expect(parse(await open('m.yaml', own('age-mac-only.enc.yaml'), k))).toEqual(parse(plain('mac-only.yaml').toString()));
  });

  it('SOPS_AGE_KEY holds identities themselves', async () => {
    const opts = sopsKeyOptionsFromEnv({}, { SOPS_AGE_KEY: readFileSync(AGE_KEYS.key1.file, 'utf8') });
    expect(await open('app.env', own('age-app.enc.env'), await loadSopsKeys(opts))).toContain('DB_PASSWORD=hunter2-xyz');
  });

  it('a re-encryption of the same plaintext (new data key, new IVs) opens to the same bytes', async () => {
    const k = await ageKey('key1');
    const again = sopsEncrypt(plain('compose.yml'), { format: 'yaml', recipients: [AGE_KEYS.key1.recipient], encryptedRegex: '^environment$' });
    expect(again).not.toBe(own('age-compose.enc.yml').toString());
    expect(await open('stack.yml', Buffer.from(again), k)).toBe(await open('stack.yml', own('age-compose.enc.yml'), k));
  });
});

describe('failures: the file and its recipients are named, never a key or a value', () => {
  const compose = (): string => own('age-compose.enc.yml').toString();
  const env = (): string => own('age-app.enc.env').toString();
  const recipient = AGE_KEYS.key1.recipient;

  it.each([
    ['no key', () => compose(), (): SopsKeys => NO_KEYS, `no key opens its data key: age ${recipient}: no age identity was given`],
    ['a wrong key', () => compose(), () => ageKey('other'), `age ${recipient}: none of the given age identities is this recipient`],
    ['an OpenPGP key for an age file', () => compose(), () => pgp(), `age ${recipient}: no age identity was given`],
    ['a value altered', () => compose().replace(/(API_TOKEN: ENC\[AES256_GCM,data:)(.)/, (_, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`), () => ageKey('key1'), 'the value at services.api.environment.API_TOKEN does not open'],
    ['two values swapped', () => swapValues(compose()), () => ageKey('key1'), 'does not open'],
    ['an entry removed', () => compose().replace(/^ {12}LOG_LEVEL: .*\n/m, ''), () => ageKey('key1'), 'MAC mismatch'],
    ['a value added in clear where values are encrypted', () => compose().replace(/^( {12}LOG_LEVEL: .*\n)/m, '$1            EXTRA: added\n'), () => ageKey('key1'), 'the value at services.api.environment.EXTRA should be encrypted'],
    ['a value left in clear changed', () => compose().replace('replicas: 2', 'replicas: 3'), () => ageKey('key1'), 'MAC mismatch'],
    ['a dotenv line removed', () => env().replace(/^PLAIN_SETTING=.*\n/m, ''), () => ageKey('key1'), 'MAC mismatch'],
    ['the MAC altered', () => compose().replace(/(mac: ENC\[AES256_GCM,data:)(.)/, (_, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`), () => ageKey('key1'), 'its MAC does not open'],
    ['lastmodified altered', () => compose().replace(/lastmodified: .*/, 'lastmodified: "2020-01-01T00:00:00Z"'), () => ageKey('key1'), 'its MAC does not open'],
  ])('%s', async (_name, bytes, keys, reason) => {
    const err = await failure('stack.yml', bytes(), await keys());
    expect(err.message).toContain(reason);
    expect(err.message).toContain(`recipients: age ${recipient}`);
    for (const secret of ['tok-9f8e7d6c5b4a', 'hunter2-xyz', 'AGE-SECRET-KEY']) expect(err.message).not.toContain(secret);
  });

  it('a file only KMS and Vault can open counts as no key', async () => {
    const text = compose().replace(/ {4}age:\n(?: {8}.*\n| {14}.*\n)+/, '    kms:\n        - arn: arn:aws:kms:eu-west-1:1:key/k\n          enc: AQICAHh\n    hc_vault:\n        - vault_address: http://v:8200\n          engine_path: sops\n          key_name: k\n          enc: vault:v1:x\n');
    const err = await failure('stack.yml', text, await ageKey('key1'));
    expect(err.message).toContain('kms arn:aws:kms:eu-west-1:1:key/k: warden does not open kms keys');
    expect(err.message).toContain('hc_vault http://v:8200/v1/sops/keys/k: warden does not open hc_vault keys');
  });

  it('an age key file with a bad line is refused without repeating the line', async () => {
    const err = await loadSopsKeys({ ageKey: 'AGE-SECRET-KEY-1lowercase-typo' }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toBe('SOPS_AGE_KEY: line 1 is not an age identity (AGE-SECRET-KEY-1…)');
  });
});

describe('what is not a sops file is left alone', () => {
  it.each([
    ['compose.yml', plain('compose.yml')],
    ['blob.bin', plain('blob.bin')],
    ['notes.yaml', Buffer.from('sops: a word in a document\n')],
    ['app.env', Buffer.from('SOPS_HOME=/x\nsops=1\n')],
  ])('%s', async (file, bytes) => {
    expect(await decryptSops(file, bytes, NO_KEYS)).toBeUndefined();
  });
});

describe('checkSops (validate without keys)', () => {
  it('accepts a file that names a recipient and has a MAC, keeping its encrypted values', () => {
    const got = checkSops('stack.yml', own('age-compose.enc.yml'));
    expect(got?.plaintext.toString()).toContain('API_TOKEN: ENC[AES256_GCM');
    expect(got?.plaintext.toString()).not.toContain('sops:');
  });

  it('refuses a file with no recipient', () => {
    const text = own('age-compose.enc.yml').toString().replace(/ {4}age:\n(?: {8}.*\n| {14}.*\n)+/, '');
    expect(() => checkSops('stack.yml', Buffer.from(text))).toThrow('the file names no recipient');
  });
});

// Moves API_TOKEN's ciphertext to LOG_LEVEL and back: each opens only under its own path.
function swapValues(text: string): string {
  const a = /API_TOKEN: (ENC\[[^\]]+\])/.exec(text)![1]!;
  const b = /LOG_LEVEL: (ENC\[[^\]]+\])/.exec(text)![1]!;
  return text.replace(a, '@@A').replace(b, a).replace('@@A', b);
}

describe('SopsKeyring (SIGHUP)', () => {
  it('reads the keys once, again on reload, and keeps them when a reload fails', async () => {
    const tmp = mkdtempSync(`${tmpdir()}/warden-keyring-`);
    try {
      const file = `${tmp}/age.key`;
      writeFileSync(file, readFileSync(AGE_KEYS.other.file));
      const ring = new SopsKeyring({ ageKeyFile: file });
      const first = await ring.keys();
      writeFileSync(file, readFileSync(AGE_KEYS.key1.file));
      expect(await ring.keys()).toBe(first);
      await expect(decryptSops('app.env', own('age-app.enc.env'), first)).rejects.toThrow(SopsError);
      await ring.reload();
      expect(await open('app.env', own('age-app.enc.env'), await ring.keys())).toContain('DB_PASSWORD=hunter2-xyz');
      writeFileSync(file, 'not a key\n');
      await expect(ring.reload()).rejects.toThrow(`${file}: line 1 is not an age identity`);
      expect(await open('app.env', own('age-app.enc.env'), await ring.keys())).toContain('DB_PASSWORD=hunter2-xyz');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
