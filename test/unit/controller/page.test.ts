import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { escapeHtml, statusPage, type PageStatus } from '../../../src/controller/page.js';
import { serve } from '../../../src/controller/server.js';

const status: PageStatus = {
  version: { version: '1.2.3', revision: 'abcdef0' }, leader: true, cluster: 'lab', source: 'file:/etc/warden/state.yml', revision: 'sha256:abc123',
  lastPass: { passId: 7, reasons: ['resync'], startedAt: '2026-12-06T01:00:00.000Z', durationMs: 42, leader: true, revision: 'sha256:abc123' },
  services: [
    { stack: 'web', service: 'web_api', sync: 'in_sync', drift: [], health: 'healthy', reason: '', running: 2, desired: 2, updated: '2026-12-06T00:59:00.000Z' },
    { stack: 'web', service: 'web_<b>bad</b>', sync: 'drift', drift: ['stacks: replicas 1 → 2'], health: 'degraded', reason: 'task: <script>alert(1)</script> "x" & \'y\'', running: 0, desired: 1 },
  ],
  drift: { services: [{ object: 'web_<i>x</i>', message: 'replicas 1 → 2' }] },
  suppressed: [{ reconciler: 'services', object: 'web_api', action: 'update', reason: 'observe' }],
  held: [{ key: 'services/web_api', reason: 'flapping', until: '2026-12-06T02:00:00.000Z', why: 'corrected 5 times' }],
  errors: {},
  corrections: [
    { at: '2026-12-06T00:58:00.000Z', passId: 6, revision: 'sha256:abc123', reconciler: 'replicas', action: 'scale-service', object: 'web_<u>api</u>', partial: false },
    { at: '2026-12-06T00:50:00.000Z', passId: 3, revision: 'sha256:9f0', reconciler: 'volumes', action: 'fix-volume', object: '/srv/pg', partial: true },
  ],
};

describe('status page', () => {
  it('shows a <script> in a reason, a name or a drift line as text, never as markup', () => {
    const html = statusPage(status);
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('task: &#60;script&#62;alert(1)&#60;/script&#62; &#34;x&#34; &#38; &#39;y&#39;');
    expect(html).not.toContain('<b>bad</b>');
    expect(html).not.toContain('<i>x</i>');
    // The only script is the page's own refresh.
    expect(html.match(/<script>/g)).toHaveLength(1);
    expect(escapeHtml('<a href="x">')).toBe('&#60;a href=&#34;x&#34;&#62;');
  });

  it('shows every service with stack, sync, health, reason, running/desired and update; the revision, source, leader and last pass', () => {
    const html = statusPage(status);
    expect(html).toContain('data-service="web_api"');
    expect(html).toMatch(/<tr class="svc h-degraded" data-service="web_&#60;b&#62;bad&#60;\/b&#62;">/);
    expect(html).toContain('2/2');
    expect(html).toContain('0/1');
    expect(html).toContain('2026-12-06T00:59:00.000Z');
    expect(html).toContain('sha256:abc123');
    expect(html).toContain('file:/etc/warden/state.yml');
    expect(html).toContain('this instance (acts)');
    expect(html).toContain('#7');
    expect(html).toContain('1.2.3 (abcdef0)');
    expect(html).toContain('2 services, 1 not healthy');
    expect(html).toContain('web_api: held (flapping)');
    expect(html).toContain('update web_api (services): suppressed, observe');
    expect(html).toContain('<li><time>2026-12-06T00:58:00.000Z</time> scale-service <strong>web_&#60;u&#62;api&#60;/u&#62;</strong> (replicas) at sha256:abc123</li>');
    expect(html).toContain('fix-volume <strong>/srv/pg</strong> (volumes, in part) at sha256:9f0');
    expect(statusPage({})).toContain('Last corrections</h2><p class="empty">None since warden started.</p>');
  });

  it('shows the last rollout when the status carries one, and nothing of it when not', () => {
    const rolled = { ...status.services![0]!, rollout: { result: 'rolled_back', revision: 'sha256:def456', reason: 'update <rolled> back', at: '2026-12-06T01:01:00.000Z' } };
    const html = statusPage({ ...status, services: [rolled] });
    expect(html).toContain('last rollout <span class="badge b-rolled_back">rolled back</span> @ sha256:def456: update &#60;rolled&#62; back');
    expect(statusPage(status)).not.toContain('last rollout');
  });

  it('loads nothing from outside and renders an empty status (no pass yet)', () => {
    for (const html of [statusPage(status), statusPage({}), statusPage(undefined)]) {
      expect(html).not.toMatch(/(src|href)=|@import|url\(|https?:\/\//);
    }
    expect(statusPage({})).toContain('No kept service yet');
  });

  it('is served at GET / as HTML, read-only', async () => {
    const server = await serve('127.0.0.1:0', { registry: new Registry(), live: () => true, ready: () => true, status: () => status });
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await fetch(`${base}/`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(await r.text()).toContain('data-service="web_api"');
      expect((await fetch(`${base}/`, { method: 'POST' })).status).toBe(405);
    } finally {
      server.close();
    }
  });
});
