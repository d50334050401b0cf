import { describe, expect, it } from 'vitest';
import { nodeMatches, parseConstraint, perNodeLimit, platformMatches, servicePlatforms } from '../../../src/reconcilers/constraints.js';
import type { SwarmNode } from '../../../src/docker/port.js';
import { fakeNode, fakeService } from '../../support/fake-port.js';

function node(over: Partial<SwarmNode> = {}): SwarmNode {
  return { ...fakeNode('n1', 'worker'), hostname: 'worker-1', addr: '10.77.1.14', labels: { zone: 'A', 'Disk': 'ssd' }, engineLabels: { os: 'debian' }, ...over };
}

describe('parseConstraint', () => {
  it.each([
    { text: 'node.labels.zone==a', want: { key: 'node.labels.zone', op: '==', value: 'a' } },
    { text: '  node.role  !=  manager ', want: { key: 'node.role', op: '!=', value: 'manager' } },
    { text: 'node.labels.x!=', want: { key: 'node.labels.x', op: '!=', value: '' } },
    { text: 'node.labels.x', want: undefined },
    { text: 'node.labels.x > 3', want: undefined },
  ])('$text', ({ text, want }) => {
    expect(parseConstraint(text)).toEqual(want);
  });
});

describe('nodeMatches', () => {
  it.each([
    { name: 'no constraints: every node', constraints: [], match: true },
    { name: 'hostname ==', constraints: ['node.hostname == worker-1'], match: true },
    { name: 'hostname != itself', constraints: ['node.hostname != worker-1'], match: false },
    { name: 'values are case-insensitive', constraints: ['node.hostname == WORKER-1', 'node.labels.zone == a'], match: true },
    { name: 'attribute names are case-insensitive', constraints: ['Node.Role == worker'], match: true },
    { name: 'label keys are case-sensitive', constraints: ['node.labels.disk == ssd'], match: false },
    { name: 'label key as written', constraints: ['node.labels.Disk == SSD'], match: true },
    { name: 'missing label equals ""', constraints: ['node.labels.rack == '], match: true },
    { name: 'missing label differs from a value', constraints: ['node.labels.rack != r1'], match: true },
    { name: 'missing label == a value: no', constraints: ['node.labels.rack == r1'], match: false },
    { name: 'all must hold', constraints: ['node.role == worker', 'node.labels.zone == b'], match: false },
    { name: 'node.id', constraints: ['node.id == n1'], match: true },
    { name: 'role manager on a worker', constraints: ['node.role == manager'], match: false },
    { name: 'engine labels', constraints: ['engine.labels.os == Debian'], match: true },
    { name: 'platform', constraints: ['node.platform.os == linux', 'node.platform.arch == x86_64'], match: true },
    { name: 'node.ip address', constraints: ['node.ip == 10.77.1.14'], match: true },
    { name: 'node.ip subnet', constraints: ['node.ip == 10.77.1.0/24'], match: true },
    { name: 'node.ip outside a subnet', constraints: ['node.ip != 10.77.2.0/24'], match: true },
    { name: 'node.ip malformed: no node', constraints: ['node.ip != 10.77.1.0/99'], match: false },
    { name: 'unknown attribute: no node', constraints: ['node.colour == red'], match: false },
    { name: 'not a constraint: no node', constraints: ['zone'], match: false },
  ])('$name', ({ constraints, match }) => {
    expect(nodeMatches(node(), constraints)).toBe(match);
  });
});

describe('the scheduler\'s other per-node filters', () => {
  it.each([
    { name: 'no platforms listed: any node', platforms: [], arch: 'x86_64', os: 'linux', want: true },
    { name: 'amd64 is x86_64', platforms: [{ os: 'linux', arch: 'amd64' }], arch: 'x86_64', os: 'linux', want: true },
    { name: 'arm64 is aarch64', platforms: [{ os: '', arch: 'arm64' }], arch: 'aarch64', os: 'linux', want: true },
    { name: 'another architecture', platforms: [{ os: 'linux', arch: 'amd64' }], arch: 'aarch64', os: 'linux', want: false },
    { name: 'another OS', platforms: [{ os: 'windows', arch: '' }], arch: 'x86_64', os: 'linux', want: false },
    { name: 'one of several', platforms: [{ os: 'linux', arch: 'arm64' }, { os: 'linux', arch: 'amd64' }], arch: 'x86_64', os: 'linux', want: true },
  ])('platforms: $name', ({ platforms, arch, os, want }) => {
    expect(platformMatches(node({ platform: { os, arch } }), platforms)).toBe(want);
  });

  it('reads Placement.Platforms from the spec leniently', () => {
    const svc = fakeService('api', 1);
    svc.spec.TaskTemplate = { Placement: { Platforms: [{ OS: 'linux', Architecture: 'arm64' }, { Architecture: 7 }] } };
    expect(servicePlatforms(svc)).toEqual([{ os: 'linux', arch: 'arm64' }, { os: '', arch: '' }]);
  });

  it.each([
    { name: 'nothing limits it', max: 0, ports: undefined, want: Infinity },
    { name: 'max replicas per node', max: 2, ports: undefined, want: 2 },
    { name: 'a port published in host mode: one per node', max: 0, ports: [{ PublishMode: 'host', PublishedPort: 5000, TargetPort: 5000 }], want: 1 },
    { name: 'a port published through the routing mesh does not limit it', max: 3, ports: [{ PublishMode: 'ingress', PublishedPort: 80, TargetPort: 80 }], want: 3 },
  ])('perNodeLimit: $name', ({ max, ports, want }) => {
    const svc = fakeService('api', 4, { maxReplicasPerNode: max });
    if (ports) svc.spec.EndpointSpec = { Ports: ports };
    expect(perNodeLimit(svc)).toBe(want);
  });
});
