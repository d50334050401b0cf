// The contract between desired-state sources (a local file, a git repository) and the controller.
import type { DesiredState } from './types.js';

/** Problem is one thing wrong with a desired-state file, at a position a person can open. */
export interface Problem {
  file: string;
  /** line and col are 1-based; 0 when the problem has no position (a missing file). */
  line: number;
  col: number;
  message: string;
}

/** formatProblem renders a problem as `FILE:LINE:COL: message` (the contract's form). */
export function formatProblem(p: Problem): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.col}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** DesiredStateError says why a desired state could not be loaded; `problems` holds every one found. */
export class DesiredStateError extends Error {
  override readonly name = 'DesiredStateError';
  /** revision identifies the content that failed (a commit SHA, or a hash of the file), when known. */
  revision: string | undefined;
  constructor(readonly problems: Problem[], options?: { cause?: unknown; revision?: string }) {
    super(problems.map(formatProblem).join('\n'), options);
    this.revision = options?.revision;
  }
}

/** LoadedState is a valid desired state with where it came from. */
export interface LoadedState {
  state: DesiredState;
  /** revision identifies the content: a git commit SHA, or a sha256 prefix of a file's bytes. */
  revision: string;
  /** source describes the source for logs and metrics, never with credentials. */
  source: string;
  /** warnings are things the file asks for that warden will not do (e.g. compose features it skips); absent when none. */
  warnings?: Problem[];
}

/** SourceHandlers receive what a watched source finds. */
export interface SourceHandlers {
  /** onLoad gets each new valid state (a changed revision). */
  onLoad(loaded: LoadedState): void;
  /** onError gets each failed load; the last good state stays in force. */
  onError(error: Error): void;
}

/** DesiredStateSource is where the desired state comes from. */
export interface DesiredStateSource {
  readonly kind: 'file' | 'git';
  /** description is the source for logs and metrics (a path, or a URL without credentials). */
  readonly description: string;
  /** load reads the source once; it throws DesiredStateError for a bad file, Error for a source failure. */
  load(signal?: AbortSignal): Promise<LoadedState>;
  /** watch reports changes until the signal aborts, then resolves; it never throws for a failed load. */
  watch(signal: AbortSignal, handlers: SourceHandlers): Promise<void>;
  /**
   * refresh asks a watched source to look again now instead of at its next poll (the git webhook);
   * absent on sources that notice changes by themselves (a file). Calls coalesce: one look in flight,
   * at most one queued.
   */
  refresh?(): RefreshOutcome;
}

/**
 * RefreshOutcome says what a refresh call did: `started` a look now, `queued` one to run after the
 * look in flight, or was `coalesced` into one already queued.
 */
export type RefreshOutcome = 'started' | 'queued' | 'coalesced';
