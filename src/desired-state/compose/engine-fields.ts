// What an engine cannot store of the conversion. A field of the ServiceSpec newer than the Engine API
// version warden speaks with an engine is dropped by it: an engine older than the field does not know it
// and ignores it in the JSON, and a newer engine spoken to at an older version removes it
// (moby's adjustForAPIVersion, daemon/server/router/swarm/helpers.go). The stacks reconciler would then
// see the file's value missing from the live spec at every pass and update the service, restarting its
// tasks, forever. So the desired spec is made for the engine first: these fields are stripped from it,
// and the operator is told once which field the engine's version cannot keep.
import type { ServiceSpec } from '../../docker/port.js';
import { compareApiVersions } from '../../docker/engine-versions.js';
import type { DesiredState } from '../types.js';
import type { DesiredStack } from './types.js';
import { isObj, type Obj } from './values.js';

/** EngineField is one field of the conversion with the Engine API version that first stores it. */
export interface EngineField {
  /** field is the compose key that sets it, as warnings name it. */
  field: string;
  /** specField is where the conversion puts it in the ServiceSpec. */
  specField: string;
  /** minApiVersion is the first Engine API version that stores it (moby's api/docs/CHANGELOG.md). */
  minApiVersion: string;
  /** strip removes it from a spec in place; true when the spec had it. */
  strip(spec: ServiceSpec): boolean;
}

function containerSpec(spec: ServiceSpec): Obj | undefined {
  const c = spec.TaskTemplate?.ContainerSpec;
  return isObj(c) ? c : undefined;
}

// Deletes `key` of `o`; true when it held a value the engine would keep (0 and empties are not sent).
function drop(o: unknown, key: string): boolean {
  if (!isObj(o) || !(key in o)) return false;
  const had = o[key] !== undefined && o[key] !== 0 && o[key] !== '' && !(Array.isArray(o[key]) && (o[key] as unknown[]).length === 0);
  delete o[key];
  return had;
}

/**
 * ENGINE_FIELDS lists every field the compose conversion can set that an Engine API version does not
 * store, oldest first. Those of 1.40 and 1.41 are at or below MIN_API_VERSION (an older engine is refused
 * before any pass), kept so that the table is the whole of moby's list for what stack deploy sends. Not
 * here: the job modes (1.41: without them a job has no mode at all) and credential_spec.config (1.40:
 * warden refuses it). volume.subpath reaches swarm services only from Docker 26.1, an API 1.45 engine
 * like 26.0; warden's compose schema (docker/cli v28.2's) refuses the key, so no file sets it yet.
 */
export const ENGINE_FIELDS: readonly EngineField[] = [
  { field: 'sysctls', specField: 'TaskTemplate.ContainerSpec.Sysctls', minApiVersion: '1.40', strip: (s) => drop(containerSpec(s), 'Sysctls') },
  {
    field: 'deploy.placement.max_replicas_per_node', specField: 'TaskTemplate.Placement.MaxReplicas', minApiVersion: '1.40',
    strip: (s) => drop(s.TaskTemplate?.Placement, 'MaxReplicas'),
  },
  {
    field: 'cap_add, cap_drop', specField: 'TaskTemplate.ContainerSpec.CapabilityAdd, CapabilityDrop', minApiVersion: '1.41',
    strip: (s) => [drop(containerSpec(s), 'CapabilityAdd'), drop(containerSpec(s), 'CapabilityDrop')].includes(true),
  },
  { field: 'ulimits', specField: 'TaskTemplate.ContainerSpec.Ulimits', minApiVersion: '1.41', strip: (s) => drop(containerSpec(s), 'Ulimits') },
  {
    field: 'deploy.resources.limits.pids', specField: 'TaskTemplate.Resources.Limits.Pids', minApiVersion: '1.41',
    strip: (s) => drop((s.TaskTemplate?.Resources as Obj | undefined)?.Limits, 'Pids'),
  },
  {
    field: 'healthcheck.start_interval', specField: 'TaskTemplate.ContainerSpec.Healthcheck.StartInterval', minApiVersion: '1.44',
    strip: (s) => drop(containerSpec(s)?.Healthcheck, 'StartInterval'),
  },
  {
    field: 'volumes[].volume.subpath', specField: 'TaskTemplate.ContainerSpec.Mounts[].VolumeOptions.Subpath', minApiVersion: '1.45',
    strip: (s) => ((containerSpec(s)?.Mounts as unknown[] | undefined) ?? []).map((m) => isObj(m) && drop(m.VolumeOptions, 'Subpath')).includes(true),
  },
  { field: 'oom_score_adj', specField: 'TaskTemplate.ContainerSpec.OomScoreAdj', minApiVersion: '1.46', strip: (s) => drop(containerSpec(s), 'OomScoreAdj') },
];

/** StrippedSpec is a spec made for one API version, with the fields it had that the version cannot store. */
export interface StrippedSpec {
  spec: ServiceSpec;
  dropped: EngineField[];
}

/** stripForApiVersion returns a copy of `spec` without the fields `apiVersion` cannot store (`spec` itself when none apply). */
export function stripForApiVersion(spec: ServiceSpec, apiVersion: string, fields: readonly EngineField[] = ENGINE_FIELDS): StrippedSpec {
  const newer = fields.filter((f) => compareApiVersions(apiVersion, f.minApiVersion) < 0);
  if (newer.length === 0) return { spec, dropped: [] };
  const copy = structuredClone(spec);
  return { spec: copy, dropped: newer.filter((f) => f.strip(copy)) };
}

/** DroppedField is a field that some services of the desired state set and the engine's API version cannot store. */
export interface DroppedField {
  field: string;
  minApiVersion: string;
  apiVersion: string;
  /** services are the services (`<stack>_<key>`) whose file sets it. */
  services: string[];
}

/** DesiredForEngine is the desired state made for one engine, with what was dropped from it. */
export interface DesiredForEngine {
  state: DesiredState;
  dropped: DroppedField[];
}

/**
 * desiredForEngine strips from every deployed stack's services what an engine speaking `apiVersion`
 * cannot store; the state is returned as it is when there is no stack, no version (a port that does not
 * say: taken as storing everything) or nothing to strip.
 */
export function desiredForEngine(state: DesiredState, apiVersion: string | undefined): DesiredForEngine {
  if (apiVersion === undefined || !state.stacks || state.stacks.length === 0) return { state, dropped: [] };
  const dropped = new Map<string, DroppedField>();
  let changed = false;
  const stacks = state.stacks.map((stack): DesiredStack => {
    const services = stack.services.map((s) => {
      const stripped = stripForApiVersion(s.spec, apiVersion);
      if (stripped.dropped.length === 0) return s;
      changed = true;
      for (const f of stripped.dropped) {
        const d = dropped.get(f.field) ?? { field: f.field, minApiVersion: f.minApiVersion, apiVersion, services: [] };
        d.services.push(s.name);
        dropped.set(f.field, d);
      }
      return { ...s, spec: stripped.spec };
    });
    return { ...stack, services };
  });
  return changed ? { state: { ...state, stacks }, dropped: [...dropped.values()] } : { state, dropped: [] };
}
