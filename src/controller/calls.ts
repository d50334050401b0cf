// What a pass is waiting for. Every call a pass makes (the engine's, the host's files) goes through
// watchCalls, which notes when it answered (liveness, ./controller.ts) and keeps the calls still out, so
// that a pass that waits longer than it should can say on what, within seconds rather than at the engine
// client's 30 s timeout or never (issue 24, 0.1: a first pass that said nothing for two minutes).

/** InFlight is one call a pass awaits: its method, and since when (monotonic ms). */
export interface InFlight {
  call: string;
  since: number;
}

/** Calls tracks the calls out now and when any last answered. */
export class Calls {
  /** lastAnswer is when any watched call last answered or failed (monotonic ms; 0 before any). */
  lastAnswer = 0;
  private readonly out = new Map<number, InFlight>();
  private next = 0;

  /** oldest is the call out longest now, if any. */
  oldest(): InFlight | undefined {
    let found: InFlight | undefined;
    for (const c of this.out.values()) if (!found || c.since < found.since) found = c;
    return found;
  }

  /** outstanding counts the calls out now. */
  get outstanding(): number {
    return this.out.size;
  }

  /** started notes a call; the function it returns notes its answer. */
  started(call: string): () => void {
    const id = ++this.next;
    this.out.set(id, { call, since: performance.now() });
    return () => {
      this.out.delete(id);
      this.lastAnswer = performance.now();
    };
  }
}

/**
 * watchCalls wraps a port so that every call's start and answer (or failure) is noted in `calls`. Methods
 * are looked up at each call, so that tests may replace one on the wrapped object; the events stream is
 * not a call with an answer and is passed as is.
 */
export function watchCalls<T extends object>(target: T, calls: Calls): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function' || prop === 'events') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(t, args);
        if (result instanceof Promise) {
          const answered = calls.started(String(prop));
          result.then(answered, answered);
        }
        return result;
      };
    },
  });
}
