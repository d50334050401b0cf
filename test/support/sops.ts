// A test's own sops: encrypts a YAML, JSON, dotenv or binary file as the sops CLI writes it (sops.go
// Encrypt, aes/cipher.go, stores/*), with the data key wrapped for each age recipient by the Debian `age`
// CLI. Debian has no sops package; the decryptor is matched against the sops project's own files
// (test/fixtures/sops/sops-project), and this writer against the decryptor and those files' layout.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

/** AGE_KEYS are the test's age identity files and their recipients (test/fixtures/sops/age). */
export const AGE_KEYS = Object.fromEntries(
  (['key1', 'key2', 'other'] as const).map((name) => {
    const file = fileURLToPath(new URL(`../fixtures/sops/age/${name}.txt`, import.meta.url));
    const recipient = /public key: (age1\w+)/.exec(readFileSync(file, 'utf8'))![1]!;
    return [name, { file, recipient }];
  }),
) as Record<'key1' | 'key2' | 'other', { file: string; recipient: string }>;

/** SopsEncryptOptions are the creation rule's settings. */
export interface SopsEncryptOptions {
  format: 'yaml' | 'json' | 'dotenv' | 'binary';
  recipients: string[];
  encryptedRegex?: string;
  unencryptedSuffix?: string;
  macOnlyEncrypted?: boolean;
  lastModified?: string;
}

type Obj = Record<string, unknown>;

function seal(plain: Buffer, key: Buffer, aad: string, type: string): string {
  if (plain.length === 0 && type === 'str') return '';
  const iv = randomBytes(32);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad));
  const data = Buffer.concat([c.update(plain), c.final()]);
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${c.getAuthTag().toString('base64')},type:${type}]`;
}

function typeAndBytes(v: unknown): [string, Buffer] {
  if (typeof v === 'boolean') return ['bool', Buffer.from(v ? 'True' : 'False')];
  if (typeof v === 'number') return [Number.isInteger(v) ? 'int' : 'float', Buffer.from(String(v))];
  if (Buffer.isBuffer(v)) return ['str', v];
  return ['str', Buffer.from(String(v))];
}

function encrypted(opts: SopsEncryptOptions, path: string[]): boolean {
  let enc = true;
  if (opts.unencryptedSuffix) enc = !path.some((p) => p.endsWith(opts.unencryptedSuffix!));
  if (opts.encryptedRegex) enc = path.some((p) => new RegExp(opts.encryptedRegex!).test(p));
  return enc;
}

// Walks as sops walks (keys in order, list items under the list's path), sealing and hashing.
function walk(v: unknown, path: string[], key: Buffer, opts: SopsEncryptOptions, mac: ReturnType<typeof createHash>): unknown {
  if (v === null || v === undefined) return v;
  if (Array.isArray(v)) return v.map((x) => walk(x, path, key, opts, mac));
  if (typeof v === 'object' && !Buffer.isBuffer(v)) {
    return Object.fromEntries(Object.entries(v as Obj).map(([k, x]) => [k, walk(x, [...path, k], key, opts, mac)]));
  }
  const [type, bytes] = typeAndBytes(v);
  const enc = encrypted(opts, path);
  if (!opts.macOnlyEncrypted || enc) mac.update(bytes);
  return enc ? seal(bytes, key, `${path.join(':')}:`, type) : v;
}

function wrap(dataKey: Buffer, recipient: string): string {
  return execFileSync('age', ['-a', '-r', recipient], { input: dataKey }).toString('utf8');
}

const MAC_ONLY_INIT = Buffer.from('8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69', 'hex');

function metadata(dataKey: Buffer, macHex: string, opts: SopsEncryptOptions): Obj {
  const lastmodified = opts.lastModified ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const meta: Obj = {
    age: opts.recipients.map((r) => ({ recipient: r, enc: wrap(dataKey, r) })),
    lastmodified,
    mac: seal(Buffer.from(macHex), dataKey, lastmodified, 'str'),
  };
  if (opts.unencryptedSuffix) meta.unencrypted_suffix = opts.unencryptedSuffix;
  if (opts.encryptedRegex) meta.encrypted_regex = opts.encryptedRegex;
  if (opts.macOnlyEncrypted) meta.mac_only_encrypted = true;
  meta.version = '3.10.2';
  return meta;
}

// stores/flatten.go, for the dotenv store's sops_* lines.
function flatten(v: unknown, prefix: string, out: Array<[string, string]>): void {
  if (Array.isArray(v)) v.forEach((x, i) => flatten(x, `${prefix}__list_${i}`, out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v as Obj)) flatten(x, prefix === '' ? k : `${prefix}__map_${k}`, out);
  else out.push([prefix, String(v)]);
}

/** sopsEncrypt encrypts a file's bytes as `sops -e` would with the options' creation rule; a new data key each time. */
export function sopsEncrypt(plain: string | Buffer, opts: SopsEncryptOptions): string {
  const dataKey = randomBytes(32);
  const mac = createHash('sha512');
  if (opts.macOnlyEncrypted) mac.update(MAC_ONLY_INIT);
  if (opts.format === 'dotenv') {
    const lines = String(plain).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const body = lines.map((l) => {
      const eq = l.indexOf('=');
      const k = l.slice(0, eq);
      // stores/dotenv reads a written \\n as a newline before it encrypts.
      const v = walk(l.slice(eq + 1).replaceAll('\\n', '\n'), [k], dataKey, opts, mac);
      return `${k}=${String(v)}`;
    });
    const flat: Array<[string, string]> = [];
    flatten(metadata(dataKey, mac.digest('hex').toUpperCase(), opts), '', flat);
    return `${[...body, ...flat.map(([k, v]) => `sops_${k}=${v.replaceAll('\n', '\\n')}`)].join('\n')}\n`;
  }
  const tree = opts.format === 'binary' ? { data: Buffer.isBuffer(plain) ? plain : Buffer.from(plain) } : (parse(String(plain)) as Obj);
  const sealed = walk(tree, [], dataKey, opts, mac) as Obj;
  sealed.sops = metadata(dataKey, mac.digest('hex').toUpperCase(), opts);
  return opts.format === 'yaml' ? stringify(sealed, { indent: 4 }) : `${JSON.stringify(sealed, null, '\t')}\n`;
}
