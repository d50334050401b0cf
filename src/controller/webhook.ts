// The git webhook (contract §5, `POST /hooks/git`): a git host's push notification that makes warden
// fetch its configured repository now instead of at the next poll. The request only says "look again":
// its body is read to check the signature and then dropped, never parsed, never desired state.
//
// Signatures, each compared in constant time on equal-length digests:
// - GitHub `X-Hub-Signature-256: sha256=<hex>` and Gitea/Forgejo `X-Gitea-Signature` /
//   `X-Forgejo-Signature: <hex>`: HMAC-SHA256 of the raw body with the secret.
// - GitLab `X-Gitlab-Token: <secret>`: the secret itself (it signs nothing: use HTTPS in front).
import { createHmac, createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { RefreshOutcome } from '../desired-state/source.js';

/** WEBHOOK_PATH is where the webhook listens. */
export const WEBHOOK_PATH = '/hooks/git';
/** WEBHOOK_MAX_BODY_BYTES bounds a webhook's body (default 1 MiB; GitHub caps its payloads at 25 MB, but a push of a few commits is a few KiB). */
export const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;
/** WEBHOOK_BODY_TIMEOUT_MS bounds how long reading a webhook's body may take (default 10 s), so a slow client cannot hold a request open. */
export const WEBHOOK_BODY_TIMEOUT_MS = 10_000;

/** SignatureScheme names the git host whose signature header a request carries. */
export type SignatureScheme = 'github' | 'gitea' | 'forgejo' | 'gitlab';

/** SignatureCheck is the verdict on a request's signature headers: which schemes it used, or why it fails. */
export type SignatureCheck =
  | { ok: true; schemes: SignatureScheme[] }
  | { ok: false; reason: 'missing' | 'malformed' | 'mismatch'; scheme?: SignatureScheme };

// The headers read, in the order they are checked. Gitea sends X-Hub-Signature-256 and X-Gitea-Signature
// together: every one present must verify, so a good header cannot vouch for a forged one beside it.
const HEADERS: ReadonlyArray<{ scheme: SignatureScheme; header: string; kind: 'hmac-prefixed' | 'hmac' | 'token' }> = [
  { scheme: 'github', header: 'x-hub-signature-256', kind: 'hmac-prefixed' },
  { scheme: 'gitea', header: 'x-gitea-signature', kind: 'hmac' },
  { scheme: 'forgejo', header: 'x-forgejo-signature', kind: 'hmac' },
  { scheme: 'gitlab', header: 'x-gitlab-token', kind: 'token' },
];

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/** checkSignature verifies a webhook's signature headers against the body and the secret. */
export function checkSignature(headers: IncomingMessage['headers'], body: Buffer, secret: Buffer): SignatureCheck {
  const schemes: SignatureScheme[] = [];
  let hmac: Buffer | undefined;
  for (const { scheme, header, kind } of HEADERS) {
    const raw = headers[header];
    if (raw === undefined) continue;
    // A header sent twice arrives as an array or joined with ", ": neither is a signature.
    const value = Array.isArray(raw) ? undefined : raw.trim();
    if (value === undefined || value === '') return { ok: false, reason: 'malformed', scheme };
    let good: boolean;
    switch (kind) {
      case 'hmac-prefixed':
      case 'hmac': {
        const hex = kind === 'hmac-prefixed' ? (value.startsWith('sha256=') ? value.slice('sha256='.length) : undefined) : value;
        if (hex === undefined || !HEX_SHA256.test(hex)) return { ok: false, reason: 'malformed', scheme };
        hmac ??= createHmac('sha256', secret).update(body).digest();
        // Both are 32-byte digests: timingSafeEqual never sees unequal lengths.
        good = timingSafeEqual(Buffer.from(hex, 'hex'), hmac);
        break;
      }
      case 'token':
        // Digests of both, so that the comparison takes the same time whatever the token's length.
        good = timingSafeEqual(sha256(Buffer.from(value, 'utf8')), sha256(secret));
        break;
      default: {
        const never: never = kind;
        throw new Error(`unknown signature kind ${String(never)}`);
      }
    }
    if (!good) return { ok: false, reason: 'mismatch', scheme };
    schemes.push(scheme);
  }
  return schemes.length > 0 ? { ok: true, schemes } : { ok: false, reason: 'missing' };
}

function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** readWebhookSecret reads the secret from a file (a Docker secret), without its trailing newline; it throws a clear error for a missing or empty file. */
export async function readWebhookSecret(file: string): Promise<Buffer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`--webhook-secret-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  // Editors and `echo` add a newline that no git host would include in the secret.
  const secret = text.replace(/\r?\n$/, '');
  if (secret.trim() === '') throw new Error(`--webhook-secret-file ${file}: the file is empty; put the webhook's secret in it`);
  return Buffer.from(secret, 'utf8');
}

/** WebhookResult is how a webhook request ended, the label of `warden_webhook_requests_total`. */
export type WebhookResult = 'accepted' | 'unauthorized' | 'too-large' | 'timeout';
/** WEBHOOK_RESULTS lists every WebhookResult, for metrics created at zero. */
export const WEBHOOK_RESULTS: readonly WebhookResult[] = ['accepted', 'unauthorized', 'too-large', 'timeout'];

/** WebhookOptions are what the webhook handler needs: the secret, what to call, a logger. */
export interface WebhookOptions {
  secret: Buffer;
  /** refresh asks the git source to fetch now; it coalesces calls itself. */
  refresh(): RefreshOutcome;
  logger: Logger;
  /** onResult counts each request's outcome (metrics); optional. */
  onResult?(result: WebhookResult): void;
  /** maxBodyBytes overrides WEBHOOK_MAX_BODY_BYTES (tests). */
  maxBodyBytes?: number;
  /** bodyTimeoutMs overrides WEBHOOK_BODY_TIMEOUT_MS (tests). */
  bodyTimeoutMs?: number;
}

/** WebhookHandler serves `POST /hooks/git`; the server routes to it only for that method and path. */
export type WebhookHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** createWebhookHandler returns the handler: it reads the body (bounded in size and time), checks the signature, and asks for a fetch. */
export function createWebhookHandler(opts: WebhookOptions): WebhookHandler {
  const maxBody = opts.maxBodyBytes ?? WEBHOOK_MAX_BODY_BYTES;
  const timeoutMs = opts.bodyTimeoutMs ?? WEBHOOK_BODY_TIMEOUT_MS;
  return (req, res) => {
    const remote = req.socket.remoteAddress;
    const delivery = header(req, 'x-github-delivery') ?? header(req, 'x-gitea-delivery') ?? header(req, 'x-forgejo-delivery') ?? header(req, 'x-gitlab-event-uuid');
    const event = header(req, 'x-github-event') ?? header(req, 'x-gitea-event') ?? header(req, 'x-forgejo-event') ?? header(req, 'x-gitlab-event');
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (result: WebhookResult, code: number, body: object): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.onResult?.(result);
      // After a refusal the rest of the body is not worth reading: close the connection instead.
      const close = result !== 'accepted' && !req.complete;
      res.writeHead(code, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) }).end(`${JSON.stringify(body)}\n`);
      if (close) req.resume();
    };
    const refuse = (result: Exclude<WebhookResult, 'accepted'>, code: number, message: string, fields: object = {}): void => {
      opts.logger.warn({ remote, event, delivery, result, ...fields }, 'git webhook refused');
      finish(result, code, { error: message });
    };

    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBody) {
      refuse('too-large', 413, `the body is over ${maxBody} bytes`, { bytes: declared });
      return;
    }
    timer = setTimeout(() => {
      refuse('timeout', 408, `the body did not arrive within ${Math.round(timeoutMs / 1000)}s`);
      req.destroy();
    }, timeoutMs);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBody) {
        refuse('too-large', 413, `the body is over ${maxBody} bytes`, { bytes: size });
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => clearTimeout(timer));
    req.on('end', () => {
      if (done) return;
      const check = checkSignature(req.headers, Buffer.concat(chunks), opts.secret);
      if (!check.ok) {
        const message =
          check.reason === 'missing'
            ? 'no signature: send X-Hub-Signature-256, X-Gitea-Signature, X-Forgejo-Signature or X-Gitlab-Token'
            : `the ${check.scheme} signature does not match the configured secret`;
        refuse('unauthorized', 401, message, { reason: check.reason, scheme: check.scheme });
        return;
      }
      const fetch = opts.refresh();
      opts.logger.info({ remote, event, delivery, schemes: check.schemes, fetch }, 'git webhook accepted; fetching the repository');
      finish('accepted', 202, { fetch });
    });
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  // The sender chooses these: bounded, so that a refused request cannot write long log lines.
  return typeof v === 'string' ? v.slice(0, 100) : undefined;
}
