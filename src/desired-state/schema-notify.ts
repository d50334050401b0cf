// spec.notify of the desired-state schema: webhooks told of rollouts, health and what warden holds
// (contract §2, "Health (beside sync)"). The URL itself never appears in the file: it is a secret, read
// from `urlFile` by the loader (./load-notify.ts), so that the file can live in git.
import { z } from 'zod';

/** NOTIFY_EVENTS are the events a webhook may be told of, in the contract's order (default: all of them). */
export const NOTIFY_EVENTS = [
  'rollout-completed',
  'rollout-failed',
  'degraded',
  'recovered',
  'held',
  'blocked',
  'desired-state-invalid',
] as const;
/** NotifyEvent is one of NOTIFY_EVENTS. */
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** NOTIFY_FORMATS are the payloads warden can send: its own JSON, or a Slack incoming-webhook message. */
export const NOTIFY_FORMATS = ['json', 'slack'] as const;
/** NotifyFormat is one of NOTIFY_FORMATS. */
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** NotifyEntry is one entry of spec.notify: where to POST (a file holding the URL), in which format, which events. */
export const NotifyEntry = z
  .strictObject({
    urlFile: z
      .string({ error: 'urlFile is the path of a file that holds the webhook URL (the URL itself never goes in this file)' })
      .min(1, 'give the path of a file that holds the webhook URL')
      .describe('a file holding the webhook URL, e.g. /run/secrets/slack (a Docker secret); relative paths: to this file\'s directory'),
    format: z.enum(NOTIFY_FORMATS).default('json').describe('json (warden\'s own payload) or slack (an incoming-webhook message); default json'),
    events: z
      .array(z.enum(NOTIFY_EVENTS))
      .min(1, 'list at least one event, or leave events out for all of them')
      .describe('the events to send (default: all): rollout-completed, rollout-failed, degraded, recovered, held, blocked, desired-state-invalid')
      .optional(),
  })
  .describe('a webhook: warden POSTs one message per object and change of state');
/** NotifyEntry is the inferred type of the NotifyEntry schema. */
export type NotifyEntry = z.infer<typeof NotifyEntry>;
