// The git source's refresh (what the webhook calls), against a real git server on loopback: it wakes a
// poll loop that would otherwise sleep for an hour, and a burst of calls costs at most two fetches.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitSource } from '../../../src/desired-state/git-source.js';
import type { LoadedState, RefreshOutcome } from '../../../src/desired-state/source.js';
import { startGitServer, type GitServer } from '../../support/git-server.js';
import { waitUntil } from '../../support/wait.js';

const STATE = (replicas: number): string =>
  `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n  services:\n    - name: web\n      replicas: ${replicas}\n`;
const HOUR = 3_600_000;

let dir: string;
let server: GitServer;
let stop: AbortController;
let watching: Promise<void> | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-refresh-'));
  server = await startGitServer();
  stop = new AbortController();
});

afterEach(async () => {
  stop.abort();
  await watching;
  watching = undefined;
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function watched(): Promise<{ source: ReturnType<typeof createGitSource>; loads: LoadedState[]; errors: Error[] }> {
  const source = createGitSource({ url: server.url, ref: 'main', path: 'warden.yml', intervalMs: HOUR, cacheDir: path.join(dir, 'cache'), timeoutMs: 20_000 });
  await source.load();
  const loads: LoadedState[] = [];
  const errors: Error[] = [];
  watching = source.watch(stop.signal, { onLoad: (l) => loads.push(l), onError: (e) => errors.push(e) });
  // The loop's first round fetches once; after it, only a refresh can explain a fetch within the hour.
  await waitUntil('the first round of the poll loop', () => server.fetches() >= 2);
  return { source, loads, errors };
}

describe('git source refresh', { timeout: 60_000 }, () => {
  it('fetches now instead of at the next poll', async () => {
    await server.push({ 'warden.yml': STATE(1) });
    const { source, loads, errors } = await watched();
    const sha = await server.push({ 'warden.yml': STATE(2) });
    expect(source.refresh?.()).toBe('started');
    const loaded = await waitUntil('the pushed commit', () => loads.find((l) => l.revision === sha), { timeoutMs: 20_000 });
    expect(loaded.state.services?.[0]?.replicas).toBe(2);
    expect(errors).toEqual([]);
  });

  it('coalesces a burst: one fetch in flight and at most one queued', async () => {
    await server.push({ 'warden.yml': STATE(1) });
    const { source, loads } = await watched();
    const before = server.fetches();
    const sha = await server.push({ 'warden.yml': STATE(3) });
    const outcomes: RefreshOutcome[] = [];
    // A burst in one tick, then more while the fetch it started is in flight.
    for (let i = 0; i < 25; i++) outcomes.push(source.refresh!());
    await waitUntil('the fetch in flight', () => server.fetches() > before, { intervalMs: 1 });
    for (let i = 0; i < 25; i++) outcomes.push(source.refresh!());
    await waitUntil('the pushed commit', () => loads.find((l) => l.revision === sha), { timeoutMs: 20_000 });
    await waitUntil('the second round', () => server.fetches() - before >= 2, { timeoutMs: 20_000 });
    // 50 calls: one started the fetch, one more round ran for the calls that came during it (or,
    // if the first fetch was already over, started it), and the other 48 were coalesced.
    expect(outcomes[0]).toBe('started');
    expect(outcomes.filter((o) => o === 'coalesced')).toHaveLength(48);
    expect(server.fetches() - before).toBe(2);
    expect(loads.map((l) => l.revision)).toEqual([sha]);
  });
});
