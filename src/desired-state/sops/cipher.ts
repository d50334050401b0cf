// The values of a sops file: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, each sealed with the file's data
// key and its path as additional data (sops's aes/cipher.go), which values a file's rules leave in clear
// (sops.go shouldBeEncrypted), and the MAC over the values in the order sops walks them (sops.go Decrypt).
import { createDecipheriv, createHash, type Hash } from 'node:crypto';

/** SopsValueType is the type sops recorded for an encrypted value. */
export type SopsValueType = 'str' | 'int' | 'float' | 'bool' | 'bytes' | 'time' | 'comment';

const TYPES: readonly string[] = ['str', 'int', 'float', 'bool', 'bytes', 'time', 'comment'];

// sops's own pattern: anchored at the start only, greedy groups, as aes/cipher.go parses it.
const ENC = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/;

/** isEncryptedValue tells whether a string is a sops-encrypted value. */
export function isEncryptedValue(v: unknown): v is string {
  return typeof v === 'string' && ENC.test(v);
}

/** DecryptedValue is a value's plaintext bytes and the type sops recorded for it. */
export interface DecryptedValue {
  bytes: Buffer;
  type: SopsValueType;
}

/** SopsValueError says a value could not be opened: altered, moved to another path, or sealed with another key. */
export class SopsValueError extends Error {
  override readonly name = 'SopsValueError';
}

/** decryptValue opens one `ENC[…]` value with the data key; `aad` is its path joined by ":" with a ":" after. */
export function decryptValue(value: string, key: Buffer, aad: string): DecryptedValue {
  const m = ENC.exec(value);
  if (m === null) throw new SopsValueError('not a sops value');
  const type = m[4]!;
  if (!TYPES.includes(type)) throw new SopsValueError(`unknown value type ${JSON.stringify(type)}`);
  const [data, iv, tag] = [m[1]!, m[2]!, m[3]!].map((b) => Buffer.from(b, 'base64'));
  try {
    // sops writes 32-byte nonces; GCM takes any length.
    const d = createDecipheriv('aes-256-gcm', key, iv!);
    d.setAuthTag(tag!);
    d.setAAD(Buffer.from(aad, 'utf8'));
    return { bytes: Buffer.concat([d.update(data!), d.final()]), type: type as SopsValueType };
  } catch {
    throw new SopsValueError('its authentication tag does not match (the value was altered, moved, or sealed with another data key)');
  }
}

/** Plain is a value as a document holds it once decrypted. */
export type Plain = string | number | boolean | Buffer | null;

/** typedValue turns a decrypted value into what sops -d writes for its type. */
export function typedValue(v: DecryptedValue): Plain {
  const text = v.bytes.toString('utf8');
  switch (v.type) {
    case 'int': {
      if (!/^[+-]?\d+$/.test(text)) throw new SopsValueError(`${JSON.stringify(text)} is not an int`);
      return Number.parseInt(text, 10);
    }
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || Number.isNaN(n)) throw new SopsValueError('not a float');
      return n;
    }
    case 'bool':
      // Go's strconv.ParseBool.
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
      throw new SopsValueError('not a bool');
    case 'bytes':
      return v.bytes;
    default:
      return text;
  }
}

/** SopsRules are the metadata that say which values a file keeps in clear. */
export interface SopsRules {
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: string;
  encryptedRegex?: string;
  macOnlyEncrypted?: boolean;
}

// Go's regexp.Match finds a match anywhere; JS RegExp.test does the same. The patterns sops users write
// (^(data|stringData)$, _secret$, ...) mean the same in both dialects.
function matches(pattern: string, segments: readonly string[]): boolean {
  const re = new RegExp(pattern);
  return segments.some((s) => re.test(s));
}

/** shouldBeEncrypted is sops's rule for a value at `path`: suffixes, then regexes, the later rule winning. */
export function shouldBeEncrypted(rules: SopsRules, path: readonly string[]): boolean {
  let encrypted = true;
  if (rules.unencryptedSuffix) encrypted = !path.some((p) => p.endsWith(rules.unencryptedSuffix!));
  if (rules.encryptedSuffix) encrypted = path.some((p) => p.endsWith(rules.encryptedSuffix!));
  if (rules.unencryptedRegex && matches(rules.unencryptedRegex, path)) encrypted = false;
  if (rules.encryptedRegex) encrypted = matches(rules.encryptedRegex, path);
  return encrypted;
}

/** MAC_ONLY_ENCRYPTED_INIT starts the MAC of a file with mac_only_encrypted, as sops's MACOnlyEncryptedInitialization. */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from([
  0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72,
  0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
]);

/** newMac starts the SHA-512 sops computes over a file's values. */
export function newMac(rules: SopsRules): Hash {
  const h = createHash('sha512');
  if (rules.macOnlyEncrypted) h.update(MAC_ONLY_ENCRYPTED_INIT);
  return h;
}

/** macBytes is sops's ToBytes of a value left in clear: Go's formatting of ints, floats and booleans. */
export function macBytes(v: Exclude<Plain, null>): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'boolean') return Buffer.from(v ? 'True' : 'False');
  if (typeof v === 'number') return Buffer.from(goFloat(v));
  return Buffer.from(v, 'utf8');
}

// strconv.FormatFloat(v, 'f', -1, 64) (and Itoa for ints): the shortest digits, never an exponent.
function goFloat(v: number): string {
  if (Number.isInteger(v)) return BigInt(v).toString();
  const s = String(v);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (m === null) return s;
  const digits = `${m[2]}${m[3] ?? ''}`;
  const exp = Number(m[4]);
  if (exp < 0) return `${m[1]}0.${'0'.repeat(-exp - 1)}${digits}`;
  return `${m[1]}${digits.padEnd(exp + 1, '0')}`;
}

/** macOf finishes a MAC as sops writes it: upper-case hex. */
export function macOf(h: Hash): string {
  return h.digest('hex').toUpperCase();
}

/** macAad is the additional data of the MAC's value: lastmodified as Go's time.RFC3339 prints it (no fraction). */
export function macAad(lastModified: string): string {
  return lastModified.replace(/\.\d+(?=(Z|[+-]\d\d:\d\d)$)/, '');
}
