// `${VAR}` substitution in compose files, as docker/cli's cli/compose/template reads it (v28.2): `$VAR`,
// `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` (error when
// unset or empty), `${VAR?message}` (error when unset) and `$$` for a literal `$`. One difference, from
// the contract: a variable that has no value and no default is an error (`missing`), where stack deploy
// silently puts an empty string; warden's values come only from the stack's env and envFile, so a
// forgotten variable must not deploy an empty setting.

/** Lookup finds a variable's value; undefined when it is not set (an empty string is set). */
export type Lookup = (name: string) => string | undefined;

/** TemplateError says why a string could not be substituted; `variable` names the one at fault. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    message: string,
    readonly kind: 'invalid' | 'required' | 'missing',
    readonly variable?: string,
  ) {
    super(message);
  }
}

// docker/cli's pattern: `$` then an escaped `$`, a bare name, a braced name, or nothing valid. The name
// part may carry a modifier (`:-`, `-`, `:?`, `?`) with everything up to `}` as its argument, even
// unbraced, as docker/cli reads `$VAR-x`.
const SUBST = '[_a-z][_a-z0-9]*(?::?[-?][^}]*)?';
const PATTERN = new RegExp(`\\$(?:(\\$)|(${SUBST})|\\{(${SUBST})\\}|())`, 'gi');

/** hasTemplate tells whether a string holds anything substitute would change. */
export function hasTemplate(text: string): boolean {
  return text.includes('$');
}

/**
 * substitute replaces every variable in `template`; it throws TemplateError for a malformed template, a
 * required variable without a value, or a variable with no value and no default.
 */
export function substitute(template: string, lookup: Lookup): string {
  return template.replace(PATTERN, (match, escaped?: string, named?: string, braced?: string) => {
    if (escaped !== undefined) return escaped;
    const expr = named ?? braced;
    if (expr === undefined || expr === '') {
      throw new TemplateError(`invalid interpolation format ${JSON.stringify(template)}: write $$ for a literal $`, 'invalid');
    }
    return resolve(expr, lookup, match);
  });
}

function resolve(expr: string, lookup: Lookup, match: string): string {
  // The order docker/cli tries them in: soft default, hard default, required non-empty, required.
  const soft = cut(expr, ':-');
  if (soft) {
    const v = lookup(soft[0]);
    return v === undefined || v === '' ? soft[1] : v;
  }
  const hard = cut(expr, '-');
  if (hard) {
    const v = lookup(hard[0]);
    return v === undefined ? hard[1] : v;
  }
  for (const [sep, nonEmpty] of [[':?', true], ['?', false]] as const) {
    const req = cut(expr, sep);
    if (!req) continue;
    const v = lookup(req[0]);
    if (v === undefined || (nonEmpty && v === '')) {
      const why = req[1] === '' ? '' : `: ${req[1]}`;
      throw new TemplateError(`required variable ${req[0]} is missing a value${why}`, 'required', req[0]);
    }
    return v;
  }
  const v = lookup(expr);
  if (v === undefined) {
    throw new TemplateError(
      `${match} has no value and no default: set ${expr} in the stack's env or envFile, or write \${${expr}:-default}`,
      'missing',
      expr,
    );
  }
  return v;
}

function cut(text: string, sep: string): [string, string] | undefined {
  const i = text.indexOf(sep);
  return i < 0 ? undefined : [text.slice(0, i), text.slice(i + sep.length)];
}
