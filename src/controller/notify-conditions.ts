// What a pass saw that is worth a notification while it lasts: the `held` and `blocked` conditions handed
// to Notifier.present (./notify.ts), which sends each once. Pure: a pass's result and the safety holds in,
// conditions by source out. A source is one reconciler's part of the pass (`pass:<id>`), or the holds
// (`holds`): a reconciler that could not plan this time is left out, so that what it held before is not
// taken as gone and sent again at its next plan.
//
// - held: an object warden leaves alone. A flapping hold and a refused action's backoff (./safety.ts), and
//   an action its reconciler itself holds (a drain that would strand services, a rebalance the scheduler
//   cannot improve: Action.held).
// - blocked: a decision that holds back a whole set of actions and needs a person: quorum lost, a prune or
//   a scale-down of too much of a stack at once (Plan.blocked, and the pass's mass scale-down rule).
import type { DesiredState } from '../desired-state/types.js';
import type { Condition } from './notify.js';
import type { PassResult } from './pass.js';
import type { HeldObject } from './safety.js';

/** HOLDS_SOURCE is the source of the safety holds' conditions. */
export const HOLDS_SOURCE = 'holds';

/**
 * passConditions are the conditions `result` shows, by source; `held` are the safety holds at the end of the
 * pass; `desired` (the state in force) says which stack an object belongs to. Empty when the pass could not run.
 */
export function passConditions(result: PassResult, held: readonly HeldObject[], desired: DesiredState | undefined): Map<string, Condition[]> {
  const out = new Map<string, Condition[]>();
  if (result.error !== undefined) return out;
  const stackOf = stackIndex(desired);
  const withStack = (c: Condition): Condition => {
    const stack = c.stack ?? stackOf(c.object);
    return stack !== undefined ? { ...c, stack } : c;
  };
  for (const rr of result.results) {
    if (rr.error !== undefined || rr.pending !== undefined) continue;
    const conditions: Condition[] = [];
    for (const line of (rr.blocked ?? '').split('\n').filter((l) => l !== '')) {
      const stack = /\bstack ([A-Za-z0-9][A-Za-z0-9_.-]*) would\b/.exec(line)?.[1];
      const object = stack ?? (rr.id === 'managers' ? 'swarm' : rr.id);
      conditions.push({ event: 'blocked', object, ...(stack !== undefined ? { stack } : {}), reason: line });
    }
    for (const a of rr.actions) {
      if (a.outcome !== 'suppressed' || a.reason !== 'held' || a.action.held === undefined) continue;
      conditions.push(withStack({ event: 'held', object: a.action.object, reason: `${a.action.kind} held: ${a.action.held}` }));
    }
    out.set(`pass:${rr.id}`, conditions);
  }
  out.set(HOLDS_SOURCE, held.map((h) => withStack(holdCondition(h))));
  return out;
}

// A safety hold as a condition. Its reason leaves out `until`: a refusal retried with a longer backoff is
// the same state, not a new one.
function holdCondition(h: HeldObject): Condition {
  const reconciler = h.key.slice(0, h.key.indexOf('/'));
  const rest = h.key.slice(reconciler.length + 1);
  if (h.reason === 'flapping') {
    return { event: 'held', object: rest, reason: `flapping (${reconciler}): ${h.why}; warden leaves it alone for a while` };
  }
  // A refusal's key is reconciler/object/kind; an object's name may hold a "/" (a volume's path).
  const kind = rest.slice(rest.lastIndexOf('/') + 1);
  const object = rest.slice(0, rest.lastIndexOf('/'));
  return { event: 'held', object, reason: `${kind} refused: ${h.why}; tried again with backoff` };
}

// Which stack an object belongs to: a service taken from a stack's file, or an object of a deployed stack.
function stackIndex(desired: DesiredState | undefined): (object: string) => string | undefined {
  const index = new Map<string, string>();
  for (const s of desired?.services ?? []) if (s.origin.startsWith('stack:')) index.set(s.name, s.origin.slice('stack:'.length));
  for (const st of desired?.stacks ?? []) {
    for (const o of [...st.services, ...st.networks, ...st.configs, ...st.secrets]) index.set(o.name, st.name);
  }
  return (object) => index.get(object);
}

/** DESIRED_STATE_SOURCE is the source of the desired-state-invalid condition. */
export const DESIRED_STATE_SOURCE = 'desired-state';

/**
 * desiredStateInvalid is the condition of a revision that failed to load (`source` describes where it came
 * from, `problems` is the loader's message, FILE:LINE:COL lines). One revision that fails again the same
 * way is the same condition; a good load ends it (present an empty list).
 */
export function desiredStateInvalid(source: string, problems: string, revision: string | undefined): Condition {
  return { event: 'desired-state-invalid', object: source, reason: problems, ...(revision !== undefined ? { revision } : {}) };
}
