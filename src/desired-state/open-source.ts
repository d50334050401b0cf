// Opening the desired-state source the command line names: TODO(desired-state) — being written.
import type { DesiredStateSource } from './source.js';

/** SourceOptions are the command-line flags that name the desired-state source. */
export interface SourceOptions {
  file?: string;
  gitUrl?: string;
  gitRef: string;
  gitPath: string;
  gitInterval: string;
  gitCredentialsFile?: string;
  gitCache?: string;
}

/** openSource returns the source the options name: -f FILE, else --git-url; throws when neither. */
export function openSource(_opts: SourceOptions): DesiredStateSource {
  throw new Error('not yet');
}
