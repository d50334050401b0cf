// Keeping what sops files decrypted out of what is shown (contract §2, "Encrypted files"). A field of a
// service that holds such a value, on either side, is marked encrypted and loses its values where it is
// made (the stacks reconciler), so that no view can show them: ./view.ts renders it `(encrypted) changed`.
// As a last net, every plan's messages are scrubbed of the revision's sealed values, its fields marked
// again, and its actions carry the values for their views to mask with (the pass does this for every
// reconciler, ../controller/pass.ts).
import type { FieldDiff } from '../desired-state/compose/normalize.js';
import { ENCRYPTED } from '../desired-state/redact.js';
import type { SealedValues } from '../desired-state/sops/sealed.js';
import type { Plan } from './types.js';

/** sealFields marks each field that holds a sealed value on either side, or is named by one: encrypted, its values dropped. */
export function sealFields(fields: FieldDiff[], sealed: SealedValues | undefined): FieldDiff[] {
  if (!sealed) return fields;
  return fields.map((f) => {
    if (f.encrypted) return f;
    const field = sealedName(f.field, sealed);
    if (field === f.field && !sealed.holds(f.live) && !sealed.holds(f.desired)) return f;
    return { field, live: undefined, desired: undefined, restarts: f.restarts, encrypted: true };
  });
}

// A list item is named by its identity, which may be a value (a constraint, a mount's target, a port)
// rather than a name (an env variable's). The path before it is the engine's field names, or keys of the
// compose file (a label's), which sops never encrypts.
function sealedName(field: string, sealed: SealedValues): string {
  const item = /^(.*)\[(.*)\]$/.exec(field);
  return item && sealed.holds(item[2]!) ? `${item[1]!}[${ENCRYPTED}]` : field;
}

/**
 * sealPlan makes a plan safe to show when the desired state has sealed values (none: unchanged): drift
 * messages, notes and the held message scrubbed, fields marked (./view.ts), and each action given the
 * values, so that its view masks what it shows with them.
 */
export function sealPlan(plan: Plan, sealed: SealedValues | undefined): void {
  if (!sealed) return;
  for (const d of plan.drift) d.message = sealed.scrub(d.message);
  if (plan.blocked) plan.blocked.message = sealed.scrub(plan.blocked.message);
  for (const o of plan.objects ?? []) {
    if (o.note !== undefined) o.note = sealed.scrub(o.note);
    if (o.fields) o.fields = sealFields(o.fields, sealed);
  }
  for (const a of plan.actions) {
    a.sealed = sealed;
    if (a.kind === 'update-service') a.fields = sealFields(a.fields, sealed);
    if (a.held !== undefined) a.held = sealed.scrub(a.held);
  }
}

/**
 * shownError is `err` as it may be shown (an outcome, a log line): when its message, stack or cause holds a
 * sealed value, a plain Error of the same name and code with those scrubbed; else `err` itself.
 */
export function shownError(err: Error, sealed: SealedValues | undefined): Error {
  if (!sealed) return err;
  const message = sealed.scrub(err.message);
  const stack = err.stack === undefined ? undefined : sealed.scrub(err.stack);
  const cause = err.cause instanceof Error ? shownError(err.cause, sealed) : err.cause;
  if (message === err.message && stack === err.stack && cause === err.cause) return err;
  const shown = new Error(message, cause === undefined ? undefined : { cause });
  shown.name = err.name;
  if (stack !== undefined) shown.stack = stack;
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) Object.assign(shown, { code });
  return shown;
}
