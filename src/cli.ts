// warden's entry point: run the command line and turn its result into the exit code.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`warden: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  },
);
