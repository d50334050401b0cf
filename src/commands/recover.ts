// `warden recover -f FILE`: the reboot runbook as one command. It waits for the managers (quorum) and the
// nodes, then restarts every service warden orders, wave by wave: the registry first (healthy when it runs
// all its tasks and its probe answers), then each service once all its dependencies are healthy, by a
// forced update through the one apply path, waiting for each wave to converge before the next. A service
// whose dependency did not converge is not restarted: it is named with the reason.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { applyAction, restartProgress } from '../controller/apply.js';
import { openSource, type SourceOptions } from '../desired-state/open-source.js';
import type { DesiredState } from '../desired-state/types.js';
import { createDockerPort, type EngineOptions } from '../docker/engine.js';
import type { DockerPort, SwarmService } from '../docker/port.js';
import { probeRegistry } from '../host/probe.js';
import { createLogger } from '../controller/log.js';
import { logFormatFor, type LogFormat } from './log-format.js';
import { dependencyGraph, findCycle, waves } from '../reconcilers/dependencies.js';
import { isIgnored, type Action, type Observed, type ProbeObservation } from '../reconcilers/types.js';

/** RECOVER_WAVE_TIMEOUT_MS bounds how long one wave may take to converge (default 3 min). */
export const RECOVER_WAVE_TIMEOUT_MS = 180_000;
/** RECOVER_CLUSTER_TIMEOUT_MS bounds the wait for quorum and ready nodes before the first wave (default 2 min). */
export const RECOVER_CLUSTER_TIMEOUT_MS = 120_000;

/** RecoverOptions are the command's flags, plus what tests inject. */
export interface RecoverOptions extends SourceOptions, EngineOptions {
  /** waveTimeoutMs overrides RECOVER_WAVE_TIMEOUT_MS. */
  waveTimeoutMs?: number;
  /** logFormat is --log-format: text lines for people, JSON log lines (default: text on a terminal, else json). */
  logFormat?: LogFormat;
  port?: DockerPort;
  probe?: (url: string, signal?: AbortSignal) => Promise<ProbeObservation>;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
}

/** ServiceOutcome is what became of one service. */
type ServiceOutcome = { name: string; state: 'converged' | 'failed' | 'skipped'; detail: string };

/** recoverCommand restarts everything in dependency order: 0 all converged, 1 some did not (named), 2 error. */
export async function recoverCommand(opts: RecoverOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const report: RecoverReport = logFormatFor(opts.logFormat, out) === 'text'
    ? new TextReport(out)
    // pino's own destination on fd 1 when nothing is injected (as `apply`): pino flushes it when the
    // process exits, so no line is lost to cli.ts's exit.
    : new JsonReport(opts.out ? createLogger('info', opts.out) : createLogger('info'));
  const fail = (message: string): number => {
    report.error(message);
    process.stderr.write(`warden recover: ${message}\n`);
    return 2;
  };
  let desired: DesiredState;
  try {
    desired = (await openSource(opts).load(opts.signal)).state;
  } catch (err) {
    // The loader's message is FILE:LINE:COL: ..., as `validate` prints it: no prefix.
    report.error((err as Error).message);
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const port = opts.port ?? createDockerPort({ host: opts.host, context: opts.context });
  const probe = opts.probe ?? probeRegistry;
  try {
    await waitForCluster(port, report, opts.signal);
    const services = await port.listServices();
    const graph = dependencyGraph(desired, services);
    const cycle = findCycle(graph);
    if (cycle) return fail(`dependency cycle ${cycle.join(' → ')} (through the registry's images): nothing was restarted`);
    if (graph.size === 0) {
      report.nothing();
      return 0;
    }
    const plan = waves(graph);
    const outcomes = new Map<string, ServiceOutcome>();
    report.started(graph.size, plan);
    for (const [i, wave] of plan.entries()) {
      const w = { wave: i + 1, waves: plan.length };
      report.wave(w, wave);
      const current = new Map((await port.listServices()).map((s) => [s.name, s]));
      const restarting: SwarmService[] = [];
      for (const name of wave) {
        const svc = current.get(name);
        const blocked = [...(graph.get(name) ?? [])].filter((d) => outcomes.get(d)?.state !== 'converged');
        let skip: ServiceOutcome | undefined;
        if (!svc) skip = { name, state: 'skipped', detail: 'missing from the cluster' };
        else if (blocked.length > 0) skip = { name, state: 'skipped', detail: `not restarted: ${blocked.join(', ')} did not converge` };
        // Left alone on purpose: not a failure, and not a reason to hold back what depends on it.
        else if (svc.mode === 'replicated-job' || svc.mode === 'global-job') skip = { name, state: 'converged', detail: 'left alone: a job (a forced update would run it again)' };
        else if (isIgnored(svc.labels, desired.policy.ignoreLabel)) skip = { name, state: 'converged', detail: `left alone: labelled ${desired.policy.ignoreLabel}=true` };
        if (skip !== undefined || !svc) {
          const o = skip ?? { name, state: 'skipped', detail: 'missing from the cluster' };
          outcomes.set(name, o);
          report.notRestarted(w, o);
          continue;
        }
        await restart(port, svc);
        report.restarted(w, svc.name, svc.forceUpdate + 1);
        restarting.push(svc);
      }
      for (const o of await converge(port, desired, restarting, probe, opts.waveTimeoutMs ?? RECOVER_WAVE_TIMEOUT_MS, w, report, opts.signal)) outcomes.set(o.name, o);
    }
    report.finished([...outcomes.values()]);
    return [...outcomes.values()].every((o) => o.state === 'converged') ? 0 : 1;
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** WaveNumber says which wave of how many an event belongs to. */
type WaveNumber = { wave: number; waves: number };

/** ClusterCheck is what the wait for the managers and nodes found. */
interface ClusterCheck {
  managers: { reachable: number; total: number };
  nodes: { ready: number; total: number };
  /** notReady names the nodes the recovery goes on without (empty when every node is ready). */
  notReady: string[];
}

/**
 * RecoverReport is how recover tells what it does, one call per event: TextReport writes the lines a
 * person reads (and a progress line on a terminal), JsonReport one pino log line per event.
 */
interface RecoverReport {
  /** waiting is progress while nothing is decided yet (the managers, a wave); shown only on a terminal. */
  waiting(text: string): void;
  cluster(check: ClusterCheck): void;
  nothing(): void;
  started(services: number, plan: string[][]): void;
  wave(w: WaveNumber, services: string[]): void;
  restarted(w: WaveNumber, service: string, forceUpdate: number): void;
  notRestarted(w: WaveNumber, outcome: ServiceOutcome): void;
  converged(w: WaveNumber, service: string, detail: { running: string; probe?: string; seconds: number }): void;
  failed(w: WaveNumber, service: string, detail: string): void;
  finished(outcomes: ServiceOutcome[]): void;
  /** error is the end of a recovery that could not run (exit 2). */
  error(message: string): void;
}

function clusterLine(c: ClusterCheck): string {
  const line = `managers ${c.managers.reachable}/${c.managers.total} reachable, nodes ${c.nodes.ready}/${c.nodes.total} ready`;
  return c.notReady.length > 0 ? `${line}; going on without ${c.notReady.join(', ')}` : line;
}

// The lines for people: what the reference shows. Errors go to stderr, from recoverCommand.
class TextReport implements RecoverReport {
  private readonly progress: Progress;
  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }) {
    this.progress = new Progress(out);
  }

  private line(text: string): void {
    this.progress.clear();
    this.out.write(`${text}\n`);
  }

  waiting(text: string): void {
    this.progress.show(text);
  }
  cluster(c: ClusterCheck): void {
    this.line(clusterLine(c));
  }
  nothing(): void {
    this.line('nothing to recover: the file names no services and no registry');
  }
  started(services: number, plan: string[][]): void {
    this.line(`recovering ${services} service(s) in ${plan.length} wave(s)`);
  }
  wave(w: WaveNumber, services: string[]): void {
    this.line(`wave ${w.wave}/${w.waves}: ${services.join(', ')}`);
  }
  restarted(): void {
    // Said when the service converges or fails: a line per service.
  }
  notRestarted(_w: WaveNumber, o: ServiceOutcome): void {
    this.line(`  ${o.state === 'converged' ? 'left   ' : 'skipped'} ${o.name}: ${o.detail}`);
  }
  converged(_w: WaveNumber, service: string, d: { running: string; probe?: string; seconds: number }): void {
    this.line(`  ok      ${service}: ${d.running} running${d.probe ? `, probe ${d.probe}` : ''} after ${d.seconds.toFixed(1)} s`);
  }
  failed(_w: WaveNumber, service: string, detail: string): void {
    this.line(`  FAILED  ${service}: ${detail}`);
  }
  finished(outcomes: ServiceOutcome[]): void {
    const bad = outcomes.filter((o) => o.state !== 'converged');
    this.line(bad.length === 0
      ? `recovered: all ${outcomes.length} service(s) converged`
      : `not recovered: ${bad.map((o) => `${o.name} (${o.detail})`).join('; ')}`);
  }
  error(): void {
    this.progress.clear();
  }
}

// One JSON line per event, for programs and log collectors: a constant message, the data in fields.
// The last line is always `recovery finished`, with the outcome and the exit code.
class JsonReport implements RecoverReport {
  constructor(private readonly log: Logger) {}

  waiting(): void {
    // Progress is for a person watching; a log gets the events.
  }
  cluster(c: ClusterCheck): void {
    if (c.notReady.length === 0) this.log.info({ managers: c.managers, nodes: c.nodes }, 'cluster ready');
    else this.log.warn({ managers: c.managers, nodes: c.nodes, notReady: c.notReady }, 'going on without the nodes that are not ready');
  }
  nothing(): void {
    this.log.info({ outcome: 'nothing to recover', exitCode: 0, services: 0 }, 'recovery finished');
  }
  started(services: number, plan: string[][]): void {
    this.log.info({ services, waves: plan.length, plan }, 'recovery started');
  }
  wave(w: WaveNumber, services: string[]): void {
    this.log.info({ ...w, services }, 'wave started');
  }
  restarted(w: WaveNumber, service: string, forceUpdate: number): void {
    this.log.info({ ...w, service, forceUpdate }, 'service restarted');
  }
  notRestarted(w: WaveNumber, o: ServiceOutcome): void {
    // Left alone on purpose (a job, the ignore label) is not a problem; held back (missing, a dependency
    // that did not converge) is.
    if (o.state === 'converged') this.log.info({ ...w, service: o.name, reason: o.detail }, 'service left alone');
    else this.log.warn({ ...w, service: o.name, reason: o.detail }, 'service held');
  }
  converged(w: WaveNumber, service: string, d: { running: string; probe?: string; seconds: number }): void {
    this.log.info({ ...w, service, running: d.running, ...(d.probe ? { probe: d.probe } : {}), seconds: Number(d.seconds.toFixed(1)) }, 'service converged');
  }
  failed(w: WaveNumber, service: string, detail: string): void {
    this.log.error({ ...w, service, reason: detail }, 'service did not converge');
  }
  finished(outcomes: ServiceOutcome[]): void {
    const bad = outcomes.filter((o) => o.state !== 'converged');
    const fields = {
      outcome: bad.length === 0 ? 'recovered' : 'not recovered',
      exitCode: bad.length === 0 ? 0 : 1,
      services: outcomes.length,
      converged: outcomes.length - bad.length,
      notConverged: bad.map((o) => ({ service: o.name, reason: o.detail })),
    };
    if (bad.length === 0) this.log.info(fields, 'recovery finished');
    else this.log.error(fields, 'recovery finished');
  }
  error(message: string): void {
    this.log.error({ outcome: 'error', exitCode: 2, err: { message } }, 'recovery finished');
  }
}

// The managers first: the swarm must have quorum (the list calls answer) and its nodes should be ready.
// Nodes that stay down are named and the recovery goes on: what can run elsewhere should.
async function waitForCluster(port: DockerPort, report: RecoverReport, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + RECOVER_CLUSTER_TIMEOUT_MS;
  let last = '';
  for (;;) {
    let state: string;
    try {
      const nodes = await port.listNodes();
      const ready = nodes.filter((n) => n.state === 'ready');
      const managers = nodes.filter((n) => n.manager);
      const reachable = managers.filter((n) => n.manager?.reachability === 'reachable');
      const check: ClusterCheck = {
        managers: { reachable: reachable.length, total: managers.length },
        nodes: { ready: ready.length, total: nodes.length },
        notReady: [],
      };
      state = clusterLine(check);
      if (ready.length === nodes.length && reachable.length === managers.length) {
        report.cluster(check);
        return;
      }
      if (performance.now() >= deadline) {
        report.cluster({ ...check, notReady: nodes.filter((n) => n.state !== 'ready').map((n) => n.hostname) });
        return;
      }
    } catch (err) {
      // No quorum yet, or the engine is still starting: nothing can be restarted before it answers.
      state = `waiting for the managers: ${(err as Error).message}`;
      if (performance.now() >= deadline) throw new Error(`the swarm did not answer within ${RECOVER_CLUSTER_TIMEOUT_MS / 1000} s: ${(err as Error).message}`);
    }
    if (state !== last) report.waiting(state);
    last = state;
    await sleep(500, undefined, signal ? { signal } : {});
  }
}

async function restart(port: DockerPort, svc: SwarmService): Promise<void> {
  const action: Action = {
    kind: 'force-restart', reconciler: 'ordering', object: svc.name, serviceId: svc.id,
    before: { forceUpdate: svc.forceUpdate }, after: { forceUpdate: svc.forceUpdate + 1 }, disruptive: true, ignored: false,
  };
  const snapshot: Observed = { info: await port.info(), nodes: [], services: [svc], tasks: [], at: Date.now() };
  await applyAction(port, action, snapshot);
}

// Waits until every restarted service of the wave runs all its tasks (and the registry's probe answers),
// reporting each service as it converges; at the deadline the rest fail with the engine's error.
async function converge(
  port: DockerPort,
  desired: DesiredState,
  restarted: SwarmService[],
  probe: (url: string, signal?: AbortSignal) => Promise<ProbeObservation>,
  timeoutMs: number,
  w: WaveNumber,
  report: RecoverReport,
  signal?: AbortSignal,
): Promise<ServiceOutcome[]> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  const pending = new Map(restarted.map((s) => [s.id, s]));
  const outcomes: ServiceOutcome[] = [];
  while (pending.size > 0) {
    const now = new Map((await port.listServices()).map((s) => [s.id, s]));
    const states: string[] = [];
    for (const [id, before] of pending) {
      const svc = now.get(id);
      if (!svc) {
        pending.delete(id);
        const o: ServiceOutcome = { name: before.name, state: 'failed', detail: 'removed while recovering' };
        report.failed(w, o.name, o.detail);
        outcomes.push(o);
        continue;
      }
      // Converged means the restarted tasks run, not the old ones that still count right after the write.
      const progress = svc.forceUpdate > before.forceUpdate ? await restartProgress(port, svc) : undefined;
      let ok = progress?.done ?? false;
      // Once converged, the count is the tasks' that decided it (the service's own counts, read a moment
      // earlier with the list, can still show the old tasks going).
      const running = (ok && progress?.running) || (svc.status ? `${svc.status.runningTasks}/${svc.status.desiredTasks}` : '?');
      let probeNote: string | undefined;
      if (ok && desired.registry?.service === svc.name) {
        const answer = await probe(desired.registry.probe, signal);
        ok = answer.ok;
        probeNote = ok ? 'answers' : answer.detail;
      }
      if (ok) {
        pending.delete(id);
        report.converged(w, svc.name, { running, ...(probeNote ? { probe: probeNote } : {}), seconds: (performance.now() - started) / 1000 });
        outcomes.push({ name: svc.name, state: 'converged', detail: `${running} running` });
      } else {
        states.push(`${svc.name} ${running}${probeNote ? `, probe: ${probeNote}` : ''}`);
      }
    }
    if (pending.size === 0) break;
    if (performance.now() >= deadline) {
      for (const svc of pending.values()) {
        const current = now.get(svc.id);
        const running = current?.status ? `${current.status.runningTasks}/${current.status.desiredTasks} running` : 'no task counts';
        const error = await lastError(port, svc);
        const detail = `${running} after ${Math.round(timeoutMs / 1000)} s${error ? `: ${error}` : ''}`;
        report.failed(w, svc.name, detail);
        outcomes.push({ name: svc.name, state: 'failed', detail });
      }
      break;
    }
    report.waiting(`  waiting ${Math.round((performance.now() - started) / 1000)} s: ${states.join(', ')}`);
    await sleep(500, undefined, signal ? { signal } : {});
  }
  return outcomes;
}

// The engine's own words for why a service does not run: its newest failed or rejected task's error.
async function lastError(port: DockerPort, svc: SwarmService): Promise<string | undefined> {
  const tasks = await port.listTasks({ serviceId: svc.id }).catch(() => []);
  const failed = tasks.filter((t) => t.state === 'failed' || t.state === 'rejected').sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp));
  const t = failed[0];
  return t ? t.err || t.message : undefined;
}

// On a terminal, one line that is rewritten in place; elsewhere (logs, pipes), nothing but the lines.
class Progress {
  private shown = false;
  constructor(private readonly out: NodeJS.WritableStream & { isTTY?: boolean }) {}

  show(text: string): void {
    if (!this.out.isTTY) return;
    this.out.write(`\r\x1b[2K${text.slice(0, (process.stdout.columns ?? 120) - 1)}`);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }
}
