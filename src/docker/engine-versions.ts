// What differs by Docker Engine version: the one place where warden decides it. Each difference is a
// named function over the version string a node reports (Description.Engine.EngineVersion), documented
// with the engine change it follows. A version warden cannot read is taken as the oldest: a workaround
// that is not needed costs less than a bug that is not worked around.

/** EngineVersion is a parsed `MAJOR.MINOR.PATCH` (Debian's `20.10.24+dfsg1` reads as 20.10.24). */
export interface EngineVersion {
  major: number;
  minor: number;
  patch: number;
}

/** parseEngineVersion reads the leading `MAJOR.MINOR[.PATCH]` of a version string; undefined when there is none. */
export function parseEngineVersion(text: string | undefined): EngineVersion | undefined {
  const m = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '');
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** compareEngineVersions orders two versions: negative when a is older than b, 0 when equal. */
export function compareEngineVersions(a: EngineVersion, b: EngineVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * PROMOTION_CRASH_FIXED_IN is the first engine version whose promoted node does not crash-loop when the
 * manager it first joined through is gone (moby/moby#47854, fixed by moby/moby#47870 in 26.1.4). Fixes
 * were also backported to the 25.0 and 23.0 branches; warden has not verified in which of their patch
 * releases, so every version below 26.1.4 counts as affected.
 */
export const PROMOTION_CRASH_FIXED_IN: EngineVersion = { major: 26, minor: 1, patch: 4 };

/**
 * promotionMayCrashLoop tells whether a node running this engine version may crash-loop when promoted
 * (moby/moby#47854): true below 26.1.4, and for a version that cannot be read. The bug is in the promoted
 * node's own daemon, so the version that matters is that node's.
 */
export function promotionMayCrashLoop(engineVersion: string | undefined): boolean {
  const v = parseEngineVersion(engineVersion);
  return v === undefined || compareEngineVersions(v, PROMOTION_CRASH_FIXED_IN) < 0;
}
