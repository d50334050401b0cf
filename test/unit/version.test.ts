// Which warden this is: the build info written by the build and read back, and the revision asked of a
// real git checkout (temporary repositories, git itself) when there is no build.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Metrics } from '../../src/controller/metrics.js';
import { main } from '../../src/main.js';
import {
  BUILD_INFO_FILE, UNKNOWN_REVISION, buildInfo, checkRevision, formatVersion, gitRevision, readBuildInfo, writeBuildInfo,
} from '../../src/version.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'warden-version-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, encoding: 'utf8' }).trim();

// pkg makes a package root: package.json with `version`, and dist/ (the compiled modules' directory).
function pkg(name: string, version = '1.2.3'): { root: string; dist: string } {
  const root = join(tmp, name);
  mkdirSync(join(root, 'dist'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'swarm-warden', version }));
  return { root, dist: join(root, 'dist') };
}

// repo makes a package root that is a git checkout with one commit; returns the commit.
function repo(root: string): string {
  git(root, 'init', '-q');
  git(root, 'add', 'package.json');
  git(root, 'commit', '-q', '-m', 'first');
  return git(root, 'rev-parse', 'HEAD');
}

describe('checkRevision', () => {
  it.each(['24954c1da7daaff0d214fe9400b5f60bad669132', '24954c1', 'v0.1.0', '24954c1-dirty', 'g1.2+3_x'])('accepts %s', (rev) => {
    expect(checkRevision(rev, 'WARDEN_REVISION')).toBe(rev);
  });

  it.each(['', ' abc', 'abc def', 'a\nb', '-x', 'a"b', 'x'.repeat(101)])('refuses %j, naming where it came from', (rev) => {
    expect(() => checkRevision(rev, 'WARDEN_REVISION')).toThrow(/^WARDEN_REVISION=.*: expected a commit id/);
  });
});

describe('gitRevision', () => {
  it('is the checkout\'s commit, with -dirty once a tracked file changes, whatever the caller\'s GIT_DIR', () => {
    const { root } = pkg('checkout');
    const head = repo(root);
    expect(gitRevision(root)).toBe(head);
    // warden run from another repository's hook: git must still read warden's own checkout.
    const other = pkg('other', '7.7.7').root;
    repo(other);
    expect(gitRevision(root, { ...process.env, GIT_DIR: join(other, '.git') })).toBe(head);
    writeFileSync(join(root, 'untracked.txt'), 'x');
    expect(gitRevision(root)).toBe(head);
    writeFileSync(join(root, 'package.json'), '{"version":"9.9.9"}');
    expect(gitRevision(root)).toBe(`${head}-dirty`);
  });

  it('is the commit, not a tag, when the commit is tagged', () => {
    const { root } = pkg('tagged');
    const head = repo(root);
    git(root, 'tag', 'v1.2.3');
    expect(gitRevision(root)).toBe(head);
  });

  it('is undefined outside a checkout, also in a directory inside someone else\'s repository', () => {
    expect(gitRevision(pkg('plain').root)).toBeUndefined();
    const outer = pkg('outer').root;
    repo(outer);
    const inner = join(outer, 'node_modules/swarm-warden');
    mkdirSync(inner, { recursive: true });
    expect(gitRevision(inner)).toBeUndefined();
  });
});

describe('the build info', () => {
  it('is written from git at build time and read back from the file, without git', () => {
    const { root, dist } = pkg('built', '0.4.0');
    const head = repo(root);
    expect(writeBuildInfo(dist, {})).toEqual({ version: '0.4.0', revision: head });
    // The checkout goes away (as in the image): the file still says what was built.
    rmSync(join(root, '.git'), { recursive: true });
    expect(readBuildInfo(dist)).toEqual({ version: '0.4.0', revision: head });
  });

  it('takes WARDEN_REVISION over git, and refuses a bad one without writing anything', () => {
    const { root, dist } = pkg('given');
    repo(root);
    expect(writeBuildInfo(dist, { WARDEN_REVISION: ' abc1234 ' })).toEqual({ version: '1.2.3', revision: 'abc1234' });
    const bad = pkg('bad');
    expect(() => writeBuildInfo(bad.dist, { WARDEN_REVISION: 'abc 123' })).toThrow(/^WARDEN_REVISION="abc 123": expected a commit id/);
    expect(existsSync(join(bad.dist, BUILD_INFO_FILE))).toBe(false);
  });

  it('is "unknown" with no file, no checkout and no WARDEN_REVISION', () => {
    const { dist } = pkg('bare', '2.0.0');
    expect(readBuildInfo(dist)).toEqual({ version: '2.0.0', revision: UNKNOWN_REVISION });
    expect(writeBuildInfo(dist, { WARDEN_REVISION: '' })).toEqual({ version: '2.0.0', revision: UNKNOWN_REVISION });
    expect(JSON.parse(readFileSync(join(dist, BUILD_INFO_FILE), 'utf8'))).toEqual({ version: '2.0.0', revision: UNKNOWN_REVISION });
  });

  it.each(['', '{', '{"version":"1"}', '[]', 'null'])('refuses a broken build-info.json %j, naming it', (text) => {
    const { dist } = pkg(`broken-${Buffer.from(text).toString('hex')}`);
    writeFileSync(join(dist, BUILD_INFO_FILE), text);
    expect(() => readBuildInfo(dist)).toThrow(`${join(dist, BUILD_INFO_FILE)}: expected {"version": "...", "revision": "..."}`);
  });

  it('says which package.json it could not read', () => {
    const dist = join(tmp, 'no-package/dist');
    mkdirSync(dist, { recursive: true });
    expect(() => readBuildInfo(dist)).toThrow(`cannot read warden's version from ${join(tmp, 'no-package/package.json')}`);
  });

  it('of this checkout is package.json\'s version and git\'s commit', () => {
    const repoRoot = join(import.meta.dirname, '../..');
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const info = buildInfo();
    expect(info.version).toBe(version);
    // The worktree may be clean or not while tests run; the commit is HEAD's either way.
    expect(info.revision).toMatch(new RegExp(`^${git(repoRoot, 'rev-parse', 'HEAD')}(-dirty)?$`));
    expect(formatVersion(info)).toBe(`warden version ${version}, revision ${info.revision}`);
  });
});

describe('warden_build_info', () => {
  it('is one series at 1 with the version and revision, from the start', async () => {
    const metrics = new Metrics({ processMetrics: false, build: { version: '0.1.0', revision: 'abc1234' } });
    const text = await metrics.registry.metrics();
    expect(text).toContain('# TYPE warden_build_info gauge');
    expect(text.split('\n').filter((l) => l.startsWith('warden_build_info'))).toEqual(['warden_build_info{version="0.1.0",revision="abc1234"} 1']);
  });
});

describe('warden --version', () => {
  it.each([['--version'], ['-V']])('%s prints one line and exits 0, before any command runs', async (flag) => {
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    try {
      expect(await main([flag])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out).toBe(`${formatVersion(buildInfo())}\n`);
  });
});
