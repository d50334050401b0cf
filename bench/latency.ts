// Drift-to-correction latency on the lab: a `warden run` process on the Raft leader's node, a manual
// scale of a service it manages, and the time until the engine's events stream shows warden's correction.
// Writes bench/results/latency.json and the table in docs/performance.md.
//
//   npm run bench            (root; brings up lab 8 and tears it down; RUNS=50 by default)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDockerPort } from '../src/docker/engine.js';
import type { EngineEvent, StreamItem } from '../src/docker/port.js';
import { labDown, labUp } from '../src/lab/lab.js';
import { waitUntil } from '../test/support/wait.js';
import { startWardenRun, type WardenDaemon } from '../test/support/warden.js';

const RUNS = Number(process.env.RUNS ?? 50);
const LAB = Number(process.env.WARDEN_BENCH_LAB ?? 8);
const root = join(import.meta.dirname, '..');

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000): Promise<T> {
  return waitUntil(what, fn, { timeoutMs, intervalMs: 2 });
}

async function main(): Promise<void> {
  process.stderr.write(`bench: lab ${LAB} up\n`);
  const lab = await labUp({ id: LAB, managers: 3, workers: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  let warden: WardenDaemon | undefined;
  const ac = new AbortController();
  try {
    const first = lab.managers[0]!;
    const port = createDockerPort({ host: first.host });
    const leaderName = (await port.listNodes()).find((n) => n.manager?.leader)!.hostname;
    const leader = lab.node(leaderName);
    const lport = createDockerPort({ host: leader.host });
    // Each service is scaled by hand at most twice: a third correction within 10 minutes would make
    // warden treat it as flapping (something fighting it) and back off, which is not what is measured.
    const services = Array.from({ length: Math.ceil(RUNS / 2) }, (_, i) => `bench_${i}`);
    for (const name of services) {
      await lab.docker(leader, ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', '1', 'busybox:lab', 'sleep', '86400']);
    }
    const file = join(dir, 'bench.yml');
    writeFileSync(file, `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: bench }\nspec:\n  services:\n${services.map((n) => `    - { name: ${n}, replicas: 1 }\n`).join('')}`);
    warden = await startWardenRun(['-f', file, '--host', leader.host, '--log-level', 'warn'], { stderr: 'inherit' });

    // Our own view of the events stream: the correction is the update event back to 2 replicas.
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
    for (let i = 0; i < RUNS; i++) {
      const name = services[i % services.length]!;
      const svc = await until(`${name} at 1`, async () => {
        const s = await lport.inspectService(name);
        return s.replicas === 1 ? s : undefined;
      });
      const spec = structuredClone(svc.spec);
      spec.Mode = { Replicated: { Replicas: 2 } }; // a manual scale
      const mark = seen.length;
      const t0 = performance.now();
      await lport.updateService(svc.id, svc.version, spec);
      const fixed = await until('the correction event', () =>
        seen.slice(mark).find((s) => s.event.id === svc.id && s.event.attributes['replicas.old'] === '2' && s.event.attributes['replicas.new'] === '1'), 10_000);
      samples.push(fixed.at - t0);
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const result = {
      date: new Date().toISOString(),
      machine: `${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown'}`,
      lab: '3 managers + 2 workers, dockerd 20.10 per network namespace',
      runs: RUNS,
      latencyMs: {
        p50: +percentile(sorted, 50).toFixed(1),
        p90: +percentile(sorted, 90).toFixed(1),
        p99: +percentile(sorted, 99).toFixed(1),
        max: +sorted[sorted.length - 1]!.toFixed(1),
        mean: +(samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(1),
      },
      samplesMs: samples.map((s) => +s.toFixed(1)),
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/latency.json'), `${JSON.stringify(result, null, 2)}\n`);
    updateDoc(result);
    process.stdout.write(`${JSON.stringify(result.latencyMs)}\n`);
  } finally {
    ac.abort();
    await warden?.stop();
    rmSync(dir, { recursive: true, force: true });
    await labDown(LAB);
  }
}

function updateDoc(result: { date: string; machine: string; runs: number; latencyMs: Record<string, number> }): void {
  const doc = join(root, 'docs/performance.md');
  const text = readFileSync(doc, 'utf8');
  const l = result.latencyMs;
  const table = [
    '<!-- latency:begin (written by bench/latency.ts) -->',
    `Measured ${result.date.slice(0, 10)} on ${result.machine}, ${result.runs} runs:`,
    '',
    '| p50 | p90 | p99 | max | mean |',
    '|---|---|---|---|---|',
    `| ${l.p50} ms | ${l.p90} ms | ${l.p99} ms | ${l.max} ms | ${l.mean} ms |`,
    '<!-- latency:end -->',
  ].join('\n');
  writeFileSync(doc, text.replace(/<!-- latency:begin[\s\S]*?<!-- latency:end -->/, table));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
