// Building desired states and loaded states for unit tests, with the contract's defaults.
import type { LoadedState } from '../../src/desired-state/source.js';
import type { DesiredPolicy, DesiredState } from '../../src/desired-state/types.js';
import type { PlanContext } from '../../src/reconcilers/types.js';

/** desired returns a DesiredState with the contract's default policy, overridden by `over`. */
export function desired(over: Partial<Omit<DesiredState, 'policy'>> & { policy?: Partial<DesiredPolicy> } = {}): DesiredState {
  const { policy, ...rest } = over;
  return {
    cluster: 'test',
    ...rest,
    policy: { mode: 'enforce', reconcilers: {}, maxActionsPerPass: 20, resync: '*/30 * * * * *', ignoreLabel: 'warden.ignore', rebalance: false, ...policy },
  };
}

/** loaded wraps a desired state as a source would deliver it. */
export function loaded(state: DesiredState, revision = 'rev1'): LoadedState {
  return { state, revision, source: 'test' };
}

/** planContext is a PlanContext at `now` with no memory of earlier passes, overridden by `over`. */
export function planContext(over: Partial<PlanContext> = {}): PlanContext {
  return { now: Date.parse('2026-11-21T10:00:00Z'), unreachableSince: new Map(), roleChangeSince: new Map(), lastApplied: () => undefined, ...over };
}
