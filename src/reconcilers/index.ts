// The registry of reconcilers: the one place that lists them. Their ids live in ids.ts (the schema's
// `policy.reconcilers` keys and the metrics' label values come from there), so a new reconciler is one
// file, its id in ids.ts and one line below. The order is the pass order: managers first (quorum matters to every
// other change), then nodes (labels that placement depends on), then the deployed stacks (which create
// services the next ones keep), then services, volumes, and last the
// forced restarts (rebalance, ordering), which must see the placement they restart into.
import { RECONCILER_IDS, type ReconcilerId } from './ids.js';
import { managers } from './managers.js';
import { nodes } from './nodes.js';
import { ordering } from './ordering.js';
import { placement } from './placement.js';
import { rebalance } from './rebalance.js';
import { replicas } from './replicas.js';
import { stacks } from './stacks.js';
import { volumes } from './volumes.js';

export { RECONCILER_IDS, type ReconcilerId };

/** RECONCILERS lists every reconciler, in pass order: the order of RECONCILER_IDS. */
export const RECONCILERS = [managers, nodes, stacks, replicas, placement, volumes, rebalance, ordering] as const;

// A reconciler added here without its id in ids.ts, or listed in another order, fails at load rather than
// leaving the schema or the metrics without it.
if (RECONCILERS.map((r) => r.id).join() !== RECONCILER_IDS.join()) {
  throw new Error(`reconcilers: the registry lists ${RECONCILERS.map((r) => r.id).join(', ')} but ids.ts ${RECONCILER_IDS.join(', ')}`);
}
