// The git cache of a desired-state repository: a bare repository in a private directory, created once and
// then fetched; files are read from a fetched commit object (`git show <sha>:<path>`).
//
// Credentials come from a file (a Docker secret), read by a GIT_ASKPASS helper when the server asks; they
// are never written into a URL, a git config or a log, and every message from git is redacted.
//
// The cache is private: git runs what a repository's config and hooks say, so a cache directory that
// another user could write to would let that user run code as warden. The directory must be owned by
// warden's uid and writable by no one else (warden creates its default one so, under a per-uid parent);
// otherwise the cache refuses to start, and says why. The askpass helper is created with
// O_EXCL|O_NOFOLLOW and renamed into place: nothing planted there is followed or reused.
import { constants } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { redact } from './redact.js';
import { runGit } from './git-run.js';

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

/** GitCacheOptions name the repository and where its cache lives (see GitSourceOptions). */
export interface GitCacheOptions {
  url: string;
  /** safeUrl is the URL as it may be shown (no credentials). */
  safeUrl: string;
  ref: string;
  credentialsFile?: string | undefined;
  cacheDir?: string | undefined;
  timeoutMs: number;
}

/** GitCache is the bare repository that follows one ref; its git commands run one at a time. */
export class GitCache {
  private readonly cacheDir: string;
  // The default lives under a parent of warden's uid alone: /tmp is shared, and a path there that another
  // user created first must not become warden's cache.
  private readonly privateParent: string | undefined;
  private readonly askpass: string;
  private ready: Promise<void> | undefined;
  // git commands on one repository run one at a time (load and watch may overlap).
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: GitCacheOptions) {
    this.privateParent = opts.cacheDir === undefined ? path.join(tmpdir(), `swarm-warden-${process.getuid?.() ?? 'user'}`) : undefined;
    this.cacheDir =
      opts.cacheDir ??
      path.join(this.privateParent!, `git-${createHash('sha256').update(`${opts.safeUrl}\0${opts.ref}`).digest('hex').slice(0, 16)}`);
    this.askpass = path.join(this.cacheDir, 'warden-askpass.sh');
  }

  /** serialized runs fn after every git command queued before it. */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** idle resolves once every queued command has ended. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** fetch brings the ref's current commit into the cache and returns its SHA; `description` names the source in errors. */
  async fetch(description: string, signal?: AbortSignal): Promise<string> {
    await this.ensureRepo();
    try {
      // The URL goes on the command line, not into a config file; --force accepts a force-push.
      await this.git(['fetch', '--quiet', '--no-tags', '--force', '--no-write-fetch-head', this.opts.url, `+${this.opts.ref}:${TARGET_REF}`], signal);
    } catch (err) {
      throw new Error(`${description}: cannot fetch: ${(err as Error).message}`, { cause: err });
    }
    return (await this.git(['rev-parse', '--verify', `${TARGET_REF}^{commit}`], signal)).trim();
  }

  /** show returns a file of a fetched commit as bytes (a binary config or secret must not be decoded as text); a missing file throws with code ENOENT. */
  async show(sha: string, file: string, signal?: AbortSignal): Promise<Buffer> {
    try {
      return await this.gitBytes(['show', `${sha}:${file}`], signal);
    } catch (err) {
      if (/does not exist|exists on disk, but not in/.test((err as { stderr?: string }).stderr ?? '')) {
        throw Object.assign(new Error(`${file}: no such file at ${sha.slice(0, 12)}`), { code: 'ENOENT' });
      }
      throw err;
    }
  }

  private async secrets(): Promise<string[]> {
    if (this.opts.credentialsFile === undefined) return [];
    try {
      const line = (await readFile(this.opts.credentialsFile, 'utf8')).split(/\r?\n/)[0] ?? '';
      const i = line.indexOf(':');
      return i >= 0 ? [line, line.slice(i + 1)] : [line];
    } catch (err) {
      throw new Error(`cannot read the git credentials file ${this.opts.credentialsFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
        cause: err,
      });
    }
  }

  private async git(args: string[], signal?: AbortSignal): Promise<string> {
    return (await this.gitBytes(args, signal)).toString('utf8');
  }

  // git's output as it printed it.
  private async gitBytes(args: string[], signal?: AbortSignal): Promise<Buffer> {
    const hidden = await this.secrets();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Never wait for a person at a terminal: fail, and say so.
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes -o ConnectTimeout=20',
      LC_ALL: 'C',
      // Explicit, so that a cache directory inside another checkout never touches that checkout.
      GIT_DIR: this.cacheDir,
    };
    if (this.opts.credentialsFile !== undefined) {
      env.GIT_ASKPASS = this.askpass;
      env.WARDEN_GIT_CREDENTIALS_FILE = path.resolve(this.opts.credentialsFile);
    } else {
      delete env.GIT_ASKPASS;
    }
    // An empty credential.helper drops any configured helper: nothing is stored, nothing else is asked.
    const full = ['-c', 'credential.helper=', '-c', 'core.askPass=', ...args];
    const timeoutMs = this.opts.timeoutMs;
    const ran = await runGit(full, { cwd: this.cacheDir, env, timeoutMs, ...(signal ? { signal } : {}) });
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

  private ensureRepo(): Promise<void> {
    this.ready ??= this.initRepo().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async initRepo(): Promise<void> {
    if (this.privateParent !== undefined) await privateDirectory(this.privateParent, 'the parent of the git cache', false);
    await privateDirectory(this.cacheDir, 'the git cache', this.opts.cacheDir !== undefined);
    try {
      await access(path.join(this.cacheDir, 'HEAD'));
      await this.git(['rev-parse', '--git-dir']);
    } catch {
      // Absent or damaged: start again; the next fetch is a full clone. Empty the directory rather than
      // remove it: it is often a volume's mount point (the stack's /var/cache/warden), which cannot go.
      for (const entry of await readdir(this.cacheDir)) await rm(path.join(this.cacheDir, entry), { recursive: true, force: true });
      await this.git(['init', '--bare', '--quiet']);
    }
    await writeHelper(this.askpass, ASKPASS);
  }
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
