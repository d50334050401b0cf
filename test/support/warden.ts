// Running warden's real command line from tests and benchmarks: a free port, and `warden run` as a
// child process that is ready when its /readyz says so.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitUntil } from './wait.js';

/** WARDEN_BIN is the command line's entry point. */
export const WARDEN_BIN = join(import.meta.dirname, '../../bin/warden.js');

/** freePort returns a TCP port on 127.0.0.1 that nothing listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** WardenResult is what a finished warden command gave: its exit code and output. */
export interface WardenResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** runWarden runs the real command line to completion (`warden ARGS`) with extra environment `env`. */
export function runWarden(args: string[], env: NodeJS.ProcessEnv = {}): Promise<WardenResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [WARDEN_BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** WardenDaemon is a `warden run` process. */
export interface WardenDaemon {
  child: ChildProcess;
  /** url is the base of its endpoints. */
  url: string;
  /** logs is what it printed on stdout so far. */
  logs(): string;
  /** errors is what it printed on stderr so far (empty unless started with stderr: 'pipe'). */
  errors(): string;
  /** stop sends a signal (default SIGTERM) and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/** startWardenRun starts `warden run ARGS --listen 127.0.0.1:PORT` and waits until /readyz answers 200. */
export async function startWardenRun(
  args: string[],
  opts: {
    readyTimeoutMs?: number;
    stderr?: 'inherit' | 'ignore' | 'pipe';
    /** entry is the script node runs (default bin/warden.js; dist/cli.js is what the image runs). */
    entry?: string;
    /** nodeFlags go to node before the script (the image's are imageNodeFlags()). */
    nodeFlags?: string[];
    /** env is added to this process's environment for the daemon (default none). */
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<WardenDaemon> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), opts.entry ?? WARDEN_BIN, 'run', ...args, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', opts.stderr ?? 'inherit'],
    env: { ...process.env, ...opts.env },
  });
  let logs = '';
  child.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  let errors = '';
  child.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const url = `http://127.0.0.1:${port}`;
  const daemon: WardenDaemon = {
    child,
    url,
    logs: () => logs,
    errors: () => errors,
    async stop(signal = 'SIGTERM') {
      const started = Date.now();
      if (child.exitCode === null) child.kill(signal);
      const code = await exited;
      return { code, ms: Date.now() - started };
    },
  };
  try {
    await waitUntil('warden run to be ready', async () => (await fetch(`${url}/readyz`)).status === 200, { timeoutMs: opts.readyTimeoutMs ?? 30_000 });
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${logs.split('\n').slice(-10).join('\n')}`);
  }
  return daemon;
}

/** imageNodeFlags reads the Dockerfile's NODE_OPTIONS, so that a benchmark runs warden as the image does. */
export function imageNodeFlags(): string[] {
  const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const options = /^ENV NODE_OPTIONS=(.*)$/m.exec(dockerfile)?.[1];
  if (options === undefined) throw new Error('the Dockerfile sets no NODE_OPTIONS (ENV NODE_OPTIONS=... on a line of its own)');
  return options.trim().split(/\s+/).filter(Boolean);
}
