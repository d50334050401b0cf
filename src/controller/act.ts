// Acting on one planned action that the safety rules let through: the write itself goes through the one
// apply path (./apply.ts); around it, this file keeps the books: the leadership check before every write,
// the echo note, the log line of the contract, the corrections metric, the memory of when an object was
// last corrected, the flapping and refusal holds, and handing what the engine finishes asynchronously to
// the follower (./settle.ts), so that the pass goes on at once.
import type { Logger } from 'pino';
import { EngineError } from '../docker/errors.js';
import type { DockerPort } from '../docker/port.js';
import type { FilePort } from '../host/port.js';
import type { Action, ActionRecord, Observed } from '../reconcilers/types.js';
import { shownError } from '../reconcilers/seal.js';
import { actionView } from '../reconcilers/view.js';
import { applyAction, TerminalActionError, type ApplyResult } from './apply.js';
import type { Echoes } from './events.js';
import type { Metrics, SuppressReason } from './metrics.js';
import type { Safety } from './safety.js';
import type { Settling } from './settle.js';

/** ActionOutcome is what became of one planned action. */
export interface ActionOutcome {
  action: Action;
  /**
   * outcome: applied; already (a fresh read showed nothing to do); partial (a bounded fix made progress and
   * the next pass goes on); planned (a plan-only pass would apply
   * it); suppressed; standby (this instance is not on the leader, or found just before the write that it
   * is no longer: then `error` says what the check read); deferred (another action of the same pass
   * changed the object first: the next pass, right after, plans on what the engine shows now); failed.
   */
  outcome: ApplyResult | 'planned' | 'suppressed' | 'standby' | 'deferred' | 'failed';
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
  /** settling follows what the engine finishes after the write returned (role changes, forced restarts). */
  settling: Settling;
  /** onFilesChanged is told after a volume fix changed files: the host is read again at once. */
  onFilesChanged?: () => void;
  /** onServiceWritten is told after a write to a service was sent or failed: the services cache reads it again. */
  onServiceWritten?: (id: string) => void;
  /** registryAuth answers the X-Registry-Auth of an image for stack service writes (default none). */
  registryAuth?: (image: string) => string | undefined;
}

/** LeaderCheck is what the read before a write found: this engine's node, and whether it is the Raft leader. */
export interface LeaderCheck {
  /** node is this engine's node id; hostname its hostname (as the engine reports it). */
  node: string;
  hostname: string;
  leader: boolean;
  /** at is when the check read it (ISO 8601). */
  at: string;
}

/** NotLeaderError ends an action before its write: this engine's node is not the Raft leader, or cannot say. */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  constructor(
    message: string,
    /** check is what the read found (absent when the read itself failed). */
    readonly check?: LeaderCheck,
  ) {
    super(message);
  }
}

/**
 * checkLeader reads this engine's own node (one inspect, about as cheap as an engine call gets) and
 * throws NotLeaderError unless it is the Raft leader now; it returns what it read.
 */
export async function checkLeader(port: DockerPort, nodeId: string, now: () => number): Promise<LeaderCheck> {
  let check: LeaderCheck;
  try {
    const node = await port.inspectNode(nodeId);
    check = { node: nodeId, hostname: node.hostname, leader: node.manager?.leader === true, at: new Date(now()).toISOString() };
  } catch (err) {
    throw new NotLeaderError(`cannot confirm that this engine's node ${nodeId} is the Raft leader: ${(err as Error).message}`);
  }
  if (!check.leader) throw new NotLeaderError(`this engine's node ${check.hostname} is no longer the Raft leader`, check);
  return check;
}

/** appliedKey is the key of an action in the memory of corrections: reconciler, kind and object. */
export function appliedKey(reconciler: string, kind: string, object: string): string {
  return `${reconciler}/${kind}/${object}`;
}

/** Actor applies actions and keeps the books on them. */
export class Actor {
  constructor(private readonly opts: ActorOptions) {}

  /**
   * apply carries out one action; it never throws: a failure is an outcome, logged once. With `selfNodeId`
   * (this engine's node, when actions are gated on leadership) every write is preceded by checkLeader,
   * and the log lines of the action carry the check (`leaderCheck`); an action whose check finds another
   * leader (or none it can confirm) writes nothing and ends as `standby`.
   */
  async apply(action: Action, observed: Observed, revision: string, log: Logger, signal: AbortSignal | undefined, selfNodeId?: string): Promise<ActionOutcome> {
    const { port, metrics, safety, echoes } = this.opts;
    const fields = { object: action.object, action: action.kind };
    let leaderCheck: LeaderCheck | undefined;
    const beforeWrite = selfNodeId === undefined ? undefined : async (): Promise<void> => {
      leaderCheck = await checkLeader(port, selfNodeId, this.opts.now);
    };
    // Noted before the write: the engine may deliver the write's event before its HTTP answer.
    const id = 'serviceId' in action ? action.serviceId : 'nodeId' in action ? action.nodeId : undefined;
    if (id !== undefined) echoes.note(id);
    try {
      const outcome = await applyAction(port, action, observed, {
        ...(signal ? { signal } : {}),
        ...(beforeWrite ? { beforeWrite } : {}),
        onConflict: (attempt) => log.debug({ ...fields, attempt }, 'version conflict; re-reading'),
        ...(this.opts.files ? { files: this.opts.files } : {}),
        // Registry credentials (--registry-auth-file) go with stack service writes, as --with-registry-auth.
        ...(this.opts.registryAuth ? { registryAuth: this.opts.registryAuth } : {}),
        // One line per directory or file a volume fix changed, the volume's path as the object.
        onFileChange: (c) => log.info({ ...fields, path: c.path, created: c.created, before: c.before, after: c.after, revision }, 'changed a file'),
      });
      if (action.kind === 'fix-volume' && outcome !== 'already') this.opts.onFilesChanged?.();
      if ('serviceId' in action && outcome !== 'already') this.opts.onServiceWritten?.(action.serviceId);
      if (outcome === 'partial') {
        // A bounded fix of a large tree: progress, not flapping; the next pass goes on where it stopped.
        metrics.corrections.inc({ reconciler: action.reconciler, action: action.kind });
        log.info({ ...fields, revision, leaderCheck }, 'correction in progress; the next pass continues');
      }
      if (outcome === 'applied') {
        metrics.corrections.inc({ reconciler: action.reconciler, action: action.kind });
        // The action's view, never the action: it carries what the engine was sent (a secret's data, env values).
        const { before, after } = actionView(action);
        log.info({ ...fields, before, after, revision, leaderCheck }, 'corrected drift');
        const now = this.opts.now();
        const key = appliedKey(action.reconciler, action.kind, action.object);
        this.opts.applied.set(key, { at: now, count: (this.opts.applied.get(key)?.count ?? 0) + 1 });
        const hold = safety.recordCorrection(action, now);
        if (hold) log.warn({ ...fields, until: hold.until, why: hold.why }, 'object is flapping; leaving it alone for a while');
        // The pass does not wait for the engine to finish: later passes see it in their snapshots.
        this.opts.settling.follow(action, log);
      }
      if (outcome !== 'applied' && id !== undefined) echoes.forget(id);
      return { action, outcome };
    } catch (err) {
      if (id !== undefined) echoes.forget(id);
      // A failed write may have met a newer version than the cache's (a conflict), or written anyway.
      if ('serviceId' in action) this.opts.onServiceWritten?.(action.serviceId);
      const error = err as Error;
      // The engine's message may quote what it was sent: shown (outcome, log) without the sops values in it.
      const shown = shownError(error, action.sealed);
      if (error instanceof NotLeaderError) {
        log.warn({ ...fields, leaderCheck: error.check, err: shown }, 'not the leader any more: nothing written; this instance stands by');
        return { action, outcome: 'standby', error: shown.message };
      }
      if (error instanceof TerminalActionError) {
        const hold = safety.recordRefusal(action, this.opts.now(), shown.message);
        log.error({ ...fields, err: shown, retryAfter: hold.until, leaderCheck }, 'the engine refused the action; it needs the operator');
      } else {
        log.error({ ...fields, err: shown, code: error instanceof EngineError ? error.code : undefined, leaderCheck }, 'action failed; the next pass tries again');
      }
      return { action, outcome: 'failed', error: shown.message };
    }
  }
}
