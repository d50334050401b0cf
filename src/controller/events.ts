// Following the engine's events: each one only asks for a pass (level-triggered: a pass re-reads what it
// plans on and never trusts an event's payload). A service event first has the services cache read the
// one service it names (./cache.ts), so that the pass it asks for plans on that service as it is now. The
// first event after warden's own write of an object is most likely that write's echo; it is looked at a
// moment later rather than at once.
import type { Logger } from 'pino';
import type { DockerPort, EngineEvent, StreamItem } from '../docker/port.js';
import type { ServiceCache } from './cache.js';

/** ECHO_WINDOW_MS is how long after warden writes an object its first event counts as the write's echo (default 2 s). */
export const ECHO_WINDOW_MS = 2_000;
/** ECHO_RECHECK_MS is how soon an echo is looked at all the same (default 1 s). */
export const ECHO_RECHECK_MS = 1_000;
/**
 * MAX_REFRESHES is how many single-service reads events may have out at once (default 16): a burst beyond
 * it (a stack deployed, a resync of every service) is served by one list at the next pass instead.
 */
export const MAX_REFRESHES = 16;

/**
 * EVENTS_QUIET_MS is how long the events stream may say nothing before it is closed and followed anew
 * (default 5 min, the services cache's own maximum age): a quiet swarm costs one relist that often.
 */
export const EVENTS_QUIET_MS = 5 * 60_000;

/** Echoes remembers when warden last wrote each object (by id), to recognise the echo of its own write. */
export class Echoes {
  private readonly wrote = new Map<string, number>();

  /** note records a write of `id` before it is sent: the engine may deliver the event before its HTTP answer. */
  note(id: string): void {
    this.wrote.set(id, performance.now());
  }

  /** forget drops the note of a write that did not happen (nothing to change, or it failed). */
  forget(id: string): void {
    this.wrote.delete(id);
  }

  /** isEcho tells, once, whether an event of `id` comes within ECHO_WINDOW_MS of warden's own write. */
  isEcho(id: string): boolean {
    const at = this.wrote.get(id);
    if (at === undefined || performance.now() - at >= ECHO_WINDOW_MS) return false;
    this.wrote.delete(id);
    return true;
  }
}

/**
 * followEvents turns the engine's events into triggers until the signal aborts: `events-connected` after
 * every (re)connection (events may have been missed), `echo` a moment after an echo of warden's own
 * write, and `<type>-<action>` for any other event. With a cache, a service event's trigger waits for the
 * cache's read of that service; a broken stream invalidates the cache, so that the next pass lists.
 */
export async function followEvents(
  port: DockerPort,
  signal: AbortSignal,
  echoes: Echoes,
  trigger: (reason: string) => void,
  log: Logger,
  cache?: ServiceCache,
  quietMs = EVENTS_QUIET_MS,
): Promise<void> {
  const events = eventHandler(echoes, trigger, log, cache);
  try {
    // One connection per turn: a stream that says nothing for quietMs is closed and followed anew (the
    // reconnection relists), since a connection that died without a word (half-open TCP, a proxy that
    // dropped it) looks exactly like a quiet swarm.
    while (!signal.aborted) {
      const quiet = await followTurn(port, signal, quietMs, events.handle);
      if (signal.aborted) break;
      if (!quiet) throw new Error('the events stream ended');
      log.debug({ quietMs }, 'events stream quiet; following it anew');
      cache?.follow(false);
    }
  } catch (err) {
    if (!signal.aborted) log.error({ err }, 'events stream failed');
  } finally {
    cache?.follow(false);
    events.close();
  }
}

// followTurn follows one connection of the stream, handing each item on, until it ends, the signal aborts
// or it says nothing for quietMs; it resolves to whether it was closed for being quiet.
async function followTurn(port: DockerPort, signal: AbortSignal, quietMs: number, handle: (item: StreamItem) => void): Promise<boolean> {
  const turn = new AbortController();
  const stop = (): void => turn.abort();
  signal.addEventListener('abort', stop, { once: true });
  let quiet = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      quiet = true;
      turn.abort();
    }, quietMs).unref();
  };
  arm();
  try {
    for await (const item of port.events(turn.signal)) {
      arm();
      handle(item);
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
  return quiet;
}

// eventHandler is what each item of the stream does: a (re)connection or a loss is logged and tells the
// cache whether events are followed, and an event asks for a pass (a moment later if it is an echo);
// close drops an echo's pass not yet asked for.
function eventHandler(
  echoes: Echoes,
  trigger: (reason: string) => void,
  log: Logger,
  cache?: ServiceCache,
): { handle: (item: StreamItem) => void; close: () => void } {
  // Warn once when the stream is lost, not at every failed reconnection while the engine is down.
  let connected = true;
  let echoTimer: NodeJS.Timeout | undefined;
  const echo = (): void => {
    // Not at once, so that it does not start a pass in the way of a change someone else makes right
    // after. Still level-triggered: nothing is lost.
    echoTimer ??= setTimeout(() => {
      echoTimer = undefined;
      trigger('echo');
    }, ECHO_RECHECK_MS).unref();
  };
  const refreshed = serviceRefresher(log, cache);
  const handle = (item: StreamItem): void => {
    if (item.type === 'connected') {
      connected = true;
      // Trusted from the next list on (the pass this trigger asks for): events are followed again.
      cache?.follow(true);
      log.debug('events stream connected');
      // Events may have been missed while the stream was down: look again.
      trigger('events-connected');
    } else if (item.type === 'disconnected') {
      log[connected ? 'warn' : 'debug']({ err: item.error }, 'events stream lost; reconnecting');
      connected = false;
      cache?.follow(false);
    } else {
      const then = echoes.isEcho(item.id) ? echo : () => trigger(`${item.type}-${item.action}`);
      if (item.type === 'service') refreshed(item, then);
      else then();
    }
  };
  return { handle, close: () => clearTimeout(echoTimer) };
}

// serviceRefresher has the cache read the service a service event names, then calls `then`; at once
// when there is no cache, when it is not yet synced, or when MAX_REFRESHES reads are already out.
function serviceRefresher(log: Logger, cache?: ServiceCache): (event: EngineEvent, then: () => void) => void {
  let refreshing = 0;
  return (event, then) => {
    if (!cache) {
      then(); // every pass lists
      return;
    }
    if (!cache.synced) {
      // The next pass lists every service; if that list is already out, it may have been answered
      // before this change: the cache reads this service again after it.
      cache.heardOf(event.id);
      then();
      return;
    }
    if (refreshing >= MAX_REFRESHES) {
      cache.invalidate();
      then();
      return;
    }
    refreshing += 1;
    cache.refresh(event.id, event.action === 'remove').catch((err: unknown) => {
      // Nothing learnt about that service: the next pass lists them all rather than plan on a stale one.
      log.debug({ err, service: event.id }, 'cannot read the service an event named; the next pass lists');
      cache.invalidate();
    }).finally(() => {
      refreshing -= 1;
      then();
    });
  };
}
