// The soak's command line: --minutes, --seed, --lab, --wardens, --keep-lab. A bad value is an error that names the
// flag and what it takes; nothing runs.
import { randomSeed } from './random.js';

/** SoakArgs are the soak's options. */
export interface SoakArgs {
  /** minutes is how long faults keep starting (default 30). */
  minutes: number;
  /** seed draws the schedule of faults (default: a random one, printed first). */
  seed: number;
  /** lab is the lab number the soak brings up and tears down (default 8, the bench's). */
  lab: number;
  /**
   * wardens is how many standing `warden run` instances there are, one per manager's engine from
   * manager-1: 3 (the default) is every manager, following promotions and demotions as warden's global
   * service does; 2 keeps two, on manager-1 and manager-2, whoever leads.
   */
  wardens: number;
  /** keepLab leaves the lab up at the end, for a look at it (default false). */
  keepLab: boolean;
}

/** SoakUsageError is a bad command line. */
export class SoakUsageError extends Error {
  override readonly name = 'SoakUsageError';
}

/** SOAK_USAGE is the soak's usage line. */
export const SOAK_USAGE = 'usage: npm run soak -- [--minutes N (default 30)] [--seed N (default random)] [--lab 0-9 (default 8)] [--wardens 2|3 (default 3)] [--keep-lab]';

/** parseSoakArgs reads the command line (after the script's name). */
export function parseSoakArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): SoakArgs {
  const args: SoakArgs = { minutes: 30, seed: randomSeed(), lab: Number(env.WARDEN_BENCH_LAB ?? 8), wardens: 3, keepLab: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const [name, inline] = flag.includes('=') ? [flag.slice(0, flag.indexOf('=')), flag.slice(flag.indexOf('=') + 1)] : [flag, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new SoakUsageError(`${name} needs a value\n${SOAK_USAGE}`);
      return v;
    };
    switch (name) {
      case '--minutes': {
        const v = value();
        const n = Number(v);
        if (!Number.isFinite(n) || n <= 0 || n > 24 * 60) throw new SoakUsageError(`--minutes ${v}: a number of minutes above 0, at most 1440`);
        args.minutes = n;
        break;
      }
      case '--seed': {
        const v = value();
        if (!/^\d+$/.test(v) || Number(v) > 4_294_967_295) throw new SoakUsageError(`--seed ${v}: a whole number from 0 to 4294967295 (the one a run printed)`);
        args.seed = Number(v);
        break;
      }
      case '--lab': {
        const v = value();
        if (!/^\d$/.test(v)) throw new SoakUsageError(`--lab ${v}: a lab number 0-9`);
        args.lab = Number(v);
        break;
      }
      case '--wardens': {
        const v = value();
        if (v !== '2' && v !== '3') throw new SoakUsageError(`--wardens ${v}: 2 or 3 standing instances (the lab has 3 managers)`);
        args.wardens = Number(v);
        break;
      }
      case '--keep-lab':
        if (inline !== undefined) throw new SoakUsageError('--keep-lab takes no value');
        args.keepLab = true;
        break;
      default:
        throw new SoakUsageError(`unknown argument ${flag}\n${SOAK_USAGE}`);
    }
  }
  if (!Number.isInteger(args.lab) || args.lab < 0 || args.lab > 9) throw new SoakUsageError(`WARDEN_BENCH_LAB=${env.WARDEN_BENCH_LAB}: a lab number 0-9`);
  return args;
}
