// Drift-to-correction latency on the lab: a `warden run` process on the Raft leader's node, a manual
// scale of a service it manages, and the time until the engine's events stream shows warden's correction.
// Interleaved with those runs, the same drift on services warden does not manage is corrected by the
// engine's floor: a minimal reactor in this process that does only what a pass must (on the event, list
// nodes and services in parallel, then one update). Both see the same machine at the same moments, so
// the difference between them is what warden adds. A third kind of run changes an unrelated service just
// before the drift, for the cost of a drift that arrives while a pass runs.
// Writes bench/results/latency.json and the table in docs/performance.md.
//
//   npm run bench            (root; brings up lab 8 and tears it down; RUNS=50 by default)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDockerPort } from '../src/docker/engine.js';
import type { EngineEvent, StreamItem } from '../src/docker/port.js';
import { ECHO_RECHECK_MS } from '../src/controller/controller.js';
import { labDown, labUp } from '../src/lab/lab.js';
import { latencySummary, machine, until, writeDocSection, writeResults } from './support.js';
import { waitUntil } from '../test/support/wait.js';
import { startWardenRun, type WardenDaemon } from '../test/support/warden.js';

const RUNS = Number(process.env.RUNS ?? 50);
/** BURST is how many services are updated at once in the burst part; BURSTS how many bursts are sent. */
const BURST = Number(process.env.BURST ?? 100);
const BURSTS = Number(process.env.BURSTS ?? 5);
const LAB = Number(process.env.WARDEN_BENCH_LAB ?? 8);

async function main(): Promise<void> {
  process.stderr.write(`bench: lab ${LAB} up\n`);
  const lab = await labUp({ id: LAB, managers: 3, workers: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-'));
  let warden: WardenDaemon | undefined;
  let floor: ReturnType<typeof startFloorReactor> | undefined;
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
    const floorServices = Array.from({ length: Math.ceil(RUNS / 2) }, (_, i) => `floor_${i}`);
    const busyServices = Array.from({ length: Math.ceil(RUNS / 2) }, (_, i) => `busy_${i}`);
    for (const name of [...services, ...floorServices, ...busyServices, 'unrelated']) {
      await lab.docker(leader, ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', '1', 'busybox:lab', 'sleep', '86400']);
    }
    const file = join(dir, 'bench.yml');
    writeFileSync(file, `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: bench }\nspec:\n  services:\n${[...services, ...busyServices].map((n) => `    - { name: ${n}, replicas: 1 }\n`).join('')}`);
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
    floor = startFloorReactor(leader.host, new Set(floorServices));
    await until('floor reactor connected', () => floor!.connected);

    // settled waits until warden has started no pass for idleMs, and returns the last pass's id.
    const passId = async (): Promise<number> => ((await (await fetch(`${warden!.url}/status`)).json()) as { lastPass?: { passId: number } }).lastPass?.passId ?? 0;
    const settled = async (idleMs = 2_000): Promise<number> => {
      let last = await passId();
      let since = performance.now();
      // Asked every 20 ms: /status at the 2 ms of `until` would load warden and the machine under test.
      return waitUntil(`warden idle for ${idleMs} ms`, async () => {
        const now = await passId();
        if (now !== last) [last, since] = [now, performance.now()];
        return performance.now() - since > idleMs ? now : undefined;
      }, { timeoutMs: 60_000, intervalMs: 20 });
    };

    // One drift and the time until its correction shows on the events stream. It starts once warden is
    // idle (the previous run's events handled, the echo of its own write looked at a second later). With
    // `busy`, an unrelated service is changed just before the drift, so that the drift's event reaches
    // warden while the pass for the unrelated one runs: it then waits for the coalescing window.
    const drift = async (name: string, busy = false): Promise<number> => {
      await settled(ECHO_RECHECK_MS + 200);
      const svc = await until(`${name} at 1`, async () => {
        const s = await lport.inspectService(name);
        return s.replicas === 1 ? s : undefined;
      });
      const spec = structuredClone(svc.spec);
      spec.Mode = { Replicated: { Replicas: 2 } }; // a manual scale
      const other = busy ? await lport.inspectService('unrelated') : undefined;
      const mark = seen.length;
      const t0 = performance.now();
      if (other) await lport.updateService(other.id, other.version, { ...structuredClone(other.spec), Labels: { ...other.spec.Labels, run: String(mark) } });
      await lport.updateService(svc.id, svc.version, spec);
      const fixed = await until('the correction event', () =>
        seen.slice(mark).find((s) => s.event.id === svc.id && s.event.attributes['replicas.old'] === '2' && s.event.attributes['replicas.new'] === '1'), 10_000);
      return fixed.at - t0;
    };
    const samples: number[] = [];
    const floorSamples: number[] = [];
    const busySamples: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      samples.push(await drift(services[i % services.length]!));
      floorSamples.push(await drift(floorServices[i % floorServices.length]!));
      busySamples.push(await drift(busyServices[i % busyServices.length]!, true));
      if ((i + 1) % 10 === 0) process.stderr.write(`bench: ${i + 1}/${RUNS} runs of each\n`);
    }
    floor.stop();
    // A burst: BURST services (not in the desired state, no tasks) updated at once, BURST events within
    // a fraction of a second. Passes are counted from /status until warden has been idle for 2 s.
    const quiet = Array.from({ length: BURST }, (_, i) => `burst_${i}`);
    for (let i = 0; i < quiet.length; i += 10) {
      await Promise.all(quiet.slice(i, i + 10).map((n) => lab.docker(leader, ['service', 'create', '--detach', '--quiet', '--name', n, '--replicas', '0', 'busybox:lab', 'sleep', '86400'])));
    }
    const bursts: Array<{ events: number; sentInMs: number; passes: number }> = [];
    for (let b = 0; b < BURSTS; b++) {
      const before = await settled();
      const specs = await Promise.all(quiet.map((n) => lport.inspectService(n)));
      const mark = seen.length;
      const t0 = performance.now();
      await Promise.all(specs.map((svc) => lport.updateService(svc.id, svc.version, { ...structuredClone(svc.spec), Labels: { ...svc.spec.Labels, burst: String(b) } })));
      const sentInMs = performance.now() - t0;
      await until('every burst event', () => seen.length - mark >= BURST, 30_000);
      bursts.push({ events: seen.length - mark, sentInMs: +sentInMs.toFixed(1), passes: (await settled()) - before });
    }
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      lab: `3 managers + 2 workers, Docker ${lab.engine.version} per network namespace`,
      runs: RUNS,
      latencyMs: latencySummary(samples),
      samplesMs: samples.map((s) => +s.toFixed(1)),
      floorMs: latencySummary(floorSamples),
      floorSamplesMs: floorSamples.map((s) => +s.toFixed(1)),
      busyMs: latencySummary(busySamples),
      busySamplesMs: busySamples.map((s) => +s.toFixed(1)),
      bursts,
    };
    writeResults('latency', result);
    updateDoc(result);
    process.stdout.write(`warden ${JSON.stringify(result.latencyMs)} floor ${JSON.stringify(result.floorMs)} busy ${JSON.stringify(result.busyMs)} bursts ${JSON.stringify(bursts)}\n`);
  } finally {
    ac.abort();
    floor?.stop();
    await warden?.stop();
    rmSync(dir, { recursive: true, force: true });
    await labDown(LAB);
  }
}

/**
 * startFloorReactor is the engine's floor for the same correction: on every service event it lists nodes
 * and services in parallel, as a pass does (so that warden's runs and the floor's see the same load),
 * and when the event is a manual scale of one of `names` to 2 it sets the service back to 1 at once.
 */
function startFloorReactor(host: string, names: ReadonlySet<string>): { readonly connected: boolean; stop(): void } {
  const port = createDockerPort({ host });
  const ac = new AbortController();
  const state = { connected: false, stop: () => ac.abort() };
  const react = async (event: EngineEvent): Promise<void> => {
    const [, listed] = await Promise.all([port.listNodes(), port.listServices()]);
    if (!names.has(event.attributes['name'] ?? '') || event.attributes['replicas.new'] !== '2') return;
    const svc = listed.find((s) => s.id === event.id);
    if (!svc || svc.replicas !== 2) return;
    await port.updateService(svc.id, svc.version, { ...structuredClone(svc.spec), Mode: { Replicated: { Replicas: 1 } } });
  };
  void (async () => {
    for await (const item of port.events(ac.signal) as AsyncIterable<StreamItem>) {
      if (item.type === 'connected') state.connected = true;
      if (item.type === 'service' && item.action === 'update') react(item).catch((err: unknown) => process.stderr.write(`floor reactor: ${String(err)}\n`));
    }
  })();
  return state;
}

type Summary = ReturnType<typeof latencySummary>;

function updateDoc(result: { date: string; machine: string; runs: number; latencyMs: Summary; floorMs: Summary; busyMs: Summary; bursts: Array<{ events: number; sentInMs: number; passes: number }> }): void {
  const l = result.latencyMs;
  const f = result.floorMs;
  const y = result.busyMs;
  const b = result.bursts;
  writeDocSection('latency', [
    `Measured ${result.date.slice(0, 10)} on ${result.machine}, ${result.runs} runs of each, interleaved:`,
    '',
    '| | p50 | p90 | p99 | max | mean |',
    '|---|---|---|---|---|---|',
    `| warden | ${l.p50} ms | ${l.p90} ms | ${l.p99} ms | ${l.max} ms | ${l.mean} ms |`,
    `| the engine's floor | ${f.p50} ms | ${f.p90} ms | ${f.p99} ms | ${f.max} ms | ${f.mean} ms |`,
    `| warden, the drift arriving during a pass | ${y.p50} ms | ${y.p90} ms | ${y.p99} ms | ${y.max} ms | ${y.mean} ms |`,
    '',
    `Bursts of ${b[0]?.events ?? 0} service events (${b.length} bursts, each sent in ${Math.min(...b.map((x) => x.sentInMs))} to ` +
      `${Math.max(...b.map((x) => x.sentInMs))} ms): ${b.map((x) => x.passes).join(', ')} passes (at most ${Math.max(...b.map((x) => x.passes))}).`,
  ]);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
