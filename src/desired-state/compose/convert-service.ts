// One service of the stack, as docker/cli's convert.Service assembles it: the ContainerSpec
// (./convert-container.ts), the task template around it (logging, resources, restart policy, placement,
// networks) and the service spec (name, labels, mode, endpoint, update and rollback configs).
import type { ServiceSpec } from '../../docker/port.js';
import type { PathSegment } from '../yaml-source.js';
import { convertContainerSpec, type ServiceContext } from './convert-container.js';
import { deployMode, resourceRequirements, restartPolicy, serviceNetworks, servicePorts, updateConfig } from './convert-deploy.js';
import { imageReferenceProblem } from './convert-image.js';
import { LABEL_IMAGE, type StackService } from './types.js';
import { isObj, mapping, namespaced, str, type Obj } from './values.js';

export type { ServiceContext } from './convert-container.js';

/** convertService converts the service `key`; problems go to ctx.error (the caller drops a service that has any). */
export function convertService(key: string, def: Obj, base: PathSegment[], ctx: ServiceContext): StackService {
  const { stack } = ctx.input;
  const name = `${stack}_${key}`;
  const image = str(def.image) ?? '';
  const imageProblem = imageReferenceProblem(image);
  if (imageProblem !== undefined) {
    ctx.error(def.image === undefined ? base : [...base, 'image'], `invalid image reference for service ${key}: ${imageProblem}`, def.image === undefined);
  }
  const deploy = isObj(def.deploy) ? def.deploy : {};
  const container = convertContainerSpec(key, def, image, base, ctx);
  const spec: ServiceSpec = {
    Name: name,
    Labels: { ...namespaced(stack, mapping(deploy.labels)), [LABEL_IMAGE]: image },
    TaskTemplate: taskTemplate(key, def, deploy, container, base, ctx),
  };
  const mode = deployMode(deploy, [...base, 'deploy'], ctx.error);
  if (mode) spec.Mode = mode;
  const endpoint: Obj = {};
  if (deploy.endpoint_mode) endpoint.Mode = String(deploy.endpoint_mode).toLowerCase();
  const ports = servicePorts(def.ports, [...base, 'ports'], ctx.error);
  if (ports.length > 0) endpoint.Ports = ports;
  spec.EndpointSpec = endpoint;
  const update = updateConfig(deploy.update_config);
  if (update) spec.UpdateConfig = update;
  const rollback = updateConfig(deploy.rollback_config);
  if (rollback) spec.RollbackConfig = rollback;
  return { key, name, spec, image };
}

// The TaskSpec: the container, then what deploy: and logging: say of the tasks.
function taskTemplate(key: string, def: Obj, deploy: Obj, container: Obj, base: PathSegment[], ctx: ServiceContext): Obj {
  const task: Obj = { ContainerSpec: container };
  if (isObj(def.logging)) {
    const driver: Obj = { Name: str(def.logging.driver) ?? '' };
    const opts = mapping(def.logging.options);
    if (opts && Object.keys(opts).length > 0) driver.Options = opts;
    task.LogDriver = driver;
  }
  const resources = resourceRequirements(deploy.resources, [...base, 'deploy', 'resources'], ctx.error);
  if (resources) task.Resources = resources;
  const legacy = def.restart !== undefined && deploy.restart_policy === undefined;
  const restart = restartPolicy(def.restart, deploy.restart_policy, [...base, legacy ? 'restart' : 'deploy'], ctx.error);
  if (restart) task.RestartPolicy = restart;
  task.Placement = placement(isObj(deploy.placement) ? deploy.placement : {});
  const declared = isObj(ctx.data.networks) ? ctx.data.networks : {};
  const nets = serviceNetworks(key, def.networks, declared, ctx.input.stack, [...base, 'networks'], ctx.error);
  if (nets) task.Networks = nets;
  return task;
}

// deploy.placement: constraints, spread preferences and the per-node cap (0 is no cap, and not sent).
function placement(p: Obj): Obj {
  const pl: Obj = {};
  if (Array.isArray(p.constraints) && p.constraints.length > 0) pl.Constraints = p.constraints.map(String);
  if (Array.isArray(p.preferences) && p.preferences.length > 0) {
    pl.Preferences = p.preferences.map((x) => ({ Spread: { SpreadDescriptor: String((x as Obj).spread ?? '') } }));
  }
  if (typeof p.max_replicas_per_node === 'number' && p.max_replicas_per_node !== 0) pl.MaxReplicas = p.max_replicas_per_node;
  return pl;
}
