// The managers reconciler (contract §2). Being built under issue 8: until then its section validates
// and changes nothing.
import type { Reconciler } from './types.js';

/** managers: see contract §2. */
export const managers: Reconciler<'managers'> = {
  id: 'managers',
  actions: ['promote-node', 'demote-node'],
  plan() {
    return { drift: [], actions: [] };
  },
};
