// `warden validate FILE`: load a desired-state file exactly as the controller would (stacks
// included) and print every problem as FILE:LINE:COL: message.
import { loadDesiredStateFile } from '../desired-state/load.js';
import { sopsKeyring } from '../desired-state/open-source.js';
import type { SopsMode } from '../desired-state/sops/reader.js';
import { DesiredStateError, formatProblem } from '../desired-state/source.js';

/** Output is where a command writes; default process.stdout and process.stderr. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const processOutput: Output = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

/** SopsFlags are --sops-age-key-file and --sops-pgp-key-file (default none: sops files are only checked). */
export interface SopsFlags {
  sopsAgeKeyFile?: string;
  sopsPgpKeyFile?: string;
}

/** validateCommand checks a desired-state file offline: 0 valid, 1 invalid, 2 could not run. */
export async function validateCommand(file: string, io: Output = processOutput, flags: SopsFlags = {}): Promise<number> {
  try {
    // With keys, sops files are decrypted as the controller would; without, each must name a recipient.
    const keyring = sopsKeyring(flags);
    const sops: SopsMode = keyring.configured ? await keyring.keys() : 'check';
    // A webhook's urlFile (a Docker secret) may exist only where warden runs: absent here, it is a warning.
    const loaded = await loadDesiredStateFile(file, { sops, urlFiles: 'check' });
    for (const w of loaded.warnings ?? []) io.err(`${formatProblem(w)} (warning)\n`);
    const s = loaded.state;
    const counts = [
      s.managers ? `${s.managers.count} managers` : undefined,
      s.nodes ? `${s.nodes.length} node rules` : undefined,
      s.services ? `${s.services.length} services` : undefined,
      s.volumes ? `${s.volumes.length} volumes` : undefined,
      s.registry ? 'a registry' : undefined,
      s.notify ? `${s.notify.length} webhook${s.notify.length === 1 ? '' : 's'}` : undefined,
    ].filter((c) => c !== undefined);
    io.out(`${file}: valid: cluster ${s.cluster}, revision ${loaded.revision}` +
      `${counts.length > 0 ? `, ${counts.join(', ')}` : ''}, policy ${s.policy.mode}\n`);
    return 0;
  } catch (err) {
    if (err instanceof DesiredStateError) {
      for (const p of err.problems) io.err(`${formatProblem(p)}\n`);
      io.err(`${file}: invalid: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}\n`);
      return 1;
    }
    // Not a verdict on the file: it could not be read at all.
    io.err(`warden: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}
