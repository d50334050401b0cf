// warden's entry point: run the command line and turn its result into the exit code.
import { main } from './main.js';

/** EXIT_GRACE_MS is how long a finished command waits for open handles before it exits anyway. */
const EXIT_GRACE_MS = 200;

function finish(code: number): void {
  process.exitCode = code;
  // A command is done when main resolves. A request still waiting on the engine (a swarm without
  // quorum answers after about 20 s) must not hold the process: exit once output has had a moment.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
}

// A reader that stops early (`warden lab status | head`) closes the pipe: what is left to print has no
// reader, which is not an error of the command.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(finish, (err: unknown) => {
  process.stderr.write(`warden: ${err instanceof Error ? err.message : String(err)}\n`);
  finish(2);
});
