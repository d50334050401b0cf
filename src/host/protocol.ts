// The messages between warden and its host worker (./worker.ts), over the IPC channel of
// child_process.fork (JSON). One request at a time; each answer carries the request's id.
import type { DesiredVolume } from '../desired-state/types.js';
import type { FileObservation } from '../reconcilers/types.js';
import type { FileChange, FixResult, VolumeFix } from './port.js';

/** WorkerConfig is what the worker is started with (its first argument, as JSON). */
export interface WorkerConfig {
  /** root is the host root (--host-root). */
  root: string;
  scanBudget?: { entries: number; ms: number };
  fixBudget?: { entries: number; ms: number };
}

/** WorkerRequest is one call: inspect one volume, fix one, or abort the call in flight. */
export type WorkerRequest =
  | { id: number; op: 'inspect'; volume: DesiredVolume }
  | { id: number; op: 'fix'; action: VolumeFix }
  | { id: number; op: 'abort' };

/** WorkerError is an error as it crosses the channel: its name (FileRefusedError is rebuilt), message and code. */
export interface WorkerError {
  name: string;
  message: string;
  code?: string;
}

/** WorkerMessage is what the worker says: ready once it listens, changes during a fix (in batches), then the answer. */
export type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'changes'; id: number; changes: FileChange[] }
  | { kind: 'observed'; id: number; observation: FileObservation }
  | { kind: 'fixed'; id: number; result: FixResult }
  | { kind: 'failed'; id: number; error: WorkerError };
