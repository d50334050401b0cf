// The payloads: json is the contract's object as it is; slack is an incoming-webhook message whose text
// reads well and whose engine words stay text (no Slack markup from a reason).
import { describe, expect, it } from 'vitest';
import { body, REASON_MAX, slackMessage, type Notification } from '../../../src/controller/notify-format.js';

const n: Notification = {
  event: 'degraded', cluster: 'prod', stack: 'shop', object: 'shop_api', health: 'degraded',
  reason: 'No such image: registry.local/shop/api:2.9', revision: 'a1b2c3d4e5f6', time: '2025-01-02T03:04:05.000Z',
};

describe('json', () => {
  it('is {event, cluster, stack, object, health, reason, revision, time}', () => {
    expect(JSON.parse(body(n, 'json'))).toEqual(n);
    expect(Object.keys(JSON.parse(body(n, 'json')) as object)).toEqual(['event', 'cluster', 'stack', 'object', 'health', 'reason', 'revision', 'time']);
  });

  it('clips a long reason', () => {
    const long = JSON.parse(body({ ...n, reason: 'x'.repeat(REASON_MAX * 2) }, 'json')) as Notification;
    expect(long.reason).toHaveLength(REASON_MAX);
    expect(long.reason.endsWith('…')).toBe(true);
  });
});

describe('slack', () => {
  it.each([
    [n, ':red_circle: *degraded*: `shop_api` is degraded\nNo such image: registry.local/shop/api:2.9'],
    [{ ...n, event: 'held', health: null, object: 'worker-1', stack: null, reason: 'flapping: corrected 3 times in 10 min' }, ':double_vertical_bar: *held by warden*: `worker-1`\nflapping: corrected 3 times in 10 min'],
    [{ ...n, event: 'blocked', health: null, object: 'shop', reason: 'held: pruning stack shop would remove 2 of its 3 services' }, ':no_entry: *blocked*: `shop`\nheld: pruning stack shop would remove 2 of its 3 services'],
    [{ ...n, event: 'held', health: null, object: 'other_db', reason: 'r' }, ':double_vertical_bar: *held by warden*: `other_db` (stack shop)\nr'],
    [{ ...n, event: 'desired-state-invalid', health: null, stack: null, object: '/etc/warden/cluster.yml', reason: 'cluster.yml:7:12: 4 managers' }, ':warning: *desired state invalid: the last good one stays in force*: `/etc/warden/cluster.yml`\ncluster.yml:7:12: 4 managers'],
  ] as [Notification, string][])('%#: text is the headline and the reason', (note, text) => {
    expect(slackMessage(note).text).toBe(text);
  });

  it('keeps a reason text: &, < and > escaped, so no link or mention is made of it', () => {
    const m = slackMessage({ ...n, reason: 'exit <1> & <!channel>' });
    expect(m.text).toContain('exit &lt;1&gt; &amp; &lt;!channel&gt;');
    expect(JSON.stringify(m.blocks)).not.toContain('<!channel>');
  });

  it('has blocks: the headline with the reason quoted, then cluster, revision and time', () => {
    expect(slackMessage(n).blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: ':red_circle: *degraded*: `shop_api` is degraded\n>No such image: registry.local/shop/api:2.9' } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'cluster *prod* · revision `a1b2c3d4e5f6` · 2025-01-02T03:04:05.000Z' }] },
    ]);
    expect(JSON.parse(body(n, 'slack'))).toEqual(slackMessage(n));
  });
});
