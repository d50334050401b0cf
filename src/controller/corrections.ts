// The last corrections warden made: what /status and the status page show under "Last corrections", so
// that a person who opens the page after a page-out sees what warden changed and when, not only what the
// last pass found. Bounded (the newest CORRECTIONS_KEPT), in memory: a restarted warden starts empty, and
// the log lines ("corrected drift") remain the record.
import { actionView } from '../reconcilers/view.js';
import type { PassResult } from './pass.js';

/** CORRECTIONS_KEPT is how many corrections /status lists (the newest first). */
export const CORRECTIONS_KEPT = 20;

/** Correction is one action warden applied: when, at which pass and revision, what and to what. */
export interface Correction {
  at: string;
  passId: number;
  revision: string | undefined;
  reconciler: string;
  /** action is the action's kind (scale-service, update-service, ...), object its object, as a plan shows them. */
  action: string;
  object: string;
  /** partial is true when only part of it was applied (a volume tree fixed over several passes). */
  partial: boolean;
}

/** Corrections keeps the newest applied actions of the passes it is shown. */
export class Corrections {
  private readonly kept: Correction[] = [];

  /** record takes the actions `result` applied, at the pass's start time. */
  record(result: PassResult): void {
    for (const r of result.results) {
      for (const a of r.actions) {
        if (a.outcome !== 'applied' && a.outcome !== 'partial') continue;
        // From the action's view, never the action: it holds what the engine is sent (style.md §9).
        const view = actionView(a.action);
        this.kept.unshift({
          at: result.startedAt, passId: result.passId, revision: result.revision, reconciler: r.id,
          action: view.kind, object: view.object, partial: a.outcome === 'partial',
        });
      }
    }
    this.kept.splice(CORRECTIONS_KEPT);
  }

  /** list is the newest first. */
  list(): Correction[] {
    return [...this.kept];
  }
}
