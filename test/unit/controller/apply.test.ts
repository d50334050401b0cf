// The spec mutations of the apply path: what each action sends, and when a fresh read needs no write.
import { describe, expect, it } from 'vitest';
import { applyAction, mutateNode, mutateService, TerminalActionError } from '../../../src/controller/apply.js';
import { EngineError } from '../../../src/docker/errors.js';
import type { DockerPort } from '../../../src/docker/port.js';
import { FileRefusedError, type FilePort, type FixResult } from '../../../src/host/port.js';
import type { Action, Observed } from '../../../src/reconcilers/types.js';
import { FakePort, fakeNode, fakeService } from '../../support/fake-port.js';

const base = { reconciler: 'replicas', object: 'api', before: {}, after: {}, disruptive: false, ignored: false } as const;

describe('mutateService', () => {
  it('scales, keeping the rest of the spec, and needs no write when already there', () => {
    const svc = fakeService('api', 1);
    const spec = mutateService(svc, { ...base, kind: 'scale-service', serviceId: svc.id, replicas: 3 });
    expect(spec?.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(spec?.TaskTemplate).toEqual(svc.spec.TaskTemplate);
    expect(svc.spec.Mode).toEqual({ Replicated: { Replicas: 1 } }); // the read object is not changed
    expect(mutateService(fakeService('api', 3), { ...base, kind: 'scale-service', serviceId: svc.id, replicas: 3 })).toBeUndefined();
  });

  it('refuses to scale a global service', () => {
    const svc = { ...fakeService('agent', 0), mode: 'global' as const, replicas: undefined };
    expect(() => mutateService(svc, { ...base, kind: 'scale-service', serviceId: svc.id, replicas: 3 })).toThrow(/global, not replicated/);
  });

  it('sets only the placement fields it is given, comparing constraints as sets', () => {
    const svc = { ...fakeService('api', 1), constraints: ['node.role==worker', 'node.labels.a == b'] };
    const same: Action = { ...base, reconciler: 'placement', kind: 'update-placement', serviceId: svc.id, placement: { constraints: ['node.labels.a==b', 'node.role == worker'] } };
    expect(mutateService(svc, same)).toBeUndefined();
    const spec = mutateService(svc, { ...same, kind: 'update-placement', serviceId: svc.id, placement: { preferences: ['node.labels.zone'], maxReplicasPerNode: 1 } });
    expect(spec?.TaskTemplate?.Placement).toEqual({ Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 1 });
  });

  it('bumps ForceUpdate once, and not again when someone forced meanwhile', () => {
    const read = fakeService('api', 1);
    const action: Action = { ...base, reconciler: 'ordering', kind: 'force-restart', serviceId: read.id };
    expect(mutateService(read, action, read)?.TaskTemplate?.ForceUpdate).toBe(1);
    expect(mutateService({ ...read, forceUpdate: 1 }, action, read)).toBeUndefined();
  });
});

describe('mutateNode', () => {
  it('adds and changes labels, leaves other labels alone, and sets availability', () => {
    const node = fakeNode('w1', 'worker');
    node.spec.Labels = { keep: 'me', function: 'app' };
    const action: Action = { ...base, reconciler: 'nodes', object: 'w1', kind: 'update-node', nodeId: 'w1', labels: { function: 'database' }, availability: 'drain' };
    expect(mutateNode(node, action)).toEqual({ Role: 'worker', Availability: 'drain', Labels: { keep: 'me', function: 'database' } });
    expect(mutateNode({ ...node, spec: { Role: 'worker', Availability: 'drain', Labels: { function: 'database' } } }, action)).toBeUndefined();
  });

  it('changes the role for promote and demote, and only when needed', () => {
    const worker = fakeNode('w1', 'worker');
    const promote: Action = { ...base, reconciler: 'managers', object: 'w1', kind: 'promote-node', nodeId: 'w1' };
    expect(mutateNode(worker, promote)?.Role).toBe('manager');
    expect(mutateNode(fakeNode('m1', 'manager'), promote)).toBeUndefined();
    expect(mutateNode(fakeNode('m1', 'manager'), { ...promote, kind: 'demote-node' })?.Role).toBe('worker');
  });
});

describe('applyAction fix-volume', () => {
  const fix: Extract<Action, { kind: 'fix-volume' }> = {
    kind: 'fix-volume', reconciler: 'volumes', object: '/mnt/nas/db', path: '/mnt/nas/db', owner: 70, recursive: true,
    before: {}, after: {}, disruptive: false, ignored: false,
  };
  const snapshot = { info: {} as never, nodes: [], services: [], tasks: [], at: 0 };
  const port = {} as DockerPort;
  const files = (result: FixResult | Error): FilePort => ({
    fix: async () => {
      if (result instanceof Error) throw result;
      return result;
    },
  });

  it.each([
    { name: 'changed: applied', result: { changed: 3, remaining: false }, outcome: 'applied' },
    { name: 'nothing to change on a fresh look: already', result: { changed: 0, remaining: false }, outcome: 'already' },
    { name: 'budget spent with work left: partial', result: { changed: 5000, remaining: true }, outcome: 'partial' },
  ])('$name', async ({ result, outcome }) => {
    expect(await applyAction(port, fix, snapshot, { files: files(result) })).toBe(outcome);
  });

  it('turns a refusal (a symlink, a share gone) into a terminal error, and refuses without a file port', async () => {
    await expect(applyAction(port, fix, snapshot, { files: files(new FileRefusedError('/mnt/nas is a symlink')) })).rejects.toThrow(TerminalActionError);
    await expect(applyAction(port, fix, snapshot)).rejects.toThrow('this warden has no host root to change volumes under');
  });
});

describe('applyAction on a node: a write the engine did not confirm in time', () => {
  const promote: Action = { ...base, reconciler: 'managers', object: 'w1', kind: 'promote-node', nodeId: 'w1' };
  const deadline = new EngineError('no-quorum', 'rpc error: code = DeadlineExceeded desc = context deadline exceeded', 500);
  // A port whose node update answers `err`, having made the change first when `applies` is set.
  function port(applies: boolean): FakePort {
    const p = new FakePort([], [fakeNode('m1', 'manager', true), fakeNode('w1', 'worker')], 'm1');
    const update = p.updateNode.bind(p);
    p.updateNode = async (id, version, spec) => {
      if (applies) await update(id, version, spec);
      throw deadline;
    };
    return p;
  }
  const snapshot = (p: FakePort): Observed => ({ info: {} as never, nodes: p.nodes, services: [], tasks: [], at: 0 });

  it('is applied when the node, read back, has the role asked for', async () => {
    const p = port(true);
    expect(await applyAction(p, promote, snapshot(p))).toBe('applied');
    expect(p.calls.filter((c) => c.startsWith('inspectNode'))).toEqual(['inspectNode w1']);
  });

  it('fails as it did when the node still has its old role', async () => {
    const p = port(false);
    await expect(applyAction(p, promote, snapshot(p))).rejects.toBe(deadline);
  });
});
