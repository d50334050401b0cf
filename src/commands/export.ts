// `warden export`: TODO(desired-state) — being written.
import type { EngineOptions } from '../main.js';
/** exportCommand writes a desired-state file from the live cluster. */
export async function exportCommand(_opts: EngineOptions & { output?: string; name?: string }): Promise<number> {
  return 2;
}
