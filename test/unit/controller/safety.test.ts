import { describe, expect, it } from 'vitest';
import { inWindow, effectiveMode, massScaleDown, Safety } from '../../../src/controller/safety.js';
import type { DesiredStack } from '../../../src/desired-state/compose/types.js';
import type { Action } from '../../../src/reconcilers/types.js';
import { desired } from '../../support/desired.js';

const at = (iso: string): number => new Date(iso).getTime();

describe('inWindow (local time: the tests run with TZ as the process has it)', () => {
  const local = (h: number, m: number): number => new Date(2026, 10, 21, h, m, 0).getTime();
  it.each([
    ['02:00, just opened', '0 2 * * *', 2 * 3_600_000, local(2, 0), true],
    ['03:59, still open', '0 2 * * *', 2 * 3_600_000, local(3, 59), true],
    ['04:00, closed', '0 2 * * *', 2 * 3_600_000, local(4, 0), false],
    ['01:59, not yet', '0 2 * * *', 2 * 3_600_000, local(1, 59), false],
    ['weekdays only, on a Saturday', '0 2 * * 1-5', 2 * 3_600_000, local(2, 30), false],
    ['a window crossing midnight', '30 23 * * *', 60 * 60_000, local(0, 15) + 86_400_000, true],
    ['every 15 minutes for 5', '*/15 * * * *', 5 * 60_000, local(10, 33), true],
    ['every 15 minutes for 5, between', '*/15 * * * *', 5 * 60_000, local(10, 37), false],
  ])('%s', (_name, cron, durationMs, now, expected) => {
    expect(inWindow({ cron, durationMs }, now)).toBe(expected);
  });
});

const scale = (over: Partial<Action> = {}): Action => ({
  kind: 'scale-service', reconciler: 'replicas', object: 'api', serviceId: 'id', replicas: 3,
  before: {}, after: {}, disruptive: false, ignored: false, ...over,
} as Action);

describe('Safety.suppression', () => {
  it('reports the first reason that holds, in order', () => {
    const s = new Safety();
    const now = at('2026-11-21T12:00:00Z');
    const observe = desired({ policy: { mode: 'observe' } });
    expect(s.suppression(scale({ ignored: true }), observe, now, false)).toBe('ignored');
    expect(s.suppression(scale(), observe, now, false)).toBe('observe');
    expect(s.suppression(scale(), desired(), now, true)).toBe('observe');
    const windowed = desired({ policy: { disruptiveWindow: { cron: '0 2 * * *', durationMs: 60_000 } } });
    expect(s.suppression(scale({ disruptive: true }), windowed, new Date(2026, 10, 21, 12, 0).getTime(), false)).toBe('window');
    expect(s.suppression(scale({ disruptive: true }), windowed, new Date(2026, 10, 21, 2, 0, 30).getTime(), false)).toBeUndefined();
    expect(s.suppression(scale({ disruptive: false }), windowed, now, false)).toBeUndefined();
  });

  it('holds a refused action with a doubling backoff, and forgets it when the object\'s desired state changes', () => {
    const s = new Safety();
    const now = at('2026-11-21T12:00:00Z');
    const api = (replicas: number): ReturnType<typeof desired> => desired({ services: [{ name: 'api', replicas, origin: 'services' }] });
    s.onDesired(api(3));
    expect(s.recordRefusal(scale(), now, 'bad').until).toBe('2026-11-21T12:01:00.000Z');
    expect(s.suppression(scale(), desired(), now + 59_000, false)).toBe('backoff');
    expect(s.suppression(scale(), desired(), now + 61_000, false)).toBeUndefined();
    expect(s.recordRefusal(scale(), now + 61_000, 'bad').until).toBe('2026-11-21T12:03:01.000Z');
    s.onDesired(api(4));
    expect(s.suppression(scale(), desired(), now + 62_000, false)).toBeUndefined();
  });

  it('counts corrections in a sliding window before calling an object flapping', () => {
    const s = new Safety({ threshold: 3, windowMs: 600_000, backoffMs: 300_000, maxBackoffMs: 3_600_000 });
    const t = at('2026-11-21T12:00:00Z');
    expect(s.recordCorrection(scale(), t)).toBeUndefined();
    expect(s.recordCorrection(scale(), t + 100_000)).toBeUndefined();
    // The first correction has left the window: two in ten minutes, not three.
    expect(s.recordCorrection(scale(), t + 650_000)).toBeUndefined();
    const hold = s.recordCorrection(scale(), t + 690_000);
    expect(hold).toMatchObject({ key: 'replicas/api', reason: 'flapping', until: new Date(t + 990_000).toISOString() });
    expect(s.suppression(scale(), desired(), t + 989_000, false)).toBe('flapping');
    expect(s.held(t + 989_000)).toHaveLength(1);
    expect(s.held(t + 990_001)).toHaveLength(0);
  });

  it('takes the per-reconciler override over the policy mode', () => {
    expect(effectiveMode(desired({ policy: { mode: 'observe', reconcilers: { replicas: 'enforce' } } }), 'replicas', false)).toBe('enforce');
    expect(effectiveMode(desired({ policy: { reconcilers: { replicas: 'observe' } } }), 'replicas', false)).toBe('observe');
    expect(effectiveMode(desired({ policy: { reconcilers: { replicas: 'enforce' } } }), 'replicas', true)).toBe('observe');
  });
});

describe('holds belong to objects, not to revisions', () => {
  const t = at('2026-11-21T12:00:00Z');
  const base = desired({
    services: [
      { name: 'api', replicas: 3, placement: { constraints: ['node.role == worker'] }, origin: 'services' },
      { name: 'web', replicas: 2, dependsOn: ['api'], origin: 'services' },
    ],
    nodes: [{ match: { hostname: 'db-*' }, labels: { function: 'db' } }],
    volumes: [{ path: '/mnt/nas/pg', owner: 70, recursive: false }, { path: '/mnt/nas/es/data', owner: 1000, recursive: false }],
    managers: { count: 3, replaceUnreachableAfterMs: 300_000 },
    registry: { service: 'registry', address: '10.0.0.5:5000', probe: 'http://10.0.0.5:5000/v2/' },
  });
  const edit = (f: (d: ReturnType<typeof desired>) => void): ReturnType<typeof desired> => {
    const d = structuredClone(base);
    f(d);
    return d;
  };
  const action = (reconciler: Action['reconciler'], object: string, kind: Action['kind'] = 'scale-service'): Action =>
    ({ ...scale(), reconciler, object, kind } as Action);
  // Every kind of hold on one object: a flapping hold and a refusal backoff.
  function holdAll(s: Safety, a: Action): void {
    for (let i = 0; i < 3; i++) s.recordCorrection(a, t + i);
    s.recordRefusal({ ...a, kind: 'update-placement' } as Action, t, 'refused');
  }
  const heldKeys = (s: Safety): string[] => s.held(t + 10).map((h) => `${h.reason} ${h.key}`).sort();

  it.each([
    ['another service\'s replicas', 'replicas', 'api', (d: ReturnType<typeof desired>) => { d.services![1]!.replicas = 5; }, true],
    ['a volume', 'replicas', 'api', (d: ReturnType<typeof desired>) => { d.volumes![1]!.owner = 1001; }, true],
    ['the policy\'s resync', 'replicas', 'api', (d: ReturnType<typeof desired>) => { d.policy.resync = '*/5 * * * * *'; }, true],
    ['its own replicas', 'replicas', 'api', (d: ReturnType<typeof desired>) => { d.services![0]!.replicas = 4; }, false],
    ['its placement, for a replicas hold', 'replicas', 'api', (d: ReturnType<typeof desired>) => { d.services![0]!.placement = {}; }, true],
    ['its placement, for a placement hold', 'placement', 'api', (d: ReturnType<typeof desired>) => { d.services![0]!.placement = {}; }, false],
    ['its dependsOn, for an ordering hold', 'ordering', 'web', (d: ReturnType<typeof desired>) => { d.services![1]!.dependsOn = []; }, false],
    ['the registry, for an ordering hold', 'ordering', 'web', (d: ReturnType<typeof desired>) => { d.registry!.address = '10.0.0.6:5000'; }, false],
    ['another volume, for a volume hold', 'volumes', '/mnt/nas/pg', (d: ReturnType<typeof desired>) => { d.volumes![1]!.owner = 1001; }, true],
    ['its own volume entry', 'volumes', '/mnt/nas/pg', (d: ReturnType<typeof desired>) => { d.volumes![0]!.mode = 0o700; }, false],
    ['the nodes section, for a node hold', 'nodes', 'db-1', (d: ReturnType<typeof desired>) => { d.nodes![0]!.labels = { function: 'database' }; }, false],
    ['a service, for a node hold', 'nodes', 'db-1', (d: ReturnType<typeof desired>) => { d.services![0]!.replicas = 4; }, true],
    ['the managers section, for a managers hold', 'managers', 'manager-2', (d: ReturnType<typeof desired>) => { d.managers!.count = 5; }, false],
    ['the service removed from the file', 'replicas', 'api', (d: ReturnType<typeof desired>) => { d.services!.shift(); }, false],
  ] as const)('a change to %s: holds kept: %s', (_what, reconciler, object, change, kept) => {
    const s = new Safety();
    s.onDesired(base);
    holdAll(s, action(reconciler, object));
    const before = heldKeys(s);
    expect(before).toEqual([`backoff ${reconciler}/${object}/update-placement`, `flapping ${reconciler}/${object}`]);
    s.onDesired(edit(change));
    expect(heldKeys(s)).toEqual(kept ? before : []);
  });

  it('keeps every hold when the same desired state loads again (a commit to another file)', () => {
    const s = new Safety();
    s.onDesired(base);
    holdAll(s, action('replicas', 'api'));
    s.onDesired(structuredClone(base));
    expect(heldKeys(s)).toHaveLength(2);
  });

  it('forgets the count of recent corrections with the object\'s holds, and only theirs', () => {
    const s = new Safety({ threshold: 3, windowMs: 600_000, backoffMs: 300_000, maxBackoffMs: 3_600_000 });
    s.onDesired(base);
    const api = action('replicas', 'api');
    const web = action('replicas', 'web');
    for (const a of [api, api, web, web]) s.recordCorrection(a, t);
    s.onDesired(edit((d) => { d.services![0]!.replicas = 4; }));
    // api starts counting again; web's two corrections still count.
    expect(s.recordCorrection(api, t + 1)).toBeUndefined();
    expect(s.recordCorrection(web, t + 1)).toMatchObject({ key: 'replicas/web', reason: 'flapping' });
  });
});

describe('stacks: holds per object, and mass replica cuts', () => {
  const t = at('2026-11-21T12:00:00Z');
  const svc = (name: string, image: string, replicas: number): DesiredStack['services'][number] =>
    ({ key: name, name: `app_${name}`, image, spec: { Name: `app_${name}`, Mode: { Replicated: { Replicas: replicas } }, TaskTemplate: { ContainerSpec: { Image: image } } } });
  const stackState = (web: string, api: string): ReturnType<typeof desired> => ({
    ...desired({}),
    stacks: [{ name: 'app', file: 'app.yml', prune: false, resolveImage: 'never', services: [svc('web', web, 2), svc('api', api, 2)], networks: [], configs: [], secrets: [] }],
  });
  const update = (object: string, serviceId: string, replicas: number | undefined): Action => ({
    kind: 'update-service', reconciler: 'stacks', object, serviceId, spec: { Name: object, Mode: { Replicated: replicas === undefined ? {} : { Replicas: replicas } } },
    image: 'x', networks: [], fields: [], restarts: false, before: {}, after: {}, disruptive: false, ignored: false,
  });

  it.each([
    ['another service of the stack changed', true, stackState('web:1', 'api:2')],
    ['its own image changed', false, stackState('web:2', 'api:1')],
  ])('a stack service\'s hold: %s, kept: %s', (_what, kept, next) => {
    const s = new Safety();
    s.onDesired(stackState('web:1', 'api:1'));
    const a = { ...update('app_web', 'w', 2) };
    for (let i = 0; i < 3; i++) s.recordCorrection(a, t + i);
    expect(s.held(t + 10)).toHaveLength(1);
    s.onDesired(next);
    expect(s.held(t + 10)).toHaveLength(kept ? 1 : 0);
  });

  const live = [
    { id: 'w', mode: 'replicated', replicas: 3, labels: { 'com.docker.stack.namespace': 'app' } },
    { id: 'a', mode: 'replicated', replicas: 3, labels: { 'com.docker.stack.namespace': 'app' } },
    { id: 'd', mode: 'replicated', replicas: 1, labels: { 'com.docker.stack.namespace': 'app' } },
  ];
  it.each([
    ['replicas 0 for two of three', true, [update('app_web', 'w', 0), update('app_api', 'a', 0)]],
    ['deploy.replicas dropped (1) for two of three', true, [update('app_web', 'w', undefined), update('app_api', 'a', undefined)]],
    ['a lower count for one of three', false, [update('app_web', 'w', 0)]],
    ['a higher count for all', false, [update('app_web', 'w', 5), update('app_api', 'a', 5), update('app_db', 'd', 5)]],
  ])('holds stack updates that lower the replicas of more than half of a stack: %s (held: %s)', (_what, held, actions) => {
    const hold = massScaleDown(actions, live);
    expect(hold !== undefined).toBe(held);
    for (const a of actions) expect(hold?.holds(a) ?? false).toBe(held);
    if (held) expect(hold!.message).toMatch(/^held: stack app would lower the replicas of 2 of its 3 running services at once/);
  });
});

