// warden's entry point: run the command line and turn its result into the exit code.
import { runToExit } from './exit.js';
import { main } from './main.js';

// A reader that stops early (`warden lab status | head`) closes the pipe: what is left to print has no
// reader, which is not an error of the command.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

runToExit(() => main(process.argv.slice(2)));
