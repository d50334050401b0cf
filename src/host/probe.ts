// The registry probe: the HostPort.probe implementation. A plain HTTP GET of the registry's /v2/ with a
// short timeout; any answer of a registry that is up counts (200, or 401 when it asks for credentials),
// so that warden needs no registry credentials to know the registry serves.
import type { ProbeObservation } from '../reconcilers/types.js';

/** PROBE_TIMEOUT_MS bounds one probe (default 2 s): a registry that is up answers /v2/ at once. */
export const PROBE_TIMEOUT_MS = 2_000;

/** probeRegistry asks `url` whether the registry answers; it never throws, it reports. */
export async function probeRegistry(url: string, signal?: AbortSignal, timeoutMs = PROBE_TIMEOUT_MS): Promise<ProbeObservation> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetch(url, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'manual' });
    // The body is not needed; release the connection.
    await res.body?.cancel().catch(() => undefined);
    return { url, ok: res.status === 200 || res.status === 401, detail: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const detail = timeout.aborted ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { url, ok: false, detail };
  }
}
