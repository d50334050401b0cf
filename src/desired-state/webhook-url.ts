// A webhook URL read from spec.notify[].urlFile. The URL is a secret (a Slack incoming-webhook URL is its
// own credential), so it is held in a private field: a desired state that holds one serializes, logs,
// inspects and clones without it, and only the notifier, which POSTs to it, reads it with reveal().
import { inspect } from 'node:util';

/** SHOWN is how a webhook URL is shown wherever one would otherwise be printed. */
export const SHOWN = '(secret)';

/** WebhookUrl holds one webhook URL; it shows as SHOWN everywhere (JSON, pino, util.inspect, String). */
export class WebhookUrl {
  readonly #url: string;

  constructor(url: string) {
    this.#url = url;
  }

  /** reveal is the URL itself: for the POST, never for a log line or a message. */
  reveal(): string {
    return this.#url;
  }

  /** toJSON keeps the URL out of JSON.stringify and pino. */
  toJSON(): string {
    return SHOWN;
  }

  /** toString keeps the URL out of template strings. */
  toString(): string {
    return SHOWN;
  }

  [inspect.custom](): string {
    return SHOWN;
  }
}

/**
 * webhookUrlProblem says why a urlFile's text is not a webhook URL, without quoting it (the text may be
 * the secret, or part of it); undefined when it is one.
 */
export function webhookUrlProblem(text: string): string | undefined {
  if (text === '') return 'is empty: it must hold the webhook URL (https://...)';
  if (/\s/.test(text)) return 'must hold the URL alone, on one line (it holds several words or lines)';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'does not hold a URL: it must hold the webhook URL, e.g. https://hooks.slack.com/services/...';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'holds a URL that is not http:// or https://';
  return undefined;
}
