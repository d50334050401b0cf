// Push-webhook-to-correction latency on the lab: `warden run` follows a real git server on loopback (git
// http-backend) with an hour between polls; each run pushes a commit that changes one service's replicas,
// then sends the signed push webhook, and takes the time from just before the webhook until the engine's
// events stream shows warden's update. Writes bench/results/webhook.json and the table in docs/performance.md.
//
//   npm run bench:webhook    (root; brings up lab $WARDEN_BENCH_LAB, default 8, and tears it down; RUNS=20)
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDockerPort } from '../src/docker/engine.js';
import type { EngineEvent, StreamItem } from '../src/docker/port.js';
import { labDown, labUp } from '../src/lab/lab.js';
import { latencySummary, machine, until, writeDocSection, writeResults } from './support.js';
import { startGitServer, type GitServer } from '../test/support/git-server.js';
import { startWardenRun, type WardenDaemon } from '../test/support/warden.js';

const RUNS = Number(process.env.RUNS ?? 20);
const LAB = Number(process.env.WARDEN_BENCH_LAB ?? 8);
const SECRET = 'bench-webhook-secret';

function stateFile(replicas: Map<string, number>): string {
  const services = [...replicas].map(([n, r]) => `    - { name: ${n}, replicas: ${r} }\n`).join('');
  return `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: bench }\nspec:\n  services:\n${services}`;
}

async function main(): Promise<void> {
  process.stderr.write(`bench: lab ${LAB} up\n`);
  const lab = await labUp({ id: LAB, managers: 3, workers: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-hook-'));
  let warden: WardenDaemon | undefined;
  let git: GitServer | undefined;
  const ac = new AbortController();
  try {
    const port = createDockerPort({ host: lab.managers[0]!.host });
    const leader = lab.node((await port.listNodes()).find((n) => n.manager?.leader)!.hostname);
    const lport = createDockerPort({ host: leader.host });
    // Each service changes at most twice (1 -> 2 -> 1): a third correction within 10 minutes would count
    // as flapping, which is not what is measured.
    const replicas = new Map(Array.from({ length: Math.ceil(RUNS / 2) }, (_, i) => [`bench_hook_${i}`, 1] as [string, number]));
    for (const name of replicas.keys()) {
      await lab.docker(leader, ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', '1', 'busybox:lab', 'sleep', '86400']);
    }
    git = await startGitServer();
    await git.push({ 'warden.yml': stateFile(replicas) });
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${SECRET}\n`);
    warden = await startWardenRun(
      ['--git-url', git.url, '--git-interval', '1h', '--git-cache', join(dir, 'cache'), '--webhook-secret-file', secretFile, '--host', leader.host, '--log-level', 'warn'],
      { stderr: 'inherit', readyTimeoutMs: 60_000 },
    );

    const seen: Array<{ event: EngineEvent; at: number }> = [];
    let connected = false;
    void (async () => {
      for await (const item of lport.events(ac.signal) as AsyncIterable<StreamItem>) {
        if (item.type === 'connected') connected = true;
        if (item.type === 'service') seen.push({ event: item, at: performance.now() });
      }
    })();
    await until('events connected', () => connected);

    const samples: number[] = [];
    const names = [...replicas.keys()];
    for (let i = 0; i < RUNS; i++) {
      const name = names[i % names.length]!;
      const svc = await lport.inspectService(name);
      const from = replicas.get(name)!;
      const to = from === 1 ? 2 : 1;
      replicas.set(name, to);
      const sha = await git.push({ 'warden.yml': stateFile(replicas) }, `${name} to ${to}`);
      const body = JSON.stringify({ ref: 'refs/heads/main', after: sha });
      const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
      const mark = seen.length;
      const t0 = performance.now();
      const res = await fetch(`${warden.url}/hooks/git`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': signature },
      });
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      const fixed = await until(`${name} updated to ${to}`, () =>
        seen.slice(mark).find((s) => s.event.id === svc.id && s.event.attributes['replicas.new'] === String(to)), 10_000);
      samples.push(fixed.at - t0);
      process.stderr.write(`run ${i + 1}/${RUNS}: ${(fixed.at - t0).toFixed(1)} ms\n`);
    }
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      lab: `3 managers + 2 workers, Docker ${lab.engine.version} per network namespace`,
      git: 'git http-backend behind a node HTTP server on 127.0.0.1',
      runs: RUNS,
      latencyMs: latencySummary(samples),
      samplesMs: samples.map((s) => +s.toFixed(1)),
    };
    writeResults('webhook', result);
    updateDoc(result);
    process.stdout.write(`${JSON.stringify(result.latencyMs)}\n`);
  } finally {
    ac.abort();
    await warden?.stop();
    await git?.close();
    rmSync(dir, { recursive: true, force: true });
    await labDown(LAB);
  }
}

function updateDoc(result: { date: string; machine: string; runs: number; latencyMs: Record<string, number> }): void {
  const l = result.latencyMs;
  writeDocSection('webhook', [
    `Measured ${result.date.slice(0, 10)} on ${result.machine}, ${result.runs} runs:`,
    '',
    '| p50 | p90 | max | mean |',
    '|---|---|---|---|',
    `| ${l.p50} ms | ${l.p90} ms | ${l.max} ms | ${l.mean} ms |`,
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
