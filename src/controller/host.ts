// Observing the host off the pass: the volume paths under the host root and the registry's probe. A hard
// NFS mount whose server is gone blocks lstat for ever; a pass that awaited it would stop correcting
// anything. So a background refresher reads the host, each read with a deadline, never two of a kind at
// once, and a pass takes the last result with when it was taken. What a pass may plan on:
// - the newest answer of the current question (what the desired state asks), if it is at most
//   HOST_MAX_AGE_MS old and the read after it has not failed;
// - a read that failed, or has not answered HOST_READ_TIMEOUT_MS after it started (it may never answer),
//   is an error of the reconciler that reads it (volumes), never "in sync", until a read answers again;
// - before the first answer (at start, or when the question changed) there is nothing yet: the reconciler
//   waits for it without an error, and the answer asks for a pass.
// The registry's probe reports rather than fails: an error, a hang or a stale answer is handed to plans
// as a probe that does not answer (so ordering waits for the registry, as it should).
import type { Logger } from 'pino';
import type { DesiredState } from '../desired-state/types.js';
import { HOST_CALL_TIMEOUT_MS } from '../host/isolated.js';
import type { FileObservation, ProbeObservation } from '../reconcilers/types.js';

/** HostPort is what warden observes outside the engine: files under the host root, the registry's probe. */
export interface HostPort {
  /**
   * inspectPaths reports each desired volume path under the host root; it never follows a symlink. It
   * may reject (with a timeout error, when its own deadline passed), or never answer at all.
   */
  inspectPaths?(volumes: NonNullable<DesiredState['volumes']>, signal?: AbortSignal): Promise<Map<string, FileObservation>>;
  /** probe asks the registry whether it answers (an HTTP GET with a short timeout). */
  probe?(url: string, signal?: AbortSignal): Promise<ProbeObservation>;
}

/**
 * HOST_READ_TIMEOUT_MS bounds one read of the host (default 15 s), plus HOST_READ_PER_VOLUME_MS for each
 * volume after the first; its signal aborts then, and the read counts as failed. It is the backstop: the
 * host worker gives each volume's call 10 s of its own (HOST_CALL_TIMEOUT_MS) and then says which path did
 * not answer, which is what an operator should read, so this deadline comes later, whichever volume hangs.
 */
export const HOST_READ_TIMEOUT_MS = 15_000;
/** HOST_READ_PER_VOLUME_MS is what each volume after the first adds to a read's deadline (the worker's per call). */
export const HOST_READ_PER_VOLUME_MS = HOST_CALL_TIMEOUT_MS;
/** HOST_REFRESH_MS is how often the host is read again without being asked (default 10 s). */
export const HOST_REFRESH_MS = 10_000;
/** HOST_MIN_INTERVAL_MS is the least time between two reads of a kind that passes ask for (default 1 s). */
export const HOST_MIN_INTERVAL_MS = 1_000;
/** HOST_MAX_AGE_MS is how old an answer may be and still be planned on (default 60 s: six refreshes missed). */
export const HOST_MAX_AGE_MS = 60_000;

/** HOST_READERS names the reconcilers that plan on the volume paths: a failed read is their error. */
export const HOST_READERS: ReadonlySet<string> = new Set(['volumes']);

/** HostView is what a pass takes from the host: the last answers, when they were taken, and what is wrong. */
export interface HostView {
  files?: ReadonlyMap<string, FileObservation>;
  /** filesAt is when `files` was read (ms since the epoch). */
  filesAt?: number;
  /** filesError says why the volume paths cannot be planned on now (absent: plan on `files`). */
  filesError?: string;
  /** filesPending is true before the first answer to the current question: nothing to plan on, no error yet. */
  filesPending?: boolean;
  registry?: ProbeObservation;
  /** registryAt is when `registry` was read (ms since the epoch). */
  registryAt?: number;
}

/** HostObserverOptions wire a HostObserver. */
export interface HostObserverOptions {
  host: HostPort;
  /** now is the controller's clock (ms since the epoch): the answers' times are read from it. */
  now(): number;
  log: Logger;
  /** onChange is told when an answer differs from the last one (the controller asks for a pass). */
  onChange(): void;
  readTimeoutMs?: number;
  /** readTimeoutPerVolumeMs is HOST_READ_PER_VOLUME_MS unless given. */
  readTimeoutPerVolumeMs?: number;
  refreshMs?: number;
  minIntervalMs?: number;
  maxAgeMs?: number;
}

/** HostObserver reads the host in the background and keeps the last answers. */
export class HostObserver {
  private readonly files: Reading<Map<string, FileObservation>>;
  private readonly registry: Reading<ProbeObservation>;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly perVolumeMs: number;

  constructor(private readonly opts: HostObserverOptions) {
    this.timeoutMs = opts.readTimeoutMs ?? HOST_READ_TIMEOUT_MS;
    this.perVolumeMs = opts.readTimeoutPerVolumeMs ?? HOST_READ_PER_VOLUME_MS;
    this.maxAgeMs = opts.maxAgeMs ?? HOST_MAX_AGE_MS;
    const common = { now: opts.now, minIntervalMs: opts.minIntervalMs ?? HOST_MIN_INTERVAL_MS, onChange: () => opts.onChange() };
    this.files = new Reading({ ...common, what: 'volume paths', log: opts.log.child({ reconciler: 'volumes' }) });
    this.registry = new Reading({ ...common, what: 'registry probe', log: opts.log.child({ reconciler: 'ordering' }) });
  }

  /** want sets what the desired state asks; a different question drops the old answers and is read at once. */
  want(desired: DesiredState): void {
    const { inspectPaths, probe } = this.opts.host;
    const volumes = desired.volumes;
    // The volumes are read one after another, each within the worker's own deadline: a read of many may
    // take as long as all of them, and is given that long (and an answer that long to age) before it fails.
    const extraMs = Math.max(0, (volumes?.length ?? 0) - 1) * this.perVolumeMs;
    this.files.ask(volumes && inspectPaths ? JSON.stringify(volumes) : undefined, (signal) => inspectPaths!.call(this.opts.host, volumes!, signal), this.timeoutMs + extraMs);
    const url = desired.registry?.probe;
    this.registry.ask(url && probe ? url : undefined, (signal) => probe!.call(this.opts.host, url!, signal), this.timeoutMs);
  }

  /** nudge asks for fresh reads (a pass is running), at most every HOST_MIN_INTERVAL_MS and never two at once. */
  nudge(): void {
    this.files.read(false);
    this.registry.read(false);
  }

  /** filesChanged asks for a fresh read of the volume paths now: warden itself just changed them. */
  filesChanged(): void {
    this.files.read(true);
  }

  /** refresh reads both now and resolves once each answered or its deadline passed (one-shot commands). */
  async refresh(): Promise<void> {
    await Promise.all([this.files.read(true), this.registry.read(true)]);
  }

  /** start reads the host every HOST_REFRESH_MS until the signal aborts; reads in flight are aborted then. */
  async start(signal: AbortSignal): Promise<void> {
    const every = this.opts.refreshMs ?? HOST_REFRESH_MS;
    const timer = setInterval(() => this.nudge(), every);
    timer.unref();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(timer);
    this.files.stop();
    this.registry.stop();
  }

  /** view is what a pass hands to plans now: it never waits. */
  view(): HostView {
    const now = this.opts.now();
    const view: HostView = {};
    const files = this.files.state(now);
    const filesMaxAgeMs = this.maxAgeMs + this.files.timeoutMs - this.timeoutMs;
    if (files.key !== undefined) {
      if (files.value && !files.error && now - files.at! <= filesMaxAgeMs) {
        view.files = files.value;
        view.filesAt = files.at!;
      } else if (files.error) {
        view.filesError = `${files.error}${files.value ? `; the last answer is ${seconds(now - files.at!)} old` : '; no answer yet'}`;
      } else if (files.value) {
        view.filesError = `the last answer is ${seconds(now - files.at!)} old (more than ${seconds(filesMaxAgeMs)}): not planned on`;
      } else {
        view.filesPending = true;
      }
    }
    const probe = this.registry.state(now);
    if (probe.key !== undefined) {
      if (probe.value && !probe.error && now - probe.at! <= this.maxAgeMs) {
        view.registry = probe.value;
        view.registryAt = probe.at!;
      } else {
        // Not answering, as far as warden can tell: ordering waits for the registry.
        const detail = probe.error ?? (probe.value ? `the last probe is ${seconds(now - probe.at!)} old` : 'not probed yet');
        view.registry = { url: probe.key, ok: false, detail };
        view.registryAt = probe.errorAt ?? now;
      }
    }
    return view;
  }
}

interface ReadingOptions {
  what: string;
  log: Logger;
  now(): number;
  minIntervalMs: number;
  onChange(): void;
}

interface ReadingState<T> {
  /** key is the question asked (the probe's URL, or the volumes as JSON); undefined when none is. */
  key?: string;
  value?: T;
  at?: number;
  error?: string;
  errorAt?: number;
}

// One kind of host read: the current question, its last answer and its last error, one read at a time.
class Reading<T> {
  private key: string | undefined;
  private reader: ((signal: AbortSignal) => Promise<T>) | undefined;
  private value: T | undefined;
  private at: number | undefined;
  private error: string | undefined;
  private errorAt: number | undefined;
  // The read in flight: `first` ends at its answer or its deadline, `done` only when the read itself ends.
  private inFlight: { key: string; started: number; first: Promise<void>; done: Promise<void> } | undefined;
  private lastStart = -Infinity;
  private stopped = false;
  // Whether a read of the current question waits for the read of an old one to end (one wait, not one a nudge).
  private rereadQueued = false;
  /** timeoutMs is the current question's deadline per read. */
  timeoutMs = 0;
  private readonly aborts = new Set<AbortController>();

  constructor(private readonly opts: ReadingOptions) {}

  ask(key: string | undefined, reader: (signal: AbortSignal) => Promise<T>, timeoutMs: number): void {
    if (key === this.key) return;
    this.key = key;
    this.timeoutMs = timeoutMs;
    this.reader = key === undefined ? undefined : reader;
    this.value = undefined;
    this.at = undefined;
    this.error = undefined;
    this.errorAt = undefined;
    // A read of the old question may still be in flight: its answer is dropped, and the new question
    // waits for it to end (never two reads of a kind at once: each may hold a thread of the host).
    this.read(true);
  }

  state(now: number): ReadingState<T> {
    const s: ReadingState<T> = {};
    if (this.key !== undefined) s.key = this.key;
    if (this.value !== undefined) {
      s.value = this.value;
      s.at = this.at!;
    }
    // A read that has not answered by its deadline is a failure now, whether or not it ever answers.
    const hung = this.inFlight && this.inFlight.key === this.key && performance.now() - this.inFlight.started > this.timeoutMs;
    if (this.error !== undefined) {
      s.error = this.error;
      s.errorAt = this.errorAt!;
    } else if (hung) {
      s.error = `the ${this.opts.what} read has not answered within ${seconds(this.timeoutMs)}`;
      s.errorAt = now;
    }
    return s;
  }

  // read starts a read unless one is in flight (or, unless `now`, one started less than minIntervalMs ago);
  // it resolves when that read ends (answer, failure or deadline).
  read(now: boolean): Promise<void> {
    if (this.stopped || this.key === undefined || !this.reader) return Promise.resolve();
    if (this.inFlight) {
      // The read in flight answers an old question: ask again once it ends.
      if (this.inFlight.key !== this.key && !this.rereadQueued) {
        this.rereadQueued = true;
        void this.inFlight.done.then(() => {
          this.rereadQueued = false;
          return this.read(true);
        });
      }
      return this.inFlight.first;
    }
    if (!now && performance.now() - this.lastStart < this.opts.minIntervalMs) return Promise.resolve();
    const key = this.key;
    const reader = this.reader;
    const started = performance.now();
    const timeoutMs = this.timeoutMs;
    this.lastStart = started;
    const abort = new AbortController();
    this.aborts.add(abort);
    let deadlineTimer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      deadlineTimer = setTimeout(() => resolve('deadline'), timeoutMs);
      deadlineTimer.unref();
    });
    // Called at once (a reader that throws is a failed read, not an exception here).
    const reading = new Promise<T>((resolve) => resolve(reader(abort.signal)));
    const settled = reading.then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, err: err as Error }),
    );
    // The caller waits for an answer or the deadline, whichever comes first; the read itself stays in
    // flight until it ends, so that a read that hangs is never joined by another of its kind.
    const first = Promise.race([settled, deadline]).then((r) => {
      if (r === 'deadline') {
        abort.abort(new Error('deadline'));
        if (key === this.key) this.fail(`the ${this.opts.what} read has not answered within ${seconds(timeoutMs)}`, started);
      }
    });
    const done = settled.then((r) => {
      clearTimeout(deadlineTimer);
      this.aborts.delete(abort);
      this.inFlight = undefined;
      if (key !== this.key || this.stopped) return;
      if (r.ok) this.answer(r.value, started);
      else if (!abort.signal.aborted) this.fail(`the ${this.opts.what} read failed: ${r.err.message}`, started);
    });
    this.inFlight = { key, started, first, done };
    return first;
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort(new Error('stopping'));
  }

  private answer(value: T, started: number): void {
    const was = { value: this.value, error: this.error };
    this.value = value;
    // When the read started: what it saw may be as old as that.
    this.at = this.opts.now() - Math.round(performance.now() - started);
    this.error = undefined;
    this.errorAt = undefined;
    if (was.error !== undefined) this.opts.log.info({ what: this.opts.what }, 'the host answers again');
    if (was.error !== undefined || !same(was.value, value)) this.opts.onChange();
  }

  private fail(error: string, started: number): void {
    if (this.error === error) return;
    const first = this.error === undefined;
    this.error = error;
    this.errorAt = this.opts.now();
    if (first) this.opts.log.error({ what: this.opts.what, err: error, startedMsAgo: Math.round(performance.now() - started) }, 'cannot observe the host');
    this.opts.onChange();
  }
}

function same(a: unknown, b: unknown): boolean {
  const plain = (x: unknown): unknown => (x instanceof Map ? [...x.entries()] : x);
  return JSON.stringify(plain(a)) === JSON.stringify(plain(b));
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
