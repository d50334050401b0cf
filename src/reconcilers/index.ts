// The registry of reconcilers: the one place that lists them. Their ids, the schema's
// `policy.reconcilers` keys and the metrics' label values all come from here, so a new reconciler is
// one file plus one line below. The order is the pass order: managers first (quorum matters to every
// other change), then nodes (labels that placement depends on), then the deployed stacks (which create
// services the next ones keep), then services, volumes, and last the
// forced restarts (rebalance, ordering), which must see the placement they restart into.
import { managers } from './managers.js';
import { nodes } from './nodes.js';
import { ordering } from './ordering.js';
import { placement } from './placement.js';
import { rebalance } from './rebalance.js';
import { replicas } from './replicas.js';
import { stacks } from './stacks.js';
import { volumes } from './volumes.js';

/** RECONCILERS lists every reconciler, in pass order. */
export const RECONCILERS = [managers, nodes, stacks, replicas, placement, volumes, rebalance, ordering] as const;

/** ReconcilerId names a reconciler (contract §2). */
export type ReconcilerId = (typeof RECONCILERS)[number]['id'];

/** RECONCILER_IDS lists the reconciler ids in pass order. */
export const RECONCILER_IDS: readonly ReconcilerId[] = RECONCILERS.map((r) => r.id);
