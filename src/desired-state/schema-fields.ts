// Building blocks of the desired-state schema shared by its sections: checked strings, YAML's quoting
// hints, durations.
import { z } from 'zod';
import { durationProblem } from './validators.js';

/** Check explains why a value is wrong; undefined when it is right. */
export type Check = (value: string) => string | undefined;

/** checked is a string checked by one of ./validators.ts; its message becomes the problem's message. */
export function checked(check: Check, base: z.ZodString = z.string()): z.ZodString {
  return base.superRefine((value, ctx) => {
    const message = check(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message });
  });
}

/** quoteHint explains a YAML scalar read as a boolean or number where a string is wanted: put it in quotes. */
export function quoteHint(what: string): (iss: { input?: unknown; code?: string }) => string | undefined {
  return (iss) => {
    if (iss.code !== 'invalid_type') return undefined;
    if (typeof iss.input === 'boolean' || typeof iss.input === 'number') {
      return `${what} must be a string: YAML read ${String(iss.input)} as a ${typeof iss.input}; put it in quotes`;
    }
    return undefined;
  };
}

/** durationString is a duration (`30s`, `5m`, `1h30m`; `never` when allowed), checked by the loader's own rule. */
export function durationString(description: string, extra?: Check, allowNever = false): z.ZodString {
  return checked(
    (v) => {
      if (allowNever && v === 'never') return undefined;
      const problem = durationProblem(v);
      if (problem !== undefined) return allowNever ? `${problem}, or "never"` : problem;
      return extra?.(v);
    },
    z.string({
      error: (iss) =>
        iss.code === 'invalid_type' && typeof iss.input === 'number'
          ? `a duration needs a unit: write ${iss.input}s, ${iss.input}m or ${iss.input}h`
          : undefined,
    }),
  )
    .describe(description)
    // For editors only: the loader's own check (above) gives the better message.
    .meta({ pattern: allowNever ? `^(never|${DURATION_PATTERN})$` : `^${DURATION_PATTERN}$` });
}

const DURATION_PATTERN = '(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?(\\d+ms)?';
