// Following what the engine finishes asynchronously (a role change, a forced restart), off the pass. A pass
// never waits for the engine's own work: the next pass sees it in the snapshot (a node whose role and Raft
// membership disagree, a service whose update is running or whose restarted tasks do not run yet) and
// the plans hold back on their own. What is followed here is for people and for promptness: a progress
// line every 5 s, a line when the engine is done or the deadline passes, and a pass at that moment.
// All followed actions are checked together, once a second, with one services list between them.
import type { Logger } from 'pino';
import type { DockerPort, SwarmService } from '../docker/port.js';
import type { Action } from '../reconcilers/types.js';
import { asynchronous, settleState } from './apply.js';

/** SETTLE_INTERVAL_MS is how often the followed actions are checked (default 1 s). */
export const SETTLE_INTERVAL_MS = 1_000;
/** SETTLE_PROGRESS_MS is how often a progress line is logged for an action still under way (default 5 s). */
export const SETTLE_PROGRESS_MS = 5_000;

/** SettlingOptions wire a Settling. */
export interface SettlingOptions {
  port: DockerPort;
  /** timeoutMs is how long one action is followed before warden stops following it (the controller's settleTimeoutMs). */
  timeoutMs: number;
  /** intervalMs is the polling period (default SETTLE_INTERVAL_MS). */
  intervalMs?: number;
  /** progressEveryMs is how often a progress line is logged (default SETTLE_PROGRESS_MS). */
  progressEveryMs?: number;
  /** onSettled is told when an action is done, timed out or can no longer be followed (the controller asks for a pass). */
  onSettled?: (action: Action, outcome: 'done' | 'timeout' | 'lost') => void;
}

interface Followed {
  action: Action;
  log: Logger;
  started: number;
  deadline: number;
  nextProgress: number;
}

/** Settling follows applied asynchronous actions until the engine is done with them or their deadline passes. */
export class Settling {
  private readonly followed = new Map<string, Followed>();
  private readonly stopper = new AbortController();
  private running: Promise<void> | undefined;
  // The timer between two rounds, and how many callers await idle(): see wait().
  private timer: NodeJS.Timeout | undefined;
  private waiters = 0;

  constructor(private readonly opts: SettlingOptions) {}

  /** size is how many actions are followed now. */
  get size(): number {
    return this.followed.size;
  }

  /**
   * follow starts following an applied action (nothing for one the engine finishes with its write). A
   * newer action on the same object replaces the one followed, with a new deadline.
   */
  follow(action: Action, log: Logger): void {
    if (!asynchronous(action) || this.stopper.signal.aborted) return;
    const now = performance.now();
    const key = 'serviceId' in action ? `service/${action.serviceId}` : 'nodeId' in action ? `node/${action.nodeId}` : action.object;
    this.followed.set(key, { action, log, started: now, deadline: now + this.opts.timeoutMs, nextProgress: now + (this.opts.progressEveryMs ?? SETTLE_PROGRESS_MS) });
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /**
   * idle resolves once nothing is followed any more (each action ends by its deadline), or when `signal`
   * aborts. While it is awaited, the follow-up holds the process open (see wait()).
   */
  async idle(signal?: AbortSignal): Promise<void> {
    const aborted = signal ? new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })) : undefined;
    this.waiters += 1;
    this.timer?.ref();
    try {
      while (this.running && !signal?.aborted) await (aborted ? Promise.race([this.running, aborted]) : this.running);
    } finally {
      this.waiters -= 1;
      if (this.waiters === 0) this.timer?.unref();
    }
  }

  /**
   * stop ends all following at once (SIGTERM); stopping twice is harmless. A check in flight is not
   * awaited: its answer is dropped.
   */
  stop(): void {
    this.stopper.abort();
    this.followed.clear();
  }

  private async run(): Promise<void> {
    const signal = this.stopper.signal;
    while (this.followed.size > 0 && !signal.aborted) {
      if (!(await this.wait(this.opts.intervalMs ?? SETTLE_INTERVAL_MS, signal))) return;
      await this.round();
    }
  }

  // The wait between two rounds; false when stopped. Its timer holds the process open only while someone
  // awaits idle(): a one-shot command that is done must not be held by a follow-up check, but one that
  // waits for the engine (`warden apply` between passes) must be. Between rounds nothing else may be
  // pending, and an unref'd timer would let Node end the process there, with exit code 0, before apply's
  // further passes and its final check (issue 24, 0.2).
  private wait(ms: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (slept: boolean): void => {
        clearTimeout(this.timer);
        this.timer = undefined;
        signal.removeEventListener('abort', stopped);
        resolve(slept);
      };
      const stopped = (): void => done(false);
      if (signal.aborted) return done(false);
      signal.addEventListener('abort', stopped, { once: true });
      this.timer = setTimeout(() => done(true), ms);
      if (this.waiters === 0) this.timer.unref();
    });
  }

  // One round: every followed action checked, the services listed at most once between them.
  private async round(): Promise<void> {
    let services: Promise<SwarmService[]> | undefined;
    const listed = (): Promise<SwarmService[]> => (services ??= this.opts.port.listServices());
    await Promise.all([...this.followed].map(async ([key, f]) => {
      const fields = { object: f.action.object, action: f.action.kind };
      const waitedMs = (): number => Math.round(performance.now() - f.started);
      const end = (outcome: 'done' | 'timeout' | 'lost'): void => {
        // Only if a newer action on the object did not replace this one meanwhile.
        if (this.followed.get(key) !== f) return;
        this.followed.delete(key);
        this.opts.onSettled?.(f.action, outcome);
      };
      try {
        const { done, state } = await settleState(this.opts.port, f.action, listed);
        if (this.stopper.signal.aborted) return;
        const now = performance.now();
        if (done) {
          f.log.info({ ...fields, waitedMs: waitedMs() }, 'the engine finished the change');
          end('done');
        } else if (now >= f.deadline) {
          f.log.warn({ ...fields, state, waitedMs: waitedMs() }, 'the engine has not finished the change yet; later passes look at it again');
          end('timeout');
        } else if (now >= f.nextProgress) {
          f.log.info({ ...fields, state, waitedMs: waitedMs() }, 'waiting for the engine to finish');
          f.nextProgress = now + (this.opts.progressEveryMs ?? SETTLE_PROGRESS_MS);
        }
      } catch (err) {
        if (this.stopper.signal.aborted) return;
        f.log.warn({ ...fields, err }, 'cannot follow the change; later passes look again');
        end('lost');
      }
    }));
  }
}
