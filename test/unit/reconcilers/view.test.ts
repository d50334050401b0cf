// What warden shows of an action is its view: a secret's data, a config's bytes, a credential-named env
// value and a value from a sops file never reach a plan (text or JSON), apply's summary or a log line,
// for any action kind.
import { describe, expect, it } from 'vitest';
import { formatApplySummary, formatPlan, planDocument } from '../../../src/commands/plan-format.js';
import type { PassResult } from '../../../src/controller/controller.js';
import { Corrections } from '../../../src/controller/corrections.js';
import { statusOf } from '../../../src/controller/status.js';
import type { FieldDiff } from '../../../src/desired-state/compose/normalize.js';
import { isCredentialName, maskShown } from '../../../src/desired-state/redact.js';
import { SealedValues } from '../../../src/desired-state/sops/sealed.js';
import type { ServiceSpec } from '../../../src/docker/port.js';
import type { Action, ActionKind, StackObjectState } from '../../../src/reconcilers/types.js';
import { actionView } from '../../../src/reconcilers/view.js';
import { desired, loaded } from '../../support/desired.js';

// What must never be printed: each is unique, so a search of the output cannot miss it or match by chance.
const SECRET_VALUE = 's3cr3t-data-never-shown';
const CONFIG_BYTES = 'config-bytes-never-shown';
const CREDENTIALS = {
  DB_PASSWORD: 'pw-value-never-shown',
  client_secret: 'cs-value-never-shown',
  GitHub_Token: 'tok-value-never-shown',
  api_key: 'key-value-never-shown',
  AWS_CREDENTIALS: 'cred-value-never-shown',
} as const;
const LEAKS = [SECRET_VALUE, CONFIG_BYTES, ...Object.values(CREDENTIALS), b64(SECRET_VALUE), b64(CONFIG_BYTES)];

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

const env = (values: Record<string, string>): string[] => Object.entries(values).map(([k, v]) => `${k}=${v}`);
const oldValues = Object.fromEntries(Object.keys(CREDENTIALS).map((k) => [k, `old-${k}`]));
const spec: ServiceSpec = {
  Name: 'st_web', Labels: {},
  TaskTemplate: { ContainerSpec: { Image: 'busybox:lab', Env: [...env(CREDENTIALS), 'GREETING=hello'] } },
};
// The diffs the stacks reconciler makes of an env change: one per variable, the whole `NAME=value` each side.
const envFields: FieldDiff[] = [
  ...Object.entries(CREDENTIALS).map(([k, v]) => ({ field: `TaskTemplate.ContainerSpec.Env[${k}]`, live: `${k}=old-${k}`, desired: `${k}=${v}`, restarts: true })),
  { field: 'TaskTemplate.ContainerSpec.Env[GREETING]', live: 'GREETING=hi', desired: 'GREETING=hello', restarts: true },
  // A whole container spec on one side only (a service that had none): its Env is inside the value.
  { field: 'TaskTemplate.ContainerSpec', live: undefined, desired: { Env: env(CREDENTIALS) }, restarts: true },
];
const summarize = (side: 'live' | 'desired'): Record<string, unknown> => Object.fromEntries(envFields.map((f) => [f.field, f[side]]));
const base = (reconciler: Action['reconciler'], object: string, before: unknown, after: unknown) => ({ reconciler, object, before, after, disruptive: false, ignored: false });

// One action of every kind, as the reconcilers make them: a new kind fails to compile here until it has one.
const ACTIONS: Record<ActionKind, Action> = {
  'scale-service': { kind: 'scale-service', serviceId: 's1', replicas: 3, ...base('replicas', 'web', { replicas: 1 }, { replicas: 3 }) },
  'update-placement': { kind: 'update-placement', serviceId: 's1', placement: { constraints: ['node.role==worker'] }, ...base('placement', 'web', { constraints: [] }, { constraints: ['node.role==worker'] }) },
  'force-restart': { kind: 'force-restart', serviceId: 's1', ...base('ordering', 'web', { forceUpdate: 1 }, { forceUpdate: 2 }) },
  'update-node': { kind: 'update-node', nodeId: 'n1', labels: { zone: 'a' }, ...base('nodes', 'node-1', { labels: { zone: null } }, { labels: { zone: 'a' } }) },
  'promote-node': { kind: 'promote-node', nodeId: 'n1', ...base('managers', 'node-1', { role: 'worker' }, { role: 'manager' }) },
  'demote-node': { kind: 'demote-node', nodeId: 'n1', ...base('managers', 'node-1', { role: 'manager' }, { role: 'worker' }) },
  'fix-volume': { kind: 'fix-volume', path: '/mnt/v', owner: 1001, recursive: false, ...base('volumes', '/mnt/v', { owner: 0 }, { owner: 1001 }) },
  'create-network': { kind: 'create-network', spec: { Name: 'st_back', Driver: 'overlay', Labels: {} }, ...base('stacks', 'st_back', undefined, { driver: 'overlay' }) },
  'create-file-object': {
    kind: 'create-file-object', objectKind: 'secret', spec: { Name: 'st_api_key_1', Labels: {}, Data: b64(SECRET_VALUE) },
    // Before/after as a careless reconciler might write them: the view must not depend on their being clean.
    ...base('stacks', 'st_api_key_1', undefined, { name: 'st_api_key_1', data: SECRET_VALUE }),
  },
  'label-secret': { kind: 'label-secret', id: 'x1', labels: { 'warden.content-sha256': 'ab'.repeat(32) }, ...base('stacks', 'st_api_key', { labels: {} }, { labels: { 'warden.content-sha256': 'abababababab' } }) },
  'create-service': { kind: 'create-service', spec, image: 'busybox:lab', networks: [], ...base('stacks', 'st_web', undefined, { spec }) },
  'update-service': {
    kind: 'update-service', serviceId: 's1', spec, image: 'busybox:lab', networks: [], fields: envFields, restarts: true,
    ...base('stacks', 'st_web', summarize('live'), summarize('desired')),
  },
  'remove-stack-object': { kind: 'remove-stack-object', objectKind: 'service', id: 's2', ...base('stacks', 'st_old', { image: 'busybox:lab' }, undefined) },
};
const CONFIG: Action = {
  kind: 'create-file-object', objectKind: 'config', spec: { Name: 'st_conf_1', Labels: {}, Data: b64(CONFIG_BYTES) },
  ...base('stacks', 'st_conf_1', undefined, { name: 'st_conf_1', Data: b64(CONFIG_BYTES) }),
};
const ALL = [...Object.values(ACTIONS), CONFIG];

function expectNoLeak(text: string): void {
  for (const leak of LEAKS) expect(text).not.toContain(leak);
}

describe('actionView', () => {
  it.each(ALL.map((a) => [`${a.kind} ${a.object}`, a] as const))('%s: shows kind and object, nothing of what the engine is sent', (_name, a) => {
    const view = actionView(a);
    expect(view).toMatchObject({ kind: a.kind, object: a.object, reconciler: a.reconciler });
    expect(view).not.toHaveProperty('spec');
    expectNoLeak(JSON.stringify(view));
  });

  it('shows a secret and a config as created with `content changed`, never their data', () => {
    expect(actionView(ACTIONS['create-file-object'])).toMatchObject({ objectKind: 'secret', after: { name: 'st_api_key_1', content: 'content changed' } });
    expect(actionView(CONFIG)).toMatchObject({ objectKind: 'config', after: { name: 'st_conf_1', content: 'content changed' } });
    // The label recorded on an adopted secret is its content's hash: named, not shown.
    expect(actionView(ACTIONS['label-secret']).after).toEqual({ labels: ['warden.content-sha256'] });
  });

  it('masks every credential-named env value, whatever its case, on both sides; other values show', () => {
    const view = actionView(ACTIONS['update-service']);
    for (const name of Object.keys(CREDENTIALS)) {
      const field = `TaskTemplate.ContainerSpec.Env[${name}]`;
      expect(view.fields).toContainEqual({ field, live: `${name}=***`, desired: `${name}=***`, restarts: true });
      expect(view.before).toMatchObject({ [field]: `${name}=***` });
      expect(view.after).toMatchObject({ [field]: `${name}=***` });
    }
    expect(view.fields).toContainEqual({ field: 'TaskTemplate.ContainerSpec.Env[GREETING]', live: 'GREETING=hi', desired: 'GREETING=hello', restarts: true });
    expect(view.fields).toContainEqual({ field: 'TaskTemplate.ContainerSpec', desired: { Env: Object.keys(CREDENTIALS).map((k) => `${k}=***`) }, restarts: true });
    expectNoLeak(JSON.stringify(view));
    // The old values too: a rotated password is still a password.
    for (const v of Object.values(oldValues)) expect(JSON.stringify(view)).not.toContain(v);
  });
});

describe('the credential names', () => {
  it.each(['DB_PASSWORD', 'password', 'Client_Secret', 'GH_TOKEN', 'api_key', 'SSH_KEY_FILE', 'aws_credentials', 'GitCredential'])('%s is a credential', (name) => {
    expect(isCredentialName(name)).toBe(true);
    expect(maskShown(`${name}=v`, 'TaskTemplate.ContainerSpec.Env')).toEqual([`${name}=***`][0]);
  });
  it.each(['GREETING', 'WEB_PORT', 'PATH', 'LOG_LEVEL'])('%s is not', (name) => {
    expect(isCredentialName(name)).toBe(false);
    expect(maskShown(`${name}=v`, 'TaskTemplate.ContainerSpec.Env')).toBe(`${name}=v`);
  });
  it('masks a value with `=` in it whole, and leaves a string outside Env alone', () => {
    expect(maskShown('DB_PASSWORD=a=b', 'TaskTemplate.ContainerSpec.Env[DB_PASSWORD]')).toBe('DB_PASSWORD=***');
    expect(maskShown('DB_PASSWORD=a', 'TaskTemplate.ContainerSpec.Args')).toBe('DB_PASSWORD=a');
  });
});

describe('what plan and apply print', () => {
  const objects: StackObjectState[] = [
    { stack: 'st', kind: 'secret', name: 'st_api_key_1', state: 'missing' },
    { stack: 'st', kind: 'config', name: 'st_conf_1', state: 'missing' },
    { stack: 'st', kind: 'service', name: 'st_web', state: 'drift', fields: envFields },
  ];
  const result = (outcome: 'planned' | 'applied' | 'failed' | 'suppressed'): PassResult => ({
    passId: 1, reasons: ['plan'], startedAt: '', durationMs: 1, leader: true, revision: 'r',
    results: [
      { id: 'stacks', drift: [{ object: 'st_web', message: 'spec differs' }], objects, actions: [...Object.values(ACTIONS), CONFIG].filter((a) => a.reconciler === 'stacks').map((action) => ({ action, outcome, ...(outcome === 'suppressed' ? { reason: 'window' as const } : {}), ...(outcome === 'failed' ? { error: 'refused' } : {}) })) },
      { id: 'replicas', drift: [], actions: Object.values(ACTIONS).filter((a) => a.reconciler !== 'stacks').map((action) => ({ action, outcome })) },
    ],
  });

  it.each(['planned', 'applied', 'failed', 'suppressed'] as const)('%s: the text plan, plan -o json, apply\'s summary and /status show none of it', (outcome) => {
    const state = loaded(desired({ cluster: 'lab' }));
    const text = formatPlan(state, result(outcome));
    const json = JSON.stringify(planDocument(state, result(outcome), false), null, 2);
    const summary = formatApplySummary([result(outcome)], false);
    const corrections = new Corrections();
    corrections.record(result(outcome));
    const status = JSON.stringify(statusOf({ leader: true, loaded: state, loadError: undefined, failedRevision: undefined, engineAnswered: true, lastPass: result(outcome), held: [], quorum: undefined, corrections: corrections.list() }));
    if (outcome === 'applied') expect(corrections.list().length).toBe(Object.values(ACTIONS).length + 1);
    for (const out of [text, json, summary, status]) expectNoLeak(out);
    expect(text).toContain('TaskTemplate.ContainerSpec.Env[DB_PASSWORD]: "DB_PASSWORD=***" -> "DB_PASSWORD=***" (restarts)');
    expect(text).toContain('TaskTemplate.ContainerSpec.Env[GREETING]: "GREETING=hi" -> "GREETING=hello" (restarts)');
    expect(JSON.parse(json)).toMatchObject({
      cluster: 'lab', inSync: false,
      reconcilers: [
        {
          id: 'stacks',
          objects: expect.arrayContaining([expect.objectContaining({ name: 'st_web', fields: expect.arrayContaining([{ field: 'TaskTemplate.ContainerSpec.Env[api_key]', live: 'api_key=***', desired: 'api_key=***', restarts: true }]) })]),
          actions: expect.arrayContaining([{ action: expect.objectContaining({ kind: 'create-file-object', objectKind: 'secret', after: { name: 'st_api_key_1', content: 'content changed' } }), outcome, ...(outcome === 'suppressed' ? { reason: 'window' } : {}), ...(outcome === 'failed' ? { error: 'refused' } : {}) }]),
        },
        { id: 'replicas' },
      ],
    });
    expect(json).not.toContain('"spec"');
  });
});

describe('values from sops files', () => {
  const sealed = new SealedValues();
  for (const v of ['registry.example/private:tag-7781', 'sealed-value-7782', 'held-secret-7783']) sealed.add(v);
  const encrypted: FieldDiff = { field: 'TaskTemplate.ContainerSpec.Env[FROM_SOPS]', live: undefined, desired: undefined, restarts: true, encrypted: true };

  it('a field marked encrypted shows `(encrypted) changed` and no values, in the view and both sides', () => {
    const view = actionView({ ...ACTIONS['update-service'], fields: [encrypted] } as Action);
    expect(view.fields).toEqual([{ field: encrypted.field, change: '(encrypted) changed', restarts: true }]);
    expect(view.before).toEqual({ [encrypted.field]: '(encrypted) changed' });
    expect(view.after).toEqual({ [encrypted.field]: '(encrypted) changed' });
  });

  it('an action that carries the sealed values masks what its view shows with them, whatever the kind', () => {
    const image = 'registry.example/private:tag-7781';
    const create = { ...ACTIONS['create-service'], spec: { ...spec, TaskTemplate: { ContainerSpec: { Image: image } } }, image, sealed } as Action;
    expect(actionView(create).after).toEqual({ image: '(encrypted)' });
    const scale = { ...ACTIONS['scale-service'], before: { note: 'sealed-value-7782' }, held: 'held-secret-7783 is in the way', sealed } as Action;
    expect(JSON.stringify(actionView(scale))).not.toMatch(/sealed-value-7782|held-secret-7783/);
    // The field not marked (a reconciler that missed it) is masked by the net too.
    const update = { ...ACTIONS['update-service'], fields: [{ field: 'Labels.x', live: 'sealed-value-7782', desired: 'y', restarts: false }], sealed } as Action;
    expect(actionView(update).fields).toEqual([{ field: 'Labels.x', live: '(encrypted)', desired: 'y', restarts: false }]);
  });

  it('the text plan and plan -o json say `(encrypted) changed` for it', () => {
    const action = { ...ACTIONS['update-service'], fields: [encrypted, envFields[5]!] } as Action;
    const result: PassResult = {
      passId: 1, reasons: ['plan'], startedAt: '', durationMs: 1, leader: true, revision: 'r',
      results: [{ id: 'stacks', drift: [], objects: [{ stack: 'st', kind: 'service', name: 'st_web', state: 'drift', fields: [encrypted] }], actions: [{ action, outcome: 'planned' }] }],
    };
    const state = loaded(desired({ cluster: 'lab' }));
    expect(formatPlan(state, result)).toContain('TaskTemplate.ContainerSpec.Env[FROM_SOPS]: (encrypted) changed (restarts)');
    expect(formatPlan(state, result)).toContain('TaskTemplate.ContainerSpec.Env[GREETING]: "GREETING=hi" -> "GREETING=hello" (restarts)');
    const json = planDocument(state, result, false);
    expect(json.reconcilers[0]!.objects![0]!.fields).toEqual([{ field: encrypted.field, change: '(encrypted) changed', restarts: true }]);
  });
});
