// The stacks reconciler's networks: an external network must exist (warden never creates it), a stack's
// own network is created when missing, and one that differs is reported (swarm cannot change a network).
import type { DesiredStack } from '../../desired-state/compose/types.js';
import type { SwarmNetwork } from '../../docker/port.js';
import { base, type Collector, type StateOf } from './common.js';

/** planNetworks plans `stack`'s networks; what a service cannot be deployed without goes into `unavailable`. */
export function planNetworks(stack: DesiredStack, live: readonly SwarmNetwork[], out: Collector, state: StateOf, unavailable: Set<string>): void {
  const byName = new Map(live.filter((n) => n.scope === 'swarm').map((n) => [n.name, n]));
  for (const net of stack.networks) {
    const found = byName.get(net.name);
    if (net.external) {
      if (found || !userDefinedNetwork(net.name)) {
        state('network', net.name, 'in_sync', found ? {} : { note: 'not user-defined: every node has it' });
      } else {
        unavailable.add(`network:${net.name}`);
        out.drift.push({ object: net.name, message: `external network ${net.name} is missing: create it (swarm-scoped) before the stack's services can be deployed` });
        state('network', net.name, 'missing', { note: 'external: warden does not create it' });
      }
      continue;
    }
    if (!found) {
      out.drift.push({ object: net.name, message: 'network is missing' });
      out.actions.push({ kind: 'create-network', spec: net.spec!, ...base(net.name, undefined, { driver: net.spec!.Driver }) });
      state('network', net.name, 'missing');
      continue;
    }
    const differs = networkDifference(net.spec!, found);
    if (differs) {
      out.drift.push({ object: net.name, message: `network differs (${differs}); swarm cannot change a network: remove it and the services on it to recreate it` });
      state('network', net.name, 'drift', { note: differs });
    } else {
      state('network', net.name, 'in_sync');
    }
  }
}

// docker/cli's validateExternalNetworks checks only user-defined networks (NetworkMode.IsUserDefined):
// default, bridge, host, none and container:<id> exist on every node as local networks.
function userDefinedNetwork(name: string): boolean {
  return !['default', 'bridge', 'host', 'none'].includes(name) && !name.startsWith('container:');
}

// A network cannot be updated; say what differs in what the file asks for (engine-set options aside).
function networkDifference(spec: NonNullable<DesiredStack['networks'][number]['spec']>, live: SwarmNetwork): string | undefined {
  const diffs: string[] = [];
  if (spec.Driver !== live.driver) diffs.push(`driver ${live.driver}, wants ${spec.Driver}`);
  if ((spec.Internal ?? false) !== live.internal) diffs.push(`internal ${live.internal}`);
  if ((spec.Attachable ?? false) !== live.attachable) diffs.push(`attachable ${live.attachable}`);
  for (const [k, v] of Object.entries(spec.Options ?? {})) if (live.options[k] !== v) diffs.push(`option ${k}=${live.options[k] ?? '(unset)'}, wants ${v}`);
  for (const [k, v] of Object.entries(spec.Labels)) if (live.labels[k] !== v) diffs.push(`label ${k}=${live.labels[k] ?? '(unset)'}, wants ${v}`);
  for (const c of spec.IPAM?.Config ?? []) if (!live.ipam.config.some((l) => l.subnet === c.Subnet)) diffs.push(`subnet ${c.Subnet} missing`);
  return diffs.length > 0 ? diffs.join('; ') : undefined;
}
