// `warden schema`: TODO(desired-state) — being written.
/** schemaCommand prints the JSON Schema of the desired-state file. */
export function schemaCommand(): number {
  return 2;
}
