// `warden status`: every kept service's sync beside its health (contract §3), as a table or JSON; exit 0
// when all are healthy, 1 when not, 2 on error. With --wait it passes again until all are healthy, and
// gives up at the first degraded service (a CI job after a push wants to know at once) or at the timeout.
// Each look is a plan-only pass: status changes nothing.
import { createLogger } from '../controller/log.js';
import { serviceStatuses, type ServiceStatusView } from '../controller/service-status.js';
import type { SourceOptions } from '../desired-state/open-source.js';
import type { EngineOptions } from '../docker/engine.js';
import { loadOnce, oneShot, type HostRootOptions, type Loaded } from './controller.js';
import { formatStatusTable } from './status-format.js';

/** STATUS_POLL_MS is how often `status --wait` looks again (default 2 s). */
export const STATUS_POLL_MS = 2_000;

/** STATUS_TIMEOUT_MS is how long `status --wait` waits by default: 5 min. */
export const STATUS_TIMEOUT_MS = 5 * 60_000;

/** StatusOptions are `warden status`'s flags: output format, and --wait with its --timeout in ms. */
export type StatusOptions = SourceOptions & EngineOptions & HostRootOptions & { output: 'text' | 'json'; wait?: boolean; timeout?: number };

/** StatusDocument is what `status -o json` prints: the revision, whether every kept service is healthy, and each one. */
export interface StatusDocument {
  cluster: string;
  source: string;
  revision: string;
  healthy: boolean;
  services: ServiceStatusView[];
}

/** StatusClock is what --wait reads and waits with (tests give their own; default the real ones). */
export interface StatusClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: StatusClock = { now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/** allHealthy tells whether every kept service is healthy (true when warden keeps none). */
export function allHealthy(views: readonly ServiceStatusView[]): boolean {
  return views.every((v) => v.health === 'healthy');
}

/** Look is one look at every kept service: their views, or why it could not look (exit 2). */
export type Look = () => Promise<ServiceStatusView[] | { error: string }>;

/** Verdict is what watching ended with: the exit code, the last views, and what to say on stderr. */
export interface Verdict {
  code: number;
  views: ServiceStatusView[];
  said: string[];
}

/**
 * watchHealth looks once, or with `wait` until every service is healthy (0), one is degraded (1) or
 * `timeoutMs` has passed (1); a look that fails ends it (2). Each change of a service's health while it
 * waits is said through `say`.
 */
export async function watchHealth(look: Look, opts: { wait: boolean; timeoutMs: number }, clock: StatusClock, say: (line: string) => void): Promise<Verdict> {
  const deadline = clock.now() + opts.timeoutMs;
  const said = new Map<string, string>();
  for (;;) {
    const views = await look();
    if (!Array.isArray(views)) return { code: 2, views: [], said: [`warden status: ${views.error}`] };
    const healthy = allHealthy(views);
    const degraded = views.filter((v) => v.health === 'degraded');
    if (!opts.wait || healthy || degraded.length > 0) {
      const why = opts.wait && !healthy ? [`warden status: ${degraded.map((v) => `${v.service} is degraded: ${v.reason}`).join('; ')}`] : [];
      return { code: healthy ? 0 : 1, views, said: why };
    }
    if (clock.now() >= deadline) {
      const waiting = views.filter((v) => v.health !== 'healthy').map((v) => `${v.service} ${v.health}`);
      return { code: 1, views, said: [`warden status: timed out waiting for every service to be healthy (${waiting.join(', ')})`] };
    }
    sayChanges(views, said, say);
    await clock.sleep(Math.min(STATUS_POLL_MS, Math.max(0, deadline - clock.now())));
  }
}

/** statusCommand looks at every kept service once, or with --wait until all are healthy: 0 all healthy, 1 not, 2 error. */
export async function statusCommand(opts: StatusOptions, clock: StatusClock = realClock): Promise<number> {
  const got = await loadOnce(opts);
  if (typeof got === 'number') return got;
  const controller = oneShot(opts, false, createLogger('warn', process.stderr));
  if (typeof controller === 'number') return controller;
  controller.setDesired(got.loaded);
  // Each look is a plan-only pass; a reconciler that could not plan leaves sync unknown: an error, as for plan.
  const look: Look = async () => {
    const result = await controller.pass(['status'], undefined, true);
    const failed = result.results.find((r) => r.error !== undefined);
    if (result.error || failed) return { error: result.error ?? `${failed?.id}: ${failed?.error}` };
    return serviceStatuses(result);
  };
  const verdict = await watchHealth(look, { wait: opts.wait ?? false, timeoutMs: opts.timeout ?? STATUS_TIMEOUT_MS }, clock, (l) => process.stderr.write(`${l}\n`));
  if (verdict.code !== 2) print(got, verdict.views, verdict.code === 0, opts.output, clock.now());
  for (const line of verdict.said) process.stderr.write(`${line}\n`);
  return verdict.code;
}

// While waiting, each service's health is said on stderr when it changes, so that a CI log shows progress.
function sayChanges(views: readonly ServiceStatusView[], said: Map<string, string>, say: (line: string) => void): void {
  for (const v of views) {
    const line = `${v.health}${v.reason ? `: ${v.reason}` : ''} (${v.running}/${v.desired} running)`;
    if (said.get(v.service) === line) continue;
    said.set(v.service, line);
    say(`waiting: ${v.service} ${line}`);
  }
}

function print(got: Loaded, views: ServiceStatusView[], healthy: boolean, output: 'text' | 'json', now: number): void {
  if (output === 'json') {
    const doc: StatusDocument = { cluster: got.loaded.state.cluster, source: got.loaded.source, revision: got.loaded.revision, healthy, services: views };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    process.stdout.write(formatStatusTable(views, now));
  }
}
