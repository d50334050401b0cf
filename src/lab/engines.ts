// The engines a lab's nodes run. Debian's archive carries several Docker engines in its suites (bookworm's
// docker.io 20.10, trixie's 26.1, sid's 28.5, ...); their dockerd and containerd run unchanged on this
// machine when unpacked beside the system, with the system's runc and tini. They are fetched with the
// ordinary apt client through an apt configuration of the lab's own (its sources, lists and cache under
// ENGINE_CACHE: the system's sources are never changed), unpacked with dpkg-deb, and kept for the next
// lab. `system` is the dockerd on PATH. See docs/lab.md, "Engines".
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './exec.js';

/** ENGINE_CACHE is where the lab keeps its apt lists and unpacked engines (env WARDEN_LAB_CACHE; default /var/cache/wlab). */
export const ENGINE_CACHE = process.env.WARDEN_LAB_CACHE || '/var/cache/wlab';

/**
 * ARCHIVE_SUITES are the suites of the system's Debian archive searched for engines, oldest first. The
 * next engine usually arrives in sid first: a suite added here makes its docker.io a choice of
 * `lab up --engine` (docs/lab.md, "Adding an engine").
 */
export const ARCHIVE_SUITES = ['bookworm', 'trixie', 'forky', 'sid'] as const;

/** LISTS_MAX_AGE_MS is how old the lab's apt lists may be before a resolution fetches them again (default 1 day). */
export const LISTS_MAX_AGE_MS = 24 * 3600_000;

/** LabEngine is the engine a lab's nodes run. */
export interface LabEngine {
  /** name is the engine's major.minor ("28.5"), or "system". */
  name: string;
  /** version is the engine's version as dockerd reports it ("28.5.2"). */
  version: string;
  /** pkg is the Debian package version it came from ("28.5.2+dfsg4-5"); absent for the system's. */
  pkg?: string;
  /** bin is the directory put first on the PATH of the lab's dockerd (absent for the system's). */
  bin?: string;
  /** docker is the docker CLI that goes with the engine. */
  docker: string;
}

/** ArchivePackage is one line of `apt-cache madison`: a package version and the suite that has it. */
export interface ArchivePackage {
  pkg: string;
  version: string;
  suite: string;
}

/** EngineOffer is an engine the archive (or the cache) can give: docker.io and what goes with it from its suite. */
export interface EngineOffer {
  name: string;
  /** pkg is the docker.io package version. */
  pkg: string;
  suite: string;
  /** packages are the `name=version` pairs to download: docker.io, containerd and, where separate, docker-cli. */
  packages: string[];
}

/** EngineChoiceError is a choice the archive cannot satisfy; its message names the engines it has. */
export class EngineChoiceError extends Error {
  override readonly name = 'EngineChoiceError';
}

/** parseMadison reads `apt-cache madison` output into packages with their suite. */
export function parseMadison(text: string): ArchivePackage[] {
  const out: ArchivePackage[] = [];
  for (const line of text.split('\n')) {
    const [pkg, version, from] = line.split('|').map((f) => f.trim());
    // "http://deb.debian.org/debian sid/main amd64 Packages": the suite is the second word, before its component.
    const suite = (from ?? '').split(/\s+/)[1]?.split('/')[0];
    if (pkg && version && suite) out.push({ pkg, version, suite });
  }
  return out;
}

/** engineName is the major.minor of a Debian docker.io version ("28.5.2+dfsg4-5" is "28.5"). */
export function engineName(pkgVersion: string): string {
  const m = /^(?:\d+:)?(\d+)\.(\d+)/.exec(pkgVersion);
  return m ? `${m[1]}.${m[2]}` : pkgVersion;
}

/** compareVersions orders dotted versions numerically ("20.10.24" < "26.1.5" < "28.5.2"); the Debian suffix breaks ties. */
export function compareVersions(a: string, b: string): number {
  const nums = (v: string): number[] => (/^(?:\d+:)?([\d.]+)/.exec(v)?.[1] ?? '').split('.').filter(Boolean).map(Number);
  const x = nums(a);
  const y = nums(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.localeCompare(b);
}

/**
 * engineOffers pairs each docker.io in the archive with the containerd (and docker-cli, where the CLI is a
 * package of its own) of the same suite; an engine offered by two suites is kept once.
 */
export function engineOffers(packages: readonly ArchivePackage[]): EngineOffer[] {
  const offers = new Map<string, EngineOffer>();
  for (const d of packages.filter((p) => p.pkg === 'docker.io')) {
    const containerd = packages.find((p) => p.pkg === 'containerd' && p.suite === d.suite);
    if (!containerd || offers.has(d.version)) continue;
    const cli = packages.find((p) => p.pkg === 'docker-cli' && p.suite === d.suite && p.version === d.version);
    offers.set(d.version, {
      name: engineName(d.version),
      pkg: d.version,
      suite: d.suite,
      packages: [`docker.io=${d.version}`, `containerd=${containerd.version}`, ...(cli ? [`docker-cli=${cli.version}`] : [])],
    });
  }
  return [...offers.values()].sort((a, b) => compareVersions(a.pkg, b.pkg));
}

/** pickOffer chooses `newest` or the newest offer of a major.minor; it throws EngineChoiceError naming what there is. */
export function pickOffer<T extends { name: string; pkg: string }>(choice: string, offers: readonly T[]): T {
  const sorted = [...offers].sort((a, b) => compareVersions(a.pkg, b.pkg));
  const found = choice === 'newest' ? sorted.at(-1) : sorted.filter((o) => o.name === choice).at(-1);
  if (found) return found;
  const names = [...new Set(sorted.map((o) => o.name))];
  throw new EngineChoiceError(
    names.length === 0
      ? `no engine is available: the archive could not be read and none is cached in ${ENGINE_CACHE}/engines`
      : `engine ${choice} is not available; available: ${names.join(', ')} (or system: the dockerd on PATH)`,
  );
}

/** ResolveOptions tune resolveEngine. */
export interface ResolveOptions {
  /** log receives progress lines (downloads). */
  log?: (line: string) => void;
  /** cache defaults to ENGINE_CACHE. */
  cache?: string;
}

/**
 * resolveEngine returns the engine for a choice: `system`, `newest` or a major.minor such as `28.5`.
 * An engine already unpacked is used as it is; otherwise its packages are downloaded and unpacked. The
 * archive's lists are read again when they are older than LISTS_MAX_AGE_MS or do not have the choice;
 * without the archive, the engines already unpacked are the choices.
 */
export async function resolveEngine(choice: string, opts: ResolveOptions = {}): Promise<LabEngine> {
  if (choice === 'system') return systemEngine();
  const cache = opts.cache ?? ENGINE_CACHE;
  const log = opts.log ?? (() => {});
  return withLock(join(cache, 'lock'), async () => {
    const apt = new LabApt(cache);
    let offers = apt.fresh() ? await apt.offers().catch(() => []) : [];
    if (!offers.some((o) => choice === 'newest' || o.name === choice)) {
      log(`engines: reading the archive's ${ARCHIVE_SUITES.join(', ')} lists`);
      try {
        await apt.update();
        offers = await apt.offers();
      } catch (err) {
        const cached = unpackedEngines(cache);
        log(`engines: cannot read the archive (${firstLine(err)}); choosing among the ${cached.length} unpacked`);
        const hit = pickOffer(choice, cached);
        return hit.engine;
      }
    }
    const offer = pickOffer(choice, offers);
    const dir = join(cache, 'engines', offer.pkg);
    if (!existsSync(join(dir, 'engine.json'))) {
      log(`engines: downloading Docker ${offer.pkg} from ${offer.suite} (${offer.packages.join(' ')})`);
      await unpack(apt, offer, dir);
    }
    return readEngine(dir);
  });
}

async function systemEngine(): Promise<LabEngine> {
  const out = await run('dockerd', ['--version']).catch((err: Error) => {
    throw new EngineChoiceError(`engine system: no dockerd on PATH (${firstLine(err)}); install docker.io or choose an engine from the archive`);
  });
  const version = /version ([^\s,]+)/.exec(out)?.[1] ?? 'unknown';
  return { name: 'system', version: version.replace(/\+.*/, ''), docker: 'docker' };
}

// The apt client with the lab's own configuration: its sources name the system's archive with the
// suites above, its lists and downloads live in the cache; the system's sources, lists, cache and locks
// are never written (its apt.conf.d is read, as every apt-get reads it).
class LabApt {
  private readonly etc: string;
  private readonly lists: string;
  private readonly archives: string;

  constructor(cache: string) {
    this.etc = join(cache, 'apt/sources.list.d');
    this.lists = join(cache, 'apt/lists');
    this.archives = join(cache, 'apt/archives');
  }

  private options(): string[] {
    return [
      '-o', 'Dir::Etc::SourceList=/dev/null',
      '-o', `Dir::Etc::SourceParts=${this.etc}`,
      '-o', `Dir::State::Lists=${this.lists}`,
      '-o', `Dir::Cache=${join(this.archives, '..')}`,
      '-o', `Dir::Cache::Archives=${this.archives}`,
      // The package cache apt builds from the lists, kept (images often turn it off, docker-clean): without
      // it every madison parses 80 MB of lists again, about 3 s; with it, 20 ms.
      '-o', `Dir::Cache::pkgcache=${join(this.archives, '..', 'pkgcache.bin')}`,
      '-o', `Dir::Cache::srcpkgcache=${join(this.archives, '..', 'srcpkgcache.bin')}`,
      '-o', 'Debug::NoLocking=1',
      '-o', 'APT::Sandbox::User=root',
    ];
  }

  fresh(): boolean {
    try {
      const releases = readdirSync(this.lists).filter((f) => f.endsWith('_InRelease') || f.endsWith('_Release'));
      return releases.length > 0 && releases.every((f) => Date.now() - statSync(join(this.lists, f)).mtimeMs < LISTS_MAX_AGE_MS);
    } catch {
      return false;
    }
  }

  async update(): Promise<void> {
    const archive = await systemArchive();
    mkdirSync(join(this.lists, 'partial'), { recursive: true });
    mkdirSync(join(this.archives, 'partial'), { recursive: true });
    mkdirSync(this.etc, { recursive: true });
    writeFileSync(
      join(this.etc, 'wlab.sources'),
      `# Written by warden lab: the suites searched for engines (src/lab/engines.ts ARCHIVE_SUITES).\n` +
        `Types: deb\nURIs: ${archive.uri}\nSuites: ${ARCHIVE_SUITES.join(' ')}\nComponents: main\n` +
        (archive.signedBy ? `Signed-By: ${archive.signedBy}\n` : ''),
    );
    await run('apt-get', [...this.options(), '-q', 'update'], { timeoutMs: 300_000 });
    // apt-get update leaves a list it did not need to fetch again with its old time: the lists are fresh now.
    const now = new Date();
    for (const f of readdirSync(this.lists)) if (f.endsWith('Release')) utimesSync(join(this.lists, f), now, now);
  }

  async offers(): Promise<EngineOffer[]> {
    return engineOffers(parseMadison(await run('apt-cache', [...this.options(), 'madison', 'docker.io', 'containerd', 'docker-cli'])));
  }

  async download(packages: readonly string[], into: string): Promise<void> {
    await run('sh', ['-c', 'cd "$1" && shift && exec apt-get "$@"', 'sh', into, ...this.options(), '-q', 'download', ...packages], { timeoutMs: 600_000 });
  }
}

// The system's own Debian archive, as its apt names it (so that the lab asks the mirror the machine
// already uses), and the keyring its sources trust.
async function systemArchive(): Promise<{ uri: string; signedBy: string | undefined }> {
  const targets = await run('apt-get', ['indextargets', '--format', '$(SITE) $(RELEASE) $(ORIGIN)']);
  const main = targets.split('\n').map((l) => l.split(' ')).find(([site, release, origin]) => site && release && !release.includes('-') && origin === 'Debian');
  if (!main?.[0]) throw new EngineChoiceError('cannot find the system\'s Debian archive in `apt-get indextargets`; choose --engine system');
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  return { uri: main[0], signedBy: existsSync(keyring) ? keyring : undefined };
}

// Download into a directory of this process, unpack there, then rename into place: an interrupted run
// leaves no half-unpacked engine that a later lab would take for a whole one.
async function unpack(apt: LabApt, offer: EngineOffer, dir: string): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  // Under the lock, any other unpacking directory is left from a run that died: about 200 MB each.
  const parent = join(dir, '..');
  // A new machine has no engines directory yet: make it before reading it (issue 24: the README's first
  // command failed with ENOENT on a machine that never ran the lab).
  mkdirSync(parent, { recursive: true });
  for (const d of readdirSync(parent).filter((d) => d.includes('.tmp-'))) rmSync(join(parent, d), { recursive: true, force: true });
  try {
    await unpackInto(apt, offer, dir, tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function unpackInto(apt: LabApt, offer: EngineOffer, dir: string, tmp: string): Promise<void> {
  const debs = join(tmp, 'debs');
  const root = join(tmp, 'root');
  mkdirSync(debs, { recursive: true });
  mkdirSync(root, { recursive: true });
  await apt.download(offer.packages, debs);
  for (const deb of readdirSync(debs).filter((f) => f.endsWith('.deb'))) await run('dpkg-deb', ['-x', join(debs, deb), root]);
  rmSync(debs, { recursive: true, force: true });
  // The PATH directory of the lab's dockerd: the engine's own binaries; runc and docker-init (tini) are
  // the system's (sid's runc needs a newer glibc than this machine has; tini is the same everywhere).
  const bin = join(tmp, 'bin');
  mkdirSync(bin);
  const finalRoot = join(dir, 'root');
  const pick = (name: string): string | undefined =>
    ['usr/sbin', 'usr/bin', 'usr/libexec/docker'].map((d) => join(d, name)).find((p) => existsSync(join(root, p)));
  for (const name of ['dockerd', 'docker-proxy', 'containerd', 'containerd-shim-runc-v2', 'docker']) {
    const p = pick(name);
    if (!p) {
      if (name === 'docker') continue; // older suites ship the CLI inside docker.io; checked below
      throw new EngineChoiceError(`Docker ${offer.pkg} from ${offer.suite}: no ${name} in its packages`);
    }
    symlinkSync(join(finalRoot, p), join(bin, name));
  }
  if (existsSync('/usr/bin/tini-static')) symlinkSync('/usr/bin/tini-static', join(bin, 'docker-init'));
  const version = (await run(join(root, pick('dockerd')!), ['--version'])).match(/version ([^\s,+]+)/)?.[1] ?? engineName(offer.pkg);
  const engine: LabEngine = {
    name: offer.name,
    version,
    pkg: offer.pkg,
    bin: join(dir, 'bin'),
    docker: pick('docker') ? join(dir, 'bin', 'docker') : 'docker',
  };
  writeFileSync(join(tmp, 'engine.json'), `${JSON.stringify(engine, null, 2)}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

function readEngine(dir: string): LabEngine {
  return JSON.parse(readFileSync(join(dir, 'engine.json'), 'utf8')) as LabEngine;
}

function unpackedEngines(cache: string): Array<{ name: string; pkg: string; engine: LabEngine }> {
  const dir = join(cache, 'engines');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => !d.includes('.tmp-') && existsSync(join(dir, d, 'engine.json')))
    .map((d) => {
      const engine = readEngine(join(dir, d));
      return { name: engine.name, pkg: engine.pkg ?? engine.version, engine };
    });
}

// One resolution at a time on this machine (labs may come up side by side): a lock directory holding the
// owner's identity (pid, the boot, the process's start time: the cache outlives reboots, and a pid is
// reused). A lock whose owner is gone is taken over by renaming it aside, which only one of two
// contenders can do; the owner removes the lock only while it is still its own.
export async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(join(lock, '..'), { recursive: true });
  const me = processIdentity(process.pid);
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'owner'), me);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = safeRead(join(lock, 'owner'));
      const pid = Number.parseInt(owner, 10);
      if (!Number.isInteger(pid) || processIdentity(pid) !== owner) {
        // Made a moment ago by an owner that has not written itself yet: give it that moment.
        if (owner === '' && Date.now() - mtime(lock) < 2_000) {
          await sleep(100);
          continue;
        }
        const aside = `${lock}.stale-${process.pid}-${Date.now()}`;
        try {
          renameSync(lock, aside);
          rmSync(aside, { recursive: true, force: true });
        } catch {
          // Another contender took it over first: try again.
        }
        continue;
      }
      if (Date.now() > deadline) throw new EngineChoiceError(`${lock} is held by process ${pid} for 15 minutes`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    if (safeRead(join(lock, 'owner')) === me) rmSync(lock, { recursive: true, force: true });
  }
}

/** processIdentity is `pid boot-id start-time` of a running process, or '' when there is none. */
export function processIdentity(pid: number): string {
  const stat = safeRead(`/proc/${pid}/stat`);
  // The fields after the command (which may hold spaces and parentheses): the start time is the 22nd field.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  if (!start) return '';
  return `${pid} ${safeRead('/proc/sys/kernel/random/boot_id').trim()} ${start}`;
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
