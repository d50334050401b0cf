// What `plan` and `apply` print: the text plan, `plan -o json` and apply's summary. Each renders views
// (../controller/view.ts), never the actions or specs of a pass: a secret's data, a config's bytes and a
// credential-named env value are not in what it is given.
import type { PassResult } from '../controller/controller.js';
import { reconcilerView, type OutcomeView, type ReconcilerView } from '../controller/view.js';
import { serviceStatuses, type ServiceStatusView } from '../controller/service-status.js';
import type { LoadedState } from '../desired-state/source.js';
import { formatStatusTable } from './status-format.js';

/**
 * PlanDocument is what `plan -o json` prints: the revision planned, the verdict (sync alone), each
 * reconciler's view, and each kept service's sync beside its health.
 */
export interface PlanDocument {
  cluster: string;
  source: string;
  revision: string;
  inSync: boolean;
  reconcilers: ReconcilerView[];
  services: ServiceStatusView[];
}

/** planDocument builds `plan -o json`'s document from a pass. */
export function planDocument(loaded: LoadedState, result: PassResult, inSync: boolean): PlanDocument {
  return {
    cluster: loaded.state.cluster, source: loaded.source, revision: loaded.revision, inSync,
    reconcilers: result.results.map(reconcilerView), services: serviceStatuses(result),
  };
}

const show = (v: unknown): string => (v === undefined ? '(unset)' : JSON.stringify(v));

// One action on one line: kind, object, and before -> after as its view has them.
function describe(a: OutcomeView['action']): string {
  return `${a.kind} ${show(a.before)} -> ${show(a.after)}`;
}

function fate(a: OutcomeView): string {
  return a.outcome === 'suppressed' ? `suppressed (${a.reason})` : a.outcome === 'failed' ? `failed: ${a.error}` : a.outcome;
}

/** formatApplySummary tells a person what `apply` changed, what it held and why, and what failed. */
export function formatApplySummary(passes: readonly PassResult[], converged: boolean): string {
  const changed: string[] = [];
  const held = new Map<string, string>();
  const failed: string[] = [];
  const appliedKeys = new Set<string>();
  for (const pass of passes) {
    for (const r of pass.results.map(reconcilerView)) {
      for (const a of r.actions) {
        const key = `${r.id} ${a.action.object} ${a.action.kind}`;
        const what = `${r.id} ${a.action.object}: ${describe(a.action)}`;
        if (a.outcome === 'applied') {
          changed.push(what);
          appliedKeys.add(key);
        } else if (a.outcome === 'failed') failed.push(`${what}: ${a.error}`);
        else if (a.outcome === 'suppressed') held.set(key, `${what} (${a.reason})`);
      }
    }
  }
  // A held action is held in every pass: say it once, and not when a later pass applied it after all.
  const heldLines = [...held].filter(([k]) => !appliedKeys.has(k)).map(([, v]) => v);
  const lines = [
    ...changed.map((l) => `changed  ${l}`),
    ...heldLines.map((l) => `held     ${l}`),
    ...failed.map((l) => `failed   ${l}`),
    `${converged ? 'converged' : 'not converged'}: ${changed.length} changed, ${heldLines.length} held, ${failed.length} failed, in ${passes.length} pass(es)`,
  ];
  return `${lines.join('\n')}\n`;
}

// The stacks reconciler, object by object: what a pass does to each (create, update with the fields that
// differ, label an adopted secret, remove) or that it is in sync, and what became of the action.
function formatStackObjects(r: ReconcilerView): string[] {
  const lines: string[] = [];
  const byObject = new Map(r.actions.map((a) => [a.action.object, a]));
  let stack = '';
  for (const o of r.objects ?? []) {
    if (o.stack !== stack) lines.push(`  stack ${(stack = o.stack)}`);
    const a = byObject.get(o.name);
    byObject.delete(o.name);
    const what = `${o.kind} ${o.name}`;
    if (!a) {
      lines.push(o.state === 'in_sync' ? `    in sync  ${what}` : `    ${o.state.replace('_', ' ').padEnd(8)} ${what}${o.note ? `: ${o.note}` : ''}`);
      continue;
    }
    const kind = a.action.kind;
    const verb = kind.startsWith('create') ? 'create' : kind === 'update-service' ? 'update' : kind === 'label-secret' ? 'label' : 'remove';
    const restarts = kind === 'update-service' ? (a.action.restarts ? ', tasks restart' : ', no restart') : '';
    lines.push(`    ${verb.padEnd(8)} ${what}${restarts}: ${fate(a)}`);
    for (const f of a.action.fields ?? []) {
      // A field that holds a value from a sops file has no values in its view: only that it changes.
      const change = 'change' in f ? f.change : `${show(f.live)} -> ${show(f.desired)}`;
      lines.push(`               ${f.field}: ${change}${f.restarts ? ' (restarts)' : ''}`);
    }
  }
  for (const d of r.drift.filter((x) => !(r.objects ?? []).some((o) => o.name === x.object))) lines.push(`  drift   ${d.object}: ${d.message}`);
  return lines;
}

/** formatPlan renders a pass for people: drift by reconciler, each action and what becomes of it. */
export function formatPlan(loaded: LoadedState, result: PassResult): string {
  const lines = [`cluster ${loaded.state.cluster}, revision ${loaded.revision} (${loaded.source})`];
  const inSync: string[] = [];
  for (const r of result.results.map(reconcilerView)) {
    if (r.drift.length === 0 && r.actions.length === 0 && !r.error) {
      inSync.push(r.id);
      // Deployed stacks are listed object by object even in sync: what warden keeps, and that it matches.
      if (!r.objects?.length) continue;
    }
    lines.push('', `${r.id}:${r.error ? ` error: ${r.error}` : ''}`);
    if (r.blocked) lines.push(`  held    ${r.blocked}`);
    if (r.objects) {
      lines.push(...formatStackObjects(r));
      continue;
    }
    for (const d of r.drift) lines.push(`  drift   ${d.object}: ${d.message}`);
    for (const a of r.actions) lines.push(`  action  ${a.action.kind} ${a.action.object} ${show(a.action.before)} -> ${show(a.action.after)}: ${fate(a)}`);
  }
  lines.push('', inSync.length > 0 ? `in sync: ${inSync.join(', ')}` : 'in sync: none', '');
  // Health beside sync: what works is not what a pass would change, and does not count as drift.
  const services = serviceStatuses(result);
  if (services.length > 0) {
    const table = formatStatusTable(services, Date.parse(result.startedAt)).trimEnd().split('\n');
    lines.push('services (health is shown beside sync; it does not count as drift):', ...table.map((l) => `  ${l}`), '');
  }
  return lines.join('\n');
}
