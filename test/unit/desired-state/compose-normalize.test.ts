// Comparing service specs by meaning: what the engine fills in or reorders compares equal; what changes
// the tasks is listed field by field, lists keyed by identity, with whether the tasks restart.
import { describe, expect, it } from 'vitest';
import { diffServiceSpecs, normalizeServiceSpec } from '../../../src/desired-state/compose/normalize.js';
import { withIds, withoutIds } from '../../../src/desired-state/compose/references.js';
import type { ServiceSpec } from '../../../src/docker/port.js';

const base = (over: Record<string, unknown> = {}, container: Record<string, unknown> = {}): ServiceSpec => ({
  Name: 's_web',
  Labels: { 'com.docker.stack.namespace': 's' },
  TaskTemplate: { ContainerSpec: { Image: 'busybox:lab', Privileges: {}, ...container }, Resources: {}, Placement: {}, Networks: [{ Target: 's_default', Aliases: ['web'] }] },
  Mode: { Replicated: {} },
  EndpointSpec: {},
  ...over,
});

describe('normalizeServiceSpec', () => {
  it.each([
    ['the engine\'s empty objects and nulls', base(), base({ TaskTemplate: {
      ContainerSpec: { Image: 'busybox:lab', Privileges: { CredentialSpec: null, SELinuxContext: null }, Isolation: 'default' },
      Resources: { Limits: {}, Reservations: {} }, Placement: {}, ForceUpdate: 0, Runtime: 'container', Networks: [{ Target: 's_default', Aliases: ['web'] }],
    } })],
    ['Replicated {} and 1 replica', base(), base({ Mode: { Replicated: { Replicas: 1 } } })],
    ['an empty endpoint and vip', base(), base({ EndpointSpec: { Mode: 'vip' } })],
    ['a port without protocol and mode', base({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] } }),
      base({ EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] } })],
    ['update config defaults', base({ UpdateConfig: { Parallelism: 2 } }), base({ UpdateConfig: { Parallelism: 2, FailureAction: 'pause', Order: 'stop-first', MaxFailureRatio: 0 } })],
    ['env in another order', base({}, { Env: ['B=2', 'A=1'] }), base({}, { Env: ['A=1', 'B=2'] })],
    ['constraints in another order and spacing', base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, Placement: { Constraints: ['node.role==worker', 'node.labels.a == b'] } } }),
      base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, Placement: { Constraints: ['node.labels.a == b', 'node.role==worker'] } } })],
    ['a restart policy without condition and "any" (moby stores "" as any)',
      base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, RestartPolicy: { Delay: 5e9 } } }),
      base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, RestartPolicy: { Condition: 'any', Delay: 5e9, MaxAttempts: 0 } } })],
    ['a replicated job without counts and 1 of 1', base({ Mode: { ReplicatedJob: {} } }), base({ Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } } })],
    ['a replicated job without total and total = max concurrent', base({ Mode: { ReplicatedJob: { MaxConcurrent: 3 } } }), base({ Mode: { ReplicatedJob: { MaxConcurrent: 3, TotalCompletions: 3 } } })],
    ['a forced restart counter', base(), base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab', Privileges: {} }, Resources: {}, Placement: {}, ForceUpdate: 3, Networks: [{ Target: 's_default', Aliases: ['web'] }] } })],
  ])('treats %s as equal', (_name, a, b) => {
    expect(diffServiceSpecs(normalizeServiceSpec(a), normalizeServiceSpec(b))).toEqual([]);
  });

  it.each([
    ['0 replicas and none', base({ Mode: { Replicated: { Replicas: 0 } } }), 'Mode.Replicated.Replicas'],
    ['init false and unset', base({}, { Init: false }), 'TaskTemplate.ContainerSpec.Init'],
    ['no restart delay and the default', base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, RestartPolicy: { Condition: 'any', Delay: 0 } } }), 'TaskTemplate.RestartPolicy.Delay'],
  ])('keeps %s apart', (_name, a, field) => {
    const live = normalizeServiceSpec(field.includes('RestartPolicy')
      ? base({ TaskTemplate: { ContainerSpec: { Image: 'busybox:lab' }, RestartPolicy: { Condition: 'any' } } })
      : base());
    expect(diffServiceSpecs(live, normalizeServiceSpec(a)).map((d) => d.field)).toContain(field);
  });
});

describe('diffServiceSpecs', () => {
  it('marks every field of a job as restarting: any update runs the job again', () => {
    const live = normalizeServiceSpec(base({ Labels: { a: '1' }, Mode: { ReplicatedJob: {} } }));
    const desired = normalizeServiceSpec(base({ Labels: { a: '2' }, Mode: { ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 4 } } }));
    expect(diffServiceSpecs(live, desired)).toEqual([
      { field: 'Labels.a', live: '1', desired: '2', restarts: true },
      { field: 'Mode.ReplicatedJob.MaxConcurrent', live: 1, desired: 2, restarts: true },
      { field: 'Mode.ReplicatedJob.TotalCompletions', live: 1, desired: 4, restarts: true },
    ]);
  });

  it('keys lists by identity and says which changes restart tasks', () => {
    const live = normalizeServiceSpec(base({ Labels: { a: '1' } }, { Env: ['A=1', 'B=2'], Mounts: [{ Type: 'volume', Source: 'd', Target: '/d' }] }));
    const desired = normalizeServiceSpec(base({ Labels: { a: '2' }, Mode: { Replicated: { Replicas: 3 } } }, {
      Env: ['A=1', 'B=3', 'C=4'], Mounts: [{ Type: 'volume', Source: 'd', Target: '/d', ReadOnly: true }],
    }));
    expect(diffServiceSpecs(live, desired)).toEqual([
      { field: 'Labels.a', live: '1', desired: '2', restarts: false },
      { field: 'Mode.Replicated.Replicas', live: 1, desired: 3, restarts: false },
      { field: 'TaskTemplate.ContainerSpec.Env[B]', live: 'B=2', desired: 'B=3', restarts: true },
      { field: 'TaskTemplate.ContainerSpec.Env[C]', live: undefined, desired: 'C=4', restarts: true },
      { field: 'TaskTemplate.ContainerSpec.Mounts[/d]', live: { Type: 'volume', Source: 'd', Target: '/d' }, desired: { Type: 'volume', Source: 'd', Target: '/d', ReadOnly: true }, restarts: true },
    ]);
  });
});

describe('references', () => {
  it('fills config and secret IDs, says which are missing, and takes IDs out again (networks by name)', () => {
    const spec = base({}, {
      Secrets: [{ File: { Name: 'k' }, SecretID: '', SecretName: 's_k_1234abcd' }],
      Configs: [{ File: { Name: 'c' }, ConfigID: '', ConfigName: 's_c_5678abcd' }],
    });
    const filled = withIds(spec, { networks: new Map(), configs: new Map([['s_c_5678abcd', 'cid']]), secrets: new Map() });
    expect(filled.missing).toEqual(['secret s_k_1234abcd']);
    expect((filled.spec.TaskTemplate!.ContainerSpec as { Configs: Array<{ ConfigID: string }> }).Configs[0]!.ConfigID).toBe('cid');
    const live = structuredClone(filled.spec);
    (live.TaskTemplate as { Networks: Array<{ Target: string }> }).Networks[0]!.Target = 'net-id';
    expect(withoutIds(live, new Map([['net-id', 's_default']]))).toEqual(spec);
  });
});
