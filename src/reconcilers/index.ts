// The registry of reconcilers, in the order a pass runs them: managers first (quorum matters to every
// other change), then nodes (labels that placement depends on), then services, volumes and ordering.
import type { ReconcilerId } from '../desired-state/types.js';
import { replicas } from './replicas.js';
import type { Reconciler } from './types.js';

/** RECONCILERS lists the reconcilers that exist, in pass order. */
export const RECONCILERS: readonly Reconciler[] = [replicas];

/** reconcilerById finds a reconciler; undefined for one that is not built yet. */
export function reconcilerById(id: ReconcilerId): Reconciler | undefined {
  return RECONCILERS.find((r) => r.id === id);
}
