// How a command's result becomes the process's exit code.

/** EXIT_GRACE_MS is how long a finished command waits for open handles before it exits anyway. */
const EXIT_GRACE_MS = 200;

/**
 * runToExit runs a command and exits with its code: 2 when it throws, and 2 when the process would end
 * before the command finished. Node ends a process whose event loop ran empty with code 0, whatever was
 * still awaited: a wait on an unref'd timer once made `warden apply` exit 0 after its first pass, with
 * no summary and no final check (issue 24, 0.2). An unfinished command is never a success.
 */
export function runToExit(command: () => Promise<number>): void {
  let finished = false;
  const finish = (code: number): void => {
    finished = true;
    process.exitCode = code;
    // A command is done when it resolves. A request still waiting on the engine (a swarm without
    // quorum answers after about 20 s) must not hold the process: exit once output has had a moment.
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  };
  process.on('beforeExit', () => {
    if (finished) return;
    process.stderr.write('warden: internal error: the command stopped before it finished (nothing left to wait on); exit 2\n');
    process.exit(2);
  });
  command().then(finish, (err: unknown) => {
    process.stderr.write(`warden: ${err instanceof Error ? err.message : String(err)}\n`);
    finish(2);
  });
}
