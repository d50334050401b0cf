// Following the engine's events: each one only asks for a pass (level-triggered: a pass re-reads
// everything and never trusts an event's payload). The first event after warden's own write of an object
// is most likely that write's echo; it is looked at a moment later rather than at once.
import type { Logger } from 'pino';
import type { DockerPort } from '../docker/port.js';

/** ECHO_WINDOW_MS is how long after warden writes an object its first event counts as the write's echo (default 2 s). */
export const ECHO_WINDOW_MS = 2_000;
/** ECHO_RECHECK_MS is how soon an echo is looked at all the same (default 1 s). */
export const ECHO_RECHECK_MS = 1_000;

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
 * write, and `<type>-<action>` for any other event.
 */
export async function followEvents(port: DockerPort, signal: AbortSignal, echoes: Echoes, trigger: (reason: string) => void, log: Logger): Promise<void> {
  // Warn once when the stream is lost, not at every failed reconnection while the engine is down.
  let connected = true;
  let echoTimer: NodeJS.Timeout | undefined;
  try {
    for await (const item of port.events(signal)) {
      if (item.type === 'connected') {
        connected = true;
        log.debug('events stream connected');
        // Events may have been missed while the stream was down: look again.
        trigger('events-connected');
      } else if (item.type === 'disconnected') {
        log[connected ? 'warn' : 'debug']({ err: item.error }, 'events stream lost; reconnecting');
        connected = false;
      } else if (echoes.isEcho(item.id)) {
        // Not at once, so that it does not start a pass in the way of a change someone else makes right
        // after. Still level-triggered: nothing is lost.
        echoTimer ??= setTimeout(() => {
          echoTimer = undefined;
          trigger('echo');
        }, ECHO_RECHECK_MS).unref();
      } else {
        trigger(`${item.type}-${item.action}`);
      }
    }
  } catch (err) {
    if (!signal.aborted) log.error({ err }, 'events stream failed');
  } finally {
    clearTimeout(echoTimer);
  }
}
