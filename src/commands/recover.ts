// `warden recover -f FILE`: the reboot runbook as one command. It waits for the managers (quorum) and the
// nodes, then restarts every service warden orders, wave by wave: the registry first (healthy when it runs
// all its tasks and its probe answers), then each service once all its dependencies are healthy, by a
// forced update through the one apply path, waiting for each wave to converge before the next. A service
// whose dependency did not converge is not restarted: it is named with the reason.
import { setTimeout as sleep } from 'node:timers/promises';
import { applyAction, restartProgress } from '../controller/apply.js';
import { openSource, type SourceOptions } from '../desired-state/open-source.js';
import type { DesiredState } from '../desired-state/types.js';
import { createDockerPort, type EngineOptions } from '../docker/engine.js';
import type { DockerPort, SwarmService } from '../docker/port.js';
import { probeRegistry } from '../host/probe.js';
import { dependencyGraph, findCycle, waves } from '../reconcilers/ordering.js';
import { isIgnored, type Action, type Observed, type ProbeObservation } from '../reconcilers/types.js';

/** RECOVER_WAVE_TIMEOUT_MS bounds how long one wave may take to converge (default 3 min). */
export const RECOVER_WAVE_TIMEOUT_MS = 180_000;
/** RECOVER_CLUSTER_TIMEOUT_MS bounds the wait for quorum and ready nodes before the first wave (default 2 min). */
export const RECOVER_CLUSTER_TIMEOUT_MS = 120_000;

/** RecoverOptions are the command's flags, plus what tests inject. */
export interface RecoverOptions extends SourceOptions, EngineOptions {
  /** waveTimeoutMs overrides RECOVER_WAVE_TIMEOUT_MS. */
  waveTimeoutMs?: number;
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
  const write = (line: string): void => void out.write(`${line}\n`);
  let desired: DesiredState;
  try {
    desired = (await openSource(opts).load(opts.signal)).state;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const port = opts.port ?? createDockerPort({ host: opts.host });
  const probe = opts.probe ?? probeRegistry;
  const progress = new Progress(out);
  try {
    await waitForCluster(port, write, progress, opts.signal);
    const services = await port.listServices();
    const graph = dependencyGraph(desired, services);
    const cycle = findCycle(graph);
    if (cycle) {
      process.stderr.write(`warden recover: dependency cycle ${cycle.join(' → ')} (through the registry's images): nothing was restarted\n`);
      return 2;
    }
    if (graph.size === 0) {
      write('nothing to recover: the file names no services and no registry');
      return 0;
    }
    const plan = waves(graph);
    const outcomes = new Map<string, ServiceOutcome>();
    write(`recovering ${graph.size} service(s) in ${plan.length} wave(s)`);
    for (const [i, wave] of plan.entries()) {
      write(`wave ${i + 1}/${plan.length}: ${wave.join(', ')}`);
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
          write(`  ${o.state === 'converged' ? 'left   ' : 'skipped'} ${name}: ${o.detail}`);
          continue;
        }
        await restart(port, svc);
        restarting.push(svc);
      }
      for (const o of await converge(port, desired, restarting, probe, opts.waveTimeoutMs ?? RECOVER_WAVE_TIMEOUT_MS, write, progress, opts.signal)) outcomes.set(o.name, o);
    }
    progress.clear();
    const bad = [...outcomes.values()].filter((o) => o.state !== 'converged');
    if (bad.length === 0) {
      write(`recovered: all ${outcomes.size} service(s) converged`);
      return 0;
    }
    write(`not recovered: ${bad.map((o) => `${o.name} (${o.detail})`).join('; ')}`);
    return 1;
  } catch (err) {
    progress.clear();
    process.stderr.write(`warden recover: ${(err as Error).message}\n`);
    return 2;
  }
}

// The managers first: the swarm must have quorum (the list calls answer) and its nodes should be ready.
// Nodes that stay down are named and the recovery goes on: what can run elsewhere should.
async function waitForCluster(port: DockerPort, write: (l: string) => void, progress: Progress, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + RECOVER_CLUSTER_TIMEOUT_MS;
  let last = '';
  for (;;) {
    let state: string;
    try {
      const nodes = await port.listNodes();
      const ready = nodes.filter((n) => n.state === 'ready');
      const managers = nodes.filter((n) => n.manager);
      const reachable = managers.filter((n) => n.manager?.reachability === 'reachable');
      state = `managers ${reachable.length}/${managers.length} reachable, nodes ${ready.length}/${nodes.length} ready`;
      if (ready.length === nodes.length && reachable.length === managers.length) {
        progress.clear();
        write(state);
        return;
      }
      if (performance.now() >= deadline) {
        progress.clear();
        write(`${state}; going on without ${nodes.filter((n) => n.state !== 'ready').map((n) => n.hostname).join(', ')}`);
        return;
      }
    } catch (err) {
      // No quorum yet, or the engine is still starting: nothing can be restarted before it answers.
      state = `waiting for the managers: ${(err as Error).message}`;
      if (performance.now() >= deadline) throw new Error(`the swarm did not answer within ${RECOVER_CLUSTER_TIMEOUT_MS / 1000} s: ${(err as Error).message}`);
    }
    if (state !== last) progress.show(state);
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
// printing a line per service as it converges; at the deadline the rest fail with the engine's error.
async function converge(
  port: DockerPort,
  desired: DesiredState,
  restarted: SwarmService[],
  probe: (url: string, signal?: AbortSignal) => Promise<ProbeObservation>,
  timeoutMs: number,
  write: (l: string) => void,
  progress: Progress,
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
        outcomes.push({ name: before.name, state: 'failed', detail: 'removed while recovering' });
        continue;
      }
      const running = svc.status ? `${svc.status.runningTasks}/${svc.status.desiredTasks}` : '?';
      // Converged means the restarted tasks run, not the old ones that still count right after the write.
      let ok = svc.forceUpdate > before.forceUpdate && (await restartProgress(port, svc)).done;
      let note = '';
      if (ok && desired.registry?.service === svc.name) {
        const answer = await probe(desired.registry.probe, signal);
        ok = answer.ok;
        note = ok ? ', probe answers' : `, probe: ${answer.detail}`;
      }
      if (ok) {
        pending.delete(id);
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        progress.clear();
        write(`  ok      ${svc.name}: ${running} running${note} after ${secs} s`);
        outcomes.push({ name: svc.name, state: 'converged', detail: `${running} running` });
      } else {
        states.push(`${svc.name} ${running}${note}`);
      }
    }
    if (pending.size === 0) break;
    if (performance.now() >= deadline) {
      for (const svc of pending.values()) {
        const current = now.get(svc.id);
        const running = current?.status ? `${current.status.runningTasks}/${current.status.desiredTasks} running` : 'no task counts';
        const error = await lastError(port, svc);
        const detail = `${running} after ${Math.round(timeoutMs / 1000)} s${error ? `: ${error}` : ''}`;
        progress.clear();
        write(`  FAILED  ${svc.name}: ${detail}`);
        outcomes.push({ name: svc.name, state: 'failed', detail });
      }
      break;
    }
    progress.show(`  waiting ${Math.round((performance.now() - started) / 1000)} s: ${states.join(', ')}`);
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
