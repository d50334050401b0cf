// What GET /status shows (contract §5): leader, source and revision, the last pass, drift by reconciler,
// suppressed actions, held objects and quorum. Built from the controller's state on each request.
import type { LoadedState } from '../desired-state/source.js';
import type { Drift } from '../reconcilers/types.js';
import { actionView } from '../reconcilers/view.js';
import type { Correction } from './corrections.js';
import type { SuppressReason } from './metrics.js';
import type { PassResult, QuorumStatus } from './pass.js';
import type { HeldObject } from './safety.js';
import { serviceStatuses, type ServiceStatusView } from './service-status.js';

/** ControllerStatus is what GET /status shows. */
export interface ControllerStatus {
  leader: boolean;
  source: string | undefined;
  revision: string | undefined;
  cluster: string | undefined;
  desiredStateValid: boolean;
  desiredStateError: string | undefined;
  /** failedRevision is the revision of the newest load that failed (undefined once a newer one loads). */
  failedRevision: string | undefined;
  engineAnswered: boolean;
  lastPass: Omit<PassResult, 'results' | 'health'> | undefined;
  drift: Record<string, Drift[]>;
  /** services lists every kept service with its sync beside its health, at the last pass that read the cluster. */
  services: ServiceStatusView[];
  /** errors maps a reconciler to why it could not plan at the last pass (absent when every one planned). */
  errors: Record<string, string>;
  suppressed: Array<{ reconciler: string; object: string; action: string; reason: SuppressReason }>;
  held: HeldObject[];
  /** quorum is the Raft membership at the last pass; lost is true when the swarm had no leader. */
  quorum: QuorumStatus | undefined;
  /** corrections are the newest actions warden applied since it started, the newest first (./corrections.ts). */
  corrections: Correction[];
}

/** StatusInputs are the parts of the controller's state that /status shows. */
export interface StatusInputs {
  leader: boolean;
  loaded: LoadedState | undefined;
  loadError: string | undefined;
  failedRevision: string | undefined;
  engineAnswered: boolean;
  lastPass: PassResult | undefined;
  held: HeldObject[];
  quorum: QuorumStatus | undefined;
  corrections: Correction[];
}

/** statusOf builds the /status document: drift and suppressed actions come from the last pass. */
export function statusOf(s: StatusInputs): ControllerStatus {
  const last = s.lastPass;
  const drift: Record<string, Drift[]> = {};
  const errors: Record<string, string> = {};
  const suppressed: ControllerStatus['suppressed'] = [];
  for (const r of last?.results ?? []) {
    drift[r.id] = r.drift;
    if (r.error !== undefined) errors[r.id] = r.error;
    for (const a of r.actions) {
      if (a.outcome === 'suppressed' && a.reason) {
        // From the action's view, as every rendering of an action (style.md §9).
        const view = actionView(a.action);
        suppressed.push({ reconciler: r.id, object: view.object, action: view.kind, reason: a.reason });
      }
    }
  }
  let lastPass: ControllerStatus['lastPass'];
  if (last) {
    const { results: _results, health: _health, ...rest } = last;
    lastPass = rest;
  }
  return {
    leader: s.leader,
    source: s.loaded?.source,
    revision: s.loaded?.revision,
    cluster: s.loaded?.state.cluster,
    desiredStateValid: s.loadError === undefined && s.loaded !== undefined,
    desiredStateError: s.loadError,
    failedRevision: s.failedRevision,
    engineAnswered: s.engineAnswered,
    lastPass,
    drift,
    services: last ? serviceStatuses(last) : [],
    errors,
    suppressed,
    held: s.held,
    quorum: s.quorum,
    corrections: s.corrections,
  };
}
