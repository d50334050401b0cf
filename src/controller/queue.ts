// The trigger queue: events, the resync schedule, requeues and a new desired state only ask for a pass.
// The queue collects their reasons and says when the next pass is due, so that passes never overlap and
// a burst of triggers costs two or three passes, not one each.
import { setTimeout as sleep } from 'node:timers/promises';

/** TriggerQueue collects the reasons for the next pass and decides when it is due. */
export class TriggerQueue {
  private pending = new Set<string>();
  private firstPendingAt = 0;
  private lastTriggerAt = 0;
  private wake: (() => void) | undefined;
  // True when the queue was woken from idle: that trigger is acted on at once.
  private leading = false;

  /**
   * debounceMs: triggers that arrive during a pass wait, after it, until they have been quiet this long;
   * maxDelayMs bounds how long a steady stream of triggers can hold a pass back.
   */
  constructor(
    private readonly debounceMs: number,
    private readonly maxDelayMs: number,
  ) {}

  /** add asks for a pass for `reason`; reasons that arrive close together are served by one pass. */
  add(reason: string): void {
    // Coalescing runs on the monotonic timer, not an injected clock: it is about real waiting.
    const now = performance.now();
    if (this.pending.size === 0) this.firstPendingAt = now;
    this.lastTriggerAt = now;
    this.pending.add(reason);
    this.wake?.();
  }

  /** next resolves with the reasons of the next pass once it is due, or undefined once the signal aborts. */
  async next(signal: AbortSignal): Promise<string[] | undefined> {
    while (!signal.aborted) {
      if (this.pending.size === 0) {
        const onAbort = (): void => this.wake?.();
        signal.addEventListener('abort', onAbort, { once: true });
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        // Woken from idle by a trigger: that one is acted on at once.
        this.leading = this.pending.size > 0;
        continue;
      }
      // Act on the first trigger at once (the drift it reports is usually all there is), then coalesce:
      // triggers that arrive during a pass wait until they have been quiet for debounceMs, or
      // maxDelayMs since the first, so a burst of events costs two or three passes.
      const now = performance.now();
      const due = this.leading ? now : Math.min(this.lastTriggerAt + this.debounceMs, this.firstPendingAt + this.maxDelayMs);
      if (due > now) {
        await sleep(due - now, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const reasons = [...this.pending];
      this.pending.clear();
      this.leading = false;
      return reasons;
    }
    return undefined;
  }
}
