// Running the lab's system commands (ip, nsenter, docker, tar) with errors that say what failed.
import { execFile } from 'node:child_process';

/** CommandError is a system command that failed, with the tail of what it printed. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${command} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${stderr.trim().split('\n').slice(-5).join('\n') || 'no output'}`, options);
  }
}

/** RunOptions tune run; timeoutMs defaults to 60 s. */
export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** run executes a command without a shell and resolves with its stdout; it rejects with CommandError. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
          reject(new CommandError([file, ...args].join(' '), code, stderr || err.message, { cause: err }));
        } else {
          resolve(stdout);
        }
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** tryRun is run that resolves undefined instead of failing: for teardown steps whose object may be gone. */
export async function tryRun(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string | undefined> {
  try {
    return await run(file, args, opts);
  } catch {
    return undefined;
  }
}
