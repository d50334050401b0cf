// Running git: each command has a deadline, and runs in a process group of its own that is killed whole at
// the deadline or on abort: git fetch over HTTP runs git-remote-http as a child, which a kill of git alone
// would leave behind, holding its connection to a server that never answers.
import { spawn } from 'node:child_process';

/** GIT_MAX_OUTPUT bounds what one git command may print (default 64 MiB): a desired-state file is far smaller. */
export const GIT_MAX_OUTPUT = 64 * 1024 * 1024;

/** GitRun is how one git command ended, with what it printed. */
export type GitRun =
  | { outcome: 'ok'; stdout: Buffer; stderr: string }
  | { outcome: 'failed'; code: number | null; stderr: string }
  | { outcome: 'timeout' | 'aborted' | 'missing' | 'too-much'; stderr: string };

// runGit runs git in a process group of its own (detached), and at the deadline or on abort kills the
// whole group, git-remote-http and ssh included, then answers at once without waiting for stragglers.
export function runGit(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; signal?: AbortSignal }): Promise<GitRun> {
  return new Promise((resolve) => {
    if (opts.signal?.aborted) return resolve({ outcome: 'aborted', stderr: '' });
    const child = spawn('git', args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: GitRun): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const stop = (outcome: 'timeout' | 'aborted' | 'too-much'): void => {
      // The negative pid is the group: git and every helper it started.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
      child.stdout.destroy();
      child.stderr.destroy();
      finish({ outcome, stderr: Buffer.concat(err).toString('utf8') });
    };
    const onAbort = (): void => stop('aborted');
    const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > GIT_MAX_OUTPUT) stop('too-much');
      else out.push(c);
    });
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => finish({ outcome: e.code === 'ENOENT' ? 'missing' : 'failed', code: null, stderr: e.message } as GitRun));
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString('utf8');
      finish(code === 0 ? { outcome: 'ok', stdout: Buffer.concat(out), stderr } : { outcome: 'failed', code, stderr });
    });
  });
}
