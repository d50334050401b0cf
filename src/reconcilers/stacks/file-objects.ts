// The stacks reconciler's configs and secrets: each desired one is found on the engine under its name
// (an adopted `docker stack deploy` one keeps `<stack>_<key>`), created when missing, and a secret whose
// content warden cannot read back is labelled once with the file's hash, marked unverified.
import { createHash } from 'node:crypto';
import { LABEL_CONTENT_HASH, LABEL_NAMESPACE, type DesiredStack, type StackFileObject } from '../../desired-state/compose/types.js';
import type { SwarmConfig, SwarmSecret } from '../../docker/port.js';
import type { StackObservation } from '../types.js';
import { base, type Collector, type StateOf } from './common.js';

/**
 * LABEL_CONTENT_UNVERIFIED marks a secret warden adopted without seeing its content (swarm never gives a
 * secret's data back): its LABEL_CONTENT_HASH is the file's hash at adoption, not a proof of what it holds.
 */
export const LABEL_CONTENT_UNVERIFIED = 'warden.content-unverified';

const UNVERIFIED_NOTE = 'its content cannot be compared (swarm never gives a secret back): taken as the file\'s, unverified; ' +
  'a later change of the file rolls out a new secret';

/**
 * planFileObjects plans `stack`'s configs and secrets. It returns the name each has on the engine, keyed
 * `<kind>:<name in the file>`; what a service cannot be deployed without goes into `unavailable`.
 */
export function planFileObjects(stack: DesiredStack, seen: StackObservation, out: Collector, state: StateOf, unavailable: Set<string>): Map<string, string> {
  const effective = new Map<string, string>();
  for (const [kind, list, live] of [['secret', stack.secrets, seen.secrets], ['config', stack.configs, seen.configs]] as const) {
    for (const o of list) {
      const name = fileObjectName(stack, o, live as ReadonlyArray<SwarmConfig | SwarmSecret>);
      effective.set(`${kind}:${o.name}`, name.name);
      if (name.problem) {
        out.drift.push({ object: name.name, message: name.problem });
        state(kind, name.name, name.missing ? 'missing' : 'drift', { note: name.problem });
        if (name.missing || name.refuse) unavailable.add(`${kind}:${o.name}`);
        continue;
      }
      if (name.adopt) {
        // Written once: from then on the label holds the file's content hash as it was when the secret was
        // adopted, so that a later change in the file is a new secret (or, under a fixed name, an error).
        const note = `made by docker stack deploy: ${UNVERIFIED_NOTE}`;
        const labels = { [LABEL_CONTENT_HASH]: o.hash!, [LABEL_CONTENT_UNVERIFIED]: 'true' };
        out.drift.push({ object: name.name, message: note });
        out.actions.push({ kind: 'label-secret', id: name.adopt.id, labels, ...base(name.name, { labels: {} }, { labels: { ...labels, [LABEL_CONTENT_HASH]: o.hash!.slice(0, 12) } }) });
        state(kind, name.name, 'drift', { note });
        continue;
      }
      if (!name.missing) {
        state(kind, name.name, 'in_sync', name.unverified ? { note: UNVERIFIED_NOTE } : {});
        continue;
      }
      out.drift.push({ object: o.name, message: `${kind} is missing` });
      const spec = { Name: o.name, Labels: o.labels, Data: o.data ?? '', ...(o.templating ? { Templating: o.templating } : {}), ...(o.driver ? { Driver: o.driver } : {}) };
      // Secret values never leave warden but for the engine: before/after name the object only.
      out.actions.push({ kind: 'create-file-object', objectKind: kind, spec, ...base(o.name, undefined, { name: o.name, ...(o.hash ? { sha256: o.hash.slice(0, 12) } : {}) }) });
      state(kind, o.name, 'missing');
    }
  }
  return effective;
}

interface FoundName {
  name: string;
  missing: boolean;
  problem?: string;
  /** refuse: the object exists but the services must not be deployed with it (a fixed name's content changed). */
  refuse?: boolean;
  /** adopt asks for the file's hash to be recorded on this secret (see LABEL_CONTENT_UNVERIFIED). */
  adopt?: { id: string };
  unverified?: boolean;
}

// The name a config or secret has on the engine: its own when it exists; stack deploy's `<stack>_<key>`
// when a stack deployed by the docker CLI made it with the same content (configs are compared; a secret
// cannot be read back, so one without warden's hash label is adopted as unverified); otherwise missing.
function fileObjectName(stack: DesiredStack, o: StackFileObject, live: ReadonlyArray<SwarmConfig | SwarmSecret>): FoundName {
  const byName = new Map(live.map((l) => [l.name, l]));
  const found = byName.get(o.name);
  if (o.external) {
    return found ? { name: o.name, missing: false } : { name: o.name, missing: true, problem: `external ${o.kind} ${o.name} is missing: create it before the stack's services can be deployed` };
  }
  if (found) return o.fixedName && o.hash !== undefined ? fixedNameFound(stack, o, found) : { name: o.name, missing: false, unverified: found.labels[LABEL_CONTENT_UNVERIFIED] === 'true' };
  if (!o.fixedName) {
    const cli = byName.get(`${stack.name}_${o.key}`);
    if (cli && cli.labels[LABEL_NAMESPACE] === stack.name) {
      if (o.kind === 'config' && (cli as SwarmConfig).data === o.data) return { name: cli.name, missing: false };
      if (o.kind === 'secret') {
        const recorded = cli.labels[LABEL_CONTENT_HASH];
        if (recorded === undefined && o.hash !== undefined) return { name: cli.name, missing: false, adopt: { id: cli.id } };
        if (recorded === o.hash) return { name: cli.name, missing: false, unverified: cli.labels[LABEL_CONTENT_UNVERIFIED] === 'true' };
      }
    }
  }
  return { name: o.name, missing: true };
}

// A name fixed by `name:` cannot rotate: a content change under it is an error (the services that use it
// wait, as stack deploy fails on it), and a secret of the stack with no hash recorded is adopted as
// unverified so that a later change of the file is seen.
function fixedNameFound(stack: DesiredStack, o: StackFileObject, found: SwarmConfig | SwarmSecret): FoundName {
  const liveHash = o.kind === 'config' ? sha256OfBase64((found as SwarmConfig).data) : found.labels[LABEL_CONTENT_HASH];
  if (liveHash === undefined) {
    if (found.labels[LABEL_NAMESPACE] === stack.name) return { name: o.name, missing: false, adopt: { id: found.id } };
    return { name: o.name, missing: false, unverified: true };
  }
  if (liveHash !== o.hash) {
    return {
      name: o.name, missing: false, refuse: true,
      problem: `error: ${o.kind} ${o.name} exists with other content, and its name is fixed by name: in the file: swarm cannot change a ${o.kind}'s content; ` +
        'drop name: (warden then names it by content) or give a new name; the services that use it are not deployed until then',
    };
  }
  return { name: o.name, missing: false, unverified: found.labels[LABEL_CONTENT_UNVERIFIED] === 'true' };
}

function sha256OfBase64(data: string): string {
  return createHash('sha256').update(Buffer.from(data, 'base64')).digest('hex');
}
