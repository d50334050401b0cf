// Opening the desired-state source the command line names: a local file (-f) or a git repository
// (--git-url with --git-ref, --git-path, --git-interval, --git-credentials-file, --git-cache).
import { createFileSource } from './file-source.js';
import { createGitSource } from './git-source.js';
import { SopsKeyring, sopsKeyOptionsFromEnv } from './sops/keys.js';
import type { DesiredStateSource } from './source.js';
import { durationProblem, parseDuration } from './validators.js';

/** SourceOptions are the command-line flags that name the desired-state source. */
export interface SourceOptions {
  file?: string;
  gitUrl?: string;
  gitRef: string;
  gitPath: string;
  gitInterval: string;
  gitCredentialsFile?: string;
  gitCache?: string;
  /** sopsAgeKeyFile and sopsPgpKeyFile hold the keys of sops-encrypted stack files; default none. */
  sopsAgeKeyFile?: string;
  sopsPgpKeyFile?: string;
}

/** sopsKeyring is the keyring the flags name (and SOPS_AGE_KEY): read at the first load and on reload. */
export function sopsKeyring(opts: Pick<SourceOptions, 'sopsAgeKeyFile' | 'sopsPgpKeyFile'>): SopsKeyring {
  const flags = { ...(opts.sopsAgeKeyFile ? { ageKeyFile: opts.sopsAgeKeyFile } : {}), ...(opts.sopsPgpKeyFile ? { pgpKeyFile: opts.sopsPgpKeyFile } : {}) };
  return new SopsKeyring(sopsKeyOptionsFromEnv(flags));
}

/** openSource returns the source the options name: -f FILE, else --git-url; throws when neither. */
export function openSource(opts: SourceOptions, keyring: SopsKeyring = sopsKeyring(opts)): DesiredStateSource {
  if (opts.file !== undefined && opts.file !== '') return createFileSource(opts.file, { keyring });
  if (opts.gitUrl !== undefined && opts.gitUrl !== '') {
    const intervalMs = parseDuration(opts.gitInterval);
    if (intervalMs === undefined) throw new Error(`--git-interval: ${durationProblem(opts.gitInterval)}`);
    if (intervalMs < 1000) throw new Error(`--git-interval ${opts.gitInterval} is too short: fetch at most once a second`);
    return createGitSource({
      url: opts.gitUrl,
      ref: opts.gitRef,
      path: opts.gitPath,
      intervalMs,
      keyring,
      ...(opts.gitCredentialsFile !== undefined ? { credentialsFile: opts.gitCredentialsFile } : {}),
      ...(opts.gitCache !== undefined ? { cacheDir: opts.gitCache } : {}),
    });
  }
  throw new Error('no desired-state source: give -f FILE (or WARDEN_CONFIG) or --git-url URL (or WARDEN_GIT_URL)');
}
