// A randomized fault soak (issue 18, item 9): warden runs for real on a lab swarm (`warden run` against
// every manager's engine, or two of them, the desired state from a git server, volumes on a tmpfs
// "NAS", the registry as a swarm service) while a schedule of faults drawn from a seed stops engines
// (the leader's right after a drift), takes the registry away, scales and relabels by hand, runs a
// competing scaler, stops and force-pushes the git server, hangs the NAS and adds and restarts warden
// instances. The engine is polled all along; after each fault and at the end the invariants are
// checked against it and warden's logs (bench/soak/invariants.ts), and once the faults stop the
// cluster must converge within a stated bound. It prints the seed first, each fault, each invariant's
// result, a summary; writes bench/results/soak.json; exits 1 on any violation (naming the seed), 2
// when it could not run.
//
//   npm run soak -- [--minutes 30] [--seed N] [--lab 8] [--wardens 3] [--keep-lab]
//
// The same seed gives the same schedule of faults; the engine's timing (elections, task starts) and
// so which node a pick lands on after an election still vary from run to run.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { labDown, labUp } from '../src/lab/lab.js';
import { startGitServer, type GitServer } from '../test/support/git-server.js';
import { runWarden } from '../test/support/warden.js';
import { machine, percentile, writeResults } from './support.js';
import { parseSoakArgs, SoakUsageError, type SoakArgs } from './soak/args.js';
import { engineDrift, registryAddress, setUpCluster, setUpVolumes, volumeDrift } from './soak/cluster.js';
import { desiredReplicas, desiredYaml, NAS, SCALED, type ScaledService } from './soak/desired.js';
import { followManagers, injectFault, Wardens, type FaultRecord, type Soak } from './soak/faults.js';
import { checkAll, checkFindings, writesOf, type InvariantResult, type Violation } from './soak/invariants.js';
import { isMounted, mountNas, unmountAll } from './soak/nas.js';
import { conflicts, describeFault, MAX_AT_ONCE, planFaults, type PlannedFault } from './soak/schedule.js';
import { pollEngine, Timeline } from './soak/timeline.js';

/** CONVERGE_BASE_MS is the convergence bound once nothing warden waits for is pending (default 180 s). */
export const CONVERGE_BASE_MS = 180_000;
/** BASELINE_DEADLINE_MS bounds the wait for warden's first in-sync pass before the faults (default 240 s). */
export const BASELINE_DEADLINE_MS = 240_000;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Convergence is how the cluster came back once the faults stopped. */
interface Convergence {
  ok: boolean;
  /** boundMs is the bound it had, after the last fault's end. */
  boundMs: number;
  /** why explains the bound (what warden was still waiting for). */
  why: string;
  /** convergedMs is when the cluster was in sync, after the last fault's end (confirmed by `warden plan`). */
  convergedMs?: number;
  /** lastDrift is what was still out of sync at the deadline. */
  lastDrift?: string;
}

async function main(): Promise<number> {
  let args: SoakArgs;
  try {
    args = parseSoakArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    return 2;
  }
  const reproduce = `npm run soak -- --seed ${args.seed} --minutes ${args.minutes} --lab ${args.lab} --wardens ${args.wardens}`;
  say(`soak: seed ${args.seed} (reproduce: ${reproduce})`);
  const plan = planFaults(args.seed, args.minutes);
  say(`soak: ${plan.length} faults planned over ${args.minutes} min, at most ${MAX_AT_ONCE} at once, at most one manager down:`);
  for (const f of plan) say(`  ${describeFault(f)}`);

  // SIGINT or SIGTERM: no new fault starts, the ones under way finish (they restore what they broke), and
  // the soak tears down as at its end; a second signal exits at once.
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) process.exit(130);
    say(`soak: ${signal}: no new fault; the faults under way finish, then the soak tears down (again to exit at once)`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const dir = mkdtempSync(`/tmp/warden-soak-${args.seed}-`);
  const hostRoot = join(dir, 'host');
  const nasDir = join(hostRoot, NAS);
  say(`soak: logs and state in ${dir}`);
  const poll = new AbortController();
  let polling: Promise<void> | undefined;
  let following: Promise<void> | undefined;
  let git: GitServer | undefined;
  let wardens: Wardens | undefined;
  let timeline: Timeline | undefined;
  try {
    const engine = process.env.WARDEN_LAB_ENGINE ?? 'newest';
    const lab = await labUp({ id: args.lab, managers: 3, workers: 2, engine, log: (l) => say(`lab ${args.lab}: ${l}`) });
    mkdirSync(nasDir, { recursive: true });
    mountNas(nasDir);
    setUpVolumes(hostRoot);
    await setUpCluster(lab, (l) => say(`soak: ${l}`));
    git = await startGitServer();
    const revision = await git.push({ 'warden.yml': desiredYaml('A', registryAddress(lab)) }, 'soak: variant A');
    timeline = new Timeline(Date.now());
    timeline.variants.push({ at: timeline.startedAt, variant: 'A' });
    polling = pollEngine(lab, timeline, poll.signal);
    wardens = new Wardens({ gitUrl: git.url, hostRoot, dir, timeline });
    const s: Soak = { lab, timeline, git, hostRoot, nasDir, wardens, variant: 'A', revision, say };
    // Standing instances against managers' engines, as warden's global service runs: one leads, the others
    // stand by. With --wardens 3 they follow the managers (a promoted worker gets one); with 2, two stay put.
    for (const m of lab.managers.slice(0, args.wardens)) await wardens.start(`standing-${m.name}`, m);

    const baseline = await waitInSync(s, Date.now(), BASELINE_DEADLINE_MS, dir, false);
    if (!baseline.ok) throw new Error(`warden did not bring the cluster in sync before the faults: ${baseline.lastDrift}`);
    if (args.wardens === lab.managers.length) following = followManagers(s, poll.signal);
    const t0 = Date.now();
    timeline.startedAt = t0;
    say(`[${timeline.offset(t0)}] soak: in sync with ${wardens.running().length} instances (${wardens.running().map((w) => w.id).join(', ')}); faults begin`);

    const records = await runSchedule(s, plan, t0, interrupt.signal);
    if (interrupt.signal.aborted) throw new Error(`interrupted after ${records.length} of ${plan.length} faults`);
    const lastEnd = Math.max(t0, ...records.map((r) => r.endedAt ?? 0));
    say(`[${timeline.offset(lastEnd)}] soak: the last fault ended; waiting for the cluster to converge`);
    const convergence = await converge(s, lastEnd, dir);
    const invariants = checkAll(timeline, Date.now());
    const findings = checkFindings(timeline, wantedBy(timeline));
    printInvariants(timeline, 'the end', invariants, findings, new Set());
    const violations = invariants.flatMap((r) => r.violations);
    const ok = violations.length === 0 && convergence.ok;
    const result = summarize(args, s, records, invariants, findings, convergence, t0, lastEnd, dir, ok);
    writeResults('soak', result);
    say('');
    say(`soak: ${ok ? 'PASSED' : 'FAILED'}: seed ${args.seed}, ${args.minutes} min, ${result.faults.injected} faults injected (${result.faults.skipped} skipped), ` +
      `${result.corrections.total} corrections, converged ${convergence.convergedMs !== undefined ? `${(convergence.convergedMs / 1000).toFixed(1)} s` : 'NOT'} after the last fault (bound ${(convergence.boundMs / 1000).toFixed(0)} s)`);
    for (const r of invariants) say(`  ${r.ok ? 'ok       ' : 'VIOLATED '} ${r.name}: ${r.detail}`);
    say(`  ${convergence.ok ? 'ok       ' : 'VIOLATED '} convergence: ${convergence.why}`);
    for (const r of findings) say(`  ${r.ok ? 'none     ' : 'FINDING  '} ${r.name}: ${r.detail} (reported, does not fail the soak)`);
    say(`soak: results in bench/results/soak.json, logs in ${dir}`);
    if (!ok) say(`soak: reproduce with: ${reproduce}`);
    return ok ? 0 : 1;
  } catch (err) {
    process.stderr.write(interrupt.signal.aborted ? `soak: ${(err as Error).message}\n` : `soak: could not run: ${(err as Error).stack ?? String(err)}\n`);
    if (timeline) process.stderr.write(`soak: the last 30 s of the timeline:\n${timeline.around(Date.now() - 30_000, Date.now())}\n`);
    process.stderr.write(`soak: seed ${args.seed}; logs in ${dir}\n`);
    return 2;
  } finally {
    // The whole record, for a look afterwards (samples, the soak's steps, stopped nodes, variants).
    if (timeline) {
      const { samples, events, down, variants, startedAt } = timeline;
      writeFileSync(join(dir, 'timeline.json'), JSON.stringify({ startedAt, samples, events, down, variants }));
    }
    poll.abort();
    await following?.catch(() => undefined);
    await wardens?.stopAll().catch(() => undefined);
    await polling?.catch(() => undefined);
    await git?.close().catch(() => undefined);
    unmountAll(nasDir);
    if (!args.keepLab) await labDown(args.lab).catch((err: Error) => process.stderr.write(`soak: lab down failed: ${err.message}\n`));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** runSchedule injects the planned faults at their times, at most MAX_AT_ONCE at once and never two that conflict. */
async function runSchedule(s: Soak, plan: PlannedFault[], t0: number, signal: AbortSignal): Promise<FaultRecord[]> {
  const records: FaultRecord[] = [];
  const active = new Map<number, { fault: PlannedFault; done: Promise<void> }>();
  const printed = new Set<string>();
  for (const f of plan) {
    const wait = t0 + f.atMs - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
    if (signal.aborted) break;
    // A fault that ran longer than planned (a slow restart) delays the next one: the rules still hold.
    while (active.size >= MAX_AT_ONCE || [...active.values()].some((a) => conflicts(f, a.fault))) {
      await Promise.race([...active.values()].map((a) => a.done));
    }
    const done = injectFault(s, f, t0)
      .catch((err: Error): FaultRecord => {
        s.timeline.event(`failed: ${err.message.split('\n')[0]}`, f.n);
        return { n: f.n, kind: f.kind, variant: f.variant, plannedAt: t0 + f.atMs, note: `the soak's injection failed: ${err.message.split('\n')[0]}`, endedAt: Date.now() };
      })
      .then((rec) => {
        records.push(rec);
        if (!rec.skipped) {
          const took = rec.startedAt !== undefined && rec.endedAt !== undefined ? ` after ${((rec.endedAt - rec.startedAt) / 1000).toFixed(1)} s` : '';
          const reaction = rec.reactionMs !== undefined ? `; warden corrected it in ${(rec.reactionMs / 1000).toFixed(1)} s` : '';
          s.say(`[${s.timeline.offset(Date.now())}] fault #${f.n} ${f.kind} ended${took}${reaction}${rec.note ? ` (${rec.note})` : ''}`);
        }
        printInvariants(s.timeline, `#${f.n}`, checkAll(s.timeline, Date.now()), checkFindings(s.timeline, wantedBy(s.timeline)), printed);
        active.delete(f.n);
      });
    active.set(f.n, { fault: f, done });
  }
  await Promise.all([...active.values()].map((a) => a.done));
  return records.sort((a, b) => a.n - b.n);
}

/** wantedBy reads the replicas the desired state wanted of a service at a time (the variant then on the git server). */
function wantedBy(t: Timeline): (service: string, at: number) => number | undefined {
  return (service, at) => {
    if (!(SCALED as readonly string[]).includes(service)) return undefined;
    const variant = [...t.variants].reverse().find((v) => v.at <= at)?.variant ?? t.variants[0]?.variant ?? 'A';
    return desiredReplicas(variant)[service as ScaledService];
  };
}

function printInvariants(t: Timeline, label: string, results: InvariantResult[], findings: InvariantResult[], printed: Set<string>): void {
  const found = findings.filter((r) => !r.ok).map((r) => `${r.name} ${r.violations.length}`);
  say(`  invariants after ${label}: ${results.map((r) => `${r.name} ${r.ok ? 'ok' : 'VIOLATED'} (${r.checked})`).join(' · ')}${found.length ? ` · findings: ${found.join(', ')}` : ''}`);
  for (const [kind, list] of [['VIOLATION', results], ['FINDING', findings]] as const) {
    for (const r of list) {
      for (const v of r.violations) {
        const key = `${r.name} ${v.at} ${v.message}`;
        if (printed.has(key)) continue;
        printed.add(key);
        say(`  ${kind} ${r.name} at ${t.offset(v.at)}: ${v.message}`);
        say(`  the timeline around it:\n${t.around(v.at - 20_000, v.at + 5_000)}`);
      }
    }
  }
}

/**
 * boundFor is the convergence bound after the last fault: CONVERGE_BASE_MS after the latest of the
 * last fault's end and what each running instance says it waits for on /status (a flapping hold or a
 * refusal's backoff until a time, ordering's next try of a stuck service, rebalance's settle period).
 */
async function boundFor(s: Soak, lastEnd: number): Promise<{ boundMs: number; why: string }> {
  let until = lastEnd;
  const reasons: string[] = [];
  for (const w of s.wardens.running()) {
    const st = await w.status();
    for (const h of st?.held ?? []) {
      const at = Date.parse(h.until);
      if (at > until) {
        until = at;
        reasons.push(`${w.id} holds ${h.key} (${h.reason}) until ${h.until}`);
      }
    }
    for (const d of st?.drift.ordering ?? []) {
      const next = /next try at (\S+?);?$/.exec(d.message)?.[1] ?? /next try at (\S+)/.exec(d.message)?.[1];
      const at = next ? Date.parse(next) : NaN;
      if (Number.isFinite(at) && at > until) {
        until = at;
        reasons.push(`${w.id}: ordering's next try of ${d.object} at ${next}`);
      }
    }
    for (const d of st?.drift.rebalance ?? []) {
      const m = /the last update was (\d+) s ago; rebalancing waits (\d+) min/.exec(d.message);
      if (!m) continue;
      const at = Date.now() - Number(m[1]) * 1000 + Number(m[2]) * 60_000;
      if (at > until) {
        until = at;
        reasons.push(`${w.id}: rebalance of ${d.object} waits until ${new Date(at).toISOString()}`);
      }
    }
  }
  const boundMs = until - lastEnd + CONVERGE_BASE_MS;
  return { boundMs, why: `${CONVERGE_BASE_MS / 1000} s after ${reasons.length ? `the latest of the last fault's end and: ${reasons.join('; ')}` : "the last fault's end, as no instance waited for anything"}` };
}

/**
 * converge waits for the cluster to be in the desired state after the last fault, within the bound.
 * A warden instance runs on every manager's node in production; with `--wardens 2` (or after warden
 * promoted a worker), the leader's node may have none: then one is started there first (and said).
 */
async function converge(s: Soak, lastEnd: number, dir: string): Promise<Convergence> {
  const leader = s.timeline.latest()?.leader;
  if (leader && !s.wardens.on(leader)) {
    s.say(`[${s.timeline.offset(Date.now())}] soak: no warden runs on the leader ${leader}: starting one there, as warden's global service would have one`);
    await s.wardens.start('final', s.lab.node(leader));
  }
  const { boundMs, why } = await boundFor(s, lastEnd);
  s.say(`[${s.timeline.offset(Date.now())}] soak: convergence bound ${(boundMs / 1000).toFixed(0)} s after the last fault: ${why}`);
  const result = await waitInSync(s, lastEnd, boundMs, dir, true);
  const bound = `bound ${(boundMs / 1000).toFixed(0)} s: ${why}`;
  return { ...result, boundMs, why: result.ok ? `in sync ${(result.convergedMs! / 1000).toFixed(1)} s after the last fault (${bound})` : `not in sync within the bound (${bound}); still: ${result.lastDrift}` };
}

/**
 * waitInSync waits until the engine shows the desired state (replicas, running tasks, labels, three
 * reachable managers, the registry up, the volumes right) and `warden plan` against the leader agrees
 * (exit 0); it returns when that began, after `since`, or what still differed at the deadline. With
 * `followLeader`, a leader's node without a warden instance gets one (once).
 */
async function waitInSync(s: Soak, since: number, boundMs: number, dir: string, followLeader: boolean): Promise<{ ok: boolean; convergedMs?: number; lastDrift?: string }> {
  const deadline = since + boundMs;
  const file = join(dir, 'desired.yml');
  let cleanSince: number | undefined;
  let lastDrift = 'not looked yet';
  while (Date.now() < deadline) {
    const sample = s.timeline.latest();
    const drift = sample ? [...engineDrift(sample, s.variant), ...volumeDrift(s.hostRoot)] : ['no sample'];
    if (!isMounted(s.nasDir)) drift.push('the NAS is not mounted');
    // A leader change can leave the leader's node without an instance (two instances, three managers).
    const leader = sample?.leader;
    if (followLeader && leader && !s.wardens.on(leader) && !s.wardens.get('final')) {
      s.say(`[${s.timeline.offset(Date.now())}] soak: the leader moved to ${leader}, which has no warden: starting one there`);
      await s.wardens.start('final', s.lab.node(leader));
    }
    if (drift.length > 0) {
      cleanSince = undefined;
      lastDrift = drift.join(', ');
      await sleep(500);
      continue;
    }
    cleanSince ??= sample!.at;
    writeFileSync(file, desiredYaml(s.variant, registryAddress(s.lab)));
    const target = s.lab.node(leader!);
    const plan = await runWarden(['plan', '-f', file, '--host', target.host, '--host-root', s.hostRoot]);
    if (plan.code === 0) return { ok: true, convergedMs: Math.max(0, cleanSince - since) };
    cleanSince = undefined;
    lastDrift = `warden plan exit ${plan.code}: ${(plan.stdout + plan.stderr).trim().split('\n').filter((l) => /drift|error|action|held/.test(l)).join(' | ')}`;
    await sleep(2_000);
  }
  return { ok: false, lastDrift };
}

function stats(values: number[]): { n: number; p50: number; max: number } | { n: 0 } {
  if (values.length === 0) return { n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { n: values.length, p50: Math.round(percentile(sorted, 50)), max: Math.round(sorted[sorted.length - 1]!) };
}

function summarize(args: SoakArgs, s: Soak, records: FaultRecord[], invariants: InvariantResult[], findings: InvariantResult[], convergence: Convergence, t0: number, lastEnd: number, dir: string, ok: boolean) {
  const t = s.timeline;
  const injected = records.filter((r) => !r.skipped && r.startedAt !== undefined);
  const byKind: Record<string, number> = {};
  for (const r of injected) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  const reactions: Record<string, unknown> = {};
  for (const kind of new Set(injected.map((r) => r.kind))) {
    const of = injected.filter((r) => r.kind === kind);
    const measured = of.filter((r) => r.reactionMs !== undefined).map((r) => r.reactionMs!);
    if (['manual-scale', 'label-edit', 'volume-edit', 'leader-stop', 'git-force-push'].includes(kind)) {
      reactions[kind] = { ...stats(measured), notCorrected: of.length - measured.length };
    }
  }
  const applied = writesOf(t.logs).filter((w) => w.outcome === 'applied' && w.at >= t0);
  const corrections: Record<string, number> = {};
  for (const w of applied) corrections[`${w.reconciler}/${w.action}`] = (corrections[`${w.reconciler}/${w.action}`] ?? 0) + 1;
  const failedWrites = writesOf(t.logs).filter((w) => w.outcome === 'failed' && w.at >= t0).length;
  // Time the leader's node had no warden instance: nothing could act then.
  let bare = 0;
  let maxGap = 0;
  const samples = t.samples.filter((x) => x.at >= t0);
  for (let i = 0; i + 1 < samples.length; i++) {
    const x = samples[i]!;
    const dt = samples[i + 1]!.at - x.at;
    maxGap = Math.max(maxGap, dt);
    if (x.leader && !s.wardens.lifetimes.some((l) => l.node === x.leader && l.from <= x.at && (l.to === undefined || l.to >= x.at))) bare += dt;
  }
  const leaderless = samples.filter((x) => !x.via).length;
  return {
    date: new Date(t0).toISOString(),
    machine: machine(),
    lab: `${args.lab}: 3 managers + 2 workers, engine ${s.lab.engine.version} (${s.lab.engine.name})`,
    seed: args.seed,
    minutes: args.minutes,
    ok,
    wardens: args.wardens,
    reproduce: `npm run soak -- --seed ${args.seed} --minutes ${args.minutes} --lab ${args.lab} --wardens ${args.wardens}`,
    logs: dir,
    faults: { planned: records.length, injected: injected.length, skipped: records.length - injected.length, byKind, durationMs: lastEnd - t0 },
    corrections: { total: applied.length, byAction: corrections, failedWrites },
    reactions,
    engine: { samples: samples.length, maxSampleGapMs: maxGap, samplesWithoutLeader: leaderless, leaderWithoutWardenMs: bare },
    wardenInstances: s.wardens.lifetimes.map((l) => ({ id: l.id, fromMs: l.from - t0, toMs: l.to !== undefined ? l.to - t0 : undefined })),
    convergence,
    invariants: invariants.map((r) => ({ name: r.name, ok: r.ok, checked: r.checked, detail: r.detail, violations: r.violations.map((v: Violation) => ({ atMs: v.at - t0, message: v.message })) })),
    findings: findings.map((r) => ({ name: r.name, checked: r.checked, detail: r.detail, found: r.violations.map((v: Violation) => ({ atMs: v.at - t0, message: v.message })) })),
    records: records.map((r) => ({ ...r, plannedAt: r.plannedAt - t0, startedAt: r.startedAt !== undefined ? r.startedAt - t0 : undefined, endedAt: r.endedAt !== undefined ? r.endedAt - t0 : undefined })),
  };
}

main().then(
  (code) => {
    process.exitCode = code;
    // Whatever handle a library left open (a keep-alive socket), the soak is over.
    setTimeout(() => process.exit(code), 5_000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`soak failed: ${err instanceof SoakUsageError ? err.message : ((err as Error).stack ?? String(err))}\n`);
    process.exitCode = 2;
  },
);
