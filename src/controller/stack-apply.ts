// Applying the stacks reconciler's actions: creating networks, configs, secrets and services, updating a
// service's whole spec, labelling an adopted secret with its content hash, and removing what a stack no
// longer has. As docker/cli's ParseSecrets and ParseConfigs do before sending, the IDs of the configs and
// secrets a spec names are looked up at write time (they may have been created earlier in the same pass).
// An update re-reads the service and sends the full spec with the version it read; a conflict is retried
// by the caller's conflict loop.
import { withIds } from '../desired-state/compose/references.js';
import { EngineError } from '../docker/errors.js';
import type { DockerPort, NetworkCreateSpec, ServiceSpec, StackPort, SwarmService } from '../docker/port.js';
import type { Action } from '../reconcilers/types.js';

/** StackAction is an action of the stacks reconciler. */
export type StackAction = Extract<Action, { kind: 'create-network' | 'create-file-object' | 'label-secret' | 'create-service' | 'update-service' | 'remove-stack-object' }>;

/** STACK_ACTIONS lists the kinds of StackAction. */
export const STACK_ACTIONS: ReadonlySet<Action['kind']> = new Set(['create-network', 'create-file-object', 'label-secret', 'create-service', 'update-service', 'remove-stack-object']);

/** isStackPort tells whether a port can deploy stacks (the engine's can; read-only fakes may not). */
export function isStackPort(port: DockerPort): port is DockerPort & StackPort {
  return typeof (port as Partial<StackPort>).createService === 'function';
}

/** StackApplyOptions carry what a service write sends besides its spec. */
export interface StackApplyOptions {
  /** registryAuth returns the X-Registry-Auth for an image (--registry-auth-file); default none. */
  registryAuth?: (image: string) => string | undefined;
  /** beforeWrite runs just before each write (the leadership check); default none. */
  beforeWrite?: () => Promise<void>;
}

/** StackRefusal is a stack action that cannot succeed until something else changes (a missing config). */
export class StackRefusal extends Error {
  override readonly name = 'StackRefusal';
}

/**
 * applyStackAction carries out one stack action; `update` is called with a fresh read of the service. It
 * returns 'already' when there was nothing left to do: the service or object was created, or removed,
 * by an earlier interrupted pass or another writer.
 */
export async function applyStackAction(
  port: DockerPort & StackPort,
  action: StackAction,
  opts: StackApplyOptions,
  fresh?: SwarmService,
): Promise<'applied' | 'already'> {
  const auth = (image: string): { registryAuth?: string } => {
    const a = opts.registryAuth?.(image);
    return a === undefined ? {} : { registryAuth: a };
  };
  switch (action.kind) {
    case 'create-network':
      await opts.beforeWrite?.();
      await ignoreExisting(port.createNetwork(action.spec));
      return 'applied';
    case 'create-file-object':
      await opts.beforeWrite?.();
      await ignoreExisting(action.objectKind === 'config' ? port.createConfig(action.spec) : port.createSecret(action.spec));
      return 'applied';
    case 'label-secret': {
      // Read now, so that the write carries the secret's current version and keeps labels set since the
      // plan: a conflict retry reads again, and labels already there make the action done.
      const live = (await port.listSecrets()).find((s) => s.id === action.id);
      if (!live) throw new StackRefusal(`secret ${action.object} is gone`);
      if (Object.entries(action.labels).every(([k, v]) => live.labels[k] === v)) return 'already';
      await opts.beforeWrite?.();
      await port.updateSecretLabels(live.id, live.version, live.name, { ...live.labels, ...action.labels });
      return 'applied';
    }
    case 'create-service': {
      const spec = await resolveIds(port, action.spec);
      await opts.beforeWrite?.();
      try {
        await withNetworks(port, action.networks, opts, () => port.createService(spec, auth(action.image)));
      } catch (err) {
        // Planned on a services list that did not show it yet (the cache learns of a create from its
        // event): the service is there, and the next pass compares it.
        if (err instanceof EngineError && (err.status === 409 || /already exists|name conflicts/i.test(err.message))) return 'already';
        throw err;
      }
      return 'applied';
    }
    case 'update-service': {
      const svc = fresh ?? (await port.inspectService(action.serviceId));
      const spec = await resolveIds(port, action.spec);
      // The counter of a forced restart made since the plan read the service is kept, not undone.
      spec.TaskTemplate = { ...spec.TaskTemplate, ForceUpdate: svc.spec.TaskTemplate?.ForceUpdate ?? 0 };
      await opts.beforeWrite?.();
      await withNetworks(port, action.networks, opts, () => port.updateService(svc.id, svc.version, spec, auth(action.image)));
      return 'applied';
    }
    case 'remove-stack-object': {
      await opts.beforeWrite?.();
      const remove = { service: port.removeService, network: port.removeNetwork, config: port.removeConfig, secret: port.removeSecret }[action.objectKind];
      try {
        await remove.call(port, action.id);
      } catch (err) {
        if (err instanceof EngineError && err.code === 'not-found') return 'already';
        throw err;
      }
      return 'applied';
    }
  }
}

// A network removed moments ago can still be listed by a node's engine while the swarm no longer has it
// (seen on the lab after a prune): a service write then fails with "network X not found". The stack's own
// network is created again and the write tried once more, each write after the leadership check.
async function withNetworks<T>(port: DockerPort & StackPort, networks: readonly NetworkCreateSpec[], opts: StackApplyOptions, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const missing = err instanceof EngineError ? /network (\S+) not found/.exec(err.message)?.[1] : undefined;
    const spec = networks.find((n) => n.Name === missing);
    if (!spec) throw err;
    await opts.beforeWrite?.();
    await ignoreExisting(port.createNetwork(spec));
    await opts.beforeWrite?.();
    return write();
  }
}

async function resolveIds(port: DockerPort & StackPort, spec: ServiceSpec): Promise<ServiceSpec> {
  const [configs, secrets] = await Promise.all([port.listConfigs(), port.listSecrets()]);
  const ids = {
    networks: new Map<string, string>(),
    configs: new Map(configs.map((c) => [c.name, c.id])),
    secrets: new Map(secrets.map((c) => [c.name, c.id])),
  };
  const filled = withIds(spec, ids);
  if (filled.missing.length > 0) throw new StackRefusal(`${spec.Name} needs ${filled.missing.join(', ')}, which the engine does not have`);
  return filled.spec;
}

// A create that finds the object already there (made by an earlier, interrupted pass) has nothing to do.
async function ignoreExisting(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EngineError && (err.status === 409 || /already exists/i.test(err.message))) return;
    throw err;
  }
}
