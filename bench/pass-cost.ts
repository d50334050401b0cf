// Pass cost on the lab at 100, 1,000 and 5,000 services: engine calls per pass, warden's CPU per pass,
// writes in sync (must be 0); then idle memory and CPU of a real `warden run` over IDLE_SECONDS at 1,000
// services. Every service has 2 replicas pinned to a label no node carries, so its tasks exist (pending)
// without containers, and one forced update gives each slot a task history.
// Writes bench/results/pass-cost.json and the tables in docs/performance.md.
//
//   npm run bench:pass-cost   (root; brings up lab 8 and tears it down; SIZES=100,1000,5000 IDLE_SECONDS=300)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Controller } from '../src/controller/controller.js';
import { Metrics } from '../src/controller/metrics.js';
import { loadDesiredStateText } from '../src/desired-state/load.js';
import { createDockerPort } from '../src/docker/engine.js';
import { labDown, labUp, type LabNode } from '../src/lab/lab.js';
import { counting } from '../test/support/counting-port.js';
import { waitUntil } from '../test/support/wait.js';
import { imageNodeFlags, startWardenRun } from '../test/support/warden.js';
import { machine, writeDocSection, writeResults } from './support.js';

const SIZES = (process.env.SIZES ?? '100,1000,5000').split(',').map(Number);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 300);
const IDLE_SIZE = Number(process.env.IDLE_SIZE ?? 1000);
const PASSES = 20;
const ROOT = join(import.meta.dirname, '..');
const LAB = Number(process.env.WARDEN_BENCH_LAB ?? 8);

/** api calls the engine's HTTP API on a node's socket (the bench creates thousands of services fast). */
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

function serviceSpec(name: string): Record<string, unknown> {
  return {
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: 'busybox:lab', Args: ['sleep', '86400'] },
      Placement: { Constraints: ['node.labels.bench == nowhere'] },
    },
    Mode: { Replicated: { Replicas: 2 } },
  };
}

/** grow creates services up to `n` and gives each new one a task history with one forced update. */
async function grow(node: LabNode, from: number, n: number): Promise<void> {
  const names = Array.from({ length: n - from }, (_, i) => `pc_${String(from + i).padStart(5, '0')}`);
  await pool(names, 16, async (name) => {
    await api(node, 'POST', '/v1.41/services/create', serviceSpec(name));
  });
  await pool(names, 16, async (name) => {
    const svc = (await api(node, 'GET', `/v1.41/services/${name}`)) as { Version: { Index: number }; Spec: { TaskTemplate: { ForceUpdate?: number } } };
    svc.Spec.TaskTemplate.ForceUpdate = 1;
    await api(node, 'POST', `/v1.41/services/${name}/update?version=${svc.Version.Index}`, svc.Spec);
  });
}

function desiredYaml(n: number): string {
  const lines = ['apiVersion: swarm-warden/v1', 'kind: ClusterState', 'metadata: { name: bench }', 'spec:', '  services:'];
  for (let i = 0; i < n; i++) {
    lines.push(`    - { name: pc_${String(i).padStart(5, '0')}, replicas: 2, placement: { constraints: ["node.labels.bench==nowhere"] } }`);
  }
  return `${lines.join('\n')}\n`;
}

interface SizeResult {
  services: number;
  tasks: number;
  callsPerPass: Record<string, number>;
  writes: number;
  cpuMsPerPass: { p50: number; max: number; mean: number };
  wallMsPerPass: { p50: number; max: number };
}

function stats(xs: number[]): { p50: number; max: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: +s[Math.floor(s.length / 2)]!.toFixed(1), max: +s[s.length - 1]!.toFixed(1), mean: +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1) };
}

async function measure(node: LabNode, n: number): Promise<SizeResult> {
  const port = counting(createDockerPort({ host: node.host, requestTimeoutMs: 120_000 }));
  const controller = new Controller({ port, logger: pino({ level: 'silent' }), metrics: new Metrics({ processMetrics: false }), leaderOnly: false });
  controller.setDesired(await loadDesiredStateText(desiredYaml(n), 'bench.yml'));
  await controller.pass(['warm-up']);
  port.counts.clear();
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < PASSES; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await controller.pass(['bench']);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    if (result.error) throw new Error(result.error);
  }
  const tasks = ((await api(node, 'GET', '/v1.41/tasks')) as unknown[]).length;
  const callsPerPass = Object.fromEntries([...port.counts].map(([k, v]) => [k, v / PASSES]));
  const w = stats(wall);
  return { services: n, tasks, callsPerPass, writes: port.writes(), cpuMsPerPass: stats(cpu), wallMsPerPass: { p50: w.p50, max: w.max } };
}

/** IdleResult is what an idle `warden run` cost over the window. */
interface IdleResult {
  services: number;
  seconds: number;
  /** passes is how many passes ran in the window (resyncs, and any event). */
  passes: number;
  rssMb: { start: number; median: number; max: number; end: number };
  cpuPercentOfCore: number;
}

/** quiet waits until the engine's events stream has been silent for `ms` (the churn of the forced updates is over). */
async function quiet(node: LabNode, ms: number): Promise<void> {
  const port = createDockerPort({ host: node.host });
  const ac = new AbortController();
  let last = performance.now();
  const follow = (async () => {
    for await (const item of port.events(ac.signal)) if (item.type === 'service' || item.type === 'node') last = performance.now();
  })().catch(() => undefined);
  try {
    await waitUntil(`the engine to be quiet for ${ms} ms`, () => performance.now() - last > ms, { timeoutMs: 600_000, intervalMs: 500 });
  } finally {
    ac.abort();
    await follow;
  }
}

/**
 * idle runs `warden run` as the image does (node with the Dockerfile's flags, dist/cli.js built first)
 * at `n` services, once the engine is quiet, for IDLE_SECONDS, and samples its RSS and CPU from /proc.
 */
async function idle(node: LabNode, n: number, dir: string): Promise<IdleResult> {
  const file = join(dir, 'idle.yml');
  writeFileSync(file, desiredYaml(n));
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  await quiet(node, 15_000);
  const warden = await startWardenRun(['-f', file, '--host', node.host, '--log-level', 'warn'], {
    stderr: 'inherit', readyTimeoutMs: 120_000, entry: join(ROOT, 'dist/cli.js'), nodeFlags: imageNodeFlags(),
  });
  try {
    const pid = warden.child.pid!;
    const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    const ticks = (): number => {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 per second)
    };
    const passId = async (): Promise<number> => ((await (await fetch(`${warden.url}/status`)).json()) as { lastPass?: { passId: number } }).lastPass?.passId ?? 0;
    // Let start-up settle (the first passes, the JIT) before measuring.
    await waitUntil('warden to settle', async () => (await passId()) > 0, { timeoutMs: 60_000 });
    const start = rss();
    const t0 = ticks();
    const p0 = await passId();
    const started = performance.now();
    const samples = [start];
    const deadline = started + IDLE_SECONDS * 1000;
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push(rss());
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuPercentOfCore = +((((ticks() - t0) / 100) / seconds) * 100).toFixed(2);
    const passes = (await passId()) - p0;
    const sorted = [...samples].sort((a, b) => a - b);
    const mb = (x: number): number => +x.toFixed(1);
    return {
      services: n,
      seconds: Math.round(seconds),
      passes,
      rssMb: { start: mb(start), median: mb(sorted[Math.floor(sorted.length / 2)]!), max: mb(sorted[sorted.length - 1]!), end: mb(samples[samples.length - 1]!) },
      cpuPercentOfCore,
    };
  } finally {
    await warden.stop();
  }
}

async function main(): Promise<void> {
  process.stderr.write(`bench: lab ${LAB} up\n`);
  const lab = await labUp({ id: LAB, managers: 3, workers: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'warden-pass-cost-'));
  try {
    const node = lab.managers[0]!;
    const sizes: SizeResult[] = [];
    let have = 0;
    let idleResult: IdleResult | undefined;
    for (const n of [...SIZES].sort((a, b) => a - b)) {
      const t0 = Date.now();
      await grow(node, have, n);
      have = n;
      process.stderr.write(`bench: ${n} services (made in ${Math.round((Date.now() - t0) / 1000)} s)\n`);
      await quiet(node, 5_000);
      const r = await measure(node, n);
      process.stderr.write(`bench: ${JSON.stringify(r)}\n`);
      sizes.push(r);
      if (n === IDLE_SIZE && IDLE_SECONDS > 0) {
        idleResult = await idle(node, n, dir);
        process.stderr.write(`bench: idle ${JSON.stringify(idleResult)}\n`);
      }
    }
    const result = {
      date: new Date().toISOString(),
      machine: machine(),
      lab: `3 managers + 2 workers, Docker ${lab.engine.version} per network namespace`,
      passes: PASSES,
      sizes,
      idle: idleResult,
    };
    writeResults('pass-cost', result);
    updateDoc(result);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await labDown(LAB);
  }
}

function updateDoc(result: { date: string; machine: string; sizes: SizeResult[]; idle: IdleResult | undefined }): void {
  const rows = result.sizes.map((s) =>
    `| ${s.services} | ${s.tasks} | ${Object.values(s.callsPerPass).reduce((a, b) => a + b, 0)} (${Object.entries(s.callsPerPass).map(([k, v]) => `${k} ${v}`).join(', ')}) | ${s.writes} | ${s.cpuMsPerPass.p50} ms | ${s.cpuMsPerPass.max} ms | ${s.wallMsPerPass.p50} ms |`);
  const i = result.idle;
  writeDocSection('pass-cost', [
    `Measured ${result.date.slice(0, 10)} on ${result.machine}:`,
    '',
    '| services | tasks in the engine | engine calls per pass | writes in sync | warden CPU per pass (p50) | (max) | wall time per pass (p50) |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    i
      ? `Idle \`warden run\` (node dist/cli.js with the image's NODE_OPTIONS, ${imageNodeFlags().join(' ')}) at ${i.services} services over ${i.seconds} s, ${i.passes} passes (a resync every 30 s): ` +
        `RSS ${i.rssMb.start} MB at the start, ${i.rssMb.median} MB median, ${i.rssMb.max} MB at most, ${i.rssMb.end} MB at the end; CPU ${i.cpuPercentOfCore}% of one core.`
      : 'Idle: not measured in this run.',
  ], `## Pass cost and idle footprint\n\n${PASS_COST_INTRO}`);
}

const PASS_COST_INTRO = [
  'What it measures: services with 2 replicas each, pinned to a label no node carries (their tasks exist,',
  'pending, without containers, so the engine holds thousands of tasks on two cores), each forced once so',
  'that every slot has a task history. A controller in the benchmark process runs 20 passes against the',
  'lab with a desired state naming every service (replicas and placement, both in sync) and the port',
  'counts its calls; the CPU is the process\'s user + system time over each pass. Then a real `warden run`,',
  'compiled as the image runs it (`node dist/cli.js`), idles at 1,000 services while its RSS and CPU are read',
  'from /proc. Both wait first until the engine\'s events have been quiet for a while: the forced updates',
  'keep the managers busy, and warden passing, for tens of seconds after they are sent.',
  '',
  'Run it: `npm run bench:pass-cost` (root; lab 8; SIZES and IDLE_SECONDS override the defaults).',
].join('\n');

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
