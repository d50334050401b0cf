// Cold-boot recovery on the lab (issue 9): the time from the last node's start (the registry's) until every
// service runs all its tasks, with swarm alone (which never gets there: the bench gives up) and with warden
// (`warden run` on every manager, as the global service runs it). The scenario is test/support/cold-boot.ts.
// Writes bench/results/cold-boot.json and the table in docs/performance.md.
//
//   npm run bench:cold-boot     (root; brings up lab WARDEN_BENCH_LAB, default 8, and tears it down)
//   GIVE_UP_S=120 (how long swarm alone is given)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { labDown, labUp, type Lab } from '../src/lab/lab.js';
import { anyManager, coldBoot, probeOk, REPLICAS, runningOf, scenarioFor, setUp, tearDown, type Scenario } from '../test/support/cold-boot.js';
import { waitUntil } from '../test/support/wait.js';
import { startWardenRun, type WardenDaemon } from '../test/support/warden.js';

const LAB = Number(process.env.WARDEN_BENCH_LAB ?? 8);
const GIVE_UP_MS = Number(process.env.GIVE_UP_S ?? 120) * 1000;
const root = join(import.meta.dirname, '..');

function log(m: string): void {
  process.stderr.write(`bench: ${m}\n`);
}

interface Run {
  mode: string;
  converged: boolean;
  /** registryMs is when the registry answered, after the last node's start. */
  registryMs: number;
  /** convergedMs is when every service ran all its tasks, after the last node's start (or the give-up time). */
  convergedMs: number;
  running: number[];
}

async function bootAndWatch(lab: Lab, s: Scenario, mode: string): Promise<Run> {
  const boot = await coldBoot(lab, s, (m) => log(`${mode}: ${m}`));
  await waitUntil('the registry to answer', () => probeOk(s.address), { timeoutMs: 90_000, intervalMs: 100 });
  const registryMs = Date.now() - boot.lastStartAt;
  const all = [s.registry, ...s.apps];
  const want = [1, REPLICAS, REPLICAS];
  let running: number[] = [];
  const converged = await waitUntil('every service to run all its tasks', async () => {
    running = await runningOf(lab, all);
    return running.every((r, i) => r === want[i]);
  }, { timeoutMs: GIVE_UP_MS, intervalMs: 250 }).then(() => true, () => false);
  const run = { mode, converged, registryMs, convergedMs: Date.now() - boot.lastStartAt, running };
  log(`${mode}: ${JSON.stringify(run)}`);
  return run;
}

function ms(n: number): string {
  return `${(n / 1000).toFixed(1)} s`;
}

async function main(): Promise<void> {
  log(`lab ${LAB} up`);
  const lab = await labUp({ id: LAB, managers: 3, workers: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  const s = scenarioFor(lab, 'bench');
  const runs: Run[] = [];
  let wardens: WardenDaemon[] = [];
  try {
    await setUp(lab, s);
    runs.push(await bootAndWatch(lab, s, 'swarm alone'));
    for (const [label, resync] of [['warden, resync every 5 s', '*/5 * * * * *'], ['warden, default resync (30 s)', '*/30 * * * * *']] as const) {
      // Bring the applications back (as an operator would) so that each run starts from the same place.
      const m = await anyManager(lab);
      for (const app of s.apps) await lab.docker(m, ['service', 'update', '--detach', '--quiet', '--force', app]);
      await waitUntil('the applications to run again', async () => (await runningOf(lab, s.apps)).every((r) => r === REPLICAS), { timeoutMs: 120_000, intervalMs: 500 });
      const file = join(dir, `warden-${runs.length}.yml`);
      writeFileSync(file, scenarioFor(lab, 'bench', resync).yaml);
      // warden runs on every manager, as its global service does; only the one on the leader acts.
      wardens = await Promise.all(lab.managers.map((m) => startWardenRun(['-f', file, '--host', m.host, '--log-level', 'warn'], { stderr: 'ignore' })));
      runs.push(await bootAndWatch(lab, s, label));
      await Promise.all(wardens.map((w) => w.stop()));
      wardens = [];
    }
  } finally {
    await Promise.all(wardens.map((w) => w.stop('SIGKILL')));
    await tearDown(lab, s).catch(() => undefined);
    await labDown(LAB);
    rmSync(dir, { recursive: true, force: true });
  }
  const machine = `${cpus().length} cores, ${cpus()[0]?.model.trim() ?? 'unknown cpu'}`;
  const date = new Date().toISOString();
  const result = {
    date, machine, lab: `3 managers + 2 workers, Docker ${lab.engine.version} per network namespace`,
    scenario: `registry (docker-registry, named volume) on the last node; 2 services x ${REPLICAS} replicas from it, restart max_attempts 2, absent from their node's cache; the second dependsOn the first`,
    giveUpMs: GIVE_UP_MS,
    runs,
  };
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/cold-boot.json'), `${JSON.stringify(result, null, 2)}\n`);
  const rows = runs.map((r) => `| ${r.mode} | ${ms(r.registryMs)} | ${r.converged ? ms(r.convergedMs) : `never: gave up after ${ms(r.convergedMs)} (running ${r.running.join('/')})`} |`);
  const table = [
    `Measured ${date.slice(0, 10)} on ${machine}, lab ${LAB}:`,
    '',
    '| | registry answers | every service running = desired |',
    '|---|---|---|',
    ...rows,
  ].join('\n');
  const doc = join(root, 'docs/performance.md');
  const text = readFileSync(doc, 'utf8');
  writeFileSync(doc, text.replace(/<!-- cold-boot:begin[^>]*-->[\s\S]*<!-- cold-boot:end -->/, `<!-- cold-boot:begin (written by bench/cold-boot.ts) -->\n${table}\n<!-- cold-boot:end -->`));
  process.stdout.write(`${table}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 2;
});
