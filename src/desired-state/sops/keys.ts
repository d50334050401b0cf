// The keys that open sops files, found as sops finds them: age identities (--sops-age-key-file, env
// SOPS_AGE_KEY_FILE, or the identities themselves in SOPS_AGE_KEY) and armored OpenPGP private keys
// (--sops-pgp-key-file, env WARDEN_SOPS_PGP_KEY_FILE). A key never appears in a message: errors say
// which file or line, and the public side (an age recipient, a PGP fingerprint) at most.
import { readFile } from 'node:fs/promises';
import * as age from 'age-encryption';
import * as openpgp from 'openpgp';
import type { Recipient, SopsMetadata } from './metadata.js';

/** SopsKeys are the private keys warden holds: age identities and decrypted OpenPGP keys. */
export interface SopsKeys {
  ageIdentities: string[];
  pgpKeys: openpgp.PrivateKey[];
}

/** SopsKeyOptions name where the keys are; every field is optional (no key of that kind). */
export interface SopsKeyOptions {
  ageKeyFile?: string;
  /** ageKey is SOPS_AGE_KEY: identities written out, one a line. */
  ageKey?: string;
  pgpKeyFile?: string;
}

/** sopsKeyOptionsFromEnv reads SOPS_AGE_KEY_FILE, SOPS_AGE_KEY and WARDEN_SOPS_PGP_KEY_FILE under the flags given. */
export function sopsKeyOptionsFromEnv(flags: SopsKeyOptions, env: NodeJS.ProcessEnv = process.env): SopsKeyOptions {
  const out: SopsKeyOptions = {};
  const ageKeyFile = flags.ageKeyFile ?? (env.SOPS_AGE_KEY_FILE || undefined);
  const ageKey = flags.ageKey ?? (env.SOPS_AGE_KEY || undefined);
  const pgpKeyFile = flags.pgpKeyFile ?? (env.WARDEN_SOPS_PGP_KEY_FILE || undefined);
  if (ageKeyFile !== undefined) out.ageKeyFile = ageKeyFile;
  if (ageKey !== undefined) out.ageKey = ageKey;
  if (pgpKeyFile !== undefined) out.pgpKeyFile = pgpKeyFile;
  return out;
}

/** hasSopsKeys tells whether any key source is named. */
export function hasSopsKeys(opts: SopsKeyOptions): boolean {
  return opts.ageKeyFile !== undefined || opts.ageKey !== undefined || opts.pgpKeyFile !== undefined;
}

async function readKeyFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

// An age identities file: `AGE-SECRET-KEY-1…` lines, comments (#) and blank lines, as age -i reads it.
function parseAgeIdentities(text: string, where: string): string[] {
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (!/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(line)) {
      // The line itself may be a key with a typo: never repeat it.
      throw new Error(`${where}: line ${i + 1} is not an age identity (AGE-SECRET-KEY-1…)`);
    }
    out.push(line);
  });
  return out;
}

async function readPgpKeys(file: string): Promise<openpgp.PrivateKey[]> {
  const text = await readKeyFile(file, 'OpenPGP key file');
  let keys: openpgp.PrivateKey[];
  try {
    keys = await openpgp.readPrivateKeys({ armoredKeys: text });
  } catch {
    throw new Error(`${file}: not an armored OpenPGP private key (gpg --export-secret-keys --armor FINGERPRINT)`);
  }
  const locked = keys.filter((k) => !k.isDecrypted());
  if (locked.length > 0) {
    throw new Error(`${file}: the key ${locked[0]!.getFingerprint().toUpperCase()} is protected by a passphrase: warden reads keys without one`);
  }
  return keys;
}

/** loadSopsKeys reads the keys the options name; a file that cannot be read or parsed is an Error that says which. */
export async function loadSopsKeys(opts: SopsKeyOptions): Promise<SopsKeys> {
  const keys: SopsKeys = { ageIdentities: [], pgpKeys: [] };
  if (opts.ageKeyFile !== undefined) {
    keys.ageIdentities.push(...parseAgeIdentities(await readKeyFile(opts.ageKeyFile, 'age key file'), opts.ageKeyFile));
  }
  if (opts.ageKey !== undefined) keys.ageIdentities.push(...parseAgeIdentities(opts.ageKey, 'SOPS_AGE_KEY'));
  if (opts.pgpKeyFile !== undefined) keys.pgpKeys.push(...(await readPgpKeys(opts.pgpKeyFile)));
  return keys;
}

/** DataKey is the file's data key, or why each recipient could not give it. */
export type DataKey = { key: Buffer } | { reasons: string[] };

async function openAge(r: Recipient, keys: SopsKeys): Promise<Buffer | string> {
  if (keys.ageIdentities.length === 0) return 'no age identity was given';
  const d = new age.Decrypter();
  for (const id of keys.ageIdentities) d.addIdentity(id);
  try {
    return Buffer.from(await d.decrypt(age.armor.decode(r.enc.trim())));
  } catch {
    return 'none of the given age identities is this recipient';
  }
}

async function openPgp(r: Recipient, keys: SopsKeys): Promise<Buffer | string> {
  if (keys.pgpKeys.length === 0) return 'no OpenPGP key was given';
  try {
    const message = await openpgp.readMessage({ armoredMessage: r.enc });
    const { data } = await openpgp.decrypt({ message, decryptionKeys: keys.pgpKeys, format: 'binary' });
    return Buffer.from(data);
  } catch {
    return 'none of the given OpenPGP keys is this recipient';
  }
}

/** recoverDataKey opens the data key with the first recipient a key serves, as sops tries them in turn. */
export async function recoverDataKey(meta: SopsMetadata, keys: SopsKeys): Promise<DataKey> {
  if (meta.groups.length > 1) {
    return { reasons: [`the data key is split between ${meta.groups.length} key groups (Shamir): warden does not join key groups`] };
  }
  const group = meta.groups[0] ?? [];
  if (group.length === 0) return { reasons: ['the file names no recipient'] };
  const reasons: string[] = [];
  for (const r of group) {
    const got = r.kind === 'age' ? await openAge(r, keys) : r.kind === 'pgp' ? await openPgp(r, keys) : `warden does not open ${r.kind} keys`;
    if (typeof got !== 'string' && got.length === 32) return { key: got };
    reasons.push(`${r.kind} ${r.id}: ${typeof got === 'string' ? got : 'its data key is not 32 bytes'}`);
  }
  return { reasons };
}

/**
 * SopsKeyring holds the keys a source decrypts with: read at the first load, and again on reload()
 * (SIGHUP), so a key added or rotated applies without a restart. A reload that fails keeps the keys held.
 */
export class SopsKeyring {
  private held: Promise<SopsKeys> | undefined;

  constructor(private readonly opts: SopsKeyOptions) {}

  /** configured tells whether any key source is named; without one, every sops file fails with "no key". */
  get configured(): boolean {
    return hasSopsKeys(this.opts);
  }

  /** keys returns the keys held, reading them the first time. */
  keys(): Promise<SopsKeys> {
    // A failed first read is not kept: the next load tries again.
    this.held ??= loadSopsKeys(this.opts).catch((err: unknown) => {
      this.held = undefined;
      throw err;
    });
    return this.held;
  }

  /** reload reads the keys again; on failure the keys held stay and the error is thrown. */
  async reload(): Promise<void> {
    const next = await loadSopsKeys(this.opts);
    this.held = Promise.resolve(next);
  }
}
