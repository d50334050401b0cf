// `warden schema`: print the JSON Schema of the desired-state file, generated from the same zod
// schema the loader uses, for editors with a YAML language server (docs/desired-state.md).
import { desiredStateJsonSchema } from '../desired-state/schema.js';

/** schemaText is the JSON Schema as the command prints it (and as schema/desired-state.schema.json holds it). */
export function schemaText(): string {
  return `${JSON.stringify(desiredStateJsonSchema(), null, 2)}\n`;
}

/** schemaCommand prints the JSON Schema of the desired-state file. */
export function schemaCommand(write: (text: string) => void = (t) => void process.stdout.write(t)): number {
  write(schemaText());
  return 0;
}
