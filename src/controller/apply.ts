// The one path through which every action reaches the engine. It writes the whole spec with the version
// it read; on "update out of sequence" it re-reads and, when the change is still needed, tries again with
// backoff. Refusals the operator must fix end the attempt at once (p-retry's AbortError). Every write,
// retries included, is preceded by the caller's guard (the leadership check).
import pRetry from 'p-retry';
import { EngineError } from '../docker/errors.js';
import type { DockerPort, NodeSpec, ServiceSpec, SwarmNode, SwarmService } from '../docker/port.js';
import { FileRefusedError, type FileChange, type FilePort } from '../host/port.js';
import type { Action, Observed } from '../reconcilers/types.js';
import { applyStackAction, isStackPort, StackRefusal } from './stack-apply.js';
import { sameConstraints } from '../reconcilers/compare.js';

/**
 * ApplyResult says what applying did: `applied`; `already` when a fresh read showed nothing to change;
 * `partial` when a bounded action (a recursive volume fix) made progress and the next pass goes on.
 */
export type ApplyResult = 'applied' | 'already' | 'partial';

/** ApplyOptions tune the conflict retries; defaults: 5 retries from 10 ms, doubling. */
export interface ApplyOptions {
  retries?: number;
  minTimeoutMs?: number;
  signal?: AbortSignal;
  /** onConflict is told of each version conflict (for logs and tests). */
  onConflict?: (attempt: number, error: EngineError) => void;
  /** files changes directories under the host root (fix-volume); without it fix-volume is refused. */
  files?: FilePort;
  /** onFileChange is told of each directory or file a fix-volume changed (one log line each). */
  onFileChange?: (change: FileChange) => void;
  /**
   * beforeWrite runs just before each write (every update call, retries included, and a volume fix); when
   * it throws, nothing is written and the error ends the action (default: no guard).
   */
  beforeWrite?: () => Promise<void>;
  /** registryAuth returns the X-Registry-Auth a service write sends for an image (default none). */
  registryAuth?: (image: string) => string | undefined;
}

/** TerminalActionError is an action the engine refused for a reason a retry cannot fix. */
export class TerminalActionError extends Error {
  override readonly name = 'TerminalActionError';
}

/**
 * tookEffect says whether a node write that ended in `err` was done anyway. A manager that waits for the
 * Raft to commit a role change answers DeadlineExceeded when the commit is slow (a loaded 20.10 did, and the
 * promotion was made): the node is read back, and the write counts as applied when nothing is left to change.
 * An engine that cannot even be read leaves the error as it was.
 */
async function tookEffect(port: DockerPort, nodeId: string, action: Action, err: unknown): Promise<boolean> {
  if (!(err instanceof EngineError && err.code === 'no-quorum')) return false;
  const now = await port.inspectNode(nodeId).catch(() => undefined);
  return now !== undefined && mutateNode(now, action) === undefined;
}

/** applyAction carries out one action; the snapshot's object and version are used for the first try. */
export async function applyAction(port: DockerPort, action: Action, snapshot: Observed, opts: ApplyOptions = {}): Promise<ApplyResult> {
  switch (action.kind) {
    case 'scale-service':
    case 'update-placement':
    case 'force-restart': {
      const first = snapshot.services.find((s) => s.id === action.serviceId);
      return withConflictRetry(opts, first, (id) => port.inspectService(id), action.serviceId, async (svc) => {
        const spec = mutateService(svc, action, first);
        if (!spec) return 'already';
        await opts.beforeWrite?.();
        await port.updateService(svc.id, svc.version, spec);
        return 'applied';
      });
    }
    case 'update-node':
    case 'promote-node':
    case 'demote-node': {
      const first = snapshot.nodes.find((n) => n.id === action.nodeId);
      return withConflictRetry(opts, first, (id) => port.inspectNode(id), action.nodeId, async (node) => {
        const spec = mutateNode(node, action);
        if (!spec) return 'already';
        await opts.beforeWrite?.();
        try {
          await port.updateNode(node.id, node.version, spec);
        } catch (err) {
          if (!(await tookEffect(port, node.id, action, err))) throw err;
        }
        return 'applied';
      });
    }
    case 'fix-volume': {
      if (!opts.files) throw new TerminalActionError('this warden has no host root to change volumes under');
      await opts.beforeWrite?.();
      try {
        const done = await opts.files.fix(action, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onFileChange ? { onChange: opts.onFileChange } : {}) });
        if (done.remaining) return 'partial';
        return done.changed > 0 ? 'applied' : 'already';
      } catch (err) {
        // A symlink or a share that is gone will not change on a retry: the operator must look.
        if (err instanceof FileRefusedError) throw new TerminalActionError(err.message, { cause: err });
        throw err;
      }
    }
    case 'update-service': {
      if (!isStackPort(port)) throw new TerminalActionError('this engine connection cannot deploy stacks');
      const first = snapshot.services.find((s) => s.id === action.serviceId);
      return withConflictRetry(opts, first, (id) => port.inspectService(id), action.serviceId, (svc) => applyStackAction(port, action, opts, svc));
    }
    case 'create-network':
    case 'create-file-object':
    case 'label-secret':
    case 'create-service':
    case 'remove-stack-object': {
      if (!isStackPort(port)) throw new TerminalActionError('this engine connection cannot deploy stacks');
      try {
        return await retryConflicts(opts, () => applyStackAction(port, action, opts));
      } catch (err) {
        if (err instanceof StackRefusal || (err instanceof EngineError && err.code === 'refused')) throw new TerminalActionError(err.message, { cause: err });
        throw err;
      }
    }
    default:
      return assertNever(action);
  }
}

async function withConflictRetry<T extends { id: string }>(
  opts: ApplyOptions,
  first: T | undefined,
  read: (id: string) => Promise<T>,
  id: string,
  write: (current: T) => Promise<ApplyResult>,
): Promise<ApplyResult> {
  let current = first;
  try {
    return await retryConflicts(opts, async () => {
      // The first try writes with the version the pass read; after a conflict, read again.
      current ??= await read(id);
      try {
        return await write(current);
      } catch (err) {
        current = undefined;
        throw err;
      }
    });
  } catch (err) {
    // not-found and refused will not change on a retry: the operator must act.
    if (err instanceof EngineError && (err.code === 'refused' || err.code === 'not-found')) {
      throw new TerminalActionError(err.message, { cause: err });
    }
    throw err;
  }
}

function retryConflicts(opts: ApplyOptions, fn: () => Promise<ApplyResult>): Promise<ApplyResult> {
  return pRetry(fn, {
    retries: opts.retries ?? 5,
    minTimeout: opts.minTimeoutMs ?? 10,
    factor: 2,
    randomize: true,
    ...(opts.signal ? { signal: opts.signal } : {}),
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (error instanceof EngineError && error.code === 'version-conflict') opts.onConflict?.(attemptNumber, error);
    },
    // Only a conflict or a passing server error is worth another try within the pass: unreachable and
    // no-quorum take seconds to clear, longer than a pass should wait, and the next pass tries again.
    shouldRetry: ({ error }) => error instanceof EngineError && (error.code === 'version-conflict' || error.code === 'unknown'),
  });
}

/** mutateService returns the spec to send for a service action, or undefined when none is needed. */
export function mutateService(svc: SwarmService, action: Action, snapshot?: SwarmService): ServiceSpec | undefined {
  const spec = structuredClone(svc.spec);
  switch (action.kind) {
    case 'scale-service': {
      if (svc.mode !== 'replicated') throw new TerminalActionError(`${svc.name} is ${svc.mode}, not replicated`);
      if (svc.replicas === action.replicas) return undefined;
      spec.Mode = { ...spec.Mode, Replicated: { ...spec.Mode?.Replicated, Replicas: action.replicas } };
      return spec;
    }
    case 'update-placement': {
      const want = action.placement;
      const placement = { ...spec.TaskTemplate?.Placement };
      let changed = false;
      if (want.constraints && !sameConstraints(svc.constraints, want.constraints)) {
        placement.Constraints = [...want.constraints];
        changed = true;
      }
      if (want.preferences && JSON.stringify(svc.preferences) !== JSON.stringify(want.preferences)) {
        placement.Preferences = want.preferences.map((d) => ({ Spread: { SpreadDescriptor: d } }));
        changed = true;
      }
      if (want.maxReplicasPerNode !== undefined && svc.maxReplicasPerNode !== want.maxReplicasPerNode) {
        placement.MaxReplicas = want.maxReplicasPerNode;
        changed = true;
      }
      if (!changed) return undefined;
      spec.TaskTemplate = { ...spec.TaskTemplate, Placement: placement };
      return spec;
    }
    case 'force-restart': {
      // Someone (another instance, an operator) forced a restart since the pass read the service.
      if (snapshot && svc.forceUpdate > snapshot.forceUpdate) return undefined;
      spec.TaskTemplate = { ...spec.TaskTemplate, ForceUpdate: svc.forceUpdate + 1 };
      return spec;
    }
    default:
      throw new Error(`${action.kind} is not a service action`);
  }
}

/** mutateNode returns the node spec to send for a node action, or undefined when none is needed. */
export function mutateNode(node: SwarmNode, action: Action): NodeSpec | undefined {
  const spec = structuredClone(node.spec);
  switch (action.kind) {
    case 'update-node': {
      let changed = false;
      const labels = { ...spec.Labels };
      for (const [k, v] of Object.entries(action.labels ?? {})) {
        if (labels[k] !== v) {
          labels[k] = v;
          changed = true;
        }
      }
      spec.Labels = labels;
      if (action.availability && spec.Availability !== action.availability) {
        spec.Availability = action.availability;
        changed = true;
      }
      return changed ? spec : undefined;
    }
    case 'promote-node':
    case 'demote-node': {
      const role = action.kind === 'promote-node' ? 'manager' : 'worker';
      if (spec.Role === role) return undefined;
      spec.Role = role;
      return spec;
    }
    default:
      throw new Error(`${action.kind} is not a node action`);
  }
}

/** SettleState is how far the engine is with an asynchronous action: `state` says it for progress lines. */
export interface SettleState {
  done: boolean;
  state: string;
}

/**
 * asynchronous tells whether the engine finishes an action after its write returned: a role change (swarm's
 * role manager carries it out) and a forced restart (the updater replaces the tasks). The others are done
 * when the write returns.
 */
export function asynchronous(action: Action): boolean {
  switch (action.kind) {
    case 'promote-node':
    case 'demote-node':
    case 'force-restart':
      return true;
    case 'scale-service':
    case 'update-placement':
    case 'update-node':
    case 'fix-volume':
    // A deployed stack's rollout is the engine's to run, as after docker stack deploy --detach.
    case 'create-network':
    case 'create-file-object':
    case 'label-secret':
    case 'create-service':
    case 'update-service':
    case 'remove-stack-object':
      return false;
    default:
      return assertNever(action);
  }
}

/**
 * settleState reads once whether the engine shows an asynchronous action done: a promoted node is a
 * reachable Raft member, a demoted one is none, a forced restart has converged (its restarted tasks run,
 * running = desired; see restartProgress). `listed` shares one services list between several checks.
 * An action that is not asynchronous is done. It throws only for a failing engine.
 */
export async function settleState(port: DockerPort, action: Action, listed: () => Promise<SwarmService[]> = () => port.listServices()): Promise<SettleState> {
  switch (action.kind) {
    case 'promote-node':
    case 'demote-node': {
      const node = await port.inspectNode(action.nodeId);
      const state = node.manager ? `raft member, ${node.manager.reachability}` : 'not a raft member';
      return { done: action.kind === 'promote-node' ? node.manager?.reachability === 'reachable' : node.manager === undefined, state };
    }
    case 'force-restart': {
      const svc = (await listed()).find((x) => x.id === action.serviceId);
      if (!svc) return { done: true, state: 'service removed' };
      return restartProgress(port, svc);
    }
    case 'scale-service':
    case 'update-placement':
    case 'update-node':
    case 'fix-volume':
    case 'create-network':
    case 'create-file-object':
    case 'label-secret':
    case 'create-service':
    case 'update-service':
    case 'remove-stack-object':
      return { done: true, state: 'done when written' };
    default:
      return assertNever(action);
  }
}

/**
 * restartProgress tells whether a forced restart of `svc` (as listed now) has converged: as many running
 * tasks made from its current ForceUpdate as it wants. The service's counts alone cannot tell: right after
 * the write, the old tasks still run and count, and an update can complete while its new tasks are
 * rejected (the update "completes", nothing runs), which must end as a timeout, not as done.
 */
export async function restartProgress(port: DockerPort, svc: SwarmService): Promise<RestartProgress> {
  const want = svc.status?.desiredTasks;
  const update = svc.updateStatus?.state ?? 'none';
  if (want === undefined) return { done: false, state: `update ${update}, no task counts` };
  const tasks = await port.listTasks({ serviceId: svc.id, desiredState: 'running' });
  const fresh = tasks.filter((t) => t.state === 'running' && (t.forceUpdate ?? 0) >= svc.forceUpdate).length;
  return { done: fresh >= want, state: `update ${update}, ${fresh}/${want} restarted tasks running`, running: `${fresh}/${want}` };
}

/** RestartProgress is how far a forced restart is: `running` counts its restarted tasks over the desired count. */
export interface RestartProgress {
  done: boolean;
  state: string;
  /** running is `restarted/desired`, read from the tasks (absent without task counts). */
  running?: string;
}

function assertNever(x: never): never {
  throw new Error(`unhandled action ${JSON.stringify(x)}`);
}
