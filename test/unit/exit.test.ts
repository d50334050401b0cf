// runToExit in a child process: the exit code is what a shell sees.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const EXIT = fileURLToPath(new URL('../../src/exit.ts', import.meta.url));

function run(body: string): { status: number | null; stderr: string } {
  const script = `import { runToExit } from ${JSON.stringify(EXIT)};\n${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('runToExit', () => {
  it('exits with the command code', () => {
    expect(run('runToExit(async () => 1);').status).toBe(1);
  });

  it('exits 2 when the command throws, with the message', () => {
    const r = run("runToExit(async () => { throw new Error('boom'); });");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('warden: boom');
  });

  it('exits 2, not 0, when the event loop runs empty before the command finished', () => {
    // Awaiting an unref'd timer: nothing holds the process, as the apply bug had it.
    const r = run('runToExit(() => new Promise((resolve) => setTimeout(() => resolve(0), 60_000).unref()));');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('stopped before it finished');
  });
});
