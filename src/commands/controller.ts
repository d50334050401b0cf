// `warden plan | apply | run`: being written.
import type { SourceOptions } from '../desired-state/open-source.js';
import type { EngineOptions } from '../main.js';
export async function planCommand(_o: SourceOptions & EngineOptions & { output: 'text' | 'json' }): Promise<number> { return 2; }
export async function applyCommand(_o: SourceOptions & EngineOptions & { dryRun?: boolean }): Promise<number> { return 2; }
export async function runCommand(_o: SourceOptions & EngineOptions & { dryRun?: boolean; listen: string; logLevel: string }): Promise<number> { return 2; }
