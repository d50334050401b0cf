// Sync and health side by side: drift joined to each kept service's health, what warden holds shown as
// suspended, and the table `warden status` and the text plan print.
import { describe, expect, it } from 'vitest';
import type { ActionOutcome } from '../../../src/controller/act.js';
import type { KeptServiceHealth } from '../../../src/controller/health.js';
import { healthRecheckMs, heldServices, HEALTH_RECHECK_MS, serviceStatuses } from '../../../src/controller/service-status.js';
import type { ReconcilerResult } from '../../../src/controller/pass.js';
import { age, formatStatusTable } from '../../../src/commands/status-format.js';
import type { Action } from '../../../src/reconcilers/types.js';

const scale = (object: string): Action => ({
  kind: 'scale-service', reconciler: 'replicas', object, serviceId: `id-${object}`, replicas: 3, before: { replicas: 1 }, after: { replicas: 3 }, disruptive: false, ignored: false,
});
const result = (id: ReconcilerResult['id'], over: Partial<ReconcilerResult> = {}): ReconcilerResult => ({ id, drift: [], actions: [], ...over });
const health = (service: string, over: Partial<KeptServiceHealth> = {}): KeptServiceHealth => ({ stack: 'app', service, health: 'healthy', reason: '', running: 1, desired: 1, ...over });

describe('heldServices', () => {
  it.each<[string, ActionOutcome, string | undefined]>([
    ['observe mode', { action: scale('api'), outcome: 'suppressed', reason: 'observe' }, 'observe mode: a pass would scale-service (replicas); warden changes nothing'],
    ['flapping, with the hold\'s why', { action: scale('api'), outcome: 'suppressed', reason: 'flapping' },
      'held by warden (flapping): corrected 3 times in 10 min; fix the file or what changes it back'],
    ['a disruptive window is no hold of the service', { action: scale('api'), outcome: 'suppressed', reason: 'window' }, undefined],
    ['planned', { action: scale('api'), outcome: 'planned' }, undefined],
  ])('%s', (_n, outcome, why) => {
    const held = heldServices([result('replicas', { actions: [outcome] })], () => 'corrected 3 times in 10 min');
    expect(held.get('api')).toBe(why);
  });
});

describe('serviceStatuses', () => {
  it('shows each kept service\'s drift beside its health, and health never as drift', () => {
    const views = serviceStatuses({
      results: [
        result('replicas', { drift: [{ object: 'app_web', message: 'replicas 1 (wants 3)' }] }),
        result('stacks', { objects: [{ stack: 'app', kind: 'service', name: 'app_db', state: 'missing' }, { stack: 'app', kind: 'network', name: 'app_net', state: 'drift' }] }),
      ],
      health: [health('app_web'), health('app_db', { health: 'missing', reason: 'not in the swarm', running: 0 }), health('app_job', { health: 'degraded', reason: 'task: non-zero exit (1)', running: 0 })],
    });
    expect(views.map((v) => [v.service, v.sync, v.drift, v.health])).toEqual([
      ['app_web', 'drift', ['replicas: replicas 1 (wants 3)'], 'healthy'],
      ['app_db', 'drift', ['stacks: missing'], 'missing'],
      ['app_job', 'in_sync', [], 'degraded'],
    ]);
  });

  it('asks the daemon to look again while a service progresses', () => {
    expect(healthRecheckMs({ health: [health('a'), health('b', { health: 'progressing' })] })).toBe(HEALTH_RECHECK_MS);
    expect(healthRecheckMs({ health: [health('a'), health('b', { health: 'degraded' })] })).toBe(Infinity);
  });
});

describe('formatStatusTable', () => {
  const NOW = Date.parse('2026-12-05T10:00:00Z');
  it('prints one row per service under STACK SERVICE SYNC HEALTH RUNNING REASON UPDATED, a reason on one line', () => {
    const table = formatStatusTable([
      { stack: 'app', service: 'app_web', sync: 'in_sync', drift: [], health: 'healthy', reason: '', running: 3, desired: 3, updated: '2026-12-05T09:55:00Z' },
      { stack: '', service: 'api', sync: 'in_sync', drift: [], health: 'degraded', reason: 'No such image:\n x:1', running: 0, desired: 1, updated: '2026-12-03T10:00:00Z' },
    ], NOW);
    expect(table.split('\n')).toEqual([
      'STACK   SERVICE   SYNC      HEALTH     RUNNING   REASON               UPDATED',
      'app     app_web   in_sync   healthy    3/3       -                    5m ago',
      '-       api       in_sync   degraded   0/1       No such image: x:1   2d ago',
      '',
    ]);
  });

  it.each([['2026-12-05T09:59:30Z', '30s ago'], ['2026-12-05T07:00:00Z', '3h ago'], [undefined, '']])('age %s', (iso, shown) => {
    expect(age(iso, NOW)).toBe(shown);
  });
});
