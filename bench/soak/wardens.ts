// The warden instances of the soak: real `warden run` processes, each pointed at one lab node's engine,
// reading the desired state from the soak's git server. Their JSON log lines go to a file each and,
// parsed, into the timeline (with the instance and its node), where the invariants read them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { LabNode } from '../../src/lab/lab.js';
import { freePort, WARDEN_BIN } from '../../test/support/warden.js';
import type { Timeline } from './timeline.js';

/** WardenSetup is what every instance shares: the git source, the host root, where logs go. */
export interface WardenSetup {
  gitUrl: string;
  hostRoot: string;
  /** dir holds each instance's log file and git cache. */
  dir: string;
  timeline: Timeline;
}

/** STOP_TIMEOUT_MS is how long an instance gets after SIGTERM before SIGKILL (default 10 s, as swarm gives a task). */
export const STOP_TIMEOUT_MS = 10_000;

/** WardenInstance is one `warden run` process of the soak. */
export class WardenInstance {
  private exited: Promise<number | null>;
  private buffer = '';
  private readonly log: WriteStream;
  /** exitCode is set once the process has exited. */
  exitCode: number | null | undefined;

  private constructor(
    /** id names the instance in the timeline: its node and a count of its starts there (manager-1#2). */
    readonly id: string,
    readonly node: LabNode,
    readonly url: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
    timeline: Timeline,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    // 'close', not 'exit': the output is read to its end before the log file is closed.
    this.exited = new Promise((resolve) => child.on('close', (code) => {
      this.exitCode = code;
      resolve(code);
    }));
    child.stdout!.on('data', (d: Buffer) => {
      this.log.write(d);
      this.buffer += d.toString();
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const text = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (!text.startsWith('{')) continue;
        try {
          const line = JSON.parse(text) as Record<string, unknown>;
          const at = typeof line.time === 'string' ? Date.parse(line.time) : typeof line.time === 'number' ? line.time : Date.now();
          timeline.logs.push({ at, instance: this.id, node: this.node.name, line });
        } catch {
          // Not a log line (a crash's output): it stays in the file.
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => this.log.write(d));
  }

  /** start runs `warden run` against `node`'s engine; it does not wait for readiness (the engine may be down). */
  static async start(setup: WardenSetup, node: LabNode, id: string): Promise<WardenInstance> {
    const port = await freePort();
    const cache = join(setup.dir, `git-${id.replace(/[^\w.-]/g, '_')}`);
    mkdirSync(cache, { recursive: true });
    const child = spawn(process.execPath, [
      WARDEN_BIN, 'run',
      '--git-url', setup.gitUrl, '--git-ref', 'main', '--git-path', 'warden.yml', '--git-interval', '2s', '--git-cache', cache,
      '--host', node.host, '--host-root', setup.hostRoot,
      '--listen', `127.0.0.1:${port}`, '--log-level', 'debug',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const file = join(setup.dir, `${id.replace(/[^\w.-]/g, '_')}.log`);
    return new WardenInstance(id, node, `http://127.0.0.1:${port}`, file, child, setup.timeline);
  }

  /** running tells whether the process has not exited. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** status reads GET /status, or undefined when the instance does not answer within 2 s. */
  async status(): Promise<InstanceStatus | undefined> {
    try {
      const res = await fetch(`${this.url}/status`, { signal: AbortSignal.timeout(2_000) });
      return (await res.json()) as InstanceStatus;
    } catch {
      return undefined;
    }
  }

  /** stop sends SIGTERM and waits for the exit (SIGKILL after STOP_TIMEOUT_MS); it returns how long the exit took. */
  async stop(): Promise<{ code: number | null; ms: number; killed: boolean }> {
    const started = Date.now();
    if (this.exitCode !== undefined) return { code: this.exitCode, ms: 0, killed: false };
    this.child.kill('SIGTERM');
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_TIMEOUT_MS).unref());
    let killed = false;
    if ((await Promise.race([this.exited, timer])) === 'late') {
      killed = true;
      this.child.kill('SIGKILL');
    }
    const code = await this.exited;
    await new Promise<void>((resolve) => this.log.end(resolve));
    return { code, ms: Date.now() - started, killed };
  }
}

/** InstanceStatus is the part of GET /status the soak reads. */
export interface InstanceStatus {
  leader: boolean;
  revision?: string;
  desiredStateValid: boolean;
  lastPass?: { passId: number; startedAt: string; error?: string };
  drift: Record<string, Array<{ object: string; message: string }>>;
  held: Array<{ key: string; reason: string; until: string; why: string }>;
}
