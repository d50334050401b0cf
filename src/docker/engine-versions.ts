// What warden does differently by engine version: the one place where an engine's version decides
// anything (docs/reference.md, "Engine versions"). Everything else speaks the negotiated API the same way.

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
