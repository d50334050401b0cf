// `warden plan`, `warden apply` and `warden run`: the controller from the command line.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { Controller, type ControllerOptions, type PassResult } from '../controller/controller.js';
import type { HostPort } from '../controller/host.js';
import { createLogger } from '../controller/log.js';
import { Metrics } from '../controller/metrics.js';
import { Notifier } from '../controller/notify.js';
import { serve } from '../controller/server.js';
import { createWebhookHandler, readWebhookSecret, WEBHOOK_PATH, type WebhookHandler } from '../controller/webhook.js';
import { openSource, sopsKeyring, type SourceOptions } from '../desired-state/open-source.js';
import type { SopsKeyring } from '../desired-state/sops/keys.js';
import type { DesiredStateSource, LoadedState } from '../desired-state/source.js';
import { createDockerPort, type EngineOptions } from '../docker/engine.js';
import { parseRegistryAuthFile, type RegistryAuth } from '../docker/registry-auth.js';
import { IsolatedHostFiles } from '../host/isolated.js';
import { probeRegistry } from '../host/probe.js';
import { buildInfo } from '../version.js';
import { logFormatFor, type LogFormat } from './log-format.js';
import { formatApplySummary, formatPlan, planDocument } from './plan-format.js';

/**
 * HostRootOptions is --host-root: where warden sees the hosts' file system (default `/`),
 * --registry-auth-file: a docker config.json whose credentials deployed stacks send (default none), and
 * --resolve-image-timeout and --resolve-image-interval (run): how long a pass waits for a stack image's
 * digest and how often it is asked for again, in ms (default the controller's: 5 s, 10 min).
 */
export interface HostRootOptions {
  hostRoot?: string;
  registryAuthFile?: string;
  resolveImageTimeout?: number;
  resolveImageInterval?: number;
}

// hostWiring is the real host port (files under the host root, read and changed in a host worker
// process that a hung share cannot stall warden through; the registry's probe) and file port.
function hostWiring(opts: HostRootOptions): Pick<ControllerOptions, 'host' | 'files'> {
  const files = new IsolatedHostFiles({ root: opts.hostRoot ?? '/' });
  return { host: { inspectPaths: (volumes, signal) => files.inspectPaths(volumes, signal), probe: probeRegistry }, files };
}

// registryAuthWiring reads --registry-auth-file, if given; a file that cannot be read is an Error that says
// why, and what it cannot use (credential helpers) is warned about.
function registryAuthWiring(opts: HostRootOptions, warn: (message: string) => void): Pick<ControllerOptions, 'registryAuth'> {
  if (!opts.registryAuthFile) return {};
  let text: string;
  try {
    text = readFileSync(opts.registryAuthFile, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the registry auth file ${opts.registryAuthFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const parsed = parseRegistryAuthFile(text, opts.registryAuthFile);
  parsed.warnings.forEach(warn);
  const registryAuth: RegistryAuth = parsed.auth;
  return { registryAuth };
}

// resolveImageWiring is the flags' deadline and interval for stack images' digests, where given.
function resolveImageWiring(opts: HostRootOptions): Pick<ControllerOptions, 'resolveImageTimeoutMs' | 'resolveImageIntervalMs'> {
  return {
    ...(opts.resolveImageTimeout !== undefined ? { resolveImageTimeoutMs: opts.resolveImageTimeout } : {}),
    ...(opts.resolveImageInterval !== undefined ? { resolveImageIntervalMs: opts.resolveImageInterval } : {}),
  };
}

/** APPLY_MAX_PASSES bounds the passes of one `warden apply` (default 20): it stops earlier once a pass applies nothing. */
export const APPLY_MAX_PASSES = 20;

/** RUN_STOP_TIMEOUT_MS bounds how long `run` waits for a pass in flight after SIGTERM (default 1 s). */
export const RUN_STOP_TIMEOUT_MS = 1_000;

/** Loaded is a source with the desired state it loaded. */
export interface Loaded {
  source: DesiredStateSource;
  loaded: LoadedState;
}

// plan, apply and status are one-shot: their logs go to stderr (warnings and up), their results to stdout.
/** loadOnce loads the desired state once, or returns 2 (said on stderr) when it cannot. */
export async function loadOnce(opts: SourceOptions): Promise<Loaded | number> {
  let source: DesiredStateSource;
  try {
    source = openSource(opts);
    return { source, loaded: await source.load() };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
}

function oneShotController(opts: EngineOptions & HostRootOptions, dryRun: boolean, logger: Logger): Controller {
  return new Controller({
    port: createDockerPort({ host: opts.host, context: opts.context }),
    ...hostWiring(opts),
    ...registryAuthWiring(opts, (message) => logger.warn(message)),
    ...resolveImageWiring(opts),
    logger,
    metrics: new Metrics({ processMetrics: false }),
    dryRun,
    // A pass run by hand acts wherever it is pointed: leader gating keeps daemons from fighting.
    leaderOnly: false,
  });
}

/** oneShot is a controller for one-shot passes (leader gating off), or 2 (said on stderr) when what it needs cannot be read. */
export function oneShot(opts: EngineOptions & HostRootOptions, dryRun: boolean, logger: Logger): Controller | number {
  try {
    return oneShotController(opts, dryRun, logger);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
}

function hasDrift(result: PassResult): boolean {
  return result.results.some((r) => r.drift.length > 0 || r.error !== undefined);
}

/** planCommand shows the drift and the actions a pass would take: 0 in sync, 1 drift, 2 error. */
export async function planCommand(opts: SourceOptions & EngineOptions & HostRootOptions & { output: 'text' | 'json' }): Promise<number> {
  const got = await loadOnce(opts);
  if (typeof got === 'number') return got;
  const controller = oneShot(opts, false, createLogger('warn', process.stderr));
  if (typeof controller === 'number') return controller;
  controller.setDesired(got.loaded);
  const result = await controller.pass(['plan'], undefined, true);
  // A reconciler that failed says nothing about drift: that is an error, not a verdict.
  const failed = result.results.find((r) => r.error !== undefined);
  if (result.error || failed) {
    process.stderr.write(`warden plan: ${result.error ?? `${failed?.id}: ${failed?.error}`}\n`);
    return 2;
  }
  const drift = hasDrift(result);
  if (opts.output === 'json') {
    // The plan's views, never its actions: those carry what the engine is sent (specs, a secret's data).
    process.stdout.write(`${JSON.stringify(planDocument(got.loaded, result, !drift), null, 2)}\n`);
  } else {
    process.stdout.write(formatPlan(got.loaded, result));
  }
  return drift ? 1 : 0;
}

/** applyCommand runs one pass and applies it: 0 converged, 1 drift remains, 2 error. */
export async function applyCommand(opts: SourceOptions & EngineOptions & HostRootOptions & { dryRun?: boolean; logFormat?: LogFormat }): Promise<number> {
  const got = await loadOnce(opts);
  if (typeof got === 'number') return got;
  // People get a summary at the end (and warnings as they come); programs get JSON lines on stdout.
  const text = logFormatFor(opts.logFormat, process.stdout) === 'text';
  const controller = oneShot(opts, opts.dryRun ?? false, text ? createLogger('warn', process.stderr) : createLogger('info'));
  if (typeof controller === 'number') return controller;
  controller.setDesired(got.loaded);
  const passes: PassResult[] = [];
  // Some corrections come one per pass (role changes, ordered restarts): pass again while the last pass
  // applied something, so that one `apply` converges as far as warden would on its own.
  for (let i = 0; i < APPLY_MAX_PASSES; i++) {
    const applied = await controller.pass(['apply']);
    if (applied.error) {
      process.stderr.write(`warden apply: ${applied.error}\n`);
      return 2;
    }
    // A pass does not wait for the engine's asynchronous work (role changes, forced restarts); one apply
    // does, for all of the pass's changes together, so that the next pass starts from their outcome.
    await controller.settled();
    passes.push(applied);
    const progress = applied.results.some((r) => r.actions.some((a) => a.outcome === 'applied'));
    const failed = applied.results.some((r) => r.error !== undefined || r.actions.some((a) => a.outcome === 'failed'));
    if (!progress || failed) break;
  }
  // Converged means a fresh read finds nothing left to do.
  const after = await controller.pass(['apply-check'], undefined, true);
  if (after.error) {
    process.stderr.write(`warden apply: ${after.error}\n`);
    return 2;
  }
  if (text) process.stdout.write(formatApplySummary(passes, !hasDrift(after) && after.results.every((r) => r.error === undefined)));
  // As `plan`: a reconciler that failed says nothing about drift; that is an error (2), not a verdict.
  const failed = after.results.find((r) => r.error !== undefined);
  if (failed) {
    process.stderr.write(formatPlan(got.loaded, after));
    process.stderr.write(`warden apply: ${failed.id}: ${failed.error}\n`);
    return 2;
  }
  if (hasDrift(after)) {
    process.stderr.write(formatPlan(got.loaded, after));
    return 1;
  }
  return 0;
}

/** RunWiring replaces parts of the daemon's real wiring (default none: the real host port under --host-root). */
export interface RunWiring {
  /** host replaces the real host port: tests give one whose reads hang, as a dead NFS server makes them. */
  host?: HostPort;
}

/** runCommand is the daemon: it runs until SIGTERM or SIGINT, then exits 0. */
export async function runCommand(
  opts: SourceOptions & EngineOptions & HostRootOptions & { dryRun?: boolean; listen: string; logLevel: string; webhookSecretFile?: string },
  wiring: RunWiring = {},
): Promise<number> {
  const logger = createLogger(opts.logLevel);
  const keyring = sopsKeyring(opts);
  let source: DesiredStateSource;
  try {
    source = openSource(opts, keyring);
  } catch (err) {
    logger.fatal({ err }, 'cannot open the desired-state source');
    return 2;
  }
  const port = createDockerPort({ host: opts.host, context: opts.context });
  const build = buildInfo();
  const metrics = new Metrics({ build });
  const webhook = await webhookWiring(opts.webhookSecretFile, source, logger, metrics);
  if (typeof webhook === 'number') return webhook;
  const controller = daemonController(opts, wiring, port, logger, metrics);
  if (typeof controller === 'number') return controller;
  const stop = new AbortController();
  let looping = false;
  let server: Server;
  try {
    server = await serve(opts.listen, {
      registry: metrics.registry,
      live: () => (looping ? controller.liveness() : 'the controller loop is not running'),
      ready: () => controller.ready,
      // Which warden answers, first: a status read during an upgrade says which version it came from.
      status: () => ({ version: build, ...controller.status() }),
      ...(webhook ? { webhook } : {}),
    });
  } catch (err) {
    logger.fatal({ err, listen: opts.listen }, 'cannot listen');
    return 2;
  }
  const unsignal = stopOnSignals(stop, logger);
  const unhangup = reloadOnHangup(keyring, source, controller, stop.signal, logger);
  logger.info(
    { version: build.version, revision: build.revision, listen: opts.listen, source: source.description, engine: port.describe, hostRoot: opts.hostRoot ?? '/', dryRun: opts.dryRun ?? false, webhook: webhook ? WEBHOOK_PATH : 'off' },
    'warden starting',
  );

  // The loop runs from the start (so /livez is true while a slow git clone is under way); it acts
  // once a desired state is in force.
  looping = true;
  const loop = controller.start(stop.signal).finally(() => {
    looping = false;
  });
  try {
    controller.setDesired(await source.load(stop.signal));
  } catch (err) {
    // Not fatal: the source is watched, and the controller acts once a good state arrives.
    if (!stop.signal.aborted) controller.desiredStateFailed(err as Error, source.description);
  }
  const watching = source.watch(stop.signal, {
    onLoad: (loaded) => controller.setDesired(loaded),
    onError: (err) => controller.desiredStateFailed(err, source.description),
  });
  await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  await stopServing(server, [loop, watching], logger);
  unsignal();
  unhangup();
  return 0;
}

// webhookWiring is the git webhook's handler when --webhook-secret-file is given (undefined when not), or
// 2 (said in a fatal log line) when the source is not a git source or the secret cannot be read.
async function webhookWiring(
  secretFile: string | undefined,
  source: DesiredStateSource,
  logger: Logger,
  metrics: Metrics,
): Promise<WebhookHandler | undefined | number> {
  if (secretFile === undefined || secretFile === '') return undefined;
  const refresh = source.refresh?.bind(source);
  if (!refresh) {
    // A file source is re-read when it changes: a webhook would have nothing to add, and a secret
    // given for it is more likely a mistake (the wrong source) than a wish.
    logger.fatal({ source: source.description }, 'the git webhook needs a git source (--git-url); a file source (-f) is re-read when it changes');
    return 2;
  }
  try {
    const secret = await readWebhookSecret(secretFile);
    return createWebhookHandler({ secret, refresh, logger, onResult: (result) => metrics.webhookRequests.inc({ result }) });
  } catch (err) {
    logger.fatal({ err }, 'cannot read the git webhook secret');
    return 2;
  }
}

// daemonController is the daemon's controller on the real wiring (bar what `wiring` replaces), or 2 (said
// in a fatal log line) when the registry auth file cannot be read.
function daemonController(
  opts: EngineOptions & HostRootOptions & { dryRun?: boolean },
  wiring: RunWiring,
  port: ControllerOptions['port'],
  logger: Logger,
  metrics: Metrics,
): Controller | number {
  let registryAuth: Pick<ControllerOptions, 'registryAuth'>;
  try {
    registryAuth = registryAuthWiring(opts, (message) => logger.warn(message));
  } catch (err) {
    logger.fatal({ err }, 'cannot read the registry auth file');
    return 2;
  }
  return new Controller({
    port, logger, metrics, dryRun: opts.dryRun ?? false, ...hostWiring(opts), ...(wiring.host ? { host: wiring.host } : {}), ...registryAuth,
    ...resolveImageWiring(opts),
    // Only the daemon notifies: spec.notify's webhooks hear from the leader's warden run.
    notifier: new Notifier({ logger, metrics }),
  });
}

// stopOnSignals aborts `stop` at SIGTERM or SIGINT; it returns what removes its listeners.
function stopOnSignals(stop: AbortController, logger: Logger): () => void {
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    stop.abort();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

// reloadOnHangup reads the sops keys and loads the source again at every SIGHUP; it returns what removes
// its listener.
function reloadOnHangup(keyring: SopsKeyring, source: DesiredStateSource, controller: Controller, signal: AbortSignal, logger: Logger): () => void {
  // SIGHUP reads the sops keys again and loads the source with them at once: a key added or rotated
  // applies without a restart. The keys are never logged, only that they were read.
  const onHangup = (): void => {
    void (async () => {
      try {
        await keyring.reload();
      } catch (err) {
        // The keys held stay in force; the message names the file, never a key.
        logger.error({ err }, 'cannot read the sops keys: keeping the keys read before');
        return;
      }
      logger.info({ sops: keyring.configured }, 'read the sops keys again');
      try {
        controller.setDesired(await source.load(signal));
      } catch (err) {
        if (!signal.aborted) controller.desiredStateFailed(err as Error, source.description);
      }
    })();
  };
  process.on('SIGHUP', onHangup);
  return () => {
    process.off('SIGHUP', onHangup);
  };
}

// stopServing closes the HTTP server and gives what still runs a moment to stop, then logs whether it did.
async function stopServing(server: Server, running: readonly Promise<unknown>[], logger: Logger): Promise<void> {
  // Stop listening and drop every connection at once: scrapers keep connections alive, and a connection
  // that never sent a request would otherwise hold close() until the server's header timeout.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  // A pass in flight gets a moment to finish its write; the process exits either way, well within the
  // 10 s swarm gives a task after SIGTERM.
  const stopped = await Promise.race([
    Promise.all(running).then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), RUN_STOP_TIMEOUT_MS).unref()),
  ]);
  await closed;
  logger.info({ clean: stopped }, 'stopped');
}
