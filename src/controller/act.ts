// Acting on one planned action that the safety rules let through: the write itself goes through the one
// apply path (./apply.ts); around it, this file keeps the books: the echo note, the log line of the
// contract, the corrections metric, the memory of when an object was last corrected, the flapping and
// refusal holds, and the wait for what the engine finishes asynchronously.
import type { Logger } from 'pino';
import { EngineError } from '../docker/errors.js';
import type { DockerPort } from '../docker/port.js';
import type { FilePort } from '../host/port.js';
import type { Action, ActionRecord, Observed } from '../reconcilers/types.js';
import { applyAction, settleAction, TerminalActionError, type ApplyResult } from './apply.js';
import type { Echoes } from './events.js';
import type { Metrics, SuppressReason } from './metrics.js';
import type { Safety } from './safety.js';

/** ActionOutcome is what became of one planned action. */
export interface ActionOutcome {
  action: Action;
  /**
   * outcome: applied; already (a fresh read showed nothing to do); partial (a bounded fix made progress and
   * the next pass goes on); planned (a plan-only pass would apply
   * it); suppressed; standby (this instance is not on the leader); failed.
   */
  outcome: ApplyResult | 'planned' | 'suppressed' | 'standby' | 'failed';
  reason?: SuppressReason;
  error?: string;
}

/** ActorOptions wire an Actor; everything is shared with the controller that owns it. */
export interface ActorOptions {
  port: DockerPort;
  metrics: Metrics;
  safety: Safety;
  echoes: Echoes;
  now(): number;
  /** applied is the memory of corrections between passes (PlanContext.lastApplied reads it). */
  applied: Map<string, ActionRecord>;
  /** files changes directories under the host root for fix-volume (absent: fix-volume is refused). */
  files?: FilePort;
  /** settleTimeoutMs bounds how long an asynchronous action (role change, forced restart) is awaited. */
  settleTimeoutMs: number;
}

/** appliedKey is the key of an action in the memory of corrections: reconciler, kind and object. */
export function appliedKey(reconciler: string, kind: string, object: string): string {
  return `${reconciler}/${kind}/${object}`;
}

/** Actor applies actions and keeps the books on them. */
export class Actor {
  constructor(private readonly opts: ActorOptions) {}

  /** apply carries out one action; it never throws: a failure is an outcome, logged once. */
  async apply(action: Action, observed: Observed, revision: string, log: Logger, signal: AbortSignal | undefined): Promise<ActionOutcome> {
    const { port, metrics, safety, echoes } = this.opts;
    const fields = { object: action.object, action: action.kind };
    // Noted before the write: the engine may deliver the write's event before its HTTP answer.
    const id = 'serviceId' in action ? action.serviceId : 'nodeId' in action ? action.nodeId : undefined;
    if (id !== undefined) echoes.note(id);
    try {
      const outcome = await applyAction(port, action, observed, {
        ...(signal ? { signal } : {}),
        onConflict: (attempt) => log.debug({ ...fields, attempt }, 'version conflict; re-reading'),
        ...(this.opts.files ? { files: this.opts.files } : {}),
        // One line per directory or file a volume fix changed, the volume's path as the object.
        onFileChange: (c) => log.info({ ...fields, path: c.path, created: c.created, before: c.before, after: c.after, revision }, 'changed a file'),
      });
      if (outcome === 'partial') {
        // A bounded fix of a large tree: progress, not flapping; the next pass goes on where it stopped.
        metrics.corrections.inc({ reconciler: action.reconciler, action: action.kind });
        log.info({ ...fields, revision }, 'correction in progress; the next pass continues');
      }
      if (outcome === 'applied') {
        metrics.corrections.inc({ reconciler: action.reconciler, action: action.kind });
        log.info({ ...fields, before: action.before, after: action.after, revision }, 'corrected drift');
        const now = this.opts.now();
        const key = appliedKey(action.reconciler, action.kind, action.object);
        this.opts.applied.set(key, { at: now, count: (this.opts.applied.get(key)?.count ?? 0) + 1 });
        const hold = safety.recordCorrection(action, now);
        if (hold) log.warn({ ...fields, until: hold.until, why: hold.why }, 'object is flapping; leaving it alone for a while');
        await this.settle(action, log, signal);
      }
      if (outcome !== 'applied' && id !== undefined) echoes.forget(id);
      return { action, outcome };
    } catch (err) {
      if (id !== undefined) echoes.forget(id);
      const error = err as Error;
      if (error instanceof TerminalActionError) {
        const hold = safety.recordRefusal(action, this.opts.now(), error.message);
        log.error({ ...fields, err: error, retryAfter: hold.until }, 'the engine refused the action; it needs the operator');
      } else {
        log.error({ ...fields, err: error, code: error instanceof EngineError ? error.code : undefined }, 'action failed; the next pass tries again');
      }
      return { action, outcome: 'failed', error: error.message };
    }
  }

  /**
   * settle waits, with a deadline, until the engine shows an asynchronous action done (a role change, a
   * forced restart), logging progress. SIGTERM ends the wait at once; /livez is not held by it.
   */
  private async settle(action: Action, log: Logger, signal: AbortSignal | undefined): Promise<void> {
    const fields = { object: action.object, action: action.kind };
    const started = performance.now();
    try {
      const done = await settleAction(this.opts.port, action, {
        timeoutMs: this.opts.settleTimeoutMs,
        ...(signal ? { signal } : {}),
        onProgress: (state) => log.info({ ...fields, state, waitedMs: Math.round(performance.now() - started) }, 'waiting for the engine to finish'),
      });
      if (done === 'done') {
        if (performance.now() - started > 100) log.info({ ...fields, waitedMs: Math.round(performance.now() - started) }, 'the engine finished the change');
      } else if (done === 'timeout') {
        log.warn({ ...fields, waitedMs: Math.round(performance.now() - started) }, 'the engine has not finished the change yet; later passes wait for it');
      }
    } catch (err) {
      if (!signal?.aborted) log.warn({ ...fields, err }, 'cannot follow the change; later passes look again');
    }
  }
}
