// What warden does differently by engine version: the one place where an engine's version decides
// anything (docs/reference.md, "Engine versions"). Everything else speaks the negotiated API the same way.
// Two kinds of version are read here: the Engine API version an engine speaks (negotiated once per
// connection), and the engine's release a node reports (Description.Engine.EngineVersion), for behaviour
// that lives in one node's daemon. A release warden cannot read is taken as the oldest: advice for a bug
// that is not there costs less than silence about one that is.

/** MIN_API_VERSION is the oldest Engine API warden works with: 1.41 (Docker 20.10) added the services' task counts (`status=true`). */
export const MIN_API_VERSION = '1.41';

/**
 * MAX_API_VERSION is the newest Engine API warden speaks: 1.51 (Docker 28.5), the newest engine its tests
 * ran on. A newer engine is spoken to at 1.51 and answers in that version's shape, as the docker CLI of
 * that version would be answered; an older one at its own version.
 */
export const MAX_API_VERSION = '1.51';

/** compareApiVersions orders "1.41" < "1.45" < "1.51". */
export function compareApiVersions(a: string, b: string): number {
  const [amaj = 0, amin = 0] = a.split('.').map(Number);
  const [bmaj = 0, bmin = 0] = b.split('.').map(Number);
  return amaj - bmaj || amin - bmin;
}

/**
 * negotiateApiVersion picks the API version to speak with an engine whose newest is `server`, as the docker
 * CLI does (the lower of its own and the engine's); undefined when the engine is older than MIN_API_VERSION.
 */
export function negotiateApiVersion(server: string): string | undefined {
  if (!/^\d+\.\d+$/.test(server) || compareApiVersions(server, MIN_API_VERSION) < 0) return undefined;
  return compareApiVersions(server, MAX_API_VERSION) < 0 ? server : MAX_API_VERSION;
}

/** EngineRelease is an engine's release as `MAJOR.MINOR.PATCH` (Debian's `20.10.24+dfsg1` reads as 20.10.24). */
export interface EngineRelease {
  major: number;
  minor: number;
  patch: number;
}

/** parseEngineRelease reads the leading `MAJOR.MINOR[.PATCH]` of a version string; undefined when there is none. */
export function parseEngineRelease(text: string | undefined): EngineRelease | undefined {
  const m = /^\s*v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text ?? '');
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

/** compareEngineReleases orders two releases: negative when a is older than b, 0 when equal. */
export function compareEngineReleases(a: EngineRelease, b: EngineRelease): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * PROMOTION_CRASH_FIXED_IN is the first engine release whose promoted node does not crash-loop when the
 * manager it first joined through is gone (moby/moby#47854, fixed by moby/moby#47870 in 26.1.4). Fixes
 * were also backported to the 25.0 and 23.0 branches; warden has not verified in which of their patch
 * releases, so every release below 26.1.4 counts as affected.
 */
export const PROMOTION_CRASH_FIXED_IN: EngineRelease = { major: 26, minor: 1, patch: 4 };

/**
 * promotionMayCrashLoop tells whether a node running this engine release may crash-loop when promoted
 * (moby/moby#47854): true below 26.1.4, and for a version that cannot be read. The bug is in the promoted
 * node's own daemon, so the version that matters is that node's.
 */
export function promotionMayCrashLoop(engineVersion: string | undefined): boolean {
  const v = parseEngineRelease(engineVersion);
  return v === undefined || compareEngineReleases(v, PROMOTION_CRASH_FIXED_IN) < 0;
}
