// Correction latency against the cluster's size (the services cache, docs/performance.md "Scale"): a
// `warden run` on the Raft leader's node, run as the image runs it, corrects manual scales of services it
// manages, first in a small cluster (30 managed services), then again once 5,000 more services are in
// the cluster and in the desired state, in one run. A recording proxy between warden and its engine counts
// the engine calls each correction cost, from the drift to the correction. warden's idle CPU and resident
// memory (and where the memory goes) are read at 1,000 services, on the way to the larger size, and again
// at that size.
// Writes bench/results/scale.json and its section of docs/performance.md.
//
//   npm run bench:scale    (root; brings up lab $WARDEN_BENCH_LAB, default 8, and tears it down;
//                           RUNS=30 MORE=5000 IDLE_AT=1000 IDLE_SECONDS=120)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECHO_RECHECK_MS } from '../src/controller/controller.js';
import { createDockerPort } from '../src/docker/engine.js';
import type { EngineEvent, StreamItem } from '../src/docker/port.js';
import { labDown, labUp, type Lab, type LabNode } from '../src/lab/lab.js';
import { startSocketProxy } from '../test/support/socket-proxy.js';
import { waitUntil } from '../test/support/wait.js';
import { imageNodeFlags, startWardenRun } from '../test/support/warden.js';
import { latencySummary, machine, until, writeDocSection, writeResults } from './support.js';

const RUNS = Number(process.env.RUNS ?? 30);
const MORE = Number(process.env.MORE ?? 5000);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 120);
/** IDLE_AT is the size of the first idle measurement, all services counted (issue 24's goal: at most 100 MB RSS at 1,000). */
const IDLE_AT = Number(process.env.IDLE_AT ?? 1000);
const LAB = Number(process.env.WARDEN_BENCH_LAB ?? 8);
const ROOT = join(import.meta.dirname, '..');
/** Each measured service is scaled by hand at most twice: a third correction within 10 minutes is flapping. */
const MEASURED = Math.ceil(RUNS / 2);

/** api calls the engine's HTTP API on a node's socket (thousands of services are created fast). */
function api(node: LabNode, method: string, path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: node.socket, method, path, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve(text ? JSON.parse(text) : undefined) : reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function desiredYaml(services: Array<{ name: string; replicas: number }>): string {
  return ['apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: bench }', 'spec:', '  services:',
    ...services.map((s) => `    - { name: ${s.name}, replicas: ${s.replicas} }`), ''].join('\n');
}

/** callName turns a proxied request into what it is: the version prefix, ids and queries dropped. */
function callName(path: string): string {
  const [method, url = ''] = path.split(' ');
  const bare = url.replace(/^\/v1\.\d+/, '').replace(/\?.*$/, '');
  return `${method} ${bare.replace(/^\/(services|nodes)\/[^/]+/, '/$1/{id}')}`;
}

interface Phase {
  services: number;
  latencyMs: ReturnType<typeof latencySummary>;
  samplesMs: number[];
  /** callsPerCorrection is how many engine calls warden made from each drift to its correction, by kind (median run). */
  callsPerCorrection: Record<string, number>;
  callsPerCorrectionRange: { min: number; max: number };
  /**
   * splitMs is where the time went (medians): the engine, from the manual scale to its event on the
   * bench's own stream; warden, from that event to its update reaching the engine (its reads included);
   * the engine, from that update to the correction's event.
   */
  splitMs: { engineDrift: number; warden: number; engineCorrection: number };
}

/** Idle is what an idle warden cost at one size: CPU, and where its resident memory went. */
interface Idle {
  services: number;
  seconds: number;
  passes: number;
  cpuPercentOfCore: number;
  rssMb: { start: number; median: number; max: number; end: number };
  /**
   * memoryMb splits the RSS at the end of the window: `fileBacked` is the node binary's and the shared
   * libraries' pages (/proc smaps_rollup: RSS less anonymous), `anonymous` the rest; of that, `heapTotal` is
   * V8's heap and `heapUsed` what it holds (garbage not yet collected included), `external` the memory of
   * buffers and other objects outside it (warden's /metrics, nodejs_*).
   */
  memoryMb: { fileBacked: number; anonymous: number; heapTotal: number; heapUsed: number; external: number };
}

/** Bench is what the phases share: the lab, warden behind the recording proxy, and the bench's own events. */
interface Bench {
  leader: LabNode;
  lport: ReturnType<typeof createDockerPort>;
  proxy: Awaited<ReturnType<typeof startSocketProxy>>;
  warden: Awaited<ReturnType<typeof startWardenRun>>;
  file: string;
  small: string[];
  /** more are the services added to the small ones so far. */
  more: string[];
  seen: Array<{ event: EngineEvent; at: number }>;
}

const mb = (x: number): number => +x.toFixed(1);

async function passId(b: Bench): Promise<number> {
  return ((await (await fetch(`${b.warden.url}/status`)).json()) as { lastPass?: { passId: number } }).lastPass?.passId ?? 0;
}

/** settled waits until warden has started no pass for `idleMs`. */
async function settled(b: Bench, idleMs: number): Promise<number> {
  let last = await passId(b);
  let since = performance.now();
  return waitUntil(`warden idle for ${idleMs} ms`, async () => {
    const now = await passId(b);
    if (now !== last) [last, since] = [now, performance.now()];
    return performance.now() - since > idleMs ? now : undefined;
  }, { timeoutMs: 600_000, intervalMs: 20 });
}

/** drift scales one service by hand and times warden's correction on the bench's events stream, with the calls warden made. */
async function drift(b: Bench, name: string): Promise<{ ms: number; calls: string[]; split: Phase['splitMs'] }> {
  await settled(b, ECHO_RECHECK_MS + 200);
  const svc = await until(`${name} at 1`, async () => {
    const s = await b.lport.inspectService(name);
    return s.replicas === 1 ? s : undefined;
  });
  const mark = b.seen.length;
  const t0 = performance.now();
  await b.lport.updateService(svc.id, svc.version, { ...structuredClone(svc.spec), Mode: { Replicated: { Replicas: 2 } } });
  const fixed = await until('the correction event', () =>
    b.seen.slice(mark).find((s) => s.event.id === svc.id && s.event.attributes['replicas.old'] === '2' && s.event.attributes['replicas.new'] === '1'), 10_000);
  const window = b.proxy.paths.map((p, i) => ({ p, at: b.proxy.times[i]! })).filter((c) => c.at >= t0 && c.at <= fixed.at && !c.p.includes('/events'));
  const event = b.seen.slice(mark).find((x) => x.event.id === svc.id && x.event.attributes['replicas.new'] === '2');
  const write = window.filter((c) => c.p.startsWith('POST ')).at(-1);
  const split = {
    engineDrift: (event?.at ?? NaN) - t0,
    warden: (write?.at ?? NaN) - (event?.at ?? NaN),
    engineCorrection: fixed.at - (write?.at ?? NaN),
  };
  return { ms: fixed.at - t0, calls: window.map((c) => callName(c.p)), split };
}

/** phase runs RUNS drifts over the services `scale_<prefix>N` and sums them up. */
async function phase(b: Bench, prefix: string, services: number): Promise<Phase> {
  const runs: Array<{ ms: number; calls: string[]; split: Phase['splitMs'] }> = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await drift(b, `scale_${prefix}${i % MEASURED}`));
    if ((i + 1) % 10 === 0) process.stderr.write(`bench: ${services} services, ${i + 1}/${RUNS} runs\n`);
  }
  const byCount = [...runs].sort((x, y) => x.calls.length - y.calls.length);
  const median = byCount[Math.floor(byCount.length / 2)]!;
  const kinds: Record<string, number> = {};
  for (const c of median.calls) kinds[c] = (kinds[c] ?? 0) + 1;
  return {
    services,
    latencyMs: latencySummary(runs.map((r) => r.ms)),
    samplesMs: runs.map((r) => +r.ms.toFixed(1)),
    callsPerCorrection: kinds,
    callsPerCorrectionRange: { min: byCount[0]!.calls.length, max: byCount[byCount.length - 1]!.calls.length },
    splitMs: {
      engineDrift: medianOf(runs.map((r) => r.split.engineDrift)),
      warden: medianOf(runs.map((r) => r.split.warden)),
      engineCorrection: medianOf(runs.map((r) => r.split.engineCorrection)),
    },
  };
}

/** grow adds services without tasks (replicas 0) until `more` are in the cluster and in the desired state. */
async function grow(b: Bench, more: number): Promise<void> {
  const names = Array.from({ length: more - b.more.length }, (_, i) => `scale_m${String(b.more.length + i).padStart(5, '0')}`);
  process.stderr.write(`bench: creating ${names.length} services\n`);
  await pool(names, 16, async (name) => {
    await api(b.leader, 'POST', '/v1.41/services/create', {
      Name: name, TaskTemplate: { ContainerSpec: { Image: 'busybox:lab', Args: ['sleep', '86400'] } }, Mode: { Replicated: { Replicas: 0 } },
    });
  });
  b.more.push(...names);
  writeFileSync(b.file, desiredYaml([...b.small.map((name) => ({ name, replicas: 1 })), ...b.more.map((name) => ({ name, replicas: 0 }))]));
  await waitUntil('warden to load the larger desired state', async () => {
    const status = (await (await fetch(`${b.warden.url}/status`)).json()) as { drift?: Record<string, unknown[]> };
    return Object.values(status.drift ?? {}).every((d) => d.length === 0) && (await b.lport.listServices({ status: false })).length >= b.small.length + b.more.length;
  }, { timeoutMs: 600_000, intervalMs: 1_000 });
  await settled(b, 5_000);
}

/** metric reads one unlabelled gauge from warden's /metrics text, in MB. */
function metricMb(text: string, name: string): number {
  return mb(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 1048576);
}

/** idle samples warden's CPU and RSS from /proc for IDLE_SECONDS (the resyncs, relists with task counts, included). */
async function idle(b: Bench): Promise<Idle> {
  await settled(b, 15_000);
  const pid = b.warden.child.pid!;
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const ticks = (): number => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  };
  const t0 = ticks();
  const p0 = await passId(b);
  const started = performance.now();
  const samples = [rss()];
  while (performance.now() - started < IDLE_SECONDS * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(rss());
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuPercentOfCore = +((((ticks() - t0) / 100) / seconds) * 100).toFixed(2);
  const passes = (await passId(b)) - p0;
  const smaps = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(smaps)?.[1] ?? NaN) / 1024;
  const metrics = await (await fetch(`${b.warden.url}/metrics`)).text();
  const sorted = [...samples].sort((x, y) => x - y);
  return {
    services: b.small.length + b.more.length,
    seconds: Math.round(seconds),
    passes,
    cpuPercentOfCore,
    rssMb: { start: mb(samples[0]!), median: mb(sorted[Math.floor(sorted.length / 2)]!), max: mb(sorted[sorted.length - 1]!), end: mb(samples[samples.length - 1]!) },
    memoryMb: {
      fileBacked: mb(kb('Rss') - kb('Anonymous')),
      anonymous: mb(kb('Anonymous')),
      heapTotal: metricMb(metrics, 'nodejs_heap_size_total_bytes'),
      heapUsed: metricMb(metrics, 'nodejs_heap_size_used_bytes'),
      external: metricMb(metrics, 'nodejs_external_memory_bytes'),
    },
  };
}

/** start creates the small cluster's services and starts warden on the leader's node behind the recording proxy. */
async function start(lab: Lab, dir: string, ac: AbortController): Promise<Bench> {
  const leaderName = (await createDockerPort({ host: lab.managers[0]!.host }).listNodes()).find((n) => n.manager?.leader)!.hostname;
  const leader = lab.node(leaderName);
  const proxy = await startSocketProxy(leader.socket);
  const lport = createDockerPort({ host: leader.host });
  const small = ['a', 'b'].flatMap((p) => Array.from({ length: MEASURED }, (_, i) => `scale_${p}${i}`));
  for (const name of small) {
    await lab.docker(leader, ['service', 'create', '--detach', '--quiet', '--name', name, '--replicas', '1', 'busybox:lab', 'sleep', '86400']);
  }
  const file = join(dir, 'scale.yml');
  writeFileSync(file, desiredYaml(small.map((name) => ({ name, replicas: 1 }))));
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const warden = await startWardenRun(['-f', file, '--host', `unix://${proxy.socket}`, '--log-level', 'warn'], {
    stderr: 'inherit', readyTimeoutMs: 120_000, entry: join(ROOT, 'dist/cli.js'), nodeFlags: imageNodeFlags(),
  }).catch(async (err: unknown) => {
    await proxy.close();
    throw err;
  });
  const b: Bench = { leader, lport, proxy, warden, file, small, more: [], seen: [] };
  let connected = false;
  void (async () => {
    for await (const item of lport.events(ac.signal) as AsyncIterable<StreamItem>) {
      if (item.type === 'connected') connected = true;
      if (item.type === 'service') b.seen.push({ event: item, at: performance.now() });
    }
  })();
  await until('events connected', () => connected);
  return b;
}

async function main(): Promise<void> {
  process.stderr.write(`bench: lab ${LAB} up\n`);
  const lab = await labUp({ id: LAB, managers: 3, workers: 2, engine: process.env.WARDEN_LAB_ENGINE ?? 'newest' });
  const dir = mkdtempSync(join(tmpdir(), 'warden-scale-'));
  const ac = new AbortController();
  let b: Bench | undefined;
  try {
    b = await start(lab, dir, ac);
    const smallPhase = await phase(b, 'a', b.small.length);
    // Idle first at IDLE_AT services (issue 24's goal), then grown to MORE for the latency at that size.
    const idles: Idle[] = [];
    if (IDLE_AT > b.small.length && IDLE_AT < b.small.length + MORE) {
      await grow(b, IDLE_AT - b.small.length);
      idles.push(await idle(b));
    }
    await grow(b, MORE);
    const largePhase = await phase(b, 'b', b.small.length + MORE);
    idles.push(await idle(b));
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      lab: `3 managers + 2 workers, Docker ${lab.engine.version} per network namespace`,
      runs: RUNS,
      small: smallPhase,
      large: largePhase,
      ratioP50: +(largePhase.latencyMs.p50 / smallPhase.latencyMs.p50).toFixed(2),
      idle: idles,
    };
    writeResults('scale', result);
    updateDoc(result);
    process.stdout.write(`${JSON.stringify({ small: smallPhase.latencyMs, large: largePhase.latencyMs, calls: [smallPhase.callsPerCorrection, largePhase.callsPerCorrection], idle: idles }, null, 1)}\n`);
  } finally {
    ac.abort();
    await b?.warden.stop();
    await b?.proxy.close();
    rmSync(dir, { recursive: true, force: true });
    await labDown(LAB);
  }
}

function medianOf(xs: number[]): number {
  const ok = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return ok.length === 0 ? NaN : +ok[Math.floor(ok.length / 2)]!.toFixed(1);
}

function updateDoc(r: { date: string; machine: string; lab: string; runs: number; small: Phase; large: Phase; ratioP50: number; idle: Idle[] }): void {
  const row = (p: Phase): string => `| ${p.services} | ${p.latencyMs.p50} ms | ${p.latencyMs.p90} ms | ${p.latencyMs.p99} ms | ${p.latencyMs.max} ms | ` +
    `${Object.entries(p.callsPerCorrection).map(([k, v]) => `${v} × \`${k}\``).join(', ')} (${p.callsPerCorrectionRange.min}–${p.callsPerCorrectionRange.max} in all) |`;
  const idleRow = (i: Idle): string => `| ${i.services} | ${i.seconds} s, ${i.passes} passes | ${i.cpuPercentOfCore}% | ${i.rssMb.median} MB | ${i.rssMb.max} MB | ` +
    `${i.memoryMb.fileBacked} MB | ${i.memoryMb.anonymous} MB | ${i.memoryMb.heapUsed} of ${i.memoryMb.heapTotal} MB | ${i.memoryMb.external} MB |`;
  writeDocSection('scale', [
    `Measured ${r.date.slice(0, 10)} on ${r.machine}, ${r.lab}; ${r.runs} manual scales at each size, one run:`,
    '',
    '| services in the cluster and the desired state | p50 | p90 | p99 | max | engine calls from the drift to its correction (median run) |',
    '|---|---|---|---|---|---|',
    row(r.small),
    row(r.large),
    '',
    `Where the time goes (medians, ${r.small.services} → ${r.large.services} services): the engine, from the manual scale to its event, ` +
      `${r.small.splitMs.engineDrift} → ${r.large.splitMs.engineDrift} ms; warden, from that event to its update reaching the engine (its reads included), ` +
      `${r.small.splitMs.warden} → ${r.large.splitMs.warden} ms; the engine, from that update to the correction's event, ` +
      `${r.small.splitMs.engineCorrection} → ${r.large.splitMs.engineCorrection} ms.`,
    '',
    `p50 at ${r.large.services} over p50 at ${r.small.services}: ${r.ratioP50}.`,
    '',
    'Idle (no drift; the resyncs, relists with the task counts, included), and where the memory was at the end of the window:',
    '',
    '| services | window | CPU (of a core) | RSS median | RSS max | file-backed (node, libraries) | anonymous | V8 heap used of total | external |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.idle.map(idleRow),
  ], '## Scale: correction latency with 5,000 services (`npm run bench:scale`)');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
