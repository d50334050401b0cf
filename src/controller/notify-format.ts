// The payloads of notifications (contract §2, "Health (beside sync)"): warden's own JSON, and a Slack
// incoming-webhook message that reads well on a phone. Pure: a Notification in, a body out. Nothing here
// knows where the body goes; the URL never reaches this file.
import type { NotifyEvent, NotifyFormat } from '../desired-state/schema-notify.js';

/** REASON_MAX is the longest reason sent, in characters (default 2000: a desired state's problems can run long). */
export const REASON_MAX = 2000;

/**
 * Notification is one event about one object: the json format's payload as it is. stack, health and
 * revision are null when they do not apply (a node, a hold that is no service's health, no revision loaded).
 */
export interface Notification {
  event: NotifyEvent;
  cluster: string;
  stack: string | null;
  object: string;
  health: string | null;
  reason: string;
  revision: string | null;
  /** time is when warden saw the change, ISO 8601. */
  time: string;
}

const HEADLINE: Record<NotifyEvent, { icon: string; says: string }> = {
  'rollout-completed': { icon: ':white_check_mark:', says: 'rollout completed' },
  'rollout-failed': { icon: ':x:', says: 'rollout failed' },
  degraded: { icon: ':red_circle:', says: 'degraded' },
  recovered: { icon: ':large_green_circle:', says: 'recovered' },
  held: { icon: ':double_vertical_bar:', says: 'held by warden' },
  blocked: { icon: ':no_entry:', says: 'blocked' },
  'desired-state-invalid': { icon: ':warning:', says: 'desired state invalid: the last good one stays in force' },
};

/** body is what is POSTed for `n` in `format`, as JSON text. */
export function body(n: Notification, format: NotifyFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify({ ...n, reason: clip(n.reason) });
    case 'slack':
      return JSON.stringify(slackMessage(n));
  }
}

/** SlackMessage is an incoming-webhook message: `text` for notifications and old clients, `blocks` for the channel. */
export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

/** slackMessage renders `n` for a Slack incoming webhook: a headline, the reason quoted, then where and when. */
export function slackMessage(n: Notification): SlackMessage {
  const { icon, says } = HEADLINE[n.event];
  const what = n.stack !== null && !n.object.startsWith(`${n.stack}_`) && n.object !== n.stack
    ? `\`${escape(n.object)}\` (stack ${escape(n.stack)})`
    : `\`${escape(n.object)}\``;
  const headline = `${icon} *${says}*: ${what}${n.health !== null ? ` is ${escape(n.health)}` : ''}`;
  const reason = escape(clip(n.reason));
  const context = [`cluster *${escape(n.cluster)}*`, n.revision !== null ? `revision \`${escape(n.revision)}\`` : undefined, n.time]
    .filter((c) => c !== undefined)
    .join(' · ');
  return {
    text: `${headline}\n${reason}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${headline}\n${quote(reason)}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context }] },
    ],
  };
}

// Slack reads &, < and > as markup (links, mentions): a reason in the engine's words must stay text.
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function quote(text: string): string {
  return text.split('\n').map((l) => `>${l}`).join('\n');
}

function clip(text: string): string {
  return text.length <= REASON_MAX ? text : `${text.slice(0, REASON_MAX - 1)}…`;
}
