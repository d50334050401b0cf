// Notifications (contract §2, "Health (beside sync)"; spec.notify): what an operator must hear about
// without asking, POSTed to the webhooks of the desired state in force. Off the reconcile path: a pass
// only hands the notifier what it saw (present, transition), which never waits; each webhook has its own
// bounded queue and one POST in flight, each POST its own deadline, retried with p-retry a bounded number
// of times. A dead or hanging receiver therefore costs a pass nothing, and one webhook's outage never
// delays another's messages.
//
// Never a storm: one POST per object and change of state. Two ways in:
// - present(source, conditions): level-triggered, for what the passes see each time (held, blocked) and a
//   desired state that fails to load. A condition (event + object + reason) is sent when it first appears
//   and not again while it stays; once gone, it may be sent again. So a flapping service notifies once per
//   hold, a refused action once however often its backoff retries, a broken revision once.
// - transition(t): edge-triggered, for the trackers that see a change happen. This is the API that health
//   (degraded, recovered) and rollout tracking (rollout-completed, rollout-failed) call, once per change
//   they see; the notifier still drops a call that repeats the last one for the same object (same event
//   and reason, and for rollouts the same revision), so a tracker that reports its state at every pass
//   does not make a storm either:
//
//     notifier.transition({ event: 'degraded', object: 'shop_api', stack: 'shop', health: 'degraded',
//                           reason: 'task: non-zero exit (1)' });
//     notifier.transition({ event: 'recovered', object: 'shop_api', stack: 'shop', health: 'healthy', reason: 'running 3/3' });
//
// Only the leader sends (`leader`, set after each pass): a standby instance records nothing, so on taking
// over it sends what is true then, once. The URL is a secret: it is read only to POST, and a failure is
// logged with the webhook's urlFile and the error's code or HTTP status, never the URL or the message of
// the HTTP client (which may quote the host).
import type { Logger } from 'pino';
import pRetry, { AbortError } from 'p-retry';
import type { NotifyEvent } from '../desired-state/schema-notify.js';
import type { DesiredNotify } from '../desired-state/types.js';
import { Deadline } from '../deadline.js';
import { buildInfo } from '../version.js';
import type { Metrics } from './metrics.js';
import { body, type Notification } from './notify-format.js';

export type { Notification } from './notify-format.js';

/** Transition is a change of one object's state, as health or rollout tracking saw it. */
export interface Transition {
  event: NotifyEvent;
  /** object is the service (or node, path, stack) the event is about. */
  object: string;
  /** stack is the object's stack (absent: none). */
  stack?: string;
  /** health is the object's health after the change (absent: not a health). */
  health?: string;
  /** reason says why, in the engine's own words where it has them. */
  reason: string;
  /** revision is the desired state's revision the event belongs to (default: the one in force). */
  revision?: string;
}

/** Condition is something true now that is worth one notification while it lasts (held, blocked, desired-state-invalid). */
export type Condition = Transition;

/** Sender POSTs a JSON body to a URL and resolves with the HTTP status; it rejects when no answer came. */
export type Sender = (url: string, body: string, signal: AbortSignal) => Promise<number>;

/** NotifierOptions wire a Notifier; the timings default to what a receiver on the internet needs. */
export interface NotifierOptions {
  logger: Logger;
  metrics: Pick<Metrics, 'notifications'>;
  now?: () => number;
  /** send POSTs one body (default: fetch, with warden's User-Agent). */
  send?: Sender;
  /** timeoutMs bounds one POST, connection to answer (default 5 s). */
  timeoutMs?: number;
  /** retries is how many times a failed POST is tried again (default 2: three tries in all). */
  retries?: number;
  /** backoffMs is the wait before the first retry, doubling, at most 8 times it (default 1 s). */
  backoffMs?: number;
  /** queueCap is how many messages wait for one webhook; past it the oldest is dropped, counted failed (default 100). */
  queueCap?: number;
}

interface Item {
  notification: Notification;
  target: DesiredNotify;
}

// One webhook's queue: messages in order, one POST in flight at a time.
interface Lane {
  items: Item[];
  running: Promise<void> | undefined;
  dropping: boolean;
}

/** Notifier sends notifications to the webhooks of the desired state in force; see the file's comment. */
export class Notifier {
  /** leader is true while this instance acts (default false: nothing is sent until a pass says it leads). */
  leader = false;
  private readonly log: Logger;
  private readonly send: Sender;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly queueCap: number;
  private readonly now: () => number;
  private targets: readonly DesiredNotify[] = [];
  private cluster = '';
  private revision: string | null = null;
  // present(): the conditions sent and still true, by source. transition(): the last one sent, by object.
  private readonly active = new Map<string, Set<string>>();
  private readonly last = new Map<string, string>();
  private readonly lanes = new Map<string, Lane>();
  private signal: AbortSignal | undefined;

  constructor(private readonly opts: NotifierOptions) {
    this.log = opts.logger;
    this.send = opts.send ?? post;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.retries = opts.retries ?? 2;
    this.backoffMs = opts.backoffMs ?? 1_000;
    this.queueCap = opts.queueCap ?? 100;
    this.now = opts.now ?? Date.now;
  }

  /** configure takes the webhooks, cluster and revision of a newly loaded desired state (none: nothing is sent). */
  configure(cluster: string, revision: string, targets: readonly DesiredNotify[] | undefined): void {
    this.cluster = cluster;
    this.revision = revision;
    this.targets = targets ?? [];
  }

  /** transition sends `t` unless it repeats the last transition sent for its object; it never waits. */
  transition(t: Transition): void {
    if (!this.leader) return;
    const family = t.event.startsWith('rollout-') ? 'rollout' : 'health';
    const key = `${family}\0${t.object}`;
    const state = `${t.event}\0${t.reason}${family === 'rollout' ? `\0${t.revision ?? this.revision}` : ''}`;
    if (this.last.get(key) === state) return;
    this.last.set(key, state);
    this.enqueue(t);
  }

  /**
   * present says which conditions `source` sees now: those it did not see last time are sent, those it no
   * longer sees are forgotten (and sent again if they come back). It never waits.
   */
  present(source: string, conditions: readonly Condition[]): void {
    if (!this.leader) {
      this.active.delete(source);
      return;
    }
    const before = this.active.get(source) ?? new Set<string>();
    const now = new Set<string>();
    for (const c of conditions) {
      const key = `${c.event}\0${c.object}\0${c.reason}`;
      if (now.has(key)) continue;
      now.add(key);
      if (!before.has(key)) this.enqueue(c);
    }
    this.active.set(source, now);
  }

  /** start sends what is queued, and what comes, until `signal` aborts; it resolves once every POST in flight has ended. */
  async start(signal: AbortSignal): Promise<void> {
    this.signal = signal;
    for (const [key, lane] of this.lanes) this.drain(key, lane);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    // Messages still queued are dropped with the process (counted failed): the next leader sends what is true then.
    const left = [...this.lanes.values()].flatMap((l) => l.items.splice(0));
    for (const item of left) this.opts.metrics.notifications.inc({ event: item.notification.event, result: 'failed' });
    if (left.length > 0) this.log.warn({ dropped: left.length }, 'notifications not sent: warden is stopping');
    await Promise.all([...this.lanes.values()].map((l) => l.running));
  }

  /** idle resolves once every queue is empty and no POST is in flight (tests; a one-shot command before it exits). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.lanes.values()].map((l) => l.running).filter((r) => r !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  private enqueue(t: Transition): void {
    const notification: Notification = {
      event: t.event,
      cluster: this.cluster,
      stack: t.stack ?? null,
      object: t.object,
      health: t.health ?? null,
      reason: t.reason,
      revision: t.revision ?? this.revision,
      time: new Date(this.now()).toISOString(),
    };
    for (const target of this.targets) {
      if (!target.events.includes(t.event)) continue;
      const key = `${target.urlFile}\0${target.format}`;
      let lane = this.lanes.get(key);
      if (!lane) this.lanes.set(key, (lane = { items: [], running: undefined, dropping: false }));
      lane.items.push({ notification, target });
      // A receiver that cannot keep up loses the oldest messages: what is newest is what is true now.
      while (lane.items.length > this.queueCap) this.dropped(lane, lane.items.shift()!);
      this.drain(key, lane);
    }
  }

  private dropped(lane: Lane, item: Item): void {
    this.opts.metrics.notifications.inc({ event: item.notification.event, result: 'failed' });
    const fields = { webhook: item.target.urlFile, event: item.notification.event, object: item.notification.object, queueCap: this.queueCap };
    // Said once per run of drops, not once per message: a dead receiver must not flood the log either.
    if (!lane.dropping) this.log.warn(fields, 'notification dropped: the webhook\'s queue is full (its receiver does not keep up)');
    else this.log.debug(fields, 'notification dropped: the webhook\'s queue is full');
    lane.dropping = true;
  }

  private drain(key: string, lane: Lane): void {
    if (lane.running || !this.signal || this.signal.aborted) return;
    lane.running = (async () => {
      const signal = this.signal!;
      while (!signal.aborted && lane.items.length > 0) await this.deliver(lane.items.shift()!);
      lane.dropping = false;
    })().finally(() => {
      lane.running = undefined;
      // A message queued between the loop's last look and here would otherwise wait for the next one.
      if (lane.items.length === 0) this.lanes.delete(key);
      else this.drain(key, lane);
    });
  }

  // One message to one webhook: tried until it is answered 2xx, retries run out, or warden stops.
  private async deliver({ notification: n, target }: Item): Promise<void> {
    const signal = this.signal!;
    const text = body(n, target.format);
    const fields = { webhook: target.urlFile, format: target.format, event: n.event, object: n.object };
    try {
      await pRetry(() => this.once(target, text, signal), {
        retries: this.retries,
        minTimeout: this.backoffMs,
        maxTimeout: this.backoffMs * 8,
        signal,
        // The wait between tries never keeps a stopping process alive.
        unref: true,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0) this.log.debug({ ...fields, attempt: attemptNumber, err: shown(error) }, 'notification not delivered; trying again');
        },
      });
      this.opts.metrics.notifications.inc({ event: n.event, result: 'sent' });
      this.log.debug(fields, 'notification sent');
    } catch (err) {
      this.opts.metrics.notifications.inc({ event: n.event, result: 'failed' });
      this.log.warn({ ...fields, err: signal.aborted ? new PostError('warden is stopping') : shown(err) }, 'notification failed');
    }
  }

  private async once(target: DesiredNotify, text: string, stop: AbortSignal): Promise<void> {
    let status: number;
    const deadline = new Deadline(this.timeoutMs, stop);
    try {
      status = await this.send(target.url.reveal(), text, deadline.signal);
    } catch (err) {
      if (stop.aborted) throw new AbortError(new PostError('warden is stopping'));
      if (deadline.timedOut) throw new PostError(`no answer within ${this.timeoutMs / 1000} s`);
      const e = err as Error & { cause?: { code?: unknown } };
      const code = typeof e.cause?.code === 'string' ? e.cause.code : undefined;
      throw new PostError(code !== undefined ? `cannot reach the webhook: ${code}` : 'cannot reach the webhook');
    } finally {
      deadline.done();
    }
    if (status >= 200 && status < 300) return;
    const error = new PostError(`the webhook answered HTTP ${status}`);
    // A request the receiver refuses as such (a revoked URL: Slack's 404 or 410) fails the same way
    // every time; a 408, a 429 and the 5xx are worth another try.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new AbortError(error);
    throw error;
  }
}

// PostError says why one POST failed in words of warden's own, with no URL or host in them.
class PostError extends Error {
  override readonly name = 'PostError';
}

// Only our own errors are logged: never the HTTP client's, whose message may quote the host.
function shown(err: unknown): PostError {
  return err instanceof PostError ? err : new PostError('unexpected error');
}

/** post is the default Sender: fetch, with a JSON body and warden's User-Agent; the answer's body is read and dropped. */
export async function post(url: string, text: string, signal: AbortSignal): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': `swarm-warden/${buildInfo().version}` },
    body: text,
    signal,
  });
  await res.arrayBuffer().catch(() => undefined);
  return res.status;
}
