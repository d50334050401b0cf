// A deadline for one HTTP request that a garbage collection cannot lose.
//
// The obvious `AbortSignal.any([stop, AbortSignal.timeout(ms)])` is not safe on Node 20: the composite
// signal holds its sources weakly and the timeout's timer holds its signal weakly, so once the garbage
// collector runs while the request waits (a receiver that never answers), the timeout signal is gone and
// the request waits for ever. A webhook that hangs then stalled every later notification to it; the lab's
// notify test found it (docs/reliability.md). Here an ordinary timer, which the event loop holds, aborts a
// controller of our own.

/** Deadline aborts `signal` after `ms`, or when `outer` aborts; call `done()` once the request has ended. */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onOuter = (): void => this.controller.abort(this.outer?.reason);
  private expired = false;

  constructor(ms: number, private readonly outer?: AbortSignal) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError'));
    }, ms);
    if (outer?.aborted) this.onOuter();
    else outer?.addEventListener('abort', this.onOuter, { once: true });
  }

  /** signal is what the request is given. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** timedOut is true once the deadline, not `outer`, ended the request. */
  get timedOut(): boolean {
    return this.expired;
  }

  /** done stops the timer and lets go of `outer`. */
  done(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuter);
  }
}
