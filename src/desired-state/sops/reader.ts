// The loader's hook: every file a desired-state file makes warden read (a compose file, an envFile, a
// service's env_file, a config's or secret's file) passes through here, and a sops file comes out as its
// plaintext. The plaintext lives in the returned Buffer only, for as long as the loader keeps it.
import { checkSops, decryptSops } from './decrypt.js';
import type { SopsKeys } from './keys.js';

/** SopsMode is how sops files are opened: with keys, or only checked (`warden validate` without keys). */
export type SopsMode = SopsKeys | 'check';

const NO_KEYS: SopsKeys = { ageIdentities: [], pgpKeys: [] };

/** decryptingReader wraps a file reader so that sops files read as their plaintext; default: no keys (a sops file is an error). */
export function decryptingReader(read: (file: string) => Promise<Buffer>, mode: SopsMode = NO_KEYS): (file: string) => Promise<Buffer> {
  return async (file) => {
    const bytes = await read(file);
    const opened = mode === 'check' ? checkSops(file, bytes) : await decryptSops(file, bytes, mode);
    return opened?.plaintext ?? bytes;
  };
}
