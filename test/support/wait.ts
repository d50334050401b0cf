// waitUntil: poll a condition with a deadline (never a fixed sleep), failing with the last observation.
import { setTimeout as sleep } from 'node:timers/promises';

/** waitUntil polls `check` until it returns a value other than undefined/false, or throws at the deadline. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs ?? 30_000} ms waiting for ${what}; last: ${last instanceof Error ? last.message : String(last)}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}
