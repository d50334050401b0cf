// The soak's invariants, checked over its timeline (the engine's samples, the soak's own steps, warden's
// log lines). Pure: each check reads the timeline up to `now` and says what held, what it could not
// verify, and every violation with its time.
import { DEFAULT_FLAP, type FlapOptions } from '../../src/controller/safety.js';
import type { LogLine, Sample, Timeline } from './timeline.js';

/** Violation is one breach of an invariant, at a time. */
export interface Violation {
  at: number;
  message: string;
}

/** InvariantResult is one invariant's verdict over the timeline so far. */
export interface InvariantResult {
  name: InvariantName;
  ok: boolean;
  /** checked counts what was checked (writes, restarts, episodes). */
  checked: number;
  /** detail says what was checked and what could not be, in a few words. */
  detail: string;
  violations: Violation[];
}

/** InvariantName names the soak's invariants. */
export type InvariantName = 'quorum' | 'leader-not-demoted' | 'writes-from-leader' | 'restart-backoff' | 'correction-backoff' | 'needless-restart';

/** WriteOutcome is what a write line says of the write: it was made, or it was tried and failed. */
export type WriteOutcome = 'applied' | 'failed';

/** WRITE_MESSAGES are warden's log messages that follow a write it made or tried. */
export const WRITE_MESSAGES: Readonly<Record<string, WriteOutcome>> = {
  'corrected drift': 'applied',
  'correction in progress; the next pass continues': 'applied',
  'action failed; the next pass tries again': 'failed',
  'the engine refused the action; it needs the operator': 'failed',
};

/** Write is a write (or a tried write) as warden logged it. */
export interface Write {
  at: number;
  instance: string;
  node: string;
  outcome: WriteOutcome;
  reconciler: string;
  object: string;
  action: string;
  revision: string;
  /** leaderCheck is the leadership read the instance logged with the write, when it logs one. */
  leaderCheck?: { node?: string; hostname?: string; leader?: boolean; at?: number };
}

/** writesOf picks the writes out of warden's lines. */
export function writesOf(logs: readonly LogLine[]): Write[] {
  const out: Write[] = [];
  for (const l of logs) {
    const outcome = WRITE_MESSAGES[String(l.line.msg)];
    if (!outcome) continue;
    const check = l.line.leaderCheck as { node?: string; hostname?: string; leader?: boolean; at?: string } | undefined;
    out.push({
      at: l.at, instance: l.instance, node: l.node, outcome,
      reconciler: String(l.line.reconciler ?? ''), object: String(l.line.object ?? ''), action: String(l.line.action ?? ''),
      revision: String(l.line.revision ?? ''),
      ...(check && typeof check === 'object'
        ? { leaderCheck: { ...check, ...(check.at !== undefined ? { at: Date.parse(check.at) } : {}) } as Write['leaderCheck'] }
        : {}),
    });
  }
  return out;
}

/** Windows are the tolerances of the checks, in ms. */
export interface Windows {
  /** applied: a made write's line follows its request within this long (default 5 s). */
  applied: number;
  /** failed: a failed write's line may follow its request by the request timeout (default 35 s). */
  failed: number;
  /** leaderless: a swarm may elect a leader for this long before it counts as having lost quorum (default 45 s). */
  leaderless: number;
  /** short: reachable managers may be below a majority for this long (a Raft member joining) (default 30 s). */
  short: number;
  /** restartMatch: an engine's forced-update increment and warden's line about it are this close (default 35 s). */
  restartMatch: number;
}

/** DEFAULT_WINDOWS are the tolerances the soak uses. */
export const DEFAULT_WINDOWS: Windows = { applied: 5_000, failed: 35_000, leaderless: 45_000, short: 30_000, restartMatch: 35_000 };

function quorumOf(members: number): number {
  return Math.floor(members / 2) + 1;
}

function leadersIn(samples: readonly Sample[], from: number, to: number): Set<string> {
  const out = new Set<string>();
  for (const s of samples) if (s.at >= from && s.at <= to && s.leader) out.add(s.leader);
  return out;
}

/** soakDownManagers counts the managers the soak had stopped (and not yet seen back) at `at`. */
export function soakDownManagers(t: Pick<Timeline, 'down'>, at: number): number {
  return t.down.filter((d) => d.manager && d.from <= at && (d.to === undefined || d.to >= at)).length;
}

/**
 * checkQuorum: warden never caused quorum loss. An episode is a run of samples in which no manager
 * showed a leader, or the reachable Raft members were fewer than a majority; one longer than the
 * windows allow (an election, a member joining) is quorum lost. It is a violation unless the soak
 * itself had more than one manager down during it, which by design it never does.
 */
export function checkQuorum(t: Pick<Timeline, 'samples' | 'down' | 'logs'>, now: number, w: Windows = DEFAULT_WINDOWS): InvariantResult {
  const violations: Violation[] = [];
  let episodes = 0;
  let longest = 0;
  let start: Sample | undefined;
  let lastBad: Sample | undefined;
  let kind: 'leaderless' | 'short' = 'short';
  const close = (until: number, ongoing: boolean): void => {
    if (!start) return;
    const ms = until - start.at;
    longest = Math.max(longest, ms);
    episodes += 1;
    const allowed = kind === 'leaderless' ? w.leaderless : w.short;
    if (ms > allowed) {
      const times = [start.at, ...samplesBetween(t.samples, start.at, until).map((s) => s.at), until];
      const maxDown = Math.max(...times.map((at) => soakDownManagers(t, at)));
      if (maxDown <= 1) {
        const roleWrites = writesOf(t.logs).filter((x) => (x.action === 'promote-node' || x.action === 'demote-node') && x.at >= start!.at - 120_000 && x.at <= until);
        violations.push({
          at: start.at,
          message: `${kind === 'leaderless' ? 'no manager showed a leader' : 'fewer reachable managers than a majority'} for ${(ms / 1000).toFixed(1)} s` +
            `${ongoing ? ' (still)' : ''} while the soak had ${maxDown} manager(s) down; warden's role changes before it: ` +
            `${roleWrites.length ? roleWrites.map((x) => `${x.action} ${x.object} by ${x.instance}`).join(', ') : 'none'}`,
        });
      }
    }
    start = undefined;
  };
  for (const s of t.samples) {
    if (s.at > now) break;
    const bad = !s.via
      ? 'leaderless'
      : (() => {
        const members = s.nodes.filter((n) => n.reachability !== undefined);
        const reachable = members.filter((n) => n.reachability === 'reachable').length;
        return members.length > 0 && reachable < quorumOf(members.length) ? 'short' : undefined;
      })();
    if (bad) {
      if (!start) {
        start = s;
        kind = bad;
      } else if (bad === 'leaderless') {
        kind = 'leaderless';
      }
      lastBad = s;
    } else if (start) {
      close(s.at, false);
    }
  }
  if (start && lastBad) close(now, true);
  return {
    name: 'quorum', ok: violations.length === 0, checked: episodes, violations,
    detail: `${episodes} episode(s) without a leader or a reachable majority, the longest ${(longest / 1000).toFixed(1)} s`,
  };
}

function samplesBetween(samples: readonly Sample[], from: number, to: number): Sample[] {
  return samples.filter((s) => s.at >= from && s.at <= to);
}

/** checkLeaderNotDemoted: warden never asked to demote the node that led when it asked. */
export function checkLeaderNotDemoted(t: Pick<Timeline, 'samples' | 'logs'>, w: Windows = DEFAULT_WINDOWS): InvariantResult {
  const violations: Violation[] = [];
  const demotes = writesOf(t.logs).filter((x) => x.action === 'demote-node');
  for (const d of demotes) {
    // The leader of the moment: every leader a sample showed from the write's earliest send to its line.
    const leaders = leadersIn(t.samples, d.at - (d.outcome === 'applied' ? w.applied : w.failed), d.at);
    if (leaders.has(d.object)) {
      violations.push({ at: d.at, message: `${d.instance}@${d.node} ${d.outcome === 'applied' ? 'demoted' : 'tried to demote'} ${d.object}, which led then` });
    }
  }
  return { name: 'leader-not-demoted', ok: violations.length === 0, checked: demotes.length, violations, detail: `${demotes.length} demotion(s)` };
}

/**
 * checkWritesFromLeader: every write came from an instance whose engine's node was the leader. With
 * the instance's own leadership check logged on the write (`leaderCheck`), that check must have found
 * its own node leading, and the engine's samples around the check must agree; without it, the samples
 * between the write's earliest send and its line must show the writer's node leading at least once.
 * A write with no sample in its window is counted as unverified, not as a violation.
 */
export function checkWritesFromLeader(t: Pick<Timeline, 'samples' | 'logs'>, w: Windows = DEFAULT_WINDOWS): InvariantResult {
  const violations: Violation[] = [];
  const writes = writesOf(t.logs);
  let unverified = 0;
  let byCheck = 0;
  const idOf = new Map<string, string>();
  for (const s of t.samples) for (const n of s.nodes) idOf.set(n.hostname, n.id);
  for (const x of writes) {
    const what = `${x.instance}@${x.node} ${x.outcome === 'applied' ? 'wrote' : 'tried to write'} ${x.action} ${x.object}`;
    if (x.leaderCheck) {
      byCheck += 1;
      const c = x.leaderCheck;
      const self = c.node === idOf.get(x.node) || c.hostname === x.node;
      if (!c.leader || !self) {
        violations.push({ at: x.at, message: `${what} after its check read ${c.hostname ?? c.node ?? 'another node'} ${c.leader ? 'leading' : 'not leading'}` });
        continue;
      }
      if (c.at !== undefined) {
        const leaders = leadersIn(t.samples, c.at - 2_000, c.at + 2_000);
        if (leaders.size > 0 && !leaders.has(x.node)) {
          violations.push({ at: x.at, message: `${what}: its check said it led, the engine's samples around the check show ${[...leaders].join(', ')}` });
        }
        continue;
      }
    }
    const leaders = leadersIn(t.samples, x.at - (x.outcome === 'applied' ? w.applied : w.failed), x.at + 500);
    if (leaders.size === 0) unverified += 1;
    else if (!leaders.has(x.node)) violations.push({ at: x.at, message: `${what} while the samples show ${[...leaders].join(', ')} leading` });
  }
  return {
    name: 'writes-from-leader', ok: violations.length === 0, checked: writes.length, violations,
    detail: `${writes.length} write(s): ${byCheck} with the instance's own check (leaderCheck), ${unverified} with no sample in their window`,
  };
}

/** Increment is a forced-update counter's rise, as the engine's samples showed it. */
export interface Increment {
  at: number;
  service: string;
  /** to is the counter's value after this rise by one. */
  to: number;
}

/** incrementsOf reads every forced-update increment (ForceUpdate +1) of every service from the samples. */
export function incrementsOf(samples: readonly Sample[]): Increment[] {
  const last = new Map<string, number>();
  const out: Increment[] = [];
  for (const s of samples) {
    for (const svc of s.services) {
      const before = last.get(svc.name);
      if (before !== undefined && svc.forceUpdate > before) {
        for (let v = before + 1; v <= svc.forceUpdate; v++) out.push({ at: s.at, service: svc.name, to: v });
      }
      if (before === undefined || svc.forceUpdate > before) last.set(svc.name, svc.forceUpdate);
    }
  }
  return out;
}

/** FlapReplay is what replaying the flapping rule found: corrections made while held, and how many holds began. */
export interface FlapReplay {
  violations: Array<{ at: number; heldUntil: number }>;
  holds: number;
}

/**
 * replayFlap replays warden's flapping rule (src/controller/safety.ts: `threshold` corrections of an
 * object within `windowMs` hold it for `backoffMs`, doubling up to `maxBackoffMs`) over correction
 * times of one object by one instance under one revision; `toleranceMs` allows for log timestamps.
 */
export function replayFlap(times: readonly number[], flap: FlapOptions = DEFAULT_FLAP, toleranceMs = 1_000): FlapReplay {
  const out: Array<{ at: number; heldUntil: number }> = [];
  let holds = 0;
  let recent: number[] = [];
  let holdUntil = 0;
  let backoff: number | undefined;
  for (const at of [...times].sort((a, b) => a - b)) {
    if (at < holdUntil - toleranceMs) out.push({ at, heldUntil: holdUntil });
    recent = recent.filter((x) => x > at - flap.windowMs);
    recent.push(at);
    if (recent.length >= flap.threshold) {
      backoff = backoff === undefined ? flap.backoffMs : Math.min(backoff * 2, flap.maxBackoffMs);
      holdUntil = at + backoff;
      recent = [];
      holds += 1;
    }
  }
  return { violations: out, holds };
}

// Groups corrections the way warden's own memory is kept: per process, per revision, per object.
function byMemory<T extends { instance: string; revision: string; reconciler: string; object: string }>(items: readonly T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const i of items) {
    const key = `${i.instance} ${i.revision} ${i.reconciler}/${i.object}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  return groups;
}

/**
 * checkRestartBackoff: no service was restarted more often than warden's backoff allows. Restarts are
 * counted from the engine (each ForceUpdate increment in the samples); each is matched to the warden
 * line that asked for it (nearest in time); an increment no warden line explains is a violation (the
 * soak never forces a restart itself), and the matched restarts of one object, by one instance under
 * one revision, must keep the flapping rule.
 */
export function checkRestartBackoff(t: Pick<Timeline, 'samples' | 'logs'>, w: Windows = DEFAULT_WINDOWS, flap: FlapOptions = DEFAULT_FLAP): InvariantResult {
  const violations: Violation[] = [];
  const increments = incrementsOf(t.samples);
  const lines = writesOf(t.logs).filter((x) => x.action === 'force-restart');
  const used = new Set<Write>();
  const matched: Write[] = [];
  for (const inc of increments) {
    const candidates = lines
      .filter((l) => !used.has(l) && l.object === inc.service && Math.abs(l.at - inc.at) <= w.restartMatch)
      // A made write before a failed one, then the nearest.
      .sort((a, b) => (a.outcome === b.outcome ? Math.abs(a.at - inc.at) - Math.abs(b.at - inc.at) : a.outcome === 'applied' ? -1 : 1));
    const line = candidates[0];
    if (!line) {
      violations.push({ at: inc.at, message: `${inc.service} was restarted (ForceUpdate ${inc.to - 1} -> ${inc.to}) with no warden line asking for it` });
      continue;
    }
    used.add(line);
    matched.push(line);
  }
  for (const [key, group] of byMemory(matched)) {
    for (const v of replayFlap(group.map((g) => g.at), flap).violations) {
      violations.push({ at: v.at, message: `${key}: restarted while its flapping hold ran for another ${((v.heldUntil - v.at) / 1000).toFixed(0)} s` });
    }
  }
  const perService = new Map<string, number>();
  for (const i of increments) perService.set(i.service, (perService.get(i.service) ?? 0) + 1);
  return {
    name: 'restart-backoff', ok: violations.length === 0, checked: increments.length, violations,
    detail: `${increments.length} forced restart(s) seen on the engine${perService.size ? ` (${[...perService].map(([s, n]) => `${s} ${n}`).join(', ')})` : ''}, ${matched.length} matched to warden's lines`,
  };
}

/** checkCorrectionBackoff: no object was corrected while warden's own flapping rule held it (every logged correction). */
export function checkCorrectionBackoff(t: Pick<Timeline, 'logs'>, flap: FlapOptions = DEFAULT_FLAP): InvariantResult {
  const violations: Violation[] = [];
  const corrections = writesOf(t.logs).filter((x) => x.outcome === 'applied');
  let holds = 0;
  for (const [key, group] of byMemory(corrections)) {
    const replay = replayFlap(group.map((g) => g.at), flap);
    for (const v of replay.violations) {
      violations.push({ at: v.at, message: `${key}: corrected while its flapping hold ran for another ${((v.heldUntil - v.at) / 1000).toFixed(0)} s` });
    }
    holds += replay.holds;
  }
  return {
    name: 'correction-backoff', ok: violations.length === 0, checked: corrections.length, violations,
    detail: `${corrections.length} correction(s), ${holds} flapping hold(s) by the rule`,
  };
}

/**
 * checkNeedlessRestarts (a finding, not one of the issue's invariants): ordering force-restarts a
 * service only when it runs fewer tasks than it should. A restart by ordering whose service, in every
 * sample of the few seconds before the write, already ran as many tasks as the desired state wants
 * (under each variant in force in the minute before: warden may still read the previous revision)
 * replaced healthy tasks for nothing.
 */
export function checkNeedlessRestarts(t: Pick<Timeline, 'samples' | 'logs'>, wanted: (service: string, at: number) => number | undefined): InvariantResult {
  const violations: Violation[] = [];
  const restarts = writesOf(t.logs).filter((x) => x.outcome === 'applied' && x.action === 'force-restart' && x.reconciler === 'ordering');
  for (const x of restarts) {
    const want = Math.max(wanted(x.object, x.at) ?? Infinity, wanted(x.object, x.at - 60_000) ?? Infinity);
    const before = t.samples.filter((s) => s.via && s.at >= x.at - 5_000 && s.at <= x.at - 500);
    const running = before.map((s) => s.services.find((v) => v.name === x.object)?.running);
    if (before.length === 0 || !Number.isFinite(want) || running.some((r) => r === undefined || r < want)) continue;
    violations.push({
      at: x.at,
      message: `${x.instance}@${x.node} force-restarted ${x.object} although it ran ${Math.min(...(running as number[]))} or more tasks of the ${want} the desired state wants, in every sample of the 5 s before`,
    });
  }
  return {
    name: 'needless-restart', ok: violations.length === 0, checked: restarts.length, violations,
    detail: `${restarts.length} forced restart(s) by ordering, ${violations.length} of a service that already ran what the desired state wants`,
  };
}

/** checkAll runs every invariant over the timeline up to `now`. */
export function checkAll(t: Timeline, now: number, w: Windows = DEFAULT_WINDOWS): InvariantResult[] {
  return [checkQuorum(t, now, w), checkLeaderNotDemoted(t, w), checkWritesFromLeader(t, w), checkRestartBackoff(t, w), checkCorrectionBackoff(t)];
}

/**
 * checkFindings runs the checks that report warden's misbehaviour beyond the issue's invariants: they
 * print and are recorded like the invariants, and do not fail the soak.
 */
export function checkFindings(t: Timeline, wanted: (service: string, at: number) => number | undefined): InvariantResult[] {
  return [checkNeedlessRestarts(t, wanted)];
}
