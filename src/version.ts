// Which warden this is: the package's version and the commit it was built from. The build (`npm run
// build`, and the image's build stage) writes both into dist/build-info.json, so that an installed warden
// reads one small file and never runs git. From a checkout (bin/warden.js runs src/ through tsx) there is
// no such file: the commit is asked of git, once per process and only when something wants it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** BuildInfo is warden's version (package.json) and revision (a commit id, "-dirty" when built from changed files). */
export interface BuildInfo {
  version: string;
  revision: string;
}

/** UNKNOWN_REVISION is the revision when neither the build, git nor WARDEN_REVISION told it. */
export const UNKNOWN_REVISION = 'unknown';

/** BUILD_INFO_FILE is the file the build writes beside the compiled modules (dist/build-info.json). */
export const BUILD_INFO_FILE = 'build-info.json';

/** GIT_TIMEOUT_MS bounds the one git call of a checkout (default 5 s): a version is not worth a hang. */
export const GIT_TIMEOUT_MS = 5_000;

// A commit id, a tag or a `git describe` output: one word, nothing a label or a log line would choke on.
const REVISION = /^[0-9A-Za-z][0-9A-Za-z._+-]{0,99}$/;

/** checkRevision accepts a revision given by hand (WARDEN_REVISION, the image's REVISION) or says why not, naming `where`. */
export function checkRevision(value: string, where: string): string {
  if (!REVISION.test(value)) {
    throw new Error(`${where}=${JSON.stringify(value)}: expected a commit id, e.g. the output of git rev-parse HEAD (letters, digits, ".", "_", "+", "-"; at most 100)`);
  }
  return value;
}

/**
 * gitRevision is the commit checked out at `root` (warden's own checkout, not the caller's working
 * directory), with "-dirty" when tracked files differ from it; undefined when `root` is no checkout or git
 * is missing. Only `root` itself counts: a tarball unpacked inside some other repository is not that one.
 */
export function gitRevision(root: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!existsSync(join(root, '.git'))) return undefined;
  // GIT_DIR and friends, set when warden runs from a git hook, would point git at another repository.
  const clean = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('GIT_')));
  try {
    // --exclude='*' ignores tags, so that describe prints the full commit id (--abbrev=40) and nothing else.
    const out = execFileSync('git', ['-C', root, 'describe', '--always', '--dirty', '--abbrev=40', '--exclude=*'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: clean,
      timeout: GIT_TIMEOUT_MS,
    }).trim();
    return REVISION.test(out) ? out : undefined;
  } catch {
    return undefined;
  }
}

// packageVersion reads `version` from the package.json at `root`.
function packageVersion(root: string): string {
  const file = join(root, 'package.json');
  let version: unknown;
  try {
    version = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
  } catch (err) {
    throw new Error(`cannot read warden's version from ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof version !== 'string' || version === '') throw new Error(`${file}: no "version"`);
  return version;
}

/**
 * readBuildInfo is the build info of the modules in `dir`: its build-info.json when the build wrote one,
 * else package.json's version and git's revision of the checkout `dir` is in (dir/..), else "unknown".
 */
export function readBuildInfo(dir: string, env: NodeJS.ProcessEnv = process.env): BuildInfo {
  const file = join(dir, BUILD_INFO_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
    const root = dirname(dir);
    return { version: packageVersion(root), revision: gitRevision(root, env) ?? UNKNOWN_REVISION };
  }
  // The build wrote it: anything else in it means a broken install, which must not pass for a version.
  let info: Partial<Record<keyof BuildInfo, unknown>> = {};
  try {
    info = JSON.parse(text) as typeof info;
  } catch {
    // reported below
  }
  if (typeof info?.version !== 'string' || typeof info.revision !== 'string') {
    throw new Error(`${file}: expected {"version": "...", "revision": "..."} as the build writes it; rebuild warden (npm run build)`);
  }
  return { version: info.version, revision: info.revision };
}

/**
 * writeBuildInfo writes `dir`/build-info.json for the package at dir/..: the revision is WARDEN_REVISION
 * when set (a build without .git: the image, CI), else git's, else "unknown". Returns what it wrote.
 */
export function writeBuildInfo(dir: string, env: NodeJS.ProcessEnv = process.env): BuildInfo {
  const root = dirname(dir);
  const given = env.WARDEN_REVISION?.trim();
  const revision = given ? checkRevision(given, 'WARDEN_REVISION') : (gitRevision(root, env) ?? UNKNOWN_REVISION);
  const info: BuildInfo = { version: packageVersion(root), revision };
  writeFileSync(join(dir, BUILD_INFO_FILE), `${JSON.stringify(info)}\n`);
  return info;
}

let cached: BuildInfo | undefined;

/** buildInfo is this process's warden: read once, on first use (src/ in a checkout asks git; dist/ reads its file). */
export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

/** formatVersion is the one line of `warden --version`: `warden version 0.1.0, revision <commit>`. */
export function formatVersion(info: BuildInfo): string {
  return `warden version ${info.version}, revision ${info.revision}`;
}
