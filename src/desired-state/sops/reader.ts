// The loader's hook: every file a desired-state file makes warden read (a compose file, an envFile, a
// service's env_file, a config's or secret's file) passes through here, and a sops file comes out as its
// plaintext. The plaintext lives in the returned Buffer only, for as long as the loader keeps it; the
// values it held encrypted are recorded in the revision's SealedValues, so that none is ever shown.
import { checkSops, decryptSops, type SopsFormat } from './decrypt.js';
import type { SopsKeys } from './keys.js';
import type { SealedValues } from './sealed.js';

/** SopsMode is how sops files are opened: with keys, or only checked (`warden validate` without keys). */
export type SopsMode = SopsKeys | 'check';

const NO_KEYS: SopsKeys = { ageIdentities: [], pgpKeys: [] };

// The buffers this module returned as a sops file's plaintext, with the file's format. Weak: a buffer the
// loader drops is forgotten with it.
const opened = new WeakMap<Buffer, SopsFormat>();

/** decryptedFormat says whether `bytes`, as a decrypting reader returned them, are a sops file's plaintext, and of which format. */
export function decryptedFormat(bytes: Buffer): SopsFormat | undefined {
  return opened.get(bytes);
}

/**
 * decryptingReader wraps a file reader so that sops files read as their plaintext; default: no keys (a
 * sops file is an error). The values each file held encrypted are added to `sealed` when given.
 */
export function decryptingReader(read: (file: string) => Promise<Buffer>, mode: SopsMode = NO_KEYS, sealed?: SealedValues): (file: string) => Promise<Buffer> {
  return async (file) => {
    const bytes = await read(file);
    const got = mode === 'check' ? checkSops(file, bytes) : await decryptSops(file, bytes, mode);
    if (got === undefined) return bytes;
    for (const v of got.values) sealed?.add(v.text, v.typed);
    opened.set(got.plaintext, got.format);
    return got.plaintext;
  };
}
