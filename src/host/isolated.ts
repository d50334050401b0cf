// The host port as warden uses it: HostFiles run in a child process (./worker.ts), so that a hung share
// cannot hold warden's own threads. A hard NFS mount whose server is gone blocks lstat for ever, and a
// blocked call holds one of libuv's four pool threads until it returns, which may be never; every fs call,
// DNS lookup and zlib stream of warden needs those threads. Here each call (one volume's inspection, or
// one fix) goes to the worker with a deadline; past it, the call is rejected with a HostTimeoutError, the
// worker is killed (SIGKILL) and a fresh one serves the next call. A process stuck in the kernel (D state)
// may not die even then: it is abandoned, never waited for, and once `maxStuck` of them are still alive,
// warden starts no more and says so in each rejection until one exits.
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DesiredVolume } from '../desired-state/types.js';
import type { FileObservation } from '../reconcilers/types.js';
import { FileRefusedError, type FileChange, type FilePort, type FixOptions, type FixResult, type VolumeFix } from './port.js';
import type { WorkerConfig, WorkerError, WorkerMessage, WorkerRequest } from './protocol.js';

/**
 * HOST_CALL_TIMEOUT_MS bounds one call to the host worker (default 10 s), and separately a fresh
 * worker's start: above the longest walk the budgets allow (a scan's 5 s; a fix's 5 s of re-walking
 * and 2 s of changes), with room for a loaded machine. A fix's deadline starts again at each change it
 * reports. A share that answers nothing for that long is hung.
 */
export const HOST_CALL_TIMEOUT_MS = 10_000;

/** MAX_STUCK_WORKERS is how many killed workers may still be alive before warden starts no more (default 3). */
export const MAX_STUCK_WORKERS = 3;

/** IsolatedHostOptions configure the worker: the host root, the budgets, the deadline and the cap. */
export interface IsolatedHostOptions {
  /** root is where the hosts' `/` is seen (--host-root; default `/`). */
  root?: string;
  /** scanBudget is files.ts's DEFAULT_SCAN_BUDGET unless given. */
  scanBudget?: { entries: number; ms: number };
  /** fixBudget is files.ts's DEFAULT_FIX_BUDGET unless given. */
  fixBudget?: { entries: number; ms: number };
  /** timeoutMs is HOST_CALL_TIMEOUT_MS unless given. */
  timeoutMs?: number;
  /** startTimeoutMs bounds a fresh worker's start; HOST_CALL_TIMEOUT_MS unless given. */
  startTimeoutMs?: number;
  /** maxStuck is MAX_STUCK_WORKERS unless given. */
  maxStuck?: number;
  /** spawn starts a worker (default forkHostWorker); tests start it as another user, or freeze it. */
  spawn?: (config: WorkerConfig) => ChildProcess;
}

/** HostTimeoutError is a call the host worker did not answer within its deadline: a hung share, most likely. */
export class HostTimeoutError extends Error {
  override readonly name = 'HostTimeoutError';
}

/** HostWorkerError is a call the worker could not serve: it died, or too many killed ones are still stuck. */
export class HostWorkerError extends Error {
  override readonly name = 'HostWorkerError';
}

/** forkHostWorker starts ./worker.ts (./worker.js once compiled) with `extra` fork options. */
export function forkHostWorker(config: WorkerConfig, extra: ForkOptions = {}): ChildProcess {
  const here = import.meta.url;
  // Run from the TypeScript sources (a checkout, the tests), the worker needs the same loader.
  const fromSource = here.endsWith('.ts');
  const worker = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', here));
  const execArgv = fromSource ? ['--import', pathToFileURL(createRequire(here).resolve('tsx')).href] : [];
  // stdout is warden's log stream: the worker writes nothing there; a crash's trace goes to stderr.
  return fork(worker, [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json', ...extra });
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  /** answers routes the worker's messages to the call in flight, by request id. */
  answers: Map<number, (m: WorkerMessage) => void>;
}

// What a call hands to the exchange: how to settle the caller, how to pass on changes.
interface Caller {
  what: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  onChange?: (change: FileChange) => void;
  /** setAbort installs what aborting the caller's signal does while the request is in flight. */
  setAbort(abort: () => void): void;
}

/** IsolatedHostFiles observes and fixes spec.volumes through a host worker process, one call at a time. */
export class IsolatedHostFiles implements FilePort {
  private readonly config: WorkerConfig;
  private readonly timeoutMs: number;
  private readonly startTimeoutMs: number;
  private readonly maxStuck: number;
  private readonly spawn: (config: WorkerConfig) => ChildProcess;
  private current: Worker | undefined;
  // Workers killed after a deadline whose exit has not been seen yet.
  private readonly stuck = new Set<ChildProcess>();
  // Calls run one after another: each waits until the worker is done with the one before (its answer,
  // or its kill at the deadline), even when that one's caller gave up early.
  private queue: Promise<void> = Promise.resolve();
  private nextId = 1;
  private closed = false;

  constructor(opts: IsolatedHostOptions = {}) {
    this.config = {
      root: opts.root ?? '/',
      ...(opts.scanBudget ? { scanBudget: opts.scanBudget } : {}),
      ...(opts.fixBudget ? { fixBudget: opts.fixBudget } : {}),
    };
    this.timeoutMs = opts.timeoutMs ?? HOST_CALL_TIMEOUT_MS;
    this.startTimeoutMs = opts.startTimeoutMs ?? HOST_CALL_TIMEOUT_MS;
    this.maxStuck = opts.maxStuck ?? MAX_STUCK_WORKERS;
    this.spawn = opts.spawn ?? ((config) => forkHostWorker(config));
  }

  /**
   * inspectPaths reports each volume path under the host root, one worker call each; it rejects with a
   * HostTimeoutError naming the first path whose call passed its deadline (the others are not read then).
   */
  async inspectPaths(volumes: readonly DesiredVolume[], signal?: AbortSignal): Promise<Map<string, FileObservation>> {
    const out = new Map<string, FileObservation>();
    for (const volume of volumes) {
      const seen = (await this.call({ op: 'inspect', volume }, `${volume.path}: reading it`, signal)) as FileObservation;
      out.set(volume.path, seen);
    }
    return out;
  }

  /** fix makes a volume's directory (and its tree, within a budget) what the action asks for, in the worker. */
  async fix(action: VolumeFix, opts: FixOptions = {}): Promise<FixResult> {
    return (await this.call({ op: 'fix', action }, `${action.path}: fixing it`, opts.signal, opts.onChange)) as FixResult;
  }

  /** stuckWorkers lists the pids of killed workers that have not exited yet (for diagnostics and tests). */
  stuckWorkers(): number[] {
    return [...this.stuck].map((c) => c.pid ?? 0);
  }

  /** workerPid is the pid of the worker that serves the next call, if one runs (for tests). */
  workerPid(): number | undefined {
    return this.current?.child.pid;
  }

  /** close stops the worker; later calls are rejected. Closing twice is harmless. */
  close(): void {
    this.closed = true;
    if (this.current) this.kill(this.current);
  }

  private call(req: { op: 'inspect'; volume: DesiredVolume } | { op: 'fix'; action: VolumeFix }, what: string, signal?: AbortSignal, onChange?: (c: FileChange) => void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      let settled = false;
      let abortInFlight: (() => void) | undefined;
      const onAbort = (): void => {
        abortInFlight?.();
        settle(() => reject(signal!.reason as Error));
      };
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const caller: Caller = {
        what,
        resolve: (v) => settle(() => resolve(v)),
        reject: (e) => settle(() => reject(e)),
        ...(onChange ? { onChange } : {}),
        setAbort: (abort) => (abortInFlight = abort),
      };
      this.queue = this.queue.then(() => (settled ? undefined : this.exchange(req, caller)));
    });
  }

  // exchange sends one request and resolves once the worker is free again: it answered, died, or was
  // killed at the deadline. The caller is settled on the way (and may have been, by an abort, already).
  // The deadline runs from the moment the worker could take the request (a fresh worker's start has a
  // deadline of its own), and starts again at each change a fix reports: a fix that makes progress is
  // bounded by its own budgets, a call that hangs says nothing.
  private async exchange(req: { op: 'inspect'; volume: DesiredVolume } | { op: 'fix'; action: VolumeFix }, caller: Caller): Promise<void> {
    let worker: Worker;
    try {
      worker = this.workerFor();
    } catch (err) {
      caller.reject(err as Error);
      return;
    }
    const id = this.nextId++;
    await new Promise<void>((done) => {
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      const finish = (settleCaller: () => void): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        worker.answers.delete(id);
        worker.child.off('exit', onExit);
        settleCaller();
        done();
      };
      const arm = (why: string, ms = this.timeoutMs): void => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const pid = worker.child.pid;
          this.kill(worker);
          finish(() => caller.reject(new HostTimeoutError(
            `${caller.what}: ${why} within ${ms / 1000} s (is a share hung?); ` +
              `warden killed its host worker (pid ${pid}) and starts a fresh one for the next call`,
          )));
        }, ms);
      };
      // An idle worker is ready already: this is replaced at once.
      arm('the host worker did not start', this.startTimeoutMs);
      const onExit = (code: number | null, sig: NodeJS.Signals | null): void => {
        finish(() => caller.reject(new HostWorkerError(`${caller.what}: the host worker exited (${sig ?? `code ${code}`}) before it answered`)));
      };
      worker.child.once('exit', onExit);
      worker.answers.set(id, (m) => {
        switch (m.kind) {
          case 'changes':
            arm(NO_ANSWER);
            for (const change of m.changes) caller.onChange?.(change);
            return;
          case 'observed':
            return finish(() => caller.resolve(m.observation));
          case 'fixed':
            return finish(() => caller.resolve(m.result));
          case 'failed':
            return finish(() => caller.reject(rebuild(m.error)));
          default:
            return undefined;
        }
      });
      caller.setAbort(() => send(worker, { id, op: 'abort' }));
      worker.ready.then(
        () => {
          if (!worker.answers.has(id)) return;
          arm(NO_ANSWER);
          send(worker, { id, ...req } as WorkerRequest);
        },
        // It exited before it was ready (onExit says so too), or could not be started at all.
        (err: Error) => finish(() => caller.reject(new HostWorkerError(`${caller.what}: the host worker could not start: ${err.message}`))),
      );
    });
  }

  // workerFor returns the running worker, or starts one unless too many killed ones are still stuck.
  private workerFor(): Worker {
    if (this.closed) throw new HostWorkerError('the host worker was closed');
    const alive = this.current;
    if (alive && alive.child.exitCode === null && alive.child.signalCode === null && alive.child.connected) return alive;
    this.current = undefined;
    if (this.stuck.size >= this.maxStuck) {
      throw new HostWorkerError(
        `${this.stuck.size} host workers did not exit after SIGKILL (pids ${this.stuckWorkers().join(', ')}): they are stuck in ` +
          'the kernel, most likely on a hung share; warden starts no more until one of them exits',
      );
    }
    const child = this.spawn(this.config);
    const answers = new Map<number, (m: WorkerMessage) => void>();
    let started: () => void = () => undefined;
    let failed: (err: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    ready.catch(() => undefined);
    child.on('message', (m: WorkerMessage) => {
      if (m.kind === 'ready') started();
      else answers.get(m.id)?.(m);
    });
    // Without a listener an 'error' (the fork failed, a send after the exit) would crash warden.
    child.on('error', (err) => {
      failed(err);
      // Never started: there is no process to wait for.
      if (child.pid === undefined && this.current?.child === child) this.current = undefined;
    });
    child.once('exit', () => {
      failed(new HostWorkerError('the host worker exited'));
      this.stuck.delete(child);
      if (this.current?.child === child) this.current = undefined;
    });
    // The worker never keeps warden alive: a call in flight does, by its deadline's timer.
    child.unref();
    child.channel?.unref();
    this.current = { child, ready, answers };
    return this.current;
  }

  // kill ends a worker without waiting for it: SIGKILL, and its channel closed on warden's side. Until
  // its exit is seen it counts as stuck.
  private kill(worker: Worker): void {
    if (this.current === worker) this.current = undefined;
    const child = worker.child;
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    this.stuck.add(child);
    child.kill('SIGKILL');
    if (child.connected) child.disconnect();
  }
}

const NO_ANSWER = 'the host gave no answer';

function send(worker: Worker, req: WorkerRequest): void {
  // A worker that is gone cannot take it; its exit (or the deadline) settles the call.
  if (worker.child.connected) worker.child.send(req, () => undefined);
}

// rebuild turns an error from the worker back into the class the apply path tells apart.
function rebuild(e: WorkerError): Error {
  if (e.name === 'FileRefusedError') return new FileRefusedError(e.message);
  return Object.assign(new Error(e.message), e.code !== undefined ? { code: e.code } : {});
}
