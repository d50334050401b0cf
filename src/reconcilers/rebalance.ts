// The rebalance reconciler (contract §2). Being built under issue 11: until then its section validates
// and changes nothing.
import type { Reconciler } from './types.js';

/** rebalance: see contract §2. */
export const rebalance: Reconciler<'rebalance'> = {
  id: 'rebalance',
  actions: ['force-restart'],
  plan() {
    return { drift: [], actions: [] };
  },
};
