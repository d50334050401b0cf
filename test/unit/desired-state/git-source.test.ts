// The git source against real repositories: git init in a temp dir, file:// URLs, and an HTTP
// server (git http-backend behind basic auth) for credentials.
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, lstat, mkdtemp, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitSource, type GitSourceOptions } from '../../../src/desired-state/git-source.js';
import { DesiredStateError, formatProblem, type LoadedState } from '../../../src/desired-state/source.js';
import { waitUntil } from '../../support/wait.js';

const run = promisify(execFile);
const GOOD = (replicas: number): string =>
  `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  services:\n    - name: web\n      replicas: ${replicas}\n`;

let dir: string;
let origin: string;

async function git(...args: string[]): Promise<string> {
  const { stdout } = await run('git', args, {
    cwd: origin,
    env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  });
  return stdout.trim();
}

async function commit(files: Record<string, string | Buffer | null>, message = 'change'): Promise<string> {
  for (const [f, text] of Object.entries(files)) {
    if (text === null) await git('rm', '-q', f);
    else {
      await mkdir(path.dirname(path.join(origin, f)), { recursive: true });
      await writeFile(path.join(origin, f), text);
      await git('add', f);
    }
  }
  await git('commit', '-q', '-m', message);
  return git('rev-parse', 'HEAD');
}

function source(extra: Partial<GitSourceOptions> = {}): ReturnType<typeof createGitSource> {
  return createGitSource({
    url: `file://${origin}`,
    ref: 'main',
    path: 'warden.yml',
    intervalMs: 50,
    cacheDir: path.join(dir, 'cache'),
    timeoutMs: 10_000,
    ...extra,
  });
}

// Runs watch until the test ends, collecting what it reports.
function watching(src: ReturnType<typeof createGitSource>): { loads: LoadedState[]; errors: Error[]; stop: () => Promise<void> } {
  const ac = new AbortController();
  const seen = { loads: [] as LoadedState[], errors: [] as Error[] };
  const done = src.watch(ac.signal, { onLoad: (l) => seen.loads.push(l), onError: (e) => seen.errors.push(e) });
  return { ...seen, stop: async () => { ac.abort(); await done; } };
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-git-'));
  origin = path.join(dir, 'origin');
  await mkdir(origin);
  await git('init', '-q', '-b', 'main');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('git source', { timeout: 30_000 }, () => {
  it('loads the file at the branch head; the revision is the commit SHA', async () => {
    const sha = await commit({ 'warden.yml': GOOD(2) });
    const loaded = await source().load();
    expect(loaded.revision).toBe(sha);
    expect(loaded.state.services).toEqual([{ name: 'web', origin: 'services', replicas: 2 }]);
    expect(loaded.source).toBe(`file://${origin}#main:warden.yml`);
  });

  it('reads stacks from the same commit, relative to the file', async () => {
    await commit({
      'cluster/warden.yml': `${GOOD(1)}  stacks: [{ name: app, file: ../stacks/app.yml }]\n`,
      'stacks/app.yml': 'services:\n  api:\n    deploy: { replicas: 3 }\n',
    });
    const loaded = await source({ path: 'cluster/warden.yml' }).load();
    expect(loaded.state.services?.map((s) => [s.name, s.replicas])).toEqual([['web', 1], ['app_api', 3]]);
  });

  it('reads a deployed stack\'s binary secret from the commit as bytes, not as text', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0xc3]);
    await commit({
      'warden.yml': `${GOOD(1)}  stacks: [{ name: app, file: stacks/app.yml, deploy: true }]\n`,
      'stacks/app.yml': 'services:\n  api: { image: busybox:lab, secrets: [k] }\nsecrets:\n  k: { file: k.der }\n',
      'stacks/k.der': binary,
    });
    const loaded = await source().load();
    expect(loaded.state.stacks?.[0]?.secrets[0]?.data).toBe(binary.toString('base64'));
  });

  it('follows new commits and a force-push, and reports nothing for an unchanged head', async () => {
    await commit({ 'warden.yml': GOOD(1) });
    const src = source();
    await src.load();
    const w = watching(src);
    const second = await commit({ 'warden.yml': GOOD(2) });
    await expect.poll(() => w.loads.map((l) => l.revision), { timeout: 10_000 }).toEqual([second]);
    // Rewrite history in one step (as a force-push lands): the branch moves to a non-descendant.
    await writeFile(path.join(origin, 'warden.yml'), GOOD(5));
    await git('commit', '-q', '-a', '--amend', '-m', 'rewritten');
    const forced = await git('rev-parse', 'HEAD');
    expect(await git('merge-base', '--is-ancestor', second, forced).catch(() => 'not an ancestor')).toBe('not an ancestor');
    await expect.poll(() => w.loads.map((l) => l.revision), { timeout: 10_000 }).toEqual([second, forced]);
    expect(w.loads[1]?.state.services?.[0]?.replicas).toBe(5);
    await w.stop();
    expect(w.errors).toEqual([]);
  });

  it('reports a broken file on the branch with positions, once, and recovers on the next good commit', async () => {
    await commit({ 'warden.yml': GOOD(1) });
    const src = source();
    const first = await src.load();
    const w = watching(src);
    await commit({ 'warden.yml': GOOD(1).replace('replicas: 1', 'replicas: one') });
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBe(1);
    const err = w.errors[0] as DesiredStateError;
    expect(err).toBeInstanceOf(DesiredStateError);
    expect(err.problems.map(formatProblem)).toEqual(['warden.yml:7:17: spec.services[0].replicas: expected a number, got the string "one"']);
    expect(w.loads).toEqual([]);
    const fixed = await commit({ 'warden.yml': GOOD(3) });
    await expect.poll(() => w.loads.map((l) => l.revision), { timeout: 10_000 }).toEqual([fixed]);
    await w.stop();
    // The broken commit was fetched many times meanwhile, and reported once.
    expect(w.errors).toHaveLength(1);
    expect(first.revision).not.toBe(fixed);
  });

  it('reports a deleted file as a load error', async () => {
    await commit({ 'warden.yml': GOOD(1), 'README': 'x' });
    const src = source();
    await src.load();
    const w = watching(src);
    const sha = await commit({ 'warden.yml': null });
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBe(1);
    expect(w.errors[0]?.message).toBe(`warden.yml: no such file in commit ${sha.slice(0, 12)} of main (file://${origin}): was it moved or deleted?`);
    await w.stop();
    expect(w.loads).toEqual([]);
  });

  it('fails clearly and promptly for an unreachable repository or a missing branch', async () => {
    const started = Date.now();
    await expect(source({ url: `file://${dir}/nowhere` }).load()).rejects.toThrow(
      new RegExp(`^file://${dir}/nowhere#main:warden\\.yml: cannot fetch: git fetch: .*does not appear to be a git repository`),
    );
    await expect(source({ url: 'http://127.0.0.1:1/repo.git' }).load()).rejects.toThrow(/cannot fetch: git fetch: .*(Failed to connect|Connection refused)/);
    await commit({ 'warden.yml': GOOD(1) });
    await expect(source({ ref: 'nope' }).load()).rejects.toThrow(/couldn't find remote ref nope/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('keeps watching after a fetch failure and reports it', async () => {
    const w = watching(source({ url: `file://${dir}/nowhere` }));
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await w.stop();
    expect(w.errors[0]?.message).toMatch(/cannot fetch/);
  });

  it('says again what the head is once the server answers after failed fetches, even for the same commit', async () => {
    const first = await commit({ 'warden.yml': GOOD(1) });
    const src = source();
    await src.load();
    const w = watching(src);
    // The server goes away (its repository is no longer there) and comes back with the same commit.
    await rename(origin, `${origin}.away`);
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(w.errors[0]?.message).toMatch(/cannot fetch/);
    await rename(`${origin}.away`, origin);
    // The good head is reported again, so that the failed fetch's error does not stay in force.
    await expect.poll(() => w.loads.map((l) => l.revision), { timeout: 10_000 }).toEqual([first]);
    const outage = w.errors.length;

    // A broken head, then an outage: once the server answers, the broken commit's own error comes back.
    const broken = await commit({ 'warden.yml': GOOD(1).replace('replicas: 1', 'replicas: one') });
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBe(outage + 1);
    expect((w.errors[outage] as DesiredStateError).revision).toBe(broken);
    await rename(origin, `${origin}.away`);
    await expect.poll(() => w.errors.at(-1)?.message ?? '', { timeout: 10_000 }).toMatch(/cannot fetch/);
    await rename(`${origin}.away`, origin);
    await expect.poll(() => w.errors.at(-1), { timeout: 10_000 }).toBeInstanceOf(DesiredStateError);
    expect((w.errors.at(-1) as DesiredStateError).revision).toBe(broken);
    const reReported = w.errors.length;
    // Then once only, as before the outage: the next report is the fixed commit's load.
    const fixed = await commit({ 'warden.yml': GOOD(2) });
    await expect.poll(() => w.loads.map((l) => l.revision), { timeout: 10_000 }).toEqual([first, fixed]);
    await w.stop();
    expect(w.errors).toHaveLength(reReported);
  });

  it('refuses credentials in the URL without repeating them', () => {
    expect(() => source({ url: 'https://bob:s3cret-token@git.example/repo.git' })).toThrow(
      'https://***@git.example/repo.git: put the git credentials (user and token) in --git-credentials-file, not in the URL',
    );
    try {
      source({ url: 'https://bob:s3cret-token@git.example/repo.git' });
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('s3cret');
    }
  });

  it('refuses a token in the user part of an HTTP(S) URL like one in the password part; an ssh user is no secret', () => {
    for (const url of ['https://ghp_s3cretT0ken@github.com/org/repo.git', 'http://deploy@git.example/repo.git']) {
      const err = (() => {
        try {
          source({ url });
          return undefined;
        } catch (e) {
          return e as Error;
        }
      })();
      expect(err?.message).toMatch(/^http(s)?:\/\/\*\*\*@[^ ]+: put the git credentials \(user and token\) in --git-credentials-file, not in the URL/);
      expect(err?.message).not.toContain('s3cret');
    }
    expect(() => source({ url: 'ssh://git@git.example/org/repo.git' })).not.toThrow();
  });

  it('refuses a path outside the repository', () => {
    expect(() => source({ path: '../warden.yml' })).toThrow('--git-path ../warden.yml must be a path inside the repository');
  });
});

describe('git source with credentials over HTTP', { timeout: 30_000 }, () => {
  let server: Server;
  let port: number;
  const TOKEN = 'tok-9f8e7d6c5b4a';

  // git http-backend behind basic auth: the server git talks to asks for credentials.
  beforeEach(async () => {
    await commit({ 'warden.yml': GOOD(4) });
    server = createServer((req, res) => {
      const expected = `Basic ${Buffer.from(`deploy:${TOKEN}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
        return;
      }
      const url = new URL(req.url ?? '/', 'http://x');
      const cgi = spawn('git', ['http-backend'], {
        env: {
          ...process.env,
          GIT_PROJECT_ROOT: dir,
          GIT_HTTP_EXPORT_ALL: '1',
          PATH_INFO: url.pathname,
          QUERY_STRING: url.search.slice(1),
          REQUEST_METHOD: req.method ?? 'GET',
          CONTENT_TYPE: req.headers['content-type'] ?? '',
          REMOTE_USER: 'deploy',
        },
      });
      req.pipe(cgi.stdin);
      const chunks: Buffer[] = [];
      cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
      cgi.on('close', () => {
        const out = Buffer.concat(chunks);
        const split = out.indexOf('\r\n\r\n');
        const head = out.subarray(0, split).toString().split('\r\n');
        const headers: Record<string, string> = {};
        let status = 200;
        for (const line of head) {
          const [k, ...v] = line.split(':');
          if (k?.toLowerCase() === 'status') status = Number.parseInt(v.join(':').trim(), 10);
          else if (k) headers[k] = v.join(':').trim();
        }
        res.writeHead(status, headers).end(out.subarray(split + 4));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  async function filesUnder(d: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) out.push(...(await filesUnder(p)));
      else out.push(p);
    }
    return out;
  }

  it('answers the server from the credentials file and never stores them', async () => {
    const creds = path.join(dir, 'git-credentials');
    await writeFile(creds, `deploy:${TOKEN}\n`);
    const loaded = await source({ url: `http://127.0.0.1:${port}/origin`, credentialsFile: creds }).load();
    expect(loaded.state.services?.[0]?.replicas).toBe(4);
    for (const f of await filesUnder(path.join(dir, 'cache'))) {
      if ((await stat(f)).size < 10_000_000) expect(await readFile(f, 'utf8'), f).not.toContain(TOKEN);
    }
  });

  it('fails without a prompt when the credentials are wrong, and does not echo them', async () => {
    const creds = path.join(dir, 'git-credentials');
    await writeFile(creds, 'deploy:wrong-token-123\n');
    const err = await source({ url: `http://127.0.0.1:${port}/origin`, credentialsFile: creds }).load().then(() => new Error('loaded'), (e: unknown) => e as Error);
    expect(err.message).toMatch(/cannot fetch: git fetch: .*Authentication failed/);
    expect(err.message).not.toContain('wrong-token-123');
    const none = await source({ url: `http://127.0.0.1:${port}/origin` }).load().then(() => new Error('loaded'), (e: unknown) => e as Error);
    expect(none.message).toMatch(/cannot fetch: git fetch: .*(could not read Username|terminal prompts disabled)/);
  });

  it('says so when the credentials file cannot be read', async () => {
    await expect(source({ url: `http://127.0.0.1:${port}/origin`, credentialsFile: path.join(dir, 'missing') }).load()).rejects.toThrow(
      `cannot read the git credentials file ${path.join(dir, 'missing')}: ENOENT`,
    );
  });
});

describe('git source hygiene: a private cache, a helper never written through a link, a deadline on every call', { timeout: 30_000 }, () => {
  const isRoot = process.getuid?.() === 0;
  const uid = process.getuid?.() ?? 0;
  let savedTmp: string | undefined;
  let tmp: string;

  beforeEach(async () => {
    await commit({ 'warden.yml': GOOD(1) });
    // The default cache lives under the OS temp dir: a temp dir of this test's own stands for it.
    savedTmp = process.env.TMPDIR;
    tmp = path.join(dir, 'tmp');
    await mkdir(tmp);
    await chmod(tmp, 0o1777);
    process.env.TMPDIR = tmp;
  });

  afterEach(() => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  });

  function defaultSource(): ReturnType<typeof createGitSource> {
    return createGitSource({ url: `file://${origin}`, ref: 'main', path: 'warden.yml', intervalMs: 50, timeoutMs: 10_000 });
  }

  async function loadError(src: ReturnType<typeof createGitSource>): Promise<string> {
    return src.load().then(() => 'loaded', (e: unknown) => (e as Error).message);
  }

  it('keeps the default cache under a parent of its own uid, 0700', async () => {
    await defaultSource().load();
    const parent = await lstat(path.join(tmp, `swarm-warden-${uid}`));
    expect([parent.isDirectory(), parent.uid, parent.mode & 0o777]).toEqual([true, uid, 0o700]);
    const [cache] = await readdir(path.join(tmp, `swarm-warden-${uid}`));
    expect((await lstat(path.join(tmp, `swarm-warden-${uid}`, cache!))).mode & 0o777).toBe(0o700);
  });

  it.runIf(isRoot)('refuses a default parent another user made first, and one that is a symlink', async () => {
    const parent = path.join(tmp, `swarm-warden-${uid}`);
    await mkdir(parent, { mode: 0o700 });
    await chown(parent, 65534, 65534);
    expect(await loadError(defaultSource())).toBe(
      `the parent of the git cache ${parent} is owned by uid 65534, not by warden's uid ${uid}: another user could plant a git config or hooks ` +
        `there that git would run as warden; give it to warden (chown ${uid} ${parent}) or point --git-cache at a directory of warden's own`,
    );
    await rm(parent, { recursive: true });
    await mkdir(path.join(dir, 'elsewhere'));
    await symlink(path.join(dir, 'elsewhere'), parent);
    expect(await loadError(defaultSource())).toBe(`the parent of the git cache ${parent} is a symlink or not a directory: warden uses only a directory of its own`);
    expect(await readdir(path.join(dir, 'elsewhere'))).toEqual([]);
  });

  it('refuses a cache directory others may write to; tightens one only others may read', async () => {
    const open = path.join(dir, 'open-cache');
    await mkdir(open);
    await chmod(open, 0o777);
    expect(await loadError(source({ cacheDir: open }))).toBe(
      `the git cache ${open} is writable by others (mode 0777): another user could plant a git config or hooks there that git would run ` +
        `as warden; remove what you do not trust in it and chmod 0700 ${open}`,
    );
    const readable = path.join(dir, 'readable-cache');
    await mkdir(readable);
    await chmod(readable, 0o755);
    expect((await source({ cacheDir: readable }).load()).state.services?.[0]?.replicas).toBe(1);
    expect((await lstat(readable)).mode & 0o777).toBe(0o700);
  });

  it('writes the askpass helper under a new name, never through a symlink planted in its place', async () => {
    const cache = path.join(dir, 'cache');
    await writeFile(path.join(dir, 'creds'), 'deploy:tok\n');
    // A cache that works (as one a process of another user prepared at the old predictable path would),
    // its helper replaced by a symlink to a file of warden's.
    await source({ credentialsFile: path.join(dir, 'creds') }).load();
    const victim = path.join(dir, 'victim');
    await writeFile(victim, 'original\n');
    await chmod(victim, 0o600);
    await rm(path.join(cache, 'warden-askpass.sh'));
    await symlink(victim, path.join(cache, 'warden-askpass.sh'));
    await source({ credentialsFile: path.join(dir, 'creds') }).load();
    expect(await readFile(victim, 'utf8')).toBe('original\n');
    expect((await lstat(victim)).mode & 0o777).toBe(0o600);
    const helper = await lstat(path.join(cache, 'warden-askpass.sh'));
    expect([helper.isFile(), helper.mode & 0o777]).toEqual([true, 0o700]);
    expect(await readFile(path.join(cache, 'warden-askpass.sh'), 'utf8')).toContain('WARDEN_GIT_CREDENTIALS_FILE');
    await expect(readlink(path.join(cache, 'warden-askpass.sh'))).rejects.toThrow(/EINVAL/);
  });

  it('gives up on a server that accepts and never answers at the deadline, and leaves no git process behind', async () => {
    const sockets: Socket[] = [];
    const silent = createTcpServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const url = `http://127.0.0.1:${port}/never.git`;
    try {
      const started = performance.now();
      const err = await loadError(source({ url, timeoutMs: 1_500 }));
      const ms = performance.now() - started;
      expect(err).toBe(`${url}#main:warden.yml: cannot fetch: git fetch: no answer within 1.5s`);
      expect(ms).toBeGreaterThanOrEqual(1_400);
      expect(ms).toBeLessThan(5_000);
      // git fetch runs git-remote-http, which holds the connection: killing git alone left it (and its
      // connection) behind for ever.
      const left = await waitUntil('no git process left for the silent server', async () => {
        const procs = await gitProcessesFor(url);
        return procs.length === 0 ? procs : undefined;
      }, { timeoutMs: 3_000 });
      expect(left).toEqual([]);
      // The source is not stuck behind the hung call: the next load runs (and fails the same way).
      expect(await loadError(source({ url, timeoutMs: 1_500 }))).toContain('no answer within 1.5s');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

// gitProcessesFor lists the processes whose command line names `url`.
async function gitProcessesFor(url: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(url)) found.push(`${pid} ${cmd.split('\0').join(' ')}`);
  }
  return found;
}
