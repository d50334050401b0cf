// How one-shot commands (apply, recover) report: a summary for people on a terminal, JSON log lines
// (pino, one line per event) for programs, log collectors and pipes.

/** LogFormat is how a one-shot command reports: `text` for people, `json` lines for programs. */
export type LogFormat = 'text' | 'json';

/**
 * logFormatFor is the format a one-shot command uses: the one asked for (`--log-format`, or
 * WARDEN_LOG_FORMAT), else `text` when its output is a terminal and `json` otherwise.
 */
export function logFormatFor(asked: LogFormat | undefined, out: { isTTY?: boolean }): LogFormat {
  return asked ?? (out.isTTY === true ? 'text' : 'json');
}
