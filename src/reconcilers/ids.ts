// The reconcilers' ids, in pass order: a module of its own with no imports, so that the desired state's
// schema (its `policy.reconcilers` keys) and the reconcilers' types can both name them without importing
// the registry (index.ts imports every reconciler, which import the desired state's types: a circle).
// index.ts checks at load that its list of reconcilers has exactly these ids in this order.

/** RECONCILER_IDS lists the reconciler ids in pass order (see index.ts for why this order). */
export const RECONCILER_IDS = ['managers', 'nodes', 'stacks', 'replicas', 'placement', 'volumes', 'rebalance', 'ordering'] as const;

/** ReconcilerId names a reconciler (contract §2). */
export type ReconcilerId = (typeof RECONCILER_IDS)[number];
