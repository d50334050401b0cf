// A git repository as the desired-state source, through the git command line (no git library): the
// cache (git-cache.ts) is a bare repository fetched every interval; a load reads one commit whole, with its
// stacks, so a force-push is just a different commit. The revision is the commit SHA. Credentials, the
// cache's privacy and git's deadlines are git-cache.ts's and git-run.ts's.
import path from 'node:path';
import { GitCache } from './git-cache.js';
import { loadDesiredStateText } from './load.js';
import type { SopsKeyring } from './sops/keys.js';
import { redactUrl, urlPassword } from './redact.js';
import { DesiredStateError, type DesiredStateSource, type LoadedState, type RefreshOutcome, type SourceHandlers } from './source.js';

export { GIT_MAX_OUTPUT } from './git-run.js';

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
  /** keyring opens sops-encrypted stack files in memory (never in the cache); default none. */
  keyring?: SopsKeyring;
}

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
  return new GitSource(opts, safeUrl, file);
}

class GitSource implements DesiredStateSource {
  readonly kind = 'git';
  readonly description: string;
  private readonly cache: GitCache;
  private lastRevision: string | undefined;
  // refresh (the git webhook) and the poll loop share this state: at most one fetch in flight and at
  // most one queued behind it, however many calls arrive (contract §5: a flood is coalesced).
  private fetching = false;
  private queued = false;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly opts: GitSourceOptions,
    private readonly safeUrl: string,
    private readonly file: string,
  ) {
    this.description = `${safeUrl}#${opts.ref}:${file}`;
    this.cache = new GitCache({
      url: opts.url,
      safeUrl,
      ref: opts.ref,
      credentialsFile: opts.credentialsFile,
      cacheDir: opts.cacheDir,
      timeoutMs: opts.timeoutMs ?? 60_000,
    });
  }

  load = (signal?: AbortSignal): Promise<LoadedState> =>
    this.cache.serialized(async () => this.loadAt(await this.cache.fetch(this.description, signal), signal));

  refresh = (): RefreshOutcome => {
    if (this.queued) return 'coalesced';
    this.queued = true;
    if (this.fetching) return 'queued';
    // Sleeping between polls (or not watching yet: the loop's first round fetches at once anyway).
    this.wakeUp?.();
    return 'started';
  };

  watch = async (signal: AbortSignal, handlers: SourceHandlers): Promise<void> => {
    const state: WatchState = { reported: this.lastRevision, attempted: this.lastRevision, unreadable: false };
    while (!signal.aborted) {
      // Cleared before the fetch starts: a refresh from now on asks for one more round after this one,
      // since the push it announces may have landed after this fetch read the ref.
      this.queued = false;
      this.fetching = true;
      try {
        await this.cache.serialized(() => this.pollOnce(state, signal, handlers));
      } catch (err) {
        if (!signal.aborted) handlers.onError(err as Error);
      }
      this.fetching = false;
      if (this.queued) continue;
      await this.sleep(signal);
    }
    await this.cache.idle();
  };

  // One round of the poll loop: fetch, and load and report the head when it is news.
  private async pollOnce(state: WatchState, signal: AbortSignal, handlers: SourceHandlers): Promise<void> {
    try {
      const sha = await this.cache.fetch(this.description, signal);
      // The same commit as last time: its content cannot have changed, so neither can its verdict.
      if (sha === state.attempted && !state.unreadable) return;
      state.attempted = sha;
      const loaded = await this.loadAt(sha, signal);
      if (loaded.revision !== state.reported || state.unreadable) {
        state.reported = loaded.revision;
        handlers.onLoad(loaded);
      }
      state.unreadable = false;
    } catch (err) {
      // A broken file is a verdict on its commit, reported once; anything else is worth reading again.
      state.unreadable = !(err instanceof DesiredStateError);
      throw err;
    }
  }

  // Sleep until the next poll, the abort, or a refresh, whichever comes first; each ends the others.
  private sleep(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', wake);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(wake, this.opts.intervalMs);
      if (signal.aborted) return wake();
      signal.addEventListener('abort', wake, { once: true });
      this.wakeUp = wake;
    });
  }

  private async loadAt(sha: string, signal?: AbortSignal): Promise<LoadedState> {
    const show = (f: string): Promise<Buffer> => this.cache.show(sha, f, signal);
    let text: string;
    try {
      text = (await show(this.file)).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        const message = `no such file in commit ${sha.slice(0, 12)} of ${this.opts.ref} (${this.safeUrl}): was it moved or deleted?`;
        throw new DesiredStateError([{ file: this.file, line: 0, col: 0, message }]);
      }
      throw err;
    }
    const sops = await this.opts.keyring?.keys();
    const loaded = await loadDesiredStateText(text, this.file, { readFile: show, confine: true, revision: sha, source: this.description, ...(sops ? { sops } : {}) });
    this.lastRevision = loaded.revision;
    return loaded;
  }
}

// What the poll loop remembers between rounds. A failure to read (a fetch, or git itself) was the last
// thing reported when `unreadable`: it replaced the verdict on the head (a good load, or the head's own
// load error), so the next round that reads the head reports its verdict again, even for the same commit.
// Otherwise an outage of the git server would leave its error (and warden_desired_state_valid 0) in place
// until someone pushed.
interface WatchState {
  reported: string | undefined;
  attempted: string | undefined;
  unreadable: boolean;
}
