// What `warden apply` tells a person at the end: what changed, what was held and why, what failed.
import { describe, expect, it } from 'vitest';
import { formatApplySummary } from '../../../src/commands/plan-format.js';
import type { PassResult } from '../../../src/controller/controller.js';
import type { Action } from '../../../src/reconcilers/types.js';

const scale = (object: string, replicas: number): Action => ({
  kind: 'scale-service', reconciler: 'replicas', object, serviceId: `id-${object}`, replicas,
  before: { replicas: 1 }, after: { replicas }, disruptive: false, ignored: false,
});

function pass(actions: PassResult['results'][number]['actions']): PassResult {
  return { passId: 1, reasons: ['apply'], startedAt: '', durationMs: 1, leader: true, revision: 'r', results: [{ id: 'replicas', drift: [], actions }] };
}

describe('formatApplySummary', () => {
  it('lists changes, holds once across passes, and failures, then the verdict', () => {
    const text = formatApplySummary([
      pass([{ action: scale('a', 3), outcome: 'applied' }, { action: scale('b', 2), outcome: 'suppressed', reason: 'window' }, { action: scale('c', 2), outcome: 'suppressed', reason: 'cap' }]),
      pass([{ action: scale('b', 2), outcome: 'suppressed', reason: 'window' }, { action: scale('c', 2), outcome: 'applied' }, { action: scale('d', 0), outcome: 'failed', error: 'refused' }]),
    ], false);
    expect(text.split('\n')).toEqual([
      'changed  replicas a: scale-service {"replicas":1} -> {"replicas":3}',
      'changed  replicas c: scale-service {"replicas":1} -> {"replicas":2}',
      'held     replicas b: scale-service {"replicas":1} -> {"replicas":2} (window)',
      'failed   replicas d: scale-service {"replicas":1} -> {"replicas":0}: refused',
      'not converged: 2 changed, 1 held, 1 failed, in 2 pass(es)',
      '',
    ]);
  });
});
