// Brings up one lab swarm (3 managers, 2 workers) for the whole integration run and tears it down after.
// The lab number defaults to 9, so that a run never touches the lab an operator brought up (0).
// `up` tears down whatever a half-done earlier run left, so a killed run cannot break the next one.
import type { TestProject } from 'vitest/node';
import { labDown, labUp } from '../../src/lab/lab.js';

declare module 'vitest' {
  export interface ProvidedContext {
    labId: number;
    dockerHost: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const id = Number(process.env.WARDEN_TEST_LAB ?? 9);
  const started = Date.now();
  // The engine is WARDEN_LAB_ENGINE's (newest by default): CI runs the integration tests on the oldest too.
  const lab = await labUp({ id, managers: 3, workers: 2, engine: process.env.WARDEN_LAB_ENGINE ?? 'newest', log: (l) => process.stderr.write(`lab ${id}: ${l}\n`) });
  process.stderr.write(`lab ${id}: 3 managers + 2 workers of Docker ${lab.engine.version} (${lab.engine.name}) up in ${Date.now() - started} ms\n`);
  project.provide('labId', id);
  project.provide('dockerHost', lab.managers[0]!.host);
  return async () => {
    if (process.env.WARDEN_KEEP_LAB) return;
    await labDown(id);
  };
}
