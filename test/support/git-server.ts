// A real git server on loopback for tests and benchmarks: git's own `git http-backend` (smart HTTP, fetch
// and push) behind a tiny node HTTP server, over a bare repository, with a work tree to commit and push
// from. It counts the fetches it serves, so a test can see how many a burst of webhooks caused.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const GIT_ENV = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };

/** GitServer is a bare repository served over HTTP (on 127.0.0.1 unless told), and a clone of it to push from. */
export interface GitServer {
  /** url is the repository's clone URL. */
  url: string;
  /** fetches counts the ref advertisements served for fetching (`info/refs?service=git-upload-pack`). */
  fetches(): number;
  /** push commits `files` (path to text) in the work tree, pushes to main, and returns the commit SHA. */
  push(files: Record<string, string>, message?: string): Promise<string>;
  /**
   * forcePush replaces main's history with one new root commit of `files` (a force-push: no earlier commit
   * is its ancestor) and returns its SHA.
   */
  forcePush(files: Record<string, string>, message?: string): Promise<string>;
  /** stop stops serving (clients get "connection refused") and keeps the repositories; start serves them again. */
  stop(): Promise<void>;
  /** start serves the repositories again on the same address and port after stop. */
  start(): Promise<void>;
  /** close stops the server and removes the repositories. */
  close(): Promise<void>;
}

/**
 * startGitServer creates an empty repository (branch main) and serves it; push a first commit before fetching.
 * `host` (default 127.0.0.1) is the address to listen on, e.g. a lab's bridge address for containers on its nodes.
 */
export async function startGitServer(opts: { host?: string } = {}): Promise<GitServer> {
  const host = opts.host ?? '127.0.0.1';
  const root = await mkdtemp(path.join(tmpdir(), 'warden-gitserver-'));
  const bare = path.join(root, 'repo.git');
  const work = path.join(root, 'work');
  await run('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  await run('git', ['config', 'http.receivepack', 'true'], { cwd: bare });
  await run('git', ['init', '-q', '-b', 'main', work]);
  let fetches = 0;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.endsWith('/info/refs') && url.searchParams.get('service') === 'git-upload-pack') fetches += 1;
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        // http-backend refuses pushes from anonymous users; this server has only the test as a client.
        REMOTE_USER: 'test',
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (c: Buffer) => chunks.push(c));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of out.subarray(0, Math.max(split, 0)).toString().split('\r\n')) {
        const [k, ...v] = line.split(':');
        if (k?.toLowerCase() === 'status') status = Number.parseInt(v.join(':').trim(), 10);
        else if (k) headers[k] = v.join(':').trim();
      }
      res.writeHead(status, headers).end(out.subarray(split + 4));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  const url = `http://${host}:${port}/repo.git`;
  let serving = true;
  async function stop(): Promise<void> {
    if (!serving) return;
    serving = false;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  async function git(...args: string[]): Promise<string> {
    const { stdout } = await run('git', args, { cwd: work, env: { ...process.env, ...GIT_ENV } });
    return stdout.trim();
  }

  return {
    url,
    fetches: () => fetches,
    async push(files, message = 'change') {
      for (const [f, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(work, f)), { recursive: true });
        await writeFile(path.join(work, f), text);
        await git('add', f);
      }
      await git('commit', '-q', '--allow-empty', '-m', message);
      await git('push', '-q', url, 'HEAD:refs/heads/main');
      return git('rev-parse', 'HEAD');
    },
    async forcePush(files, message = 'rewritten') {
      // An orphan branch with only these files: a new root commit, unrelated to what main had.
      await git('checkout', '-q', '--orphan', `rewrite-${Date.now()}`);
      await git('rm', '-rq', '--cached', '--ignore-unmatch', '.');
      for (const [f, text] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(work, f)), { recursive: true });
        await writeFile(path.join(work, f), text);
        await git('add', f);
      }
      await git('commit', '-q', '-m', message);
      await git('push', '-q', '--force', url, 'HEAD:refs/heads/main');
      return git('rev-parse', 'HEAD');
    },
    stop,
    async start() {
      if (serving) return;
      // The same port, so that the URL warden was given works again.
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      serving = true;
    },
    async close() {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}
