// Where warden may change or create a volume's directory: the rules that keep a local directory (such as
// /root/.ssh) from being taken for a volume, and an unmounted share's empty mount point from being filled
// on the local disk. The walk re-checks them at each fix, since the tree may change after a pass observed it.
import type { Stats } from 'node:fs';
import { fsTypeOf, isShareType } from './mounts.js';
import type { Base, Missing } from './walk.js';

/** Target is what the rules need of a volume: its path, the mount it names, its volume root. */
export type Target = { path: string; mount?: string; root?: string };

// underRoot tells whether the path lies at or below its volume root (checked again here: the root
// comes from the desired state, which load.ts already matched against policy.volumeRoots).
function underRoot(v: Target): boolean {
  return v.root !== undefined && (v.path === v.root || v.path.startsWith(`${v.root}/`));
}

/**
 * notOnShare says why an existing directory must not be changed (undefined when it may be): on the host
 * root's own file system, only below a volume root the operator listed.
 */
export function notOnShare(base: Base, v: Target, st: Stats): string | undefined {
  if (st.dev !== base.stat.dev || underRoot(v)) return undefined;
  return `${v.path} is on the host root's own file system, not on a mounted share: warden changes an existing local ` +
    'directory only below policy.volumeRoots (is the share down? or list its root there)';
}

/**
 * cannotCreate says why a missing path must not be created (undefined when it may be). Without `mount`,
 * the file system that would hold it (its nearest existing parent's) must be a network or FUSE one
 * (./mounts.ts): a separate local partition is another device than the host root too, and a NAS not
 * mounted yet leaves its mount point there as a plain directory.
 */
export async function cannotCreate(base: Base, v: Target, walked: Missing, mountinfo?: string): Promise<string | undefined> {
  // With a mount named, unmounted() has already checked that it is mounted, and the path is below it.
  if (v.mount !== undefined) return undefined;
  if (underRoot(v)) {
    // Below a volume root, but only once the root itself exists: warden never creates the root.
    const ancestor = walked.ancestor;
    if (ancestor === v.root || ancestor.startsWith(`${v.root}/`)) return undefined;
    return `${v.path} is missing and so is its volume root ${v.root}: warden creates directories below a volume root, never the root itself`;
  }
  const advice = 'warden will not create it on a local disk; name the share in `mount`, or create it by hand';
  if (walked.parentStat.dev === base.stat.dev) {
    return `${v.path} is missing and its nearest parent ${walked.ancestor} is on the host root's own file system, not on a mounted share ` +
      `(is the share down?): ${advice}`;
  }
  const fstype = await fsTypeOf(walked.parentStat.dev, mountinfo).catch(() => undefined);
  if (fstype !== undefined && isShareType(fstype)) return undefined;
  const what = fstype === undefined ? 'a file system warden cannot find in the mount table' : `a local file system (${fstype})`;
  return `${v.path} is missing and its nearest parent ${walked.ancestor} is on ${what}, not on a network or FUSE share ` +
    `(is the share down?): ${advice}`;
}
