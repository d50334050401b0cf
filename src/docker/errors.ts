// Typed engine errors: the only kind of error the Docker port throws.

/**
 * EngineErrorCode is a stable name for what went wrong, for code to branch on:
 * - version-conflict: "update out of sequence"; re-read and retry.
 * - not-manager: the engine is not a swarm manager (503).
 * - no-quorum: the swarm has no leader (quorum lost).
 * - not-found: no such node, service or task (404).
 * - refused: the engine refused the request as invalid (400, 409, 501, ...); retrying will not help.
 * - unreachable: no answer at all (socket missing, connection refused, timeout).
 * - unknown: anything else, usually a 5xx.
 */
export type EngineErrorCode =
  | 'version-conflict' | 'not-manager' | 'no-quorum' | 'not-found' | 'refused' | 'unreachable' | 'unknown';

/** EngineError is an error from the engine, with its HTTP status (undefined without a response). */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly status: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** classifyEngineError maps an HTTP status and the engine's message to an EngineErrorCode. */
export function classifyEngineError(status: number | undefined, message: string): EngineErrorCode {
  const m = message.toLowerCase();
  if (m.includes('update out of sequence')) return 'version-conflict';
  if (m.includes('is not a swarm manager')) return 'not-manager';
  // A manager without a leader proxies reads and writes to nobody: they end in DeadlineExceeded.
  if (m.includes('does not have a leader') || m.includes('no leader') || m.includes('code = deadlineexceeded')) {
    return 'no-quorum';
  }
  if (status === undefined) return 'unreachable';
  if (status === 404) return 'not-found';
  if (status === 503) return m.includes('leader') ? 'no-quorum' : 'not-manager';
  if (status >= 400 && status < 500) return 'refused';
  if (status === 501) return 'refused';
  return 'unknown';
}
