// Keeping credentials out of logs, errors, plans and metrics: every message that may carry a URL or
// git's own output passes through here before anyone sees it, and so does every value a plan or a log
// line shows of a spec (maskShown).

// scheme://userinfo@host: the userinfo may be user:password or a bare token.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi;

/** redactUrl replaces the userinfo of every URL in `text` with "***". */
export function redactUrl(text: string): string {
  return text.replace(URL_USERINFO, '$1***@');
}

/** redact removes URL userinfo and every given secret (a token, a password) from `text`. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = redactUrl(text);
  // Longest first, so a token that contains a shorter secret is removed whole.
  for (const s of [...secrets].filter((x) => x.length >= 3).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join('***');
  }
  return out;
}

/** urlPassword returns the password (or token) written in a URL's userinfo, if any. */
export function urlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password !== '' ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

/** MASK is what warden prints in place of a value it must not show: a credential-named env value. */
export const MASK = '***';

/** CONTENT_CHANGED is what warden prints in place of a secret's or a config's content: never its bytes. */
export const CONTENT_CHANGED = 'content changed';

/** ENCRYPTED is what warden prints in place of a value that came from a sops-encrypted file. */
export const ENCRYPTED = '(encrypted)';

/** ENCRYPTED_CHANGED is what warden prints for a field that changes when either side holds a value from a sops file. */
export const ENCRYPTED_CHANGED = '(encrypted) changed';

// Names that say they hold a credential (DB_PASSWORD, API_TOKEN, AWS_SECRET_ACCESS_KEY, GIT_CREDENTIALS...).
// Broad on purpose: masking MONKEY_COUNT costs a person a look at the file; showing a key costs the key.
const CREDENTIAL_NAME = /PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL/i;

/** isCredentialName tells whether an env variable's name says it holds a credential (case-insensitive). */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

/** maskEnvEntry returns an env entry `NAME=value` with the value masked when NAME is credential-named. */
export function maskEnvEntry(entry: string): string {
  const eq = entry.indexOf('=');
  if (eq < 0) return entry;
  const name = entry.slice(0, eq);
  return isCredentialName(name) ? `${name}=${MASK}` : entry;
}

// Keys whose value is a secret's or config's content (the engine's `Data`, base64), or a credential
// that a spec or an answer may carry (registry auth); none is ever shown, whatever object holds it.
const CONTENT_KEYS = new Set(['data']);
const CREDENTIAL_KEYS = new Set(['password', 'token', 'identitytoken', 'registrytoken', 'auth', 'registryauth', 'x-registry-auth', 'credentials']);

/**
 * maskShown is the one masking function of what warden prints (plans, log lines, summaries): a copy of
 * `value` where env entries (any string in or under an `Env` field, or a field path ending in `Env[NAME]`)
 * have credential-named values masked, content (`Data`) reads `content changed`, and credential keys
 * read `***`. `path` is where the value sits in its spec (a FieldDiff's field), '' for none.
 */
export function maskShown(value: unknown, path = ''): unknown {
  const inEnv = /(^|\.)Env(\[[^\]]*\])?$/.test(path);
  if (typeof value === 'string') return inEnv ? maskEnvEntry(value) : value;
  if (Array.isArray(value)) return value.map((v) => maskShown(v, path));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = k.toLowerCase();
    if (CONTENT_KEYS.has(key)) out[k] = CONTENT_CHANGED;
    else if (CREDENTIAL_KEYS.has(key)) out[k] = MASK;
    else out[k] = maskShown(v, path === '' ? k : `${path}.${k}`);
  }
  return out;
}
