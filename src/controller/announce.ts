// What the controller says at info level about its own progress, so that an operator who reads only info
// lines can tell a warden that works from one that waits (issue 24, 0.1): the first pass's outcome, which
// node leads and whether this instance acts or stands by (again at each change), and a pass that has been
// waiting for longer than it should, with the call it waits for.
import type { Logger } from 'pino';
import type { InFlight } from './calls.js';
import type { PassResult } from './pass.js';

/** PASS_SLOW_MS is how long a pass may run before it is reported, with what it waits for (default 10 s, again every 10 s). */
export const PASS_SLOW_MS = 10_000;

// How many drift lines the first pass's summary carries at most: enough to say what it waits for.
const FIRST_PASS_DRIFT = 10;

/** Announcer remembers what it said last, so that it speaks only of changes. */
export class Announcer {
  private firstDone = false;
  private role: string | undefined;

  constructor(private readonly log: Logger) {}

  /** passDone reports the first pass, and the role whenever it or the leader changed. */
  passDone(result: PassResult): void {
    if (!this.firstDone) {
      this.firstDone = true;
      this.log.info(firstPassFields(result), 'first pass done');
    }
    // A pass that could not read the cluster says so itself (error level); the role is what it read last.
    if (result.error !== undefined || (result.leaderNode === undefined && !result.leader)) return;
    const role = `${result.leader ? 'lead' : 'standby'} ${result.leaderNode ?? ''}`;
    if (role === this.role) return;
    this.role = role;
    if (result.leader) this.log.info({ leaderNode: result.leaderNode }, 'leading: this instance acts');
    else this.log.info({ leaderNode: result.leaderNode }, 'standing by: another manager leads, this instance only observes');
  }

  /** slow reports a pass that has run `passMs` and waits for `waiting` (undefined: for nothing it called). */
  slow(reasons: readonly string[], passMs: number, waiting: InFlight | undefined, now = performance.now()): void {
    this.log.warn({
      reasons,
      passMs: Math.round(passMs),
      waitingFor: waiting?.call ?? 'nothing the engine was asked',
      waitedMs: waiting ? Math.round(now - waiting.since) : undefined,
    }, 'pass is slow: still waiting');
  }
}

function firstPassFields(result: PassResult): Record<string, unknown> {
  const drift = result.results.flatMap((r) => r.drift.map((d) => `${r.id} ${d.object}: ${d.message}`));
  const actions = result.results.reduce((n, r) => n + r.actions.length, 0);
  const errors = Object.fromEntries(result.results.filter((r) => r.error !== undefined).map((r) => [r.id, r.error]));
  return {
    reasons: result.reasons,
    durationMs: result.durationMs,
    leader: result.leader,
    leaderNode: result.leaderNode,
    actions,
    drift: drift.slice(0, FIRST_PASS_DRIFT),
    ...(drift.length > FIRST_PASS_DRIFT ? { driftMore: drift.length - FIRST_PASS_DRIFT } : {}),
    ...(Object.keys(errors).length > 0 ? { errors } : {}),
    ...(result.error !== undefined ? { error: result.error } : {}),
  };
}
