// The ordering reconciler (contract §2). Being built under issue 9: until then its section validates
// and changes nothing.
import type { Reconciler } from './types.js';

/** ordering: see contract §2. */
export const ordering: Reconciler<'ordering'> = {
  id: 'ordering',
  actions: ['force-restart'],
  plan() {
    return { drift: [], actions: [] };
  },
};
