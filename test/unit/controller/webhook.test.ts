// The git webhook: each git host's signature scheme, and the endpoint over real HTTP on loopback (404
// while off, 405 for other methods, 401, 413, 408, coalescing, and no secret in any log line).
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/controller/log.js';
import { Metrics } from '../../../src/controller/metrics.js';
import { serve } from '../../../src/controller/server.js';
import { checkSignature, createWebhookHandler, readWebhookSecret, type WebhookOptions } from '../../../src/controller/webhook.js';
import type { RefreshOutcome } from '../../../src/desired-state/source.js';

const SECRET = 'hunter2-webhook-s3cret';
const secret = Buffer.from(SECRET);
const BODY = Buffer.from('{"ref":"refs/heads/main","after":"0123abcd"}');
const hex = (body: Buffer, key = SECRET): string => createHmac('sha256', key).update(body).digest('hex');

describe('checkSignature', () => {
  const good = hex(BODY);
  const other = hex(Buffer.from('{"ref":"refs/heads/evil"}'));
  it.each([
    ['GitHub, good', { 'x-hub-signature-256': `sha256=${good}` }, { ok: true, schemes: ['github'] }],
    ['GitHub, upper-case hex', { 'x-hub-signature-256': `sha256=${good.toUpperCase()}` }, { ok: true, schemes: ['github'] }],
    ['GitHub, wrong secret', { 'x-hub-signature-256': `sha256=${hex(BODY, 'other')}` }, { ok: false, reason: 'mismatch', scheme: 'github' }],
    ['GitHub, replayed on another body', { 'x-hub-signature-256': `sha256=${other}` }, { ok: false, reason: 'mismatch', scheme: 'github' }],
    ['GitHub, no sha256= prefix', { 'x-hub-signature-256': good }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['GitHub, sha1 prefix', { 'x-hub-signature-256': `sha1=${good}` }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['GitHub, too short', { 'x-hub-signature-256': `sha256=${good.slice(0, 62)}` }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['GitHub, too long', { 'x-hub-signature-256': `sha256=${good}00` }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['GitHub, not hex', { 'x-hub-signature-256': `sha256=${'z'.repeat(64)}` }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['GitHub, empty', { 'x-hub-signature-256': '' }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['GitHub, sent twice', { 'x-hub-signature-256': [`sha256=${good}`, `sha256=${good}`] }, { ok: false, reason: 'malformed', scheme: 'github' }],
    ['Gitea, good', { 'x-gitea-signature': good }, { ok: true, schemes: ['gitea'] }],
    ['Gitea, wrong', { 'x-gitea-signature': hex(BODY, 'other') }, { ok: false, reason: 'mismatch', scheme: 'gitea' }],
    ['Gitea, replayed on another body', { 'x-gitea-signature': other }, { ok: false, reason: 'mismatch', scheme: 'gitea' }],
    ['Gitea, wrong length', { 'x-gitea-signature': good.slice(2) }, { ok: false, reason: 'malformed', scheme: 'gitea' }],
    ['Gitea, with a prefix', { 'x-gitea-signature': `sha256=${good}` }, { ok: false, reason: 'malformed', scheme: 'gitea' }],
    ['Forgejo, good', { 'x-forgejo-signature': good }, { ok: true, schemes: ['forgejo'] }],
    ['Forgejo, wrong', { 'x-forgejo-signature': other }, { ok: false, reason: 'mismatch', scheme: 'forgejo' }],
    ['Gitea sends both headers', { 'x-hub-signature-256': `sha256=${good}`, 'x-gitea-signature': good }, { ok: true, schemes: ['github', 'gitea'] }],
    ['a good header cannot vouch for a forged one', { 'x-hub-signature-256': `sha256=${good}`, 'x-gitea-signature': other }, { ok: false, reason: 'mismatch', scheme: 'gitea' }],
    ['GitLab, good', { 'x-gitlab-token': SECRET }, { ok: true, schemes: ['gitlab'] }],
    ['GitLab, wrong', { 'x-gitlab-token': 'hunter3-webhook-s3cret' }, { ok: false, reason: 'mismatch', scheme: 'gitlab' }],
    ['GitLab, a prefix of the secret', { 'x-gitlab-token': SECRET.slice(0, 5) }, { ok: false, reason: 'mismatch', scheme: 'gitlab' }],
    ['GitLab, longer than the secret', { 'x-gitlab-token': `${SECRET}x` }, { ok: false, reason: 'mismatch', scheme: 'gitlab' }],
    ['GitLab, the HMAC instead of the token', { 'x-gitlab-token': good }, { ok: false, reason: 'mismatch', scheme: 'gitlab' }],
    ['no signature at all', {}, { ok: false, reason: 'missing' }],
    ['only the unsigned sha1 header', { 'x-hub-signature': `sha1=${good.slice(0, 40)}` }, { ok: false, reason: 'missing' }],
  ])('%s', (_name, headers, verdict) => {
    expect(checkSignature(headers, BODY, secret)).toEqual(verdict);
  });

  it('an empty body is signed like any other', () => {
    const empty = Buffer.alloc(0);
    expect(checkSignature({ 'x-gitea-signature': hex(empty) }, empty, secret)).toEqual({ ok: true, schemes: ['gitea'] });
    expect(checkSignature({ 'x-gitea-signature': hex(BODY) }, empty, secret).ok).toBe(false);
  });
});

describe('readWebhookSecret', () => {
  let dir: string;
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it.each([
    ['s3cret\n', 's3cret'],
    ['s3cret\r\n', 's3cret'],
    ['s3cret', 's3cret'],
    [' spaced s3cret \n', ' spaced s3cret '],
  ])('reads %j as %j', async (text, want) => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-hook-'));
    await writeFile(path.join(dir, 's'), text);
    expect((await readWebhookSecret(path.join(dir, 's'))).toString()).toBe(want);
  });

  it.each([
    ['', /the file is empty/],
    ['\n', /the file is empty/],
    [null, /cannot read it \(ENOENT\)/],
  ])('refuses %j', async (text, message) => {
    dir = await mkdtemp(path.join(tmpdir(), 'warden-hook-'));
    if (text !== null) await writeFile(path.join(dir, 's'), text);
    await expect(readWebhookSecret(path.join(dir, 's'))).rejects.toThrow(message);
  });
});

describe('the webhook endpoint', () => {
  let server: Server | undefined;
  let logs = '';
  let outcomes: RefreshOutcome[] = [];
  let metrics: Metrics;

  afterEach(async () => {
    if (server) await new Promise((resolve) => server!.close(resolve));
    server = undefined;
  });

  async function start(webhook: boolean, extra: Partial<WebhookOptions> = {}): Promise<string> {
    logs = '';
    outcomes = [];
    metrics = new Metrics({ registry: new Registry(), processMetrics: false });
    const logger = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => { logs += c.toString(); cb(); } }) as never);
    // A stand-in for the git source's own coalescing: the first call starts, the rest are queued once.
    let pending = 0;
    const refresh = (): RefreshOutcome => {
      const outcome: RefreshOutcome = pending === 0 ? 'started' : pending === 1 ? 'queued' : 'coalesced';
      pending += 1;
      outcomes.push(outcome);
      return outcome;
    };
    server = await serve('127.0.0.1:0', {
      registry: metrics.registry,
      live: () => true,
      ready: () => true,
      status: () => ({}),
      ...(webhook
        ? { webhook: createWebhookHandler({ secret, refresh, logger, onResult: (r) => metrics.webhookRequests.inc({ result: r }), ...extra }) }
        : {}),
    });
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  async function counted(result: string): Promise<number> {
    const text = await metrics.registry.metrics();
    return Number(new RegExp(`warden_webhook_requests_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1]);
  }

  it('is 404 for every method while no secret is configured', async () => {
    const url = await start(false);
    for (const method of ['POST', 'GET', 'PUT']) {
      const res = await fetch(`${url}/hooks/git`, { method, ...(method === 'GET' ? {} : { body: BODY }), headers: { 'x-gitea-signature': hex(BODY) } });
      expect(res.status, method).toBe(404);
    }
    expect(outcomes).toEqual([]);
  });

  it.each([
    ['POST', '/status', 'GET, HEAD'],
    ['PUT', '/metrics', 'GET, HEAD'],
    ['DELETE', '/hooks', 'GET, HEAD'],
    ['POST', '/hooks/git/', 'GET, HEAD'],
    ['GET', '/hooks/git', 'POST'],
    ['PUT', '/hooks/git', 'POST'],
  ])('answers 405 to %s %s (allow: %s)', async (method, p, allow) => {
    const url = await start(true);
    const res = await fetch(`${url}${p}`, { method, ...(method === 'GET' ? {} : { body: BODY }), headers: { 'x-gitea-signature': hex(BODY) } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    expect(outcomes).toEqual([]);
  });

  it('keeps GET endpoints working beside it', async () => {
    const url = await start(true);
    expect((await fetch(`${url}/livez`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });

  it.each([
    ['GitHub', { 'x-hub-signature-256': `sha256=${hex(BODY)}`, 'x-github-event': 'push', 'x-github-delivery': 'd-1' }],
    ['Gitea', { 'x-gitea-signature': hex(BODY), 'x-gitea-event': 'push' }],
    ['Forgejo', { 'x-forgejo-signature': hex(BODY), 'x-forgejo-event': 'push' }],
    ['GitLab', { 'x-gitlab-token': SECRET, 'x-gitlab-event': 'Push Hook' }],
  ])('accepts a good %s call with 202 and asks for one fetch', async (_host, headers) => {
    const url = await start(true);
    const res = await fetch(`${url}/hooks/git?x=1`, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json', ...headers } });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ fetch: 'started' });
    expect(outcomes).toEqual(['started']);
    expect(logs).toContain('"msg":"git webhook accepted; fetching the repository"');
    expect(await counted('accepted')).toBe(1);
  });

  it.each([
    ['no signature', {}, 'no signature'],
    ['a wrong GitHub signature', { 'x-hub-signature-256': `sha256=${hex(BODY, 'guess')}` }, 'github signature does not match'],
    ['a GitHub signature of another body', { 'x-hub-signature-256': `sha256=${hex(Buffer.from('{}'))}` }, 'github signature does not match'],
    ['a short Gitea signature', { 'x-gitea-signature': 'abcd' }, 'gitea signature does not match'],
    ['a wrong GitLab token', { 'x-gitlab-token': 'guess' }, 'gitlab signature does not match'],
  ])('refuses %s with 401 and a log line, and fetches nothing', async (_what, headers, message) => {
    const url = await start(true);
    const res = await fetch(`${url}/hooks/git`, { method: 'POST', body: BODY, headers });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toContain(message);
    expect(outcomes).toEqual([]);
    const line = JSON.parse(logs.split('\n').find((l) => l.includes('git webhook refused')) ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', result: 'unauthorized', remote: '127.0.0.1' });
    expect(await counted('unauthorized')).toBe(1);
  });

  it('refuses a body over the limit with 413, whether declared or streamed', async () => {
    const url = await start(true, { maxBodyBytes: 1024 });
    const big = Buffer.alloc(1025, 'a');
    const declared = await fetch(`${url}/hooks/git`, { method: 'POST', body: big, headers: { 'x-gitea-signature': hex(big) } });
    expect(declared.status).toBe(413);
    // Chunked, with no content-length: counted while read.
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/hooks/git`, { method: 'POST', headers: { 'x-gitea-signature': hex(big), 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(big.subarray(0, 600));
      setImmediate(() => req.end(big.subarray(600)));
    });
    expect(streamed).toBe(413);
    expect(outcomes).toEqual([]);
    expect(await counted('too-large')).toBe(2);
    // Exactly at the limit is fine.
    const fits = Buffer.alloc(1024, 'a');
    expect((await fetch(`${url}/hooks/git`, { method: 'POST', body: fits, headers: { 'x-gitea-signature': hex(fits) } })).status).toBe(202);
  });

  it('gives up with 408 on a body that does not arrive in time', async () => {
    const url = await start(true, { bodyTimeoutMs: 200 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/hooks/git`, { method: 'POST', headers: { 'x-gitea-signature': hex(BODY), 'content-length': String(BODY.length) } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(BODY.subarray(0, 5)); // and never the rest
    });
    expect(status).toBe(408);
    expect(outcomes).toEqual([]);
    expect(await counted('timeout')).toBe(1);
  });

  it('passes a flood of good calls to the source, which coalesces them', async () => {
    const url = await start(true);
    const answers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(`${url}/hooks/git`, { method: 'POST', body: BODY, headers: { 'x-gitea-signature': hex(BODY) } });
        return ((await res.json()) as { fetch: RefreshOutcome }).fetch;
      }),
    );
    expect(answers.filter((a) => a === 'started')).toHaveLength(1);
    expect(answers.filter((a) => a === 'queued')).toHaveLength(1);
    expect(answers.filter((a) => a === 'coalesced')).toHaveLength(18);
  });

  it('never logs the secret, whatever the request carries', async () => {
    const url = await start(true);
    await fetch(`${url}/hooks/git`, { method: 'POST', body: BODY, headers: { 'x-gitlab-token': SECRET } });
    await fetch(`${url}/hooks/git`, { method: 'POST', body: BODY, headers: { 'x-gitlab-token': `${SECRET}x`, 'x-gitlab-event': 'Push Hook' } });
    await fetch(`${url}/hooks/git`, { method: 'POST', body: BODY, headers: { 'x-hub-signature-256': `sha256=${hex(BODY, 'x')}` } });
    expect(logs.split('\n').filter(Boolean)).toHaveLength(3);
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(hex(BODY, 'x'));
  });

  it('the logger redacts a secret passed as a field', () => {
    let out = '';
    const logger = createLogger('info', new Writable({ write: (c: Buffer, _e, cb) => { out += c.toString(); cb(); } }) as never);
    logger.info({ secret: SECRET, webhook: { secret: SECRET } }, 'x');
    expect(out).not.toContain(SECRET);
    expect(JSON.parse(out)).toMatchObject({ secret: '[redacted]', webhook: { secret: '[redacted]' } });
  });
});
