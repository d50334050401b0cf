// The nodes reconciler (contract §2). Being built under issue 8: until then its section validates
// and changes nothing.
import type { Reconciler } from './types.js';

/** nodes: see contract §2. */
export const nodes: Reconciler<'nodes'> = {
  id: 'nodes',
  actions: ['update-node'],
  plan() {
    return { drift: [], actions: [] };
  },
};
