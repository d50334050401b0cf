// A stack service's spec refers to its networks, configs and secrets by name; the engine wants the IDs
// of configs and secrets (as docker/cli's ParseSecrets and ParseConfigs look them up before sending),
// and answers with network IDs where the spec said names. These put in the IDs the engine has, and take
// them out again, so that specs compare by name whatever the IDs are.
import type { ServiceSpec } from '../../docker/port.js';

/** ObjectIds maps names to IDs for the stack's networks, configs and secrets as the engine lists them. */
export interface ObjectIds {
  networks: ReadonlyMap<string, string>;
  configs: ReadonlyMap<string, string>;
  secrets: ReadonlyMap<string, string>;
}

type Obj = Record<string, unknown>;

function container(spec: ServiceSpec): Obj | undefined {
  return spec.TaskTemplate?.ContainerSpec as Obj | undefined;
}

/**
 * withIds returns a copy of a stack service's spec with the IDs of its configs and secrets filled in, or
 * the names of those the engine does not have (the spec cannot be sent until they exist).
 */
export function withIds(spec: ServiceSpec, ids: ObjectIds): { spec: ServiceSpec; missing: string[] } {
  const out = structuredClone(spec);
  const missing: string[] = [];
  const c = container(out);
  for (const ref of (c?.Secrets as Obj[] | undefined) ?? []) {
    const id = ids.secrets.get(String(ref.SecretName));
    if (id === undefined) missing.push(`secret ${String(ref.SecretName)}`);
    else ref.SecretID = id;
  }
  for (const ref of (c?.Configs as Obj[] | undefined) ?? []) {
    const id = ids.configs.get(String(ref.ConfigName));
    if (id === undefined) missing.push(`config ${String(ref.ConfigName)}`);
    else ref.ConfigID = id;
  }
  return { spec: out, missing };
}

/**
 * withoutIds returns a copy of a spec (live or desired) with config and secret IDs blanked and network
 * IDs replaced by the networks' names, so that two specs compare by what they refer to.
 */
export function withoutIds(spec: ServiceSpec, networkNames: ReadonlyMap<string, string>): ServiceSpec {
  const out = structuredClone(spec);
  const c = container(out);
  for (const ref of (c?.Secrets as Obj[] | undefined) ?? []) ref.SecretID = '';
  for (const ref of (c?.Configs as Obj[] | undefined) ?? []) ref.ConfigID = '';
  const nets = out.TaskTemplate?.Networks as Obj[] | undefined;
  for (const n of nets ?? []) {
    const name = networkNames.get(String(n.Target));
    if (name !== undefined) n.Target = name;
  }
  // Older engines kept networks at the top of the spec; they are the same attachments.
  if (Array.isArray(out.Networks)) {
    for (const n of out.Networks as Obj[]) {
      const name = networkNames.get(String(n.Target));
      if (name !== undefined) n.Target = name;
    }
  }
  return out;
}
