// Keeping credentials out of logs, errors and metrics: every message that may carry a URL or
// git's own output passes through here before anyone sees it.

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
