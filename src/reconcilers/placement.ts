// The placement reconciler (contract §2). Being built under issue 9: until then its section validates
// and changes nothing.
import type { Reconciler } from './types.js';

/** placement: see contract §2. */
export const placement: Reconciler<'placement'> = {
  id: 'placement',
  actions: ['update-placement'],
  plan() {
    return { drift: [], actions: [] };
  },
};
