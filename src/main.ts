// warden's command line (main; ./cli.ts is the entry point that calls it): parses flags (each also read from a WARDEN_* environment variable) and hands
// off to one module per command under ./commands. Exit codes follow the contract: 0 ok, 1 drift or
// invalid, 2 could not run.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { validateCommand, type SopsFlags } from './commands/validate.js';
import { schemaCommand } from './commands/schema.js';
import { exportCommand } from './commands/export.js';
import { labCommand } from './commands/lab.js';
import { planCommand, applyCommand, runCommand, type HostRootOptions } from './commands/controller.js';
import type { LogFormat } from './commands/log-format.js';
import { recoverCommand, type RecoverOptions } from './commands/recover.js';
import { statusCommand, STATUS_TIMEOUT_MS, type StatusOptions } from './commands/status.js';
import { versionCommand } from './commands/version.js';
import type { SourceOptions } from './desired-state/open-source.js';
import { RESOLVE_IMAGE_INTERVAL_MS, RESOLVE_IMAGE_TIMEOUT_MS } from './controller/image-digests.js';
import { durationProblem, parseDuration } from './desired-state/validators.js';
import type { EngineOptions } from './docker/engine.js';
import { buildInfo, formatVersion } from './version.js';

/**
 * envFlag reads a boolean environment variable the way operators write them: 1/true/yes/on, or
 * 0/false/no/off (any case); unset or empty is undefined. Anything else is an error naming the variable.
 */
export function envFlag(name: string, env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return undefined;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new Error(`${name}=${env[name]}: expected true or false (also 1/0, yes/no, on/off)`);
}

function dryRunOption(): Option {
  // Not commander's .env(): it would turn WARDEN_DRY_RUN=false into --dry-run. See envFlag.
  return new Option('--dry-run', 'change nothing, as policy.mode: observe (env WARDEN_DRY_RUN=true|false)');
}

// apply and recover: one-shot commands report to people on a terminal and in JSON lines elsewhere.
function logFormatOption(): Option {
  return new Option('--log-format <format>', 'text: a summary for people (default on a terminal); json: log lines (default otherwise)')
    .choices(['text', 'json'])
    .env('WARDEN_LOG_FORMAT');
}

function hostOption(): Option {
  return new Option('-H, --host <url>', 'Docker engine: unix:///path, tcp://host:port or ssh://[user@]host[:port] (default: DOCKER_HOST, then the docker context)');
}

// Not commander's .env(): DOCKER_CONTEXT yields to DOCKER_HOST and goes with -H, as in the docker CLI,
// where --context and -H together are an error. resolveEndpoint reads it.
function contextOption(): Option {
  return new Option('--context <name>', 'docker context to use (env: DOCKER_CONTEXT, after DOCKER_HOST; default: the docker config\'s currentContext)');
}

// The engine's flags, on every command that reaches it.
function engineOptions(cmd: Command): Command {
  return cmd.addOption(hostOption().env('WARDEN_HOST')).addOption(contextOption());
}

function sourceOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --file <path>', 'desired-state file').env('WARDEN_CONFIG'))
    .addOption(new Option('--git-url <url>', 'git repository holding the desired state').env('WARDEN_GIT_URL'))
    .addOption(new Option('--git-ref <ref>', 'branch or tag to follow').env('WARDEN_GIT_REF').default('main'))
    .addOption(new Option('--git-path <path>', 'path of the desired-state file in the repository').env('WARDEN_GIT_PATH').default('warden.yml'))
    .addOption(new Option('--git-interval <duration>', 'how often to fetch').env('WARDEN_GIT_INTERVAL').default('60s'))
    .addOption(new Option('--git-credentials-file <path>', 'file with the git credentials (a Docker secret), e.g. user:token').env('WARDEN_GIT_CREDENTIALS_FILE'))
    .addOption(new Option('--git-cache <dir>', 'where the repository is cloned').env('WARDEN_GIT_CACHE'))
    .addOption(sopsAgeKeyOption())
    .addOption(sopsPgpKeyOption());
}

// The keys of sops-encrypted stack files, as sops finds them (SOPS_AGE_KEY, identities themselves, is read too).
function sopsAgeKeyOption(): Option {
  return new Option('--sops-age-key-file <path>', 'age identities that open sops-encrypted files (a Docker secret)').env('SOPS_AGE_KEY_FILE');
}

function sopsPgpKeyOption(): Option {
  return new Option('--sops-pgp-key-file <path>', 'armored OpenPGP private keys that open sops-encrypted files (a Docker secret)').env('WARDEN_SOPS_PGP_KEY_FILE');
}

// A duration flag ("5s", "10m"), parsed to ms; a bad one is commander's error (exit 2), from the command
// line or the environment.
function durationOption(flags: string, description: string, env: string, ms: number, shown: string): Option {
  return new Option(flags, description).env(env).default(ms, shown).argParser((text) => {
    const parsed = parseDuration(text);
    if (parsed === undefined) throw new InvalidArgumentError(durationProblem(text) ?? `"${text}" is not a duration`);
    if (parsed <= 0) throw new InvalidArgumentError('it must be longer than 0s');
    return parsed;
  });
}

// Stacks' image digests (resolveImage): how long a pass waits for one, and, for the daemon, how often
// each is asked for again within a revision.
function resolveImageOptions(cmd: Command, daemon: boolean): Command {
  cmd.addOption(durationOption('--resolve-image-timeout <duration>', 'how long a pass waits for an image digest it has no answer for', 'WARDEN_RESOLVE_IMAGE_TIMEOUT', RESOLVE_IMAGE_TIMEOUT_MS, '5s'));
  if (!daemon) return cmd;
  return cmd.addOption(durationOption('--resolve-image-interval <duration>', 'how often an image digest is asked for again within a revision', 'WARDEN_RESOLVE_IMAGE_INTERVAL', RESOLVE_IMAGE_INTERVAL_MS, '10m'));
}

/** main runs warden with the given arguments and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const set = (c: number): void => {
    code = c;
  };
  const program = new Command('warden')
    .description('A reconciliation controller for Docker Swarm')
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s) })
    .showHelpAfterError();
  // Not commander's .version(STRING): that would read the build info (git, in a checkout) for every
  // command; this reads it only when asked.
  program
    .option('-V, --version', "print warden's version and revision")
    .on('option:version', () => {
      const line = formatVersion(buildInfo());
      process.stdout.write(`${line}\n`);
      throw new CommanderError(0, 'commander.version', line);
    });

  engineOptions(program.command('version'))
    .description("print warden's version and the engine's, as docker version does (0, 2 when the engine cannot be reached)")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text').env('WARDEN_VERSION_OUTPUT'))
    .action(async (opts: EngineOptions & { output: 'text' | 'json' }) => set(await versionCommand(opts)));

  program
    .command('validate')
    .description('check a desired-state file offline (0 valid, 1 invalid, 2 could not run)')
    .argument('<file>', 'the desired-state file')
    .addOption(sopsAgeKeyOption())
    .addOption(sopsPgpKeyOption())
    .action(async (file: string, opts: SopsFlags) => set(await validateCommand(file, undefined, opts)));

  program
    .command('schema')
    .description('print the JSON Schema of the desired-state file')
    .action(() => set(schemaCommand()));

  engineOptions(program.command('export'))
    .description('write a desired-state file from the live cluster')
    .addOption(new Option('-o, --output <file>', 'write to this file instead of stdout').env('WARDEN_EXPORT_OUTPUT'))
    .addOption(new Option('--name <name>', 'metadata.name of the exported file').env('WARDEN_EXPORT_NAME'))
    .action(async (opts: EngineOptions & { output?: string; name?: string }) => set(await exportCommand(opts)));

  addControllerCommands(program, set);
  addRecoverCommand(program, set);
  addLabCommands(program, set);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (typeof e.exitCode === 'number') return 2;
    throw err;
  }
  return code;
}

// addControllerCommands adds plan, apply, run and status: the controller's commands, with the source's, the
// engine's and the hosts' flags they share.
function addControllerCommands(program: Command, set: (code: number) => void): void {
  for (const name of ['plan', 'apply', 'run', 'status'] as const) {
    const cmd = program.command(name);
    resolveImageOptions(engineOptions(sourceOptions(cmd))
      .addOption(new Option('--host-root <dir>', 'where the hosts\' file system (the shared mounts) is seen, for spec.volumes').env('WARDEN_HOST_ROOT').default('/'))
      .addOption(new Option('--registry-auth-file <path>', 'docker config.json with registry credentials for deployed stacks').env('WARDEN_REGISTRY_AUTH_FILE')), name === 'run');
    if (name === 'plan') {
      cmd
        .description('show the drift and the actions a pass would take (0 in sync, 1 drift, 2 error)')
        .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text').env('WARDEN_PLAN_OUTPUT'))
        .action(async (opts: SourceOptions & EngineOptions & HostRootOptions & { output: 'text' | 'json' }) => set(await planCommand(opts)));
    } else if (name === 'status') {
      cmd
        .description('every kept service: sync beside health, running, reason (0 all healthy, 1 not, 2 error)')
        .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text').env('WARDEN_STATUS_OUTPUT'))
        // Not commander's .env(), as --dry-run: see envFlag.
        .addOption(new Option('--wait', 'wait until every service is healthy; give up at the first degraded one (env: WARDEN_STATUS_WAIT=true|false)'))
        .addOption(durationOption('--timeout <duration>', 'how long --wait waits', 'WARDEN_STATUS_TIMEOUT', STATUS_TIMEOUT_MS, '5m'))
        .action(async (opts: StatusOptions) => set(await statusCommand({ ...opts, wait: opts.wait ?? envFlag('WARDEN_STATUS_WAIT') ?? false })));
    } else if (name === 'apply') {
      cmd
        .description('run one pass and apply it (0 converged, 1 drift remains, 2 error)')
        .addOption(dryRunOption())
        .addOption(logFormatOption())
        .action(async (opts: SourceOptions & EngineOptions & HostRootOptions & { dryRun?: boolean; logFormat?: LogFormat }) =>
          set(await applyCommand({ ...opts, dryRun: opts.dryRun ?? envFlag('WARDEN_DRY_RUN') ?? false })));
    } else {
      cmd
        .description('run the controller until SIGTERM')
        .addOption(dryRunOption())
        .addOption(new Option('--listen <addr>', 'address for /metrics, /livez, /readyz, /status').env('WARDEN_LISTEN').default(':9095'))
        .addOption(new Option('--log-level <level>', 'pino log level').env('WARDEN_LOG_LEVEL').default('info'))
        .addOption(
          new Option('--webhook-secret-file <path>', 'file with the git webhook secret (a Docker secret); turns on POST /hooks/git (git sources only)').env(
            'WARDEN_WEBHOOK_SECRET_FILE',
          ),
        )
        .action(async (opts: SourceOptions & EngineOptions & HostRootOptions & { dryRun?: boolean; listen: string; logLevel: string; webhookSecretFile?: string }) =>
          set(await runCommand({ ...opts, dryRun: opts.dryRun ?? envFlag('WARDEN_DRY_RUN') ?? false })));
    }
  }
}

// addRecoverCommand adds recover, whose --wave-timeout is checked here (2 when it is not a positive whole number).
function addRecoverCommand(program: Command, set: (code: number) => void): void {
  engineOptions(sourceOptions(program.command('recover')))
    .description('restart every service in dependency order now, the registry first (0 all converged, 1 some did not, 2 error)')
    .addOption(new Option('--wave-timeout <seconds>', 'how long one wave may take to converge').env('WARDEN_WAVE_TIMEOUT').default(180)
      .argParser((v) => Number.parseInt(v, 10)))
    .addOption(logFormatOption())
    .action(async (opts: RecoverOptions & { waveTimeout: number }) => {
      if (!Number.isInteger(opts.waveTimeout) || opts.waveTimeout <= 0) {
        process.stderr.write('warden recover: --wave-timeout must be a whole number of seconds, more than 0\n');
        return set(2);
      }
      set(await recoverCommand({ ...opts, waveTimeoutMs: opts.waveTimeout * 1000 }));
    });
}

// addLabCommands adds lab up, lab down and lab status.
function addLabCommands(program: Command, set: (code: number) => void): void {
  const lab = program.command('lab').description('a local multi-node swarm for trying warden and for tests (root, Linux)');
  lab
    .command('up')
    .description('bring up a lab swarm (tears down leftovers first)')
    .addOption(new Option('--managers <n>', 'number of managers').env('WARDEN_LAB_MANAGERS').default(3).argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option('--workers <n>', 'number of workers').env('WARDEN_LAB_WORKERS').default(2).argParser((v) => Number.parseInt(v, 10)))
    .addOption(new Option('--lab <id>', 'lab number 0-9, for several labs side by side').env('WARDEN_LAB').default('0'))
    .addOption(new Option('--engine <version>', "the nodes' Docker engine: newest, a major.minor from Debian's archive (20.10, 26.1, 28.5, ...), or system (the dockerd on PATH)").env('WARDEN_LAB_ENGINE').default('newest'))
    .action(async (opts: { managers: number; workers: number; lab: string; engine: string }) => set(await labCommand('up', opts)));
  lab
    .command('down')
    .description('remove the lab swarm and everything it left behind')
    .addOption(new Option('--lab <id>', 'lab number 0-9').env('WARDEN_LAB').default('0'))
    .action(async (opts: { lab: string }) => set(await labCommand('down', opts)));
  lab
    .command('status')
    .description('print the lab nodes and the DOCKER_HOST of a manager')
    .addOption(new Option('--lab <id>', 'lab number 0-9').env('WARDEN_LAB').default('0'))
    .action(async (opts: { lab: string }) => set(await labCommand('status', opts)));
}
