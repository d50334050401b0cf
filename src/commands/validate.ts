// `warden validate FILE`: TODO(desired-state) — being written.
/** validateCommand checks a desired-state file offline: 0 valid, 1 invalid, 2 could not run. */
export async function validateCommand(_file: string): Promise<number> {
  return 2;
}
