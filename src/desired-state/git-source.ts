// A git repository as the desired-state source, through the git command line (no git library):
// a bare repository in a cache directory, created once and then fetched every interval. Files are
// read from the fetched commit object (`git show <sha>:<path>`), so a load sees one commit whole,
// with its stacks, and a force-push is just a different commit. The revision is the commit SHA.
//
// Credentials come from a file (a Docker secret), read by a GIT_ASKPASS helper when the server asks;
// they are never written into a URL, a git config or a log, and every message from git is redacted.
//
// The cache is private: git runs what a repository's config and hooks say, so a cache directory that
// another user could write to would let that user run code as warden. The directory must be owned by
// warden's uid and writable by no one else (warden creates its default one so, under a per-uid parent);
// otherwise the source refuses to start, and says why. The askpass helper is created with
// O_EXCL|O_NOFOLLOW and renamed into place: nothing planted there is followed or reused.
//
// Every git command has a deadline, and runs in a process group of its own that is killed whole at the
// deadline or on abort: git fetch over HTTP runs git-remote-http as a child, which a kill of git alone
// would leave behind, holding its connection to a server that never answers.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadDesiredStateText } from './load.js';
import { redact, redactUrl, urlPassword } from './redact.js';
import { DesiredStateError, type DesiredStateSource, type LoadedState, type RefreshOutcome, type SourceHandlers } from './source.js';

/** GitSourceOptions name the repository, the branch or tag, and the file in it. */
export interface GitSourceOptions {
  url: string;
  /** ref is the branch or tag to follow. */
  ref: string;
  /** path is the desired-state file, relative to the repository root. */
  path: string;
  /** intervalMs is how often watch fetches. */
  intervalMs: number;
  /** credentialsFile holds `user:token` (or a token alone) for HTTPS; read on every fetch, so a rotated secret applies. */
  credentialsFile?: string;
  /**
   * cacheDir is where the bare repository lives: a directory owned by warden's uid and writable by no one
   * else (it is refused otherwise). Default: `<OS temp dir>/swarm-warden-<uid>/git-<hash of URL and ref>`,
   * created 0700.
   */
  cacheDir?: string;
  /** timeoutMs bounds every git command, so an unreachable server fails instead of hanging; default 60 000. */
  timeoutMs?: number;
}

// Answers git's "Username for ..." and "Password for ..." prompts from the credentials file. The
// script holds no secret: it reads the file named by the environment each time git asks.
const ASKPASS = `#!/bin/sh
# swarm-warden: answers git's credential prompts from $WARDEN_GIT_CREDENTIALS_FILE (user:token, or a token).
line=$(head -n 1 "$WARDEN_GIT_CREDENTIALS_FILE" | tr -d '\\r\\n')
case "$line" in
  *:*) user="\${line%%:*}"; pass="\${line#*:}" ;;
  *) user="x-access-token"; pass="$line" ;;
esac
case "$1" in
  Username*) printf '%s\\n' "$user" ;;
  *) printf '%s\\n' "$pass" ;;
esac
`;

// The ref that holds the fetched commit, so that it survives git's garbage collection.
const TARGET_REF = 'refs/warden/target';

/** urlHasCredentials tells whether a URL carries credentials: a password, or any user name over HTTP(S), where a token alone is often sent as the user name. */
export function urlHasCredentials(url: string): boolean {
  if (urlPassword(url) !== undefined) return true;
  try {
    const u = new URL(url);
    // ssh://git@host/... names the account to log in as, not a secret; https://TOKEN@host/... is a secret.
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.username !== '';
  } catch {
    return false;
  }
}

/** createGitSource returns the source for a desired-state file in a git repository. */
export function createGitSource(opts: GitSourceOptions): DesiredStateSource {
  const safeUrl = redactUrl(opts.url);
  if (urlHasCredentials(opts.url)) {
    throw new Error(`${safeUrl}: put the git credentials (user and token) in --git-credentials-file, not in the URL (it would be stored in the cache)`);
  }
  const file = path.posix.normalize(opts.path);
  if (path.posix.isAbsolute(file) || file === '..' || file.startsWith('../')) {
    throw new Error(`--git-path ${opts.path} must be a path inside the repository`);
  }
  // The default lives under a parent of warden's uid alone: /tmp is shared, and a path there that another
  // user created first must not become warden's cache.
  const privateParent = opts.cacheDir === undefined ? path.join(tmpdir(), `swarm-warden-${process.getuid?.() ?? 'user'}`) : undefined;
  const cacheDir =
    opts.cacheDir ??
    path.join(privateParent!, `git-${createHash('sha256').update(`${safeUrl}\0${opts.ref}`).digest('hex').slice(0, 16)}`);
  const askpass = path.join(cacheDir, 'warden-askpass.sh');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const description = `${safeUrl}#${opts.ref}:${file}`;
  let ready: Promise<void> | undefined;
  // git commands on one repository run one at a time (load and watch may overlap).
  let queue: Promise<unknown> = Promise.resolve();
  let lastRevision: string | undefined;

  async function secrets(): Promise<string[]> {
    if (opts.credentialsFile === undefined) return [];
    try {
      const line = (await readFile(opts.credentialsFile, 'utf8')).split(/\r?\n/)[0] ?? '';
      const i = line.indexOf(':');
      return i >= 0 ? [line, line.slice(i + 1)] : [line];
    } catch (err) {
      throw new Error(`cannot read the git credentials file ${opts.credentialsFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
        cause: err,
      });
    }
  }

  async function git(args: string[], signal?: AbortSignal): Promise<string> {
    return (await gitBytes(args, signal)).toString('utf8');
  }

  // git's output as it printed it: `git show` of a binary config or secret must not be decoded as text.
  async function gitBytes(args: string[], signal?: AbortSignal): Promise<Buffer> {
    const hidden = await secrets();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Never wait for a person at a terminal: fail, and say so.
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes -o ConnectTimeout=20',
      LC_ALL: 'C',
      // Explicit, so that a cache directory inside another checkout never touches that checkout.
      GIT_DIR: cacheDir,
    };
    if (opts.credentialsFile !== undefined) {
      env.GIT_ASKPASS = askpass;
      env.WARDEN_GIT_CREDENTIALS_FILE = path.resolve(opts.credentialsFile);
    } else {
      delete env.GIT_ASKPASS;
    }
    // An empty credential.helper drops any configured helper: nothing is stored, nothing else is asked.
    const full = ['-c', 'credential.helper=', '-c', 'core.askPass=', ...args];
    const ran = await runGit(full, { cwd: cacheDir, env, timeoutMs, ...(signal ? { signal } : {}) });
    if (ran.outcome === 'ok') return ran.stdout;
    let why: string;
    if (ran.outcome === 'aborted') why = 'aborted';
    else if (ran.outcome === 'timeout') why = `no answer within ${timeoutMs / 1000}s`;
    else if (ran.outcome === 'missing') why = 'the git command is not installed';
    else if (ran.outcome === 'too-much') why = 'it printed more than 64 MiB';
    // git's first lines say what went wrong; later ones are generic advice.
    else why = ran.stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(0, 2).join('; ') || `exit ${'code' in ran ? ran.code : '?'}`;
    throw Object.assign(new Error(redact(`git ${args[0]}: ${why}`, hidden)), { stderr: redact(ran.stderr, hidden) });
  }

  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  async function ensureRepo(): Promise<void> {
    ready ??= (async () => {
      if (privateParent !== undefined) await privateDirectory(privateParent, 'the parent of the git cache', false);
      await privateDirectory(cacheDir, 'the git cache', opts.cacheDir !== undefined);
      try {
        await access(path.join(cacheDir, 'HEAD'));
        await git(['rev-parse', '--git-dir']);
      } catch {
        // Absent or damaged: start again; the next fetch is a full clone. Empty the directory rather than
        // remove it: it is often a volume's mount point (the stack's /var/cache/warden), which cannot go.
        for (const entry of await readdir(cacheDir)) await rm(path.join(cacheDir, entry), { recursive: true, force: true });
        await git(['init', '--bare', '--quiet']);
      }
      await writeHelper(askpass, ASKPASS);
    })().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  }

  // fetch brings the ref's current commit into the cache and returns its SHA.
  async function fetch(signal?: AbortSignal): Promise<string> {
    await ensureRepo();
    try {
      // The URL goes on the command line, not into a config file; --force accepts a force-push.
      await git(['fetch', '--quiet', '--no-tags', '--force', '--no-write-fetch-head', opts.url, `+${opts.ref}:${TARGET_REF}`], signal);
    } catch (err) {
      throw new Error(`${description}: cannot fetch: ${(err as Error).message}`, { cause: err });
    }
    return (await git(['rev-parse', '--verify', `${TARGET_REF}^{commit}`], signal)).trim();
  }

  async function loadAt(sha: string, signal?: AbortSignal): Promise<LoadedState> {
    const show = async (f: string): Promise<Buffer> => {
      try {
        return await gitBytes(['show', `${sha}:${f}`], signal);
      } catch (err) {
        if (/does not exist|exists on disk, but not in/.test((err as { stderr?: string }).stderr ?? '')) {
          throw Object.assign(new Error(`${f}: no such file at ${sha.slice(0, 12)}`), { code: 'ENOENT' });
        }
        throw err;
      }
    };
    let text: string;
    try {
      text = (await show(file)).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new DesiredStateError([
          { file, line: 0, col: 0, message: `no such file in commit ${sha.slice(0, 12)} of ${opts.ref} (${safeUrl}): was it moved or deleted?` },
        ]);
      }
      throw err;
    }
    const loaded = await loadDesiredStateText(text, file, { readFile: show, confine: true, revision: sha, source: description });
    lastRevision = loaded.revision;
    return loaded;
  }

  async function load(signal?: AbortSignal): Promise<LoadedState> {
    return serialized(async () => loadAt(await fetch(signal), signal));
  }

  // refresh (the git webhook) and the poll loop share this state: at most one fetch in flight and at
  // most one queued behind it, however many calls arrive (contract §5: a flood is coalesced).
  let fetching = false;
  let queued = false;
  let wakeUp: (() => void) | undefined;

  function refresh(): RefreshOutcome {
    if (queued) return 'coalesced';
    queued = true;
    if (fetching) return 'queued';
    // Sleeping between polls (or not watching yet: the loop's first round fetches at once anyway).
    wakeUp?.();
    return 'started';
  }

  async function watchRepo(signal: AbortSignal, handlers: SourceHandlers): Promise<void> {
    let reported = lastRevision;
    let attempted = lastRevision;
    // A failure to read (a fetch, or git itself) was the last thing reported: it replaced the verdict on
    // the head (a good load, or the head's own load error), so the next round that reads the head reports
    // its verdict again, even for the same commit. Otherwise an outage of the git server would leave its
    // error (and warden_desired_state_valid 0) in place until someone pushed.
    let unreadable = false;
    while (!signal.aborted) {
      // Cleared before the fetch starts: a refresh from now on asks for one more round after this one,
      // since the push it announces may have landed after this fetch read the ref.
      queued = false;
      fetching = true;
      try {
        await serialized(async () => {
          try {
            const sha = await fetch(signal);
            // The same commit as last time: its content cannot have changed, so neither can its verdict.
            if (sha === attempted && !unreadable) return;
            attempted = sha;
            const loaded = await loadAt(sha, signal);
            if (loaded.revision !== reported || unreadable) {
              reported = loaded.revision;
              handlers.onLoad(loaded);
            }
            unreadable = false;
          } catch (err) {
            // A broken file is a verdict on its commit, reported once; anything else is worth reading again.
            unreadable = !(err instanceof DesiredStateError);
            throw err;
          }
        });
      } catch (err) {
        if (!signal.aborted) handlers.onError(err as Error);
      }
      fetching = false;
      if (queued) continue;
      // Sleep until the next poll, the abort, or a refresh, whichever comes first; each ends the others.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, opts.intervalMs);
        function wake(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', wake);
          wakeUp = undefined;
          resolve();
        }
        if (signal.aborted) return wake();
        signal.addEventListener('abort', wake, { once: true });
        wakeUp = wake;
      });
    }
    await queue;
  }

  return { kind: 'git', description, load, watch: watchRepo, refresh };
}

/** GIT_MAX_OUTPUT bounds what one git command may print (default 64 MiB): a desired-state file is far smaller. */
export const GIT_MAX_OUTPUT = 64 * 1024 * 1024;

type GitRun =
  | { outcome: 'ok'; stdout: Buffer; stderr: string }
  | { outcome: 'failed'; code: number | null; stderr: string }
  | { outcome: 'timeout' | 'aborted' | 'missing' | 'too-much'; stderr: string };

// runGit runs git in a process group of its own (detached), and at the deadline or on abort kills the
// whole group, git-remote-http and ssh included, then answers at once without waiting for stragglers.
function runGit(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number; signal?: AbortSignal }): Promise<GitRun> {
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

// privateDirectory makes sure `dir` is a directory of warden's own: created 0700 when missing (with its
// parents only when the operator named it), never a symlink, owned by warden's uid and writable by no
// one else; a group- or world-readable one is tightened to 0700. Anything else is refused: git runs what
// a repository's config and hooks name, so another user's directory would run that user's code as warden.
async function privateDirectory(dir: string, what: string, parents: boolean): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700, recursive: parents });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new Error(`cannot create ${what} ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
  let fh;
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw new Error(`${what} ${dir} is a symlink or not a directory: warden uses only a directory of its own`);
    throw new Error(`cannot open ${what} ${dir}: ${code ?? (err as Error).message}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    const uid = process.getuid?.();
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    if (uid !== undefined && st.uid !== uid) {
      throw new Error(
        `${what} ${dir} is owned by uid ${st.uid}, not by warden's uid ${uid}: another user could plant a git config or hooks ` +
          `there that git would run as warden; give it to warden (chown ${uid} ${dir}) or point --git-cache at a directory of warden's own`,
      );
    }
    if ((st.mode & 0o022) !== 0) {
      throw new Error(
        `${what} ${dir} is writable by others (mode ${mode}): another user could plant a git config or hooks there that git would run ` +
          `as warden; remove what you do not trust in it and chmod 0700 ${dir}`,
      );
    }
    if ((st.mode & 0o077) !== 0) await fh.chmod(0o700);
  } finally {
    await fh.close();
  }
}

// writeHelper writes the askpass script under a fresh name (O_CREAT|O_EXCL|O_NOFOLLOW: never through
// anything already there) and renames it into place, which replaces a planted file or symlink itself.
async function writeHelper(file: string, text: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}`;
  const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o700);
  try {
    await fh.writeFile(text);
    await fh.chmod(0o700);
  } finally {
    await fh.close();
  }
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
