// The volumes reconciler (contract §2): each spec.volumes directory exists on its shared mount with its
// owner, group and mode, and with `recursive` so does everything below it. The files were observed before
// the pass (HostPort.inspectPaths); the plan only compares. What it refuses (a symlink on the path, a mount
// that is gone) is reported as drift with no action: the operator must look.
import type { DesiredVolume } from '../desired-state/types.js';
import type { Action, Drift, FileObservation, Plan, Reconciler } from './types.js';

/** volumes keeps each spec.volumes directory at its owner, group and mode. */
export const volumes: Reconciler<'volumes'> = {
  id: 'volumes',
  actions: ['fix-volume'],
  plan(desired, observed) {
    const drift: Drift[] = [];
    const actions: Action[] = [];
    for (const want of desired.volumes ?? []) {
      const seen = observed.files?.get(want.path);
      if (!seen) {
        drift.push({ object: want.path, message: 'not observed: this warden reads no host root' });
        continue;
      }
      const found = compare(want, seen);
      if (!found) continue;
      drift.push({ object: want.path, message: found.message });
      if (found.fix) actions.push(fixAction(want, found.before, found.after));
    }
    return { drift, actions } satisfies Plan;
  },
};

interface Found {
  message: string;
  /** fix is false when warden must not act (refused). */
  fix: boolean;
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}

function compare(want: DesiredVolume, seen: FileObservation): Found | undefined {
  switch (seen.kind) {
    case 'refused':
      return { message: `refused: ${seen.why}`, fix: false, before: {}, after: {} };
    case 'missing':
      return { message: 'missing: warden creates it', fix: true, before: { exists: false }, after: { exists: true, ...wanted(want) } };
    case 'directory': {
      const parts: string[] = [];
      const before: Record<string, unknown> = {};
      const after: Record<string, unknown> = {};
      if (seen.uid !== want.owner) {
        parts.push(`owner ${seen.uid} (wants ${want.owner})`);
        before.owner = seen.uid;
        after.owner = want.owner;
      }
      if (want.group !== undefined && seen.gid !== want.group) {
        parts.push(`group ${seen.gid} (wants ${want.group})`);
        before.group = seen.gid;
        after.group = want.group;
      }
      if (want.mode !== undefined && seen.mode !== want.mode) {
        parts.push(`mode ${octal(seen.mode)} (wants ${octal(want.mode)})`);
        before.mode = octal(seen.mode);
        after.mode = octal(want.mode);
      }
      const below = seen.below;
      if (below && below.differ > 0) {
        const of = below.truncated ? `in the first ${below.scanned} scanned` : `of ${below.scanned}`;
        parts.push(`${below.differ} entries below differ (${of})`);
        before.below = `${below.differ} differ`;
        after.below = wanted(want);
      }
      if (parts.length === 0) return undefined;
      return { message: parts.join(', '), fix: true, before, after };
    }
    default:
      return assertNever(seen);
  }
}

function wanted(want: DesiredVolume): Record<string, unknown> {
  return { owner: want.owner, ...(want.group !== undefined ? { group: want.group } : {}), ...(want.mode !== undefined ? { mode: octal(want.mode) } : {}) };
}

function fixAction(want: DesiredVolume, before: unknown, after: unknown): Action {
  return {
    kind: 'fix-volume',
    reconciler: 'volumes',
    object: want.path,
    path: want.path,
    ...(want.mount !== undefined ? { mount: want.mount } : {}),
    ...(want.root !== undefined ? { root: want.root } : {}),
    owner: want.owner,
    ...(want.group !== undefined ? { group: want.group } : {}),
    ...(want.mode !== undefined ? { mode: want.mode } : {}),
    recursive: want.recursive,
    before,
    after,
    disruptive: false,
    // Paths carry no labels: the ignore label does not apply to them.
    ignored: false,
  };
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function assertNever(x: never): never {
  throw new Error(`unhandled observation ${JSON.stringify(x)}`);
}
