// Files encrypted with sops, opened in memory to what `sops -d` gives (contract §2, "Encrypted files"):
// the data key from a recipient warden holds a key for, every value decrypted with its path as additional
// data, the MAC checked over the values in sops's order. The plaintext is returned to the caller and
// nowhere else: not written, not logged, not in an error (errors name the file, its recipients' public
// identities and the path of a value at most).
import path from 'node:path';
import { decryptValue, isEncryptedValue, macAad, macBytes, macOf, newMac, shouldBeEncrypted, SopsValueError, typedValue, type DecryptedValue } from './cipher.js';
import { dotenvDocument, iniDocument, isDotenvSops, isIniSops } from './flat.js';
import { recoverDataKey, type SopsKeys } from './keys.js';
import { describeRecipients, type SopsMetadata } from './metadata.js';
import { parseTree, treeDocument, type SopsDocument, type TreeFormat } from './tree.js';

/** SopsError says why a sops file could not be opened; its message names the recipients, never a key or a value. */
export class SopsError extends Error {
  override readonly name = 'SopsError';
  constructor(
    readonly reason: string,
    readonly recipients: string,
  ) {
    super(`sops: cannot decrypt: ${reason} (recipients: ${recipients})`);
  }
}

/** SopsFormat is the kind of sops file, as sops -d would read it. */
export type SopsFormat = TreeFormat | 'dotenv' | 'ini';

const TREE_EXT: Record<string, TreeFormat> = { '.yaml': 'yaml', '.yml': 'yaml', '.json': 'json' };

/** openDocument reads `bytes` as a sops file; undefined when it is not one (then it is plaintext). */
export function openDocument(file: string, bytes: Buffer): { format: SopsFormat; doc: SopsDocument } | undefined {
  // Cheap first: every sops file names its metadata "sops"; most files warden reads do not.
  if (!bytes.includes('sops')) return undefined;
  const text = bytes.toString('utf8');
  if (isDotenvSops(text)) return { format: 'dotenv', doc: dotenvDocument(text) };
  if (isIniSops(text)) return { format: 'ini', doc: iniDocument(text) };
  const parsed = parseTree(text);
  if (parsed === undefined) return undefined;
  const ext = path.extname(file).toLowerCase();
  const keys = parsed.root.items.map((p) => String((p.key as { value?: unknown })?.value ?? p.key));
  // sops -d reads by extension; any other name is a binary file, whose document holds only data.
  const format: TreeFormat =
    TREE_EXT[ext] ?? (keys.length === 2 && keys.includes('data') ? 'binary' : text.trimStart().startsWith('{') ? 'json' : 'yaml');
  return { format, doc: treeDocument(parsed, format) };
}

function aadOf(p: readonly string[]): string {
  return `${p.join(':')}:`;
}

function fail(meta: SopsMetadata, reason: string): never {
  throw new SopsError(reason, describeRecipients(meta));
}

/** SopsPlainValue is one value a sops file held encrypted, as its plaintext; typed for an int, a float or a bool. */
export interface SopsPlainValue {
  text: string;
  typed: boolean;
}

function plainValue(v: DecryptedValue): SopsPlainValue {
  const typed = v.type === 'int' || v.type === 'float' || v.type === 'bool';
  return { text: typed ? String(typedValue(v)) : v.bytes.toString('utf8'), typed };
}

// Decrypts every leaf sops would, in its order, and returns the MAC of the values; the values that were
// encrypted go to `values` (comments do not: nothing warden reads from a file comes from its comments).
function decryptLeaves(doc: SopsDocument, key: Buffer, values: SopsPlainValue[]): string {
  const meta = doc.metadata;
  const mac = newMac(meta);
  for (const leaf of doc.leaves) {
    const encrypted = shouldBeEncrypted(meta, leaf.path);
    if (leaf.comment) {
      // sops keeps a comment it cannot open as it is: files from older sops left comments in clear.
      if (encrypted && isEncryptedValue(leaf.value)) {
        try {
          leaf.set(decryptValue(leaf.value, key, aadOf(leaf.path)));
        } catch {
          /* kept in clear */
        }
      }
      continue;
    }
    if (leaf.value === null) continue;
    let bytes: Buffer;
    if (!encrypted) bytes = macBytes(leaf.value);
    else if (leaf.value === '') bytes = Buffer.alloc(0);
    else if (!isEncryptedValue(leaf.value)) fail(meta, `the value at ${leaf.path.join('.') || '(top)'} should be encrypted and is not (a value added by hand?)`);
    else {
      try {
        const v = decryptValue(leaf.value, key, aadOf(leaf.path));
        leaf.set(v);
        values.push(plainValue(v));
        bytes = v.bytes;
      } catch (err) {
        fail(meta, `the value at ${leaf.path.join('.') || '(top)'} does not open: ${(err as Error).message}`);
      }
    }
    if (!meta.macOnlyEncrypted || encrypted) mac.update(bytes);
  }
  return macOf(mac);
}

function checkMac(meta: SopsMetadata, key: Buffer, computed: string): void {
  if (meta.mac === undefined) fail(meta, 'the file has no MAC');
  let written: string;
  try {
    written = decryptValue(meta.mac, key, macAad(meta.lastModified ?? '')).bytes.toString('utf8');
  } catch {
    fail(meta, 'its MAC does not open (the MAC or lastmodified was altered)');
  }
  if (written !== computed) fail(meta, 'MAC mismatch: a value was altered, added or removed after sops wrote the file');
}

/** SopsOpened is a sops file's plaintext and what it was. */
export interface SopsOpened {
  format: SopsFormat;
  plaintext: Buffer;
  /**
   * values are the values the file held encrypted, in its order; none for a binary file (its bytes are a
   * secret's or a config's content, never shown; a loader that reads one as an env file seals its values).
   */
  values: SopsPlainValue[];
}

/** decryptSops opens a sops file with `keys`; undefined when the file is not a sops file. Throws SopsError. */
export async function decryptSops(file: string, bytes: Buffer, keys: SopsKeys): Promise<SopsOpened | undefined> {
  const opened = tryOpen(file, bytes);
  if (opened === undefined) return undefined;
  const { doc, format } = opened;
  const meta = doc.metadata;
  if (meta.commentRegex) fail(meta, 'unencrypted_comment_regex and encrypted_comment_regex are not supported by warden');
  const got = await recoverDataKey(meta, keys);
  if ('reasons' in got) fail(meta, `no key opens its data key: ${got.reasons.join('; ')}`);
  const values: SopsPlainValue[] = [];
  checkMac(meta, got.key, decryptLeaves(doc, got.key, values));
  return { format, plaintext: doc.render(), values: format === 'binary' ? [] : values };
}

/**
 * checkSops checks a sops file without keys (`warden validate` with none): it must name a recipient and
 * carry a MAC. Its stand-in plaintext keeps the encrypted strings and gives typed values a zero, so the
 * rest of the file can still be checked.
 */
export function checkSops(file: string, bytes: Buffer): SopsOpened | undefined {
  const opened = tryOpen(file, bytes);
  if (opened === undefined) return undefined;
  const meta = opened.doc.metadata;
  if (meta.groups.flat().length === 0) fail(meta, 'the file names no recipient');
  if (meta.mac === undefined) fail(meta, 'the file has no MAC');
  for (const leaf of opened.doc.leaves) {
    if (leaf.comment || !isEncryptedValue(leaf.value)) continue;
    const type = /,type:(\w+)\]$/.exec(leaf.value)?.[1];
    const zero = type === 'int' || type === 'float' ? '0' : type === 'bool' ? 'false' : undefined;
    if (zero !== undefined) leaf.set({ bytes: Buffer.from(zero), type: type as 'int' | 'float' | 'bool' });
  }
  // Nothing was decrypted: the stand-in holds the encrypted strings and zeros.
  return { format: opened.format, plaintext: opened.doc.render(), values: [] };
}

function tryOpen(file: string, bytes: Buffer): ReturnType<typeof openDocument> {
  try {
    return openDocument(file, bytes);
  } catch (err) {
    if (err instanceof SopsValueError || err instanceof SopsError) throw err;
    throw new SopsError(`the file is not a well-formed sops file: ${(err as Error).message}`, 'unknown');
  }
}
