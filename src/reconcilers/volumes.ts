// The volumes reconciler (contract §2). Being built under issue 10: until then its section validates
// and changes nothing.
import type { Reconciler } from './types.js';

/** volumes: see contract §2. */
export const volumes: Reconciler<'volumes'> = {
  id: 'volumes',
  actions: ['fix-volume'],
  plan() {
    return { drift: [], actions: [] };
  },
};
